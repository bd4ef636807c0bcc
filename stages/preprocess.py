"""Stage `preprocess`: raw MNIST CSVs -> train/val/test .npz splits, class counts and sample images.

    python stages/preprocess.py --params params.yaml --train-csv data/raw/mnist_train.csv ...

(dvc.yaml has the full command.) Both CSVs and the params are validated before anything is written.
"""
from __future__ import annotations

import argparse
import logging
import sys

from mnistflow.core import arrays, atomic, cli, figures, mnist_csv, params
from mnistflow.data import preprocess

logger = logging.getLogger("preprocess")
SAMPLES_PER_DIGIT = 3


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", required=True)
    parser.add_argument("--train-csv", required=True, help="canonical MNIST CSV to split into train and val")
    parser.add_argument("--test-csv", required=True, help="canonical MNIST CSV kept whole as the test split")
    for split in ("train", "val", "test"):
        parser.add_argument(f"--{split}-out", required=True, help=f"{split} split .npz")
        parser.add_argument(f"--{split}-counts", required=True, help=f"{split} class counts CSV for dvc plots")
    parser.add_argument("--counts-png", required=True, help="bar chart of the class counts of every split")
    parser.add_argument("--samples-png", required=True, help="grid of training images with their labels")
    args = parser.parse_args(argv)

    settings = params.load_section(args.params, "preprocess", preprocess.PreprocessParams)
    seed = params.load_seed(args.params)
    train_images, train_labels = mnist_csv.read_csv(args.train_csv)
    test_images, test_labels = mnist_csv.read_csv(args.test_csv)
    for name, labels in (("train CSV", train_labels), ("test CSV", test_labels)):
        logger.info("%s: %d images, class counts %s", name, len(labels), arrays.class_counts(labels).tolist())

    splits = preprocess.prepare(train_images, train_labels, settings, seed=seed)
    splits["test"] = (test_images, test_labels)
    for split, (images, labels) in splits.items():
        arrays.save_split(getattr(args, f"{split}_out"), images, labels)
        atomic.write_text(getattr(args, f"{split}_counts"), preprocess.counts_csv(labels))
        logger.info("%s: images %s, class counts %s", split, images.shape, arrays.class_counts(labels).tolist())

    counts = {split: arrays.class_counts(labels) for split, (_, labels) in splits.items()}
    figures.save_png(figures.class_counts_chart(counts, title="Images per digit and split"), args.counts_png)
    images, labels = splits["train"]
    shown = preprocess.sample_indices(labels, per_digit=SAMPLES_PER_DIGIT)
    grid = figures.sample_grid(images[shown], [f"label {label}" for label in labels[shown]])
    figures.save_png(grid, args.samples_png)


if __name__ == "__main__":
    sys.exit(cli.run(main))
