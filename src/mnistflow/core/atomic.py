"""Atomic outputs: write to a temporary file beside the target, then rename over it.

An interrupted or failed stage never leaves a file that looks complete: either the old file (or
none) is there, or the whole new one. Outputs are also byte-for-byte the same for the same content
(`save_keras` fixes the dates Keras writes), so an identical re-run leaves git and dvc.lock as they were.
"""
from __future__ import annotations

import contextlib
import json
import os
import pathlib
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from typing import Any

import numpy as np


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[pathlib.Path]:
    """Yield a temporary path with the target's suffix; rename it to `path` if the block succeeds."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.fchmod(handle, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get the usual mode
    os.close(handle)
    temporary = pathlib.Path(temporary)
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[pathlib.Path]:
    """Yield a temporary directory; it replaces `path` (a directory) if the block succeeds."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = pathlib.Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield temporary
        if path.exists():
            shutil.rmtree(path)
        os.replace(temporary, path)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(path: str | os.PathLike[str], text: str) -> None:
    with atomic_path(path) as temporary:
        temporary.write_text(text)


def write_json(path: str | os.PathLike[str], data: Any) -> None:
    """Pretty, key-sorted JSON with a final newline, so diffs stay readable."""
    write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def save_npz(path: str | os.PathLike[str], **arrays: np.ndarray) -> None:
    """Uncompressed .npz (fast to read; DVC deduplicates)."""
    with atomic_path(path) as temporary:
        np.savez(temporary, **arrays)


def save_figure(figure: Any, path: str | os.PathLike[str], **savefig_kwargs: Any) -> None:
    """Save a matplotlib figure atomically (format from the suffix)."""
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format=pathlib.Path(path).suffix.lstrip("."), **savefig_kwargs)


# What a .keras file says instead of the moment it was saved: a .keras file is a zip whose
# metadata.json carries `date_saved`, and whose entries carry their own dates.
KERAS_DATE_SAVED = "1980-01-01@00:00:00"
ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip entry can hold


def save_keras(model: Any, path: str | os.PathLike[str]) -> None:
    """`model.save` to a .keras file atomically, with fixed dates: the same model gives the same bytes."""
    with atomic_path(path) as temporary:
        model.save(temporary)
        _fix_keras_dates(temporary)


def _fix_keras_dates(path: pathlib.Path) -> None:
    """Rewrite the zip at `path` with every entry dated ZIP_DATE_TIME and metadata.json's
    `date_saved` set to KERAS_DATE_SAVED; entries, their order and their compression stay."""
    with zipfile.ZipFile(path) as archive:
        entries = [(info, archive.read(info)) for info in archive.infolist()]
    with zipfile.ZipFile(path, "w") as archive:
        for info, data in entries:
            if info.filename == "metadata.json":
                metadata = json.loads(data)
                if "date_saved" in metadata:
                    metadata["date_saved"] = KERAS_DATE_SAVED
                data = json.dumps(metadata).encode()
            fixed = zipfile.ZipInfo(info.filename, date_time=ZIP_DATE_TIME)
            fixed.compress_type, fixed.external_attr = info.compress_type, info.external_attr
            archive.writestr(fixed, data)
