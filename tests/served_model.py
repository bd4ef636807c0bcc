"""What the serving tests share: the small real model as ONNX, and a real server process.

`onnx_file()` exports tests/real_mnist.py's model (trained once per session, ~5 s) with
`export.export_onnx`, with an unsure threshold in its metadata as the export stage writes it.
`running_server(model, *flags)` starts `python -m mnistflow serve --port 0` from this checkout and
yields its base URL once the socket is listening (the command prints the port it got), then stops
it with SIGINT, as Ctrl-C would, and checks it exited cleanly.
"""
from __future__ import annotations

import contextlib
import functools
import os
import pathlib
import re
import signal
import struct
import subprocess
import sys
import zlib
from collections.abc import Iterator

import real_mnist

ROOT = pathlib.Path(__file__).resolve().parent.parent
UNSURE_THRESHOLD = 0.6


@functools.cache
def onnx_file() -> pathlib.Path:
    import keras

    from mnistflow.serving import export

    keras_path = real_mnist.trained_model_file()
    path = keras_path.with_name("model.onnx")
    export.export_onnx(keras.models.load_model(keras_path, compile=False), path, unsure_threshold=UNSURE_THRESHOLD)
    return path


class Server:
    def __init__(self, process: subprocess.Popen[str], url: str, first_lines: list[str]):
        self.process, self.url, self.first_lines = process, url, first_lines
        self.stderr = ""


@contextlib.contextmanager
def running_server(model: pathlib.Path, *flags: str, python_flags: tuple[str, ...] = ()) -> Iterator[Server]:
    command = [sys.executable, *python_flags, "-m", "mnistflow", "serve", "--model", str(model), "--port", "0", *flags]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    process = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
    assert process.stderr is not None
    lines = []
    try:
        for line in process.stderr:  # until the command says where it listens (or exits)
            lines.append(line)
            found = re.match(r"serving \S+ at (http://127\.0\.0\.1:\d+)/", line)
            if found:
                break
        else:
            raise AssertionError(f"the server exited {process.wait()} before listening:\n{''.join(lines)[-3000:]}")
        server = Server(process, found.group(1), lines)
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
        rest = process.stderr.read()
        code = process.wait(timeout=30)
    server.stderr = "".join(lines) + rest
    assert code == 0, f"the server exited {code}:\n{server.stderr[-3000:]}"


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares width x height pixels and holds none: what a decompression bomb looks like to a header reader."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)) + chunk(b"IEND", b"")
