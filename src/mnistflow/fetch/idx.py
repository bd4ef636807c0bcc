"""The IDX format of the original MNIST files (gzipped), parsed strictly.

Layout: two zero bytes, a type code (0x08: unsigned byte), the number of dimensions, then each
dimension as a big-endian uint32, then the data, exactly prod(dims) bytes. Images are
`idx3` (N, 28, 28); labels `idx1` (N,).
"""
from __future__ import annotations

import gzip
import zlib

import numpy as np

UBYTE = 0x08


def parse_gz(payload: bytes, *, ndim: int, source: str) -> np.ndarray:
    """Decompress and parse a gzipped IDX file of unsigned bytes with `ndim` dimensions."""
    try:
        raw = gzip.decompress(payload)
    except (gzip.BadGzipFile, EOFError, zlib.error) as error:
        raise ValueError(f"{source}: not a complete gzip file ({error}); the download is corrupt or truncated") from None
    return parse(raw, ndim=ndim, source=source)


def parse(raw: bytes, *, ndim: int, source: str) -> np.ndarray:
    header_size = 4 + 4 * ndim
    magic = bytes([0, 0, UBYTE, ndim])
    if len(raw) >= 4 and raw[:4] != magic:
        raise ValueError(f"{source}: magic number {raw[:4].hex()}; expected {magic.hex()} (IDX, unsigned bytes, {ndim} dimensions)")
    if len(raw) < header_size:
        raise ValueError(f"{source}: {len(raw)} bytes is too short for an IDX header of {ndim} dimensions ({header_size} bytes)")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = int(np.prod(shape, dtype=np.int64))
    if len(raw) - header_size != expected:
        raise ValueError(f"{source}: {len(raw) - header_size} data bytes; the header's shape {shape} needs {expected}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header_size).reshape(shape).copy()


def encode(array: np.ndarray) -> bytes:
    """IDX bytes of a uint8 array (for tests and private mirrors)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, UBYTE, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    return header + array.tobytes()
