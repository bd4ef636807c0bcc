"""Classification metrics from true labels and predicted probabilities: pure, deterministic.

    summary = metrics.classification_metrics(labels, probabilities)   # a JSON-ready dict
    text = metrics.classification_report_text(labels, probabilities)

`probabilities` is (N, K), one row per image (the model's softmax); the classes are 0..K-1 and the
prediction is the most probable one (the lowest class on a tie, as `argmax` does). Floats are
rounded to `DECIMALS` places so that the same model and data give byte-identical metrics files, and
`dvc metrics diff` does not report float noise as a change.

Undefined values, decided once here:
- precision of a class never predicted is 0 (sklearn's `zero_division=0`; no warning is emitted);
  recall and F1 of a class absent from the labels are 0 as well.
- ROC AUC of a class needs both positives and negatives among the labels: for a class absent from
  the labels (or the only class present) it is `None` (`null` in JSON), and `roc_auc_macro` is the
  mean over the classes where it is defined (`None` when it is defined for none).
"""
from __future__ import annotations

import warnings

import numpy as np
from sklearn import metrics as sk_metrics

from mnistflow.core import calibration

DECIMALS = 6


def predicted_classes(probabilities: np.ndarray) -> np.ndarray:
    return np.argmax(probabilities, axis=1)


def check_inputs(labels: np.ndarray, probabilities: np.ndarray) -> None:
    """Raise ValueError unless labels are (N,) integers in 0..K-1 and probabilities (N, K), N >= 1."""
    labels = np.asarray(labels)
    probabilities = np.asarray(probabilities)
    if probabilities.ndim != 2 or probabilities.shape[0] == 0:
        raise ValueError(f"probabilities must be a non-empty (N, K) array; got shape {probabilities.shape}")
    if labels.shape != (probabilities.shape[0],):
        raise ValueError(f"labels must have shape ({probabilities.shape[0]},), one per row of probabilities; got {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integers; got dtype {labels.dtype}")
    classes = probabilities.shape[1]
    if labels.min() < 0 or labels.max() >= classes:
        bad = int(labels.max()) if labels.max() >= classes else int(labels.min())
        raise ValueError(f"labels must be classes 0-{classes - 1} (one per probability column); found {bad}")


def classification_metrics(labels: np.ndarray, probabilities: np.ndarray) -> dict:
    """Headline figures plus per-digit (per-class) precision, recall, F1, ROC AUC and support."""
    check_inputs(labels, probabilities)
    labels = np.asarray(labels, dtype=np.int64)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    classes = list(range(probabilities.shape[1]))
    predicted = predicted_classes(probabilities)
    precision, recall, f1, support = sk_metrics.precision_recall_fscore_support(
        labels, predicted, labels=classes, zero_division=0
    )
    aucs = [one_vs_rest_auc(labels == k, probabilities[:, k]) for k in classes]
    defined = [auc for auc in aucs if auc is not None]
    errors = int(np.count_nonzero(predicted != labels))
    summary = {
        "samples": int(labels.size),
        "errors": errors,
        "accuracy": 1.0 - errors / labels.size,
        "f1_macro": float(np.mean(f1)),
        "f1_weighted": float(np.average(f1, weights=support)) if support.sum() else 0.0,
        "log_loss": calibration.log_loss(labels, probabilities),
        "roc_auc_macro": float(np.mean(defined)) if defined else None,
        "per_digit": {
            str(k): {
                "precision": float(precision[k]),
                "recall": float(recall[k]),
                "f1": float(f1[k]),
                "roc_auc": aucs[k],
                "support": int(support[k]),
            }
            for k in classes
        },
    }
    return _rounded(summary)


def one_vs_rest_auc(is_positive: np.ndarray, scores: np.ndarray) -> float | None:
    """Area under the ROC curve of `scores` for `is_positive`; None unless both kinds are present."""
    positives = int(np.count_nonzero(is_positive))
    if positives == 0 or positives == is_positive.size:
        return None
    return float(sk_metrics.roc_auc_score(is_positive, scores))


def classification_report_text(labels: np.ndarray, probabilities: np.ndarray, *, title: str = "") -> str:
    """sklearn's readable per-class table (4 decimals), with an optional title line above it."""
    check_inputs(labels, probabilities)
    classes = list(range(np.asarray(probabilities).shape[1]))
    with warnings.catch_warnings():
        # zero_division=0 already covers never-predicted classes; nothing else should warn here.
        warnings.simplefilter("error")
        report = sk_metrics.classification_report(
            np.asarray(labels, dtype=np.int64), predicted_classes(np.asarray(probabilities)),
            labels=classes, target_names=[str(k) for k in classes], digits=4, zero_division=0,
        )
    return (f"{title}\n\n" if title else "") + report


def _rounded(value):
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    if isinstance(value, float):
        return round(value, DECIMALS)
    return value
