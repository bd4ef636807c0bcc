"""PNG figures of a model's test predictions: a sample grid, the most confident mistakes, and the
confusion matrix as an annotated heatmap.

Each function returns a matplotlib Figure; save it with `figures.save_png`.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from mnistflow.core import figures

if TYPE_CHECKING:
    import matplotlib.figure

RIGHT, WRONG = "green", "red"


def predictions_grid(images: np.ndarray, labels: np.ndarray, predicted: np.ndarray, *, count: int) -> matplotlib.figure.Figure:
    """The first `count` images titled "true -> predicted", green when right and red when wrong."""
    shown = slice(0, min(count, len(images)))
    titles = [f"{t} \u2192 {p}" for t, p in zip(labels[shown], predicted[shown])]
    colors = [RIGHT if t == p else WRONG for t, p in zip(labels[shown], predicted[shown])]
    return figures.sample_grid(images[shown], titles, colors=colors)


def most_confident_mistakes(labels: np.ndarray, probabilities: np.ndarray, *, count: int) -> np.ndarray:
    """Indices of up to `count` wrong predictions, most confident first (ties: lower index first)."""
    predicted = np.argmax(probabilities, axis=1)
    wrong = np.flatnonzero(predicted != labels)
    confidence = probabilities[wrong, predicted[wrong]]
    return wrong[np.argsort(-confidence, kind="stable")][:count]


def mistakes_grid(images: np.ndarray, labels: np.ndarray, probabilities: np.ndarray, *, count: int) -> matplotlib.figure.Figure:
    """The most confident mistakes, titled "true -> predicted (confidence)", in red.

    With no mistake at all, a small figure that says so (an empty grid would be no PNG).
    """
    plt = figures.pyplot()
    indices = most_confident_mistakes(labels, probabilities, count=count)
    if indices.size == 0:
        figure, axes = plt.subplots(figsize=(4, 1), dpi=figures.DPI)
        axes.axis("off")
        axes.text(0.5, 0.5, f"no mistakes on {len(labels)} images", ha="center", va="center")
        return figure
    predicted = np.argmax(probabilities[indices], axis=1)
    titles = [
        f"{t} \u2192 {p} ({probabilities[i, p]:.0%})" for i, t, p in zip(indices, labels[indices], predicted)
    ]
    return figures.sample_grid(images[indices], titles, colors=[WRONG] * indices.size)


def confusion_heatmap(counts: np.ndarray, *, title: str) -> matplotlib.figure.Figure:
    """Counts (actual rows x predicted columns) as a heatmap, each cell annotated with its count."""
    plt = figures.pyplot()
    classes = counts.shape[0]
    figure, axes = plt.subplots(figsize=(6, 5.5), dpi=figures.DPI)
    # Colour by the share of each actual class, so the off-diagonal cells of rare classes show too.
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    image = axes.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for actual in range(classes):
        for predicted in range(classes):
            value = int(counts[actual, predicted])
            if value:
                colour = "white" if shares[actual, predicted] > 0.5 else "black"
                axes.text(predicted, actual, str(value), ha="center", va="center", fontsize=7, color=colour)
    axes.set_xticks(range(classes))
    axes.set_yticks(range(classes))
    axes.set_xlabel("predicted")
    axes.set_ylabel("actual")
    axes.set_title(title)
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04, label="share of the actual digit")
    figure.tight_layout()
    return figure


def reliability_diagram(rows: list[dict[str, float]], *, title: str) -> matplotlib.figure.Figure:
    """Accuracy against mean confidence per bin (bars), the diagonal of perfect calibration, and
    how many images each bin holds (the bar's shade)."""
    plt = figures.pyplot()
    figure, axes = plt.subplots(figsize=(5, 5), dpi=figures.DPI)
    filled = [row for row in rows if row["images"]]
    total = sum(row["images"] for row in filled) or 1
    for row in filled:
        width = row["bin_high"] - row["bin_low"]
        shade = 0.25 + 0.75 * min(1.0, 20 * row["images"] / total)
        axes.bar(row["bin_low"], row["accuracy"], width=width, align="edge", color=(0.2, 0.4, 0.8, shade), edgecolor="black", linewidth=0.5)
        axes.plot(row["confidence"], row["accuracy"], "k.", markersize=4)
    axes.plot([0, 1], [0, 1], "--", color="gray", label="perfectly calibrated")
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1)
    axes.set_xlabel("confidence (top probability)")
    axes.set_ylabel("accuracy")
    axes.set_title(title)
    axes.legend(loc="upper left")
    figure.tight_layout()
    return figure


def close(open_figures) -> None:
    """Free figures that were built but perhaps never saved (save_png closes the ones it saves)."""
    plt = figures.pyplot()
    for figure in open_figures:
        plt.close(figure)
