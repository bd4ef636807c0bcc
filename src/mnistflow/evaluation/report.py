"""A Markdown report of a change for its pull request: headline figures first, then the detail, params, plots.

    python -m mnistflow.evaluation.report --base main --out report.md --plots-dir dvc_plots \
        --headline metrics/headline.json --robustness metrics/robustness.json --metrics metrics/evaluate.json \
        --targets metrics/headline.json metrics/evaluate.json metrics/robustness.json ...

(`make report BASE=...` runs this.) It compares the workspace with the git revision `--base` using
DVC alone: `dvc params diff`, `dvc metrics diff --all` and `dvc plots diff --out <plots-dir>`, which
writes the HTML page with every plot, old and new side by side. The first table is the headline
figures, every key of the `--headline` file, each with a verdict (`FIGURES`: which way is better and
the tolerance); then accuracy per corruption and the per-digit figures, changed rows first. Only the
headline file is declared as metrics (docs/experiments.md): `--targets` names the files to compare
instead (make report: every JSON file under metrics/), so the undeclared detail (per digit, per
baseline, training) is in the report too. Metrics and plots are small files in git, so no DVC remote
is needed. A `--comparison` Markdown file (the baselines' table), when it exists, is appended, and
`--image` PNGs are linked (CML uploads them when it posts the report).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import pathlib
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

from mnistflow.core import atomic, cli

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Figure:
    """How the report reads one headline figure: its label, which way is better, and the tolerance.

    A change in the bad direction larger than `tolerance` is marked **worse**; one in the good
    direction larger than it, better; anything smaller is within tolerance (seed-to-seed noise).
    """

    label: str
    higher_is_better: bool
    tolerance: float
    number: str = "{:.4f}"


# The direction and tolerance of each headline figure (metrics/headline.json, written by summary.py),
# declared here once. Rates and ECE: 0.001, i.e. 10 of the 10,000 test images (6 of the 6,000
# validation ones); errors: the same 10 images. A figure not listed here is shown with its change but
# not judged (tests/test_report.py holds this table to summary.FIGURES).
FIGURES = {
    "test_acc": Figure("test accuracy", higher_is_better=True, tolerance=0.001),
    "test_errors": Figure("test errors", higher_is_better=False, tolerance=10, number="{:d}"),
    "test_f1": Figure("test macro F1", higher_is_better=True, tolerance=0.001),
    "test_ece": Figure("test expected calibration error", higher_is_better=False, tolerance=0.001),
    "val_acc": Figure("validation accuracy", higher_is_better=True, tolerance=0.001),
    "corrupted_acc": Figure("test mean corrupted accuracy", higher_is_better=True, tolerance=0.001),
    # The field set is small (tens to hundreds of digits): one digit moves it by 0.01 or more.
    "field_acc": Figure("field accuracy (collected digits)", higher_is_better=True, tolerance=0.01),
}
WORSE = "**worse**"
# The detail under the headline: (metrics key suffix, column heading). "" is the key `<prefix>.<row>` itself.
CORRUPTION_COLUMNS = [("", "accuracy")]
DIGIT_COLUMNS = [("f1", "F1"), ("precision", "precision"), ("recall", "recall"), ("roc_auc", "ROC AUC")]


def run_dvc(*args: str) -> str:
    """stdout of `dvc <args>`; a failure is one line naming the command and DVC's first error line."""
    result = subprocess.run(["dvc", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip()] or [f"exit status {result.returncode}"]
        first_error = next((line for line in lines if "ERROR" in line), lines[0])
        raise ValueError(f"dvc {' '.join(args)} failed: {first_error.strip()}")
    return result.stdout


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def judge(key: str, old: Any, new: Any) -> str:
    """The verdict on one headline figure's change: WORSE, "better", "within tolerance" or why none."""
    if not (_number(old) and _number(new)):
        return "" if old == new else ("not in the base" if old is None else "not in this change" if new is None else "changed")
    change = round(new - old, 9)  # the files hold 6 decimals: no float noise decides a verdict
    figure = FIGURES.get(key)
    if change == 0:
        return ""
    if figure is None:
        return "changed (no direction declared)"
    worse_by = -change if figure.higher_is_better else change
    if worse_by > figure.tolerance:
        return f"{WORSE} (tolerance {figure.tolerance:g})"
    return "better" if -worse_by > figure.tolerance else "within tolerance"


def headline_table(file_diff: dict[str, Any], *, base: str, keys: Sequence[str]) -> str:
    """Markdown table of the headline figures `keys` (then any other key of the diff), base vs workspace."""
    rows = [f"| figure | {base} | this change | difference | verdict |", "| --- | ---: | ---: | ---: | --- |"]
    for key in [*keys, *(key for key in file_diff if key not in keys)]:
        entry = file_diff.get(key, {})
        old, new = entry.get("old"), entry.get("new")
        figure = FIGURES.get(key)
        label = f"{figure.label} (`{key}`)" if figure else f"`{key}`"
        number = figure.number if figure else None
        change = new - old if _number(old) and _number(new) else None
        rows.append(f"| {label} | {_format(old, number)} | {_format(new, number)} "
                    f"| {_format(change, number, sign=True)} | {judge(key, old, new)} |")
    return "\n".join(rows)


def worse_figures(file_diff: dict[str, Any], *, keys: Sequence[str]) -> list[str]:
    """The headline keys whose change is beyond tolerance in the bad direction, in table order."""
    entries = {key: file_diff.get(key, {}) for key in [*keys, *file_diff]}
    return [key for key, entry in entries.items() if judge(key, entry.get("old"), entry.get("new")).startswith(WORSE)]


def lead_line(file_diff: dict[str, Any], *, base: str, keys: Sequence[str]) -> str:
    """One sentence that names every headline figure that got worse, or says none did."""
    worse = worse_figures(file_diff, keys=keys)
    if not worse:
        return f"No headline figure is worse than `{base}` beyond its tolerance."
    named = [f"{FIGURES[key].label} ({_format(file_diff[key]['new'] - file_diff[key]['old'], FIGURES[key].number, sign=True)})"
             for key in worse]
    return f"**Worse than `{base}` beyond tolerance: {', '.join(named)}.**"


def detail_table(
    file_diff: dict[str, Any], *, base: str, prefix: str, row_name: str, columns: Sequence[tuple[str, str]]
) -> str:
    """Markdown table of the figures `<prefix>.<row>[.<column>]`: changed rows first, largest drop first.

    A cell that changed reads `base → this change (difference)`; rows are ordered by the change of the
    first column (a drop first), then the unchanged rows in their natural order (digits as numbers).
    """
    rows: dict[str, dict[str, dict[str, Any]]] = {}
    for key, entry in file_diff.items():
        if not key.startswith(prefix + "."):
            continue
        rest = key[len(prefix) + 1:]
        for suffix, _ in columns:
            if suffix and rest.endswith("." + suffix):
                rows.setdefault(rest[: -len(suffix) - 1], {})[suffix] = entry
            elif not suffix and "." not in rest:
                rows.setdefault(rest, {})[suffix] = entry
    if not rows:
        return f"No `{prefix}.*` figures to compare with `{base}`."

    def changed(row: str) -> bool:
        return any(entry.get("old") != entry.get("new") for entry in rows[row].values())

    def order(row: str) -> tuple:
        first = rows[row].get(columns[0][0], {})
        old, new = first.get("old"), first.get("new")
        drop = new - old if _number(old) and _number(new) else 0
        natural = (int(row), "") if row.isdigit() else (math.inf, row)
        return (not changed(row), drop if changed(row) else 0, natural)

    lines = [f"| {row_name} | {' | '.join(heading for _, heading in columns)} |",
             "| --- |" + " ---: |" * len(columns)]
    for row in sorted(rows, key=order):
        cells = [_cell(rows[row].get(suffix, {})) for suffix, _ in columns]
        lines.append(f"| {row} | {' | '.join(cells)} |")
    return "\n".join(lines)


def _cell(entry: dict[str, Any]) -> str:
    old, new = entry.get("old"), entry.get("new")
    if old == new:
        return _plain(new)
    change = f" ({_plain(new - old, sign=True)})" if _number(old) and _number(new) else ""
    return f"{_plain(old)} → {_plain(new)}{change}"


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
    if isinstance(value, float):
        value = round(value, 9)  # 0.9925 - 0.9825 prints as +0.01, not +0.0100000000000001
    text = f"{value:.6g}" if isinstance(value, float) else str(value)
    return f"+{text}" if sign and isinstance(value, (int, float)) and value > 0 else text


def _format(value: Any, number: str | None, *, sign: bool = False) -> str:
    if value is None:
        return "-"
    if number is None or not _number(value) or (number == "{:d}" and not isinstance(value, int)):
        return _plain(value, sign=sign)
    text = number.format(value)
    return f"+{text}" if sign and value > 0 else text


@dataclasses.dataclass(frozen=True)
class Sources:
    """The metrics files the report's own tables read, as `dvc metrics diff` names them."""

    headline: str
    robustness: str
    per_digit: str


def render(
    *,
    base: str,
    params_md: str,
    metrics_md: str,
    metrics_diff: dict[str, Any],
    headline_keys: Sequence[str],
    sources: Sources,
    plots_page: str,
    images: Sequence[str] = (),
    comparison_md: str | None = None,
) -> str:
    """The report's Markdown from DVC's outputs (pure: no disk, no subprocess)."""
    headline = metrics_diff.get(sources.headline, {})
    parts = [
        f"# Pipeline report: workspace vs `{base}`",
        f"## Headline figures (`{sources.headline}`)",
        lead_line(headline, base=base, keys=headline_keys),
        headline_table(headline, base=base, keys=headline_keys),
        f"## Accuracy per corruption, test set (`{sources.robustness}`)",
        detail_table(metrics_diff.get(sources.robustness, {}), base=base, prefix="accuracy",
                     row_name="corruption", columns=CORRUPTION_COLUMNS),
        f"## Per digit, test set (`{sources.per_digit}`)",
        detail_table(metrics_diff.get(sources.per_digit, {}), base=base, prefix="per_digit",
                     row_name="digit", columns=DIGIT_COLUMNS),
        "## Params changed",
        params_md.strip() or f"No param differs from `{base}`.",
        "## Metrics that changed",
        changed_table(metrics_diff, base=base, first=[sources.headline, sources.robustness, sources.per_digit]),
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


def read_headline_keys(path: str) -> list[str]:
    """The keys of the workspace's headline file, in its order; none when it does not exist yet."""
    file = pathlib.Path(path)
    if not file.is_file():
        return []
    try:
        figures = json.loads(file.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error}); re-run the summary stage (dvc repro summary)") from None
    if not isinstance(figures, dict):
        raise ValueError(f"{path}: expected a JSON object of headline figures; got {type(figures).__name__}")
    return list(figures)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", default="main", help="git revision to compare the workspace with")
    parser.add_argument("--out", required=True, help="the Markdown report to write")
    parser.add_argument("--plots-dir", required=True, help="directory for `dvc plots diff`'s HTML page")
    parser.add_argument("--headline", required=True, help="headline figures file (the first table)")
    parser.add_argument("--robustness", required=True, help="robustness metrics file (accuracy per corruption)")
    parser.add_argument("--metrics", required=True, help="test metrics file (the per-digit table)")
    parser.add_argument("--comparison", help="Markdown appended when the file exists (baselines table)")
    parser.add_argument("--image", action="append", default=[], help="PNG to show in the report (repeatable)")
    parser.add_argument(
        "--targets", nargs="+", action="extend", default=[],
        help="metrics files to compare, declared or not (default: the declared metrics only)",
    )
    args = parser.parse_args(argv)
    headline_keys = read_headline_keys(args.headline)

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
        headline_keys=headline_keys,
        sources=Sources(headline=args.headline, robustness=args.robustness, per_digit=args.metrics),
        plots_page=str(pathlib.Path(args.plots_dir) / "index.html"),
        images=[image for image in args.image if pathlib.Path(image).is_file()],
        comparison_md=comparison.read_text() if comparison is not None and comparison.is_file() else None,
    )
    atomic.write_text(args.out, text)
    logger.info("wrote %s (plots page %s)", args.out, pathlib.Path(args.plots_dir) / "index.html")


if __name__ == "__main__":
    sys.exit(cli.run(main))
