"""Run a saved .keras CNN with numpy alone: no TensorFlow import, model loaded in milliseconds.

Importing TensorFlow takes seconds and loading a .keras file through Keras takes a few hundred
milliseconds: too slow for "classify this one photo". A `.keras` file is a zip of `config.json`
(the layers) and `model.weights.h5` (the weights); for the plain CNNs this project trains, the
forward pass in inference mode is a few matrix products. `load(path)` reads both and returns a
callable with the Keras model's call signature, `model(batch, training=False) -> probabilities`.

Only what it knows exactly is accepted: a chain of layers (no branches), float32 compute, and these
layers: InputLayer; Random* augmentation, Dropout, GaussianNoise (identity at inference); Rescaling;
Conv2D (channels_last, no dilation or groups); BatchNormalization (last axis); Activation (relu,
linear, softmax); MaxPooling2D; Flatten; GlobalAveragePooling2D; Dense. Anything else raises
`Unsupported`, and the caller uses Keras instead. tests/test_predict_real.py checks its answers
equal Keras's on real digits.
"""
from __future__ import annotations

import io
import json
import os
import zipfile
from collections.abc import Callable
from typing import Any

import numpy as np

IDENTITY_LAYERS = {
    "RandomRotation", "RandomZoom", "RandomTranslation", "RandomFlip", "RandomContrast", "RandomBrightness",
    "Dropout", "SpatialDropout2D", "GaussianNoise", "GaussianDropout",
}
KNOWN_LAYERS = {
    "Rescaling", "Activation", "Conv2D", "BatchNormalization", "MaxPooling2D", "Flatten", "GlobalAveragePooling2D", "Dense",
}
CHUNK = 256  # images per forward pass: bounds the im2col matrices to tens of megabytes


class Unsupported(ValueError):
    """The model uses something this engine does not implement; use Keras."""


class NumpyModel:
    """A chain of numpy layer functions; call it like a Keras model."""

    def __init__(self, layers: list[tuple[str, Callable[[np.ndarray], np.ndarray]]], input_shape: tuple, output_shape: tuple):
        self.layers = layers
        self.input_shape = input_shape
        self.output_shape = output_shape

    def __call__(self, batch: np.ndarray, training: bool = False) -> np.ndarray:
        if training:
            raise ValueError("the numpy engine runs inference only; call it with training=False")
        batch = np.asarray(batch, dtype=np.float32)
        return np.concatenate([self._forward(batch[i : i + CHUNK]) for i in range(0, max(len(batch), 1), CHUNK)])

    def _forward(self, x: np.ndarray) -> np.ndarray:
        for _, layer in self.layers:
            x = layer(x)
        return x


def load(path: str | os.PathLike[str]) -> NumpyModel:
    """Read a .keras file into a NumpyModel, or raise Unsupported (or ValueError for a non-.keras file)."""
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
    layers = []
    for layer in layer_configs:
        function = _layer(layer["class_name"], layer["config"], variables.get(layer["config"]["name"], []))
        if function is not None:
            layers.append((layer["config"]["name"], function))
    input_shape = tuple(layer_configs[0]["config"].get("batch_shape") or ())
    if input_shape[1:] != (28, 28, 1):
        raise Unsupported(f"input shape {input_shape}")
    model = NumpyModel(layers, input_shape, ())
    model.output_shape = (None,) + model(np.zeros((1, 28, 28, 1), dtype=np.float32)).shape[1:]
    return model


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
        policy = layer["config"].get("dtype")
        name = policy.get("config", {}).get("name") if isinstance(policy, dict) else policy
        # mixed_bfloat16 is a training-speed policy: the variables stay float32, and computing in
        # float32 from them is what a float32 copy of the model would answer.
        if name not in (None, "float32", "mixed_bfloat16"):
            raise Unsupported(f"layer {layer['config']['name']!r} computes in {name}")
    return layers


def _layer(kind: str, config: dict[str, Any], variables: list[np.ndarray]) -> Callable[[np.ndarray], np.ndarray] | None:
    """The numpy function for one layer (None: nothing to do at inference)."""
    if kind == "InputLayer" or kind in IDENTITY_LAYERS:
        return None
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
    if kind == "Rescaling":
        scale, offset = config["scale"], config["offset"]
        if not all(isinstance(v, (int, float)) for v in (scale, offset)):
            raise Unsupported("Rescaling with per-channel scale or offset")
        return lambda x: x * np.float32(scale) + np.float32(offset)
    if kind == "Activation":
        return _activation(config["activation"])
    if kind == "Conv2D":
        if list(config["dilation_rate"]) != [1, 1] or config["groups"] != 1:
            raise Unsupported("Conv2D with dilation or groups")
        bias = variables[1] if config["use_bias"] else None
        activation = _activation(config["activation"])
        return lambda x: activation(_conv2d(x, variables[0], bias, tuple(config["strides"]), config["padding"]))
    if kind == "BatchNormalization":
        if config["axis"] not in (-1, 3):
            raise Unsupported(f"BatchNormalization on axis {config['axis']}")
        values = list(variables)
        gamma = values.pop(0) if config["scale"] else 1.0
        beta = values.pop(0) if config["center"] else 0.0
        mean, variance = values
        multiplier = (gamma / np.sqrt(variance + np.float32(config["epsilon"]))).astype(np.float32)
        shift = (beta - mean * multiplier).astype(np.float32)
        return lambda x: x * multiplier + shift
    if kind == "MaxPooling2D":
        if config["padding"] != "valid":
            raise Unsupported("MaxPooling2D with padding 'same'")
        return lambda x: _max_pool(x, tuple(config["pool_size"]), tuple(config["strides"]))
    if kind == "Flatten":
        return lambda x: x.reshape(len(x), -1)
    if kind == "GlobalAveragePooling2D":
        if config.get("keepdims"):
            raise Unsupported("GlobalAveragePooling2D with keepdims")
        return lambda x: x.mean(axis=(1, 2))
    if kind == "Dense":
        kernel, bias = variables[0], (variables[1] if config["use_bias"] else np.float32(0))
        activation = _activation(config["activation"])
        return lambda x: activation(x @ kernel + bias)
    raise Unsupported(f"layer type {kind}")


def _activation(name: str) -> Callable[[np.ndarray], np.ndarray]:
    if name == "linear":
        return lambda x: x
    if name == "relu":
        return lambda x: np.maximum(x, np.float32(0))
    if name == "softmax":
        return _softmax
    raise Unsupported(f"activation {name!r}")


def _softmax(x: np.ndarray) -> np.ndarray:
    exponentials = np.exp(x - x.max(axis=-1, keepdims=True))
    return exponentials / exponentials.sum(axis=-1, keepdims=True)


def _same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's 'same' padding: output ceil(size / stride), extra pixel at the end."""
    total = max((-(-size // stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _conv2d(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray | None, strides: tuple[int, int], padding: str) -> np.ndarray:
    """x (N, H, W, C) * kernel (kh, kw, C, F) -> (N, H', W', F): one small matrix product per kernel tap.

    Summing kh*kw products of (N*H'*W', C) by (C, F) needs no im2col copy and keeps each product
    small enough that BLAS runs it on one thread, which on a busy machine is faster than threading.
    """
    kernel_height, kernel_width, _, filters = kernel.shape
    if padding == "same":
        rows = _same_padding(x.shape[1], kernel_height, strides[0])
        columns = _same_padding(x.shape[2], kernel_width, strides[1])
        x = np.pad(x, ((0, 0), rows, columns, (0, 0)))
    elif padding != "valid":
        raise Unsupported(f"Conv2D padding {padding!r}")
    height = (x.shape[1] - kernel_height) // strides[0] + 1
    width = (x.shape[2] - kernel_width) // strides[1] + 1
    output = np.zeros((len(x), height, width, filters), dtype=np.float32)
    for row in range(kernel_height):
        for column in range(kernel_width):
            window = x[:, row : row + (height - 1) * strides[0] + 1 : strides[0], column : column + (width - 1) * strides[1] + 1 : strides[1]]
            output += window @ kernel[row, column]
    return output + bias if bias is not None else output


def _max_pool(x: np.ndarray, pool: tuple[int, int], strides: tuple[int, int]) -> np.ndarray:
    windows = np.lib.stride_tricks.sliding_window_view(x, pool, axis=(1, 2))[:, :: strides[0], :: strides[1]]
    return windows.max(axis=(-2, -1))
