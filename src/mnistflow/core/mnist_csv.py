"""The MNIST CSV formats: read fast, validate exactly, write the canonical form. The one CSV reader
of the project: fetch and preprocess read with `read_csv`, predict with `read_rows`.

Two Kaggle layouts are read (docs/data-sources.md), each also without its label column (as the
Digit Recognizer's `test.csv` comes); one is written:
- "MNIST in CSV" (dataset `oddrationale/mnist-in-csv`; canonical, layout "rowcol"): header `label,1x1,1x2,...,28x28` (row x column,
  1-based, row-major).
- "Digit Recognizer" (layout "pixel"): header `label,pixel0,...,pixel783`, same pixel order.
- "rowcol_unlabelled", "pixel_unlabelled": the same headers without `label`.
Each data row: a label 0-9 (when the layout has one), then 784 integers 0-255.

Reading uses pyarrow's multi-threaded CSV parser. When it fails (or finds an empty cell or a label
above 9), blocks of lines are parsed again and only a failing block is checked row by row, so every
problem names the line, the column and what was expected. `read_csv` raises at the first one (a
pipeline's data must be whole); `read_rows` keeps every good row and reports each bad one (a
person's file for predict). Blank lines are skipped.
"""
from __future__ import annotations

import csv
import dataclasses
import io
import itertools
import os
import pathlib
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from mnistflow.core import arrays, atomic

PIXELS = arrays.SIDE * arrays.SIDE
ROWCOL_HEADER = ("label",) + tuple(f"{row}x{col}" for row in range(1, arrays.SIDE + 1) for col in range(1, arrays.SIDE + 1))
PIXEL_HEADER = ("label",) + tuple(f"pixel{i}" for i in range(PIXELS))
HEADERS = {
    "rowcol": ROWCOL_HEADER,
    "pixel": PIXEL_HEADER,
    "rowcol_unlabelled": ROWCOL_HEADER[1:],
    "pixel_unlabelled": PIXEL_HEADER[1:],
}
DIAGNOSE_BLOCK_LINES = 2000  # lines re-parsed at a time when looking for the first bad one


def read_csv(path: str | os.PathLike[str], *, layouts: tuple[str, ...] = ("rowcol",)) -> tuple[np.ndarray, np.ndarray]:
    """Read an MNIST CSV into uint8 images (N, 28, 28) and uint8 labels (N,).

    `layouts` are the accepted headers, labelled ones only: "rowcol" (canonical) and/or "pixel"
    (Digit Recognizer). Raises ValueError naming the file, line and column of the first problem.
    """
    path = pathlib.Path(path)
    unlabelled = [layout for layout in layouts if HEADERS[layout][0] != "label"]
    if unlabelled:
        raise ValueError(f"read_csv returns labels, so layouts must have a label column; got {unlabelled} (read_rows reads those)")
    rows = read_rows(path, layouts=layouts)
    if rows.problems:
        raise ValueError(f"{path}: {rows.problems[0][1]}")
    return rows.images, rows.labels


@dataclasses.dataclass(frozen=True)
class Rows:
    """What `read_rows` found: the good rows, their line numbers, and one problem per bad row."""

    images: np.ndarray  # uint8 (N, 28, 28)
    labels: np.ndarray | None  # uint8 (N,); None for a layout without a label column
    lines: np.ndarray  # int (N,): each good row's line in the file (the header is line 1)
    problems: list[tuple[int, str]]  # (line, "line 3, column 2 (1x1) is 'x'; expected a pixel, ...")


def read_rows(path: str | os.PathLike[str], *, layouts: tuple[str, ...] = tuple(HEADERS)) -> Rows:
    """Every usable row of an MNIST CSV, and the line and problem of each row that is not.

    Raises ValueError (naming the file) only when the file as a whole is unusable: a wrong or
    missing header, or a header and no rows at all.
    """
    path = pathlib.Path(path)
    header = _read_header(path, layouts)
    table = _parse_clean(path, header)
    if table is not None:  # the fast parse refuses blank lines, so row i is line i + 2
        values, lines, problems = _values(table), np.arange(2, table.num_rows + 2), []
    else:
        blocks, line_blocks, problems = [], [], []
        for first_line, block, at_end in _blocks(path):
            parsed = _parse_block(block, header)
            if parsed is not None and parsed.num_rows == len(block):
                blocks.append(_values(parsed))
                line_blocks.append(np.arange(first_line, first_line + len(block)))
                continue
            checked = list(_check_rows(block, header, first_line=first_line, at_end=at_end))
            problems += [(line, problem) for line, _, problem in checked if problem]
            good = [(line, row) for line, row, problem in checked if problem is None]
            if good:
                blocks.append(np.stack([row for _, row in good]))
                line_blocks.append(np.array([line for line, _ in good]))
        values = np.concatenate(blocks) if blocks else np.zeros((0, len(header)), np.uint8)
        lines = np.concatenate(line_blocks) if line_blocks else np.zeros(0, int)
    if not len(values) and not problems:
        raise ValueError(f"{path}: has a header but no data rows; expected at least one row")
    labels = np.ascontiguousarray(values[:, 0]) if len(header) > PIXELS else None
    return Rows(np.ascontiguousarray(values[:, -PIXELS:]).reshape(-1, arrays.SIDE, arrays.SIDE), labels, lines, problems)


def write_csv(path: str | os.PathLike[str], images: np.ndarray, labels: np.ndarray) -> None:
    """Write images (N, 28, 28) uint8 and labels (N,) as a canonical "MNIST in CSV" file, atomically."""
    images = np.asarray(images)
    labels = np.asarray(labels)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (arrays.SIDE, arrays.SIDE):
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
        # A blank line is an error here, not skipped: the row-by-row check then gives every row its line.
        parse_options=pa_csv.ParseOptions(newlines_in_values=False, ignore_empty_lines=False),
        convert_options=pa_csv.ConvertOptions(column_types={name: pa.uint8() for name in header}),
    )


def _clean(table: pa.Table, header: tuple[str, ...]) -> pa.Table | None:
    """`table` if every cell is there and every label is 0-9 (pixels above 255 already failed the parse), else None."""
    if any(column.null_count for column in table.columns):
        return None
    if header[0] == "label" and table.num_rows and pc.max(table.column(0)).as_py() > 9:
        return None
    return table


def _parse_clean(path: pathlib.Path, header: tuple[str, ...]) -> pa.Table | None:
    """The whole file's rows, or None if any of them needs the row-by-row check."""
    try:
        return _clean(_parse(path, header, skip_rows=1), header)
    except pa.ArrowInvalid:
        return None


def _parse_block(block: list[bytes], header: tuple[str, ...]) -> pa.Table | None:
    try:
        return _clean(_parse(io.BytesIO(b"".join(block)), header, skip_rows=0), header)
    except pa.ArrowInvalid:
        return None


def _values(table: pa.Table) -> np.ndarray:
    values = np.empty((table.num_rows, table.num_columns), dtype=np.uint8)
    for index, column in enumerate(table.columns):
        values[:, index] = column.to_numpy()
    return values


def _blocks(path: pathlib.Path) -> Iterator[tuple[int, list[bytes], bool]]:
    """(first line's number, lines, is it the file's last block) for the lines after the header, DIAGNOSE_BLOCK_LINES at a time."""
    with open(path, "rb") as stream:
        stream.readline()
        first_line = 2
        while block := list(itertools.islice(stream, DIAGNOSE_BLOCK_LINES)):
            yield first_line, block, not stream.peek(1)
            first_line += len(block)


def _read_header(path: pathlib.Path, layouts: tuple[str, ...]) -> tuple[str, ...]:
    # utf-8-sig: a byte-order mark is not part of 'label'; undecodable bytes show up as a wrong header.
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as stream:
        line = stream.readline()
    shown = [f"'{','.join(HEADERS[layout][:2 if HEADERS[layout][0] == 'label' else 1])},...,{HEADERS[layout][-1]}'" for layout in layouts]
    expected = " or ".join(shown) if len(shown) < 3 else ", ".join(shown[:-1]) + " or " + shown[-1]
    if not line.strip():
        raise ValueError(f"{path}: file is empty; expected a header line {expected}")
    found = tuple(name.strip() for name in line.rstrip("\r\n").split(","))
    for layout in layouts:
        if found == HEADERS[layout]:
            return HEADERS[layout]
    same_width = [HEADERS[layout] for layout in layouts if len(HEADERS[layout]) == len(found)]
    if not same_width:
        widths = " or ".join(str(width) for width in dict.fromkeys(len(HEADERS[layout]) for layout in layouts))
        raise ValueError(f"{path}: line 1 (header) has {len(found)} columns; expected {widths}: {expected}")
    wanted = max(same_width, key=lambda header: sum(a == b for a, b in zip(found, header)))  # the nearest layout
    index = next(i for i, (a, b) in enumerate(zip(found, wanted)) if a != b)
    raise ValueError(
        f"{path}: line 1 (header), column {index + 1} is {found[index]!r}; expected {wanted[index]!r} (header {expected})"
    )


def _check_rows(
    block: list[bytes], header: tuple[str, ...], *, first_line: int, at_end: bool,
) -> Iterator[tuple[int, np.ndarray | None, str | None]]:
    """(line, uint8 values, None) for each good non-blank line of `block`, (line, None, problem) for each bad one.

    `first_line` is block[0]'s line number; `at_end`: the block ends the file. A problem reads
    "line 5, column 2 (1x1) is 256; expected a pixel, an integer 0-255"; "(truncated last line?)"
    is added to a short last line of the file.
    """
    last = max((i for i, raw in enumerate(block) if raw.strip()), default=-1)
    highest = np.full(len(header), 255)
    if header[0] == "label":
        highest[0] = 9
    for offset, raw in enumerate(block):
        line = first_line + offset
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            yield line, None, f"line {line} is not UTF-8 text; expected {len(header)} comma-separated integers"
            continue
        if not text.strip():
            continue  # blank lines are skipped, as the fast parser does
        yield line, *_check_row(next(csv.reader([text])), header, highest, line=line, truncated=at_end and offset == last)


def _check_row(
    row: list[str], header: tuple[str, ...], highest: np.ndarray, *, line: int, truncated: bool,
) -> tuple[np.ndarray | None, str | None]:
    if len(row) != len(header):
        columns = "label + 784 pixels" if header[0] == "label" else "784 pixels"
        hint = " (truncated last line?)" if truncated and len(row) < len(header) else ""
        return None, f"line {line} has {len(row)} columns; expected {len(header)} ({columns}){hint}"
    cells = [cell.strip() for cell in row]
    integers = [cell.isascii() and cell.lstrip("-").isdigit() and cell.count("-") <= 1 for cell in cells]
    for index, (cell, integer) in enumerate(zip(cells, integers)):
        if not integer or not 0 <= int(cell) <= highest[index]:
            shown = "is empty" if cell == "" else f"is {int(cell)}" if integer else f"is {row[index]!r}"
            return None, f"line {line}, column {index + 1} ({header[index]}) {shown}; {_expected(highest[index])}"
    return np.array(cells, dtype=np.int64).astype(np.uint8), None


def _expected(highest: int) -> str:
    return "expected a label, an integer 0-9" if highest == 9 else "expected a pixel, an integer 0-255"
