"""The `train` section of params.yaml, typed: what the trainer, the model and its augmentation take.

    config = params.load_section("params.yaml", "train", TrainParams)   # (in the stage)
    config.model.blocks[0].filters, config.augment.rotation

Kept apart from the code that trains so the stage checks every param before TensorFlow is
imported. Each default is written once here, and held equal to params.yaml by
tests/test_params_yaml.py.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Literal

from mnistflow.core import arrays, params
from mnistflow.training.distribute import Distribution

UNIT_INTERVAL = params.between(0, 1, high_open=True)


def _window(value) -> str | None:
    return None if value == 0 or (3 <= value <= arrays.SIDE - 1 and value % 2 == 1) else "0 (off) or an odd number of pixels from 3 to 27"


@dataclasses.dataclass(frozen=True)
class ConvBlock:
    """One convolution block (`train.model.blocks[i]`)."""

    RENAMED = {"batch_norm": "norm"}  # (not a field) old key -> new key, for params.parse's message

    filters: int = dataclasses.field(default=32, metadata=params.check(params.positive))
    kernel_size: int = dataclasses.field(default=3, metadata=params.check(params.positive))
    strides: int = dataclasses.field(default=1, metadata=params.check(params.positive))
    padding: Literal["same", "valid"] = "same"
    norm: bool = False  # the normalisation layer `train.model.norm` names, after the conv (which then has no bias)
    pool: bool = False  # 2x2 max pooling after the activation
    dropout: float = dataclasses.field(default=0.0, metadata=params.check(UNIT_INTERVAL))


@dataclasses.dataclass(frozen=True)
class ArchitectureParams:
    """`train.model`: the layers between the (augmented, rescaled) input and the softmax."""

    RENAMED = {"dense_batch_norm": "dense_norm"}  # (not a field) old key -> new key

    blocks: tuple[ConvBlock, ...] = (
        ConvBlock(32, padding="valid", norm=True),
        ConvBlock(32, padding="valid", norm=True, pool=True, dropout=0.25),
        ConvBlock(64, padding="valid", norm=True),
        ConvBlock(64, padding="valid", norm=True, pool=True, dropout=0.25),
    )
    # rescale: pixels / 255. per_image: subtract each image's background level (a low quantile of its
    # pixels) and divide by its max above that, so a raised, grey or faded background and low contrast all look like MNIST
    # (the same idea as core.digit_image.prepare for files, but inside the model, so every
    # consumer of the saved model gets it).
    normalize: Literal["rescale", "per_image"] = "per_image"
    # Before normalising, subtract the image's grey opening with a tophat x tophat square (a white
    # top-hat): bright areas too wide for that square to fit in a stroke (a band at the edge, fog, a
    # raised background) go, strokes stay. 0: off. docs/robustness.md says how 11 was chosen.
    tophat: int = dataclasses.field(default=11, metadata=params.check(_window))
    # What a block's `norm` (and `dense_norm`) puts after the layer: batch (BatchNormalization,
    # moving statistics fixed after training) or layer (GroupNormalization with one group: each
    # image's own statistics over the whole feature map, per-channel scale and shift).
    norm: Literal["batch", "layer"] = "layer"
    global_pool: bool = False  # GlobalAveragePooling2D instead of Flatten
    dense_units: int = dataclasses.field(default=256, metadata=params.check(params.non_negative))  # 0: none
    dense_norm: bool = True  # the normalisation layer `norm` names, after the hidden Dense layer
    dropout: float = dataclasses.field(default=0.4, metadata=params.check(UNIT_INTERVAL))  # before the output layer
    # norm: batch only. Keras's 0.99 lets the moving statistics lag for hundreds of steps; 0.9 makes
    # a model that has trained for one or two epochs evaluate well (short, fast runs).
    batch_norm_momentum: float = dataclasses.field(default=0.99, metadata=params.check(UNIT_INTERVAL))

    def __post_init__(self) -> None:
        if not self.blocks:
            raise ValueError("train.model.blocks must list at least one convolution block; got []")
        feature_map_sides(self.blocks)
        default = next(f.default for f in dataclasses.fields(self) if f.name == "batch_norm_momentum")
        if self.norm != "batch" and self.batch_norm_momentum != default:
            raise ValueError(
                f"train.model.batch_norm_momentum applies to norm: batch only; got {self.batch_norm_momentum!r} "
                f"with norm: {self.norm} (set train.model.norm: batch, or leave the momentum at {default})"
            )


@dataclasses.dataclass(frozen=True)
class AugmentParams:
    """`train.augment`: random transforms applied to training batches only (0 turns one off)."""

    rotation: float = dataclasses.field(default=9.0, metadata=params.check(params.between(0, 180)))  # degrees, +-
    zoom: float = dataclasses.field(default=0.08, metadata=params.check(UNIT_INTERVAL))  # fraction, +-
    translation: float = dataclasses.field(default=0.08, metadata=params.check(UNIT_INTERVAL))  # fraction of the side, +-
    # Gaussian pixel noise, std drawn per image in [0, noise] x 255, and Gaussian blur, sigma drawn
    # per image in [0, blur] pixels (augment.RandomNoiseBlur). Neither is one of the robustness
    # suite's corruptions (docs/robustness.md says why they are disjoint).
    noise: float = dataclasses.field(default=0.15, metadata=params.check(params.between(0, 1)))
    blur: float = dataclasses.field(default=1.5, metadata=params.check(params.between(0, 3)))


NO_AUGMENTATION = AugmentParams(rotation=0, zoom=0, translation=0, noise=0, blur=0)


def feature_map_sides(blocks: tuple[ConvBlock, ...]) -> list[int]:
    """The feature map's side after each block; ValueError (naming the block) if it vanishes."""
    side, sides = arrays.SIDE, []
    for index, block in enumerate(blocks):
        if block.padding == "valid":
            side = side - block.kernel_size + 1
        side = math.ceil(side / block.strides) if side > 0 else side
        if block.pool:
            side //= 2
        if side < 1:
            raise ValueError(
                f"train.model.blocks[{index}] shrinks the 28x28 image to nothing; "
                "use fewer pooling or strided blocks, or padding 'same'"
            )
        sides.append(side)
    return sides


@dataclasses.dataclass(frozen=True)
class TrainParams:
    """The `train` section of params.yaml."""

    epochs: int = dataclasses.field(default=8, metadata=params.check(params.positive))
    batch_size: int = dataclasses.field(default=128, metadata=params.check(params.positive))
    optimizer: Literal["adam", "adamw"] = "adamw"
    learning_rate: float = dataclasses.field(default=2e-3, metadata=params.check(params.positive))
    weight_decay: float = dataclasses.field(default=5e-4, metadata=params.check(params.non_negative))  # adamw only, all weights
    schedule: Literal["none", "cosine", "one_cycle", "plateau"] = "cosine"
    warmup: float = dataclasses.field(default=0.05, metadata=params.check(params.between(0, 1, high_open=True)))
    plateau_factor: float = dataclasses.field(default=0.5, metadata=params.check(params.between(0, 1, low_open=True, high_open=True)))
    plateau_patience: int = dataclasses.field(default=2, metadata=params.check(params.positive))
    label_smoothing: float = dataclasses.field(default=0.0, metadata=params.check(params.between(0, 1, high_open=True)))
    early_stopping_patience: int | None = dataclasses.field(default=None, metadata=params.check(params.positive))
    # The validation figure that picks the kept weights (and drives early stopping and plateau):
    # val_loss moves smoothly; val_accuracy on 6,000 images moves in steps of one image (0.017%).
    best_by: Literal["val_loss", "val_accuracy"] = "val_loss"
    mixed_precision: bool = False  # bfloat16 compute: faster with AMX / AVX-512 BF16, several times slower without (bench/precision.py; docs/benchmarks.md)
    distribution: Distribution = "none"  # none | mirrored | multi_worker (docs/scaling.md)
    # Temperature scaling (Guo et al. 2017) fitted on the validation split and built into the saved
    # model, and the share of validation digits whose top probability sets the "unsure" threshold.
    temperature_scaling: bool = True
    # Outlier exposure (Hendrycks et al. 2019): this share of each batch is added as scrambled copies
    # of its digits (pixels shuffled, or 7x7 tiles shuffled) with a uniform target, so the model
    # learns low confidence on things that are not digits (`core.not_digits.scrambled`, docs/robustness.md).
    outlier_exposure: float = dataclasses.field(default=0.1, metadata=params.check(params.between(0, 1, high_open=True)))
    unsure_rate: float = dataclasses.field(default=0.01, metadata=params.check(params.between(0, 1, high_open=True)))
    model: ArchitectureParams = ArchitectureParams()
    augment: AugmentParams = AugmentParams()


