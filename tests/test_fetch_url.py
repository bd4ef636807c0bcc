"""Source `url` against an HTTP server on 127.0.0.1 (a thread in the test) serving tiny IDX files."""
from __future__ import annotations

import dataclasses
import gzip
import hashlib
import http.server
import threading

import numpy as np
import pytest

from mnistflow.fetch import config, idx, run, url

TRAIN_IMAGES = (np.arange(2 * 784) % 251).astype(np.uint8).reshape(2, 28, 28)
TRAIN_LABELS = np.array([4, 9], dtype=np.uint8)
TEST_IMAGES = TRAIN_IMAGES[::-1].copy()
TEST_LABELS = np.array([1], dtype=np.uint8)
FILES = {
    "train-images-idx3-ubyte.gz": gzip.compress(idx.encode(TRAIN_IMAGES)),
    "train-labels-idx1-ubyte.gz": gzip.compress(idx.encode(TRAIN_LABELS)),
    "t10k-images-idx3-ubyte.gz": gzip.compress(idx.encode(TEST_IMAGES[:1])),
    "t10k-labels-idx1-ubyte.gz": gzip.compress(idx.encode(TEST_LABELS)),
}


class Server:
    """Serves `routes[path]`: bytes (200), an int (that HTTP status), or a list of those used in turn."""

    def __init__(self):
        self.routes, self.requests = {}, []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests.append(self.path)
                answer = server.routes.get(self.path, 404)
                if isinstance(answer, list):
                    answer = answer.pop(0) if len(answer) > 1 else answer[0]
                if isinstance(answer, int):
                    self.send_error(answer)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)

    def mirror(self, prefix, files=FILES):
        for name, content in files.items():
            self.routes[f"/{prefix}/{name}"] = content
        return f"{self.base}/{prefix}/"


@pytest.fixture
def server():
    running = Server()
    running.thread.start()
    yield running
    running.httpd.shutdown()
    running.httpd.server_close()


def url_params(*mirrors, **overrides):
    return config.UrlParams(mirrors=mirrors, md5=overrides.pop("md5", {}), timeout_s=5, attempts=overrides.pop("attempts", 2), backoff_s=0, **overrides)


def no_sleep(seconds):
    raise AssertionError(f"slept {seconds} s")


def test_url_load_falls_through_a_404_mirror_to_the_next(server, tmp_path):
    missing = f"{server.base}/gone/"
    good = server.mirror("good")

    loaded = url.load(tmp_path, url_params(missing, good), sleep=no_sleep)

    np.testing.assert_array_equal(loaded.train_images, TRAIN_IMAGES)
    assert loaded.train_labels.tolist() == [4, 9]
    np.testing.assert_array_equal(loaded.test_images, TEST_IMAGES[:1])
    assert loaded.test_labels.tolist() == [1]
    assert server.requests[:2] == ["/gone/train-images-idx3-ubyte.gz", "/good/train-images-idx3-ubyte.gz"]
    assert len(server.requests) == 8  # a 404 is not retried


def test_url_load_reuses_cached_files_without_any_request(server, tmp_path):
    params = url_params(server.mirror("good"))
    url.load(tmp_path, params, sleep=no_sleep)
    server.requests.clear()

    again = url.load(tmp_path, params, sleep=no_sleep)

    assert server.requests == []
    assert again.train_labels.tolist() == [4, 9]


def test_url_load_retries_a_server_error_on_the_same_mirror(server, tmp_path):
    mirror = server.mirror("flaky")
    server.routes["/flaky/train-labels-idx1-ubyte.gz"] = [503, FILES["train-labels-idx1-ubyte.gz"]]

    loaded = url.load(tmp_path, url_params(mirror), sleep=no_sleep)

    assert loaded.train_labels.tolist() == [4, 9]
    assert server.requests.count("/flaky/train-labels-idx1-ubyte.gz") == 2


def test_url_load_waits_with_exponential_backoff_between_attempts(server, tmp_path):
    mirror = server.mirror("down")
    server.routes["/down/train-images-idx3-ubyte.gz"] = 500
    waits = []
    with pytest.raises(ValueError):
        url.load(tmp_path, config.UrlParams(mirrors=(mirror,), md5={}, timeout_s=5, attempts=3, backoff_s=0.5), sleep=waits.append)
    assert waits == [0.5, 1.0]


def test_url_load_names_the_corrupt_file_and_skips_to_the_next_mirror(server, tmp_path):
    broken = server.mirror("broken")
    server.routes["/broken/t10k-labels-idx1-ubyte.gz"] = FILES["t10k-labels-idx1-ubyte.gz"][:-12]

    with pytest.raises(ValueError) as raised:
        url.load(tmp_path, url_params(broken), sleep=no_sleep)

    assert str(raised.value).startswith(
        f"url: could not get t10k-labels-idx1-ubyte.gz from any mirror (fetch.url.mirrors): {broken} "
        f"({broken}t10k-labels-idx1-ubyte.gz: not a complete gzip file ("
    )
    assert str(raised.value).endswith("); the download is corrupt or truncated)")
    assert not (tmp_path / "url" / "t10k-labels-idx1-ubyte.gz").exists()
    assert server.requests.count("/broken/t10k-labels-idx1-ubyte.gz") == 1  # a bad file is not retried


def test_url_load_reports_an_md5_mismatch_and_keeps_nothing(server, tmp_path):
    mirror = server.mirror("good")
    actual = hashlib.md5(FILES["train-images-idx3-ubyte.gz"]).hexdigest()
    params = url_params(mirror, md5={"train-images-idx3-ubyte.gz": "0" * 32})

    with pytest.raises(ValueError) as raised:
        url.load(tmp_path, params, sleep=no_sleep)

    assert str(raised.value) == (
        f"url: could not get train-images-idx3-ubyte.gz from any mirror (fetch.url.mirrors): {mirror} "
        f"(checksum mismatch: {mirror}train-images-idx3-ubyte.gz has md5 {actual}; expected {'0' * 32} "
        "(not kept; fix or drop fetch.url.md5.train-images-idx3-ubyte.gz))"
    )
    assert not (tmp_path / "url").exists()


def test_url_load_lists_every_mirror_and_its_failure_when_all_fail(server, tmp_path):
    refused = "http://127.0.0.1:1/mnist/"
    missing = f"{server.base}/gone/"
    server.routes["/down/train-images-idx3-ubyte.gz"] = 503
    down = f"{server.base}/down/"

    with pytest.raises(ValueError) as raised:
        url.load(tmp_path, url_params(refused, missing, down), sleep=no_sleep)

    message = str(raised.value)
    assert message.startswith("url: could not get train-images-idx3-ubyte.gz from any mirror (fetch.url.mirrors): ")
    failures = message.split("(fetch.url.mirrors): ", 1)[1].split("; ")
    assert failures[0].startswith(f"{refused} (") and failures[0].endswith("Connection refused, 2 attempts)")
    assert failures[1] == f"{missing} (HTTP 404 Not Found)"
    assert failures[2] == f"{down} (HTTP 503 Service Unavailable, 2 attempts)"
    assert "\n" not in message


def test_url_load_rejects_images_and_labels_of_different_lengths(server, tmp_path):
    mirror = server.mirror("odd", {**FILES, "train-labels-idx1-ubyte.gz": gzip.compress(idx.encode(TRAIN_LABELS[:1]))})
    with pytest.raises(ValueError, match=r"^url: train has 2 images but 1 labels; the mirror's files do not belong together$"):
        url.load(tmp_path, url_params(mirror), sleep=no_sleep)


@pytest.mark.parametrize(
    ("raw", "ndim", "message"),
    [
        (b"\0\0\x08\x03" + b"\0\0\0\x01\0\0\0\x02\0\0\0\x02" + b"\x01\x02\x03", 3, r"^f: 3 data bytes; the header's shape \(1, 2, 2\) needs 4$"),
        (b"\0\0\x08\x01" + b"\0\0\0\x02" + b"\x01\x02\x03", 1, r"^f: 3 data bytes; the header's shape \(2,\) needs 2$"),
        (b"\0\0\x08\x01" + b"\0\0\0\x01" + b"\x07", 3, r"^f: magic number 00000801; expected 00000803 \(IDX, unsigned bytes, 3 dimensions\)$"),
        (b"\0\0\x0d\x01" + b"\0\0\0\x01" + b"\x07", 1, r"^f: magic number 00000d01; expected 00000801"),
        (b"\0\0\x08", 1, r"^f: 3 bytes is too short for an IDX header of 1 dimensions \(8 bytes\)$"),
    ],
)
def test_idx_parse_rejects_malformed_files(raw, ndim, message):
    with pytest.raises(ValueError, match=message):
        idx.parse(raw, ndim=ndim, source="f")


def test_idx_parse_gz_rejects_a_file_that_is_not_gzip():
    with pytest.raises(ValueError, match=r"^f: not a complete gzip file \(.*\); the download is corrupt or truncated$"):
        idx.parse_gz(b"<html>not found</html>", ndim=1, source="f")


def test_idx_parse_reads_what_encode_wrote():
    np.testing.assert_array_equal(idx.parse(idx.encode(TRAIN_IMAGES), ndim=3, source="f"), TRAIN_IMAGES)


def test_run_load_needs_canonical_skip_for_a_mirror_of_a_subset(server, tmp_path):
    params = config.FetchParams(source="url", cache_dir=str(tmp_path), url=url_params(server.mirror("good")))
    with pytest.raises(ValueError, match=r"^url mirrors: got 2 train \+ 1 test images; expected the full 60000 \+ 10000 "
                                         r"\(set fetch\.canonical: skip to accept a subset\)$"):
        run.load(params)

    loaded = run.load(dataclasses.replace(params, canonical="skip"))

    assert loaded.test_labels.tolist() == [1]
