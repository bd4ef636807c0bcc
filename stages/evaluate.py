"""Stage evaluate: test (and, reported separately, validation) metrics, plot data and figures of the
exported ONNX model, run by onnxruntime as `predict` and the server run it.

    python stages/evaluate.py --params params.yaml --model models/model.onnx \
        --val data/prepared/val.npz --test data/prepared/test.npz \
        --ood-val data/ood/val.npz --ood-test data/ood/test.npz \
        --metrics metrics/evaluate.json --val-metrics metrics/evaluate_val.json \
        --report metrics/classification_report.txt --plots plots/evaluate \
        --predictions data/predictions/clean.npz

The temperature and unsure threshold are the ONNX file's metadata (the export stage copies them
from the train stage's card). --predictions gets the predicted digit of every test and validation
image, for the robustness stage. Nothing is written unless everything was computed; then all
outputs are replaced together.
"""
from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

import numpy as np

from mnistflow.core import arrays, cli, params
from mnistflow.evaluation import evaluate
from mnistflow.serving import runtime

logger = logging.getLogger("evaluate")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", required=True)
    parser.add_argument("--model", required=True, help="the exported ONNX model (models/model.onnx)")
    parser.add_argument("--val", required=True, help="validation split (.npz)")
    parser.add_argument("--test", required=True, help="test split (.npz)")
    parser.add_argument("--ood-val", required=True, help="not-a-digit validation images (.npz, from the ood stage)")
    parser.add_argument("--ood-test", required=True, help="not-a-digit test images (.npz, from the ood stage)")
    parser.add_argument("--metrics", required=True, help="test metrics (JSON)")
    parser.add_argument("--val-metrics", required=True, help="validation metrics (JSON)")
    parser.add_argument("--report", required=True, help="classification report (text)")
    parser.add_argument("--plots", required=True, help="directory of plot files (CSV, PNG); replaced whole")
    parser.add_argument("--predictions", required=True, help="the predicted digits of the test and validation splits (.npz)")
    args = parser.parse_args(argv)

    settings = params.load_section(args.params, "evaluate", evaluate.EvaluateParams)
    evaluate.prepare_output_dirs(args.metrics, args.val_metrics, args.report, args.plots, args.predictions)
    val_images, val_labels = arrays.load_split(args.val)
    test_images, test_labels = arrays.load_split(args.test)
    for name, path, labels in [("test", args.test, test_labels), ("val", args.val, val_labels)]:
        evaluate.log_split(name, labels)
        evaluate.check_not_empty(labels, data_path=path)
    ood_images = {"test": arrays.load_split(args.ood_test)[0], "val": arrays.load_split(args.ood_val)[0]}

    classifier = runtime.load(args.model, spinning=False)  # a batch job: no busy-waiting threads
    card = {key: value for key, value in (("temperature", classifier.temperature), ("unsure_threshold", classifier.unsure_threshold))
            if value is not None}

    def predict(images: np.ndarray) -> np.ndarray:
        return np.asarray(classifier.predict(images, batch_size=settings.batch_size), dtype=np.float64)

    splits = {}
    for name, path, images, labels in [("test", args.test, test_images, test_labels), ("val", args.val, val_images, val_labels)]:
        probabilities = predict(images)
        evaluate.check_predictions(probabilities, labels, model_path=args.model, data_path=path)
        splits[name] = (images, labels, probabilities)
    ood = {name: predict(images) for name, images in ood_images.items()}
    result = evaluate.evaluate(test=splits["test"], val=splits["val"], params=settings, card=card, ood=ood)
    evaluate.write_outputs(
        result, metrics_path=args.metrics, val_metrics_path=args.val_metrics, report_path=args.report, plots_dir=args.plots,
        predictions_path=args.predictions,
    )
    for name, summary in [("test", result.test_metrics), ("val", result.val_metrics)]:
        logger.info("%s: accuracy %.4f, macro F1 %.4f, %d errors in %d images; ECE %.4f; not-a-digit AUROC %.4f",
                    name, summary["accuracy"], summary["f1_macro"], summary["errors"], summary["samples"],
                    summary["calibration"]["ece"], summary["ood"]["auroc"])


if __name__ == "__main__":
    sys.exit(cli.run(main))
