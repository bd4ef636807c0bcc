"""FusedBatchNormalization trains exactly like keras.layers.BatchNormalization; the saved model has no trace of it."""
from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from mnistflow.training import config, model as cnn
from mnistflow.training.batch_norm import FusedBatchNormalization


def _pair(shape, **kwargs):
    """A Keras BatchNormalization and a fused one, built with the same (non-trivial) gamma and beta."""
    plain, fused = keras.layers.BatchNormalization(**kwargs), FusedBatchNormalization(**kwargs)
    for layer in (plain, fused):
        layer.build(shape)
    channels = shape[-1]
    weights = [
        np.linspace(0.5, 2.0, channels, dtype="float32"),  # gamma
        np.linspace(-1.0, 1.0, channels, dtype="float32"),  # beta
        np.zeros(channels, "float32"), np.ones(channels, "float32"),  # moving mean, variance
    ]
    plain.set_weights(weights)
    fused.set_weights(weights)
    return plain, fused


@pytest.mark.parametrize("shape", [(6, 5, 4, 3), (7, 3)], ids=["conv feature map", "dense features"])
def test_fused_batch_norm_training_step_equals_keras_outputs_moving_statistics_and_gradients(shape):
    x = tf.constant(np.random.default_rng(0).normal(2.0, 3.0, shape).astype("float32"))
    upstream = tf.constant(np.random.default_rng(1).normal(size=shape).astype("float32"))
    results = []
    for layer in _pair(shape, momentum=0.9):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
            loss = tf.reduce_sum(y * upstream)
        grads = tape.gradient(loss, [x, layer.gamma, layer.beta])
        results.append([y.numpy(), layer.moving_mean.numpy(), layer.moving_variance.numpy()] + [g.numpy() for g in grads])
    names = ["output", "moving mean", "moving variance", "input gradient", "gamma gradient", "beta gradient"]
    for name, plain, fused in zip(names, *results):
        np.testing.assert_allclose(fused, plain, rtol=1e-4, atol=1e-4, err_msg=name)
    # The moving statistics moved (from 0 and 1, towards mean ~2, variance ~9): not two untouched copies compared.
    assert np.all(results[0][1] > 0.05) and np.all(results[0][2] > 1.1)


def test_fused_batch_norm_in_bfloat16_returns_bfloat16_close_to_keras():
    shape = (8, 6, 6, 4)
    x = tf.constant(np.random.default_rng(2).normal(1.0, 2.0, shape).astype("float32"))
    plain, fused = _pair(shape, dtype="mixed_bfloat16")
    expected, got = plain(tf.cast(x, tf.bfloat16), training=True), fused(tf.cast(x, tf.bfloat16), training=True)
    assert got.dtype == tf.bfloat16
    np.testing.assert_allclose(tf.cast(got, tf.float32).numpy(), tf.cast(expected, tf.float32).numpy(), atol=0.05)


def test_fused_batch_norm_at_inference_uses_the_moving_statistics_like_keras():
    shape = (4, 3, 3, 2)
    x = np.random.default_rng(3).normal(size=shape).astype("float32")
    plain, fused = _pair(shape)
    for layer in (plain, fused):
        layer.moving_mean.assign([0.5, -0.5])
        layer.moving_variance.assign([4.0, 0.25])
    np.testing.assert_allclose(fused(x, training=False).numpy(), plain(x, training=False).numpy(), rtol=1e-6)
    assert not np.allclose(fused(x, training=False).numpy(), fused(x, training=True).numpy())


def test_inference_copy_has_the_trained_weights_on_plain_keras_layers_and_loads_without_this_package(tmp_path):
    architecture = config.ArchitectureParams(blocks=(config.ConvBlock(4, norm=True, pool=True),), dense_units=8, norm="batch")
    trained = cnn.build_model(architecture, config.AugmentParams(10, 0.1, 0.1), fused_batch_norm=True)
    assert any(isinstance(layer, FusedBatchNormalization) for layer in trained.layers)
    trained.set_weights([w + np.random.default_rng(4).uniform(0.1, 0.5, w.shape).astype(w.dtype) for w in trained.get_weights()])
    images = np.random.default_rng(5).uniform(0, 255, (3, 28, 28, 1)).astype("float32")

    shipped = cnn.inference_copy(trained, architecture)
    shipped.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras", compile=False)  # no custom_objects

    assert not any(isinstance(layer, FusedBatchNormalization) for layer in shipped.layers + loaded.layers)
    assert "augment" in [layer.name for layer in trained.layers] and "augment" not in [layer.name for layer in loaded.layers]
    assert sum(isinstance(layer, keras.layers.BatchNormalization) for layer in loaded.layers) == 2
    np.testing.assert_allclose(loaded.predict(images, verbose=0), trained.predict(images, verbose=0), rtol=1e-5, atol=1e-6)
