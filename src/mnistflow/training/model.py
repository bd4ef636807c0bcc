"""The CNN, built from params: a Keras Functional model from raw 0-255 pixels to softmax digits.

    model = build_model(config.ArchitectureParams(), config.AugmentParams(), mixed_precision=False)

Layout: Input (28, 28, 1) float32 raw pixels -> augmentation (rotation, zoom, translation in one
resampling, augment.RandomAffine; active only in training) -> noise and blur (training only) ->
white top-hat (bright areas wider than a stroke removed) -> per-image normalisation (or
Rescaling(1/255)) -> conv blocks -> Flatten (or global average pooling) ->
optional Dense hidden layer -> Dropout -> Dense(10) softmax in float32. Each conv block is
Conv2D -> optional normalisation (`norm`: GroupNormalization with one group, or BatchNormalization)
-> ReLU -> optional 2x2 MaxPooling -> optional Dropout; put
several blocks without pooling in a row for a VGG-style stack. The params are in config.py.
"""
from __future__ import annotations

from mnistflow.core import arrays
from mnistflow.training.config import NO_AUGMENTATION, ArchitectureParams, AugmentParams


def build_model(
    architecture: ArchitectureParams, augment: AugmentParams, *, mixed_precision: bool = False, fused_batch_norm: bool = False,
    temperature: float = 1.0,
):
    """An uncompiled Keras Functional model: float32 (N, 28, 28, 1) raw pixels -> softmax (N, 10).

    `fused_batch_norm` builds training's BatchNormalization layers (batch_norm.py; `norm: batch`
    only): same maths and variables, faster training steps. The model to save is built without it (`inference_copy`).
    A `temperature` other than 1 divides the logits before the softmax (calibration).
    """
    import keras  # heavy: imported on first use, not when params are checked

    layers = keras.layers
    batch_normalization = layers.BatchNormalization
    if fused_batch_norm:
        from mnistflow.training.batch_norm import FusedBatchNormalization as batch_normalization
    # bfloat16 compute with float32 weights pays on CPUs with AMX/AVX-512 BF16; the input pipeline
    # (augmentation, rescaling) and the softmax stay float32.
    compute = "mixed_bfloat16" if mixed_precision else "float32"

    def normalization(name: str):
        """The layer after a block's conv (or the dense layer) that `architecture.norm` names.

        Named `*_bn` whichever it is: the names are in the saved .keras file, so renaming them would
        change the bytes (and the dvc.lock hash) of every model trained before."""
        if architecture.norm == "layer":
            return layers.GroupNormalization(groups=1, dtype=compute, name=name)
        return batch_normalization(momentum=architecture.batch_norm_momentum, dtype=compute, name=name)

    inputs = keras.Input(shape=(arrays.SIDE, arrays.SIDE, 1), dtype="float32", name="pixels")
    x = inputs
    if augment.rotation or augment.zoom or augment.translation:
        from mnistflow.training.augment import RandomAffine  # one resampling for all three (augment.py says why)

        x = RandomAffine(augment.rotation, augment.zoom, augment.translation, name="augment")(x)
    if augment.noise or augment.blur:
        from mnistflow.training.augment import RandomNoiseBlur

        x = RandomNoiseBlur(augment.noise, augment.blur, name="noise_blur")(x)
    if architecture.tophat:
        x = white_tophat(x, architecture.tophat)
    if architecture.normalize == "per_image":
        x = per_image_normalization(x)
    else:
        x = layers.Rescaling(1 / 255, name="rescale")(x)
    for index, block in enumerate(architecture.blocks):
        name = f"block{index + 1}"
        x = layers.Conv2D(
            block.filters, block.kernel_size, strides=block.strides, padding=block.padding,
            use_bias=not block.norm, dtype=compute, name=f"{name}_conv",  # the norm's shift replaces the bias
        )(x)
        if block.norm:
            x = normalization(f"{name}_bn")(x)
        x = layers.Activation("relu", dtype=compute, name=f"{name}_relu")(x)
        if block.pool:
            x = layers.MaxPooling2D(2, dtype=compute, name=f"{name}_pool")(x)
        if block.dropout:
            x = layers.Dropout(block.dropout, dtype=compute, name=f"{name}_dropout")(x)
    if architecture.global_pool:
        x = layers.GlobalAveragePooling2D(dtype=compute, name="global_pool")(x)
    else:
        x = layers.Flatten(dtype=compute, name="flatten")(x)
    if architecture.dense_units:
        x = layers.Dense(architecture.dense_units, use_bias=not architecture.dense_norm, dtype=compute, name="dense")(x)
        if architecture.dense_norm:
            x = normalization("dense_bn")(x)
        x = layers.Activation("relu", dtype=compute, name="dense_relu")(x)
    if architecture.dropout:
        x = layers.Dropout(architecture.dropout, dtype=compute, name="dropout")(x)
    if temperature == 1.0:
        outputs = layers.Dense(arrays.NUM_CLASSES, activation="softmax", dtype="float32", name="digits")(x)
    else:
        logits = layers.Dense(arrays.NUM_CLASSES, dtype="float32", name="digits")(x)
        logits = layers.Rescaling(1 / temperature, dtype="float32", name="temperature")(logits)
        outputs = layers.Activation("softmax", dtype="float32", name="probabilities")(logits)
    return keras.Model(inputs, outputs, name="mnist_cnn")


# The background level is this quantile of an image's pixels: MNIST digits cover about a fifth of
# the field, so a quarter of the pixels is background even where a band or a blot covers half of it
# (the median is not: a half-covered image's median is the cover).
BACKGROUND_QUANTILE = 0.25


def white_tophat(images, window: int):
    """`images` minus their grey opening (erosion, then dilation) with a `window` x `window` square.

    The window is clipped at the edges (what scipy.ndimage.grey_opening does with mode="nearest").
    A square's max is a max along the rows then along the columns, each a running max by doubling
    (`_running_max`): 30x faster on a CPU than TensorFlow's stride-1 max pool of the same window.
    keras.ops in the Functional graph, so it is saved and exported with the model.
    """
    from keras import ops

    def dilate(x):
        return _running_max(_running_max(x, window, axis=1), window, axis=2)

    eroded = ops.negative(dilate(ops.negative(images)))
    return ops.subtract(images, dilate(eroded))


def _running_max(x, window: int, *, axis: int):
    """The max over `window` (odd) neighbours centred on each position along `axis` of (N, H, W, C) `x`.

    Padded with a value no pixel reaches, then max(x[i], x[i + s]) for s = 1, 2, 4, ...: after each
    step every position holds the max of twice as many neighbours, and one last step covers the rest.
    """
    from keras import ops

    half = window // 2
    padding = [[0, 0]] * 4
    padding[axis] = [half, half]
    x = ops.pad(x, padding, constant_values=-1e9)

    def part(tensor, start, drop):
        index = [slice(None)] * 4
        index[axis] = slice(start, tensor.shape[axis] - drop)
        return tensor[tuple(index)]

    span = 1
    while span * 2 <= window:
        x = ops.maximum(part(x, 0, span), part(x, span, 0))
        span *= 2
    if window > span:
        x = ops.maximum(part(x, 0, window - span), part(x, window - span, 0))
    return x


def per_image_normalization(images):
    """(x - background) / (max - background), clipped at 0, per image: background 0, stroke 1.

    Written with keras.ops in the Functional graph (no custom layer), so the saved model loads
    with Keras alone and exports to ONNX (the sort becomes TopK).
    """
    from keras import layers, ops

    pixels = arrays.SIDE * arrays.SIDE
    ordered = ops.sort(layers.Reshape((pixels,), name="normalize_flatten")(images), axis=-1)
    background = ops.reshape(ordered[:, int(pixels * BACKGROUND_QUANTILE)], (-1, 1, 1, 1))
    top = ops.reshape(ordered[:, pixels - 1], (-1, 1, 1, 1))
    return ops.divide(ops.relu(ops.subtract(images, background)), ops.maximum(ops.subtract(top, background), 1.0))


def inference_copy(trained, architecture: ArchitectureParams, *, mixed_precision: bool = False, temperature: float = 1.0):
    """The model to save: `trained`'s weights on plain Keras layers, without augmentation or optimizer.

    Augmentation does nothing at inference, and the fused BatchNorm only changes training, so the
    copy predicts exactly what `trained` does, and its .keras file loads with Keras alone. Both
    models have the same weights in the same order (the augmentation's seed state is a variable,
    not a weight), so they move over one to one.
    """
    shipped = build_model(
        architecture, NO_AUGMENTATION, mixed_precision=mixed_precision, temperature=temperature,
    )
    shipped.set_weights(trained.get_weights())
    return shipped
