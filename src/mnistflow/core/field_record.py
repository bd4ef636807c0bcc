"""One collected digit as a small JSON file: what `serve --collect DIR` writes, what the `field` stage reads.

    name = field_record.file_name(image)                    # "<32 hex digits>.json", from the image alone
    text = field_record.dumps(image, label=7, answer={...}, model_md5="...", raw=png_bytes)
    image, label = field_record.loads(text, source="data/field/<name>")

A record holds the prepared 28x28 (uint8, white ink on black, as `predict` prepares a file), the
label the person gave, the model's answer when it was saved, the served model's MD5 and, when small,
the raw upload or drawing. Its name is the SHA-256 of the prepared image's bytes, so the same digit
saved twice is one file and nothing a request says chooses a path. No dates: the same digit gives
the same bytes. The split into train and eval (data/field.py) hashes the same bytes.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from typing import Any

import numpy as np

from mnistflow.core import arrays

FORMAT = 1
NAME = re.compile(r"[0-9a-f]{32}\.json")
KEYS = {"format", "label", "image", "answer", "model_md5", "raw"}


def digest(image: np.ndarray) -> str:
    """SHA-256 (hex) of a uint8 (28, 28) image's bytes: the record's identity and its split."""
    return hashlib.sha256(_check_image(image).tobytes()).hexdigest()


def file_name(image: np.ndarray) -> str:
    return f"{digest(image)[:32]}.json"


def dumps(image: np.ndarray, *, label: int, answer: dict[str, Any], model_md5: str | None, raw: bytes | None) -> str:
    """The record's JSON text (key-sorted, one final newline)."""
    if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label < arrays.NUM_CLASSES:
        raise ValueError(f"label must be a digit 0-9; got {label!r}")
    record = {
        "format": FORMAT,
        "label": label,
        "image": base64.b64encode(_check_image(image).tobytes()).decode("ascii"),
        "answer": answer,
        "model_md5": model_md5,
        "raw": base64.b64encode(raw).decode("ascii") if raw is not None else None,
    }
    return json.dumps(record, sort_keys=True) + "\n"


def loads(text: str, *, source: str) -> tuple[np.ndarray, int]:
    """(uint8 (28, 28) image, label) from a record's text; ValueError naming `source` and the field."""
    try:
        record = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"{source}: not JSON ({error.msg} at line {error.lineno}); a collected digit is one JSON object") from None
    if not isinstance(record, dict):
        raise ValueError(f"{source}: expected a JSON object with {', '.join(sorted(KEYS))}")
    if record.get("format") != FORMAT:
        raise ValueError(f"{source}: format must be {FORMAT}; got {record.get('format')!r}")
    label = record.get("label")
    if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label < arrays.NUM_CLASSES:
        raise ValueError(f"{source}: label must be a digit 0-9; got {label!r}")
    try:
        pixels = base64.b64decode(record.get("image") or "", validate=True)
    except (binascii.Error, TypeError):
        pixels = b""
    if len(pixels) != arrays.SIDE * arrays.SIDE:
        raise ValueError(f"{source}: image must be base64 of {arrays.SIDE * arrays.SIDE} bytes (28x28 uint8); got {len(pixels)} bytes")
    return np.frombuffer(pixels, dtype=np.uint8).reshape(arrays.SIDE, arrays.SIDE).copy(), label


def _check_image(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.shape != (arrays.SIDE, arrays.SIDE):
        raise ValueError(f"image must be uint8 (28, 28); got {image.dtype} {image.shape}")
    return np.ascontiguousarray(image)
