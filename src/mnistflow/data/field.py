"""The field set: digits people drew or uploaded and labelled (`serve --collect`), as train and eval splits.

    images, labels, names = field.read_folder("data/field")            # every *.json record, by name
    (train_images, train_labels), (eval_images, eval_labels) = field.split(images, labels, eval_share=0.5)
    images, labels = field.mix(train_images, train_labels, field_images, field_labels, share=0.5)

The split is decided by each image's own bytes (SHA-256, core/field_record.py), not by a shuffle: a
digit stays in train or in eval whatever else arrives or leaves, so the eval part is never trained
on, now or after the next collection. `mix` picks its share of the train part by a second, unrelated
slice of the same hash, so raising the share only adds digits. An empty folder gives empty splits.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import pathlib

import numpy as np

from mnistflow.core import arrays, field_record, params

logger = logging.getLogger(__name__)
HASH_SPAN = 16 ** 16  # the 16 hex digits of the digest read as a fraction in [0, 1)


@dataclasses.dataclass(frozen=True)
class FieldParams:
    """The `field` section of params.yaml (docs/field.md)."""

    eval_share: float = dataclasses.field(default=0.5, metadata=params.check(params.between(0.0, 1.0, low_open=True, high_open=True)))
    train_share: float = dataclasses.field(default=0.0, metadata=params.check(params.between(0.0, 1.0)))


def read_folder(folder: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Every `*.json` record in `folder` (not below it), in name order: uint8 (N, 28, 28), uint8 (N,), names.

    A missing folder is an empty set; other files are skipped (logged); a bad record is a ValueError
    naming its file. The same image under two names counts once (the first name).
    """
    folder = pathlib.Path(folder)
    paths = sorted(folder.glob("*.json")) if folder.is_dir() else []
    skipped = sorted(path.name for path in folder.iterdir() if path.is_file() and path.suffix != ".json") if folder.is_dir() else []
    if skipped:
        logger.info("%s: skipped %d files that are not records (*.json): %s", folder, len(skipped), ", ".join(skipped[:5]))
    images, labels, names, seen = [], [], [], {}
    for path in paths:
        image, label = field_record.loads(path.read_text(encoding="utf-8", errors="replace"), source=str(path))
        key = image.tobytes()
        if key in seen:
            if seen[key][0] != label:
                raise ValueError(f"{path}: the same image as {seen[key][1]} but labelled {label}, not {seen[key][0]}; delete one of the two")
            continue
        seen[key] = (label, path.name)
        images.append(image)
        labels.append(label)
        names.append(path.name)
    if not images:
        return np.zeros((0, arrays.SIDE, arrays.SIDE), np.uint8), np.zeros(0, np.uint8), []
    return np.stack(images), np.asarray(labels, dtype=np.uint8), names


def hash_fractions(images: np.ndarray, *, part: int) -> np.ndarray:
    """float64 (N,) in [0, 1): slice `part` (0 or 1) of each image's SHA-256, as a fraction."""
    return np.array([int(field_record.digest(image)[16 * part : 16 * (part + 1)], 16) / HASH_SPAN for image in images], dtype=np.float64)


def split(images: np.ndarray, labels: np.ndarray, *, eval_share: float) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """((train images, labels), (eval images, labels)): an image is eval when its hash fraction < eval_share."""
    held_out = hash_fractions(images, part=0) < eval_share
    return (images[~held_out], labels[~held_out]), (images[held_out], labels[held_out])


def mix(images: np.ndarray, labels: np.ndarray, field_images: np.ndarray, field_labels: np.ndarray, *,
        share: float) -> tuple[np.ndarray, np.ndarray]:
    """The training split with `share` of the field train part appended (chosen by hash; 0: unchanged)."""
    if share == 0.0 or not len(field_images):
        return images, labels
    chosen = hash_fractions(field_images, part=1) < share
    return np.concatenate([images, field_images[chosen]]), np.concatenate([labels, field_labels[chosen]])
