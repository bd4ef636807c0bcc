"""A tiny ONNX model written with onnx.helper (no TensorFlow), with the project's interface:
float32 (N, 28, 28, 1) raw 0-255 pixels in, softmax (N, 10) out."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper


def write_pixel_sum_model(path, *, metadata=None, input_shape=("N", 28, 28, 1), input_type=TensorProto.FLOAT):
    """Softmax over 10 logits: logit d = (sum of pixels) * d / 2**16, so more ink favours higher digits."""
    weights = np.tile(np.arange(10, dtype=np.float32) / 2**16, (784, 1))
    graph = helper.make_graph(
        [
            helper.make_node("Reshape", ["pixels", "shape"], ["flat"]),
            helper.make_node("MatMul", ["flat", "weights"], ["logits"]),
            helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
        ],
        "pixel_sum",
        [helper.make_tensor_value_info("pixels", input_type, list(input_shape))],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 10])],
        initializer=[
            helper.make_tensor("shape", TensorProto.INT64, [2], [-1, 784]),
            onnx.numpy_helper.from_array(weights, "weights"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for key, value in (metadata or {}).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(path))
    return path


def expected(images):
    flat = np.asarray(images, np.float64).reshape(len(images), 784).sum(axis=1, keepdims=True)
    logits = flat * np.arange(10) / 2**16  # exact in float32 too
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def shift_final_bias(path, *, digit: int = 3, shift: float = 100.0) -> None:
    """Add `shift` to the last layer's bias for `digit` in the ONNX file at `path`: nearly every answer
    becomes `digit` (an export that no longer agrees with its Keras model)."""
    import onnx.numpy_helper

    proto = onnx.load(str(path))
    [bias] = [tensor for tensor in proto.graph.initializer if list(tensor.dims) == [10]]
    values = onnx.numpy_helper.to_array(bias).copy()
    values[digit] += shift
    bias.CopyFrom(onnx.numpy_helper.from_array(values, bias.name))
    onnx.save(proto, str(path))
