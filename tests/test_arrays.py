import numpy as np
import pytest

from mnistflow.core import arrays


def test_save_then_load_split_round_trips(tmp_path):
    images = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    labels = np.array([3, 9], dtype=np.uint8)
    arrays.save_split(tmp_path / "s.npz", images, labels)
    loaded_images, loaded_labels = arrays.load_split(tmp_path / "s.npz")
    np.testing.assert_array_equal(loaded_images, images)
    np.testing.assert_array_equal(loaded_labels, labels)


def test_load_split_rejects_a_file_that_is_not_npz(tmp_path):
    (tmp_path / "s.npz").write_text("hello")
    with pytest.raises(ValueError, match=r"s\.npz: not a readable \.npz file"):
        arrays.load_split(tmp_path / "s.npz")


def test_load_split_names_the_missing_array(tmp_path):
    np.savez(tmp_path / "s.npz", images=np.zeros((1, 28, 28), np.uint8))
    with pytest.raises(ValueError, match=r"expected arrays 'images' and 'labels'; missing labels"):
        arrays.load_split(tmp_path / "s.npz")


def test_save_split_rejects_label_ten_and_writes_nothing(tmp_path):
    with pytest.raises(ValueError, match=r"labels must be digits 0-9; found 10"):
        arrays.save_split(tmp_path / "s.npz", np.zeros((1, 28, 28), np.uint8), np.array([10], np.uint8))
    assert list(tmp_path.iterdir()) == []


def test_to_model_input_adds_a_channel_and_keeps_pixel_values():
    batch = arrays.to_model_input(np.full((2, 28, 28), 255, np.uint8))
    assert batch.shape == (2, 28, 28, 1) and batch.dtype == np.float32 and batch.max() == 255.0


def test_class_counts_counts_every_digit_even_when_absent():
    assert arrays.class_counts(np.array([0, 0, 7], np.uint8)).tolist() == [2, 0, 0, 0, 0, 0, 0, 1, 0, 0]
