"""The MNIST CSV formats: read fast, validate exactly, write the canonical form.

Two Kaggle layouts are read (`../shared/DATA.md`); one is written:
- "MNIST in CSV" (canonical): header `label,1x1,1x2,...,28x28` (row x column, 1-based, row-major).
- "Digit Recognizer": header `label,pixel0,...,pixel783`, same pixel order.
Each data row: a label 0-9, then 784 integers 0-255.

Reading uses pyarrow's multi-threaded CSV parser. When it fails (or finds an empty cell or a label
above 9), a diagnosis pass finds the first bad line and column, so every error names the file, the
line, the column and what was expected. Blank lines are skipped.
"""
from __future__ import annotations

import csv
import io
import itertools
import os
import pathlib

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from mnistflow.core import atomic

SIDE = 28
PIXELS = SIDE * SIDE
ROWCOL_HEADER = ("label",) + tuple(f"{row}x{col}" for row in range(1, SIDE + 1) for col in range(1, SIDE + 1))
PIXEL_HEADER = ("label",) + tuple(f"pixel{i}" for i in range(PIXELS))
HEADERS = {"rowcol": ROWCOL_HEADER, "pixel": PIXEL_HEADER}
DIAGNOSE_BLOCK_LINES = 2000  # lines re-parsed at a time when looking for the first bad one


def read_csv(path: str | os.PathLike[str], *, layouts: tuple[str, ...] = ("rowcol",)) -> tuple[np.ndarray, np.ndarray]:
    """Read an MNIST CSV into uint8 images (N, 28, 28) and uint8 labels (N,).

    `layouts` are the accepted headers: "rowcol" (canonical) and/or "pixel" (Digit Recognizer).
    Raises ValueError naming the file, line and column of the first problem.
    """
    path = pathlib.Path(path)
    header = _read_header(path, layouts)
    try:
        table = _parse(path, header, skip_rows=1)
    except pa.ArrowInvalid as error:
        _diagnose(path, header)
        raise ValueError(f"{path}: not a valid MNIST CSV ({error})") from None
    if table.num_rows == 0:
        raise ValueError(f"{path}: has a header but no data rows; expected at least one row")
    # Empty cells parse as nulls; labels 10-255 fit uint8 (pixels above 255 already failed the parse).
    if any(column.null_count for column in table.columns) or pc.max(table.column(0)).as_py() > 9:
        _diagnose(path, header)
        raise ValueError(f"{path}: has an empty cell or a label outside 0-9; expected {len(header)} integers per line")
    values = np.empty((table.num_rows, len(header)), dtype=np.uint8)
    for index, column in enumerate(table.columns):
        values[:, index] = column.to_numpy()
    labels = np.ascontiguousarray(values[:, 0])
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


def _parse(source: str | os.PathLike[str] | io.BytesIO, header: tuple[str, ...], *, skip_rows: int) -> pa.Table:
    """pyarrow's multi-threaded parser, every column uint8 (a cell outside 0-255 is ArrowInvalid)."""
    return pa_csv.read_csv(
        source,
        read_options=pa_csv.ReadOptions(column_names=list(header), skip_rows=skip_rows),
        parse_options=pa_csv.ParseOptions(newlines_in_values=False),
        convert_options=pa_csv.ConvertOptions(column_types={name: pa.uint8() for name in header}),
    )


def _read_header(path: pathlib.Path, layouts: tuple[str, ...]) -> tuple[str, ...]:
    # utf-8-sig: a byte-order mark is not part of 'label'; undecodable bytes show up as a wrong header.
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as stream:
        line = stream.readline()
    expected = " or ".join(f"'{HEADERS[layout][0]},{HEADERS[layout][1]},...,{HEADERS[layout][-1]}'" for layout in layouts)
    if not line.strip():
        raise ValueError(f"{path}: file is empty; expected a header line {expected}")
    found = tuple(name.strip() for name in line.rstrip("\r\n").split(","))
    for layout in layouts:
        if found == HEADERS[layout]:
            return HEADERS[layout]
    if len(found) != len(ROWCOL_HEADER):
        raise ValueError(f"{path}: line 1 (header) has {len(found)} columns; expected {len(ROWCOL_HEADER)}: {expected}")
    wanted = HEADERS[layouts[0]]
    index = next(i for i, (a, b) in enumerate(zip(found, wanted)) if a != b)
    raise ValueError(
        f"{path}: line 1 (header), column {index + 1} is {found[index]!r}; expected {wanted[index]!r} (header {expected})"
    )


def _diagnose(path: pathlib.Path, header: tuple[str, ...]) -> None:
    """Raise ValueError at the first malformed line or cell.

    Blocks of lines go through pyarrow again (fast); only a block that fails is scanned cell by
    cell in Python, so an error on the last of 60,000 lines is found in about the time of a read.
    """
    with open(path, "rb") as stream:
        stream.readline()
        first_line = 2
        while block := list(itertools.islice(stream, DIAGNOSE_BLOCK_LINES)):
            if not _block_is_valid(block, header):
                _scan(path, header, block, first_line=first_line, at_end=not stream.peek(1))
            first_line += len(block)


def _block_is_valid(block: list[bytes], header: tuple[str, ...]) -> bool:
    try:
        table = _parse(io.BytesIO(b"".join(block)), header, skip_rows=0)
    except pa.ArrowInvalid:
        return False
    if table.num_rows == 0:
        return True
    return not any(column.null_count for column in table.columns) and pc.max(table.column(0)).as_py() <= 9


def _scan(path: pathlib.Path, header: tuple[str, ...], block: list[bytes], *, first_line: int, at_end: bool) -> None:
    last = max((i for i, raw in enumerate(block) if raw.strip()), default=-1)
    for offset, raw in enumerate(block):
        line = first_line + offset
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"{path}: line {line} is not UTF-8 text; expected {len(header)} comma-separated integers") from None
        if not text.strip():
            continue  # blank lines are skipped, as the fast parser does
        row = next(csv.reader([text]))
        if len(row) != len(header):
            truncated = len(row) < len(header) and at_end and offset == last
            raise ValueError(
                f"{path}: line {line} has {len(row)} columns; expected {len(header)} (label + 784 pixels)"
                + (" (truncated last line?)" if truncated else "")
            )
        for index, cell in enumerate(row):
            text = cell.strip()
            if text == "":
                raise ValueError(f"{path}: line {line}, column {index + 1} ({header[index]}) is empty; {_expected(index)}")
            highest = 9 if index == 0 else 255
            integer = text.isascii() and text.lstrip("-").isdigit() and text.count("-") <= 1
            if not integer or not 0 <= int(text) <= highest:
                shown = int(text) if integer else repr(cell)  # numbers as numbers, anything else quoted
                raise ValueError(f"{path}: line {line}, column {index + 1} ({header[index]}) is {shown}; {_expected(index)}")


def _expected(column: int) -> str:
    return "expected a label, an integer 0-9" if column == 0 else "expected a pixel, an integer 0-255"
