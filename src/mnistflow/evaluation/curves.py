"""Plot data for DVC's Vega-Lite templates: confusion rows, and ROC and precision-recall curves.

    rows = curves.confusion_rows(labels, predicted)            # template: confusion / confusion_normalized
    roc = curves.roc_curves(labels, probabilities, points=200)  # template: linear, x: fpr
    pr = curves.precision_recall_curves(labels, probabilities, points=200)  # x: recall
    text = curves.to_csv(roc)

DVC's confusion templates count rows (`aggregate: count` over actual x predicted), so they need one
row per image; there is no built-in template that reads a count column. `confusion_rows` sorts
those rows by (actual, predicted): the file is ~4 bytes per image (about 40 kB for the 10,000 test
images) and a changed prediction shows in `git diff` as one line moving between two blocks.

The curves are one file per kind with a shared x grid of `points` values and one column per class
(`digit_0` ... `digit_9`), so a diff compares the same x values across revisions and the file stays
a few hundred rows however many images there are. The grid is dense where the curves bend on a good
classifier (near false-positive rate 0 for ROC, near recall 1 for precision-recall). A class absent
from the labels has no curve: its column is empty (NaN, written as an empty CSV cell).
"""
from __future__ import annotations

import numpy as np
from sklearn import metrics as sk_metrics

SMALLEST_STEP = 1e-4  # finest grid spacing: below one in 10,000 images, MNIST's test-set size


def confusion_rows(labels: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """(N, 2) int64 pairs (actual, predicted), sorted, for DVC's confusion templates."""
    pairs = np.stack([np.asarray(labels, np.int64), np.asarray(predicted, np.int64)], axis=1)
    return pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]


def grid(points: int) -> np.ndarray:
    """`points` values from 0 to 1: 0, then geometric from SMALLEST_STEP to 1 (dense near 0)."""
    if points < 3:
        raise ValueError(f"a curve needs at least 3 points; got {points}")
    return np.concatenate([[0.0], np.geomspace(SMALLEST_STEP, 1.0, points - 1)])


def roc_curves(labels: np.ndarray, probabilities: np.ndarray, *, points: int) -> dict[str, np.ndarray]:
    """One-vs-rest ROC per class: true-positive rate at each false-positive rate of the grid.

    The ROC curve is a step function; the value at a grid point is the best true-positive rate
    reached at or below that false-positive rate (exact, not a straight-line interpolation).
    """
    false_positive_rate = grid(points)
    columns = {"fpr": false_positive_rate}
    for k in range(probabilities.shape[1]):
        is_positive = np.asarray(labels) == k
        if not is_positive.any() or is_positive.all():
            columns[f"digit_{k}"] = np.full(points, np.nan)
            continue
        fpr, tpr, _ = sk_metrics.roc_curve(is_positive, probabilities[:, k], drop_intermediate=False)
        columns[f"digit_{k}"] = tpr[np.searchsorted(fpr, false_positive_rate, side="right") - 1]
    return columns


def precision_recall_curves(labels: np.ndarray, probabilities: np.ndarray, *, points: int) -> dict[str, np.ndarray]:
    """One-vs-rest precision-recall per class: interpolated precision at each recall of the grid.

    Interpolated precision at recall r is the best precision at any recall >= r (the usual
    definition; it makes the saw-toothed raw curve monotone and well defined on a grid).
    """
    recall_grid = (1.0 - grid(points))[::-1]  # dense near recall 1
    columns = {"recall": recall_grid}
    for k in range(probabilities.shape[1]):
        is_positive = np.asarray(labels) == k
        if not is_positive.any():
            columns[f"digit_{k}"] = np.full(points, np.nan)
            continue
        precision, recall, _ = sk_metrics.precision_recall_curve(is_positive, probabilities[:, k])
        order = np.argsort(recall, kind="stable")
        recall, precision = recall[order], precision[order]
        best_from_here = np.maximum.accumulate(precision[::-1])[::-1]
        index = np.minimum(np.searchsorted(recall, recall_grid - 1e-12, side="left"), recall.size - 1)
        columns[f"digit_{k}"] = best_from_here[index]
    return columns


def to_csv(columns: dict[str, np.ndarray]) -> str:
    """Columns of equal length as CSV: a header, 6 significant digits, NaN as an empty cell."""
    names = list(columns)
    lengths = {len(columns[name]) for name in names}
    if len(lengths) != 1:
        raise ValueError(f"CSV columns must all have the same length; got lengths {sorted(lengths)}")
    lines = [",".join(names)]
    for row in zip(*(columns[name] for name in names)):
        lines.append(",".join(_cell(value) for value in row))
    return "\n".join(lines) + "\n"


def _cell(value: float) -> str:
    return "" if np.isnan(value) else f"{float(value):.6g}"


def confusion_csv(rows: np.ndarray) -> str:
    """The (actual, predicted) rows as CSV with header `actual,predicted`."""
    return "actual,predicted\n" + "".join(f"{a},{p}\n" for a, p in rows)
