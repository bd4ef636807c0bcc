"""Stage `field_eval`: the exported model (models/model.onnx, as served) on the field set's eval part.

    python stages/field_eval.py --params params.yaml --model models/model.onnx \
        --eval data/field_split/eval.npz --metrics metrics/field.json --mistakes plots/field/mistakes.png

Scores the ONNX file through the serving runtime, so the figure is the served model's, "unsure"
answers counted with the threshold in its metadata. With no field digits the metrics say so
(count 0, figures null) and the picture says so. docs/field.md.
"""
from __future__ import annotations

import argparse
import logging
import sys

from mnistflow.core import arrays, atomic, cli, figures, params
from mnistflow.evaluation import evaluate, field
from mnistflow.serving import predict, runtime

log = logging.getLogger("field_eval")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", required=True)
    parser.add_argument("--model", required=True, help="the exported ONNX model")
    parser.add_argument("--eval", required=True, help="the field set's eval part (.npz, from the field stage)")
    parser.add_argument("--metrics", required=True, help="field metrics (JSON)")
    parser.add_argument("--mistakes", required=True, help="the most confident mistakes (PNG)")
    args = parser.parse_args(argv)

    settings = params.load_section(args.params, "evaluate", evaluate.EvaluateParams)
    images, labels = arrays.load_split(args.eval)
    classifier = runtime.load(args.model)
    probabilities = predict.classify(classifier, images, batch_size=settings.batch_size)
    unsure = predict.is_unsure(probabilities, classifier.unsure_threshold)
    summary = field.field_metrics(labels, probabilities, unsure)
    figures.save_png(field.mistakes_figure(images, labels, probabilities, count=settings.mistake_images), args.mistakes)
    atomic.write_json(args.metrics, summary)
    if summary["count"]:
        log.info("field eval: accuracy %.4f on %d digits, %d errors, unsure %.4f", summary["accuracy"], summary["count"],
                 summary["errors"], summary["unsure_share"])
    else:
        log.info("field eval: no field digits (%s is empty)", args.eval)


if __name__ == "__main__":
    sys.exit(cli.run(main))
