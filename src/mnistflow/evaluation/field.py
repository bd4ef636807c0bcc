"""The model on the field set's eval part (digits people drew, data/field.py): figures and a picture.

    summary = field.field_metrics(labels, probabilities, unsure)     # JSON-ready
    figure = field.mistakes_figure(images, labels, probabilities, count=30)

With no field digits, every figure is None (null in JSON) and `count` is 0: nothing is made up. A
digit with no eval image has recall None. `unsure_share` is the share of digits the served model
would answer "unsure" (below its threshold), right or wrong.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from mnistflow.core import arrays, figures
from mnistflow.evaluation import charts, metrics

if TYPE_CHECKING:
    import matplotlib.figure


def field_metrics(labels: np.ndarray, probabilities: np.ndarray, unsure: np.ndarray) -> dict:
    """count, accuracy, errors, unsure_share and per-digit {count, recall}; figures None when there are no digits."""
    labels, unsure = np.asarray(labels), np.asarray(unsure, dtype=bool)
    if probabilities.shape != (len(labels), arrays.NUM_CLASSES) or unsure.shape != labels.shape:
        raise ValueError(f"expected (N, 10) probabilities and (N,) unsure flags for {len(labels)} labels; "
                         f"got {probabilities.shape} and {unsure.shape}")
    right = metrics.predicted_classes(probabilities) == labels if len(labels) else np.zeros(0, dtype=bool)
    per_digit = {}
    for digit in range(arrays.NUM_CLASSES):
        mine = labels == digit
        per_digit[str(digit)] = {"count": int(mine.sum()), "recall": _share(right[mine])}
    return {
        "count": len(labels),
        "accuracy": _share(right),
        "errors": int((~right).sum()) if len(labels) else None,
        "unsure_share": _share(unsure),
        "per_digit": per_digit,
    }


def _share(flags: np.ndarray) -> float | None:
    return round(float(flags.mean()), metrics.DECIMALS) if len(flags) else None


def mistakes_figure(images: np.ndarray, labels: np.ndarray, probabilities: np.ndarray, *, count: int) -> matplotlib.figure.Figure:
    """The most confident mistakes on the field eval part; with no digits, a figure that says so."""
    if len(labels):
        return charts.mistakes_grid(images, labels, probabilities, count=count)
    figure, axes = figures.pyplot().subplots(figsize=(4, 1), dpi=figures.DPI)
    axes.axis("off")
    axes.text(0.5, 0.5, "no field data (data/field/ is empty)", ha="center", va="center")
    return figure
