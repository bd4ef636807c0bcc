"""Elastic distortion: a smooth random resampling per image, seeded, never mixing images."""
import numpy as np
import pytest

from mnistflow import elastic


def stroke_images() -> np.ndarray:
    """Two 8x8 images: a vertical bar and a horizontal bar."""
    images = np.zeros((2, 8, 8), dtype=np.uint8)
    images[0, 1:7, 3:5] = 255
    images[1, 3:5, 1:7] = 200
    return images


def test_distort_with_alpha_zero_returns_the_images_unchanged_as_float32():
    images = stroke_images()
    distorted = elastic.distort(images, alpha=0.0, sigma=4.0, rng=np.random.default_rng(0))
    assert distorted.dtype == np.float32 and distorted.shape == (2, 8, 8)
    np.testing.assert_array_equal(distorted, images.astype(np.float32))


def test_distort_is_a_function_of_the_generator_s_seed():
    images = stroke_images()
    first = elastic.distort(images, alpha=34.0, sigma=2.0, rng=np.random.default_rng([3, 1, 0]))
    again = elastic.distort(images, alpha=34.0, sigma=2.0, rng=np.random.default_rng([3, 1, 0]))
    other = elastic.distort(images, alpha=34.0, sigma=2.0, rng=np.random.default_rng([3, 2, 0]))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    assert not np.array_equal(first, images.astype(np.float32))  # it did move the strokes


def test_distort_never_mixes_images_and_stays_within_the_pixel_range():
    images = stroke_images()
    images[1] = 0  # a blank image beside a bright one stays blank
    distorted = elastic.distort(images, alpha=34.0, sigma=2.0, rng=np.random.default_rng(5))
    assert distorted[1].max() == 0.0
    assert distorted.min() >= 0.0 and distorted.max() <= 255.0 and distorted[0].max() > 0


@pytest.mark.parametrize(("alpha", "sigma"), [(-1.0, 4.0), (34.0, 0.0)])
def test_distort_rejects_a_negative_scale_or_a_zero_smoothness(alpha, sigma):
    with pytest.raises(ValueError, match=rf"needs alpha >= 0 and sigma > 0; got alpha={alpha}, sigma={sigma}"):
        elastic.distort(stroke_images(), alpha=alpha, sigma=sigma, rng=np.random.default_rng(0))
