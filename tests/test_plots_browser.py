"""The plots pages in a real headless browser with the network blocked: every plot renders.

A copy of this checkout with its committed results (the plots and metrics files in git) makes the
pages a reviewer opens: `make report`'s (`dvc plots diff`, two revisions) and `dvc plots show`'s.
Debian's chromium, driven by Playwright, opens each with every request that is not for a local
file aborted. Each data plot dvc.yaml declares must draw its marks (its <svg> or <canvas> has
coloured pixels: axes and labels are grey), and each image must load. Where there is no browser the test is skipped,
or fails under MNISTFLOW_REQUIRE_BROWSER=1, as in tests/test_serve_browser.py.

Waits are Playwright's (for an element count), never sleeps.
"""
from __future__ import annotations

import io
import pathlib
import shutil
import subprocess

import numpy as np
import pytest
import yaml
from PIL import Image
from test_serve_browser import CHROMIUM, CHROMIUM_ARGS, no_browser

from conftest import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.e2e]  # a browser, DVC and the template's generation

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".svg")
# What Vega draws a plot into: an <svg> (Vega-Embed 7's default) or a <canvas> of class "marks".
DRAWN = ".vega-embed .chart-wrapper > .marks"  # not a mark group a template happens to name "marks"
BROKEN_IMAGES = "() => [...document.images].filter(image => !(image.complete && image.naturalWidth > 0)).map(image => image.src)"


def coloured_pixels(png: bytes) -> int:
    """Pixels with a channel spread over 40: data marks (lines, bars, cells), not grey axes, grid and text.

    A plot whose data did not load draws its axes and title only, and counts 0.
    """
    with Image.open(io.BytesIO(png)) as image:
        pixels = np.asarray(image.convert("RGB")).astype(int)
    return int(np.sum(pixels.max(axis=2) - pixels.min(axis=2) > 40))


def drawn_pixels(marks) -> int:
    """The coloured pixels of one plot's <svg>/<canvas> (a Playwright locator); 0 when it has no size."""
    box = marks.bounding_box()
    if box is None or box["width"] < 1 or box["height"] < 1:
        return 0
    return coloured_pixels(marks.screenshot())


def declared_plots() -> tuple[int, int]:
    """(data plots, image plots) that dvc.yaml declares: DVC draws the first with Vega, shows the second as <img>."""
    entries = yaml.safe_load((ROOT / "dvc.yaml").read_text())["plots"]
    images = sum(isinstance(entry, str) and entry.lower().endswith(IMAGE_SUFFIXES) for entry in entries)
    return len(entries) - images, images


@pytest.fixture
def offline_context(tmp_path):
    """A chromium context that aborts every request for anything but a local file, and lists them."""
    if not CHROMIUM.is_file():
        no_browser(f"{CHROMIUM} is missing (apt-get install -y chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        no_browser("the playwright package is not installed (requirements-test.txt)")
    blocked: list[str] = []

    def only_local(route) -> None:
        if route.request.url.startswith(("file:", "data:", "blob:")):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 900},
        )
        try:
            context.route("**/*", only_local)
            yield context, blocked
        finally:
            context.close()


@pytest.fixture
def project_with_results(project):
    """The project copy with this checkout's committed plots and metrics files, committed."""
    listed = subprocess.run(["git", "ls-files", "metrics", "plots"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout.split()
    for name in listed:
        destination = project.root / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, destination)
    project.commit("results")
    return project


def check_page_renders_offline(context, blocked: list[str], page_file: pathlib.Path, *, plots: int, images: int) -> None:
    from playwright.sync_api import expect

    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(page_file.as_uri())
    assert blocked == [], f"{page_file} asked the network for {blocked}"
    drawn = page.locator(DRAWN)
    expect(drawn).to_have_count(plots, timeout=60_000)
    coloured = {drawn.nth(index).evaluate("marks => marks.closest('[id]').id"): drawn_pixels(drawn.nth(index))
                for index in range(plots)}
    assert all(count > 0 for count in coloured.values()), f"blank plots in {page_file}: {coloured}"
    assert page.locator("img").count() == images and page.evaluate(BROKEN_IMAGES) == []
    assert errors == []
    page.close()


def test_report_and_plots_show_pages_draw_every_declared_plot_with_the_network_blocked(offline_context, project_with_results):
    context, blocked = offline_context
    project = project_with_results
    plots, images = declared_plots()
    assert plots >= 10 and images >= 5  # the training curves, ROC, reliability, ...; the PNG figures

    # make report sets up first (-o: the venv is this one): that writes the template, then dvc plots diff.
    project.run("make", "-o", ".venv/.installed", "report", "BASE=HEAD")
    check_page_renders_offline(context, blocked, project.root / "dvc_plots/index.html",
                               plots=plots, images=2 * images)  # HEAD's and the workspace's images
    project.dvc("plots", "show", "--out", "shown")
    check_page_renders_offline(context, blocked, project.root / "shown/index.html", plots=plots, images=images)
