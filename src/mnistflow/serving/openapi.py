"""The request bodies and refusals of the predict endpoints, for the server's OpenAPI schema (`GET /openapi.json`).

The handlers read their bodies themselves (payloads.py), so FastAPI cannot infer these; server.py
attaches them to the two POST routes with `openapi_extra`. tests/test_serve_fuzz.py generates
requests from the served schema (schemathesis), valid and invalid, and checks every answer.
Only the forms most clients send are described (row format with bare arrays, and the columnar
form); payloads.py accepts TF Serving's named forms too.
"""
from __future__ import annotations

from typing import Any

from mnistflow.core import arrays


def _image(pixel: dict[str, Any]) -> dict[str, Any]:
    row = {"type": "array", "items": pixel, "minItems": arrays.SIDE, "maxItems": arrays.SIDE}
    return {"type": "array", "items": row, "minItems": arrays.SIDE, "maxItems": arrays.SIDE}


_BYTE = {"type": "integer", "minimum": 0, "maximum": 255}
_FLOAT_PIXEL = {"type": "array", "items": {"type": "number", "minimum": 0, "maximum": 255}, "minItems": 1, "maxItems": 1}
_ERROR = {"description": "refused: one line naming the field and the rule",
          "content": {"application/json": {"schema": {"type": "object", "properties": {"error": {"type": "string"}},
                                                      "required": ["error"], "additionalProperties": False}}}}
_REFUSALS = {
    "400": _ERROR,
    "413": {**_ERROR, "description": "the body is over the size limit"},
    "415": {**_ERROR, "description": "the body is not of the media type the endpoint reads"},
    "503": {**_ERROR, "description": "overloaded or stopping: retry after the Retry-After header's seconds"},
}


def predict(max_instances: int) -> dict[str, Any]:
    """`POST /v1/models/mnist:predict`: TF Serving's row (`instances`) and columnar (`inputs`) bodies."""
    def images(pixel: dict[str, Any]) -> dict[str, Any]:
        return {"type": "array", "items": _image(pixel), "minItems": 1, "maxItems": max_instances}

    return {
        "requestBody": {"required": True, "content": {"application/json": {"schema": {"oneOf": [
            {"type": "object", "required": ["instances"], "additionalProperties": False,
             "properties": {"signature_name": {"enum": ["serving_default"]}, "instances": images(_BYTE)}},
            {"type": "object", "required": ["signature_name", "instances"], "additionalProperties": False,
             "properties": {"signature_name": {"enum": ["serve_float"]}, "instances": images(_FLOAT_PIXEL)}},
            {"type": "object", "required": ["inputs"], "additionalProperties": False,
             "properties": {"signature_name": {"enum": ["serving_default"]}, "inputs": images(_BYTE)}},
        ]}}}},
        "responses": _REFUSALS,
    }


def upload(max_files: int) -> dict[str, Any]:
    """`POST /predict`: image files in the multipart field `files`."""
    files = {"type": "array", "items": {"type": "string", "format": "binary"}, "minItems": 1, "maxItems": max_files}
    return {
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
            "type": "object", "required": ["files"], "properties": {"files": files}}}}},
        "responses": _REFUSALS,
    }
