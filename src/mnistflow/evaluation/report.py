"""A Markdown report of a change for its pull request: params, headline figures, every metric, plots.

    python -m mnistflow.evaluation.report --base main --out report.md --plots-dir dvc_plots \
        --metrics metrics/evaluate.json --val-metrics metrics/evaluate_val.json \
        --targets metrics/headline.json metrics/evaluate.json metrics/evaluate_val.json ...

(`make report BASE=...` runs this.) It compares the workspace with the git revision `--base` using
DVC alone: `dvc params diff`, `dvc metrics diff --all` and `dvc plots diff --out <plots-dir>`, which
writes the HTML page with every plot, old and new side by side. Only the headline file is declared
as metrics (docs/experiments.md): `--targets` names the files to compare instead (make report: every
JSON file under metrics/), so the undeclared detail (per digit, per baseline, training) is in the
report too. Metrics and plots are small files in git, so no DVC remote is needed. A `--comparison`
Markdown file (the baselines' table), when it exists, is appended, and `--image` PNGs are linked
(CML uploads them when it posts the report).
"""
from __future__ import annotations

import argparse
import json
import logging
import pathlib
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

from mnistflow.core import atomic, cli

logger = logging.getLogger(__name__)

# (metric key, label, format) for the headline table, read from the test and validation metrics.
HEADLINE = [("accuracy", "accuracy", "{:.4f}"), ("f1_macro", "macro F1", "{:.4f}"), ("errors", "errors", "{:d}")]


def run_dvc(*args: str) -> str:
    """stdout of `dvc <args>`; a failure is one line naming the command and DVC's first error line."""
    result = subprocess.run(["dvc", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip()] or [f"exit status {result.returncode}"]
        first_error = next((line for line in lines if "ERROR" in line), lines[0])
        raise ValueError(f"dvc {' '.join(args)} failed: {first_error.strip()}")
    return result.stdout


def headline_table(metrics_diff: dict[str, Any], *, base: str, sources: Sequence[tuple[str, str]]) -> str:
    """Markdown table: each headline metric of each (label, metrics file), base vs workspace."""
    rows = [f"| figure | {base} | this change | change |", "| --- | ---: | ---: | ---: |"]
    for set_name, path in sources:
        entries = metrics_diff.get(path, {})
        for key, label, number in HEADLINE:
            entry = entries.get(key, {})
            old, new = entry.get("old"), entry.get("new")
            change = new - old if isinstance(old, (int, float)) and isinstance(new, (int, float)) else None
            rows.append(
                f"| {set_name} {label} | {_format(old, number)} | {_format(new, number)} | {_format(change, number, sign=True)} |"
            )
    return "\n".join(rows)


def changed_table(metrics_diff: dict[str, Any], *, base: str, first: Sequence[str] = ()) -> str:
    """Markdown table of the metrics whose value differs from the base (a null counts as a value).

    Files in `first` come first, in that order, then the others by name; metrics by name.
    """
    rows = [f"| file | metric | {base} | this change | change |", "| --- | --- | ---: | ---: | ---: |"]
    order = sorted(metrics_diff, key=lambda path: (first.index(path) if path in first else len(first), path))
    for path in order:
        for key, entry in sorted(metrics_diff[path].items()):
            old, new = entry.get("old"), entry.get("new")
            if old != new:
                change = entry.get("diff")
                rows.append(f"| {path} | {key} | {_plain(old)} | {_plain(new)} | {_plain(change, sign=True)} |")
    return "\n".join(rows) if len(rows) > 2 else f"No metric differs from `{base}`."


def _plain(value: Any, *, sign: bool = False) -> str:
    if value is None:
        return "-"
    text = f"{value:.6g}" if isinstance(value, float) else str(value)
    return f"+{text}" if sign and isinstance(value, (int, float)) and value > 0 else text


def _format(value: Any, number: str, *, sign: bool = False) -> str:
    if value is None:
        return "-"
    text = number.format(value)
    return f"+{text}" if sign and value > 0 else text


def render(
    *,
    base: str,
    params_md: str,
    metrics_md: str,
    metrics_diff: dict[str, Any],
    sources: Sequence[tuple[str, str]],
    plots_page: str,
    images: Sequence[str] = (),
    comparison_md: str | None = None,
) -> str:
    """The report's Markdown from DVC's outputs (pure: no disk, no subprocess)."""
    parts = [
        f"# Pipeline report: workspace vs `{base}`",
        "## Headline figures",
        headline_table(metrics_diff, base=base, sources=sources),
        "## Params changed",
        params_md.strip() or f"No param differs from `{base}`.",
        "## Metrics that changed",
        changed_table(metrics_diff, base=base, first=[path for _, path in sources]),
        "<details><summary>Every metric, base vs this change (<code>dvc metrics diff --all</code>)</summary>\n\n"
        + (metrics_md.strip() or "No metrics found.") + "\n\n</details>",
        "## Plots",
        f"`dvc plots diff {base}` wrote every plot, old and new side by side, to `{plots_page}`: "
        "open it in a browser (in CI it is kept as the workflow's `dvc-plots` artifact).",
    ]
    parts += [f"![{pathlib.Path(image).stem}]({image})" for image in images]
    if comparison_md is not None:
        parts += ["## Baselines comparison", comparison_md.strip()]
    return "\n\n".join(parts) + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", default="main", help="git revision to compare the workspace with")
    parser.add_argument("--out", required=True, help="the Markdown report to write")
    parser.add_argument("--plots-dir", required=True, help="directory for `dvc plots diff`'s HTML page")
    parser.add_argument("--metrics", required=True, help="test metrics file (headline figures)")
    parser.add_argument("--val-metrics", required=True, help="validation metrics file (headline figures)")
    parser.add_argument("--comparison", help="Markdown appended when the file exists (baselines table)")
    parser.add_argument("--image", action="append", default=[], help="PNG to show in the report (repeatable)")
    parser.add_argument(
        "--targets", nargs="+", action="extend", default=[],
        help="metrics files to compare, declared or not (default: the declared metrics only)",
    )
    args = parser.parse_args(argv)

    params_md = run_dvc("params", "diff", args.base, "--md")
    targets = ["--targets", *args.targets] if args.targets else []
    metrics_md = run_dvc("metrics", "diff", args.base, "--all", "--md", *targets)
    metrics_diff = json.loads(run_dvc("metrics", "diff", args.base, "--all", "--json", *targets) or "{}")
    run_dvc("plots", "diff", args.base, "--out", args.plots_dir)
    comparison = pathlib.Path(args.comparison) if args.comparison else None
    text = render(
        base=args.base,
        params_md=params_md,
        metrics_md=metrics_md,
        metrics_diff=metrics_diff,
        sources=[("test", args.metrics), ("validation", args.val_metrics)],
        plots_page=str(pathlib.Path(args.plots_dir) / "index.html"),
        images=[image for image in args.image if pathlib.Path(image).is_file()],
        comparison_md=comparison.read_text() if comparison is not None and comparison.is_file() else None,
    )
    atomic.write_text(args.out, text)
    logger.info("wrote %s (plots page %s)", args.out, pathlib.Path(args.plots_dir) / "index.html")


if __name__ == "__main__":
    sys.exit(cli.run(main))
