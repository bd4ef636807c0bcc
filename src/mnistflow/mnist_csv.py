"""The MNIST CSV formats: read fast, validate exactly, write the canonical form.

Two Kaggle layouts are read (`../shared/DATA.md`); one is written:
- "MNIST in CSV" (canonical): header `label,1x1,1x2,...,28x28` (row x column, 1-based, row-major).
- "Digit Recognizer": header `label,pixel0,...,pixel783`, same pixel order.
Each data row: a label 0-9, then 784 integers 0-255.

Reading uses pyarrow's multi-threaded CSV parser. When it fails (or finds an empty cell), a slow
line-by-line scan finds the first bad line and column, so every error names the file, the line, the
column and what was expected.
"""
from __future__ import annotations

import csv
import os
import pathlib

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv

from mnistflow import atomic

SIDE = 28
PIXELS = SIDE * SIDE
ROWCOL_HEADER = ("label",) + tuple(f"{row}x{col}" for row in range(1, SIDE + 1) for col in range(1, SIDE + 1))
PIXEL_HEADER = ("label",) + tuple(f"pixel{i}" for i in range(PIXELS))
HEADERS = {"rowcol": ROWCOL_HEADER, "pixel": PIXEL_HEADER}
EXPECTED_HEADER_TEXT = "'label,1x1,...,28x28' or 'label,pixel0,...,pixel783'"


def read_csv(path: str | os.PathLike[str], *, layouts: tuple[str, ...] = ("rowcol",)) -> tuple[np.ndarray, np.ndarray]:
    """Read an MNIST CSV into uint8 images (N, 28, 28) and uint8 labels (N,).

    `layouts` are the accepted headers: "rowcol" (canonical) and/or "pixel" (Digit Recognizer).
    Raises ValueError naming the file, line and column of the first problem.
    """
    path = pathlib.Path(path)
    header = _read_header(path, layouts)
    try:
        table = pa_csv.read_csv(
            path,
            read_options=pa_csv.ReadOptions(column_names=list(header), skip_rows=1),
            parse_options=pa_csv.ParseOptions(newlines_in_values=False),
            convert_options=pa_csv.ConvertOptions(column_types={name: pa.uint8() for name in header}),
        )
    except pa.ArrowInvalid as error:
        _diagnose(path, header)
        raise ValueError(f"{path}: not a valid MNIST CSV ({error})") from None
    if table.num_rows == 0:
        raise ValueError(f"{path}: has a header but no data rows; expected at least one row")
    if any(column.null_count for column in table.columns):
        _diagnose(path, header)
    # uint8 columns: a value outside 0-255 fails the parse above and is reported by _diagnose.
    values = np.column_stack([column.to_numpy() for column in table.columns])
    labels = np.ascontiguousarray(values[:, 0])
    _check_labels(path, labels)
    images = np.ascontiguousarray(values[:, 1:]).reshape(-1, SIDE, SIDE)
    return images, labels


def write_csv(path: str | os.PathLike[str], images: np.ndarray, labels: np.ndarray) -> None:
    """Write images (N, 28, 28) uint8 and labels (N,) as a canonical "MNIST in CSV" file, atomically."""
    images = np.asarray(images)
    labels = np.asarray(labels)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (SIDE, SIDE):
        raise ValueError(f"images must be uint8 of shape (N, 28, 28); got {images.dtype} {images.shape}")
    if labels.shape != (len(images),):
        raise ValueError(f"labels must have shape ({len(images)},); got {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise ValueError(f"labels must be digits 0-9; got values from {labels.min()} to {labels.max()}")
    flat = images.reshape(len(images), PIXELS)
    columns = [pa.array(labels.astype(np.uint8))] + [pa.array(flat[:, i]) for i in range(PIXELS)]
    table = pa.Table.from_arrays(columns, names=list(ROWCOL_HEADER))
    with atomic.atomic_path(path) as temporary:
        with open(temporary, "wb") as stream:
            stream.write((",".join(ROWCOL_HEADER) + "\n").encode())
            pa_csv.write_csv(table, stream, pa_csv.WriteOptions(include_header=False, batch_size=4096))


def _read_header(path: pathlib.Path, layouts: tuple[str, ...]) -> tuple[str, ...]:
    with open(path, newline="") as stream:
        line = stream.readline()
    if not line.strip():
        raise ValueError(f"{path}: file is empty; expected a header line {EXPECTED_HEADER_TEXT}")
    found = tuple(name.strip() for name in line.rstrip("\r\n").split(","))
    for layout in layouts:
        if found == HEADERS[layout]:
            return HEADERS[layout]
    expected = " or ".join(f"'{HEADERS[layout][0]},{HEADERS[layout][1]},...,{HEADERS[layout][-1]}'" for layout in layouts)
    if len(found) != len(ROWCOL_HEADER):
        raise ValueError(f"{path}: line 1 (header) has {len(found)} columns; expected {len(ROWCOL_HEADER)}: {expected}")
    wanted = HEADERS[layouts[0]]
    index = next(i for i, (a, b) in enumerate(zip(found, wanted)) if a != b)
    raise ValueError(
        f"{path}: line 1 (header), column {index + 1} is {found[index]!r}; expected {wanted[index]!r} (header {expected})"
    )


def _diagnose(path: pathlib.Path, header: tuple[str, ...]) -> None:
    """Scan line by line and raise ValueError at the first malformed line or cell."""
    with open(path, newline="") as stream:
        reader = csv.reader(stream)
        next(reader)
        for row in reader:
            line = reader.line_num
            if len(row) != len(header):
                raise ValueError(
                    f"{path}: line {line} has {len(row)} columns; expected {len(header)} (label + 784 pixels)"
                    + (" (truncated last line?)" if len(row) < len(header) and not stream.readline() else "")
                )
            for index, cell in enumerate(row):
                text = cell.strip()
                if text == "":
                    raise ValueError(f"{path}: line {line}, column {index + 1} ({header[index]}) is empty; {_expected(index)}")
                highest = 9 if index == 0 else 255
                if not (text.isdigit() or (text[0] == "-" and text[1:].isdigit())) or not 0 <= int(text) <= highest:
                    raise ValueError(f"{path}: line {line}, column {index + 1} ({header[index]}) is {cell!r}; {_expected(index)}")


def _check_labels(path: pathlib.Path, labels: np.ndarray) -> None:
    bad = np.flatnonzero(labels > 9)
    if bad.size:
        row = int(bad[0])
        raise ValueError(f"{path}: line {row + 2}, column 1 (label) is {int(labels[row])}; {_expected(0)}")


def _expected(column: int) -> str:
    return "expected a label, an integer 0-9" if column == 0 else "expected a pixel, an integer 0-255"
