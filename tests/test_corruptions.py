"""Unit tests for the MNIST-C corruptions (mnistflow.data.corruptions) on tiny drawn bars."""
from __future__ import annotations

import numpy as np
import pytest

from mnistflow.data import corruptions

SIDE = 28
# Corruptions that draw nothing from the generator: the same output for every seed.
FIXED = ("scale", "brightness", "stripe", "canny_edges")
RANDOM = tuple(name for name in corruptions.NAMES if name not in FIXED)


def bars() -> np.ndarray:
    """Two images: a vertical bar (rows 6-21, columns 12-15) and a horizontal one (rows 12-15, columns 6-21)."""
    images = np.zeros((2, SIDE, SIDE), dtype=np.uint8)
    images[0, 6:22, 12:16] = 255
    images[1, 12:16, 6:22] = 255
    return images


def centred_square() -> np.ndarray:
    """One image: an 8x8 white square at rows and columns 10-17, centred on (13.5, 13.5)."""
    images = np.zeros((1, SIDE, SIDE), dtype=np.uint8)
    images[0, 10:18, 10:18] = 255
    return images


def centroid(image: np.ndarray) -> np.ndarray:
    rows, columns = np.indices(image.shape)
    return np.array([(rows * image).sum(), (columns * image).sum()]) / image.sum()


def test_names_are_the_fifteen_mnist_c_corruptions_in_the_papers_order():
    assert corruptions.NAMES == (
        "shot_noise", "impulse_noise", "glass_blur", "motion_blur", "shear", "scale", "rotate",
        "brightness", "translate", "stripe", "fog", "spatter", "dotted_line", "zigzag", "canny_edges",
    )


@pytest.mark.parametrize("name", corruptions.NAMES)
def test_corrupt_returns_uint8_images_of_the_input_shape_and_leaves_the_input_alone(name):
    images = bars()
    out = corruptions.corrupt(images, name, seed=0)
    assert out.dtype == np.uint8 and out.shape == (2, SIDE, SIDE)
    np.testing.assert_array_equal(images, bars())


@pytest.mark.parametrize("name", corruptions.NAMES)
def test_corrupt_changes_the_image_visibly(name):
    images = bars()
    out = corruptions.corrupt(images, name, seed=0)
    assert np.abs(out.astype(np.int16) - images).mean() > 3.0


@pytest.mark.parametrize("name", corruptions.NAMES)
def test_corrupt_gives_the_same_images_for_the_same_seed(name):
    np.testing.assert_array_equal(corruptions.corrupt(bars(), name, seed=7), corruptions.corrupt(bars(), name, seed=7))


@pytest.mark.parametrize("name", RANDOM)
def test_corrupt_gives_other_images_for_another_seed(name):
    images = np.tile(bars(), (8, 1, 1))  # 16 images, so random signs cannot all agree by chance
    assert not np.array_equal(corruptions.corrupt(images, name, seed=1), corruptions.corrupt(images, name, seed=2))


@pytest.mark.parametrize("name", FIXED)
def test_corruptions_without_randomness_ignore_the_seed(name):
    np.testing.assert_array_equal(corruptions.corrupt(bars(), name, seed=1), corruptions.corrupt(bars(), name, seed=2))


@pytest.mark.parametrize("name", ["fog", "zigzag", "glass_blur"])
def test_each_corruption_function_takes_a_generator_and_matches_corrupt(name):
    by_function = getattr(corruptions, name)(bars(), np.random.default_rng(3))
    np.testing.assert_array_equal(by_function, corruptions.corrupt(bars(), name, seed=3))


def test_corrupt_of_an_empty_batch_is_an_empty_batch():
    out = corruptions.corrupt(np.zeros((0, SIDE, SIDE), dtype=np.uint8), "fog", seed=0)
    assert out.shape == (0, SIDE, SIDE) and out.dtype == np.uint8


def test_shot_noise_leaves_only_the_four_levels_of_three_photons():
    levels = np.unique(corruptions.corrupt(bars(), "shot_noise", seed=0))
    assert set(levels) <= {0, 85, 170, 255} and 255 in levels


def test_impulse_noise_sets_about_a_sixth_of_the_pixels_to_black_or_white():
    images = np.full((2, SIDE, SIDE), 128, dtype=np.uint8)
    out = corruptions.corrupt(images, "impulse_noise", seed=0)
    flipped = out != 128
    assert set(np.unique(out[flipped])) == {0, 255}
    assert 0.13 < flipped.mean() < 0.21


def test_glass_blur_and_motion_blur_keep_the_ink_roughly():
    images = bars()
    for name, tolerance in (("glass_blur", 0.1), ("motion_blur", 0.02)):
        out = corruptions.corrupt(images, name, seed=0)
        assert abs(out.sum() / images.sum() - 1) < tolerance, name


def test_glass_blur_blurs_vertically_only_as_the_original_did():
    # The swaps spread a horizontal bar's ink right and down alike (one pixel); the blur, as in the
    # original, only down: so twice as much ink lands below the bar as beside it (1.35 x if the
    # blur ran both ways).
    images = np.tile(bars()[1:], (16, 1, 1))
    out = corruptions.corrupt(images, "glass_blur", seed=0).astype(np.float64)
    below, beside = out[:, 16:18, 8:20].mean(), out[:, 12:16, 22:24].mean()
    assert below > 1.6 * beside


@pytest.mark.parametrize("name", ["rotate", "shear", "scale"])
def test_rotate_shear_and_scale_keep_a_centred_square_centred(name):
    out = corruptions.corrupt(centred_square(), name, seed=0)
    np.testing.assert_allclose(centroid(out[0].astype(np.float64)), [13.5, 13.5], atol=0.05)


def test_scale_shrinks_the_ink_to_about_half():
    out = corruptions.corrupt(centred_square(), "scale", seed=0)
    assert 0.45 < out.sum() / centred_square().sum() < 0.6  # 0.7 ** 2 = 0.49, and a bilinear rim


def test_translate_moves_the_centroid_three_pixels_along_each_axis():
    images = centred_square()
    out = corruptions.corrupt(images, "translate", seed=0)
    shift = centroid(out[0].astype(np.float64)) - centroid(images[0].astype(np.float64))
    np.testing.assert_allclose(np.abs(shift), [3.0, 3.0], atol=1e-9)
    assert out.sum() == images.sum()


def test_brightness_lifts_black_to_mid_grey_and_keeps_white():
    images = bars()
    out = corruptions.corrupt(images, "brightness", seed=0)
    assert set(np.unique(out[images == 0])) == {128} and set(np.unique(out[images == 255])) == {255}


def test_stripe_inverts_the_seven_columns_at_each_side():
    images = bars()
    out = corruptions.corrupt(images, "stripe", seed=0)
    np.testing.assert_array_equal(out[:, :, :7], 255 - images[:, :, :7])
    np.testing.assert_array_equal(out[:, :, 7:21], images[:, :, 7:21])
    np.testing.assert_array_equal(out[:, :, 21:], 255 - images[:, :, 21:])


def test_fog_is_a_smooth_haze_under_which_the_bar_still_shows():
    images = bars()
    out = corruptions.corrupt(images, "fog", seed=0).astype(np.float64)
    assert out[images == 0].mean() > 20
    assert out[images == 255].mean() > out[images == 0].mean() + 30
    assert np.abs(np.diff(out[0, :4], axis=1)).mean() < 8  # the top rows hold no ink: haze only


def test_spatter_adds_only_grey_mud_blobs():
    images = bars()
    out = corruptions.corrupt(images, "spatter", seed=0)
    mud = out[(images == 0) & (out != 0)]
    assert mud.size > 0 and mud.min() >= 50 and mud.max() <= 63  # 63 * m for m in [0.8, 1]


def test_dotted_line_leaves_the_gaps_between_its_dashes_untouched():
    images = bars()
    out = corruptions.corrupt(images, "dotted_line", seed=0)
    gaps = np.arange(SIDE) // 2 % 2 == 0
    gaps[27] = True
    np.testing.assert_array_equal(out[:, :, gaps], images[:, :, gaps])
    assert (out[:, :, ~gaps] > images[:, :, ~gaps]).any()


def test_zigzag_runs_from_column_two_to_column_twenty_five():
    images = bars()
    out = corruptions.corrupt(images, "zigzag", seed=0)
    for column in (0, 1, 26, 27):
        np.testing.assert_array_equal(out[:, :, column], images[:, :, column])
    assert (out[:, :, 2:26] > images[:, :, 2:26]).any()


def test_canny_edges_outlines_the_bar_in_black_and_white():
    out = corruptions.corrupt(bars(), "canny_edges", seed=0)
    assert set(np.unique(out)) == {0, 255}
    assert 0 < (out == 255).mean() < 0.2
    assert (out[0, 10:18, 13:15] == 0).all()  # the bar's inside is no edge


def test_corrupt_rejects_an_unknown_name_and_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown corruption 'snow'; expected one of: shot_noise, impulse_noise, .*canny_edges$"):
        corruptions.corrupt(bars(), "snow", seed=0)


@pytest.mark.parametrize(
    ("images", "got"),
    [
        (np.zeros((2, SIDE, SIDE), dtype=np.float32), r"got float32 \(2, 28, 28\)"),
        (np.zeros((2, 32, 32), dtype=np.uint8), r"got uint8 \(2, 32, 32\)"),
        (np.zeros((SIDE, SIDE), dtype=np.uint8), r"got uint8 \(28, 28\)"),
        ([[0] * SIDE] * SIDE, "got list"),
    ],
)
def test_corrupt_rejects_images_that_are_not_uint8_n_by_28_by_28(images, got):
    with pytest.raises(ValueError, match=r"images must be a numpy uint8 array of shape \(N, 28, 28\); " + got):
        corruptions.corrupt(images, "rotate", seed=0)


def test_a_corruption_function_rejects_wrong_images_too():
    with pytest.raises(ValueError, match=r"got int64 \(1, 28, 28\)"):
        corruptions.stripe(np.zeros((1, SIDE, SIDE), dtype=np.int64), np.random.default_rng(0))


@pytest.mark.parametrize("seed", [-1, 1.5, True, "0"])
def test_corrupt_rejects_a_seed_that_is_not_a_non_negative_integer(seed):
    with pytest.raises(ValueError, match=r"seed must be a non-negative integer; got "):
        corruptions.corrupt(bars(), "rotate", seed=seed)
