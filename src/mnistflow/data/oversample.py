"""Balance the training split's classes with imbalanced-learn, on flattened uint8 images.

    images, labels = oversample(images, labels, method="smote", sampling_strategy="auto",
                                k_neighbors=5, seed=42)

Only the training split goes through here: resampling before the split, or resampling validation
or test, would put copies (or blends) of training images into what we evaluate on. Methods that
interpolate (SMOTE, borderline SMOTE, ADASYN) work on float32 pixels; their synthetic images are
rounded and clipped back to uint8 0-255. New images are appended after the original ones.
"""
from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np

from mnistflow.core import arrays, params

log = logging.getLogger(__name__)

Method = Literal["none", "random", "smote", "borderline_smote", "adasyn"]
METHODS = ("none", "random", "smote", "borderline_smote", "adasyn")
NEIGHBOUR_METHODS = ("smote", "borderline_smote", "adasyn")
# imbalanced-learn's named over-sampling strategies ("auto" = "not majority": every class but the
# largest is raised to the largest class's count).
STRATEGIES = ("auto", "not majority", "minority", "not minority", "all")


def _strategy_rule(value: Any) -> str | None:
    if isinstance(value, str):
        return None if value in STRATEGIES else "one of " + ", ".join(repr(s) for s in STRATEGIES) + " or a mapping digit -> count"
    bad = [k for k in value if not 0 <= k <= 9] + [k for k, v in value.items() if v < 1]
    return None if not bad else "a mapping from digits 0-9 to positive image counts"


@dataclasses.dataclass(frozen=True)
class OversampleParams:
    """The `oversample` section of params.yaml."""

    method: Method = "random"
    # A named strategy, or {digit: images wanted} (at least the digit's current count).
    sampling_strategy: str | dict[int, int] = dataclasses.field(default="auto", metadata=params.check(_strategy_rule))
    # Neighbours each synthetic image is interpolated from (smote, borderline_smote, adasyn only).
    k_neighbors: int = dataclasses.field(default=5, metadata=params.check(params.positive))


def oversample(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    method: str,
    sampling_strategy: str | Mapping[int, int],
    k_neighbors: int,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Return the training images and labels with minority digits over-sampled (uint8, same layout)."""
    arrays.check_split(images, labels, source="oversample input")
    if method not in METHODS:
        raise ValueError(f"oversample.method must be one of {', '.join(METHODS)}; got {method!r}")
    if method == "none":
        return images, labels
    counts = arrays.class_counts(labels)
    strategy = _check_strategy(sampling_strategy, counts)
    sampler = _sampler(method, strategy, k_neighbors, seed)
    if method in NEIGHBOUR_METHODS:
        _check_neighbours(strategy, counts, k_neighbors)
        flat = images.reshape(len(images), -1).astype(np.float32)
    else:
        flat = images.reshape(len(images), -1)
    try:
        new_flat, new_labels = sampler.fit_resample(flat, labels)
    except (RuntimeError, ValueError) as error:
        if method != "adasyn":
            raise
        # ADASYN weighs each image by how many of its neighbours are other digits; when a digit's
        # images have none (well-separated classes), it has nothing to weigh and gives up.
        raise ValueError(
            f"oversample.method 'adasyn' cannot balance these images: {error} Use 'smote' or 'random'"
        ) from None
    new_images = np.clip(np.rint(new_flat), 0, 255).astype(np.uint8) if flat.dtype != np.uint8 else new_flat
    new_images = new_images.reshape(-1, arrays.SIDE, arrays.SIDE)
    log.info("%s: %d -> %d images; counts %s -> %s", method, len(labels), len(new_labels),
             counts.tolist(), arrays.class_counts(new_labels).tolist())
    return new_images, np.asarray(new_labels, dtype=np.uint8)


def _check_strategy(strategy: str | Mapping[int, int], counts: np.ndarray) -> str | dict[int, int]:
    if isinstance(strategy, str):
        if strategy not in STRATEGIES:
            raise ValueError(f"oversample.sampling_strategy must be one of {', '.join(STRATEGIES)} or a mapping; got {strategy!r}")
        return strategy
    checked = {}
    for digit, wanted in strategy.items():
        if not 0 <= digit <= 9 or counts[digit] == 0:
            raise ValueError(f"oversample.sampling_strategy.{digit}: digit {digit} has no training images to resample")
        if wanted < counts[digit]:
            raise ValueError(
                f"oversample.sampling_strategy.{digit} must be at least the digit's current count "
                f"{counts[digit]} (over-sampling only adds images); got {wanted}"
            )
        checked[int(digit)] = int(wanted)
    return checked


def _targets(strategy: str | dict[int, int], counts: np.ndarray) -> list[int]:
    """Digits that will get new images (mirrors imbalanced-learn's named strategies)."""
    present = [d for d in range(10) if counts[d] > 0]
    if isinstance(strategy, dict):
        return [d for d, wanted in strategy.items() if wanted > counts[d]]
    largest = max(counts[d] for d in present)
    smallest = min(counts[d] for d in present)
    chosen = {
        "auto": [d for d in present if counts[d] < largest],
        "not majority": [d for d in present if counts[d] < largest],
        "minority": [d for d in present if counts[d] == smallest][:1],
        "not minority": [d for d in present if counts[d] < largest and counts[d] > smallest],
        "all": [d for d in present if counts[d] < largest],
    }
    return chosen[strategy]


def _check_neighbours(strategy: str | dict[int, int], counts: np.ndarray, k_neighbors: int) -> None:
    targets = _targets(strategy, counts)
    if not targets:
        return
    smallest = min(targets, key=lambda d: counts[d])
    if k_neighbors >= counts[smallest]:
        raise ValueError(
            f"oversample.k_neighbors must be smaller than the smallest class to over-sample "
            f"(digit {smallest} has {counts[smallest]} images); got {k_neighbors}"
        )


def _sampler(method: str, strategy: str | dict[int, int], k_neighbors: int, seed: int) -> Any:
    # Imported here: imbalanced-learn pulls in scikit-learn, which stages that never resample skip.
    from imblearn import over_sampling

    if method == "random":
        return over_sampling.RandomOverSampler(sampling_strategy=strategy, random_state=seed)
    if method == "smote":
        return over_sampling.SMOTE(sampling_strategy=strategy, k_neighbors=k_neighbors, random_state=seed)
    if method == "borderline_smote":
        return over_sampling.BorderlineSMOTE(sampling_strategy=strategy, k_neighbors=k_neighbors, random_state=seed)
    return over_sampling.ADASYN(sampling_strategy=strategy, n_neighbors=k_neighbors, random_state=seed)
