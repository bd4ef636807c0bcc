"""`POST /feedback` in-process (FastAPI's TestClient) on the small real model exported to ONNX.

A labelled digit becomes one record under the collect folder, named by its image; bad labels,
oversized files, path-like names and extra fields are refused with one line of JSON; a server made
without a collector has no such endpoint and its page no control.
"""
from __future__ import annotations

import io

import numpy as np
import pytest
import served_model
from PIL import Image

import real_mnist
from mnistflow.core import field_record
from mnistflow.serving import batching, feedback, runtime, server

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient` is deprecated"),
]


class Clock:
    """A clock the test moves by hand: the rate limit without waiting."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def classifier():
    return runtime.load(served_model.onnx_file())


def make_client(classifier, collector):
    from fastapi.testclient import TestClient

    app = server.create_app(classifier, batching_config=batching.BatchingConfig(max_wait_ms=1), collector=collector)
    return TestClient(app)


def png_of(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(255 - image).resize((140, 140)).save(buffer, format="PNG")  # dark ink on white, as drawn
    return buffer.getvalue()


@pytest.fixture(scope="module")
def digits():
    data = real_mnist.arrays()
    return data["test_images"][:4], data["test_labels"][:4]


def test_feedback_saves_one_record_named_by_the_prepared_image_and_stores_a_duplicate_once(classifier, digits, tmp_path):
    images, labels = digits
    collector = feedback.Collector(tmp_path / "field", model_md5="0" * 32)
    data = png_of(images[0])
    with make_client(classifier, collector) as client:
        first = client.post("/feedback", data={"label": str(labels[0])}, files={"file": ("drawing.png", data, "image/png")})
        again = client.post("/feedback", data={"label": str(labels[0])}, files={"file": ("drawing.png", data, "image/png")})
    assert first.status_code == 200, first.text
    answer = first.json()
    assert answer["new"] is True and again.json() == {**answer, "new": False}
    files = sorted((tmp_path / "field").iterdir())
    assert [path.name for path in files] == [answer["saved"]]
    image, label = field_record.loads(files[0].read_text(), source=str(files[0]))
    assert label == labels[0] and answer["saved"] == field_record.file_name(image)
    record = __import__("json").loads(files[0].read_text())
    assert record["model_md5"] == "0" * 32 and record["raw"] is not None
    assert record["answer"]["digit"] == answer["digit"] == int(np.argmax(classifier.predict(image[np.newaxis])[0]))


@pytest.mark.parametrize(("data", "files", "status", "message"), [
    ({"label": "12"}, {"file": ("d.png", b"PNG", "image/png")}, 400, "label must be one digit 0-9; got '12'"),
    ({"label": "x"}, {"file": ("d.png", b"PNG", "image/png")}, 400, "label must be one digit 0-9; got 'x'"),
    ({}, {"file": ("d.png", b"PNG", "image/png")}, 400, "label must be one digit 0-9; got None"),
    ({"label": "3"}, {"file": ("../../etc/d.png", b"PNG", "image/png")}, 400,
     "file name '../../etc/d.png' looks like a path; send a plain name such as drawing.png"),
    ({"label": "3", "path": "x.json"}, {"file": ("d.png", b"PNG", "image/png")}, 400,
     "unknown form field 'path'; send only 'file' (the image) and 'label' (0-9)"),
    ({"label": "3"}, {"file": ("big.png", b"0" * (256 * 1024 + 1), "image/png")}, 413,
     "big.png: over 262,144 bytes, the most a saved digit may be (scale it down)"),
    ({"label": "3"}, {"file": ("notes.txt", b"not an image", "text/plain")}, 400,
     "notes.txt: not an image that can be read (cannot identify image file 'notes.txt')"),
    ({"label": "3"}, None, 400, "no image: send it as the multipart file field 'file'"),
])
def test_feedback_refuses_a_bad_request_in_one_line_and_writes_nothing(classifier, tmp_path, data, files, status, message):
    collector = feedback.Collector(tmp_path / "field", model_md5=None)
    with make_client(classifier, collector) as client:
        if files is None:  # multipart with no file part
            response = client.post("/feedback", files={"label": (None, "3")})
        else:
            response = client.post("/feedback", data=data, files=files)
    assert response.status_code == status
    assert response.json() == {"error": message}
    assert list((tmp_path / "field").iterdir()) == []


def test_feedback_refuses_more_new_files_per_minute_than_the_limit_then_takes_them_a_minute_later(classifier, digits, tmp_path):
    images, labels = digits
    clock = Clock()
    collector = feedback.Collector(tmp_path / "field", model_md5=None, limits=feedback.CollectLimits(files_per_minute=2), clock=clock)
    with make_client(classifier, collector) as client:
        def send(index: int):
            return client.post("/feedback", data={"label": str(labels[index])}, files={"file": ("d.png", png_of(images[index]), "image/png")})

        assert [send(0).status_code, send(1).status_code] == [200, 200]
        refused = send(2)
        clock.now = 60.0
        later = send(2)
    assert refused.status_code == 429
    assert refused.json() == {"error": "2 digits were saved in the last minute, the most this server takes; try again in a minute"}
    assert later.status_code == 200 and len(list((tmp_path / "field").iterdir())) == 3


def test_without_a_collector_feedback_is_404_and_the_page_has_no_control(classifier):
    with make_client(classifier, None) as client:
        response = client.post("/feedback", data={"label": "3"}, files={"file": ("d.png", b"PNG", "image/png")})
        page = client.get("/").text
    assert response.status_code == 404 and response.json() == {"error": "no such endpoint: POST /feedback"}
    assert "<body>" in page and 'data-collect="on"' not in page


def test_with_a_collector_the_page_is_marked_to_show_the_control(classifier, tmp_path):
    with make_client(classifier, feedback.Collector(tmp_path, model_md5=None)) as client:
        page = client.get("/").text
    assert '<body data-collect="on">' in page and 'id="feedback"' in page


def test_collect_into_a_file_is_refused_in_one_line(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match=r"--collect .*file: not a directory"):
        feedback.Collector(tmp_path / "file", model_md5=None)
