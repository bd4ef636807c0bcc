"""The corrupt and ood stages' params, and the seeds that keep their val and test copies apart.

    suite = corrupted_suite(images, names=("fog", "zigzag"), seed=42)   # {name: uint8 (N, 28, 28)}

The suite and the not-digits are deterministic for a seed, and each split gets its own stream (`split_seed`), so the
validation copy (for choosing a recipe) and the test copy (for reporting) never share draws.
"""
from __future__ import annotations

import dataclasses
import logging

import numpy as np

from mnistflow.core import not_digits, params
from mnistflow.data import corruptions

log = logging.getLogger(__name__)

SPLIT_STREAMS = {"val": 1, "test": 2}


def _names_rule(allowed: tuple[str, ...]):
    def rule(value) -> str | None:
        if not value:
            return "a non-empty list (the suite needs at least one entry)"
        unknown = [name for name in value if name not in allowed]
        if unknown:
            return f"a list of names from: {', '.join(allowed)} ({unknown[0]!r} is not one)"
        if len(set(value)) != len(value):
            return "a list without repeats"
        return None
    return rule


@dataclasses.dataclass(frozen=True)
class CorruptParams:
    """The `corrupt` section: which MNIST-C corruptions the suite holds (docs/robustness.md)."""

    corruptions: tuple[str, ...] = dataclasses.field(default=corruptions.NAMES, metadata=params.check(_names_rule(corruptions.NAMES)))


@dataclasses.dataclass(frozen=True)
class OodParams:
    """The `ood` section: the not-a-digit set, `per_kind` images of each kind."""

    per_kind: int = dataclasses.field(default=400, metadata=params.check(params.between(1, 100_000)))
    kinds: tuple[str, ...] = dataclasses.field(default=not_digits.KINDS, metadata=params.check(_names_rule(not_digits.KINDS)))


def split_seed(seed: int, split: str) -> int:
    """One seed per (params seed, split): the val and test copies draw independently."""
    if split not in SPLIT_STREAMS:
        raise ValueError(f"split must be one of {', '.join(SPLIT_STREAMS)}; got {split!r}")
    return int(np.random.SeedSequence([seed, SPLIT_STREAMS[split]]).generate_state(1)[0])


def corrupted_suite(images: np.ndarray, *, names: tuple[str, ...], seed: int) -> dict[str, np.ndarray]:
    """Each corruption of `names` applied to every image, with its own seed derived from `seed`."""
    suite = {}
    for index, name in enumerate(names):
        suite[name] = corruptions.corrupt(images, name, seed=int(np.random.SeedSequence([seed, index]).generate_state(1)[0]))
        log.info("corrupted %d images: %s", len(images), name)
    return suite

