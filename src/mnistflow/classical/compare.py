"""The CNN beside the classical baselines: one Markdown table, one plot-data CSV, one bar chart.

Rows come from metric dicts already read from disk: `baseline_row(name, metrics)` for
`metrics/baselines/<name>.json`, `cnn_row(evaluate, train)` for `metrics/evaluate.json` and the
training summary `metrics/train/metrics.json` (key `train_seconds`).
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
    fit_seconds: float | None = None
    predict_seconds: float | None = None


def _number(metrics: Mapping[str, Any], key: str, source: str, *, required: bool = True) -> float | None:
    value = metrics.get(key)
    if value is None and not required:
        return None
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
        fit_seconds=_number(metrics, "fit_seconds", source),
        predict_seconds=_number(metrics, "predict_seconds", source),
    )


def cnn_row(
    evaluate: Mapping[str, Any], train: Mapping[str, Any] | None, *, source: str = "CNN metrics"
) -> Row:
    """The CNN's row: test metrics from evaluate, fit time from the training summary (if given)."""
    return Row(
        model=CNN,
        accuracy=_number(evaluate, "accuracy", source),
        f1_macro=_number(evaluate, "f1_macro", source),
        fit_seconds=None if train is None else _number(train, "train_seconds", source, required=False),
        predict_seconds=_number(evaluate, "predict_seconds", source, required=False),
    )


def _format(value: float | None, digits: int) -> str:
    return MISSING if value is None else f"{value:.{digits}f}"


def markdown_table(rows: Sequence[Row]) -> str:
    """One Markdown table, a row per model in the order given; a missing figure shows as a dash."""
    lines = [
        "| model | CV accuracy (mean ± std) | test accuracy | macro F1 | fit s | predict s |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        cv = MISSING if row.cv_accuracy_mean is None else f"{row.cv_accuracy_mean:.4f} ± {row.cv_accuracy_std:.4f}"
        cells = [row.model, cv, _format(row.accuracy, 4), _format(row.f1_macro, 4),
                 _format(row.fit_seconds, 1), _format(row.predict_seconds, 2)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot_data_csv(rows: Sequence[Row]) -> str:
    """CSV for `dvc plots`: model, test_accuracy, fit_seconds (empty when unknown)."""
    out = io.StringIO()
    out.write("model,test_accuracy,fit_seconds\n")
    for row in rows:
        fit = "" if row.fit_seconds is None else f"{row.fit_seconds:.3f}"
        out.write(f"{row.model},{row.accuracy:.4f},{fit}\n")
    return out.getvalue()


def chart(rows: Sequence[Row]) -> matplotlib.figure.Figure:
    """Two panels of horizontal bars, one bar per model: test accuracy, and fit time (log scale)."""
    if not rows:
        raise ValueError("nothing to compare: no CNN metrics and no baseline enabled (baselines.enabled in params.yaml)")
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 0.5 * len(rows) + 1.5), dpi=100, sharey=True)
    names = [row.model for row in rows]
    positions = range(len(rows))
    accuracy = left.barh(positions, [row.accuracy for row in rows], color="tab:blue")
    left.bar_label(accuracy, fmt="%.4f", fontsize=8, padding=2)
    low = min(row.accuracy for row in rows)
    left.set_xlim(max(0.0, math.floor(low * 20) / 20 - 0.05), 1.0)
    left.set_xlabel("test accuracy")
    left.set_yticks(list(positions), names)
    left.invert_yaxis()
    seconds = [math.nan if row.fit_seconds is None else max(row.fit_seconds, 1e-3) for row in rows]
    fit = right.barh(positions, seconds, color="tab:orange")
    right.bar_label(fit, labels=[MISSING if math.isnan(s) else f"{s:.1f}" for s in seconds], fontsize=8, padding=2)
    right.set_xscale("log")
    known = [s for s in seconds if not math.isnan(s)]
    if known:  # whole decades, with room on the right for the longest bar's label
        right.set_xlim(10 ** math.floor(math.log10(min(known))), 10 ** (math.log10(max(known)) + 0.6))
    right.set_xlabel("fit seconds (log scale)")
    figure.suptitle("CNN and classical baselines on the test split")
    figure.tight_layout(w_pad=3)  # room between the panels for the accuracy labels near 1.0
    return figure
