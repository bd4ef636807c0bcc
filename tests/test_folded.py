"""Folding BatchNorm and Rescaling into convolutions: same answers, fewer operations (numpy only)."""
import numpy as np
import pytest

from mnistflow.serving import folded, numpy_model


def run(ops, x):
    """Apply operations one by one with the numpy engine's functions."""
    for op in ops:
        x = numpy_model.operation(op)(x)
    return x


@pytest.fixture
def rng():
    return np.random.default_rng(11)


def conv(rng, inputs, filters, padding="valid", bias=True):
    return folded.Op(
        "conv", layer="conv", kernel=rng.normal(size=(3, 3, inputs, filters)).astype(np.float32),
        bias=rng.normal(size=filters).astype(np.float32) if bias else None, padding=padding,
    )


def batch_norm(rng, channels):
    return folded.Op(
        "affine", layer="bn", multiplier=rng.uniform(0.5, 2, channels).astype(np.float32),
        shift=rng.normal(size=channels).astype(np.float32),
    )


def rescaling(scale, offset):
    return folded.Op("affine", layer="rescale", multiplier=np.float32(scale), shift=np.float32(offset))


def test_batch_norm_after_a_convolution_folds_into_its_kernel_and_bias(rng):
    ops = [conv(rng, 1, 4, bias=False), batch_norm(rng, 4), folded.Op("activation", layer="relu", function="relu")]
    x = rng.uniform(0, 255, (3, 8, 8, 1)).astype(np.float32)
    result = folded.fold(ops)
    assert [op.kind for op in result] == ["conv", "activation"]
    np.testing.assert_allclose(run(result, x), run(ops, x), rtol=1e-5, atol=1e-3)


def test_rescaling_with_an_offset_folds_into_a_valid_convolution_after_it(rng):
    ops = [rescaling(1 / 255, -0.5), conv(rng, 1, 4, padding="valid")]
    x = rng.uniform(0, 255, (3, 8, 8, 1)).astype(np.float32)
    result = folded.fold(ops)
    assert [op.kind for op in result] == ["conv"]
    np.testing.assert_allclose(run(result, x), run(ops, x), rtol=1e-5, atol=1e-5)


def test_rescaling_with_an_offset_stays_before_a_same_padded_convolution(rng):
    # the zero border a 'same' convolution adds would be shifted too: folding would change the edges
    ops = [rescaling(1 / 255, -0.5), conv(rng, 1, 4, padding="same")]
    assert [op.kind for op in folded.fold(ops)] == ["affine", "conv"]


def test_rescaling_without_offset_folds_into_a_same_padded_convolution(rng):
    ops = [rescaling(1 / 255, 0.0), conv(rng, 1, 4, padding="same")]
    x = rng.uniform(0, 255, (2, 7, 7, 1)).astype(np.float32)
    result = folded.fold(ops)
    assert [op.kind for op in result] == ["conv"]
    np.testing.assert_allclose(run(result, x), run(ops, x), rtol=1e-5, atol=1e-5)


def test_batch_norm_after_an_activation_is_kept(rng):
    ops = [conv(rng, 1, 4), folded.Op("activation", layer="relu", function="relu"), batch_norm(rng, 4)]
    assert [op.kind for op in folded.fold(ops)] == ["conv", "activation", "affine"]


def test_two_affine_maps_in_a_row_fold_into_the_convolutions_around_them(rng):
    dense = folded.Op("dense", layer="dense", kernel=rng.normal(size=(36, 5)).astype(np.float32), bias=None)
    ops = [rescaling(2.0, 1.0), conv(rng, 1, 4), batch_norm(rng, 4), folded.Op("flatten", layer="flatten"), dense, batch_norm(rng, 5)]
    x = rng.uniform(0, 1, (2, 5, 5, 1)).astype(np.float32)
    result = folded.fold(ops)
    assert [op.kind for op in result] == ["conv", "flatten", "dense"]
    np.testing.assert_allclose(run(result, x), run(ops, x), rtol=1e-5, atol=1e-4)


def test_a_per_channel_map_before_a_convolution_is_kept(rng):
    ops = [conv(rng, 1, 4), folded.Op("activation", layer="relu", function="relu"), batch_norm(rng, 4), conv(rng, 4, 2)]
    assert [op.kind for op in folded.fold(ops)] == ["conv", "activation", "affine", "conv"]
