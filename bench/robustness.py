"""Benchmark: the pipeline's model against the Keras "Simple MNIST convnet" on the corruption suite.

    python bench/train.py --configs reference --save-models bench/models   # trains the reference once
    python bench/robustness.py                                              # scores both; trains nothing

Reads models/model.keras (the pipeline's, `dvc repro train`), bench/models/reference.keras, the
clean test split and the corrupted test suite (`dvc repro corrupt`), and prints accuracy per
corruption for both, the mean and the worst, with the ratio of their errors (ours / reference:
below 1 is better). Also each model's calibration error and not-a-digit AUROC on data/ood/test.npz.
"""
from __future__ import annotations

import argparse
import os
import pathlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = pathlib.Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "models/model.keras"))
    parser.add_argument("--reference", default=str(ROOT / "bench/models/reference.keras"))
    parser.add_argument("--test", default=str(ROOT / "data/prepared/test.npz"))
    parser.add_argument("--suite", default=str(ROOT / "data/corrupted/test.npz"))
    parser.add_argument("--ood", default=str(ROOT / "data/ood/test.npz"))
    args = parser.parse_args()
    if not pathlib.Path(args.reference).is_file():
        raise SystemExit(f"error: {args.reference}: no reference model; run python bench/train.py --configs reference --save-models bench/models")

    import keras

    from mnistflow.core import arrays, calibration
    from mnistflow.evaluation import evaluate, robustness

    def predict(model, images):
        return model.predict(arrays.to_model_input(images), batch_size=1000, verbose=0).astype("float64")

    images, labels = arrays.load_split(args.test)
    suite, _ = arrays.load_suite(args.suite)
    ood_images, _ = arrays.load_split(args.ood)
    rows = {}
    for name, path in (("ours", args.model), ("reference", args.reference)):
        model = keras.models.load_model(path, compile=False)
        clean = predict(model, images)
        accuracy = {key: robustness.accuracy(labels, predict(model, variant).argmax(1)) for key, variant in suite.items()}
        summary = robustness.summarise(clean_accuracy=robustness.accuracy(labels, clean.argmax(1)), accuracy=accuracy)
        summary["ece"] = calibration.expected_calibration_error(labels, clean)
        summary["ood_auroc"] = evaluate.ood_metrics(clean, predict(model, ood_images), threshold=None)["auroc"]
        rows[name] = summary

    def error_ratio(ours: float, reference: float) -> str:
        return f"{(1 - ours) / (1 - reference):.2f}" if reference < 1 else "-"

    print(f"{'corruption':<16} {'ours':>8} {'reference':>10} {'error ratio':>12}")
    for key in ["clean", *suite]:
        ours = rows["ours"]["clean_accuracy"] if key == "clean" else rows["ours"]["accuracy"][key]
        reference = rows["reference"]["clean_accuracy"] if key == "clean" else rows["reference"]["accuracy"][key]
        print(f"{key:<16} {ours:>8.4f} {reference:>10.4f} {error_ratio(ours, reference):>12}")
    for key, label in (("mean_corrupted_accuracy", "mean corrupted"), ("worst_accuracy", "worst")):
        ours, reference = rows["ours"][key], rows["reference"][key]
        print(f"{label:<16} {ours:>8.4f} {reference:>10.4f} {error_ratio(ours, reference):>12}")
    print(f"{'worst is':<16} {rows['ours']['worst_corruption']:>8} {rows['reference']['worst_corruption']:>10}")
    print(f"{'test ECE':<16} {rows['ours']['ece']:>8.4f} {rows['reference']['ece']:>10.4f}")
    print(f"{'not-digit AUROC':<16} {rows['ours']['ood_auroc']:>8.4f} {rows['reference']['ood_auroc']:>10.4f}")


if __name__ == "__main__":
    main()
