"""Source `url`: the four original IDX `.gz` files, from the first mirror that serves each one.

For each file: the cached copy in `cache_dir/url/` if it parses (and matches its MD5, when known);
otherwise each mirror in turn, with `attempts` tries per mirror and exponential backoff between
them for network errors and HTTP 5xx. An HTTP 4xx, an MD5 mismatch or a corrupt file moves on to
the next mirror at once. When every mirror fails, one error lists each mirror and why.
"""
from __future__ import annotations

import hashlib
import http.client
import logging
import os
import pathlib
import time
import urllib.error
import urllib.request
from collections.abc import Callable

import numpy as np

from mnistflow.core import atomic
from mnistflow.fetch import config, data, digests, idx

logger = logging.getLogger(__name__)

# file name -> (split, array, IDX dimensions)
FILES = {
    "train-images-idx3-ubyte.gz": ("train", "images", 3),
    "train-labels-idx1-ubyte.gz": ("train", "labels", 1),
    "t10k-images-idx3-ubyte.gz": ("test", "images", 3),
    "t10k-labels-idx1-ubyte.gz": ("test", "labels", 1),
}


class _Retryable(Exception):
    """A failure worth trying the same mirror again for (network error, HTTP 5xx)."""


def load(cache_dir: str | os.PathLike[str], url_params: config.UrlParams, *,
         sleep: Callable[[float], None] = time.sleep) -> data.MnistData:
    cache = pathlib.Path(cache_dir) / "url"
    arrays = {}
    for name, (split, kind, ndim) in FILES.items():
        arrays[f"{split}_{kind}"] = fetch_file(name, ndim=ndim, cache=cache, params=url_params, sleep=sleep)
    for split in ("train", "test"):
        if len(arrays[f"{split}_images"]) != len(arrays[f"{split}_labels"]):
            raise ValueError(
                f"url: {split} has {len(arrays[f'{split}_images'])} images but {len(arrays[f'{split}_labels'])} labels; "
                "the mirror's files do not belong together"
            )
        if arrays[f"{split}_images"].shape[1:] != (28, 28):
            raise ValueError(f"url: {split} images are {arrays[f'{split}_images'].shape[1:]}; expected 28x28")
    return data.MnistData(**arrays)


def fetch_file(name: str, *, ndim: int, cache: pathlib.Path, params: config.UrlParams,
               sleep: Callable[[float], None]) -> np.ndarray:
    """The parsed array of IDX file `name`, from the cache or the first mirror that serves it intact."""
    cached = cache / name
    if cached.exists():
        try:
            array = _check_and_parse(cached.read_bytes(), name=name, ndim=ndim, source=str(cached), params=params)
        except ValueError as error:
            logger.warning("ignoring the cached %s: %s", cached, error)
            cached.unlink()
        else:
            logger.info("using the cached %s", cached)
            return array
    failures = []
    for mirror in params.mirrors:
        address = mirror.rstrip("/") + "/" + name
        try:
            payload = _download(address, params=params, sleep=sleep)
            array = _check_and_parse(payload, name=name, ndim=ndim, source=address, params=params)
        except ValueError as error:
            logger.warning("%s", error)
            failures.append(f"{mirror} ({error})")
            continue
        with atomic.atomic_path(cached) as temporary:
            temporary.write_bytes(payload)
        logger.info("downloaded %s (%d bytes)", address, len(payload))
        return array
    raise ValueError(f"url: could not get {name} from any mirror (fetch.url.mirrors): " + "; ".join(failures))


def _download(address: str, *, params: config.UrlParams, sleep: Callable[[float], None]) -> bytes:
    """The body at `address`; ValueError (with the last failure) once the attempts are used up."""
    attempt = 1
    while True:
        try:
            return _get(address, timeout=params.timeout_s)
        except _Retryable as error:
            if attempt == params.attempts:
                raise ValueError(f"{error}, {params.attempts} attempt{'s' if params.attempts > 1 else ''}") from None
            wait = params.backoff_s * 2 ** (attempt - 1)
            logger.warning("%s: %s; try %d of %d in %.1f s", address, error, attempt + 1, params.attempts, wait)
            if wait > 0:
                sleep(wait)
            attempt += 1


def _get(address: str, *, timeout: float) -> bytes:
    try:
        with urllib.request.urlopen(address, timeout=timeout) as response:
            return response.read()
    except urllib.error.HTTPError as error:
        if error.code >= 500:
            raise _Retryable(f"HTTP {error.code} {error.reason}") from None
        raise ValueError(f"HTTP {error.code} {error.reason}") from None
    except urllib.error.URLError as error:
        raise _Retryable(f"{error.reason}") from None
    except (OSError, http.client.HTTPException) as error:  # timeouts, resets, short reads
        raise _Retryable(f"{type(error).__name__}: {error}") from None


def _check_and_parse(payload: bytes, *, name: str, ndim: int, source: str, params: config.UrlParams) -> np.ndarray:
    expected = params.md5.get(name)
    if expected is not None:
        actual = hashlib.md5(payload, usedforsecurity=False).hexdigest()
        if actual != expected.lower():
            raise digests.mismatch(source, algorithm="md5", expected=expected, actual=actual,
                                   what_next="not kept; fix or drop fetch.url.md5." + name)
    return idx.parse_gz(payload, ndim=ndim, source=source)
