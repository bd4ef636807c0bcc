"""Stage `export`: the trained Keras model as ONNX (what `predict`, the server and the evaluation run)
and as a SavedModel, the ONNX file checked against the Keras model on every test image.

    python stages/export.py --model models/model.keras --card models/model.json \
        --test data/prepared/test.npz --onnx models/model.onnx --out models/export

models/model.onnx is a float32 copy whose metadata_props carry `unsure_threshold` and `temperature`
from the card. It is written only if it gives the Keras model's digit on every test image, each
probability within `export.AGREEMENT_TOLERANCE`; otherwise the stage fails in one line. The
SavedModel's signatures (`serving_default`: uint8 (N, 28, 28); `serve_float`: float32
(N, 28, 28, 1)) and how to serve either: docs/predict.md.
"""
from __future__ import annotations

import argparse
import logging
import pathlib
import sys
from collections.abc import Sequence

from mnistflow.core import arrays, atomic, cli
from mnistflow.serving import export, runtime

logger = logging.getLogger("stages.export")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="input: the trained Keras model (.keras)")
    parser.add_argument("--card", required=True, help="input: the train stage's {temperature, unsure_threshold} (models/model.json)")
    parser.add_argument("--test", required=True, help="input: the test split (.npz) the export is checked on")
    parser.add_argument("--onnx", required=True, help="output: the float32 ONNX model (replaced atomically)")
    parser.add_argument("--out", required=True, help="output: the SavedModel directory (replaced atomically)")
    args = parser.parse_args(argv)

    model_path = pathlib.Path(args.model)
    if not model_path.is_file():
        raise ValueError(f"{model_path}: no such model file; run the train stage first (dvc repro train)")
    card = export.read_card(args.card)
    images, _ = arrays.load_split(args.test)
    import keras

    model = keras.models.load_model(model_path, compile=False)
    logger.info("model %s: input %s, output %s; card %s", model_path, model.input_shape, model.output_shape, card)
    with atomic.atomic_path(args.onnx) as onnx_path:
        export.export_onnx(model, onnx_path, **card)
        largest = export.check_agreement(
            export.keras_probabilities(model, images), runtime.load(onnx_path, spinning=False).predict(images),
            onnx_path=args.onnx, data_path=args.test,
        )
    logger.info("ONNX agrees with Keras on all %d test images: same digit, probabilities within %.2g (tolerance %g)",
                len(images), largest, export.AGREEMENT_TOLERANCE)
    export.export_savedmodel(model, args.out)


if __name__ == "__main__":
    sys.exit(cli.run(main))
