"""The `serve` command: the model behind an HTTP API and a draw-a-digit page (serving/server.py).

    python -m mnistflow serve                                  # models/model.onnx on http://127.0.0.1:8000/
    python -m mnistflow serve --port 0 --max-batch-size 32 --latency-budget-ms 200

The model is the ONNX export (`dvc repro export`), run by onnxruntime (`serving.runtime`), the
runtime `predict` uses: no TensorFlow is imported, and the process starts in about a second.
It listens on 127.0.0.1 unless `--host` says otherwise. `--port 0` takes a free port; the line
`serving <model> at http://HOST:PORT/` on stderr says which, once the socket is listening.

Ctrl-C or SIGTERM stops it gracefully: predict requests that arrive from then on get 503, the
listening socket closes, the requests in flight are answered (a waiting batch runs at once), and
the command exits 0 (after at most `GRACEFUL_TIMEOUT_S`; a second Ctrl-C quits at once).
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import pathlib
import signal
import socket
import sys
from typing import Any

from mnistflow.serving import batching

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "models/model.onnx"
DEFAULTS = batching.BatchingConfig()
# One model thread leaves the second of two cores to the event loop, which parses and answers the
# requests (~0.7 ms of Python each, against ~0.3 ms of model time per image). Measured on this
# 2-core machine at 64 clients: 423 requests/s with 1 thread, 231 with 2 (onnxruntime's second
# thread spins, competing with the event loop).
THREADS = 1
GRACEFUL_TIMEOUT_S = 30  # longest a stop waits for the requests in flight


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=DEFAULT_MODEL, help=f"ONNX model to serve (default: {DEFAULT_MODEL}, written by `dvc repro export`)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this machine only)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on; 0 picks a free one (default: 8000)")
    parser.add_argument("--max-batch-size", type=int, default=DEFAULTS.max_batch_size,
                        help=f"most images per model call (default: {DEFAULTS.max_batch_size})")
    parser.add_argument("--max-wait-ms", type=float, default=DEFAULTS.max_wait_ms,
                        help=f"how long a batch waits for more images; 0 runs it as soon as the model is free (default: {DEFAULTS.max_wait_ms:g})")
    parser.add_argument("--latency-budget-ms", type=float, default=DEFAULTS.latency_budget_ms,
                        help=f"refuse (503) a request whose estimated wait is longer (default: {DEFAULTS.latency_budget_ms:g})")
    parser.add_argument("--threads", type=int, default=THREADS,
                        help=f"onnxruntime intra-op threads for the model (default: {THREADS}; the event loop needs a core too)")
    parser.add_argument("--collect", metavar="DIR", help="save the digits people confirm or correct on the page under DIR "
                        "(POST /feedback; docs/field.md); off by default")
    parser.add_argument("--access-log", action="store_true", help="log every request (costs throughput)")


def run(args: argparse.Namespace) -> int:
    """Load the model, bind the socket, serve until interrupted. Returns the exit status."""
    path = pathlib.Path(args.model)
    if not path.is_file():
        raise ValueError(
            f"{path}: no such model file; make it with `dvc repro export`, or fetch it with "
            f"`dvc pull {path}` (or `dvc artifacts get`), or pass --model PATH"
        )
    if not 0 <= args.port <= 65535:
        raise ValueError(f"--port must be 0-65535; got {args.port}")
    config = batching.BatchingConfig(max_batch_size=args.max_batch_size, max_wait_ms=args.max_wait_ms,
                                     latency_budget_ms=args.latency_budget_ms)
    import uvicorn  # here, not at the top: `predict` need not pay for importing the server

    from mnistflow.serving import feedback, model_info, runtime, server

    info = model_info.describe(path)
    collector = feedback.Collector(args.collect, model_md5=info["md5"]) if args.collect else None
    app = server.create_app(runtime.load(path, threads=args.threads), batching_config=config, model_info=info, collector=collector)
    listening = listen(args.host, args.port)
    host, port = listening.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    print(f"serving {path} at http://{shown}:{port}/ (batches of up to {config.max_batch_size}, "
          f"latency budget {config.latency_budget_ms:g} ms)" + (f"; collecting digits into {args.collect}" if args.collect else ""),
          file=sys.stderr, flush=True)
    uvicorn_config = uvicorn.Config(app, log_config=None, access_log=args.access_log, lifespan="on",
                                    log_level=logging.INFO if args.access_log else logging.WARNING,
                                    timeout_graceful_shutdown=GRACEFUL_TIMEOUT_S)
    # uvicorn stops gracefully on SIGINT and SIGTERM, then re-raises the signal with the handler it
    # found: make SIGTERM's that of Ctrl-C, so both end here with "stopped" and exit status 0.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with contextlib.suppress(KeyboardInterrupt):
        _run_draining(uvicorn_config, app.state.batcher, listening)
    print("stopped", file=sys.stderr)
    return 0


def _run_draining(config: Any, batcher: batching.Batcher, listening: socket.socket) -> None:
    """uvicorn's server, which on the first stop signal also tells the batcher to refuse new requests and run what waits."""
    import uvicorn

    class DrainingServer(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            super().handle_exit(sig, frame)
            with contextlib.suppress(RuntimeError):  # the loop is not running yet: nothing is in flight either
                asyncio.get_running_loop().call_soon_threadsafe(batcher.drain)

    DrainingServer(config).run(sockets=[listening])


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on (host, port); port 0 takes a free one.

    Its protocol is named (IPPROTO_TCP), not left 0 as socket.create_server leaves it: asyncio sets
    TCP_NODELAY only on connections whose socket says TCP, and without it every keep-alive answer
    waited ~40 ms for the client's delayed ACK (measured: 48 ms per request, 1 ms with it).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listening = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listening.bind((host, port))
        listening.listen(2048)
    except OSError:
        listening.close()
        raise
    return listening
