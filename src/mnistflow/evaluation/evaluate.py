"""The evaluate stage's logic: predict the test and validation sets, then build every output.

    model = evaluate.load_model("models/model.keras")
    probabilities = evaluate.predict(model, images, batch_size=512)
    evaluate.check_predictions(probabilities, labels, model_path=..., data_path=...)
    result = evaluate.evaluate(test=(images, labels, probabilities), val=(...), params=params)
    evaluate.write_outputs(result, metrics_path=..., val_metrics_path=..., report_path=..., plots_dir=...)

`evaluate` computes everything in memory; `write_outputs` then writes every file to a temporary
name and renames them only once all of them are complete, so a failure while computing or writing
leaves the previous outputs as they were and no half-written file. Keras is imported only by the
functions that need it (importing TensorFlow takes seconds).
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import pathlib
import zipfile
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


def load_model(path: str | os.PathLike[str]) -> Any:
    """Load a `.keras` model; a missing file, or one that is not a Keras model, is a one-line error."""
    import keras

    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such model file; run the train stage (dvc repro train)")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path}: not a Keras model (a .keras file is a zip archive; this one is not)")
    with zipfile.ZipFile(path) as archive:
        if "config.json" not in archive.namelist():
            raise ValueError(f"{path}: not a Keras model (the zip archive has no config.json)")
    try:
        model = keras.models.load_model(path, compile=False)
    except (ValueError, KeyError, OSError, TypeError) as error:
        raise ValueError(f"{path}: not a loadable Keras model ({type(error).__name__}: {error})") from None
    if not isinstance(model, keras.Model):
        raise ValueError(f"{path}: expected a Keras Model; got {type(model).__name__}")
    if model.input_shape != (None, arrays.SIDE, arrays.SIDE, 1):
        raise ValueError(
            f"{path}: the model must take images of shape (N, 28, 28, 1); its input shape is {model.input_shape}; "
            "retrain it (dvc repro train)"
        )
    return model


def predict(model: Any, images: np.ndarray, *, batch_size: int) -> np.ndarray:
    """Probabilities (N, K) as float64, predicted in batches of `batch_size` images."""
    probabilities = model.predict(arrays.to_model_input(images), batch_size=batch_size, verbose=0)
    return np.asarray(probabilities, dtype=np.float64)


def check_not_empty(labels: np.ndarray, *, data_path: str) -> None:
    if labels.size == 0:
        raise ValueError(f"{data_path}: has no images, so there is nothing to evaluate; check the preprocess params")


def check_predictions(probabilities: np.ndarray, labels: np.ndarray, *, model_path: str, data_path: str) -> None:
    """The model's output must be softmax rows over classes that include every label."""
    if probabilities.ndim != 2:
        raise ValueError(f"{model_path}: the model must output (N, classes) probabilities; got shape {probabilities.shape}")
    classes = probabilities.shape[1]
    if labels.size and int(labels.max()) >= classes:
        raise ValueError(
            f"{data_path}: has label {int(labels.max())}, which {model_path} cannot output "
            f"(it has {classes} outputs, classes 0-{classes - 1}); retrain the model with 10 outputs (dvc repro train)"
        )
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

    `card` is the model's temperature and unsure threshold (models/model.json); `ood` maps "test"
    and "val" to the model's probabilities on that split's not-a-digit images.
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


def load_card(path: str | os.PathLike[str]) -> dict[str, float]:
    """The model's card (models/model.json): its temperature and unsure threshold."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such model card; run the train stage (dvc repro train)")
    try:
        card = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error.msg} at line {error.lineno})") from None
    for key in ("temperature", "unsure_threshold"):
        if not isinstance(card.get(key), (int, float)) or isinstance(card.get(key), bool):
            raise ValueError(f"{path}: '{key}' must be a number; got {card.get(key)!r}; re-run the train stage")
    return card


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
            directory = stack.enter_context(atomic.atomic_dir(plots_dir))
            for name, text in result.plot_texts.items():
                (directory / name).write_text(text)
            for name, figure in result.plot_figures.items():
                figures.save_png(figure, directory / name)
    finally:
        charts.close(result.plot_figures.values())


def log_split(name: str, labels: np.ndarray) -> None:
    logger.info("%s: %d images, per digit %s", name, labels.size, arrays.class_counts(labels).tolist())

