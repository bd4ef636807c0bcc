"""Compare training recipes on the validation split, its corrupted copy and not-digits: never the test set.

    python bench/recipe.py --name base --set '{"epochs": 5}' --train-n 15000
    python bench/recipe.py --name normalised --set '{"epochs": 5, "model": {"normalize": "per_image"}}' --train-n 15000

Trains `params.yaml`'s train section with the `--set` overrides (JSON, merged key by key) on the
first `--train-n` images of a fixed shuffle of data/balanced/train.npz (all with 0), then scores
on data/prepared/val.npz: accuracy, calibration error after the temperature, accuracy under each
corruption of `--val-n` validation images (the suite's functions, seed 1234: a different draw
from the corrupt stage's) and the AUROC of the top probability for those digits against 200
not-digits of each kind (seed 99). Prints one JSON line and appends it to --out. This is how the
default recipe was chosen (docs/robustness.md, "How the recipe was chosen").
"""
from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def merge(target: dict, updates: dict) -> None:
    for key, value in updates.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            merge(target[key], value)
        else:
            target[key] = value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", required=True)
    parser.add_argument("--set", default="{}", help="JSON overrides of the train section")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--train-n", type=int, default=0, help="training images (0: all)")
    parser.add_argument("--val-n", type=int, default=2000, help="validation images per corruption")
    parser.add_argument("--out", default="bench/recipes.jsonl")
    args = parser.parse_args()

    import keras
    import numpy as np
    from sklearn.metrics import roc_auc_score

    from mnistflow.core import arrays, calibration, not_digits as ood, params
    from mnistflow.data import corruptions
    from mnistflow.training import train as training

    section = params.load_params("params.yaml")["train"]
    merge(section, json.loads(args.set))
    config = params.parse(training.TrainParams, section, key="train")
    train = arrays.load_split("data/balanced/train.npz")
    val = arrays.load_split("data/prepared/val.npz")
    if args.train_n:
        rows = np.random.default_rng(0).permutation(len(train[1]))[:args.train_n]
        train = (train[0][rows], train[1][rows])
    keras.utils.set_random_seed(args.seed)
    started = time.perf_counter()
    model, summary = training.train_model(
        train, val, config=config, seed=args.seed, live_dir=None, checkpoint_path=f"/tmp/recipe-{args.name}.npz", fingerprint=args.name,
    )
    seconds = time.perf_counter() - started

    def predict(images):
        return model.predict(arrays.to_model_input(images), batch_size=1000, verbose=0)

    probabilities = predict(val[0])
    images, labels = val[0][:args.val_n], val[1][:args.val_n]
    per = {name: round(float((predict(corruptions.corrupt(images, name, seed=1234)).argmax(1) == labels).mean()), 4)
           for name in corruptions.NAMES}
    not_digits = predict(ood.make_ood(200, seed=99)[0])
    truth = np.concatenate([np.ones(len(probabilities)), np.zeros(len(not_digits))])
    result = {
        "name": args.name, "set": json.loads(args.set), "seed": args.seed, "train_images": len(train[1]), "seconds": round(seconds),
        "val_acc": round(float((probabilities.argmax(1) == val[1]).mean()), 4),
        "val_ece": round(calibration.expected_calibration_error(val[1], probabilities), 4), "temperature": summary["temperature"],
        "mean_corrupted": round(float(np.mean(list(per.values()))), 4), "worst": min(per, key=per.get), "worst_acc": min(per.values()),
        "ood_auroc": round(float(roc_auc_score(truth, np.concatenate([probabilities.max(1), not_digits.max(1)]))), 4),
        "per_corruption": per,
    }
    print(json.dumps(result))
    with open(args.out, "a") as stream:
        stream.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
