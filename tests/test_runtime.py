"""serving.runtime on tiny ONNX graphs written with onnx.helper (no TensorFlow)."""
import numpy as np
import pytest

from mnistflow.serving import runtime
from tiny_onnx import expected, write_pixel_sum_model  # tests/tiny_onnx.py


@pytest.fixture
def model_path(tmp_path):
    return write_pixel_sum_model(tmp_path / "model.onnx", metadata={"unsure_threshold": "0.35", "temperature": "1.5"})


def test_classifier_gives_the_model_s_probabilities_for_uint8_and_float_images_of_either_shape(model_path):
    images = np.zeros((3, 28, 28), np.uint8)
    images[1, :10] = 255
    images[2] = 255
    classifier = runtime.load(model_path)
    for batch in (images, images.astype(np.float32), images.astype(np.float64)[..., np.newaxis]):
        answer = classifier.predict(batch)
        assert answer.dtype == np.float32 and answer.shape == (3, 10)
        np.testing.assert_allclose(answer, expected(images), rtol=1e-5)
    assert classifier.predict(images).argmax(axis=1).tolist() == [0, 9, 9]


def test_classifier_reads_unsure_threshold_and_temperature_from_the_metadata(model_path):
    classifier = runtime.Classifier(model_path, threads=1)
    assert classifier.unsure_threshold == 0.35 and classifier.temperature == 1.5
    assert classifier.metadata == {"unsure_threshold": "0.35", "temperature": "1.5"}


def test_classifier_without_metadata_has_no_unsure_threshold(tmp_path):
    classifier = runtime.load(write_pixel_sum_model(tmp_path / "m.onnx"))
    assert classifier.unsure_threshold is None and classifier.temperature is None and classifier.metadata == {}


def test_classifier_gives_the_same_answer_in_batches_of_any_size(model_path):
    images = np.random.default_rng(0).integers(0, 256, (7, 28, 28), dtype=np.uint8)
    classifier = runtime.load(model_path)
    whole = classifier.predict(images)
    for batch_size in (1, 3, 7, 100):
        np.testing.assert_array_equal(classifier.predict(images, batch_size=batch_size), whole)


def test_classifier_without_spinning_threads_gives_the_same_answers(model_path):
    images = np.random.default_rng(1).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    np.testing.assert_array_equal(runtime.load(model_path, spinning=False).predict(images), runtime.load(model_path).predict(images))


@pytest.mark.parametrize("batch_size", [0, -2, 2.5, True])
def test_classifier_rejects_a_batch_size_that_is_not_a_positive_integer(model_path, batch_size):
    with pytest.raises(ValueError, match=r"^batch_size must be a positive integer or None; got "):
        runtime.load(model_path).predict(np.zeros((2, 28, 28), np.uint8), batch_size=batch_size)


def test_classifier_answers_an_empty_batch_with_no_rows(model_path):
    assert runtime.load(model_path).predict(np.zeros((0, 28, 28), np.uint8)).shape == (0, 10)


@pytest.mark.parametrize(
    "images",
    [np.zeros((2, 28, 28, 1), np.uint8), np.zeros((28, 28), np.uint8), np.zeros((2, 28, 27), np.float32), np.zeros((2, 28, 28), np.int64)],
    ids=["uint8-with-channel", "one-image-without-batch", "wrong-side", "int64"],
)
def test_classifier_rejects_images_of_another_shape_or_type_saying_what_it_takes(model_path, images):
    with pytest.raises(ValueError, match=r"^images must be uint8 \(N, 28, 28\) or float \(N, 28, 28\) / \(N, 28, 28, 1\) raw 0-255 pixels; got "):
        runtime.load(model_path).predict(images)


def test_load_reports_a_missing_file_with_how_to_make_one(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"none\.onnx: no such model file; export one first \(dvc repro export\)$"):
        runtime.load(tmp_path / "none.onnx")


def test_load_reports_a_file_that_is_not_onnx_on_one_line(tmp_path):
    (tmp_path / "bad.onnx").write_text("not a model")
    with pytest.raises(ValueError, match=r"bad\.onnx: not an ONNX model onnxruntime can run \(.*Protobuf parsing failed") as error:
        runtime.load(tmp_path / "bad.onnx")
    assert "\n" not in str(error.value)


def test_load_rejects_a_model_with_another_input_shape(tmp_path):
    path = write_pixel_sum_model(tmp_path / "m.onnx", input_shape=("N", 784))
    with pytest.raises(ValueError, match=r"expected a model from \(N, 28, 28, 1\) images to \(N, 10\) probabilities; got inputs \[\['N', 784\]\]"):
        runtime.load(path)


def test_load_rejects_a_threshold_in_the_metadata_that_is_not_a_number(tmp_path):
    path = write_pixel_sum_model(tmp_path / "m.onnx", metadata={"unsure_threshold": "high"})
    with pytest.raises(ValueError, match=r"metadata unsure_threshold must be a finite number; got 'high' \(re-export: dvc repro export\)"):
        runtime.load(path)


@pytest.mark.parametrize("threads", [0, -1, 1.5, True])
def test_classifier_rejects_a_thread_count_that_is_not_a_positive_integer(model_path, threads):
    with pytest.raises(ValueError, match=r"threads must be a positive integer; got "):
        runtime.Classifier(model_path, threads=threads)
