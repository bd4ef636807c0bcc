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
  `<path>:<line>`; a bad row fails alone, with its line and column.
"""
from __future__ import annotations

import csv
import dataclasses
import os
import pathlib
from collections.abc import Sequence
from typing import BinaryIO

import numpy as np
from PIL import Image

from mnistflow.core import digit_image

# mnist_csv (which imports pyarrow) loads only when a CSV is read: a third of the start-up time of
# `predict one.png`.

SIDE = 28
PIXELS = SIDE * SIDE
CSV_HEADERS_TEXT = "'label,1x1,...,28x28', 'label,pixel0,...,pixel783', '1x1,...,28x28' or 'pixel0,...,pixel783'"


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
            return np.zeros((0, SIDE, SIDE), dtype=np.uint8)
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
    try:
        header = _csv_header(path)
    except ValueError as error:
        inputs.fail(str(path), str(error))
        return
    except OSError as error:
        inputs.fail(str(path), error.strerror or str(error))
        return
    values = _parse_fast(path, header)
    if values is not None:
        lines = np.arange(2, len(values) + 2)
        inputs.add([f"{path}:{line}" for line in lines], values[:, -PIXELS:].reshape(-1, SIDE, SIDE))
        return
    _parse_row_by_row(path, header, inputs)


def csv_headers() -> tuple[tuple[str, ...], ...]:
    """The accepted headers: both Kaggle layouts, with and without the label column."""
    from mnistflow.core import mnist_csv

    return (mnist_csv.ROWCOL_HEADER, mnist_csv.PIXEL_HEADER, mnist_csv.ROWCOL_HEADER[1:], mnist_csv.PIXEL_HEADER[1:])


def _csv_header(path: pathlib.Path) -> tuple[str, ...]:
    with open(path, newline="") as stream:
        line = stream.readline()
    found = tuple(name.strip() for name in line.rstrip("\r\n").split(","))
    if found in csv_headers():
        return found
    if not line.strip():
        raise ValueError(f"file is empty; expected a header line {CSV_HEADERS_TEXT}")
    shown = ",".join(found[:3]) + (",..." if len(found) > 3 else "")
    raise ValueError(f"line 1 (header) is '{shown}' ({len(found)} columns); expected {CSV_HEADERS_TEXT}")


def _parse_fast(path: pathlib.Path, header: tuple[str, ...]) -> np.ndarray | None:
    """All rows as uint8 (N, columns), or None if any row needs a closer look (the slow path).

    numpy's C parser, single-threaded: on two busy cores it was several times faster than pyarrow's threaded reader
    (bench/predict.py, "parse the CSV only"). It skips blank lines, which would shift the line
    numbers in the names, so a file with any goes to the slow path too.
    """
    data = path.read_bytes()
    lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1) - 1
    if lines < 1:
        return None
    try:
        values = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.int16, ndmin=2)
    except ValueError:  # a cell that is not an integer, or a row with the wrong number of columns
        return None
    if len(values) != lines or values.shape[1] != len(header) or values.min() < 0 or values.max() > 255:
        return None
    if len(header) > PIXELS and values[:, 0].max() > 9:
        return None
    return values.astype(np.uint8)


def _parse_row_by_row(path: pathlib.Path, header: tuple[str, ...], inputs: Inputs) -> None:
    """The slow path: every good row is kept, every bad one fails with its line and column."""
    highest = np.full(len(header), 255)
    if len(header) > PIXELS:
        highest[0] = 9
    names, rows, bad_rows = [], [], 0
    with open(path, newline="") as stream:
        reader = csv.reader(stream)
        next(reader)
        for row in reader:
            if not row:  # a blank line
                continue
            name = f"{path}:{reader.line_num}"
            values, problem = _parse_row(row, header, highest)
            if problem:
                inputs.fail(name, f"line {reader.line_num}{problem}")
                bad_rows += 1
            else:
                names.append(name)
                rows.append(values[-PIXELS:].astype(np.uint8))
    if rows:
        inputs.add(names, np.stack(rows).reshape(-1, SIDE, SIDE))
    elif not bad_rows:
        inputs.fail(str(path), "has a header but no data rows")


def _parse_row(row: list[str], header: tuple[str, ...], highest: np.ndarray) -> tuple[np.ndarray | None, str | None]:
    """(values, None) for a good row, else (None, ' has 3 columns; ...' or ', column 5 (1x4) is 'x'; ...')."""
    if len(row) != len(header):
        label = "label + " if len(header) > PIXELS else ""
        return None, f" has {len(row)} columns; expected {len(header)} ({label}784 pixels)"
    try:
        values = np.array(row, dtype=np.int64)
    except ValueError:  # some cell is not an integer: find the first
        index = next(i for i, cell in enumerate(row) if not _is_integer(cell))
    else:
        bad = np.flatnonzero((values < 0) | (values > highest))
        if not bad.size:
            return values, None
        index = int(bad[0])
    expected = "a label, an integer 0-9" if highest[index] == 9 else "a pixel, an integer 0-255"
    return None, f", column {index + 1} ({header[index]}) is {row[index]!r}; expected {expected}"


def _is_integer(cell: str) -> bool:
    try:
        int(cell)
    except ValueError:
        return False
    return True
