"""Stage `oversample`: balance the training split's digits (imbalanced-learn); val/test never.

    python stages/oversample.py --params params.yaml --train data/prepared/train.npz \
        [--field-train data/field_split/train.npz] \
        --out data/balanced/train.npz --counts plots/oversample/class_counts.csv \
        --figure plots/oversample/class_counts.png

With --field-train, `field.train_share` of the field set's train part is added first (docs/field.md);
its eval part is never read here.
"""
from __future__ import annotations

import argparse
import logging
import sys

from mnistflow.core import arrays, atomic, cli, figures, params
from mnistflow.data import field
from mnistflow.data.oversample import OversampleParams, oversample

log = logging.getLogger("oversample")


def counts_table(before, after) -> str:
    """Long-format CSV (digit, split, images): one row per digit and split, for `dvc plots`."""
    rows = ["digit,split,images"]
    for digit in range(arrays.NUM_CLASSES):
        rows += [f"{digit},before,{before[digit]}", f"{digit},after,{after[digit]}"]
    return "\n".join(rows) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", required=True)
    parser.add_argument("--train", required=True, help="prepared training split (.npz)")
    parser.add_argument("--field-train", help="the field set's train part (.npz), mixed in by field.train_share")
    parser.add_argument("--out", required=True, help="balanced training split (.npz)")
    parser.add_argument("--counts", required=True, help="class counts before/after (.csv)")
    parser.add_argument("--figure", required=True, help="class counts before/after (.png)")
    args = parser.parse_args(argv)

    config = params.load_section(args.params, "oversample", OversampleParams)
    seed = params.load_seed(args.params)
    share = params.load_section(args.params, "field", field.FieldParams).train_share if args.field_train else 0.0
    images, labels = arrays.load_split(args.train)
    log.info("read %s: images %s, counts %s", args.train, images.shape, arrays.class_counts(labels).tolist())
    if args.field_train:
        images, labels = field.mix(images, labels, *arrays.load_split(args.field_train), share=share)
        log.info("mixed in field digits (field.train_share %g): images %s", share, images.shape)

    balanced_images, balanced_labels = oversample(
        images, labels, method=config.method, sampling_strategy=config.sampling_strategy,
        k_neighbors=config.k_neighbors, seed=seed,
    )
    before, after = arrays.class_counts(labels).tolist(), arrays.class_counts(balanced_labels).tolist()
    arrays.save_split(args.out, balanced_images, balanced_labels)
    atomic.write_text(args.counts, counts_table(before, after))
    chart = figures.class_counts_chart({"before": before, "after": after}, title=f"Training images per digit ({config.method})")
    figures.save_png(chart, args.figure)
    log.info("wrote %s: images %s, counts %s", args.out, balanced_images.shape, after)


if __name__ == "__main__":
    sys.exit(cli.run(main))
