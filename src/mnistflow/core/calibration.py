"""How far to trust a probability: temperature scaling, calibration error and the "unsure" threshold.

    temperature = fit_temperature(val_probabilities, val_labels)   # Guo et al. 2017, on validation only
    calibrated = scale(probabilities, temperature)                 # softmax(log p / T)
    figures = calibration_figures(labels, calibrated, bins=15)     # {"ece", "brier"}

Shared by training (which fits the temperature and the threshold on the validation split and
builds them into the saved model) and evaluation (which reports the figures on every split).
Temperature scaling needs only log-probabilities: log p = z - logsumexp(z), so softmax(log p / T)
equals softmax(z / T) for the logits z. Pure numpy on arrays.
"""
from __future__ import annotations

import numpy as np
import scipy.optimize

# Temperatures searched (log-uniform); a model this far off is broken, not miscalibrated.
TEMPERATURE_RANGE = (0.05, 20.0)
# The probability floor under every log here (a confident mistake costs at most -log(TINY) = 27.6
# in the log loss): a float32 softmax never gets this low for a class it ranks.
TINY = 1e-12


def _check(labels: np.ndarray, probabilities: np.ndarray) -> None:
    if probabilities.ndim != 2 or labels.shape != (probabilities.shape[0],):
        raise ValueError(
            f"probabilities must be (N, classes) and labels (N,); got {probabilities.shape} and {labels.shape}"
        )
    if not len(labels):
        raise ValueError("calibration needs at least one labelled example; got 0")


def scale(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(log(probabilities) / temperature), row by row, in float64."""
    if not temperature > 0:
        raise ValueError(f"temperature must be positive; got {temperature!r}")
    logits = np.log(np.clip(np.asarray(probabilities, np.float64), TINY, 1.0)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    return exp / exp.sum(axis=1, keepdims=True)


def log_loss(labels: np.ndarray, probabilities: np.ndarray) -> float:
    """Mean negative log probability of the true class, after renormalising each row to sum to 1.

    The one log loss: the evaluate stage's `log_loss` figures and the temperature fit. Computed here
    rather than with sklearn's `log_loss`, which warns when float32 softmax rows sum to 1 only within
    rounding.
    """
    _check(labels, probabilities)
    rows = np.asarray(probabilities, np.float64)
    rows = rows / rows.sum(axis=1, keepdims=True)
    return float(-np.mean(np.log(np.clip(rows[np.arange(len(labels)), labels], TINY, 1.0))))


def fit_temperature(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """The temperature that minimises the log loss of `scale(probabilities, T)` on these labels."""
    _check(labels, probabilities)
    low, high = np.log(TEMPERATURE_RANGE)
    result = scipy.optimize.minimize_scalar(
        lambda log_t: log_loss(labels, scale(probabilities, float(np.exp(log_t)))),
        bounds=(low, high), method="bounded", options={"xatol": 1e-5},
    )
    return float(np.exp(result.x))


def reliability(labels: np.ndarray, probabilities: np.ndarray, *, bins: int = 15) -> list[dict[str, float]]:
    """Per equal-width confidence bin: its range, images, mean confidence and accuracy (empty bins too)."""
    _check(labels, probabilities)
    if bins < 1:
        raise ValueError(f"bins must be a positive integer; got {bins!r}")
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    # Bin i holds confidences in (i/bins, (i+1)/bins]; a confidence of exactly 0 goes to bin 0.
    index = np.clip(np.ceil(confidence * bins).astype(int) - 1, 0, bins - 1)
    rows = []
    for i in range(bins):
        members = index == i
        count = int(members.sum())
        rows.append({
            "bin_low": i / bins, "bin_high": (i + 1) / bins, "images": count,
            "confidence": float(confidence[members].mean()) if count else 0.0,
            "accuracy": float(correct[members].mean()) if count else 0.0,
        })
    return rows


def expected_calibration_error(labels: np.ndarray, probabilities: np.ndarray, *, bins: int = 15) -> float:
    """sum over bins of (bin share) * |accuracy - mean confidence| (Naeini et al. 2015; Guo et al. 2017)."""
    rows = reliability(labels, probabilities, bins=bins)
    return float(sum(row["images"] * abs(row["accuracy"] - row["confidence"]) for row in rows) / len(labels))


def brier_score(labels: np.ndarray, probabilities: np.ndarray) -> float:
    """Mean over images of the squared distance between the probabilities and the one-hot label."""
    _check(labels, probabilities)
    target = np.zeros_like(probabilities, dtype=np.float64)
    target[np.arange(len(labels)), labels] = 1.0
    return float(((np.asarray(probabilities, np.float64) - target) ** 2).sum(axis=1).mean())


def calibration_figures(labels: np.ndarray, probabilities: np.ndarray, *, bins: int = 15) -> dict[str, float]:
    return {
        "ece": round(expected_calibration_error(labels, probabilities, bins=bins), 6),
        "brier": round(brier_score(labels, probabilities), 6),
    }


def unsure_threshold(probabilities: np.ndarray, *, rate: float) -> float:
    """The top-probability below which a share `rate` of these (validation) images would be "unsure"."""
    if not 0 <= rate < 1:
        raise ValueError(f"unsure rate must be in [0, 1); got {rate!r}")
    if not len(probabilities):
        raise ValueError("the unsure threshold needs at least one image; got 0")
    if rate == 0:
        return 0.0
    return float(np.quantile(probabilities.max(axis=1), rate))
