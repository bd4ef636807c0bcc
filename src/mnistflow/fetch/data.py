"""What every source hands back, and the checks it must pass before anything is written.

`validate` checks dtypes, shapes and value ranges, and, when the full data set is expected, that
the arrays are byte-identical to the canonical MNIST (`mnistflow.fetch.canonical`), so every source
yields the same CSVs.
"""
from __future__ import annotations

import logging
from typing import NamedTuple

import numpy as np

from mnistflow.fetch import canonical

logger = logging.getLogger(__name__)


class MnistData(NamedTuple):
    train_images: np.ndarray  # uint8 (N, 28, 28)
    train_labels: np.ndarray  # uint8 (N,)
    test_images: np.ndarray
    test_labels: np.ndarray


def is_full_size(data: MnistData) -> bool:
    return len(data.train_labels) == canonical.TRAIN_ROWS and len(data.test_labels) == canonical.TEST_ROWS


def validate(data: MnistData, *, source: str, expect_canonical: bool) -> None:
    """Raise ValueError unless `data` is well-formed (and canonical, when `expect_canonical`).

    `source` names where the arrays came from (a file, a URL, a wheel) for the messages.
    """
    for split in ("train", "test"):
        images = getattr(data, f"{split}_images")
        labels = getattr(data, f"{split}_labels")
        if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
            raise ValueError(f"{source}: {split} images must be uint8 of shape (N, 28, 28); got {images.dtype} {images.shape}")
        if labels.dtype != np.uint8 or labels.shape != (len(images),):
            raise ValueError(f"{source}: {split} labels must be uint8 of shape ({len(images)},); got {labels.dtype} {labels.shape}")
        if len(labels) == 0:
            raise ValueError(f"{source}: the {split} split is empty; expected at least one image")
        if labels.max() > 9:
            row = int(np.argmax(labels > 9))
            raise ValueError(f"{source}: {split} label at index {row} is {int(labels[row])}; expected a digit 0-9")
    if not expect_canonical:
        return
    if not is_full_size(data):
        raise ValueError(
            f"{source}: got {len(data.train_labels)} train + {len(data.test_labels)} test images; expected the full "
            f"{canonical.TRAIN_ROWS} + {canonical.TEST_ROWS} (set fetch.canonical: skip to accept a subset)"
        )
    canonical.verify(
        {
            "train images": data.train_images,
            "train labels": data.train_labels,
            "test images": data.test_images,
            "test labels": data.test_labels,
        },
        source=source,
    )
    logger.info("%s: arrays match the canonical MNIST SHA-256 values", source)


def class_counts(labels: np.ndarray) -> list[int]:
    return np.bincount(labels, minlength=10).tolist()
