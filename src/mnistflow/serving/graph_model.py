"""Run a saved .keras CNN as one TensorFlow graph of its folded operations: `predict`'s engine for many images.

    model = graph_model.load("models/model.keras")      # Unsupported: use Keras instead
    probabilities = model(batch, training=False)         # float32 (N, 28, 28, 1) -> (N, 10)

Keras runs every layer of the saved model at inference, BatchNormalization and Rescaling included.
`folded` multiplies those into the convolutions' kernels, which leaves convolution + bias + ReLU:
the pattern oneDNN fuses into one kernel. On the default model that is about 1.8x Keras's
throughput (bench/predict.py). Each operation computes in its layer's precision: bfloat16 for a
mixed_bfloat16 layer (as Keras does; the folded kernels are rounded to bfloat16 once, where Keras
rounds after each layer, so probabilities differ from Keras's by up to about 1e-2), float32 otherwise.
"""
from __future__ import annotations

import os
from typing import Any

import numpy as np

from mnistflow.core import arrays
from mnistflow.serving import folded


class GraphModel:
    """The folded operations as one traced tf.function over (None, 28, 28, 1) float32 batches."""

    def __init__(self, ops: list[folded.Op], input_shape: tuple):
        import tensorflow as tf

        self.ops = ops
        self.input_shape = input_shape
        steps = [_step(tf, op) for op in ops]

        def forward(batch):
            x = batch
            for dtype, function in steps:
                x = function(tf.cast(x, dtype))  # a no-op between operations of one precision
            return tf.cast(x, tf.float32)

        self._call = tf.function(forward, input_signature=[tf.TensorSpec((None, arrays.SIDE, arrays.SIDE, 1), tf.float32)])
        self.output_shape = (None,) + tuple(self._call(np.zeros((1, arrays.SIDE, arrays.SIDE, 1), np.float32)).shape[1:])

    def __call__(self, batch: np.ndarray, training: bool = False) -> np.ndarray:
        if training:
            raise ValueError("the TensorFlow engine runs inference only; call it with training=False")
        return self._call(np.asarray(batch, dtype=np.float32)).numpy()


def load(path: str | os.PathLike[str]) -> GraphModel:
    """A GraphModel of a .keras file, or Unsupported (ValueError for a non-.keras file)."""
    ops, input_shape = folded.load(path)
    return GraphModel(ops, input_shape)


def _step(tf: Any, op: folded.Op) -> tuple[Any, Any]:
    """(the dtype the operation computes in, a function of one tensor)."""
    dtype = tf.bfloat16 if op.compute == "bfloat16" else tf.float32
    if op.kind == "activation" and op.function == "softmax":
        return tf.float32, tf.nn.softmax  # Keras, too, computes a mixed policy's softmax in float32

    def constant(values):
        return tf.constant(np.asarray(values, np.float32), dtype=dtype)

    if op.kind in ("conv", "dense"):
        kernel = constant(op.kernel)
        bias = constant(op.bias if op.bias is not None else np.zeros(op.kernel.shape[-1]))
    if op.kind == "conv":
        strides, padding = list(op.strides), op.padding.upper()
        return dtype, lambda x: tf.nn.bias_add(tf.nn.conv2d(x, kernel, strides, padding), bias)
    if op.kind == "dense":
        # a 2-D product is the form oneDNN fuses with the bias and ReLU; Dense on a feature map acts on its last axis
        return dtype, lambda x: tf.nn.bias_add(tf.matmul(x, kernel) if x.shape.rank == 2 else tf.tensordot(x, kernel, 1), bias)
    if op.kind == "affine":
        multiplier, shift = constant(op.multiplier), constant(op.shift)
        return dtype, lambda x: x * multiplier + shift
    if op.kind == "activation":
        return dtype, tf.nn.relu if op.function == "relu" else tf.identity
    if op.kind == "max_pool":
        pool, strides = list(op.pool), list(op.strides)
        return dtype, lambda x: tf.nn.max_pool2d(x, pool, strides, "VALID")
    if op.kind == "flatten":
        return dtype, lambda x: tf.reshape(x, (tf.shape(x)[0], -1))
    if op.kind == "global_pool":
        return dtype, lambda x: tf.reduce_mean(x, axis=(1, 2))
    raise folded.Unsupported(f"operation {op.kind}")
