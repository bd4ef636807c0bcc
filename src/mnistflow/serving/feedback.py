"""Collecting: `serve --collect DIR` saves the digits people confirm or correct, for the field set.

    collector = feedback.Collector("data/field", model_md5="...")        # serve.py makes it
    app = server.create_app(model, collector=collector)                  # adds POST /feedback, shows the control

`POST /feedback` takes multipart form data: `file`, the image the page sent to `/predict` (the
drawing as PNG, or the upload), and `label`, the digit the person says it is ("Right" sends the
model's own answer). The server prepares the image itself, as `/predict` does, asks the model again,
and writes one record (core/field_record.py) atomically under DIR, named by the prepared image's
hash: the request chooses no path, and the same digit saved twice is one file. It answers
`{"saved": "<name>", "new": true|false, "label": 7, "digit": 1, "probability": 0.93}`.

Refused with one line of JSON: a label that is not one digit 0-9 (400), a missing or extra form
field (400), a file name that looks like a path (400), a file over `max_file_bytes` (413), an
image that cannot be prepared (400), more than `files_per_minute` new files in the last minute (429).
Without --collect there is no route: 404, and the page shows no control.
"""
from __future__ import annotations

import collections
import dataclasses
import os
import pathlib
import re
import threading
import time
from collections.abc import Callable
from typing import Any

import fastapi
import numpy as np
import starlette.datastructures
import starlette.exceptions
import starlette.formparsers
from fastapi import responses

from mnistflow.core import arrays, atomic, field_record
from mnistflow.serving import payloads, predict

FIELDS = ("file", "label")
PATH_LIKE = re.compile(r"[/\\\x00]|^\.|\.\.")  # a separator, a NUL, a leading dot or '..' anywhere
COLLECT_MARK = (b"<body>", b'<body data-collect="on">')  # how the page learns to show its control (app.js)


@dataclasses.dataclass(frozen=True)
class CollectLimits:
    max_file_bytes: int = 256 * 1024  # a 280x280 drawing is ~5-15 KB as PNG; a photo should be scaled down first
    keep_raw_bytes: int = 64 * 1024  # the raw upload is kept in the record when it is at most this big
    files_per_minute: int = 60  # new files written in any 60 s, over all clients: a full disk takes a while

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{field.name} must be a positive integer; got {value!r}")


class Collector:
    """Writes records under `directory`; counts new files per minute (`clock`: seconds, monotonic)."""

    def __init__(self, directory: str | os.PathLike[str], *, model_md5: str | None, limits: CollectLimits | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.directory = pathlib.Path(directory)
        if self.directory.exists() and not self.directory.is_dir():
            raise ValueError(f"--collect {self.directory}: not a directory")
        self.directory.mkdir(parents=True, exist_ok=True)
        self.model_md5, self.limits, self._clock = model_md5, limits or CollectLimits(), clock
        self._written: collections.deque[float] = collections.deque()
        self._lock = threading.Lock()

    def check_rate(self) -> None:
        """RequestError 429 when `files_per_minute` new files were written in the last 60 s."""
        with self._lock:
            now = self._clock()
            while self._written and now - self._written[0] >= 60.0:
                self._written.popleft()
            if len(self._written) >= self.limits.files_per_minute:
                raise payloads.RequestError(
                    f"{self.limits.files_per_minute} digits were saved in the last minute, the most this server takes; try again in a minute",
                    status=429)

    def save(self, image: np.ndarray, *, label: int, answer: dict[str, Any], raw: bytes) -> tuple[str, bool]:
        """(file name, whether it is new); an image already saved is left as it is."""
        name = field_record.file_name(image)
        path = self.directory / name
        if path.exists():
            return name, False
        kept = raw if len(raw) <= self.limits.keep_raw_bytes else None
        atomic.write_text(path, field_record.dumps(image, label=label, answer=answer, model_md5=self.model_md5, raw=kept))
        with self._lock:
            self._written.append(self._clock())
        return name, True


def page_with_control(html: bytes) -> bytes:
    """The page, marked so that app.js shows the "Right / it is a ..." control."""
    if html.count(COLLECT_MARK[0]) != 1:
        raise ValueError("the page must have exactly one <body> tag to mark for collecting")
    return html.replace(*COLLECT_MARK)


def add_route(app: fastapi.FastAPI, *, collector: Collector, batcher: Any, unsure_threshold: float | None, max_pixels: int) -> None:
    """Register `POST /feedback` on `app`; `batcher.predict` runs the model."""

    @app.post("/feedback")
    async def feedback(request: fastapi.Request) -> responses.Response:
        label, name, data = await _read_form(request, collector.limits)
        collector.check_rate()
        try:
            image = payloads.prepare_upload(data, name, max_pixels=max_pixels)
        except ValueError as error:
            raise payloads.RequestError(f"{name}: {' '.join(str(error).split())}") from None
        probabilities = await batcher.predict(arrays.to_model_input(image[np.newaxis]))
        digit, probability, _, _ = predict.top_two(probabilities)
        answer = {"digit": int(digit[0]), "probability": round(float(probability[0]), 6),
                  "unsure": bool(predict.is_unsure(probabilities, unsure_threshold)[0])}
        saved, new = collector.save(image, label=label, answer=answer, raw=data)
        content = {"saved": saved, "new": new, "label": label, "digit": answer["digit"], "probability": answer["probability"]}
        return responses.JSONResponse(content)


async def _read_form(request: fastapi.Request, limits: CollectLimits) -> tuple[int, str, bytes]:
    """(label, file name, file bytes) from the multipart form, or RequestError."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise payloads.RequestError("expected multipart/form-data with the fields 'file' (the image) and 'label' (0-9)", status=415)
    try:
        form = await request.form(max_files=1, max_fields=len(FIELDS))
    except (starlette.formparsers.MultiPartException, starlette.exceptions.HTTPException) as error:
        detail = getattr(error, "message", None) or getattr(error, "detail", "")
        raise payloads.RequestError(f"multipart body refused: {detail}") from None
    try:
        unknown = sorted(set(form.keys()) - set(FIELDS))
        if unknown:
            raise payloads.RequestError(f"unknown form field {unknown[0]!r}; send only 'file' (the image) and 'label' (0-9)")
        label = form.get("label")
        if not isinstance(label, str) or not re.fullmatch(r"[0-9]", label):
            shown = "a file" if isinstance(label, starlette.datastructures.UploadFile) else repr(label)[:40]
            raise payloads.RequestError(f"label must be one digit 0-9; got {shown}")
        upload = form.get("file")
        if not isinstance(upload, starlette.datastructures.UploadFile):
            raise payloads.RequestError("no image: send it as the multipart file field 'file'")
        name = upload.filename or "file"
        if PATH_LIKE.search(name) or len(name) > 200:
            raise payloads.RequestError(f"file name {name[:60]!r} looks like a path; send a plain name such as drawing.png")
        data = await upload.read(limits.max_file_bytes + 1)
        if len(data) > limits.max_file_bytes:
            raise payloads.RequestError(f"{name}: over {limits.max_file_bytes:,} bytes, the most a saved digit may be (scale it down)", status=413)
    finally:
        await form.close()
    return int(label), name, data
