"""Run a saved .keras CNN with numpy alone: no TensorFlow import, model loaded in milliseconds.

Importing TensorFlow takes seconds and loading a .keras file through Keras takes a few hundred
milliseconds: too slow for "classify this one photo". `folded` reads the file without TensorFlow
into a few operations (BatchNorm and Rescaling folded into the convolutions); this module runs them
with numpy. `load(path)` returns a callable with the Keras model's call signature,
`model(batch, training=False) -> probabilities`.

It computes in float32, also for a mixed_bfloat16 model (whose variables are float32): it answers
what the model's float32 twin would. A model `folded` does not support raises `Unsupported`, and
the caller uses Keras. tests/test_predict_real.py checks its answers equal Keras's on real digits.
"""
from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np

from mnistflow.serving import folded

Unsupported = folded.Unsupported  # raised by load(); callers catch it from here or from folded

CHUNK = 256  # images per forward pass: bounds the intermediate arrays to tens of megabytes


class NumpyModel:
    """A chain of numpy layer functions; call it like a Keras model."""

    def __init__(self, layers: list[tuple[str, Callable[[np.ndarray], np.ndarray]]], input_shape: tuple, output_shape: tuple):
        self.layers = layers
        self.input_shape = input_shape
        self.output_shape = output_shape

    def __call__(self, batch: np.ndarray, training: bool = False) -> np.ndarray:
        if training:
            raise ValueError("the numpy engine runs inference only; call it with training=False")
        batch = np.asarray(batch, dtype=np.float32)
        return np.concatenate([self._forward(batch[i : i + CHUNK]) for i in range(0, max(len(batch), 1), CHUNK)])

    def _forward(self, x: np.ndarray) -> np.ndarray:
        for _, layer in self.layers:
            x = layer(x)
        return x


def load(path: str | os.PathLike[str]) -> NumpyModel:
    """Read a .keras file into a NumpyModel, or raise Unsupported (or ValueError for a non-.keras file)."""
    ops, input_shape = folded.load(path)
    model = NumpyModel([(op.layer, operation(op)) for op in ops], input_shape, ())
    model.output_shape = (None,) + model(np.zeros((1, 28, 28, 1), dtype=np.float32)).shape[1:]
    return model


def operation(op: folded.Op) -> Callable[[np.ndarray], np.ndarray]:
    """The numpy function of one operation (folded or not)."""
    if op.kind == "conv":
        return lambda x: _conv2d(x, op.kernel, op.bias, op.strides, op.padding)
    if op.kind == "dense":
        bias = op.bias if op.bias is not None else np.float32(0)
        return lambda x: x @ op.kernel + bias
    if op.kind == "affine":
        return lambda x: x * op.multiplier + op.shift
    if op.kind == "activation":
        return _activation(op.function)
    if op.kind == "max_pool":
        return lambda x: _max_pool(x, op.pool, op.strides)
    if op.kind == "flatten":
        return lambda x: x.reshape(len(x), -1)
    if op.kind == "global_pool":
        return lambda x: x.mean(axis=(1, 2))
    raise folded.Unsupported(f"operation {op.kind}")


def _activation(name: str) -> Callable[[np.ndarray], np.ndarray]:
    if name == "linear":
        return lambda x: x
    if name == "relu":
        return lambda x: np.maximum(x, np.float32(0))
    if name == "softmax":
        return _softmax
    raise Unsupported(f"activation {name!r}")


def _softmax(x: np.ndarray) -> np.ndarray:
    exponentials = np.exp(x - x.max(axis=-1, keepdims=True))
    return exponentials / exponentials.sum(axis=-1, keepdims=True)


def _same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's 'same' padding: output ceil(size / stride), extra pixel at the end."""
    total = max((-(-size // stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _conv2d(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray | None, strides: tuple[int, int], padding: str) -> np.ndarray:
    """x (N, H, W, C) * kernel (kh, kw, C, F) -> (N, H', W', F): one small matrix product per kernel tap.

    Summing kh*kw products of (N*H'*W', C) by (C, F) needs no im2col copy and keeps each product
    small enough that BLAS runs it on one thread, which on a busy machine is faster than threading.
    """
    kernel_height, kernel_width, _, filters = kernel.shape
    if padding == "same":
        rows = _same_padding(x.shape[1], kernel_height, strides[0])
        columns = _same_padding(x.shape[2], kernel_width, strides[1])
        x = np.pad(x, ((0, 0), rows, columns, (0, 0)))
    elif padding != "valid":
        raise Unsupported(f"Conv2D padding {padding!r}")
    height = (x.shape[1] - kernel_height) // strides[0] + 1
    width = (x.shape[2] - kernel_width) // strides[1] + 1
    output = np.zeros((len(x), height, width, filters), dtype=np.float32)
    for row in range(kernel_height):
        for column in range(kernel_width):
            window = x[:, row : row + (height - 1) * strides[0] + 1 : strides[0], column : column + (width - 1) * strides[1] + 1 : strides[1]]
            output += window @ kernel[row, column]
    return output + bias if bias is not None else output


def _max_pool(x: np.ndarray, pool: tuple[int, int], strides: tuple[int, int]) -> np.ndarray:
    windows = np.lib.stride_tricks.sliding_window_view(x, pool, axis=(1, 2))[:, :: strides[0], :: strides[1]]
    return windows.max(axis=(-2, -1))
