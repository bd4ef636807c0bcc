"""The project's command line: `python -m mnistflow <command> ...` (or the `mnistflow` script).

    python -m mnistflow predict --help
    python -m mnistflow serve --help

Commands register their arguments in a subparser; each returns its exit status. A ValueError or
OSError that ends a command becomes one `error: ...` line on stderr and exit status 1.
"""
from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from mnistflow.core import cli
from mnistflow.serving import predict, serve


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mnistflow", description="Use the MNIST models this project trains.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    predict_parser = commands.add_parser(
        "predict",
        help="classify digit images, directories of them, or MNIST CSV files",
        description="Classify digit images (PNG, JPEG, BMP, ...), directories of them (not recursive), "
        "or MNIST CSV files (either Kaggle layout, with or without the label column).",
    )
    predict.add_arguments(predict_parser)
    predict_parser.set_defaults(handler=predict.run)
    serve_parser = commands.add_parser(
        "serve",
        help="serve the model over HTTP: TensorFlow Serving's REST API, image uploads and a draw-a-digit page",
        description="Serve the ONNX model on uvicorn: POST /v1/models/mnist:predict (TensorFlow Serving's REST API), "
        "POST /predict (image files), GET /v1/models/mnist, GET /healthz, and a draw-a-digit page at /. "
        "Concurrent requests are batched into one model call (docs/serving.md).",
    )
    serve.add_arguments(serve_parser)
    serve_parser.set_defaults(handler=serve.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    cli.quiet_tensorflow()
    cli.configure_logging(logging.INFO if args.verbose else logging.WARNING)
    try:
        return args.handler(args)
    except (ValueError, OSError) as error:
        print(f"error: {cli.one_line(error)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
