"""Unit tests for the not-digits: the drawn out-of-distribution set and the scrambled digits (mnistflow.core.not_digits)."""
from __future__ import annotations

import numpy as np
import pytest

from mnistflow.core import not_digits as ood

DRAWN = ("scribbles", "shapes", "letters")  # the kinds shaped like MNIST's digits


def ink_box_and_centre(image: np.ndarray) -> tuple[int, np.ndarray]:
    """The longer side of the box round the nonzero pixels, and the centre of mass (row, column)."""
    rows, columns = np.nonzero(image)
    weights = image[rows, columns].astype(np.float64)
    side = max(rows.max() - rows.min(), columns.max() - columns.min()) + 1
    return int(side), np.array([(rows * weights).sum(), (columns * weights).sum()]) / weights.sum()


def test_kinds_are_noise_scribbles_shapes_letters_and_specks():
    assert ood.KINDS == ("uniform_noise", "scribbles", "shapes", "letters", "specks")


def test_make_ood_returns_uint8_images_and_kind_indices_grouped_by_kind():
    images, kinds = ood.make_ood(3, seed=0)
    assert images.dtype == np.uint8 and images.shape == (15, 28, 28)
    assert kinds.dtype == np.uint8
    np.testing.assert_array_equal(kinds, [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4])


def test_make_ood_gives_the_same_images_for_the_same_seed_and_others_for_another():
    first, _ = ood.make_ood(2, seed=5)
    again, _ = ood.make_ood(2, seed=5)
    other, _ = ood.make_ood(2, seed=6)
    np.testing.assert_array_equal(first, again)
    for kind in range(len(ood.KINDS)):
        assert not np.array_equal(first[2 * kind : 2 * kind + 2], other[2 * kind : 2 * kind + 2]), ood.KINDS[kind]


def test_a_kind_asked_for_alone_is_the_same_as_in_the_whole_set_and_keeps_its_index():
    everything, _ = ood.make_ood(2, seed=0)
    letters, kinds = ood.make_ood(2, seed=0, kinds=("letters",))
    np.testing.assert_array_equal(letters, everything[6:8])
    np.testing.assert_array_equal(kinds, [3, 3])


def test_kinds_come_in_the_order_asked_for():
    _, kinds = ood.make_ood(1, seed=0, kinds=("specks", "shapes"))
    np.testing.assert_array_equal(kinds, [4, 2])


def test_drawn_kinds_are_mnist_like_twenty_pixels_across_with_the_ink_centred():
    images, _ = ood.make_ood(4, seed=1, kinds=DRAWN)
    for image in images:
        side, centre = ink_box_and_centre(image)
        assert 19 <= side <= 21
        np.testing.assert_allclose(centre, [14.0, 14.0], atol=1.0)
        assert (image > 127).sum() >= 20


def test_uniform_noise_covers_the_whole_range_in_every_image():
    images, _ = ood.make_ood(2, seed=0, kinds=("uniform_noise",))
    for image in images:
        assert image.min() < 10 and image.max() > 245 and 110 < image.mean() < 145


def test_specks_are_blank_paper_with_a_few_small_specks_where_a_digit_would_be():
    images, _ = ood.make_ood(8, seed=0, kinds=("specks",))
    for image in images:
        assert 1 <= np.count_nonzero(image) <= 16
        rows, columns = np.nonzero(image)
        assert rows.min() >= 4 and rows.max() < 24 and columns.min() >= 4 and columns.max() < 24


def test_letters_leave_out_every_letter_that_reads_as_a_digit():
    assert not set(ood.LETTERS) & set("OoDQIlijJLTtfZzSsGbBgqydp")
    assert len(set(ood.LETTERS)) == len(ood.LETTERS) == 27


@pytest.mark.parametrize("n_per_kind", [0, -2, 1.5, True])
def test_make_ood_rejects_a_count_that_is_not_a_positive_integer(n_per_kind):
    with pytest.raises(ValueError, match=rf"n_per_kind must be a positive integer; got {n_per_kind!r}"):
        ood.make_ood(n_per_kind, seed=0)


def test_make_ood_rejects_an_unknown_kind_and_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"kinds must be distinct names from uniform_noise, .*, specks; got 'letters', 'digits' \(unknown: 'digits'\)"):
        ood.make_ood(1, seed=0, kinds=("letters", "digits"))


@pytest.mark.parametrize(("kinds", "got"), [(("shapes", "shapes"), "got 'shapes', 'shapes'$"), ((), "got none$")])
def test_make_ood_rejects_repeated_or_no_kinds(kinds, got):
    with pytest.raises(ValueError, match=got):
        ood.make_ood(1, seed=0, kinds=kinds)


def test_make_ood_rejects_a_negative_seed():
    with pytest.raises(ValueError, match=r"seed must be a non-negative integer; got -1"):
        ood.make_ood(1, seed=-1)


def test_scrambled_keeps_each_digits_pixels_but_scrambles_where_they_are():

    images = np.arange(4 * 28 * 28, dtype=np.uint16).reshape(4, 28, 28)  # every pixel distinct
    scrambled = ood.scrambled(images, np.random.default_rng(0))
    for original, mixed in zip(images, scrambled):
        assert sorted(original.ravel()) == sorted(mixed.ravel()) and (original != mixed).mean() > 0.5
    tiles = scrambled[2:].reshape(2, 4, 7, 4, 7).transpose(0, 1, 3, 2, 4).reshape(2, 16, 7, 7)
    originals = images[2:].reshape(2, 4, 7, 4, 7).transpose(0, 1, 3, 2, 4).reshape(2, 16, 7, 7)
    for tile_set, original_set in zip(tiles, originals):  # the second half moves whole 7x7 tiles
        assert sorted(map(bytes, tile_set)) == sorted(map(bytes, original_set))
    assert np.array_equal(scrambled, ood.scrambled(images, np.random.default_rng(0)))
