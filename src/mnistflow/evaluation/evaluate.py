"""The evaluate stage's logic: metrics, report, plot data and figures from a model's probabilities.

    classifier = runtime.load("models/model.onnx")            # the stage script's part: mnistflow.serving
    probabilities = classifier.predict(images, batch_size=512)
    evaluate.check_predictions(probabilities, labels, model_path=..., data_path=...)
    result = evaluate.evaluate(test=(images, labels, probabilities), val=(...), params=params, card=..., ood=...)
    evaluate.write_outputs(result, metrics_path=..., val_metrics_path=..., report_path=..., plots_dir=...,
                           predictions_path=...)

The probabilities come from the exported ONNX model run by onnxruntime (the stage script calls
`serving.runtime`), so the figures are those of the model that ships; nothing here imports
TensorFlow. `evaluate` computes everything in memory; `write_outputs` then writes every file to a
temporary name and renames them only once all of them are complete, so a failure while computing
or writing leaves the previous outputs as they were and no half-written file. The predicted
digits of the clean test and validation splits go to a small `.npz` (`save_predictions`), which
the robustness stage reads (`load_predictions`) instead of predicting the clean splits again.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import pathlib
from typing import Any

import numpy as np

from mnistflow.core import arrays, atomic, calibration, figures, params
from mnistflow.evaluation import charts, curves, metrics

logger = logging.getLogger(__name__)

# Files under the plots directory (dvc.yaml's top-level `plots:` names them).
CONFUSION_CSV = "confusion.csv"
ROC_CSV = "roc.csv"
PRECISION_RECALL_CSV = "precision_recall.csv"
PREDICTIONS_PNG = "predictions.png"
MISTAKES_PNG = "mistakes.png"
CONFUSION_PNG = "confusion_matrix.png"
RELIABILITY_CSV = "reliability.csv"
RELIABILITY_PNG = "reliability.png"
CALIBRATION_BINS = 15  # equal-width confidence bins for the calibration error (Guo et al. 2017)
SUM_TOLERANCE = 1e-3  # softmax rows in float32 sum to 1 within ~1e-6; anything further is not softmax


@dataclasses.dataclass(frozen=True)
class EvaluateParams:
    batch_size: int = dataclasses.field(default=512, metadata=params.check(params.positive))
    curve_points: int = dataclasses.field(default=200, metadata=params.check(params.between(3, 10_000)))
    sample_images: int = dataclasses.field(default=50, metadata=params.check(params.between(1, 500)))
    mistake_images: int = dataclasses.field(default=30, metadata=params.check(params.between(1, 500)))


@dataclasses.dataclass(frozen=True)
class Evaluation:
    test_metrics: dict[str, Any]
    val_metrics: dict[str, Any]
    report_text: str
    plot_texts: dict[str, str]  # file name under the plots directory -> CSV text
    plot_figures: dict[str, Any]  # file name under the plots directory -> matplotlib Figure
    predictions: dict[str, np.ndarray]  # "test", "val" -> the predicted digit of each image, uint8 (N,)


def check_not_empty(labels: np.ndarray, *, data_path: str) -> None:
    if labels.size == 0:
        raise ValueError(f"{data_path}: has no images, so there is nothing to evaluate; check the preprocess params")


def check_predictions(probabilities: np.ndarray, labels: np.ndarray, *, model_path: str, data_path: str) -> None:
    """The model's output must be softmax rows, one per image of `data_path` (the runtime checks the shape: (N, 10))."""
    if len(probabilities) != len(labels):
        raise ValueError(f"{model_path}: answered {len(probabilities)} rows for the {len(labels)} images of {data_path}")
    sums = probabilities.sum(axis=1)
    if probabilities.min() < 0 or np.abs(sums - 1).max() > SUM_TOLERANCE:
        raise ValueError(
            f"{model_path}: outputs must be probabilities (softmax rows summing to 1); "
            f"row sums range from {sums.min():.4g} to {sums.max():.4g}; end the model with a softmax"
        )


def evaluate(
    *,
    test: tuple[np.ndarray, np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray, np.ndarray],
    params: EvaluateParams,
    card: dict[str, float] | None = None,
    ood: dict[str, np.ndarray] | None = None,
) -> Evaluation:
    """Metrics, report, plot data and figures from (images, labels, probabilities) of each split.

    `card` is the model's temperature and unsure threshold (the ONNX file's metadata; a key left out:
    temperature 1, no unsure figures); `ood` maps "test" and "val" to the model's probabilities on
    that split's not-a-digit images.
    """
    test_images, test_labels, test_probabilities = test
    _, val_labels, val_probabilities = val
    card = card or {}
    predicted = metrics.predicted_classes(test_probabilities)
    rows = curves.confusion_rows(test_labels, predicted)
    classes = test_probabilities.shape[1]
    counts = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(counts, (rows[:, 0], rows[:, 1]), 1)
    report = "\n".join([
        metrics.classification_report_text(test_labels, test_probabilities, title=f"Test set ({test_labels.size} images)"),
        metrics.classification_report_text(val_labels, val_probabilities, title=f"Validation set ({val_labels.size} images)"),
    ])
    bins = calibration.reliability(test_labels, test_probabilities, bins=CALIBRATION_BINS)
    plot_texts = {
        CONFUSION_CSV: curves.confusion_csv(rows),
        ROC_CSV: curves.to_csv(curves.roc_curves(test_labels, test_probabilities, points=params.curve_points)),
        PRECISION_RECALL_CSV: curves.to_csv(
            curves.precision_recall_curves(test_labels, test_probabilities, points=params.curve_points)
        ),
        RELIABILITY_CSV: reliability_csv(bins),
    }
    test_metrics = metrics.classification_metrics(test_labels, test_probabilities)
    val_metrics = metrics.classification_metrics(val_labels, val_probabilities)
    for split_metrics, labels, probabilities, split in ((test_metrics, test_labels, test_probabilities, "test"),
                                                       (val_metrics, val_labels, val_probabilities, "val")):
        split_metrics["calibration"] = calibration_metrics(labels, probabilities, temperature=card.get("temperature", 1.0))
        if ood is not None:
            split_metrics["ood"] = ood_metrics(probabilities, ood[split], threshold=card.get("unsure_threshold"))
    plot_figures = {
        PREDICTIONS_PNG: charts.predictions_grid(test_images, test_labels, predicted, count=params.sample_images),
        MISTAKES_PNG: charts.mistakes_grid(test_images, test_labels, test_probabilities, count=params.mistake_images),
        CONFUSION_PNG: charts.confusion_heatmap(
            counts, title=f"Test set: {test_metrics['errors']} errors in {test_labels.size} images"
        ),
        RELIABILITY_PNG: charts.reliability_diagram(
            bins, title=f"Test set: calibration error {test_metrics['calibration']['ece']:.4f}",
        ),
    }
    return Evaluation(
        test_metrics=test_metrics,
        val_metrics=val_metrics,
        report_text=report,
        plot_texts=plot_texts,
        plot_figures=plot_figures,
        predictions={"test": predicted.astype(np.uint8), "val": metrics.predicted_classes(val_probabilities).astype(np.uint8)},
    )


def calibration_metrics(labels: np.ndarray, probabilities: np.ndarray, *, temperature: float) -> dict[str, float]:
    """ECE and Brier score of the model as saved (temperature built in; its log loss is the split's
    `log_loss`), the temperature, and the ECE the same model had before it (softmax(log p * T))."""
    figures_now = calibration.calibration_figures(labels, probabilities, bins=CALIBRATION_BINS)
    before = calibration.scale(probabilities, 1 / temperature)
    return {
        **figures_now,
        "ece_before_scaling": round(calibration.expected_calibration_error(labels, before, bins=CALIBRATION_BINS), 6),
        "temperature": temperature,
    }


def ood_metrics(digit_probabilities: np.ndarray, ood_probabilities: np.ndarray, *, threshold: float | None) -> dict[str, float]:
    """How well the top probability tells digits (positives) from not-digits: AUROC, and at the
    model's unsure threshold the share of each set answered "unsure"."""
    from sklearn.metrics import roc_auc_score

    digit_score, ood_score = digit_probabilities.max(axis=1), ood_probabilities.max(axis=1)
    truth = np.concatenate([np.ones(len(digit_score)), np.zeros(len(ood_score))])
    result = {
        "auroc": round(float(roc_auc_score(truth, np.concatenate([digit_score, ood_score]))), 6),
        "ood_images": int(len(ood_score)),
    }
    if threshold is not None:
        result["unsure_threshold"] = threshold
        result["digits_unsure"] = round(float((digit_score < threshold).mean()), 6)
        result["ood_unsure"] = round(float((ood_score < threshold).mean()), 6)
    return result


def reliability_csv(rows: list[dict[str, float]]) -> str:
    """One row per confidence bin (images, mean confidence, accuracy) for the DVC reliability plot."""
    lines = ["bin,confidence,accuracy,images"]
    for row in rows:
        if row["images"]:
            lines.append(f"{(row['bin_low'] + row['bin_high']) / 2:.4f},{row['confidence']:.4f},{row['accuracy']:.4f},{row['images']}")
    return "\n".join(lines) + "\n"


def prepare_output_dirs(*paths: str | os.PathLike[str]) -> None:
    """Create each output's directory (a fresh clone has no metrics/ or plots/ yet); fail in one line."""
    for path in map(pathlib.Path, paths):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ValueError(
                f"{path}: cannot create its directory {path.parent} ({error.strerror}); "
                "fix the path in dvc.yaml (stage evaluate)"
            ) from None


def write_outputs(
    result: Evaluation,
    *,
    metrics_path: str | os.PathLike[str],
    val_metrics_path: str | os.PathLike[str],
    report_path: str | os.PathLike[str],
    plots_dir: str | os.PathLike[str],
    predictions_path: str | os.PathLike[str],
) -> None:
    """Write every output to a temporary name; rename them all only when all are complete."""
    try:
        with contextlib.ExitStack() as stack:
            texts = {
                metrics_path: json.dumps(result.test_metrics, indent=2, sort_keys=True) + "\n",
                val_metrics_path: json.dumps(result.val_metrics, indent=2, sort_keys=True) + "\n",
                report_path: result.report_text,
            }
            for path, text in texts.items():
                stack.enter_context(atomic.atomic_path(path)).write_text(text)
            save_predictions(stack.enter_context(atomic.atomic_path(predictions_path)), result.predictions)
            directory = stack.enter_context(atomic.atomic_dir(plots_dir))
            for name, text in result.plot_texts.items():
                (directory / name).write_text(text)
            for name, figure in result.plot_figures.items():
                figures.save_png(figure, directory / name)
    finally:
        charts.close(result.plot_figures.values())


def save_predictions(path: str | os.PathLike[str], predictions: dict[str, np.ndarray]) -> None:
    """The predicted digits per split ("test", "val"), uint8 (N,) each, as an uncompressed .npz at `path`."""
    with open(path, "wb") as stream:
        np.savez(stream, **predictions)


def load_predictions(path: str | os.PathLike[str], expected: dict[str, int]) -> dict[str, np.ndarray]:
    """The evaluate stage's predicted digits, split -> uint8 (N,), checked against `expected` (split -> N)."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file; run the evaluate stage (dvc repro evaluate)")
    try:
        with np.load(path, allow_pickle=False) as data:
            predictions = {name: data[name] for name in data.files}
    except (ValueError, OSError, EOFError) as error:
        raise ValueError(f"{path}: not a readable .npz file ({error}); run the evaluate stage (dvc repro evaluate)") from None
    for split, count in expected.items():
        found = predictions.get(split)
        if found is None or found.shape != (count,) or found.dtype != np.uint8:
            shape = "none" if found is None else f"{found.dtype} {found.shape}"
            raise ValueError(
                f"{path}: expected '{split}' predictions, uint8 ({count},); got {shape}; run the evaluate stage (dvc repro evaluate)"
            )
    return predictions


def log_split(name: str, labels: np.ndarray) -> None:
    logger.info("%s: %d images, per digit %s", name, labels.size, arrays.class_counts(labels).tolist())

