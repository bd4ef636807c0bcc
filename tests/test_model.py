from __future__ import annotations

import numpy as np
import pytest

from mnistflow.core import params
from mnistflow.training.config import ArchitectureParams, AugmentParams, ConvBlock, TrainParams, feature_map_sides
from mnistflow.training.model import build_model

# The notebooks' architectures, as they appear in the README's params examples.
NOTEBOOK_ONE_BLOCK = {
    "blocks": [{"filters": 32, "kernel_size": 3, "padding": "valid", "pool": True, "dropout": 0.25}], "dense_units": 0, "dropout": 0,
    "normalize": "rescale",
}
NOTEBOOK_TWO_BLOCKS = {
    "blocks": [
        {"filters": 32, "kernel_size": 3, "padding": "valid", "norm": True, "pool": True, "dropout": 0.25},
        {"filters": 64, "kernel_size": 3, "padding": "valid", "norm": True, "pool": True, "dropout": 0.25},
    ],
    "dense_units": 128,
    "dense_norm": False,
    "dropout": 0.5,
    "norm": "batch",
}


NO_AUGMENT = AugmentParams(rotation=0, zoom=0, translation=0, noise=0, blur=0)


def layer_classes(model) -> list[str]:
    return [type(layer).__name__ for layer in model.layers]


def test_build_model_one_block_notebook_architecture_has_exactly_its_layers():
    architecture = params.parse(ArchitectureParams, NOTEBOOK_ONE_BLOCK, key="train.model")
    model = build_model(architecture, NO_AUGMENT)
    assert layer_classes(model) == [
        "InputLayer", "Rescaling", "Conv2D", "Activation", "MaxPooling2D", "Dropout", "Flatten", "Dense",
    ]
    assert model.count_params() == 32 * 9 + 32 + 13 * 13 * 32 * 10 + 10


def test_build_model_two_block_notebook_architecture_uses_batch_normalization():
    architecture = params.parse(ArchitectureParams, NOTEBOOK_TWO_BLOCKS, key="train.model")
    model = build_model(architecture, NO_AUGMENT)
    assert layer_classes(model).count("BatchNormalization") == 2
    assert layer_classes(model)[-4:] == ["Dense", "Activation", "Dropout", "Dense"]
    assert model.get_layer("block2_conv").output.shape == (None, 11, 11, 64)


def test_build_model_takes_raw_pixels_and_returns_float32_probabilities():
    model = build_model(ArchitectureParams(normalize="rescale"), AugmentParams(rotation=10, zoom=0.1, translation=0.1))
    images = np.full((3, 28, 28, 1), 255.0, dtype=np.float32)
    probabilities = np.asarray(model(images, training=False))
    assert probabilities.shape == (3, 10) and probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    # one RandomAffine for all three geometric draws, then noise and blur, then the rescaling
    assert [layer.name for layer in model.layers[1:4]] == ["augment", "noise_blur", "rescale"]


def test_build_model_augmentation_changes_training_batches_only():
    model = build_model(ArchitectureParams(blocks=(ConvBlock(4),), dense_units=0), AugmentParams(rotation=0, zoom=0, translation=0.2))
    images = np.random.default_rng(0).uniform(0, 255, (2, 28, 28, 1)).astype(np.float32)
    augment = model.get_layer("augment")
    np.testing.assert_array_equal(np.asarray(augment(images, training=False)), images)
    assert not np.array_equal(np.asarray(augment(images, training=True)), images)


def test_build_model_mixed_precision_computes_in_bfloat16_with_a_float32_softmax():
    model = build_model(ArchitectureParams(), NO_AUGMENT, mixed_precision=True)
    assert model.get_layer("block1_conv").compute_dtype == "bfloat16"
    assert model.get_layer("block1_conv").kernel.dtype == "float32"
    assert model.output.dtype == "float32"


def test_build_model_sets_the_batch_norm_momentum_of_every_batch_norm_layer():
    architecture = ArchitectureParams(blocks=(ConvBlock(4, norm=True),), dense_units=8, dense_norm=True, batch_norm_momentum=0.9, norm="batch")
    model = build_model(architecture, NO_AUGMENT)
    assert [layer.momentum for layer in model.layers if type(layer).__name__ == "BatchNormalization"] == [0.9, 0.9]


def test_feature_map_sides_follow_padding_strides_and_pooling():
    blocks = (ConvBlock(8, padding="valid"), ConvBlock(8, pool=True), ConvBlock(8, kernel_size=5, strides=2, padding="same"))
    assert feature_map_sides(blocks) == [26, 13, 7]


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"model": {"blocks": [{"filters": 0}]}}, r"^train\.model\.blocks\[0\]\.filters must be positive; got 0$"),
        ({"model": {"blocks": [{"filters": 8, "dropout": 1.5}]}}, r"^train\.model\.blocks\[0\]\.dropout must be in \[0, 1\); got 1\.5$"),
        ({"model": {"dropout": 1.5}}, r"^train\.model\.dropout must be in \[0, 1\); got 1\.5$"),
        ({"model": {"blocks": []}}, r"^train\.model\.blocks must list at least one convolution block; got \[\]$"),
        ({"model": {"blocks": [{"filters": 8, "pool": True}] * 5}}, r"^train\.model\.blocks\[4\] shrinks the 28x28 image to nothing"),
        ({"model": {"blocks": [{"filters": 8, "padding": "full"}]}}, r"^train\.model\.blocks\[0\]\.padding must be one of 'same', 'valid'; got 'full'$"),
        ({"augment": {"rotation": -5}}, r"^train\.augment\.rotation must be in \[0, 180\]; got -5$"),
        ({"model": {"tophat": 10}}, r"^train\.model\.tophat must be 0 \(off\) or an odd number of pixels from 3 to 27; got 10$"),
        ({"model": {"norm": "instance"}}, r"^train\.model\.norm must be one of 'batch', 'layer'; got 'instance'$"),
        ({"model": {"layers": 3}}, r"^train\.model\.layers is not a known parameter"),
        ({"model": {"blocks": [{"filters": 8, "batch_norm": True}]}},
         r"^train\.model\.blocks\[0\]\.batch_norm is now called train\.model\.blocks\[0\]\.norm; rename it$"),
        ({"model": {"dense_batch_norm": False}}, r"^train\.model\.dense_batch_norm is now called train\.model\.dense_norm; rename it$"),
        ({"model": {"batch_norm_momentum": 0.9}},
         r"^train\.model\.batch_norm_momentum applies to norm: batch only; got 0\.9 with norm: layer \(set train\.model\.norm: batch, or leave"),
    ],
)
def test_train_params_reject_a_bad_architecture_naming_the_key(section, message):
    with pytest.raises(ValueError, match=message):
        params.parse(TrainParams, section, key="train")


def test_per_image_normalisation_makes_a_grey_faded_background_look_like_the_original():
    from mnistflow.training import model as model_module

    architecture = ArchitectureParams(normalize="per_image")
    net = model_module.build_model(architecture, model_module.NO_AUGMENTATION)
    images = np.zeros((3, 28, 28, 1), np.float32)
    images[:, 6:22, 12:16] = 255
    images[1, 3:6, 3:6] = 100
    shifted = images * 0.6 + 90  # the background raised to 90 and the contrast cut to 60 %
    assert np.allclose(net.predict(images, verbose=0), net.predict(shifted, verbose=0), atol=1e-5)


def test_white_tophat_is_the_image_minus_scipys_grey_opening():
    from scipy import ndimage

    from mnistflow.training.model import white_tophat

    image = np.random.default_rng(3).integers(0, 256, size=(28, 28)).astype(np.float32)
    image[:, :7] = 255  # a band at the edge, as wide as the suite's stripe
    expected = image - ndimage.grey_opening(image, size=(5, 5), mode="nearest")
    got = np.asarray(white_tophat(image[np.newaxis, ..., np.newaxis], 5))[0, ..., 0]
    np.testing.assert_allclose(got, expected, atol=1e-4)


def test_tophat_removes_a_wide_bright_band_at_the_edge_and_keeps_a_stroke():
    from mnistflow.training.model import white_tophat

    stroke = np.zeros((1, 28, 28, 1), np.float32)
    stroke[0, 6:22, 12:16] = 255  # a 4-pixel-wide stroke
    banded = stroke.copy()
    banded[0, :, :7] = 255  # 7 white columns at the left edge
    banded[0, :, 21:] = 255
    np.testing.assert_allclose(np.asarray(white_tophat(banded, 11)), stroke, atol=1e-4)
    np.testing.assert_allclose(np.asarray(white_tophat(stroke, 11)), stroke, atol=1e-4)
    assert np.asarray(white_tophat(banded, 3)).sum() < stroke.sum()  # too small a window: the stroke goes too


def test_layer_norm_normalises_each_image_by_its_own_statistics_and_batch_norm_does_not():
    from mnistflow.training import model as model_module

    features = np.random.default_rng(5).normal(size=(2, 26, 26, 32)).astype(np.float32)
    shifted = features.copy()
    shifted[1] = 3.0 * features[1] + 2.0  # one image's features scaled and raised, as added ink does
    outputs = {}
    for norm in ("layer", "batch"):
        net = model_module.build_model(ArchitectureParams(norm=norm), model_module.NO_AUGMENTATION)
        layer = net.get_layer("block1_bn")
        outputs[norm] = np.asarray(layer(features, training=False)), np.asarray(layer(shifted, training=False))
    np.testing.assert_allclose(outputs["layer"][1], outputs["layer"][0], atol=1e-2)  # the image's own mean and std are taken out
    assert not np.allclose(outputs["batch"][1][1], outputs["batch"][0][1], atol=1e-1)  # moving statistics: the shift goes through
    np.testing.assert_allclose(outputs["batch"][1][0], outputs["batch"][0][0])  # the other image of the batch is unchanged either way


def test_a_temperature_divides_the_logits_before_the_softmax():
    from mnistflow.core import calibration
    from mnistflow.training import model as model_module

    architecture = ArchitectureParams(dense_units=0, blocks=(ConvBlock(4),))
    no_augment = model_module.NO_AUGMENTATION
    plain = model_module.build_model(architecture, no_augment)
    images = np.random.default_rng(0).uniform(0, 255, size=(5, 28, 28, 1)).astype(np.float32)
    softened = model_module.inference_copy(plain, architecture, temperature=2.0)
    expected = calibration.scale(plain.predict(images, verbose=0), 2.0)
    assert np.allclose(softened.predict(images, verbose=0), expected, atol=1e-5)
