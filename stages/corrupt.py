"""Stage `corrupt`: the MNIST-C-style corruption suite of the validation and test splits.

    python stages/corrupt.py --params params.yaml --val data/prepared/val.npz --test data/prepared/test.npz \
        --val-out data/corrupted/val.npz --test-out data/corrupted/test.npz

Each output holds one uint8 (N, 28, 28) array per corruption and the split's labels
(arrays.save_suite). It depends on the splits and its params only, so a new model never
regenerates it. The validation copy is for choosing a recipe; the test copy is for reporting.
"""
from __future__ import annotations

import argparse
import logging
import sys

from mnistflow.core import arrays, cli, params
from mnistflow.data import suites

log = logging.getLogger("corrupt")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", required=True)
    parser.add_argument("--val", required=True, help="validation split (.npz)")
    parser.add_argument("--test", required=True, help="test split (.npz)")
    parser.add_argument("--val-out", required=True, help="corrupted validation suite (.npz)")
    parser.add_argument("--test-out", required=True, help="corrupted test suite (.npz)")
    args = parser.parse_args(argv)

    config = params.load_section(args.params, "corrupt", suites.CorruptParams)
    seed = params.load_seed(args.params)
    for split, source, out in (("val", args.val, args.val_out), ("test", args.test, args.test_out)):
        images, labels = arrays.load_split(source)
        suite = suites.corrupted_suite(images, names=config.corruptions, seed=suites.split_seed(seed, split))
        arrays.save_suite(out, suite, labels)
        log.info("wrote %s: %d corruptions of %d images", out, len(suite), len(labels))


if __name__ == "__main__":
    sys.exit(cli.run(main))
