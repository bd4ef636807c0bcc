"""Stage `ood`: images that are not digits (noise, scribbles, shapes, letters, specks), to measure
how well the model's confidence tells a digit from anything else.

    python stages/ood.py --params params.yaml --val-out data/ood/val.npz --test-out data/ood/test.npz

Each output is a split file (arrays.save_split) whose `labels` hold the index of each image's kind
in `not_digits.KINDS`, not a digit. Validation and test are drawn independently from the one seed.
"""
from __future__ import annotations

import argparse
import logging
import sys

from mnistflow.core import arrays, cli, not_digits, params
from mnistflow.data import suites

log = logging.getLogger("ood")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", required=True)
    parser.add_argument("--val-out", required=True, help="not-a-digit validation set (.npz)")
    parser.add_argument("--test-out", required=True, help="not-a-digit test set (.npz)")
    args = parser.parse_args(argv)

    config = params.load_section(args.params, "ood", suites.OodParams)
    seed = params.load_seed(args.params)
    for split, out in (("val", args.val_out), ("test", args.test_out)):
        images, kinds = not_digits.make_ood(config.per_kind, seed=suites.split_seed(seed, split), kinds=config.kinds)
        arrays.save_split(out, images, kinds.astype("uint8"))
        log.info("wrote %s: %d images, %d per kind (%s)", out, len(images), config.per_kind, ", ".join(config.kinds))


if __name__ == "__main__":
    sys.exit(cli.run(main))
