"""PNG figures people look at: class counts per digit, and grids of digit images.

Functions build and return a matplotlib Figure; `save_png` writes it atomically and closes it.
"""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from mnistflow.core import atomic

if TYPE_CHECKING:
    import matplotlib.figure

DPI = 100


def pyplot():
    """matplotlib's pyplot on the file-only Agg backend (no display on CI or servers), set on first
    use rather than on import."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot

    return matplotlib.pyplot


def class_counts_chart(counts: Mapping[str, Sequence[int]], *, title: str) -> matplotlib.figure.Figure:
    """Grouped bars: one group per digit 0-9, one bar per named series (e.g. train/val/test)."""
    plt = pyplot()
    figure, axes = plt.subplots(figsize=(8, 4), dpi=DPI)
    digits = np.arange(10)
    width = 0.8 / max(len(counts), 1)
    for index, (name, values) in enumerate(counts.items()):
        values = np.asarray(values)
        if values.shape != (10,):
            raise ValueError(f"counts[{name!r}] must have 10 values, one per digit; got shape {values.shape}")
        offset = (index - (len(counts) - 1) / 2) * width
        bars = axes.bar(digits + offset, values, width=width, label=name)
        axes.bar_label(bars, fontsize=6, padding=1)
    axes.set_xticks(digits)
    axes.set_xlabel("digit")
    axes.set_ylabel("images")
    axes.set_title(title)
    axes.legend()
    figure.tight_layout()
    return figure


def sample_grid(
    images: np.ndarray,
    titles: Sequence[str],
    *,
    colors: Sequence[str] | None = None,
    columns: int = 10,
) -> matplotlib.figure.Figure:
    """Images (N, 28, 28) in a grid, each with a title (and title colour, e.g. green/red)."""
    plt = pyplot()
    if len(images) == 0:
        raise ValueError("sample_grid needs at least one image")
    if len(titles) != len(images) or (colors is not None and len(colors) != len(images)):
        raise ValueError(f"sample_grid needs one title (and colour) per image; got {len(images)} images, {len(titles)} titles")
    rows = -(-len(images) // columns)
    figure, axes_grid = plt.subplots(rows, columns, figsize=(columns * 1.0, rows * 1.15), dpi=DPI, squeeze=False)
    for index, axes in enumerate(axes_grid.flat):
        axes.axis("off")
        if index < len(images):
            axes.imshow(images[index], cmap="gray", vmin=0, vmax=255)
            axes.set_title(titles[index], fontsize=8, color=colors[index] if colors is not None else "black")
    figure.tight_layout()
    return figure


def save_png(figure: matplotlib.figure.Figure, path: str | os.PathLike[str]) -> None:
    """Write the figure as PNG atomically, then free it."""
    plt = pyplot()
    try:
        atomic.save_figure(figure, path)
    finally:
        plt.close(figure)
