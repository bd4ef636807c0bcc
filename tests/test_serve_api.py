"""The HTTP API in-process (FastAPI's TestClient) on a small real model exported to ONNX.

Every endpoint, and every bad input: each refused with a 4xx and one line of JSON naming what was
wrong, after which the server still answers. One TensorFlow import and a ~5 s training run per
session (tests/real_mnist.py); the server itself runs the ONNX file on onnxruntime.
"""
from __future__ import annotations

import dataclasses
import io
import json
import re
import subprocess

import numpy as np
import pytest
import served_model
from PIL import Image

import real_mnist
from mnistflow import __main__ as command
from mnistflow.serving import batching, model_info, runtime, server

pytestmark = [
    pytest.mark.slow,
    # starlette's TestClient asks for httpx2; the pinned httpx 0.28.1 works (requirements-test.txt)
    pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient` is deprecated"),
]


@pytest.fixture(scope="module")
def mnist():
    return real_mnist.arrays()


@pytest.fixture(scope="module")
def classifier():
    return runtime.load(served_model.onnx_file())


@pytest.fixture(scope="module")
def client(classifier):
    from fastapi.testclient import TestClient

    app = server.create_app(classifier, batching_config=batching.BatchingConfig(max_wait_ms=1), model_info={"file": "model.onnx"})
    with TestClient(app) as test_client:
        yield test_client


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def as_a_person_would_write_it(image: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """Larger, dark ink on white paper, off-centre on a padded page."""
    side = int(rng.integers(40, 100))
    digit = Image.fromarray(255 - image).resize((side, side), Image.Resampling.BICUBIC)
    page = Image.new("L", (side + int(rng.integers(20, 80)), side + int(rng.integers(20, 80))), 255)
    page.paste(digit, (int(rng.integers(0, page.width - side + 1)), int(rng.integers(0, page.height - side + 1))))
    return page


def test_tf_serving_row_format_answers_the_model_s_probabilities_for_each_instance(client, classifier, mnist):
    images, labels = mnist["test_images"][:64], mnist["test_labels"][:64]
    response = client.post("/v1/models/mnist:predict", json={"instances": images.tolist()})
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    predictions = np.array(response.json()["predictions"], dtype=np.float32)
    assert predictions.shape == (64, 10)
    np.testing.assert_allclose(predictions, classifier.predict(images), rtol=1e-5, atol=1e-7)
    assert (predictions.argmax(axis=1) == labels).mean() >= 0.9  # the model really reads digits


@pytest.mark.parametrize(
    "body",
    [
        lambda images: {"signature_name": "serving_default", "instances": [{"images": image} for image in images]},
        lambda images: {"inputs": images},
        lambda images: {"inputs": {"images": images}},
        lambda images: {"signature_name": "serve_float", "instances": [[[[value] for value in row] for row in image] for image in images]},
    ],
    ids=["named-row", "columnar", "named-columnar", "serve_float"],
)
def test_tf_serving_named_columnar_and_float_forms_give_the_same_answers(client, classifier, mnist, body):
    images = mnist["test_images"][:3]
    response = client.post("/v1/models/mnist:predict", json=body(images.tolist()))
    assert response.status_code == 200, response.text
    answer = response.json()
    key = "outputs" if "inputs" in body([]) else "predictions"
    assert list(answer) == [key]
    np.testing.assert_allclose(np.array(answer[key], np.float32), classifier.predict(images), rtol=1e-5, atol=1e-7)


def test_upload_answers_as_the_predict_command_does_for_the_same_files(client, mnist, tmp_path, capsys):
    rng = np.random.default_rng(14)
    files = []
    for index in range(12):
        data = png(as_a_person_would_write_it(mnist["test_images"][index], rng))
        (tmp_path / f"{index:02d}.png").write_bytes(data)
        files.append(("files", (f"{index:02d}.png", data, "image/png")))
    response = client.post("/predict", files=files)
    assert response.status_code == 200, response.text
    answers = response.json()["predictions"]
    paths = [str(tmp_path / f"{index:02d}.png") for index in range(12)]
    assert command.main(["predict", *paths, "--model", str(served_model.onnx_file()), "--format", "json",
                         "--save-prepared", str(tmp_path / "prepared")]) == 0
    expected = json.loads(capsys.readouterr().out)
    assert [a["file"] for a in answers] == [f"{index:02d}.png" for index in range(12)]
    fields = ("digit", "probability", "runner_up", "runner_up_probability", "unsure")
    assert [{key: a[key] for key in fields} for a in answers] == [{key: e[key] for key in fields} for e in expected]
    for index, answer in enumerate(answers):
        saved = np.asarray(Image.open(sorted((tmp_path / "prepared").iterdir())[index]))
        np.testing.assert_array_equal(np.array(answer["prepared"], np.uint8), saved)  # the very image predict saw
        assert [t["digit"] for t in answer["top"][:2]] == [answer["digit"], answer["runner_up"]] and len(answer["top"]) == 3
    assert response.json()["unsure_threshold"] == served_model.UNSURE_THRESHOLD


def test_upload_calls_nothing_unsure_when_the_model_has_no_threshold_as_predict_does(classifier):
    from fastapi.testclient import TestClient

    no_threshold = runtime.load(classifier.path)
    no_threshold.unsure_threshold = None
    noise = np.random.default_rng(0).integers(0, 256, (28, 28), dtype=np.uint8)  # not a digit: a low top probability
    with TestClient(server.create_app(no_threshold)) as client:
        response = client.post("/predict", files={"files": ("noise.png", png(Image.fromarray(noise)), "image/png")})
    assert response.status_code == 200
    assert response.json()["predictions"][0]["unsure"] is False and response.json()["unsure_threshold"] is None


def test_upload_calls_an_answer_below_the_threshold_unsure(classifier):
    from fastapi.testclient import TestClient

    strict = runtime.load(classifier.path)
    strict.unsure_threshold = 1.01  # above any probability: every answer is unsure
    with TestClient(server.create_app(strict)) as client:
        response = client.post("/predict", files={"files": ("d.png", png(Image.fromarray(np.eye(28, dtype=np.uint8) * 255)), "image/png")})
    assert response.json()["predictions"][0]["unsure"] is True and response.json()["unsure_threshold"] == 1.01


def test_model_status_reports_tf_serving_state_the_model_and_the_batcher_s_counters(client):
    before = client.get("/v1/models/mnist").json()["batching"]
    assert client.post("/v1/models/mnist:predict", json={"instances": np.zeros((3, 28, 28), int).tolist()}).status_code == 200
    status = client.get("/v1/models/mnist").json()
    assert status["model_version_status"] == [{"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]
    assert status["model"] == {"file": "model.onnx", "unsure_threshold": served_model.UNSURE_THRESHOLD}
    after = status["batching"]
    assert (after["requests"] - before["requests"], after["images"] - before["images"], after["batches"] - before["batches"]) == (1, 3, 1)
    assert {after["max_batch_size"], after["max_wait_ms"]} == {64, 1}
    assert status["limits"]["max_instances"] == 256


def test_model_info_gives_the_dvc_lock_hash_git_revision_and_test_metrics_of_the_model_s_project(tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "model.onnx").write_bytes(b"onnx bytes")
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    (tmp_path / "dvc.lock").write_text(
        "schema: '2.0'\nstages:\n  export:\n    cmd: python stages/export.py\n    outs:\n"
        "    - path: models/model.onnx\n      hash: md5\n      md5: 0123456789abcdef0123456789abcdef\n      size: 10\n"
    )
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "evaluate.json").write_text('{"test": {"accuracy": 0.99}}')
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "x"], cwd=tmp_path, check=True)
    revision = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, check=True, capture_output=True, text=True).stdout.strip()
    assert model_info.describe(tmp_path / "models" / "model.onnx") == {
        "file": "model.onnx",
        "path": "models/model.onnx",
        "md5": "80c8830fc02965a11849488fe75d80bb",  # md5 of b"onnx bytes"
        "dvc_lock_md5": "0123456789abcdef0123456789abcdef",
        "git_revision": revision,
        "metrics": {"test": {"accuracy": 0.99}},
    }


def test_model_info_outside_a_project_has_only_the_file_s_own_hash(tmp_path):
    (tmp_path / "model.onnx").write_bytes(b"onnx bytes")
    info = model_info.describe(tmp_path / "model.onnx")
    assert info == {"file": "model.onnx", "path": str(tmp_path / "model.onnx"), "md5": "80c8830fc02965a11849488fe75d80bb",
                    "dvc_lock_md5": None, "git_revision": None, "metrics": None}


def test_healthz_and_the_page_with_its_own_script_and_style_only(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    assert '<canvas id="pad"' in page.text and '<canvas id="preview" width="28" height="28"' in page.text
    assert "http://" not in page.text and "https://" not in page.text  # no CDN, no external asset
    assert client.get("/static/app.js").headers["content-type"] == "text/javascript; charset=utf-8"
    assert "fetch(\"/predict\"" in client.get("/static/app.js").text
    assert client.get("/static/style.css").status_code == 200


def image_28(value: int = 0) -> list[list[int]]:
    return np.full((28, 28), value, dtype=int).tolist()


def bad_value() -> list[list[int]]:
    image = image_28()
    image[3][5] = 256
    return image


BAD_JSON = [
    (b"", 'request body is empty; expected JSON such as {"instances": [<28x28 pixel array>, ...]}'),
    (b'{"instances": [', "malformed JSON: Expecting value at line 1 column 16"),
    (b"{\xc3\x28}", "request body is not UTF-8 text; expected JSON"),
    (b"[1, 2]", 'expected a JSON object such as {"instances": [...]}; got a JSON array'),
    (json.dumps({"instances": [image_28()], "extra": 1}).encode(), "unknown key 'extra' in the request; expected signature_name, instances, inputs"),
    (json.dumps({"signature_name": "predict", "instances": []}).encode(), "signature_name must be one of serving_default, serve_float; got 'predict'"),
    (json.dumps({"signature_name": {"a": 1}, "instances": []}).encode(), "signature_name must be one of serving_default, serve_float; got {'a': 1}"),
    (json.dumps({"instances": [image_28()], "inputs": [image_28()]}).encode(), 'send exactly one of "instances" (row format) or "inputs" (columnar format)'),
    (json.dumps({"instances": "pixels"}).encode(), "instances must be a list of images; got a JSON string"),
    (json.dumps({"instances": []}).encode(), "instances is empty; send at least one 28x28 image"),
    (json.dumps({"instances": [image_28(), image_28()[:27]]}).encode(), "instances[1] has shape 27x28; signature serving_default takes 28x28 images"),
    (json.dumps({"instances": [image_28(), [row[:27] if i == 4 else row for i, row in enumerate(image_28())]]}).encode(),
     "instances[1] is not a 28x28 array: its rows have different lengths"),
    (json.dumps({"instances": [[0] * 784]}).encode(), "instances[0] has shape 784; signature serving_default takes 28x28 images"),
    (json.dumps({"signature_name": "serve_float", "instances": [image_28()]}).encode(),
     "instances[0] has shape 28x28; signature serve_float takes 28x28x1 images"),
    (json.dumps({"instances": [[["0"] * 28] * 28]}).encode(), "instances[0] holds strings; pixel values must be numbers 0-255"),
    (json.dumps({"instances": [image_28(), bad_value()]}).encode(), "instances[1] has value 256 at [3, 5]; pixel values must be 0-255"),
    (json.dumps({"instances": [image_28(-1)]}).encode(), "instances[0] has value -1 at [0, 0]; pixel values must be 0-255"),
    (b'{"instances": [' + json.dumps(image_28()).replace("0", "NaN", 1).encode() + b"]}", "instances[0] has value nan at [0, 0]; pixel values must be 0-255"),
    (json.dumps({"instances": [np.full((28, 28), 0.5).tolist()]}).encode(),
     ("instances[0] has value 0.5 at [0, 0]; signature serving_default takes whole numbers 0-255 (uint8): "
     "round them, or send signature_name serve_float with 28x28x1 images")),
    (json.dumps({"instances": [{"pixels": image_28()}]}).encode(), "instances[0] has inputs ['pixels']; this model's only input is 'images'"),
    (json.dumps({"instances": [{"images": image_28()}, image_28()]}).encode(), 'instances mixes {"images": ...} objects and bare arrays; use one form for all'),
    (json.dumps({"inputs": {"x": []}}).encode(), "inputs has ['x']; this model's only input is 'images'"),
    (json.dumps({"instances": [image_28()] * 257}).encode(), "too many instances: 257; at most 256 per request (split them over several requests)"),
    (b"[" * 100_000 + b"]" * 100_000, "JSON nested 100,000 levels deep; at most 8 are accepted (a request of 28x28 images needs 4 to 6)"),
    (b'{"instances": [[[[[[[[[0]]]]]]]]], "x": "]]]]"}', "JSON nested 10 levels deep; at most 8 are accepted (a request of 28x28 images needs 4 to 6)"),
]


@pytest.mark.parametrize(("body", "message"), BAD_JSON, ids=[message[:40] for _, message in BAD_JSON])
def test_predict_refuses_a_bad_json_body_with_one_line_naming_the_problem(client, body, message):
    response = client.post("/v1/models/mnist:predict", content=body, headers={"content-type": "application/json"})
    assert (response.status_code, response.json()) == (400, {"error": message})
    assert response.text.count("\n") == 0
    assert client.post("/v1/models/mnist:predict", json={"instances": [image_28()]}).status_code == 200  # still serving


def test_a_body_over_the_size_limit_is_refused_with_413_whether_or_not_it_declares_its_length(client):
    limit = server.Limits().max_body_bytes
    declared = client.post("/v1/models/mnist:predict", content=b" " * (limit + 1))
    assert (declared.status_code, declared.json()) == (413, {"error": f"request body is {limit + 1:,} bytes; the limit is {limit:,} bytes "
                                                                      "(send fewer or smaller images per request)"})
    chunked = client.post("/predict", content=(b" " * 65536 for _ in range(limit // 65536 + 1)))  # no Content-Length
    assert (chunked.status_code, chunked.json()["error"]) == (413, (f"request body is over {limit:,} bytes; the limit is {limit:,} bytes "
                                                                  "(send fewer or smaller images per request)"))
    assert client.get("/healthz").status_code == 200


def huge_png() -> bytes:
    return png(Image.new("L", (5000, 4000), 255))  # 20 million pixels in ~20 KB


BAD_UPLOADS = [
    ([("files", ("notes.txt", b"not an image", "text/plain"))], 400, "notes.txt: not an image that can be read (cannot identify image file 'notes.txt')"),
    ([("files", ("blank.png", png(Image.new("L", (60, 60), 255)), "image/png"))], 400,
     "blank.png: no ink found: the strongest stroke is 0 grey levels from the background (grey level 255); need at least 32 (is the image blank?)"),
    ([("files", ("cut.png", png(Image.new("L", (60, 60), 255))[:40], "image/png"))], 400, None),
    ([("files", ("huge.png", huge_png(), "image/png"))], 400, "huge.png: image is 5000x4000 pixels; at most 16,777,216 pixels are accepted (scale it down)"),
    ([("files", ("bomb.png", served_model.png_header_only(20_000, 20_000), "image/png"))], 400,
     "bomb.png: image is 400,000,000 pixels; at most 16,777,216 pixels are accepted (scale it down)"),
    ([("files", ("notes.png", b"my shopping list", "image/png"))], 400, "notes.png: not an image that can be read (cannot identify image file 'notes.png')"),
    ([("other", ("a.png", b"x", "image/png"))], 400, "no image files: send one or more in the multipart field 'files'"),
    ([("files", (f"{i}.png", b"x", "image/png")) for i in range(17)], 400, "multipart body refused: Too many files. Maximum number of files is 16."),
]


@pytest.mark.parametrize(("files", "status", "message"), BAD_UPLOADS,
                         ids=["not-an-image", "blank", "truncated", "huge", "bomb", "text-named-png", "no-files-field", "too-many-files"])
def test_upload_refuses_a_file_it_cannot_use_naming_the_file_and_the_problem(client, files, status, message):
    response = client.post("/predict", files=files)
    assert response.status_code == status
    error = response.json()["error"]
    if message is None:
        assert error.startswith(("cut.png: unreadable image data (", "cut.png: not an image that can be read (")), error
    else:
        assert error == message
    assert client.get("/healthz").status_code == 200


def test_upload_reads_a_16_bit_and_an_animated_image_as_their_8_bit_first_frame(client, mnist):
    digit = mnist["test_images"][0]
    still, deep, animated = io.BytesIO(), io.BytesIO(), io.BytesIO()
    Image.fromarray(digit).save(still, format="PNG")
    Image.fromarray(digit.astype(np.uint16) * 257).save(deep, format="PNG")  # mode I;16
    frames = [Image.fromarray(digit), Image.fromarray(255 - digit), Image.new("L", (28, 28), 0)]
    frames[0].save(animated, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    files = [("files", (name, data.getvalue(), "image/png")) for name, data in [("still.png", still), ("deep.png", deep), ("moving.gif", animated)]]
    response = client.post("/predict", files=files)
    assert response.status_code == 200, response.text
    answers = response.json()["predictions"]
    assert answers[1]["prepared"] == answers[0]["prepared"] == answers[2]["prepared"]
    assert answers[1]["digit"] == answers[2]["digit"] == answers[0]["digit"] == mnist["test_labels"][0]


def test_a_stopping_server_refuses_predict_requests_with_503_and_retry_after(classifier):
    from fastapi.testclient import TestClient

    with TestClient(server.create_app(classifier)) as client:
        client.app.state.batcher.drain()
        response = client.post("/v1/models/mnist:predict", json={"instances": [image_28()]})
        assert (response.status_code, response.headers["retry-after"]) == (503, "1")
        assert response.json() == {"error": "the server is shutting down; retry on another replica or after it restarts"}
        assert client.get("/healthz").status_code == 200


def test_upload_refuses_a_body_that_is_not_multipart(client):
    response = client.post("/predict", json={"instances": []})
    assert (response.status_code, response.json()) == (415, {"error": "expected multipart/form-data with one or more image files in the field 'files'"})


def test_unknown_endpoints_and_methods_get_one_line_json_errors(client):
    assert (client.get("/v1/models/other").status_code, client.get("/v1/models/other").json()) == (404, {"error": "no such endpoint: GET /v1/models/other"})
    response = client.get("/v1/models/mnist:predict")
    assert (response.status_code, response.json()) == (405, {"error": "GET is not allowed on /v1/models/mnist:predict"})


def test_serving_docs_list_every_limit_with_its_default():
    text = (served_model.ROOT / "docs" / "serving.md").read_text()
    documented = dict(re.findall(r"^\| `(\w+)` \| (\d+) \|", text, flags=re.MULTILINE))
    assert documented == {field.name: str(field.default) for field in dataclasses.fields(server.Limits)}


def test_serve_without_a_model_says_how_to_get_one_in_one_line(tmp_path, capsys):
    missing = tmp_path / "models" / "model.onnx"
    assert command.main(["serve", "--model", str(missing)]) == 1
    assert capsys.readouterr().err == (
        f"error: {missing}: no such model file; make it with `dvc repro export`, or fetch it with "
        f"`dvc pull {missing}` (or `dvc artifacts get`), or pass --model PATH\n"
    )


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--max-batch-size", "0"], "error: max_batch_size must be a positive integer; got 0\n"),
        (["--max-wait-ms", "-5"], "error: max_wait_ms must be a number of milliseconds from 0 to 60000; got -5.0\n"),
        (["--port", "70000"], "error: --port must be 0-65535; got 70000\n"),
    ],
)
def test_serve_refuses_bad_settings_before_loading_anything(flags, message, capsys):
    assert command.main(["serve", "--model", str(served_model.onnx_file()), *flags]) == 1
    assert capsys.readouterr().err == message
