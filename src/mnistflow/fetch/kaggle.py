"""Source `kaggle`: the dataset "MNIST in CSV" (`oddrationale/mnist-in-csv`) through kagglehub.

Credentials are looked up exactly as kagglehub does (`kagglehub.config.get_kaggle_credentials`:
KAGGLE_API_TOKEN, ~/.kaggle/access_token, KAGGLE_USERNAME + KAGGLE_KEY, or kaggle.json in
~/.kaggle or $KAGGLE_CONFIG_DIR), before any download, so a missing credential is one clear line.
This is the only place the fetch stage consults the environment: kagglehub reads it anyway.
"""
from __future__ import annotations

import logging
import os
import pathlib

from mnistflow.core import mnist_csv
from mnistflow.fetch import config, data

logger = logging.getLogger(__name__)

MISSING_CREDENTIALS = (
    "fetch.source is 'kaggle' but no Kaggle credentials were found; set KAGGLE_API_TOKEN to an API token "
    "(kaggle.com > Settings > API), or set KAGGLE_USERNAME and KAGGLE_KEY, or save kaggle.json in ~/.kaggle/ "
    "(or in $KAGGLE_CONFIG_DIR); or pick another fetch.source"
)


def check_credentials() -> None:
    from kagglehub import config as kagglehub_config  # imported here: only this source needs it

    if kagglehub_config.get_kaggle_credentials() is None:
        raise ValueError(MISSING_CREDENTIALS)


def load(cache_dir: str | os.PathLike[str], kaggle_params: config.KaggleParams) -> data.MnistData:
    check_credentials()
    import kagglehub

    target = pathlib.Path(cache_dir) / "kaggle" / kaggle_params.dataset.replace("/", "__")
    folder = pathlib.Path(kagglehub.dataset_download(kaggle_params.dataset, output_dir=str(target)))
    logger.info("kaggle dataset %s is in %s", kaggle_params.dataset, folder)
    arrays = []
    for name in (kaggle_params.train_file, kaggle_params.test_file):
        path = folder / name
        if not path.exists():
            found = ", ".join(sorted(p.name for p in folder.iterdir())) or "nothing"
            raise ValueError(f"kaggle dataset {kaggle_params.dataset} has no {name} (it has {found}); check fetch.kaggle.train_file/test_file")
        arrays.extend(mnist_csv.read_csv(path, layouts=("rowcol", "pixel")))
    return data.MnistData(*arrays)
