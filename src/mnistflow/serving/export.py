"""Export the Keras model for serving: an ONNX file for onnxruntime, and a TensorFlow SavedModel.

`export_onnx` writes a float32 copy of the model as ONNX (what `predict`, the server and the
evaluate and robustness stages run, through `serving.runtime`): input `pixels`, float32
(N, 28, 28, 1) raw 0-255; output softmax (N, 10). Its metadata_props carry `unsure_threshold` and
`temperature` when given (the train stage's card, models/model.json: `read_card`).
`check_agreement` compares the export's answers with the Keras model's (`keras_probabilities`):
the export stage ships no ONNX file that gives another digit, or a probability further than
`AGREEMENT_TOLERANCE`, on any test image.

`export_savedmodel` writes the SavedModel for TensorFlow Serving, with two serving signatures, both
returning `probabilities` (float32 (N, 10), softmax) and `classes` (int64 (N,), the most probable digit):

| signature | input `images` | for |
| --- | --- | --- |
| `serving_default` | uint8 (N, 28, 28): MNIST pixels, white ink on black | clients sending raw pixels |
| `serve_float` | float32 (N, 28, 28, 1): raw 0-255 values, the Keras model's own input | clients that already batch floats |

Neither rescales on the client side: the model rescales inside. Images must already be MNIST-shaped
(28x28, centred); `python -m mnistflow predict --save-prepared` shows how to make them from photos.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import pathlib
import re
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np

from mnistflow.core import arrays, atomic

logger = logging.getLogger(__name__)

CARD_KEYS = ("temperature", "unsure_threshold")  # models/model.json's keys, copied into the ONNX file's metadata
# The largest difference allowed between a probability of the Keras model and of its ONNX export on
# the test split. The same float32 graph on two runtimes differs by ~1e-6 (other summation orders);
# a mistranslated layer moves probabilities by far more.
AGREEMENT_TOLERANCE = 1e-4
CHECK_BATCH = 1000  # images per Keras call in keras_probabilities (memory only)
_GENERATED_NAME = re.compile(r"^(.*?)__\d+(:\d+)?$")  # tf2onnx's counter-suffixed names: "Transpose__87:0", "const_axes__21"


def export_savedmodel(model: Any, directory: str | os.PathLike[str]) -> None:
    """Write `model` (float32 (N, 28, 28, 1) -> softmax (N, 10)) as a SavedModel at `directory`, atomically."""
    import keras
    import tensorflow as tf

    _check_shapes(model)

    def answer(probabilities: Any) -> dict[str, Any]:
        return {"probabilities": probabilities, "classes": tf.argmax(probabilities, axis=1, output_type=tf.int64)}

    def from_uint8(images: Any) -> dict[str, Any]:
        return answer(model(tf.cast(images, tf.float32)[..., tf.newaxis], training=False))

    def from_float(images: Any) -> dict[str, Any]:
        return answer(model(images, training=False))

    archive = _in_name_order(keras.export.ExportArchive())
    archive.track(model)
    # The first endpoint is also TF Serving's default; naming it so makes that explicit.
    archive.add_endpoint("serving_default", from_uint8, input_signature=[tf.TensorSpec((None, arrays.SIDE, arrays.SIDE), tf.uint8, name="images")])
    archive.add_endpoint("serve_float", from_float, input_signature=[tf.TensorSpec((None, arrays.SIDE, arrays.SIDE, 1), tf.float32, name="images")])
    with atomic.atomic_dir(directory) as temporary, _fixed_seed_states(model):
        archive.write_out(str(temporary), verbose=False)
        _stable_fingerprint(pathlib.Path(temporary))
    logger.info("wrote SavedModel with signatures serving_default (uint8) and serve_float to %s", directory)


def _in_name_order(archive: Any) -> Any:
    """`archive` (a keras.export.ExportArchive), made to save its variables in name order.

    Keras collects the variables the endpoints use from each traced function's captures, which
    come out in a different order from one process to the next, and the SavedModel's graph and
    checkpoint follow that order. Sorting them by name (unique within one model) after Keras has
    collected them gives the same bytes every run. (`ExportArchive()` returns a backend class, so
    this wraps the instance's method rather than subclassing.)
    """
    collect = archive._filter_and_track_resources

    def collect_sorted() -> None:
        collect()
        variables = list(archive._tf_trackable._all_variables)
        names = [variable.name for variable in variables]
        if len(set(names)) == len(names):
            archive._tf_trackable._all_variables = sorted(variables, key=lambda variable: variable.name)

    archive._filter_and_track_resources = collect_sorted
    return archive


@contextlib.contextmanager
def _fixed_seed_states(model: Any) -> Iterator[None]:
    """Zero `model`'s random-seed states (its dropout layers') while it is saved, then put them back.

    A model loaded from .keras draws new seed states, so without this every export's checkpoint
    differs; the states only matter in training mode, which no serving signature uses.
    """
    states = [variable for variable in model.variables if variable.path.endswith("seed_generator_state")]
    kept = [variable.numpy() for variable in states]
    for variable in states:
        variable.assign(np.zeros(variable.shape, variable.dtype))
    try:
        yield
    finally:
        for variable, value in zip(states, kept, strict=True):
            variable.assign(value)


def _stable_fingerprint(directory: pathlib.Path) -> None:
    """Replace the random `uuid` TensorFlow writes into fingerprint.pb with one derived from the model's bytes.

    Everything else in fingerprint.pb is already a hash of the saved files; the UUID is the one
    field that differs between two saves of the same model. Derived from those hashes it stays
    unique per model and makes two exports of one model byte-identical.
    """
    from tensorflow.core.protobuf import fingerprint_pb2

    path = directory / "fingerprint.pb"
    if not path.is_file():
        return
    fingerprint = fingerprint_pb2.FingerprintDef()
    fingerprint.ParseFromString(path.read_bytes())
    fingerprint.uuid = ""
    digest = hashlib.sha256(fingerprint.SerializeToString(deterministic=True)).digest()
    fingerprint.uuid = str(int.from_bytes(digest[:16], "big"))
    path.write_bytes(fingerprint.SerializeToString(deterministic=True))


def export_onnx(
    model: Any, path: str | os.PathLike[str], *, unsure_threshold: float | None = None, temperature: float | None = None,
) -> None:
    """Write a float32 copy of `model` (float32 (N, 28, 28, 1) -> softmax (N, 10)) as ONNX at `path`, atomically.

    The copy, not the model: onnxruntime's CPU provider rejects the bfloat16 convolutions of a
    mixed-precision model. `unsure_threshold` and `temperature`, when given, go into the file's
    metadata_props as decimal strings (serving.runtime reads them back).
    """
    import tensorflow as tf

    _check_shapes(model)
    metadata = {key: value for key, value in (("unsure_threshold", unsure_threshold), ("temperature", temperature)) if value is not None}
    for key, value in metadata.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"{key} must be a finite number; got {value!r}")
    copy = float32_copy(model)
    signature = [tf.TensorSpec((None, arrays.SIDE, arrays.SIDE, 1), tf.float32, name="pixels")]
    with atomic.atomic_path(path) as temporary, warnings.catch_warnings(), _quiet_logger("tf2onnx"):
        # tf2onnx's numpy-2 patch in Keras warns about np.object, and tf2onnx logs each optimizer
        # pass at INFO: nothing a user can act on, five lines per stage run.
        warnings.simplefilter("ignore", FutureWarning)
        copy.export(str(temporary), format="onnx", verbose=False, input_signature=signature)
        _finish_onnx(temporary, copy, signature, metadata)
    logger.info("wrote ONNX model (float32, input 'pixels' (N, 28, 28, 1)) with metadata %s to %s", metadata or "{}", path)


def float32_copy(model: Any) -> Any:
    """`model` with every layer's dtype policy float32 and the same weights (itself if already float32).

    Cloning keeps the graph, so any layer or keras.ops call the model has comes along; only the
    layers' `dtype` changes (a layer rebuilt from its config with `dtype="float32"`). Weights of a
    mixed-precision model are float32 already, so they copy over exactly.
    """
    import keras

    if all(layer.dtype_policy.name == "float32" for layer in _all_layers(model)):
        return model

    def as_float32(operation: Any) -> Any:
        if not isinstance(operation, keras.layers.Layer):
            return operation  # a keras.ops call in the graph: no weights, no policy
        config = operation.get_config()
        if "dtype" in config:
            config["dtype"] = "float32"
        return operation.__class__.from_config(config)

    copy = keras.models.clone_model(model, clone_function=as_float32, recursive=True)
    copy.set_weights(model.get_weights())
    return copy


def read_card(path: str | os.PathLike[str]) -> dict[str, float]:
    """models/model.json, the train stage's card: {"temperature": T, "unsure_threshold": p}, both finite numbers.

    The one reader of that file (the train stage writes both keys, always); other keys are ignored.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such model card; run the train stage (dvc repro train)")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(data, dict):
        raise ValueError(  # noqa: TRY004  a bad file, not a bad argument: the CLI turns ValueError into one line
            f"{path}: expected a JSON object with keys {', '.join(CARD_KEYS)}; got {type(data).__name__}"
        )
    card = {}
    for key in CARD_KEYS:
        value = data.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"{path}: {key} must be a finite number; got {value!r}; re-run the train stage (dvc repro train)")
        card[key] = float(value)
    return card


def check_agreement(
    expected: np.ndarray, answer: np.ndarray, *, onnx_path: str | os.PathLike[str], data_path: str | os.PathLike[str],
    tolerance: float = AGREEMENT_TOLERANCE,
) -> float:
    """Raise ValueError unless `answer` (the ONNX model's probabilities) gives `expected`'s (the Keras
    model's) digit on every image and every probability within `tolerance`; return the largest difference."""
    if answer.shape != expected.shape:
        raise ValueError(f"{onnx_path}: answers {answer.shape} for {data_path}, where the Keras model answers {expected.shape}")
    differ = np.flatnonzero(answer.argmax(axis=1) != expected.argmax(axis=1))
    if differ.size:
        first = int(differ[0])
        raise ValueError(
            f"{onnx_path}: the export gives another digit than the Keras model on {differ.size} of {len(expected)} images "
            f"of {data_path} (first: image {first}, {int(answer[first].argmax())} for {int(expected[first].argmax())}); "
            "not shipped: re-run dvc repro export, and if it persists the ONNX conversion is at fault"
        )
    largest = float(np.abs(answer.astype(np.float64) - expected).max()) if expected.size else 0.0
    if largest > tolerance:
        raise ValueError(
            f"{onnx_path}: the export's probabilities differ from the Keras model's by up to {largest:.3g} on {data_path} "
            f"(tolerance {tolerance:g}); not shipped: re-run dvc repro export, and if it persists the ONNX conversion is at fault"
        )
    return largest


def keras_probabilities(model: Any, images: np.ndarray, *, batch_size: int = CHECK_BATCH) -> np.ndarray:
    """The float32 copy of `model` (what the ONNX file holds) on uint8 (N, 28, 28) images: float64 (N, 10)."""
    import tensorflow as tf

    copy = float32_copy(model)
    call = tf.function(lambda batch: copy(batch, training=False), input_signature=[tf.TensorSpec((None, arrays.SIDE, arrays.SIDE, 1), tf.float32)])
    parts = [np.asarray(call(arrays.to_model_input(images[start : start + batch_size])), dtype=np.float64)
             for start in range(0, len(images), batch_size)]
    return np.concatenate(parts) if parts else np.zeros((0, arrays.NUM_CLASSES))


def _finish_onnx(path: pathlib.Path, model: Any, signature: list[Any], metadata: dict[str, float]) -> None:
    """Bind the constants tf2onnx left as graph inputs, and write `metadata` into metadata_props.

    tf2onnx's `from_function` (what `model.export` calls) lists every non-variable tensor the
    traced function captures as a graph input: a Normalization layer's mean and variance, for
    one, would become inputs the caller must feed. They are constants; here they become
    initializers with the captured values (found by tracing the model the same way: the
    placeholders' names are the ONNX inputs' names).
    """
    import onnx
    import onnx.numpy_helper
    import tensorflow as tf

    proto = onnx.load(str(path))
    extra = [value_info.name for value_info in proto.graph.input if value_info.name != signature[0].name]
    if extra:
        traced = tf.function(lambda pixels: model(pixels, training=False)).get_concrete_function(*signature)
        captured = {inner.name: outer for outer, inner in traced.graph.captures if outer.dtype != tf.resource}
        unbound = [name for name in extra if name not in captured]
        if unbound:
            raise ValueError(f"the ONNX export has inputs besides the images that are no captured constant: {', '.join(unbound)}")
        for name in extra:
            proto.graph.initializer.append(onnx.numpy_helper.from_array(np.asarray(captured[name]), name))
        kept = [value_info for value_info in proto.graph.input if value_info.name not in extra]
        del proto.graph.input[:]
        proto.graph.input.extend(kept)
        logger.info("bound %d captured constants as initializers: %s", len(extra), ", ".join(extra))
    existing = {entry.key: entry for entry in proto.metadata_props}
    for key, value in metadata.items():
        entry = existing.get(key) or proto.metadata_props.add()
        entry.key, entry.value = key, repr(float(value))  # repr: the shortest string that reads back exactly
    _canonical_names(proto.graph)
    onnx.save(proto, str(path))


def _canonical_names(graph: Any) -> None:
    """Rename tf2onnx's generated names by position in the graph, so one model always gives the same bytes.

    tf2onnx numbers the tensors, nodes and constants it makes from a global counter and, when it
    merges identical constants, keeps whichever name its set iteration meets first: two exports of one
    model get the same nodes in the same order, wired the same way, under different names. Here every
    initializer becomes `const__<k>` and every other `<name>__<n>` becomes `<name>__<k>`, k its place in
    a walk over the graph's inputs and nodes; the initializers are listed in that order. Names tf2onnx
    took from the Keras graph ("mnist_cnn_1/flatten_1/Reshape:0") are kept.
    """
    initializers = {initializer.name for initializer in graph.initializer}
    walk = [value.name for value in graph.input]
    for node in graph.node:
        walk.extend(node.input)
        walk.extend(node.output)
    walk.extend(initializer.name for initializer in graph.initializer)  # any no node uses, last
    renamed: dict[str, str] = {}
    for place, name in enumerate(dict.fromkeys(name for name in walk if name)):
        generated = _GENERATED_NAME.match(name)
        if name in initializers:
            renamed[name] = f"const__{place}"
        elif generated:
            renamed[name] = f"{generated.group(1)}__{place}{generated.group(2) or ''}"
    for place, node in enumerate(graph.node):
        node.input[:] = [renamed.get(name, name) for name in node.input]
        node.output[:] = [renamed.get(name, name) for name in node.output]
        generated = _GENERATED_NAME.match(node.name)
        if generated:
            node.name = f"{generated.group(1)}__{place}"
    for value in [*graph.input, *graph.output, *graph.value_info]:
        value.name = renamed.get(value.name, value.name)
    for initializer in graph.initializer:
        initializer.name = renamed[initializer.name]
    graph.initializer.sort(key=lambda initializer: int(initializer.name.removeprefix("const__")))


@contextlib.contextmanager
def _quiet_logger(name: str) -> Iterator[None]:
    """Log only warnings and errors from logger `name` inside the block."""
    library_logger = logging.getLogger(name)
    level = library_logger.level
    library_logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        library_logger.setLevel(level)


def _all_layers(model: Any) -> list[Any]:
    layers = [model]
    for layer in getattr(model, "layers", []):
        layers.extend(_all_layers(layer))
    return layers


def _check_shapes(model: Any) -> None:
    if tuple(model.input_shape[1:]) != (arrays.SIDE, arrays.SIDE, 1) or tuple(model.output_shape[1:]) != (arrays.NUM_CLASSES,):
        raise ValueError(
            f"expected a model from (N, 28, 28, 1) images to (N, 10) probabilities; got {model.input_shape} -> {model.output_shape}"
        )
