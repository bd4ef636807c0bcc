"""Stage `robustness`: the exported ONNX model's accuracy on each corruption of the test split (and,
for choosing a recipe, of the validation split), the mean and the worst, a bar chart and one example
of each.

    python stages/robustness.py --params params.yaml --model models/model.onnx \
        --predictions data/predictions/clean.npz \
        --test data/prepared/test.npz --suite data/corrupted/test.npz \
        --val data/prepared/val.npz --val-suite data/corrupted/val.npz \
        --metrics metrics/robustness.json --val-metrics metrics/robustness_val.json \
        --plot-data plots/robustness/accuracy.csv --examples plots/robustness/examples.png

The clean splits' predicted digits are the evaluate stage's (--predictions): only the corrupted
copies are predicted here, by onnxruntime in batches of `robustness.batch_size`.
"""
from __future__ import annotations

import argparse
import logging
import sys

from mnistflow.core import arrays, atomic, cli, figures, params
from mnistflow.evaluation import evaluate, robustness
from mnistflow.serving import runtime

log = logging.getLogger("robustness")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", required=True)
    parser.add_argument("--model", required=True, help="the exported ONNX model (models/model.onnx)")
    parser.add_argument("--predictions", required=True, help="the evaluate stage's predicted digits of the clean splits (.npz)")
    for split in ("test", "val"):
        parser.add_argument(f"--{split}", required=True, help=f"clean {split} split (.npz)")
    parser.add_argument("--suite", required=True, help="corrupted test suite (.npz)")
    parser.add_argument("--val-suite", required=True, help="corrupted validation suite (.npz)")
    parser.add_argument("--metrics", required=True, help="test robustness figures (JSON)")
    parser.add_argument("--val-metrics", required=True, help="validation robustness figures (JSON)")
    parser.add_argument("--plot-data", required=True, help="accuracy per corruption, test (CSV)")
    parser.add_argument("--examples", required=True, help="one test image per corruption with its prediction (PNG)")
    args = parser.parse_args(argv)

    config = params.load_section(args.params, "robustness", robustness.RobustnessParams)
    splits = {"test": (args.test, args.suite), "val": (args.val, args.val_suite)}
    loaded = {}
    for split, (clean_path, suite_path) in splits.items():
        images, labels = arrays.load_split(clean_path)
        suite, suite_labels = arrays.load_suite(suite_path)
        if suite_labels.shape != labels.shape or (suite_labels != labels).any():
            raise ValueError(f"{suite_path}: its labels differ from {clean_path}'s; re-run the corrupt stage (dvc repro corrupt)")
        loaded[split] = (images, labels, suite)
    if not config.example_index < len(loaded["test"][1]):
        raise ValueError(f"robustness.example_index must be below the test split's {len(loaded['test'][1])} images; got {config.example_index}")
    clean = evaluate.load_predictions(args.predictions, {split: len(labels) for split, (_, labels, _) in loaded.items()})

    classifier = runtime.load(args.model, spinning=False)  # a batch job: no busy-waiting threads
    results, predictions = {}, {}
    for split, (_, labels, suite) in loaded.items():
        predicted = {"clean": clean[split]}
        for name, corrupted in suite.items():
            predicted[name] = classifier.predict(corrupted, batch_size=config.batch_size).argmax(axis=1)
        results[split] = robustness.summarise(
            clean_accuracy=robustness.accuracy(labels, predicted["clean"]),
            accuracy={name: robustness.accuracy(labels, predicted[name]) for name in suite},
        )
        predictions[split] = predicted
        log.info("%s: clean %.4f, mean corrupted %.4f, worst %s %.4f (%d corruptions of %d images)", split,
                 results[split]["clean_accuracy"], results[split]["mean_corrupted_accuracy"], results[split]["worst_corruption"],
                 results[split]["worst_accuracy"], len(suite), len(labels))

    images, labels, suite = loaded["test"]
    figure = robustness.examples_figure(images, suite, labels, predictions["test"], index=config.example_index)
    atomic.write_json(args.metrics, results["test"])
    atomic.write_json(args.val_metrics, results["val"])
    atomic.write_text(args.plot_data, robustness.accuracy_csv(results["test"]))
    figures.save_png(figure, args.examples)


if __name__ == "__main__":
    sys.exit(cli.run(main))
