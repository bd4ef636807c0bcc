"""Turn the training CSV's arrays into train and validation splits: subset, stratified split, imbalance.

The `preprocess` section of `params.yaml` (`PreprocessParams`) drives three steps, in this order:

1. `subset`: keep part of every digit (a fraction, or a count per class), for quick experiments.
   Applied to the whole training CSV, so train and validation both shrink.
2. `split`: a stratified train/validation split (`val_fraction`), so both keep the digit mix.
3. `class_fraction`: keep only part of some digits (e.g. `{5: 0.1, 8: 0.1}`), in the TRAIN split
   only. The imbalance is what the oversample stage exists for; validation keeps the natural
   mix, like the untouched test set, so validation scores (and early stopping) measure the
   model on the distribution it will meet, not on the one we degraded on purpose.

Every function is pure and deterministic for a seed. The test CSV is not touched here.
"""
from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Mapping

import numpy as np

from mnistflow.core import params

logger = logging.getLogger(__name__)

DIGITS = range(10)


def _subset_rule(value: float) -> str | None:
    if 0 < value <= 1 or (value > 1 and float(value).is_integer()):
        return None
    return "a fraction in (0, 1] or a whole number of images per digit above 1"


@dataclasses.dataclass(frozen=True)
class PreprocessParams:
    """The `preprocess` section of params.yaml."""

    # Share of the (subset) training CSV held out for validation, stratified by digit.
    val_fraction: float = dataclasses.field(
        default=0.1, metadata=params.check(params.between(0, 1, low_open=True, high_open=True))
    )
    # null: every image. A number <= 1 is the fraction of each digit kept (0.1 keeps 10%); a whole
    # number > 1 is the count kept per digit (500 keeps 500 of each). A scalar rather than a
    # mapping because `dvc exp run -S` merges mappings: switching {per_class: ..} to {fraction: ..}
    # would leave both keys set.
    subset: float | None = dataclasses.field(default=None, metadata=params.check(_subset_rule))
    # Digit -> fraction of that digit kept in the train split, in (0, 1]; digits not listed keep all.
    # null or {} keeps every digit whole.
    class_fraction: dict[int | str, float] | None = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        # Keys may come as strings: `dvc exp run -S +preprocess.class_fraction.5=0.1` writes '5'.
        normalised = {}
        for key, fraction in (self.class_fraction or {}).items():
            digit = int(key) if isinstance(key, str) and key.strip().isdigit() else key
            if not isinstance(digit, int) or digit not in DIGITS:
                raise ValueError(f"preprocess.class_fraction has digit {key!r}; allowed digits are 0-9")
            if not 0 < fraction <= 1:
                raise ValueError(f"preprocess.class_fraction.{digit} must be in (0, 1]; got {fraction!r}")
            normalised[digit] = fraction
        object.__setattr__(self, "class_fraction", dict(sorted(normalised.items())))


def subset_indices(labels: np.ndarray, *, subset: float | None, seed: int) -> np.ndarray:
    """Sorted indices of the rows kept by `subset` (see PreprocessParams), chosen at random per digit."""
    if subset is None or subset == 1:
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    kept = []
    for digit in np.unique(labels):
        rows = np.flatnonzero(labels == digit)
        if subset < 1:
            count = max(1, _round_half_up(len(rows) * subset))
        else:
            count = int(subset)
            if count > len(rows):
                raise ValueError(
                    f"preprocess.subset asks for {count} images per digit but digit {digit} has only "
                    f"{len(rows)}; use at most {_smallest_class(labels)} or a fraction such as 0.1"
                )
        kept.append(rng.choice(rows, size=count, replace=False))
    return np.sort(np.concatenate(kept)) if kept else np.arange(0)


def split_indices(labels: np.ndarray, *, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, validation) indices of a stratified split, each in random order.

    ceil(val_fraction * N) rows go to validation, shared among the digits in proportion to their
    counts (largest remainders get the leftover rows, ties broken at random), as scikit-learn's
    `train_test_split(stratify=...)` does. Not replaced by it: given the same seed it draws other
    rows (on the full training CSV, seed 42, the same per-digit counts but 627 of the 6,000
    validation images in common), so switching would change data/prepared and every hash after it.
    """
    digits, counts = np.unique(labels, return_counts=True)
    too_few = digits[counts < 2]
    if too_few.size:
        raise ValueError(
            f"a stratified split needs at least 2 images of each digit; digit {too_few[0]} has "
            f"{counts[digits == too_few[0]][0]} (use a larger preprocess.subset, or more data)"
        )
    val_size = math.ceil(val_fraction * len(labels))
    train_size = len(labels) - val_size
    if min(val_size, train_size) < len(digits):
        raise ValueError(
            f"preprocess.val_fraction={val_fraction} of {len(labels)} images gives {val_size} for validation "
            f"and {train_size} for training; a stratified split needs at least one per digit in each "
            f"({len(digits)} digits): use a val_fraction nearer 0.5, or more data"
        )
    rng = np.random.default_rng(seed)
    share = counts * val_size / len(labels)
    per_digit = np.floor(share).astype(np.int64)
    leftover = val_size - int(per_digit.sum())
    by_remainder = np.lexsort((rng.random(len(digits)), -(share - per_digit)))
    per_digit[by_remainder[:leftover]] += 1
    train, val = [], []
    for digit, count in zip(digits, per_digit):
        rows = rng.permutation(np.flatnonzero(labels == digit))
        val.append(rows[:count])
        train.append(rows[count:])
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(val))


def class_fraction_indices(labels: np.ndarray, *, class_fraction: Mapping[int, float], seed: int) -> np.ndarray:
    """Sorted indices kept when only `class_fraction[d]` of each listed digit d stays (rounded, at least 1)."""
    rng = np.random.default_rng(seed)
    keep = np.ones(len(labels), dtype=bool)
    for digit, fraction in sorted(class_fraction.items()):
        rows = np.flatnonzero(labels == digit)
        if rows.size == 0:
            continue
        count = max(1, _round_half_up(len(rows) * fraction))
        keep[rows] = False
        keep[rng.choice(rows, size=count, replace=False)] = True
    return np.flatnonzero(keep)


def counts_csv(labels: np.ndarray) -> str:
    """The class counts of a split as CSV text for `dvc plots`: a `digit,count` row per digit 0-9."""
    counts = np.bincount(labels, minlength=10)
    return "digit,count\n" + "".join(f"{digit},{count}\n" for digit, count in enumerate(counts))


def sample_indices(labels: np.ndarray, *, per_digit: int) -> np.ndarray:
    """Up to `per_digit` rows of each digit, first ones first, interleaved 0-9, 0-9, ...

    In a grid of 10 columns each column then holds one digit (while every digit has enough rows).
    """
    rows = [np.flatnonzero(labels == digit)[:per_digit] for digit in DIGITS]
    return np.array([r[i] for i in range(per_digit) for r in rows if i < len(r)], dtype=np.int64)


def prepare(
    images: np.ndarray, labels: np.ndarray, settings: PreprocessParams, *, seed: int
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The training CSV's arrays -> {"train": (images, labels), "val": (images, labels)}."""
    if len(labels) == 0:
        raise ValueError("no training images to split")
    rows = subset_indices(labels, subset=settings.subset, seed=seed)
    train, val = split_indices(labels[rows], val_fraction=settings.val_fraction, seed=seed)
    train, val = rows[train], rows[val]
    if settings.class_fraction:
        train = train[class_fraction_indices(labels[train], class_fraction=settings.class_fraction, seed=seed)]
    return {"train": (images[train], labels[train]), "val": (images[val], labels[val])}


def _round_half_up(value: float) -> int:
    return int(math.floor(value + 0.5))


def _smallest_class(labels: np.ndarray) -> int:
    counts = np.bincount(labels)
    return int(counts[counts > 0].min())
