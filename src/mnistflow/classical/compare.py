"""The CNN beside the classical baselines: one Markdown table, one plot-data CSV, one bar chart.

Rows come from metric dicts already read from disk: `baseline_row(name, metrics)` for
`metrics/baselines/<name>.json`, `cnn_row(evaluate)` for `metrics/evaluate.json`. No wall-clock
times: these outputs are tracked by git, and a time would change them on every identical re-run
(the seconds to fit each model are in the stages' run logs, logs/*.json; docs/reproducibility.md).
"""
from __future__ import annotations

import dataclasses
import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display on CI or servers

import matplotlib.figure  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

CNN = "cnn"
MISSING = "—"


@dataclasses.dataclass(frozen=True)
class Row:
    model: str
    accuracy: float
    f1_macro: float
    cv_accuracy_mean: float | None = None
    cv_accuracy_std: float | None = None


def _number(metrics: Mapping[str, Any], key: str, source: str) -> float:
    value = metrics.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{source}: expected a number under {key!r}; got {value!r} (re-run the stage that writes it)")
    return float(value)


def baseline_row(name: str, metrics: Mapping[str, Any], *, source: str = "baseline metrics") -> Row:
    """A row from one baseline's metrics (the JSON that stages/baseline.py writes)."""
    return Row(
        model=name,
        accuracy=_number(metrics, "accuracy", source),
        f1_macro=_number(metrics, "f1_macro", source),
        cv_accuracy_mean=_number(metrics, "cv_accuracy_mean", source),
        cv_accuracy_std=_number(metrics, "cv_accuracy_std", source),
    )


def cnn_row(evaluate: Mapping[str, Any], *, source: str = "CNN metrics") -> Row:
    """The CNN's row: its test metrics from evaluate (no cross-validation)."""
    return Row(model=CNN, accuracy=_number(evaluate, "accuracy", source), f1_macro=_number(evaluate, "f1_macro", source))


def _format(value: float | None, digits: int) -> str:
    return MISSING if value is None else f"{value:.{digits}f}"


def markdown_table(rows: Sequence[Row]) -> str:
    """One Markdown table, a row per model in the order given; a missing figure shows as a dash."""
    lines = [
        "| model | CV accuracy (mean ± std) | test accuracy | macro F1 |",
        "| --- | ---: | ---: | ---: |",
    ]
    for row in rows:
        cv = MISSING if row.cv_accuracy_mean is None else f"{row.cv_accuracy_mean:.4f} ± {row.cv_accuracy_std:.4f}"
        cells = [row.model, cv, _format(row.accuracy, 4), _format(row.f1_macro, 4)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot_data_csv(rows: Sequence[Row]) -> str:
    """CSV for `dvc plots`: model, test_accuracy."""
    out = io.StringIO()
    out.write("model,test_accuracy\n")
    for row in rows:
        out.write(f"{row.model},{row.accuracy:.4f}\n")
    return out.getvalue()


def chart(rows: Sequence[Row]) -> matplotlib.figure.Figure:
    """Horizontal bars of test accuracy, one bar per model in the order given."""
    if not rows:
        raise ValueError("nothing to compare: no CNN metrics and no baseline enabled (baselines.enabled in params.yaml)")
    figure, axes = plt.subplots(figsize=(6, 0.5 * len(rows) + 1.5), dpi=100)
    positions = range(len(rows))
    accuracy = axes.barh(positions, [row.accuracy for row in rows], color="tab:blue")
    axes.bar_label(accuracy, fmt="%.4f", fontsize=8, padding=2)
    low = min(row.accuracy for row in rows)
    axes.set_xlim(max(0.0, math.floor(low * 20) / 20 - 0.05), 1.0)
    axes.set_xlabel("test accuracy")
    axes.set_yticks(list(positions), [row.model for row in rows])
    axes.invert_yaxis()
    figure.suptitle("CNN and classical baselines on the test split")
    figure.tight_layout()
    return figure
