"""The HTTP server: TensorFlow Serving's REST predict API, an upload endpoint and a draw-a-digit page.

    app = server.create_app(runtime.load("models/model.onnx"), model_info=model_info.describe(path))

`python -m mnistflow serve` (serving/serve.py) runs it on uvicorn; docs/serving.md says how to use it.

| endpoint | what |
| --- | --- |
| `POST /v1/models/mnist:predict` | TF Serving's request and answer (`payloads.parse_predict_body`) |
| `POST /predict` | multipart image files (`files`), prepared as the predict command prepares files |
| `GET /v1/models/mnist` | TF Serving's model status, plus the model's hash, git revision, test metrics and the batcher's counters |
| `GET /healthz` | `{"status": "ok"}` |
| `GET /openapi.json` | the API's OpenAPI schema (the fuzzing test generates its requests from it) |
| `GET /` | the page (`static/`): draw a digit, see the 28x28 the model saw and its top three |
| `POST /feedback` | only with a `collector` (`serve --collect DIR`): save a labelled digit (`feedback`) |

Every model call goes through one `batching.Batcher`, which admits a predict request before its
body is parsed or refuses it at once (503 with `Retry-After`) when its wait would pass the latency
budget, or the server is stopping. Every refusal is a 4xx or that 503, with one line of JSON,
`{"error": "..."}`, TF Serving's own error shape. Nothing reads a path from a request: the page's
files are read from the package once, at start.
"""
from __future__ import annotations

import contextlib
import dataclasses
import importlib.resources
import json
import logging
from collections.abc import AsyncIterator
from typing import Any, Protocol

import fastapi
import numpy as np
import starlette.datastructures
import starlette.exceptions
import starlette.formparsers
from fastapi import responses

from mnistflow.core import arrays
from mnistflow.serving import batching, feedback, openapi, payloads, predict

logger = logging.getLogger(__name__)

MODEL_NAME = "mnist"
TOP = 3  # digits the upload answer ranks (the page shows them)
STATIC_FILES = {"/": ("index.html", "text/html; charset=utf-8"), "/static/app.js": ("app.js", "text/javascript; charset=utf-8"),
                "/static/style.css": ("style.css", "text/css; charset=utf-8")}
# The page needs nothing from anywhere else; the browser refuses anything else it is asked to load.
PAGE_HEADERS = {"Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:", "X-Content-Type-Options": "nosniff"}


class Model(Protocol):
    unsure_threshold: float | None

    def predict(self, images: np.ndarray) -> np.ndarray: ...


@dataclasses.dataclass(frozen=True)
class Limits:
    max_instances: int = 256  # images per JSON request: ~0.8 MB of JSON, a few ms of model time
    max_json_depth: int = 8  # nesting of a JSON body, checked before parsing it; images need 4 to 6
    max_files: int = 16  # files per upload request
    max_body_bytes: int = 4 * 1024 * 1024  # any request body; larger ones get 413 before they are parsed
    max_image_pixels: int = 4096 * 4096  # decoded pixels per uploaded image, checked before decoding it

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{field.name} must be a positive integer; got {value!r}")


def create_app(model: Model, *, batching_config: batching.BatchingConfig | None = None, limits: Limits | None = None,
               model_info: dict[str, Any] | None = None, collector: feedback.Collector | None = None) -> fastapi.FastAPI:
    """The app around a loaded model: `model.predict(float32 (N, 28, 28, 1)) -> (N, 10)`, called in batches."""
    limits = limits or Limits()
    batcher = batching.Batcher(model.predict, batching_config)
    pages = {route: (_static_file(name), media_type) for route, (name, media_type) in STATIC_FILES.items()}

    @contextlib.asynccontextmanager
    async def lifespan(app: fastapi.FastAPI) -> AsyncIterator[None]:
        await batcher.start()
        try:
            yield
        finally:
            await batcher.stop()

    app = fastapi.FastAPI(title="mnistflow", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url="/openapi.json")
    app.state.batcher = batcher
    app.add_middleware(BodyLimit, max_bytes=limits.max_body_bytes)
    app.add_exception_handler(payloads.RequestError, _request_error)
    app.add_exception_handler(batching.Overloaded, _overloaded)
    app.add_exception_handler(starlette.exceptions.HTTPException, _http_error)

    @app.post(f"/v1/models/{MODEL_NAME}:predict", openapi_extra=openapi.predict(limits.max_instances))
    async def predict_instances(request: fastapi.Request) -> responses.Response:
        with batcher.admitted():
            images, key = payloads.parse_predict_body(await request.body(), max_instances=limits.max_instances,
                                                      max_depth=limits.max_json_depth)
            probabilities = await batcher.predict(images)
        return _json({key: probabilities.tolist()})

    @app.post("/predict", openapi_extra=openapi.upload(limits.max_files))
    async def predict_files(request: fastapi.Request) -> responses.Response:
        with batcher.admitted():
            names, images = await _uploaded_images(request, limits)
            probabilities = await batcher.predict(arrays.to_model_input(images))
        return _json({"predictions": _ranked(names, images, probabilities, model.unsure_threshold),
                      "unsure_threshold": model.unsure_threshold})

    @app.get(f"/v1/models/{MODEL_NAME}")
    async def model_status() -> responses.Response:
        return _json({
            "model_version_status": [{"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}],
            "model": {**(model_info or {}), "unsure_threshold": model.unsure_threshold},
            "batching": {**dataclasses.asdict(batcher.config), **batcher.stats.as_dict()},
            "limits": dataclasses.asdict(limits),
        })

    @app.get("/healthz")
    async def health() -> responses.Response:
        return _json({"status": "ok"})

    if collector is not None:  # POST /feedback and the page's control (serving/feedback.py); else both absent
        feedback.add_route(app, collector=collector, batcher=batcher, unsure_threshold=model.unsure_threshold,
                           max_pixels=limits.max_image_pixels)
        pages["/"] = (feedback.page_with_control(pages["/"][0]), pages["/"][1])
    for route, (content, media_type) in pages.items():
        app.add_api_route(route, _page(content, media_type), methods=["GET"], include_in_schema=False)
    return app


async def _uploaded_images(request: fastapi.Request, limits: Limits) -> tuple[list[str], np.ndarray]:
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise payloads.RequestError("expected multipart/form-data with one or more image files in the field 'files'", status=415)
    try:
        form = await request.form(max_files=limits.max_files, max_fields=limits.max_files)
    except starlette.formparsers.MultiPartException as error:
        raise payloads.RequestError(f"multipart body refused: {error.message}") from None
    except starlette.exceptions.HTTPException as error:  # what starlette turns a MultiPartException into inside an app
        raise payloads.RequestError(f"multipart body refused: {error.detail}", status=error.status_code) from None
    try:
        uploads = [value for value in form.getlist("files") if isinstance(value, starlette.datastructures.UploadFile)]
        if not uploads:
            raise payloads.RequestError("no image files: send one or more in the multipart field 'files'")
        names, images = [], []
        for index, upload in enumerate(uploads):
            name = (upload.filename or f"files[{index}]")[:200]
            try:
                images.append(payloads.prepare_upload(await upload.read(), name, max_pixels=limits.max_image_pixels))
            except ValueError as error:
                raise payloads.RequestError(f"{name}: {' '.join(str(error).split())}") from None
            names.append(name)
    finally:
        await form.close()
    return names, np.stack(images)


def _ranked(names: list[str], images: np.ndarray, probabilities: np.ndarray, threshold: float | None) -> list[dict[str, Any]]:
    """Per file, predict's fields (digit, probability, runner-up, unsure: predict.is_unsure), the top three, the 28x28 seen."""
    order = np.argsort(-probabilities, axis=1, kind="stable")  # ties go to the lower digit, as in predict.top_two
    unsure = predict.is_unsure(probabilities, threshold)
    answers = []
    for name, image, row, ranking, verdict in zip(names, images, probabilities, order, unsure):
        top = [{"digit": int(digit), "probability": round(float(row[digit]), 6)} for digit in ranking[:TOP]]
        answers.append({
            "file": name,
            "digit": top[0]["digit"], "probability": top[0]["probability"],
            "runner_up": top[1]["digit"], "runner_up_probability": top[1]["probability"],
            "unsure": bool(verdict),
            "top": top,
            "prepared": image.tolist(),
        })
    return answers


def _static_file(name: str) -> bytes:
    return importlib.resources.files("mnistflow.serving").joinpath("static", name).read_bytes()


def _page(content: bytes, media_type: str) -> Any:
    async def page() -> responses.Response:
        return responses.Response(content, media_type=media_type, headers=PAGE_HEADERS)

    return page


def _json(content: Any, status: int = 200) -> responses.Response:
    # json.dumps straight to bytes: FastAPI's jsonable_encoder walks every float of a batch first
    return responses.Response(json.dumps(content, separators=(",", ":")), status_code=status, media_type="application/json")


def _error(status: int, message: str) -> responses.Response:
    return _json({"error": " ".join(message.split())}, status)


async def _request_error(request: fastapi.Request, error: Exception) -> responses.Response:
    assert isinstance(error, payloads.RequestError)
    return _error(error.status, str(error))


async def _overloaded(request: fastapi.Request, error: Exception) -> responses.Response:
    assert isinstance(error, batching.Overloaded)
    response = _error(503, str(error))
    response.headers["Retry-After"] = str(error.retry_after)
    return response


async def _http_error(request: fastapi.Request, error: Exception) -> responses.Response:
    assert isinstance(error, starlette.exceptions.HTTPException)
    if error.status_code == 404:
        return _error(404, f"no such endpoint: {request.method} {request.url.path}")
    if error.status_code == 405:
        return _error(405, f"{request.method} is not allowed on {request.url.path}")
    return _error(error.status_code, str(error.detail))


class BodyLimit:
    """ASGI middleware: a request body over `max_bytes` gets 413 before the app reads any of it.

    It reads the whole body first (at most `max_bytes`), so the limit holds for a body sent in
    chunks without a Content-Length too; then it hands the app the body it read.
    """

    def __init__(self, app: Any, *, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send, f"{int(declared):,} bytes")
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(scope, receive, send, f"over {self.max_bytes:,} bytes")
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body, replayed = b"".join(chunks), False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: dict[str, Any], receive: Any, send: Any, size: str) -> None:
        message = f"request body is {size}; the limit is {self.max_bytes:,} bytes (send fewer or smaller images per request)"
        await _error(413, message)(scope, receive, send)
