import numpy as np
from PIL import Image

from mnistflow.core import figures
from mnistflow.evaluation import charts

PROBABILITIES = np.array([
    [0.9, 0.1, 0.0],  # right
    [0.2, 0.8, 0.0],  # a 0 taken for a 1 with 0.8
    [0.6, 0.4, 0.0],  # a 2 taken for a 0 with 0.6
    [0.1, 0.0, 0.9],  # a 1 taken for a 2 with 0.9
    [0.0, 0.8, 0.2],  # a 2 taken for a 1 with 0.8 (ties with index 1: lower index first)
])
LABELS = np.array([0, 0, 2, 1, 2])


def test_most_confident_mistakes_orders_wrong_predictions_by_confidence_then_index():
    assert charts.most_confident_mistakes(LABELS, PROBABILITIES, count=10).tolist() == [3, 1, 4, 2]
    assert charts.most_confident_mistakes(LABELS, PROBABILITIES, count=2).tolist() == [3, 1]


def test_predictions_grid_titles_true_and_predicted_in_green_when_right_and_red_when_wrong():
    grid = charts.predictions_grid(np.zeros((5, 28, 28), np.uint8), LABELS, PROBABILITIES.argmax(axis=1), count=3)
    titles = [(axes.get_title(), axes.title.get_color()) for axes in grid.axes if axes.get_title()]
    assert titles == [("0 \u2192 0", "green"), ("0 \u2192 1", "red"), ("2 \u2192 0", "red")]
    charts.close([grid])


def test_mistakes_grid_shows_the_confidence_in_red(tmp_path):
    grid = charts.mistakes_grid(np.zeros((5, 28, 28), np.uint8), LABELS, PROBABILITIES, count=2)
    titles = [(axes.get_title(), axes.title.get_color()) for axes in grid.axes if axes.get_title()]
    assert titles == [("1 \u2192 2 (90%)", "red"), ("0 \u2192 1 (80%)", "red")]
    figures.save_png(grid, tmp_path / "mistakes.png")
    with Image.open(tmp_path / "mistakes.png") as image:
        assert image.size == (1000, 115)


def test_mistakes_grid_says_so_when_there_is_no_mistake(tmp_path):
    figure = charts.mistakes_grid(np.zeros((2, 28, 28), np.uint8), np.array([0, 1]), np.eye(2), count=5)
    assert [text.get_text() for text in figure.axes[0].texts] == ["no mistakes on 2 images"]
    figures.save_png(figure, tmp_path / "none.png")
    with Image.open(tmp_path / "none.png") as image:
        assert image.size == (400, 100)


def test_confusion_heatmap_annotates_every_nonzero_count(tmp_path):
    counts = np.array([[5, 0], [2, 3]])
    heatmap = charts.confusion_heatmap(counts, title="2 errors")
    assert sorted(text.get_text() for text in heatmap.axes[0].texts) == ["2", "3", "5"]
    figures.save_png(heatmap, tmp_path / "confusion.png")
    with Image.open(tmp_path / "confusion.png") as image:
        assert image.format == "PNG" and image.size == (600, 550)
