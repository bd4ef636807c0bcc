"""The predict command and the export on real MNIST with a small trained model (tests/real_mnist.py).

One TensorFlow import and one ~5 s training run per session; every test here shares them.
"""
import json
import pathlib
import runpy

import numpy as np
import pytest
from PIL import Image

import real_mnist
from mnistflow import __main__ as command
from mnistflow.core import arrays
from mnistflow.serving import predict

ROOT = pathlib.Path(__file__).resolve().parent.parent
SAMPLE = 200

pytestmark = pytest.mark.slow  # a TensorFlow import and a ~5 s training run, shared by the module


@pytest.fixture(scope="session")
def mnist():
    return real_mnist.arrays()


@pytest.fixture(scope="session")
def model_path():
    return real_mnist.trained_model_file()


@pytest.fixture(scope="session")
def keras_model(model_path):
    return predict.load_model(model_path, engine="keras")


def as_a_person_would_write_it(image: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """Another size, dark ink on white paper, off-centre on a larger padded page."""
    side = int(rng.integers(40, 113))
    digit = Image.fromarray(255 - image).resize((side, side), Image.Resampling.BICUBIC)
    page = Image.new("L", (side + int(rng.integers(20, 90)), side + int(rng.integers(20, 90))), 255)
    page.paste(digit, (int(rng.integers(0, page.width - side + 1)), int(rng.integers(0, page.height - side + 1))))
    return page


def test_predict_classifies_resized_inverted_shifted_padded_test_digits_like_the_originals(mnist, model_path, keras_model, tmp_path, capsys):
    rng = np.random.default_rng(6)
    chosen = rng.choice(len(mnist["test_images"]), SAMPLE, replace=False)
    originals = mnist["test_images"][chosen]
    for index, image in enumerate(originals):
        as_a_person_would_write_it(image, rng).save(tmp_path / f"{index:03d}.png")
    assert command.main(["predict", str(tmp_path), "--model", str(model_path), "--format", "json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert [r["input"] for r in records] == [str(tmp_path / f"{i:03d}.png") for i in range(SAMPLE)]
    from_pages = np.array([r["digit"] for r in records])
    from_originals = predict.classify(keras_model, originals).argmax(axis=1)
    agreement = float((from_pages == from_originals).mean())
    assert agreement >= 0.95, f"only {agreement:.1%} of {SAMPLE} re-written digits classified as their originals"


def test_predict_on_a_test_csv_gives_the_model_s_own_answers(mnist, model_path, keras_model, tmp_path, capsys):
    from mnistflow.core import mnist_csv

    images, labels = mnist["test_images"][:50], mnist["test_labels"][:50]
    mnist_csv.write_csv(tmp_path / "test.csv", images, labels)
    assert command.main(["predict", str(tmp_path / "test.csv"), "--model", str(model_path), "--format", "csv"]) == 0
    lines = capsys.readouterr().out.splitlines()[1:]
    expected = np.asarray(keras_model(arrays.to_model_input(images), training=False)).argmax(axis=1)
    assert [int(line.split(",")[1]) for line in lines] == expected.tolist()
    assert (expected == labels).mean() >= 0.9  # the model really reads digits


def test_predict_reports_a_model_file_that_is_not_a_keras_archive(tmp_path, capsys):
    (tmp_path / "model.keras").write_text("not a model")
    Image.fromarray(np.eye(28, dtype=np.uint8) * 255).save(tmp_path / "d.png")
    assert command.main(["predict", str(tmp_path / "d.png"), "--model", str(tmp_path / "model.keras")]) == 1
    assert capsys.readouterr().err == (
        f"error: {tmp_path}/model.keras: not a Keras model (a .keras file is a zip archive); "
        "pass --model PATH to one the train stage wrote\n"
    )


def test_export_stage_writes_a_savedmodel_whose_signatures_match_the_keras_model(mnist, model_path, keras_model, tmp_path):
    import tensorflow as tf

    stage = runpy.run_path(str(ROOT / "stages" / "export.py"), run_name="export_stage")
    stage["main"](["--model", str(model_path), "--out", str(tmp_path / "export")])
    served = tf.saved_model.load(str(tmp_path / "export"))
    assert sorted(served.signatures) == ["serve_float", "serving_default"]
    images = mnist["test_images"][:256]
    expected = np.asarray(keras_model(arrays.to_model_input(images), training=False))
    from_uint8 = served.signatures["serving_default"](images=tf.constant(images))
    from_float = served.signatures["serve_float"](images=tf.constant(arrays.to_model_input(images)))
    for answer in (from_uint8, from_float):
        np.testing.assert_allclose(answer["probabilities"].numpy(), expected, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(answer["classes"].numpy(), expected.argmax(axis=1))
        assert answer["classes"].dtype == tf.int64


def test_export_stage_reports_a_missing_model(tmp_path):
    stage = runpy.run_path(str(ROOT / "stages" / "export.py"), run_name="export_stage")
    with pytest.raises(ValueError, match=r"none\.keras: no such model file; run the train stage first \(dvc repro train\)"):
        stage["main"](["--model", str(tmp_path / "none.keras"), "--out", str(tmp_path / "export")])
    assert not (tmp_path / "export").exists()


@pytest.mark.parametrize("engine", ["numpy", "tensorflow"])
def test_folded_engines_give_the_keras_model_s_probabilities_on_real_digits(mnist, model_path, keras_model, engine):
    from mnistflow.serving import graph_model, numpy_model

    images = arrays.to_model_input(mnist["test_images"][:300])
    expected = np.asarray(keras_model(images, training=False))
    answer = {"numpy": numpy_model, "tensorflow": graph_model}[engine].load(model_path)(images)
    np.testing.assert_allclose(answer, expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(answer.argmax(axis=1), expected.argmax(axis=1))


def test_numpy_engine_runs_a_mixed_bfloat16_model_in_float32_as_its_float32_twin_would(mnist, tmp_path):
    from mnistflow.serving import numpy_model
    from mnistflow.training.model import ArchitectureParams, AugmentParams, build_model

    no_augment = AugmentParams(rotation=0, zoom=0, translation=0)
    mixed = build_model(ArchitectureParams(), no_augment, mixed_precision=True)
    mixed.save(tmp_path / "mixed.keras")
    twin = build_model(ArchitectureParams(), no_augment, mixed_precision=False)
    twin.set_weights(mixed.get_weights())
    images = arrays.to_model_input(mnist["test_images"][:64])
    answer = numpy_model.load(tmp_path / "mixed.keras")(images)
    np.testing.assert_allclose(answer, np.asarray(twin(images, training=False)), rtol=1e-4, atol=1e-5)


def every_supported_layer_model(keras, *, global_pool):
    """Augmentation, Rescaling, same/valid and strided convolutions, BatchNorm, pooling, Dropout, Dense."""
    layers = keras.layers
    inputs = keras.Input((28, 28, 1))
    x = layers.RandomRotation(0.1)(inputs)
    x = layers.RandomTranslation(0.1, 0.1)(x)
    x = layers.Rescaling(1 / 255)(x)
    x = layers.Conv2D(6, 3, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Dropout(0.3)(x)
    x = layers.Conv2D(8, 4, strides=2, padding="same", activation="relu")(x)
    x = layers.Conv2D(8, 3, strides=(2, 1), padding="valid")(x)
    x = layers.GlobalAveragePooling2D()(x) if global_pool else layers.Flatten()(x)
    x = layers.Dense(12, use_bias=False)(x)
    x = layers.BatchNormalization(center=False)(x)
    outputs = layers.Dense(10, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    rng = np.random.default_rng(3)
    model.set_weights([rng.uniform(0.5, 1.5, w.shape) if "variance" in v.path else rng.normal(0, 0.5, w.shape) for v, w in zip(model.weights, model.get_weights())])
    return model


@pytest.mark.parametrize("engine", ["numpy", "tensorflow"])
@pytest.mark.parametrize("global_pool", [False, True])
def test_folded_engines_match_keras_on_every_layer_they_support(mnist, tmp_path, global_pool, engine):
    import keras

    from mnistflow.serving import graph_model, numpy_model

    model = every_supported_layer_model(keras, global_pool=global_pool)
    model.save(tmp_path / "m.keras")
    images = arrays.to_model_input(mnist["test_images"][:64])
    answer = {"numpy": numpy_model, "tensorflow": graph_model}[engine].load(tmp_path / "m.keras")(images)
    np.testing.assert_allclose(answer, np.asarray(model(images, training=False)), rtol=1e-4, atol=1e-5)


def test_tensorflow_engine_runs_a_mixed_bfloat16_model_in_bfloat16_with_batch_norm_folded(mnist, tmp_path):
    from mnistflow.serving import graph_model
    from mnistflow.training.model import ArchitectureParams, AugmentParams, build_model

    mixed = build_model(ArchitectureParams(), AugmentParams(rotation=0, zoom=0, translation=0), mixed_precision=True)
    rng = np.random.default_rng(5)  # moving statistics far from BatchNorm's initial 0 and 1, so folding matters
    mixed.set_weights([rng.uniform(0.5, 2, w.shape) if "variance" in v.path else w + rng.normal(0, 0.1, w.shape) for v, w in zip(mixed.weights, mixed.get_weights())])
    mixed.save(tmp_path / "mixed.keras")
    engine = graph_model.load(tmp_path / "mixed.keras")
    assert [(op.kind, op.compute) for op in engine.ops if op.kind in ("conv", "dense", "affine")] == [("conv", "bfloat16")] * 4 + [("dense", "bfloat16"), ("dense", "float32")]
    images = arrays.to_model_input(mnist["test_images"][:256])
    expected = np.asarray(mixed(images, training=False))
    answer = engine(images)
    assert answer.dtype == np.float32 and np.allclose(answer.sum(axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(answer, expected, atol=0.03)  # both round to bfloat16, at different points
    assert (answer.argmax(axis=1) == expected.argmax(axis=1)).mean() >= 0.95


@pytest.mark.parametrize("engine", ["numpy", "tensorflow"])
def test_folded_engines_refuse_a_layer_they_do_not_know_and_predict_falls_back_to_keras(tmp_path, engine):
    import keras

    from mnistflow.serving import folded, graph_model, numpy_model

    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.LayerNormalization()(x)
    keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x)).save(tmp_path / "m.keras")
    module = {"numpy": numpy_model, "tensorflow": graph_model}[engine]
    with pytest.raises(folded.Unsupported, match=r"layer type LayerNormalization"):
        module.load(tmp_path / "m.keras")
    fallback = predict.load_model(tmp_path / "m.keras", engine=engine)
    assert type(fallback).__name__ == "_KerasModel" and fallback(np.zeros((2, 28, 28, 1), np.float32)).shape == (2, 10)


def test_numpy_engine_refuses_a_model_with_a_branch(tmp_path):
    import keras

    from mnistflow.serving import numpy_model

    inputs = keras.Input((28, 28, 1))
    flat = keras.layers.Flatten()(inputs)
    joined = keras.layers.Add()([keras.layers.Dense(10)(flat), keras.layers.Dense(10)(flat)])
    keras.Model(inputs, keras.layers.Activation("softmax")(joined)).save(tmp_path / "m.keras")
    with pytest.raises(numpy_model.Unsupported, match=r"is not fed by the layer before it \(a branch\)"):
        numpy_model.load(tmp_path / "m.keras")


@pytest.mark.e2e
def test_dvc_repro_export_writes_the_savedmodel_and_locks_the_stage(project, model_path):
    import shutil

    import yaml

    (project.root / "models").mkdir(exist_ok=True)
    shutil.copy(model_path, project.root / "models" / "model.keras")
    project.dvc("repro", "--single-item", "export")
    assert (project.root / "models" / "export" / "saved_model.pb").is_file()
    lock = yaml.safe_load((project.root / "dvc.lock").read_text())
    assert [out["path"] for out in lock["stages"]["export"]["outs"]] == ["models/export"]
    assert "models/model.keras" in [dep["path"] for dep in lock["stages"]["export"]["deps"]]


def test_numpy_engine_refuses_a_model_whose_output_is_not_its_last_layer(tmp_path):
    import keras

    from mnistflow.serving import numpy_model

    inputs = keras.Input((28, 28, 1))
    first = keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(inputs))
    second = keras.layers.Dense(10, activation="softmax")(first)
    keras.Model(inputs, [first, second]).save(tmp_path / "m.keras")
    with pytest.raises(numpy_model.Unsupported, match=r"the model's output is not its last layer"):
        numpy_model.load(tmp_path / "m.keras")


def test_predict_one_image_runs_without_importing_tensorflow(mnist, model_path, tmp_path):
    import os
    import subprocess
    import sys

    Image.fromarray(255 - mnist["test_images"][0]).resize((90, 90)).save(tmp_path / "seven.png")
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "mnistflow", "predict", str(tmp_path / "seven.png"), "--model", str(model_path), "--format", "csv"],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT / "src")}, check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.splitlines()[1].startswith(f"{tmp_path}/seven.png,7,")
    imported = [line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")]
    assert "tensorflow" not in imported and "keras" not in imported and "pyarrow" not in imported
