"""Hostile input against a real `python -m mnistflow serve` process: requests generated from the
server's own OpenAPI schema (schemathesis: valid and invalid bodies, headers, methods), and the
cases a schema cannot express, sent over raw sockets: JSON nested 100,000 deep, a PNG declaring
20,000 x 20,000 pixels, a body that never ends, a client that stalls mid-body, a thousand files in
one upload.

The property, for every request: no 5xx; every 4xx is one line of JSON, `{"error": "..."}`; and
the server stays up and answers the next good request with the model's own probabilities.
A bounded number of generated examples (EXAMPLES) keeps the module to about a minute.
"""
from __future__ import annotations

import json
import select
import socket

import hypothesis
import numpy as np
import pytest
import schemathesis
import served_model

import real_mnist
from mnistflow.serving import runtime

pytestmark = pytest.mark.slow  # a ~5 s training run (shared) and a server process

# Examples per API operation: a valid 28x28 body costs hypothesis ~1 s to generate; invalid ones are cheap and find more.
EXAMPLES = {schemathesis.GenerationMode.POSITIVE: 8, schemathesis.GenerationMode.NEGATIVE: 40}
PREDICT = "/v1/models/mnist:predict"


@pytest.fixture(scope="module")
def server():
    with served_model.running_server(served_model.onnx_file()) as running:
        yield running


@pytest.fixture(scope="module")
def good_request():
    """A valid request body and the probabilities the model gives for it."""
    images = real_mnist.arrays()["test_images"][:2]
    return json.dumps({"instances": images.tolist()}).encode(), runtime.load(served_model.onnx_file()).predict(images)




def raw(url: str, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send bytes as they are on a new connection; (status, headers, body) of the answer."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=60) as connection:
        connection.sendall(request)
        return read_answer(connection)


def read_answer(connection: socket.socket) -> tuple[int, dict[str, str], bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        assert chunk, f"the server closed the connection without answering: {data!r}"
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, value in (line.split(":", 1) for line in lines[1:])}
    while len(body) < int(headers.get("content-length", 0)):
        chunk = connection.recv(65536)
        assert chunk, "the server closed the connection mid-answer"
        body += chunk
    return int(lines[0].split()[1]), headers, body


def post(path: str, body: bytes, content_type: str = "application/json", extra: str = "") -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: test\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
            f"{extra}Connection: close\r\n\r\n").encode() + body


def assert_answered_or_refused_in_one_line(status: int, content_type: str, body: bytes) -> None:
    assert status < 500, f"{status}: {body[:300]!r}"
    if status >= 400:
        assert content_type == "application/json", content_type
        assert body.count(b"\n") == 0, body
        error = json.loads(body)
        assert list(error) == ["error"] and isinstance(error["error"], str) and error["error"].strip(), error


def assert_still_serving_right(server, good_request) -> None:
    body, expected = good_request
    status, _, answer = raw(server.url, post(PREDICT, body))
    assert status == 200, answer
    np.testing.assert_allclose(np.array(json.loads(answer)["predictions"], np.float32), expected, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("mode", list(schemathesis.GenerationMode))
def test_generated_requests_get_an_answer_or_a_one_line_refusal_never_a_server_error(server, good_request, mode):
    # Each operation under hypothesis.given, here rather than via schemathesis's pytest loader: its
    # fixture-based loader (schemathesis.pytest.from_fixture) sets a node attribute pytest 9 no longer has.
    operations = [result.ok() for result in schemathesis.openapi.from_url(f"{server.url}/openapi.json").get_all_operations()]
    assert {(operation.method.upper(), operation.path) for operation in operations} >= {("POST", PREDICT), ("POST", "/predict")}
    for operation in operations:
        if mode == schemathesis.GenerationMode.NEGATIVE and operation.method.upper() != "POST":
            continue  # a GET without parameters has no invalid form

        @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
        @hypothesis.settings(max_examples=EXAMPLES[mode], deadline=None, database=None, phases=[hypothesis.Phase.generate],
                             suppress_health_check=list(hypothesis.HealthCheck))  # no shrinking: a failure prints its request as found
        def check(case):
            response = case.call(base_url=server.url, timeout=60)
            content_type = response.headers.get("content-type", [""])[0]
            assert_answered_or_refused_in_one_line(response.status_code, content_type, response.content)
            if case.path == PREDICT and mode == schemathesis.GenerationMode.POSITIVE:
                assert response.status_code == 200, response.text  # a body the schema allows is served
            if response.status_code >= 400:
                assert_still_serving_right(server, good_request)

        check()

def multipart(files: list[tuple[str, bytes]]) -> tuple[bytes, str]:
    boundary = "fuzz-boundary-7f3a"
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n'
             f"Content-Type: image/png\r\n\r\n".encode() + data + b"\r\n" for name, data in files]
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


HOSTILE = {
    "json-nested-100000-deep": (post(PREDICT, b"[" * 100_000 + b"]" * 100_000), 400, "JSON nested 100,000 levels deep; at most 8"),
    "png-declaring-20000x20000": (post("/predict", *multipart([("bomb.png", served_model.png_header_only(20_000, 20_000))])), 400,
                                  "bomb.png: image is 400,000,000 pixels; at most 16,777,216"),
    "a-thousand-files": (post("/predict", *multipart([(f"{index}.png", b"x") for index in range(1000)])), 400,
                         "multipart body refused: Too many files. Maximum number of files is 16."),
    "text-named-png": (post("/predict", *multipart([("digit.png", b"three")])), 400, "digit.png: not an image that can be read"),
    "json-with-a-multipart-type": (post(PREDICT, b"{}", "multipart/form-data; boundary=x"), 400, None),
    "declared-length-over-the-limit": (b"POST /predict HTTP/1.1\r\nHost: test\r\nContent-Length: 99999999999\r\n\r\n", 413,
                                       "request body is 99,999,999,999 bytes; the limit is 4,194,304 bytes"),
}


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_request_gets_a_one_line_4xx_and_the_server_answers_the_next_one_right(server, good_request, name):
    request, expected_status, message = HOSTILE[name]
    status, headers, body = raw(server.url, request)
    assert_answered_or_refused_in_one_line(status, headers.get("content-type", ""), body)
    assert status == expected_status, body
    if message is not None:
        assert json.loads(body)["error"].startswith(message), body
    assert_still_serving_right(server, good_request)


def test_a_body_that_never_ends_gets_413_once_it_passes_the_limit(server, good_request):
    host, port = server.url.removeprefix("http://").split(":")
    chunk = b"10000\r\n" + b"[" * 0x10000 + b"\r\n"  # 64 KiB chunks, for ever (bounded here at 64 MiB)
    with socket.create_connection((host, int(port)), timeout=60) as connection:
        connection.sendall(f"POST {PREDICT} HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n".encode())
        for _ in range(1024):
            readable, writable, _ = select.select([connection], [connection], [], 60)
            if readable:
                break
            try:
                connection.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
        status, headers, body = read_answer(connection)
    assert (status, json.loads(body)) == (413, {"error": "request body is over 4,194,304 bytes; the limit is 4,194,304 bytes "
                                                          "(send fewer or smaller images per request)"})
    assert_still_serving_right(server, good_request)


def test_a_client_stalled_mid_body_holds_up_no_one_and_is_answered_when_it_finishes(server, good_request):
    body, expected = good_request
    request = post(PREDICT, body)
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=60) as slow:
        slow.sendall(request[: len(request) // 2])
        assert_still_serving_right(server, good_request)  # while the slow one has sent half its body
        slow.sendall(request[len(request) // 2 :])
        status, _, answer = read_answer(slow)
    assert status == 200
    np.testing.assert_allclose(np.array(json.loads(answer)["predictions"], np.float32), expected, rtol=1e-5, atol=1e-7)
