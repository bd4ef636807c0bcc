"""Stage `field`: pack the collected digits (data/field/, `serve --collect`) into train and eval splits.

    python stages/field.py --params params.yaml --folder data/field \
        --train-out data/field_split/train.npz --eval-out data/field_split/eval.npz

The folder is this stage's persisted output (dvc.yaml), so DVC versions it like any other data
(`dvc push`, `dvc pull`, `dvc diff`) and a fresh clone starts with it empty: both splits are then
empty and the field figures say there is no field data. Each digit's split is its image's hash
(data/field.py): a digit never moves between train and eval. docs/field.md shows the loop.
"""
from __future__ import annotations

import argparse
import logging
import pathlib
import sys

from mnistflow.core import arrays, cli, params
from mnistflow.data import field

log = logging.getLogger("field")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", required=True)
    parser.add_argument("--folder", required=True, help="the collected records (*.json); made empty if missing")
    parser.add_argument("--train-out", required=True, help="field digits that may be trained on (.npz)")
    parser.add_argument("--eval-out", required=True, help="field digits held out for evaluation (.npz)")
    args = parser.parse_args(argv)

    config = params.load_section(args.params, "field", field.FieldParams)
    pathlib.Path(args.folder).mkdir(parents=True, exist_ok=True)  # DVC caches it as an (empty) folder
    images, labels, _ = field.read_folder(args.folder)
    (train_images, train_labels), (eval_images, eval_labels) = field.split(images, labels, eval_share=config.eval_share)
    arrays.save_split(args.train_out, train_images, train_labels)
    arrays.save_split(args.eval_out, eval_images, eval_labels)
    log.info("read %d digits from %s: %d train %s, %d eval %s", len(images), args.folder, len(train_labels),
             arrays.class_counts(train_labels).tolist(), len(eval_labels), arrays.class_counts(eval_labels).tolist())


if __name__ == "__main__":
    sys.exit(cli.run(main))
