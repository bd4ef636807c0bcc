"""The prepared-split file format, and the model's input convention.

A split (`data/prepared/train.npz`, `val.npz`, `test.npz`, `data/balanced/train.npz`) is an
uncompressed `.npz` with two arrays: `images`, uint8 (N, 28, 28), white ink on black, and
`labels`, uint8 (N,), digits 0-9.

Every Keras model this project saves takes float32 input of shape (N, 28, 28, 1) holding raw pixel
values 0-255 (it rescales inside) and returns softmax probabilities (N, 10): `to_model_input`.
"""
from __future__ import annotations

import os
import pathlib
import zipfile

import numpy as np

from mnistflow.core import atomic

NUM_CLASSES = 10
SIDE = 28


def check_split(images: np.ndarray, labels: np.ndarray, *, source: str) -> None:
    """Raise ValueError unless images are uint8 (N, 28, 28) and labels uint8 (N,) digits 0-9."""
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (SIDE, SIDE):
        raise ValueError(f"{source}: images must be uint8 of shape (N, 28, 28); got {images.dtype} {images.shape}")
    if labels.dtype != np.uint8 or labels.shape != (images.shape[0],):
        raise ValueError(f"{source}: labels must be uint8 of shape ({images.shape[0]},); got {labels.dtype} {labels.shape}")
    if labels.size and labels.max() >= NUM_CLASSES:
        raise ValueError(f"{source}: labels must be digits 0-9; found {int(labels.max())}")


def save_split(path: str | os.PathLike[str], images: np.ndarray, labels: np.ndarray) -> None:
    """Validate, then write atomically."""
    check_split(images, labels, source=str(path))
    atomic.save_npz(path, images=images, labels=labels)


def load_split(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """Read and validate a split written by `save_split`."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file; run the stage that writes it (dvc repro)")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path}: not a readable .npz file (not a zip archive)")
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = {"images", "labels"} - set(data.files)
            if missing:
                raise ValueError(f"{path}: expected arrays 'images' and 'labels'; missing {', '.join(sorted(missing))}")
            images, labels = data["images"], data["labels"]
    except (zipfile.BadZipFile, EOFError) as error:
        raise ValueError(f"{path}: not a readable .npz file ({error})") from None
    check_split(images, labels, source=str(path))
    return images, labels


def to_model_input(images: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) -> float32 (N, 28, 28, 1), values still 0-255 (models rescale inside)."""
    return np.asarray(images, dtype=np.float32)[..., np.newaxis]


def class_counts(labels: np.ndarray) -> np.ndarray:
    """Count of each digit 0-9, as int64 (10,)."""
    return np.bincount(labels, minlength=NUM_CLASSES).astype(np.int64)


def save_suite(path: str | os.PathLike[str], images: dict[str, np.ndarray], labels: np.ndarray) -> None:
    """A suite of variants of one split (`data/corrupted/test.npz`): one uint8 (N, 28, 28) array per
    variant name, all labelled by the same `labels`. Validated, then written atomically."""
    if not images:
        raise ValueError(f"{path}: a suite needs at least one variant; got none")
    for name, variant in images.items():
        if name == "labels":
            raise ValueError(f"{path}: 'labels' is reserved; rename that variant")
        check_split(variant, labels, source=f"{path} [{name}]")
    atomic.save_npz(path, labels=labels, **images)


def load_suite(path: str | os.PathLike[str]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Read a suite written by `save_suite`: ({variant name: images}, labels)."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file; run the stage that writes it (dvc repro)")
    try:
        with np.load(path, allow_pickle=False) as data:
            if "labels" not in data.files:
                raise ValueError(f"{path}: expected an array 'labels' beside the variants; it is missing")
            labels = data["labels"]
            images = {name: data[name] for name in data.files if name != "labels"}
    except (zipfile.BadZipFile, EOFError, OSError) as error:
        raise ValueError(f"{path}: not a readable .npz file ({error})") from None
    for name, variant in images.items():
        check_split(variant, labels, source=f"{path} [{name}]")
    return images, labels
