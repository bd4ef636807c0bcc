"""The robustness stage's logic: accuracy on every corrupted copy of a split, and the summary.

    result = robustness.summarise(clean_accuracy=0.997, accuracy={"fog": 0.95, "zigzag": 0.91})
    csv = robustness.accuracy_csv(result)                 # the DVC bar chart's data
    figure = robustness.examples_figure(suite, labels, predicted, index=0)

The corruption suite is held out from training (docs/robustness.md): these figures measure how
the model meets shifts it never saw.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from mnistflow.core import params


@dataclasses.dataclass(frozen=True)
class RobustnessParams:
    """The `robustness` section of params.yaml."""

    batch_size: int = dataclasses.field(default=1000, metadata=params.check(params.positive))  # memory only
    example_index: int = dataclasses.field(default=0, metadata=params.check(params.non_negative))  # test image shown per corruption


def accuracy(labels: np.ndarray, predicted: np.ndarray) -> float:
    if labels.shape != predicted.shape or not labels.size:
        raise ValueError(f"labels and predictions must be equal, non-empty (N,) arrays; got {labels.shape} and {predicted.shape}")
    return float((labels == predicted).mean())


def summarise(*, clean_accuracy: float, accuracy: dict[str, float]) -> dict:
    """clean, mean over corruptions, the worst one and its accuracy, and every corruption's."""
    if not accuracy:
        raise ValueError("robustness needs at least one corruption's accuracy; got none")
    worst = min(accuracy, key=lambda name: (accuracy[name], name))
    return {
        "clean_accuracy": round(clean_accuracy, 6),
        "mean_corrupted_accuracy": round(float(np.mean(list(accuracy.values()))), 6),
        "worst_corruption": worst,
        "worst_accuracy": round(accuracy[worst], 6),
        "accuracy": {name: round(value, 6) for name, value in accuracy.items()},
    }


def accuracy_csv(result: dict) -> str:
    """`corruption,accuracy` rows, clean first, then the suite's order (DVC bar chart data)."""
    rows = ["corruption,accuracy", f"clean,{result['clean_accuracy']:.4f}"]
    rows += [f"{name},{value:.4f}" for name, value in result["accuracy"].items()]
    return "\n".join(rows) + "\n"


def examples_figure(clean: np.ndarray, suite: dict[str, np.ndarray], labels: np.ndarray, predicted: dict[str, np.ndarray], *, index: int):
    """One image per corruption (the same test image), titled "name: prediction", green/red."""
    from mnistflow.core import figures

    if not 0 <= index < len(labels):
        raise ValueError(f"robustness.example_index must be in [0, {len(labels) - 1}]; got {index}")
    names = ["clean", *suite]
    images = np.stack([clean[index]] + [suite[name][index] for name in suite])
    guesses = [int(predicted[name][index]) for name in names]
    titles = [f"{name.replace('_', ' ')}: {guess}" for name, guess in zip(names, guesses)]
    colors = ["green" if guess == labels[index] else "red" for guess in guesses]
    return figures.sample_grid(images, titles, colors=colors, columns=8)
