"""What the server accepts: TensorFlow Serving's REST predict body, and uploaded image files.

`parse_predict_body(body, max_instances=..., max_depth=...)` reads a `POST /v1/models/mnist:predict` body the way
TF Serving does for the exported SavedModel (`serving.export`), into float32 (N, 28, 28, 1) raw
0-255 pixels, and says whether the answer goes back as rows (`predictions`) or columns
(`outputs`). Supported:

| request | each image | answer |
| --- | --- | --- |
| `{"instances": [img, ...]}` (row format) | 28x28 nested list, or `{"images": 28x28}` | `{"predictions": [[10 probabilities], ...]}` |
| `{"inputs": [img, ...]}` or `{"inputs": {"images": [...]}}` (columnar) | 28x28 nested list | `{"outputs": [[10 probabilities], ...]}` |

`signature_name` may be absent or `serving_default` (whole numbers 0-255, the SavedModel's uint8
input) or `serve_float` (any number 0-255, shape 28x28x1, its float input). Anything else is a
`RequestError` whose one-line message names what was wrong, and where (`instances[3]`). A body
nested deeper than `max_depth` is refused before it is parsed (Python's JSON reader recurses, and
`[[[[...]]]]` 100,000 deep would otherwise raise RecursionError).

`prepare_upload(data, name, max_pixels=...)` prepares one uploaded file exactly as the predict command
prepares a file on disk (`predict_inputs.prepare_image`), after refusing an image whose pixel
count would make decoding it expensive (a small PNG can declare a huge canvas).
"""
from __future__ import annotations

import io
import json
import re
from typing import Any

import numpy as np
from PIL import Image

from mnistflow.core import arrays
from mnistflow.serving import predict_inputs

SIGNATURES = {"serving_default": (arrays.SIDE, arrays.SIDE), "serve_float": (arrays.SIDE, arrays.SIDE, 1)}
INPUT_NAME = "images"  # the SavedModel's input name, used by TF Serving's named-input forms
KEYS = ("signature_name", "instances", "inputs")
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')  # a JSON string, escapes included: brackets in it do not nest
_BRACKETS = bytes(range(256)).translate(None, b"[]{}")  # every byte but brackets, to delete


class RequestError(ValueError):
    """A request the server refuses; `status` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def parse_predict_body(body: bytes, *, max_instances: int, max_depth: int) -> tuple[np.ndarray, str]:
    """(float32 (N, 28, 28, 1) raw 0-255 pixels, 'predictions' or 'outputs'), or RequestError."""
    if not body.strip():
        raise RequestError('request body is empty; expected JSON such as {"instances": [<28x28 pixel array>, ...]}')
    depth = nesting_depth(body)
    if depth > max_depth:
        raise RequestError(f"JSON nested {depth:,} levels deep; at most {max_depth} are accepted (a request of 28x28 images needs 4 to 6)")
    try:
        request = json.loads(body)
    except UnicodeDecodeError:
        raise RequestError("request body is not UTF-8 text; expected JSON") from None
    except json.JSONDecodeError as error:
        raise RequestError(f"malformed JSON: {error.msg} at line {error.lineno} column {error.colno}") from None
    if not isinstance(request, dict):
        raise RequestError(f'expected a JSON object such as {{"instances": [...]}}; got a JSON {_json_type(request)}')
    unknown = sorted(set(request) - set(KEYS))
    if unknown:
        raise RequestError(f"unknown key {unknown[0]!r} in the request; expected {', '.join(KEYS)}")
    signature = request.get("signature_name", "serving_default")
    if not isinstance(signature, str) or signature not in SIGNATURES:
        raise RequestError(f"signature_name must be one of {', '.join(SIGNATURES)}; got {signature!r}")
    if ("instances" in request) == ("inputs" in request):
        raise RequestError('send exactly one of "instances" (row format) or "inputs" (columnar format)')
    if "instances" in request:
        images, where = _row_format(request["instances"]), "instances"
    else:
        images, where = _columnar_format(request["inputs"]), "inputs"
    if not images:
        raise RequestError(f"{where} is empty; send at least one 28x28 image")
    if len(images) > max_instances:
        raise RequestError(f"too many instances: {len(images)}; at most {max_instances} per request (split them over several requests)")
    batch = _to_array(images, where, signature)
    return batch.reshape(len(batch), arrays.SIDE, arrays.SIDE, 1), "predictions" if where == "instances" else "outputs"


def nesting_depth(body: bytes) -> int:
    """How deep the arrays and objects of a JSON text nest (0 for a bare number), without parsing it."""
    brackets = np.frombuffer(_STRING.sub(b'""', body).translate(None, _BRACKETS), dtype=np.uint8)
    if not len(brackets):
        return 0
    steps = np.where((brackets == ord("[")) | (brackets == ord("{")), np.int8(1), np.int8(-1))
    return int(np.cumsum(steps, dtype=np.int32).max())  # 4 MiB of brackets at most (max_body_bytes): ~20 MB for a moment


def _row_format(instances: Any) -> list[Any]:
    if not isinstance(instances, list):
        raise RequestError(f"instances must be a list of images; got a JSON {_json_type(instances)}")
    named = [isinstance(instance, dict) for instance in instances]
    if any(named) and not all(named):
        raise RequestError(f'instances mixes {{"{INPUT_NAME}": ...}} objects and bare arrays; use one form for all')
    if not any(named):
        return instances
    for index, instance in enumerate(instances):
        if set(instance) != {INPUT_NAME}:
            raise RequestError(f"instances[{index}] has inputs {sorted(instance)}; this model's only input is {INPUT_NAME!r}")
    return [instance[INPUT_NAME] for instance in instances]


def _columnar_format(inputs: Any) -> list[Any]:
    if isinstance(inputs, dict):
        if set(inputs) != {INPUT_NAME}:
            raise RequestError(f"inputs has {sorted(inputs)}; this model's only input is {INPUT_NAME!r}")
        inputs = inputs[INPUT_NAME]
    if not isinstance(inputs, list):
        raise RequestError(f"inputs must be a list of images; got a JSON {_json_type(inputs)}")
    return inputs


def _to_array(images: list[Any], where: str, signature: str) -> np.ndarray:
    shape = SIGNATURES[signature]
    try:
        batch = np.asarray(images)
    except ValueError:  # rows of different lengths somewhere: find the image
        batch = None
    if batch is None or batch.dtype.kind not in "iuf" or batch.shape[1:] != shape:
        for index, image in enumerate(images):
            _check_one(image, f"{where}[{index}]", shape, signature)
        raise RequestError(f"{where} is not a list of {_shape_text(shape)} arrays of numbers")  # not reached: one image fails above
    outside = ~((batch >= 0) & (batch <= 255))  # NaN (Python's json reads it) counts as outside
    if outside.any():
        index, *position = np.argwhere(outside)[0].tolist()
        raise RequestError(f"{where}[{index}] has value {batch[(index, *position)].item()!r} at {position}; pixel values must be 0-255")
    if signature == "serving_default" and batch.dtype.kind == "f" and (np.round(batch) != batch).any():
        index, *position = np.argwhere(np.round(batch) != batch)[0].tolist()
        raise RequestError(
            f"{where}[{index}] has value {batch[(index, *position)].item()!r} at {position}; signature serving_default takes "
            "whole numbers 0-255 (uint8): round them, or send signature_name serve_float with 28x28x1 images"
        )
    return batch.astype(np.float32)


def _check_one(image: Any, where: str, shape: tuple[int, ...], signature: str) -> None:
    try:
        array = np.asarray(image)
    except ValueError:
        raise RequestError(f"{where} is not a {_shape_text(shape)} array: its rows have different lengths") from None
    if array.dtype.kind not in "iuf" and array.size:
        raise RequestError(f"{where} holds {_element_type(array)}; pixel values must be numbers 0-255")
    if array.shape != shape:
        raise RequestError(f"{where} has shape {_shape_text(array.shape)}; signature {signature} takes {_shape_text(shape)} images")


def prepare_upload(data: bytes, name: str, *, max_pixels: int) -> np.ndarray:
    """An uploaded image file's bytes -> uint8 (28, 28) as the predict command prepares it; ValueError if unusable."""
    try:
        with Image.open(_Upload(data, name)) as image:
            width, height = image.size
    except Image.DecompressionBombError as error:  # over twice PIL's own limit: PIL refuses to open it at all
        declared = re.search(r"\((\d+) pixels\)", str(error))
        size = f"{int(declared.group(1)):,} pixels" if declared else "over PIL's decompression-bomb limit"
        raise ValueError(f"image is {size}; at most {max_pixels:,} pixels are accepted (scale it down)") from None
    except (Image.UnidentifiedImageError, OSError):
        pass  # not an image: predict_inputs.prepare_image says so in the predict command's words
    else:
        if width * height > max_pixels:
            raise ValueError(f"image is {width}x{height} pixels; at most {max_pixels:,} pixels are accepted (scale it down)")
    return predict_inputs.prepare_image(_Upload(data, name))


class _Upload(io.BytesIO):
    """The bytes of an upload, shown as its file name: PIL puts repr(file) in its messages
    ("cannot identify image file 'notes.txt'", as for a path) instead of '<_io.BytesIO object at 0x...>'."""

    def __init__(self, data: bytes, name: str):
        super().__init__(data)
        self._name = name

    def __repr__(self) -> str:
        return repr(self._name)


def _shape_text(shape: tuple[int, ...]) -> str:
    return "x".join(str(side) for side in shape) if shape else "a single number"


def _element_type(array: np.ndarray) -> str:
    return {"b": "true/false", "U": "strings", "O": "values that are not numbers (null, objects, huge integers)"}.get(array.dtype.kind, array.dtype.name)


def _json_type(value: Any) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number", type(None): "null"}
    return names.get(type(value), type(value).__name__)
