"""The draw-a-digit page in a real headless browser: Debian's chromium driven by Playwright.

A stroke drawn with mouse events makes the page show a digit, its top three and the 28x28 image
the server prepared; a file that is not an image makes it show the server's error. Every request
the page makes goes to the server itself. Where there is no browser the test is skipped with one
line saying so; CI (.ci/run) installs chromium first and sets MNISTFLOW_REQUIRE_BROWSER=1, which
turns that skip into a failure.

Waits are Playwright's (for an element or a condition in the page), never sleeps.
"""
from __future__ import annotations

import os
import pathlib
import re

import pytest
import served_model

pytestmark = pytest.mark.slow  # a browser, a server process and the shared ~5 s training run

CHROMIUM = pathlib.Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def no_browser(reason: str) -> None:
    if os.environ.get("MNISTFLOW_REQUIRE_BROWSER") == "1":
        pytest.fail(f"browser test required (MNISTFLOW_REQUIRE_BROWSER=1) but {reason}")
    pytest.skip(f"page test not run: {reason}")


@pytest.fixture
def browser_page(tmp_path):
    if not CHROMIUM.is_file():
        no_browser(f"{CHROMIUM} is missing (apt-get install -y chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        no_browser("the playwright package is not installed (requirements-test.txt)")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 900, "height": 640},
        )
        try:
            yield context.pages[0] if context.pages else context.new_page()
        finally:
            context.close()


def draw_seven(page) -> None:
    """A '7': a bar across the top, then a diagonal down to the bottom left, as mouse drags."""
    box = page.locator("#pad").bounding_box()
    left, top, side = box["x"], box["y"], box["width"]
    page.mouse.move(left + 0.25 * side, top + 0.22 * side)
    page.mouse.down()
    page.mouse.move(left + 0.75 * side, top + 0.22 * side, steps=12)
    page.mouse.move(left + 0.42 * side, top + 0.82 * side, steps=16)
    page.mouse.up()


def test_page_shows_a_prediction_and_the_28x28_preview_for_a_drawn_stroke_then_the_error_for_a_bad_upload(browser_page, tmp_path):
    from playwright.sync_api import expect

    page = browser_page
    with served_model.running_server(served_model.onnx_file()) as server:
        requested, console_errors = [], []
        page.on("request", lambda request: requested.append(request.url))
        page.on("console", lambda message: console_errors.append(message.text) if message.type == "error" else None)
        page.goto(server.url + "/")
        assert page.title() == "mnistflow: draw a digit"
        draw_seven(page)
        expect(page.locator("#prediction")).to_have_text(re.compile(r"^[0-9]$"))  # the page's CSP forbids wait_for_function's eval
        # Answers to earlier parts of the stroke may still be on their way: read the panel once the last is shown.
        expect(page.locator("#answer")).to_have_attribute("aria-busy", "false")
        prediction = page.locator("#prediction").inner_text()
        rows = page.locator("#top li")
        assert rows.count() == 3
        assert rows.nth(0).inner_text().startswith(prediction)
        assert page.locator("#error").is_hidden()
        preview = page.evaluate(
            """() => {
                const canvas = document.getElementById('preview');
                const data = canvas.getContext('2d').getImageData(0, 0, 28, 28).data;
                let lit = 0, opaque = 0;
                for (let i = 0; i < data.length; i += 4) { if (data[i] > 0) lit++; if (data[i + 3] === 255) opaque++; }
                return {width: canvas.width, height: canvas.height, lit, opaque};
            }"""
        )
        assert (preview["width"], preview["height"], preview["opaque"]) == (28, 28, 784)  # the server's 28x28, every pixel drawn
        assert 20 < preview["lit"] < 400  # a stroke, not a blank or a filled square
        page.screenshot(path=str(tmp_path / "page.png"))

        page.set_input_files("#upload", files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"not an image"}])
        expect(page.locator("#error")).to_have_text(
            "Error: notes.txt: not an image that can be read (cannot identify image file 'notes.txt')"
        )
        assert page.locator("#error").is_visible()
    assert requested and all(url.startswith(server.url + "/") for url in requested), requested
    assert [text for text in console_errors if "400" not in text] == []  # the refused upload logs its 400; nothing else fails


def test_page_saves_a_corrected_digit_under_the_collect_folder_and_shows_no_control_without_collect(browser_page, tmp_path):
    import json

    from playwright.sync_api import expect

    from mnistflow.core import field_record

    page = browser_page
    with served_model.running_server(served_model.onnx_file()) as server:
        page.goto(server.url + "/")
        draw_seven(page)
        expect(page.locator("#prediction")).to_have_text(re.compile(r"^[0-9]$"))
        expect(page.locator("#answer")).to_have_attribute("aria-busy", "false")
        assert page.locator("#feedback").is_hidden()  # no --collect: no control

    folder = tmp_path / "collected"
    with served_model.running_server(served_model.onnx_file(), "--collect", str(folder)) as server:
        assert f"collecting digits into {folder}" in server.first_lines[-1]
        page.goto(server.url + "/")
        draw_seven(page)
        expect(page.locator("#answer")).to_have_attribute("aria-busy", "false")
        expect(page.locator("#feedback")).to_be_visible()
        answered = int(page.locator("#prediction").inner_text())
        label = (answered + 1) % 10  # "it is a ...": a digit other than the model's answer
        page.get_by_role("button", name=f"it is a {label}", exact=True).click()
        expect(page.locator("#saved")).to_have_text(f"Saved as a {label}.")
        assert page.locator("#error").is_hidden()
    files = sorted(folder.iterdir())
    assert len(files) == 1 and field_record.NAME.fullmatch(files[0].name)
    image, saved_label = field_record.loads(files[0].read_text(), source=str(files[0]))
    assert saved_label == label and files[0].name == field_record.file_name(image)
    assert json.loads(files[0].read_text())["answer"]["digit"] == answered
