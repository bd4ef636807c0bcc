"""What the predict command classifies: image files, directories of them, and MNIST CSV files.

`read_inputs(paths)` turns the paths a user gave into one batch of 28x28 uint8 images (white ink on
black, as the model sees them) with a name per image, plus one failure message per input that
could not be used. A failure never stops the others.

- An image file (anything PIL opens: PNG, JPEG, BMP, GIF, TIFF, WebP, ...) is prepared the way MNIST
  was made (`digit_image.prepare`); its name is the path as given.
- A directory contributes its image files (by extension), sorted by name; it is not searched
  recursively, and other files in it are skipped.
- A file ending in `.csv` holds MNIST-shaped rows in either Kaggle layout, with or without the label
  column (Digit Recognizer's `test.csv` has none): `label,1x1,...,28x28`, `label,pixel0,...,pixel783`,
  `1x1,...,28x28` or `pixel0,...,pixel783`. The rows are already 28x28 digits and are used as they
  are; a label, if present, must be 0-9 but is otherwise ignored. Each row is one input named
  `<path>:<line>`; a bad row fails alone, with its line and column. The reader is the pipeline's
  own (`core.mnist_csv.read_rows`), so a file predict accepts is one fetch would accept too.
"""
from __future__ import annotations

import dataclasses
import os
import pathlib
from collections.abc import Sequence
from typing import BinaryIO

import numpy as np
from PIL import Image

from mnistflow.core import arrays, digit_image

# mnist_csv (which imports pyarrow) loads only when a CSV is read: a third of the start-up time of
# `predict one.png`.



@dataclasses.dataclass
class Inputs:
    """Images the model will see, their names (same order), and (name, message) for each failure."""

    names: list[str] = dataclasses.field(default_factory=list)
    images: list[np.ndarray] = dataclasses.field(default_factory=list)  # blocks of uint8 (n, 28, 28)
    failures: list[tuple[str, str]] = dataclasses.field(default_factory=list)

    def add(self, names: Sequence[str], images: np.ndarray) -> None:
        self.names.extend(names)
        self.images.append(images)

    def fail(self, name: str, message: str) -> None:
        self.failures.append((name, message))

    def stacked(self) -> np.ndarray:
        """All images as one uint8 array (N, 28, 28)."""
        if not self.images:
            return np.zeros((0, arrays.SIDE, arrays.SIDE), dtype=np.uint8)
        return np.concatenate(self.images)


def image_extensions() -> frozenset[str]:
    """File suffixes (lower case, with the dot) PIL can open."""
    return frozenset(suffix for suffix, _ in Image.registered_extensions().items())


def read_inputs(paths: Sequence[str | os.PathLike[str]]) -> Inputs:
    inputs = Inputs()
    extensions = image_extensions()
    for given in paths:
        path = pathlib.Path(given)
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in extensions)
            if not files:
                inputs.fail(str(path), "directory has no image files (subdirectories are not searched)")
            for file in files:
                _read_image(file, inputs)
        elif not path.exists():
            inputs.fail(str(path), "no such file or directory")
        elif path.suffix.lower() == ".csv":
            _read_csv(path, inputs)
        else:
            _read_image(path, inputs)
    return inputs


def prepare_image(source: str | os.PathLike[str] | BinaryIO) -> np.ndarray:
    """An image file (a path, or an open binary file such as an upload) -> uint8 (28, 28) as the model sees it."""
    return digit_image.prepare(digit_image.load_grayscale(source))


def _read_image(path: pathlib.Path, inputs: Inputs) -> None:
    try:
        prepared = prepare_image(path)
    except ValueError as error:
        inputs.fail(str(path), str(error))
    except OSError as error:
        inputs.fail(str(path), error.strerror or str(error))
    else:
        inputs.add([str(path)], prepared[np.newaxis])


def _read_csv(path: pathlib.Path, inputs: Inputs) -> None:
    from mnistflow.core import mnist_csv  # pyarrow: loaded only when a CSV is read

    try:
        rows = mnist_csv.read_rows(path)
    except ValueError as error:
        inputs.fail(str(path), str(error).removeprefix(f"{path}: "))
        return
    except OSError as error:
        inputs.fail(str(path), error.strerror or str(error))
        return
    if len(rows.lines):
        inputs.add([f"{path}:{line}" for line in rows.lines], rows.images)
    for line, problem in rows.problems:
        inputs.fail(f"{path}:{line}", problem)
