"""Stage `fetch`: get MNIST from `fetch.source` and write the two canonical "MNIST in CSV" files.

    python stages/fetch.py --params params.yaml --train data/raw/mnist_train.csv --test data/raw/mnist_test.csv

Sources, the download cache and the canonical check: docs/data-sources.md.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from mnistflow.core import cli, params
from mnistflow.fetch import config, run


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", required=True, help="params.yaml (section fetch)")
    parser.add_argument("--train", required=True, help="output: the 60,000-row training CSV")
    parser.add_argument("--test", required=True, help="output: the 10,000-row test CSV")
    args = parser.parse_args(argv)

    fetch_params = params.load_section(args.params, "fetch", config.FetchParams)
    arrays = run.load(fetch_params)
    run.write_csvs(arrays, args.train, args.test)


if __name__ == "__main__":
    sys.exit(cli.run(main))
