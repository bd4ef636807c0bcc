"""Export the Keras model as a TensorFlow SavedModel that TensorFlow Serving loads.

Two serving signatures, both returning `probabilities` (float32 (N, 10), softmax) and `classes`
(int64 (N,), the most probable digit):

| signature | input `images` | for |
| --- | --- | --- |
| `serving_default` | uint8 (N, 28, 28): MNIST pixels, white ink on black | clients sending raw pixels |
| `serve_float` | float32 (N, 28, 28, 1): raw 0-255 values, the Keras model's own input | clients that already batch floats |

Neither rescales on the client side: the model rescales inside. Images must already be MNIST-shaped
(28x28, centred); `python -m mnistflow predict --save-prepared` shows how to make them from photos.
"""
from __future__ import annotations

import logging
import os
from typing import Any

from mnistflow.core import atomic

logger = logging.getLogger(__name__)

SIDE = 28


def export_savedmodel(model: Any, directory: str | os.PathLike[str]) -> None:
    """Write `model` (float32 (N, 28, 28, 1) -> softmax (N, 10)) as a SavedModel at `directory`, atomically."""
    import keras
    import tensorflow as tf

    if tuple(model.input_shape[1:]) != (SIDE, SIDE, 1) or tuple(model.output_shape[1:]) != (10,):
        raise ValueError(
            f"expected a model from (N, 28, 28, 1) images to (N, 10) probabilities; got {model.input_shape} -> {model.output_shape}"
        )

    def answer(probabilities: Any) -> dict[str, Any]:
        return {"probabilities": probabilities, "classes": tf.argmax(probabilities, axis=1, output_type=tf.int64)}

    def from_uint8(images: Any) -> dict[str, Any]:
        return answer(model(tf.cast(images, tf.float32)[..., tf.newaxis], training=False))

    def from_float(images: Any) -> dict[str, Any]:
        return answer(model(images, training=False))

    archive = keras.export.ExportArchive()
    archive.track(model)
    # The first endpoint is also TF Serving's default; naming it so makes that explicit.
    archive.add_endpoint("serving_default", from_uint8, input_signature=[tf.TensorSpec((None, SIDE, SIDE), tf.uint8, name="images")])
    archive.add_endpoint("serve_float", from_float, input_signature=[tf.TensorSpec((None, SIDE, SIDE, 1), tf.float32, name="images")])
    with atomic.atomic_dir(directory) as temporary:
        archive.write_out(str(temporary), verbose=False)
    logger.info("wrote SavedModel with signatures serving_default (uint8) and serve_float to %s", directory)
