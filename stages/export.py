"""Stage `export`: write the trained Keras model as ONNX (for `predict`, onnxruntime) and as a SavedModel.

    python stages/export.py --model models/model.keras --model-json models/model.json \
        --onnx models/model.onnx --out models/export

models/model.onnx is a float32 copy whose metadata_props carry `unsure_threshold` and `temperature`
from --model-json when that file exists. The SavedModel's signatures (`serving_default`: uint8
(N, 28, 28); `serve_float`: float32 (N, 28, 28, 1)) and how to serve either: docs/predict.md.
"""
from __future__ import annotations

import argparse
import logging
import pathlib
import sys
from collections.abc import Sequence

from mnistflow.core import cli
from mnistflow.serving import export

logger = logging.getLogger("stages.export")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="input: the trained Keras model (.keras)")
    parser.add_argument("--model-json", help="input, optional: the train stage's {temperature, unsure_threshold}; skipped when absent")
    parser.add_argument("--onnx", required=True, help="output: the float32 ONNX model (replaced atomically)")
    parser.add_argument("--out", required=True, help="output: the SavedModel directory (replaced atomically)")
    args = parser.parse_args(argv)

    model_path = pathlib.Path(args.model)
    if not model_path.is_file():
        raise ValueError(f"{model_path}: no such model file; run the train stage first (dvc repro train)")
    import keras

    model = keras.models.load_model(model_path, compile=False)
    logger.info("model %s: input %s, output %s", model_path, model.input_shape, model.output_shape)
    metadata = export.read_model_metadata(args.model_json) if args.model_json else {}
    if args.model_json and not metadata:
        logger.info("%s: absent or empty; the ONNX model gets no unsure threshold", args.model_json)
    export.export_onnx(model, args.onnx, **metadata)
    export.export_savedmodel(model, args.out)


if __name__ == "__main__":
    sys.exit(cli.run(main))
