"""Benchmark (accuracy, not speed): does mixing field digits into training help on other writers' digits?

    python bench/field.py                          # 6,000 MNIST digits + the field train part, 3 epochs, seeds 42 and 1
    python bench/field.py --mnist-train 3000 --epochs 2 --seeds 42

The field set is a stand-in that needs no network: scikit-learn's `load_digits` (1,797 8x8 digits
by 43 writers who are not MNIST's, UCI), each prepared to 28x28 as `predict` prepares an image
(core/digit_image.py), written as collected records (core/field_record.py) and split by hash with
params.yaml's `field.eval_share` (data/field.py), exactly as the `field` stage does.

For `field.train_share` 0 and 1 and each seed, `stages/train.py` trains the default recipe
(params.yaml's `train` section, fewer epochs) on a fixed random subset of MNIST's training split,
with the field train part mixed in by `field.mix` as the oversample stage does. Each model is scored
on MNIST's validation split and on the field eval part (held out: never trained on). The
reference is share 0. Needs data/prepared/{train,val}.npz (`dvc repro preprocess` or `dvc pull`);
if models/model.onnx is there, the full pipeline's model is scored on the field eval part too.
"""
from __future__ import annotations

import argparse
import os
import pathlib
import subprocess
import sys
import tempfile

import numpy as np
import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent


def field_records(folder: pathlib.Path) -> int:
    """Write load_digits as collected records under `folder`; returns how many files (duplicates count once)."""
    from sklearn import datasets

    from mnistflow.core import digit_image, field_record

    digits = datasets.load_digits()
    folder.mkdir(parents=True, exist_ok=True)
    for pixels, label in zip(digits.images, digits.target):
        image = digit_image.prepare(pixels * (255.0 / 16.0))  # 0-16 ink levels, bright on dark
        (folder / field_record.file_name(image)).write_text(
            field_record.dumps(image, label=int(label), answer={}, model_md5=None, raw=None))
    return len(list(folder.glob("*.json")))


def accuracy(predict, images: np.ndarray, labels: np.ndarray) -> float:
    return float((np.argmax(predict(images), axis=1) == labels).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mnist-train", type=int, default=6000, help="MNIST training digits (a fixed random subset)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 1])
    args = parser.parse_args()

    from mnistflow.core import arrays, params
    from mnistflow.data import field

    config = params.load_section(ROOT / "params.yaml", "field", field.FieldParams)
    mnist_images, mnist_labels = arrays.load_split(ROOT / "data/prepared/train.npz")
    val_images, val_labels = arrays.load_split(ROOT / "data/prepared/val.npz")
    subset = np.random.default_rng(0).permutation(len(mnist_labels))[: args.mnist_train]
    mnist_images, mnist_labels = mnist_images[subset], mnist_labels[subset]
    with tempfile.TemporaryDirectory() as scratch:
        scratch = pathlib.Path(scratch)
        files = field_records(scratch / "field")
        images, labels, _ = field.read_folder(scratch / "field")
        (field_train, field_train_labels), (field_eval, field_eval_labels) = field.split(images, labels, eval_share=config.eval_share)
        print(f"field stand-in: load_digits, {files} records, {len(images)} distinct, train {len(field_train_labels)}, "
              f"eval {len(field_eval_labels)} (field.eval_share {config.eval_share})")
        onnx = ROOT / "models/model.onnx"
        if onnx.is_file():
            from mnistflow.serving import runtime

            served = runtime.load(onnx)
            print(f"the pipeline's model ({onnx}): MNIST val {accuracy(served.predict, val_images, val_labels):.4f}, "
                  f"field eval {accuracy(served.predict, field_eval, field_eval_labels):.4f}")
        rows = []
        for seed in args.seeds:
            for share in (0.0, 1.0):
                train = field.mix(mnist_images, mnist_labels, field_train, field_train_labels, share=share)
                rows.append((share, seed, len(train[1]), *train_and_score(scratch, train, (val_images, val_labels),
                                                                           (field_eval, field_eval_labels), args.epochs, seed)))
    print(f"\nMNIST subset {args.mnist_train}, {args.epochs} epochs, default train params otherwise; reference: share 0")
    print("| field.train_share | seed | training digits | MNIST val accuracy | field eval accuracy |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for share, seed, count, val_accuracy, field_accuracy in rows:
        print(f"| {share:g} | {seed} | {count} | {val_accuracy:.4f} | {field_accuracy:.4f} |")
    for share in (0.0, 1.0):
        mine = [row for row in rows if row[0] == share]
        print(f"| {share:g} | mean | | {np.mean([row[3] for row in mine]):.4f} | {np.mean([row[4] for row in mine]):.4f} |")
    print(f"load average: {', '.join(f'{value:.2f}' for value in os.getloadavg())}")


def train_and_score(scratch: pathlib.Path, train, validation, field_eval, epochs: int, seed: int) -> tuple[float, float]:
    """Train with stages/train.py in its own process; (MNIST val accuracy, field eval accuracy)."""
    from mnistflow.core import arrays

    arrays.save_split(scratch / "train.npz", *train)
    arrays.save_split(scratch / "val.npz", *validation)
    all_params = yaml.safe_load((ROOT / "params.yaml").read_text())
    all_params["seed"], all_params["train"]["epochs"] = seed, epochs
    (scratch / "params.yaml").write_text(yaml.safe_dump(all_params))
    model = scratch / "model.keras"
    subprocess.run([sys.executable, str(ROOT / "stages/train.py"), "--params", str(scratch / "params.yaml"),
                    "--train", str(scratch / "train.npz"), "--val", str(scratch / "val.npz"), "--model", str(model),
                    "--card", str(scratch / "card.json"), "--live", str(scratch / "live"),
                    "--checkpoint", str(scratch / "checkpoint.npz"), "--run-log", str(scratch / "run.json")], check=True)
    import keras

    loaded = keras.models.load_model(model, compile=False)

    def predict(images: np.ndarray) -> np.ndarray:
        return loaded.predict(arrays.to_model_input(images), batch_size=1024, verbose=0)

    return accuracy(predict, *validation), accuracy(predict, *field_eval)


if __name__ == "__main__":
    main()
