"""A saved .keras CNN read as a short chain of inference operations, BatchNorm and Rescaling folded in.

    ops = folded.load("models/model.keras")   # [Op(kind="conv", ...), Op(kind="activation", ...), ...]

At inference a BatchNormalization after a convolution is a fixed per-channel affine map, and the
Rescaling before the first convolution is a fixed scalar one: both can be multiplied into the
convolution's kernel and bias, so the forward pass is convolution + bias + ReLU, pooling, dense.
That is fewer passes over memory, and it is the pattern oneDNN fuses into one kernel: the
TensorFlow engine (`graph_model`) runs the default model about 1.8x faster than Keras does
(bench/predict.py). The numpy engine (`numpy_model`) runs the same operations.

Reading needs no TensorFlow: a `.keras` file is a zip of `config.json` (the layers) and
`model.weights.h5` (the weights). Only what is known exactly is accepted: a chain of layers (no
branches), float32 or mixed_bfloat16 layers, and these layers: InputLayer; Random* augmentation,
Dropout, GaussianNoise (identity at inference); Rescaling; Conv2D (channels_last, no dilation or
groups); BatchNormalization (last axis); Activation (relu, linear, softmax); MaxPooling2D (valid);
Flatten; GlobalAveragePooling2D; Dense. Anything else raises `Unsupported`, and the caller uses Keras.

Folding is exact in real arithmetic; in float32 it moves the probabilities by about 1e-6.
"""
from __future__ import annotations

import dataclasses
import io
import json
import os
import zipfile
from typing import Any, Literal

import numpy as np

IDENTITY_LAYERS = {
    "RandomRotation", "RandomZoom", "RandomTranslation", "RandomFlip", "RandomContrast", "RandomBrightness",
    "Dropout", "SpatialDropout2D", "GaussianNoise", "GaussianDropout",
}
KNOWN_LAYERS = {
    "Rescaling", "Activation", "Conv2D", "BatchNormalization", "MaxPooling2D", "Flatten", "GlobalAveragePooling2D", "Dense",
}
ACTIVATIONS = ("linear", "relu", "softmax")

Kind = Literal["conv", "dense", "affine", "activation", "max_pool", "flatten", "global_pool"]


class Unsupported(ValueError):
    """The model uses something the folded engines do not implement; use Keras."""


@dataclasses.dataclass
class Op:
    """One inference operation.

    conv:        x (N, H, W, C) * kernel (kh, kw, C, F) + bias (F,); `strides` (2,), `padding` 'same' | 'valid'
    dense:       x (N, C) @ kernel (C, F) + bias (F,)
    affine:      x * multiplier + shift, each a scalar or one value per channel (last axis)
    activation:  `function` 'linear' | 'relu' | 'softmax'
    max_pool:    `pool` and `strides` (2,), padding 'valid'
    flatten, global_pool (mean over height and width)
    `compute` is the precision the layer computes in: 'bfloat16' for a mixed_bfloat16 layer.
    """

    kind: Kind
    layer: str
    compute: Literal["float32", "bfloat16"] = "float32"
    kernel: np.ndarray | None = None
    bias: np.ndarray | None = None
    multiplier: np.ndarray | None = None
    shift: np.ndarray | None = None
    strides: tuple[int, int] = (1, 1)
    padding: str = "valid"
    pool: tuple[int, int] = (2, 2)
    function: str = "linear"


def load(path: str | os.PathLike[str]) -> tuple[list[Op], tuple]:
    """(folded operations, input shape) of a .keras file; Unsupported, or ValueError for a non-.keras file."""
    ops, input_shape = read(path)
    return fold(ops), input_shape


def read(path: str | os.PathLike[str]) -> tuple[list[Op], tuple]:
    """(one or two operations per layer, unfolded; input shape) of a .keras file."""
    import h5py  # installed with Keras; imported here so the module costs nothing until used

    try:
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json"))
            weights_bytes = archive.read("model.weights.h5")
    except (zipfile.BadZipFile, KeyError) as error:
        raise ValueError(f"{path}: not a Keras .keras file ({error})") from None
    layer_configs = _chain(config)
    with h5py.File(io.BytesIO(weights_bytes), "r") as weights:
        variables = _variables_by_layer_name(weights)
    ops = []
    for layer in layer_configs:
        ops.extend(_ops(layer["class_name"], layer["config"], variables.get(layer["config"]["name"], [])))
    input_shape = tuple(layer_configs[0]["config"].get("batch_shape") or ())
    if input_shape[1:] != (28, 28, 1):
        raise Unsupported(f"input shape {input_shape}")
    return ops, input_shape


def fold(ops: list[Op]) -> list[Op]:
    """The same function with fewer operations: an affine map is multiplied into the convolution or
    dense layer right before it (always exact), or right after it (exact when it has no shift, or
    the convolution pads nothing: a shifted zero border would not be zero any more)."""
    folded: list[Op] = []
    pending: Op | None = None  # an affine map waiting for the operation after it
    for op in ops:
        if op.kind == "affine" and folded and folded[-1].kind in ("conv", "dense"):
            folded[-1] = _fold_after(folded[-1], op)
            continue
        if pending is not None:
            if op.kind in ("conv", "dense") and _can_fold_before(pending, op):
                op = _fold_before(pending, op)
            else:
                folded.append(pending)
            pending = None
        if op.kind == "affine":
            pending = op
        else:
            folded.append(op)
    if pending is not None:
        folded.append(pending)
    return folded


def _fold_after(linear: Op, affine: Op) -> Op:
    """(x * K + b) * m + s  ==  x * (K m) + (b m + s), m and s per output channel or scalar."""
    multiplier = np.broadcast_to(np.asarray(affine.multiplier, np.float64), linear.kernel.shape[-1:])
    shift = np.broadcast_to(np.asarray(affine.shift, np.float64), linear.kernel.shape[-1:])
    bias = np.zeros(linear.kernel.shape[-1]) if linear.bias is None else linear.bias.astype(np.float64)
    return dataclasses.replace(
        linear,
        kernel=(linear.kernel.astype(np.float64) * multiplier).astype(np.float32),
        bias=(bias * multiplier + shift).astype(np.float32),
    )


def _can_fold_before(affine: Op, linear: Op) -> bool:
    scalar = np.ndim(affine.multiplier) == 0 and np.ndim(affine.shift) == 0
    if linear.kind == "dense":
        return scalar  # per-channel maps before Dense come after a Flatten: channels are interleaved
    return scalar and (linear.padding == "valid" or float(affine.shift) == 0.0)


def _fold_before(affine: Op, linear: Op) -> Op:
    """(x m + s) * K + b  ==  x * (m K) + (b + s * sum of K over its inputs), m and s scalars."""
    kernel = linear.kernel.astype(np.float64)
    bias = np.zeros(kernel.shape[-1]) if linear.bias is None else linear.bias.astype(np.float64)
    inputs_axes = tuple(range(kernel.ndim - 1))
    return dataclasses.replace(
        linear,
        kernel=(kernel * float(affine.multiplier)).astype(np.float32),
        bias=(bias + float(affine.shift) * kernel.sum(axis=inputs_axes)).astype(np.float32),
    )


def _variables_by_layer_name(weights: Any) -> dict[str, list[np.ndarray]]:
    """Keras files each layer's variables under `layers/<class_name>[_k]/vars` (not the layer's own
    name, which is not reproducible); the layer's name is an attribute of that `vars` group."""
    variables = {}
    for group in weights.get("layers", {}).values():
        stored = group.get("vars")
        if stored is None or len(stored) == 0:
            continue
        if "name" not in stored.attrs:
            raise Unsupported("weights file without layer names (an older Keras format)")
        variables[str(stored.attrs["name"])] = [np.asarray(stored[str(i)], dtype=np.float32) for i in range(len(stored))]
    return variables


def _chain(config: dict[str, Any]) -> list[dict[str, Any]]:
    """The layers in order, if the model is a single chain; else Unsupported."""
    if config.get("class_name") not in ("Functional", "Sequential"):
        raise Unsupported(f"model class {config.get('class_name')!r}")
    layers = config["config"]["layers"]
    if config["class_name"] == "Functional":
        for previous, layer in zip(layers, layers[1:]):
            nodes = layer.get("inbound_nodes", [])
            arguments = nodes[0].get("args", []) if len(nodes) == 1 else []
            history = arguments[0].get("config", {}).get("keras_history", [None]) if len(arguments) == 1 else [None]
            if history[0] != previous["config"]["name"]:
                raise Unsupported(f"layer {layer['config']['name']!r} is not fed by the layer before it (a branch)")
        outputs = config["config"].get("output_layers") or []
        outputs = [outputs] if outputs and isinstance(outputs[0], str) else outputs  # one output: not nested
        if not layers or [list(o)[:1] for o in outputs] != [[layers[-1]["config"]["name"]]]:
            raise Unsupported("the model's output is not its last layer")
    if not layers or layers[0]["class_name"] != "InputLayer":
        raise Unsupported("no InputLayer first")
    for layer in layers:
        _compute(layer["config"])
    return layers


def _compute(config: dict[str, Any]) -> Literal["float32", "bfloat16"]:
    """The precision a layer computes in. mixed_bfloat16 keeps float32 variables and computes in
    bfloat16: a training-speed policy that the TensorFlow engine keeps and the numpy engine, which
    has no bfloat16, replaces by float32."""
    policy = config.get("dtype")
    name = policy.get("config", {}).get("name") if isinstance(policy, dict) else policy
    if name in (None, "float32"):
        return "float32"
    if name == "mixed_bfloat16":
        return "bfloat16"
    raise Unsupported(f"layer {config['name']!r} computes in {name}")


def _ops(kind: str, config: dict[str, Any], variables: list[np.ndarray]) -> list[Op]:
    """The operations of one layer (none at inference for augmentation and dropout)."""
    if kind == "InputLayer" or kind in IDENTITY_LAYERS:
        return []
    if kind not in KNOWN_LAYERS:
        raise Unsupported(f"layer type {kind}")
    expected = {
        "Conv2D": 1 + bool(config.get("use_bias")),
        "Dense": 1 + bool(config.get("use_bias")),
        "BatchNormalization": 2 + bool(config.get("scale")) + bool(config.get("center")),
    }.get(kind, 0)
    if len(variables) != expected:
        raise Unsupported(f"{kind} {config['name']!r} with {len(variables)} weight arrays; expected {expected}")
    if config.get("data_format", "channels_last") != "channels_last":
        raise Unsupported(f"{kind} with data_format {config['data_format']!r}")
    op = dict(layer=config["name"], compute=_compute(config))
    if kind == "Rescaling":
        scale, offset = config["scale"], config["offset"]
        if not all(isinstance(v, (int, float)) for v in (scale, offset)):
            raise Unsupported("Rescaling with per-channel scale or offset")
        return [Op("affine", multiplier=np.float32(scale), shift=np.float32(offset), **op)]
    if kind == "Activation":
        return [Op("activation", function=_activation(config["activation"]), **op)]
    if kind in ("Conv2D", "Dense"):
        bias = variables[1] if config["use_bias"] else None
        if kind == "Conv2D":
            if list(config["dilation_rate"]) != [1, 1] or config["groups"] != 1:
                raise Unsupported("Conv2D with dilation or groups")
            if config["padding"] not in ("same", "valid"):
                raise Unsupported(f"Conv2D padding {config['padding']!r}")
            linear = Op("conv", kernel=variables[0], bias=bias, strides=tuple(config["strides"]), padding=config["padding"], **op)
        else:
            linear = Op("dense", kernel=variables[0], bias=bias, **op)
        function = _activation(config["activation"])
        return [linear] + ([Op("activation", function=function, **op)] if function != "linear" else [])
    if kind == "BatchNormalization":
        if config["axis"] not in (-1, 3):
            raise Unsupported(f"BatchNormalization on axis {config['axis']}")
        values = list(variables)
        gamma = values.pop(0) if config["scale"] else np.float32(1)
        beta = values.pop(0) if config["center"] else np.float32(0)
        mean, variance = values
        multiplier = (gamma / np.sqrt(variance + np.float32(config["epsilon"]))).astype(np.float32)
        return [Op("affine", multiplier=multiplier, shift=(beta - mean * multiplier).astype(np.float32), **op)]
    if kind == "MaxPooling2D":
        if config["padding"] != "valid":
            raise Unsupported("MaxPooling2D with padding 'same'")
        return [Op("max_pool", pool=tuple(config["pool_size"]), strides=tuple(config["strides"]), **op)]
    if kind == "Flatten":
        return [Op("flatten", **op)]
    if config.get("keepdims"):  # GlobalAveragePooling2D
        raise Unsupported("GlobalAveragePooling2D with keepdims")
    return [Op("global_pool", **op)]


def _activation(name: str) -> str:
    if name not in ACTIVATIONS:
        raise Unsupported(f"activation {name!r}")
    return name
