"""RandomAffine: rotation, zoom and translation within their ranges, in one resampling that blurs less than Keras's three."""
from __future__ import annotations

import math

import keras
import numpy as np
import pytest

from mnistflow.training.augment import RandomAffine
from synthetic import make_digits

SIDE = 28
CENTRE = (SIDE - 1) / 2


def blobs(dx: float, dy: float, count: int = 64) -> np.ndarray:
    """`count` copies of a Gaussian blob (sigma 1.2 px) at (centre + dx, centre + dy): (count, 28, 28, 1) float32."""
    ys, xs = np.mgrid[0:SIDE, 0:SIDE]
    blob = 255 * np.exp(-((xs - CENTRE - dx) ** 2 + (ys - CENTRE - dy) ** 2) / (2 * 1.2**2))
    return np.repeat(blob[None, :, :, None], count, axis=0).astype(np.float32)


def centroids(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Intensity-weighted centre of each image, relative to the image centre: (x, y) arrays."""
    ys, xs = np.mgrid[0:SIDE, 0:SIDE]
    mass = images[..., 0].sum(axis=(1, 2))
    return (images[..., 0] * xs).sum(axis=(1, 2)) / mass - CENTRE, (images[..., 0] * ys).sum(axis=(1, 2)) / mass - CENTRE


def test_random_affine_with_all_ranges_zero_returns_the_images_exactly():
    images = make_digits(2, seed=0)[0][..., None].astype(np.float32)
    np.testing.assert_array_equal(np.asarray(RandomAffine(0, 0, 0, seed=1)(images, training=True)), images)


def test_random_affine_outside_training_returns_the_images_untouched():
    images = make_digits(2, seed=0)[0][..., None].astype(np.float32)
    np.testing.assert_array_equal(np.asarray(RandomAffine(15, 0.1, 0.1, seed=1)(images, training=False)), images)


def test_random_affine_rotation_keeps_the_distance_to_the_centre_and_turns_within_the_range_both_ways():
    x, y = centroids(np.asarray(RandomAffine(rotation=30, seed=2)(blobs(8, 0), training=True)))
    np.testing.assert_allclose(np.hypot(x, y), 8.0, atol=0.2)
    angles = np.degrees(np.arctan2(y, x))
    assert np.all(np.abs(angles) <= 30.5)
    assert angles.min() < -15 and angles.max() > 15  # drawn per image, both directions


def test_random_affine_zoom_scales_the_distance_to_the_centre_within_the_range_without_turning():
    x, y = centroids(np.asarray(RandomAffine(zoom=0.2, seed=3)(blobs(8, 0), training=True)))
    ratio = np.hypot(x, y) / 8.0
    assert np.all((ratio >= 1 / 1.2 - 0.02) & (ratio <= 1 / 0.8 + 0.02))
    assert ratio.min() < 0.95 and ratio.max() > 1.05  # zoomed in and out
    np.testing.assert_allclose(y, 0.0, atol=0.05)


def test_random_affine_translation_shifts_each_axis_independently_within_the_fraction_of_the_side():
    x, y = centroids(np.asarray(RandomAffine(translation=0.1, seed=4)(blobs(0, 0), training=True)))
    bound = 0.1 * SIDE + 0.05
    assert np.all(np.abs(x) <= bound) and np.all(np.abs(y) <= bound)
    assert x.min() < -1.4 and x.max() > 1.4 and y.min() < -1.4 and y.max() > 1.4
    assert abs(np.corrcoef(x, y)[0, 1]) < 0.5


def test_random_affine_keeps_strokes_sharper_than_kerass_three_layers_with_the_same_ranges():
    images = make_digits(20, seed=5)[0][..., None].astype(np.float32)
    stack = keras.Sequential([
        keras.layers.RandomRotation(9 / 360, fill_mode="constant", seed=6),
        keras.layers.RandomZoom(0.08, fill_mode="constant", seed=7),
        keras.layers.RandomTranslation(0.08, 0.08, fill_mode="constant", seed=8),
    ])
    ours = np.asarray(RandomAffine(9, 0.08, 0.08, seed=6)(images, training=True))
    theirs = np.asarray(stack(images, training=True))

    def saturated(batch):  # share of pixels still near full ink: each interpolation shaves the strokes' peaks
        return float((batch > 200).mean())

    assert saturated(ours) > 1.15 * saturated(theirs)
    assert saturated(ours) < saturated(images)  # sub-pixel resampling still softens a little: the test measures something


def test_random_affine_with_the_same_seed_repeats_its_draws_and_moves_on_between_calls():
    images = make_digits(1, seed=9)[0][..., None].astype(np.float32)
    first, second = RandomAffine(9, 0.08, 0.08, seed=10), RandomAffine(9, 0.08, 0.08, seed=10)
    a, b = np.asarray(first(images, training=True)), np.asarray(second(images, training=True))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(np.asarray(first(images, training=True)), a)
    assert [variable.name for variable in first.variables] == ["seed_generator_state"]  # saved by resume.Checkpoint


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rotation": -1}, r"rotation must be in \[0, 180\] degrees; got -1"),
        ({"zoom": 1.0}, r"zoom must be a fraction in \[0, 1\); got 1.0"),
        ({"translation": math.inf}, r"translation must be a fraction in \[0, 1\); got inf"),
    ],
)
def test_random_affine_rejects_a_range_outside_its_bounds_naming_it(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RandomAffine(**kwargs)


def test_noise_blur_does_nothing_outside_training():
    from mnistflow.training.augment import RandomNoiseBlur

    images = np.zeros((2, 28, 28, 1), np.float32)
    images[:, 10:18, 13:15] = 255
    assert np.array_equal(np.asarray(RandomNoiseBlur(0.2, 1.5, seed=1)(images, training=False)), images)


def test_blur_spreads_a_bright_stroke_and_keeps_pixels_in_range():
    from mnistflow.training.augment import RandomNoiseBlur

    images = np.zeros((8, 28, 28, 1), np.float32)
    images[:, 8:20, 13:15] = 255
    blurred = np.asarray(RandomNoiseBlur(0.0, 2.0, seed=3)(images, training=True))
    assert blurred.min() >= 0 and blurred.max() <= 255
    assert (blurred[:, 14, 11, 0] > 0).sum() >= 4  # ink spread beside the stroke in most images
    assert abs(blurred.sum() - images.sum()) / images.sum() < 0.02  # a blur moves ink, it does not add it


def test_noise_roughens_the_background_by_up_to_its_std():
    from mnistflow.training.augment import RandomNoiseBlur

    images = np.full((16, 28, 28, 1), 128, np.float32)
    noisy = np.asarray(RandomNoiseBlur(0.1, 0.0, seed=4)(images, training=True))
    stds = noisy.reshape(16, -1).std(axis=1)
    assert stds.max() <= 0.1 * 255 * 1.1 and stds.max() > 5  # each image its own std, up to 25.5


def test_noise_blur_rejects_out_of_range_settings():
    from mnistflow.training.augment import RandomNoiseBlur

    with pytest.raises(ValueError, match=r"noise must be a fraction of 255 in \[0, 1\]; got 2"):
        RandomNoiseBlur(noise=2)
    with pytest.raises(ValueError, match=r"blur must be a sigma in \[0, 3\] pixels; got -1"):
        RandomNoiseBlur(blur=-1)
