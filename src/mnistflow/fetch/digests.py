"""File checksums, and the one-line error when a download does not match what was expected."""
from __future__ import annotations

import hashlib
import os

CHUNK = 1 << 20


def file_digest(path: str | os.PathLike[str], algorithm: str = "sha256") -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as stream:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def mismatch(name: str, *, algorithm: str, expected: str, actual: str, what_next: str) -> ValueError:
    """The error for file `name` whose digest is not the expected one; `what_next` says what was done about it."""
    return ValueError(f"checksum mismatch: {name} has {algorithm} {actual}; expected {expected} ({what_next})")
