"""A real `python -m mnistflow serve` process on a free 127.0.0.1 port, hit by concurrent clients.

Batching is checked through the server's own counters (`GET /v1/models/mnist`), without timing:
with `--max-batch-size 8` and a maximum wait far longer than the test, a batch runs exactly when
its eighth image arrives, so eight concurrent single-image requests make one model call.
"""
from __future__ import annotations

import concurrent.futures
import json
import signal
import urllib.error
import urllib.request

import numpy as np
import pytest
import served_model

import real_mnist
from mnistflow.serving import runtime

pytestmark = pytest.mark.slow  # a ~5 s training run (shared) and a server process


def post(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=60) as response:
        return json.loads(response.read())


def test_server_process_batches_concurrent_requests_and_answers_each_client_right_without_tensorflow():
    model = served_model.onnx_file()
    images = real_mnist.arrays()["test_images"][:16]
    expected = runtime.load(model).predict(images)
    flags = ("--max-batch-size", "8", "--max-wait-ms", "60000")
    with served_model.running_server(model, *flags, python_flags=("-X", "importtime")) as server:
        predict = f"{server.url}/v1/models/mnist:predict"
        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            singles = list(pool.map(lambda i: post(predict, {"instances": [images[i].tolist()]}), range(8)))
            after_singles = get(f"{server.url}/v1/models/mnist")["batching"]
            pairs = list(pool.map(lambda i: post(predict, {"instances": images[8 + 2 * i : 10 + 2 * i].tolist()}), range(4)))
        after_pairs = get(f"{server.url}/v1/models/mnist")["batching"]
        assert get(f"{server.url}/healthz") == {"status": "ok"}
    answers = np.array([answer["predictions"][0] for answer in singles] + [row for answer in pairs for row in answer["predictions"]])
    np.testing.assert_allclose(answers, expected, rtol=1e-5, atol=1e-7)
    assert {key: after_singles[key] for key in ("requests", "images", "batches", "largest_batch")} == {
        "requests": 8, "images": 8, "batches": 1, "largest_batch": 8,
    }
    assert {key: after_pairs[key] for key in ("requests", "images", "batches", "largest_batch")} == {
        "requests": 12, "images": 16, "batches": 2, "largest_batch": 8,
    }
    imported = {line.rsplit("|", 1)[-1].strip() for line in server.stderr.splitlines() if line.startswith("import time:")}
    assert "onnxruntime" in imported and "uvicorn" in imported
    assert "tensorflow" not in imported and "keras" not in imported


def outcome(url: str, image: np.ndarray) -> tuple[str, object]:
    """('answered', probabilities), ('refused', (status, Retry-After, error)) or ('not connected', reason)."""
    try:
        return "answered", post(url, {"instances": [image.tolist()]})["predictions"][0]
    except urllib.error.HTTPError as error:
        return "refused", (error.code, error.headers.get("Retry-After"), json.loads(error.read())["error"])
    except urllib.error.URLError as error:
        if isinstance(error.reason, ConnectionRefusedError):
            return "not connected", "connection refused"
        raise  # anything else (a reset, a closed connection) is a dropped request: the test fails


def outcome_after_stop(url: str, image: np.ndarray) -> tuple[str, object]:
    """`outcome` of a request sent after SIGTERM, where a reset also means it never reached the server:
    it connected into the listening socket's backlog just as the server closed that socket, which
    the kernel answers with a reset (the server accepts nothing after closing, so it never read it)."""
    try:
        return outcome(url, image)
    except ConnectionResetError:
        return "not connected", "connection reset"


def test_sigterm_answers_the_requests_in_flight_refuses_new_ones_and_drops_none():
    model = served_model.onnx_file()
    images = real_mnist.arrays()["test_images"][:9]
    expected = runtime.load(model).predict(images)
    # A batch that waits for 64 images or a minute: the eight requests are in flight when SIGTERM comes.
    with served_model.running_server(model, "--max-batch-size", "64", "--max-wait-ms", "60000") as server:
        predict = f"{server.url}/v1/models/mnist:predict"
        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            in_flight = [pool.submit(outcome, predict, images[i]) for i in range(8)]
            while get(f"{server.url}/v1/models/mnist")["batching"]["queued_images"] < 8:
                pass
            server.process.send_signal(signal.SIGTERM)
            later = []
            while not later or later[-1][0] != "not connected":  # new requests until the socket is closed
                later.append(outcome_after_stop(predict, images[8]))
            answers = [future.result() for future in in_flight]
        assert server.process.wait(timeout=60) == 0
    assert [kind for kind, _ in answers] == ["answered"] * 8  # the waiting batch ran at once, not after a minute
    np.testing.assert_allclose(np.array([probabilities for _, probabilities in answers]), expected[:8], rtol=1e-5, atol=1e-7)
    refused = [detail for kind, detail in later if kind == "refused"]
    assert len(refused) + 1 == len(later)  # each new request refused with 503, until the connection itself is refused
    assert set(refused) <= {(503, "1", "the server is shutting down; retry on another replica or after it restarts")}
    assert "stopped" in server.stderr


def test_server_process_listens_on_127_0_0_1_by_default():
    with served_model.running_server(served_model.onnx_file()) as server:
        assert server.url.startswith("http://127.0.0.1:")
        status = get(f"{server.url}/v1/models/mnist")
    assert status["model"]["file"] == "model.onnx" and len(status["model"]["md5"]) == 32
    assert status["model_version_status"][0]["state"] == "AVAILABLE"


def test_listening_socket_names_tcp_so_asyncio_turns_nagle_off_on_its_connections():
    import socket

    from mnistflow.serving import serve

    listening = serve.listen("127.0.0.1", 0)
    try:
        assert listening.proto == socket.IPPROTO_TCP and listening.getsockname()[1] > 0
    finally:
        listening.close()
