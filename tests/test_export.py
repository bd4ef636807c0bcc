"""serving.export: a float32 ONNX copy of any model the training code builds, run by serving.runtime; a byte-stable SavedModel."""
import json

import numpy as np
import pytest

from mnistflow.serving import export, runtime

pytestmark = pytest.mark.slow  # imports TensorFlow and converts with tf2onnx (a second or two per model)


def perturbed(model, seed):
    """`model` with weights away from their initial values (BatchNorm's statistics far from 0 and 1)."""
    rng = np.random.default_rng(seed)
    model.set_weights([
        rng.uniform(0.5, 2, w.shape) if "variance" in v.path else w + rng.normal(0, 0.1, w.shape)
        for v, w in zip(model.weights, model.get_weights())
    ])
    return model


def random_images(count, seed):
    return np.random.default_rng(seed).integers(0, 256, (count, 28, 28), dtype=np.uint8)


def no_augment():
    from mnistflow.training.config import AugmentParams

    return AugmentParams(rotation=0, zoom=0, translation=0, noise=0, blur=0)


def test_export_onnx_of_a_mixed_bfloat16_model_runs_as_its_float32_twin_with_the_metadata(tmp_path):
    from mnistflow.training.config import ArchitectureParams
    from mnistflow.training.model import build_model

    mixed = perturbed(build_model(ArchitectureParams(), no_augment(), mixed_precision=True), seed=1)
    twin = build_model(ArchitectureParams(), no_augment(), mixed_precision=False)
    twin.set_weights(mixed.get_weights())
    export.export_onnx(mixed, tmp_path / "model.onnx", unsure_threshold=0.6, temperature=1.3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]  # no temporary left beside it
    classifier = runtime.load(tmp_path / "model.onnx")
    assert classifier.metadata == {"unsure_threshold": "0.6", "temperature": "1.3"}
    images = random_images(128, seed=2)
    batch = images.astype(np.float32)[..., np.newaxis]
    answer = classifier.predict(images)
    np.testing.assert_allclose(answer, np.asarray(twin(batch, training=False)), rtol=1e-4, atol=1e-5)
    from_mixed = np.asarray(mixed(batch, training=False))
    assert (answer.argmax(axis=1) == from_mixed.argmax(axis=1)).mean() >= 0.95
    assert [layer.dtype_policy.name for layer in mixed.layers if "conv" in layer.name] == ["mixed_bfloat16"] * 4  # left as it was


def test_export_onnx_keeps_extra_layers_and_keras_ops_in_the_graph(tmp_path):
    import keras

    from mnistflow.training.config import ArchitectureParams, ConvBlock
    from mnistflow.training.model import build_model

    small = ArchitectureParams(blocks=(ConvBlock(8, norm=True, pool=True), ConvBlock(8, strides=2)), dense_units=16)
    core = perturbed(build_model(small, no_augment(), mixed_precision=True), seed=3)
    inputs = keras.Input((28, 28, 1), name="pixels")
    centred = keras.layers.Normalization(mean=33.0, variance=78.0**2, name="normalise")(inputs)  # then back to 0-255
    pixels = keras.ops.add(keras.ops.multiply(centred, 78.0), 33.0)
    probabilities = core(pixels)
    sharpened = keras.ops.softmax(keras.ops.log(probabilities) / 0.5, axis=-1)  # a temperature, as keras.ops
    model = keras.Model(inputs, sharpened)
    export.export_onnx(model, tmp_path / "model.onnx")
    images = random_images(64, seed=4)
    answer = runtime.load(tmp_path / "model.onnx").predict(images)
    expected = np.asarray(export.float32_copy(model)(images.astype(np.float32)[..., np.newaxis], training=False))
    np.testing.assert_allclose(answer, expected, rtol=1e-4, atol=1e-5)
    assert runtime.load(tmp_path / "model.onnx").unsure_threshold is None


def test_float32_copy_returns_a_float32_model_itself(tmp_path):
    from mnistflow.training.config import ArchitectureParams
    from mnistflow.training.model import build_model

    model = build_model(ArchitectureParams(), no_augment(), mixed_precision=False)
    assert export.float32_copy(model) is model


def test_export_onnx_rejects_a_model_with_another_output_shape(tmp_path):
    import keras

    inputs = keras.Input((28, 28, 1))
    model = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Flatten()(inputs)))
    with pytest.raises(ValueError, match=r"expected a model from \(N, 28, 28, 1\) images to \(N, 10\) probabilities; got"):
        export.export_onnx(model, tmp_path / "model.onnx")
    assert not list(tmp_path.iterdir())


def test_export_onnx_rejects_a_threshold_that_is_not_a_number(tmp_path):
    import keras

    inputs = keras.Input((28, 28, 1))
    model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(inputs)))
    with pytest.raises(ValueError, match=r"unsure_threshold must be a finite number; got nan"):
        export.export_onnx(model, tmp_path / "model.onnx", unsure_threshold=float("nan"))
    assert not list(tmp_path.iterdir())


def test_read_card_gives_both_numbers_as_floats_and_ignores_other_keys(tmp_path):
    (tmp_path / "model.json").write_text(json.dumps({"temperature": 1.2, "unsure_threshold": 1, "other": "kept out"}))
    assert export.read_card(tmp_path / "model.json") == {"temperature": 1.2, "unsure_threshold": 1.0}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", r"model\.json: not valid JSON \(Expecting property name"),
        ("[0.5]", r"model\.json: expected a JSON object with keys temperature, unsure_threshold; got list"),
        ('{"temperature": 1.0}', r"model\.json: unsure_threshold must be a finite number; got None; re-run the train stage \(dvc repro train\)$"),
        ('{"temperature": "hot", "unsure_threshold": 0.5}', r"model\.json: temperature must be a finite number; got 'hot'"),
        ('{"temperature": 1.0, "unsure_threshold": NaN}', r"model\.json: unsure_threshold must be a finite number; got nan"),
    ],
)
def test_read_card_rejects_a_card_it_cannot_use_naming_the_file_and_key(tmp_path, text, message):
    (tmp_path / "model.json").write_text(text)
    with pytest.raises(ValueError, match=message):
        export.read_card(tmp_path / "model.json")


def test_read_card_reports_a_missing_card_with_the_stage_that_writes_it(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"absent\.json: no such model card; run the train stage \(dvc repro train\)"):
        export.read_card(tmp_path / "absent.json")


KERAS = np.array([[0.9, 0.1] + [0.0] * 8, [0.2, 0.7, 0.1] + [0.0] * 7, [0.0] * 9 + [1.0]])


def test_check_agreement_returns_the_largest_difference_within_the_tolerance():
    close = KERAS + np.array([[3e-5, -3e-5] + [0.0] * 8, [0.0] * 10, [0.0] * 10])
    assert export.check_agreement(KERAS, close.astype(np.float32), onnx_path="m.onnx", data_path="t.npz") == pytest.approx(3e-5, rel=1e-3)


def test_check_agreement_rejects_an_export_that_gives_another_digit_naming_the_first_image():
    swapped = KERAS.copy()
    swapped[1, [0, 1]] = swapped[1, [1, 0]]
    with pytest.raises(ValueError, match=(
        r"^m\.onnx: the export gives another digit than the Keras model on 1 of 3 images of t\.npz "
        r"\(first: image 1, 0 for 1\); not shipped: re-run dvc repro export"
    )):
        export.check_agreement(KERAS, swapped, onnx_path="m.onnx", data_path="t.npz")


def test_check_agreement_rejects_probabilities_further_apart_than_the_tolerance():
    moved = KERAS + np.array([[0.0] * 10, [-0.01, 0.01] + [0.0] * 8, [0.0] * 10])
    with pytest.raises(ValueError, match=r"^m\.onnx: the export's probabilities differ from the Keras model's by up to 0\.01 on t\.npz \(tolerance 0\.0001\)"):
        export.check_agreement(KERAS, moved, onnx_path="m.onnx", data_path="t.npz")


EXPORT_SCRIPT = """
import pathlib, sys, keras
from mnistflow.serving import export
model = keras.models.load_model(sys.argv[1], compile=False)
export.export_savedmodel(model, sys.argv[2])
export.export_onnx(model, pathlib.Path(sys.argv[2]).with_suffix(".onnx"), unsure_threshold=0.5)
"""


def test_both_exports_of_one_model_give_the_same_bytes_in_two_processes_and_answer_as_the_model(tmp_path):
    import subprocess
    import sys

    import keras
    import tensorflow as tf

    from mnistflow.core import atomic
    from mnistflow.training.config import ArchitectureParams, ConvBlock
    from mnistflow.training.model import build_model

    small = ArchitectureParams(blocks=(ConvBlock(8, norm=True, pool=True, dropout=0.25),), dense_units=16, dropout=0.4)
    atomic.save_keras(perturbed(build_model(small, no_augment(), mixed_precision=False), seed=5), tmp_path / "model.keras")
    # Each process orders the variables its own way, each load draws new dropout seed states and
    # each save a new fingerprint UUID; tf2onnx names its constants from a counter: the export fixes all four.
    for name in ("a", "b"):
        subprocess.run([sys.executable, "-c", EXPORT_SCRIPT, str(tmp_path / "model.keras"), str(tmp_path / name)], check=True)
    files = sorted(str(path.relative_to(tmp_path / "a")) for path in (tmp_path / "a").rglob("*") if path.is_file())
    assert {"fingerprint.pb", "saved_model.pb", "variables/variables.index"} <= set(files)
    assert [f for f in files if (tmp_path / "a" / f).read_bytes() != (tmp_path / "b" / f).read_bytes()] == []
    assert (tmp_path / "a.onnx").read_bytes() == (tmp_path / "b.onnx").read_bytes()

    model = keras.models.load_model(tmp_path / "model.keras", compile=False)
    served = tf.saved_model.load(str(tmp_path / "a"))
    images = random_images(16, seed=6)
    answer = served.signatures["serving_default"](images=tf.constant(images))
    expected = np.asarray(model(images.astype(np.float32)[..., np.newaxis], training=False))
    np.testing.assert_allclose(answer["probabilities"].numpy(), expected, rtol=1e-5, atol=1e-6)
    assert answer["classes"].numpy().tolist() == expected.argmax(axis=1).tolist()
    np.testing.assert_allclose(runtime.load(tmp_path / "a.onnx").predict(images), expected, rtol=1e-5, atol=1e-6)


def tf2onnx_like_graph(counters):
    """A Reshape fed by a shared constant, with tf2onnx-style counter names drawn from `counters`."""
    import onnx
    from onnx import helper

    shape, transposed, node = counters
    return helper.make_graph(
        [helper.make_node("Transpose", ["pixels"], [f"Transpose__{transposed}:0"], name=f"Transpose__{transposed}", perm=[0, 2, 1]),
         helper.make_node("Reshape", [f"Transpose__{transposed}:0", f"const_{shape}"], ["flatten/Reshape:0"], name=f"Reshape__{node}")],
        "g",
        [helper.make_tensor_value_info("pixels", onnx.TensorProto.FLOAT, [1, 2, 3])],
        [helper.make_tensor_value_info("flatten/Reshape:0", onnx.TensorProto.FLOAT, [1, 6])],
        [helper.make_tensor(f"const_{shape}", onnx.TensorProto.INT64, [2], [1, 6]),
         helper.make_tensor("const_unused__3", onnx.TensorProto.INT64, [1], [7])],
    )


def test_canonical_names_make_two_graphs_that_differ_only_in_tf2onnx_counters_the_same_bytes():
    first, second = tf2onnx_like_graph(("axes__21", 87, 90)), tf2onnx_like_graph(("ends__69", 89, 92))
    assert first.SerializeToString() != second.SerializeToString()
    for graph in (first, second):
        export._canonical_names(graph)
    assert first.SerializeToString() == second.SerializeToString()
    assert [list(node.input) for node in first.node] == [["pixels"], ["Transpose__1:0", "const__2"]]
    assert [initializer.name for initializer in first.initializer] == ["const__2", "const__4"]
    assert first.output[0].name == "flatten/Reshape:0"  # a name taken from the Keras graph is kept
