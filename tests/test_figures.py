import numpy as np
import pytest
from PIL import Image

from mnistflow.core import figures


def test_class_counts_chart_saves_a_png_of_the_expected_size(tmp_path):
    chart = figures.class_counts_chart({"train": range(10), "val": [1] * 10}, title="counts")
    figures.save_png(chart, tmp_path / "counts.png")
    with Image.open(tmp_path / "counts.png") as image:
        assert image.format == "PNG" and image.size == (800, 400)


def test_class_counts_chart_rejects_counts_that_are_not_one_per_digit():
    with pytest.raises(ValueError, match=r"counts\['train'\] must have 10 values, one per digit; got shape \(9,\)"):
        figures.class_counts_chart({"train": range(9)}, title="counts")


def test_sample_grid_lays_out_rows_of_ten(tmp_path):
    grid = figures.sample_grid(np.zeros((12, 28, 28), np.uint8), [str(i) for i in range(12)], colors=["green"] * 12)
    figures.save_png(grid, tmp_path / "grid.png")
    with Image.open(tmp_path / "grid.png") as image:
        assert image.size == (1000, 230)


def test_sample_grid_needs_one_title_per_image():
    with pytest.raises(ValueError, match=r"one title \(and colour\) per image; got 2 images, 1 titles"):
        figures.sample_grid(np.zeros((2, 28, 28), np.uint8), ["a"])
