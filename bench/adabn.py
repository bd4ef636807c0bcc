"""How much of a BatchNorm model's error under each corruption is its fixed moving statistics: validation only, trains nothing.

    dvc get . models/model.keras --rev 04eecdd -o bench/models/batchnorm.keras   # the last BatchNorm default
    python bench/adabn.py --model bench/models/batchnorm.keras

For the clean validation split and each corruption in data/corrupted/val.npz, scores the model on
the second half of the images twice: as it is, and with every BatchNormalization layer's moving
mean and variance re-estimated on the first half of the same set (AdaBN, Li et al. 2016: one
forward pass in training mode, dropout off). A large gain means the corruption moves the
activations' statistics away from the training set's, which a normalisation by each image's own
statistics (`train.model.norm: layer`) does not depend on. A diagnostic, not a method: a served
model sees one image at a time, not a batch of one corruption. docs/benchmarks.md shows the table.
"""
from __future__ import annotations

import argparse
import datetime
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a .keras model with BatchNormalization layers")
    args = parser.parse_args()

    import keras
    import numpy as np

    with np.load("data/prepared/val.npz") as clean, np.load("data/corrupted/val.npz") as corrupted:
        labels = clean["labels"]
        sets = {"clean": clean["images"]}
        sets.update({name: corrupted[name] for name in corrupted.files if name != "labels"})
    half = len(labels) // 2

    def accuracy(model, images) -> float:
        predicted = model.predict(images[half:, ..., np.newaxis].astype(np.float32), batch_size=1000, verbose=0).argmax(axis=1)
        return float((predicted == labels[half:]).mean())

    print(f"# {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC, {args.model}, "
          f"statistics from validation images 0-{half - 1}, scored on {half}-{len(labels) - 1}")
    print("| set | moving statistics | re-estimated on the set | gain |")
    print("| --- | ---: | ---: | ---: |")
    for name, images in sets.items():
        model = keras.models.load_model(args.model, compile=False)
        batch_norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
        if not batch_norms:
            raise SystemExit(f"error: {args.model} has no BatchNormalization layer; expected a model trained with train.model.norm: batch")
        before = accuracy(model, images)
        for layer in batch_norms:
            layer.momentum = 0.0  # the moving statistics become the batch's
        for layer in model.layers:
            if isinstance(layer, keras.layers.Dropout):
                layer.rate = 0.0
        model(images[:half, ..., np.newaxis].astype(np.float32), training=True)  # one batch: the first half
        after = accuracy(model, images)
        print(f"| {name} | {before:.4f} | {after:.4f} | {after - before:+.4f} |", flush=True)


if __name__ == "__main__":
    main()
