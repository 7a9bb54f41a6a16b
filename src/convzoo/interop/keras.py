"""Keras 3 layers and models to convzoo: `from_keras`, and `.keras` / `.weights.h5` files.

convzoo's layers take Keras's constructor arguments and weight order, so a Keras layer
converts through its `get_config()` and `get_weights()`. A saved `.keras` file (a zip of
`config.json` and `model.weights.h5`) converts without Keras installed: the configuration
is JSON and the weights are read with h5py (the `convzoo[keras]` extra). Regularizers,
constraints and initializers do not change what a layer computes and are dropped.
"""

from __future__ import annotations

import inspect
import json
import zipfile
from pathlib import Path

import numpy as np

from .. import layers as zoo
from ..errors import ConvZooError, ConvZooTypeError, with_context
from ..layers.base import snake_case
from ._common import optional_import

_CONVERTIBLE = {
    name: getattr(zoo, name)
    for name in (
        "Conv1D Conv2D Conv3D Conv1DTranspose Conv2DTranspose Conv3DTranspose DepthwiseConv1D DepthwiseConv2D "
        "SeparableConv1D SeparableConv2D Dense Flatten Activation ReLU LeakyReLU Dropout BatchNormalization "
        "MaxPooling1D MaxPooling2D MaxPooling3D AveragePooling1D AveragePooling2D AveragePooling3D"
    ).split()
}
_SKIPPED = {"InputLayer"}


def layer_from_config(class_name: str, config: dict):
    """The convzoo layer for a Keras layer's class name and `get_config()` (no weights yet).

    Raises:
        ConvZooTypeError: for a layer type convzoo has no layer for, naming it.
        ConvZooError: for a setting convzoo does not reproduce (a mixed-precision policy, say).

    >>> layer_from_config("Conv2D", {"name": "c", "filters": 8, "kernel_size": [3, 3], "padding": "same"})
    Conv2D(filters=8, kernel_size=(3, 3), padding='same', name='c')
    """
    cls = _CONVERTIBLE.get(class_name)
    name = config.get("name", class_name)
    if cls is None:
        raise ConvZooTypeError(
            f"Keras layer '{name}' of type {class_name} is not supported. convzoo converts {', '.join(_CONVERTIBLE)}."
        )
    accepted = inspect.signature(cls.__init__).parameters
    kwargs = {key: _plain(value) for key, value in config.items() if key in accepted and key != "self"}
    for key, value in kwargs.items():
        if key.endswith("_initializer") and not isinstance(value, str):
            kwargs[key] = "zeros"  # the weights are copied over; the initializer never runs
    if class_name == "ReLU":
        for key, default in (("max_value", None), ("negative_slope", 0.0), ("threshold", 0.0)):
            if config.get(key, default) != default:
                raise ConvZooError(
                    f"Keras layer '{name}' (ReLU): {key} must be {default!r}. Received: {config[key]!r}."
                )
    if config.get("lora_rank") is not None:
        raise ConvZooError(
            f"Keras layer '{name}': LoRA layers are not supported. Received: lora_rank={config['lora_rank']}."
        )
    if not isinstance(kwargs.get("activation"), (str, type(None))):
        raise ConvZooError(
            f"Keras layer '{name}': activation must be a built-in name. Received: {config['activation']!r}."
        )
    kwargs["dtype"] = _dtype(config.get("dtype"), name)
    kwargs["name"] = config.get("name")
    try:
        return cls(**kwargs)
    except ConvZooError as error:
        raise with_context(error, f"Keras layer '{name}' ({class_name})") from None


def _plain(value):
    return tuple(value) if isinstance(value, list) else value


def _dtype(policy, name: str):
    if policy is None:
        return None
    if isinstance(policy, dict):
        policy = policy.get("config", {}).get("name")
    if policy not in ("float16", "float32", "float64"):
        raise ConvZooError(
            f"Keras layer '{name}': dtype policy must be float16, float32 or float64. Received: {policy!r}."
        )
    return policy


def from_keras(keras_object):
    """The convzoo layer or `Sequential` equal to a Keras layer or a chain-shaped model.

    Args:
        keras_object: a built Keras 3 layer, a `keras.Sequential`, or a functional
            `keras.Model` whose layers form a single chain.

    Returns:
        A convzoo layer with the Keras layer's arguments and weights, or a `Sequential`.

    Raises:
        ConvZooTypeError: for a layer type convzoo does not have, naming the layer.
        ConvZooError: for a functional model that is not a chain.
    """
    keras = optional_import("keras", "keras")
    if isinstance(keras_object, keras.Model):
        chain = _chain(keras_object)
        model = zoo.Sequential(name=keras_object.name)
        for index, layer in enumerate(chain):
            try:
                model.add(from_keras(layer))
            except ConvZooError as error:
                raise with_context(error, f"model '{keras_object.name}', layer {index}") from None
        return model
    layer = layer_from_config(type(keras_object).__name__, keras_object.get_config())
    weights = [np.asarray(weight) for weight in keras_object.get_weights()]
    if weights:
        layer.set_weights(weights)
    return layer


def _chain(model) -> list:
    layers = [layer for layer in model.layers if type(layer).__name__ not in _SKIPPED]
    if type(model).__name__ == "Sequential":
        return layers
    for previous, layer in zip(layers, layers[1:]):
        if len(layer._inbound_nodes) != 1 or layer.input is not previous.output:
            raise ConvZooError(
                f"Model '{model.name}': only chains of layers convert; layer '{layer.name}' does not take "
                f"'{previous.name}''s output alone."
            )
    return layers


# -- files ------------------------------------------------------------------------------------
def read_keras_weights(path) -> dict[str, list[np.ndarray]]:
    """The weights in a `.keras` or `.weights.h5` file, by Keras's storage key ("conv2d_1").

    Keras stores a model's layers under the snake_case of their class name, numbered from
    the second of a class on (`keras/src/saving/saving_lib.py`), not under their names.
    """
    h5py = optional_import("h5py", "keras")
    path = Path(path)
    if path.suffix == ".keras":
        with zipfile.ZipFile(path) as archive, archive.open("model.weights.h5") as stream:
            return _read_h5(h5py.File(stream, "r"))
    return _read_h5(h5py.File(path, "r"))


def _read_h5(file) -> dict[str, list[np.ndarray]]:
    with file:
        group = file["layers"]
        return {key: [np.asarray(group[key]["vars"][str(i)]) for i in range(len(group[key]["vars"]))] for key in group}


def storage_keys(model: zoo.Sequential) -> list[str]:
    """Keras's storage key of each layer of `model` (snake_case class names, numbered)."""
    used: dict[str, int] = {}
    keys = []
    for layer in model.layers:
        base = snake_case(type(layer).__name__)
        used[base] = used.get(base, -1) + 1
        keys.append(base if used[base] == 0 else f"{base}_{used[base]}")
    return keys


def load_keras_weights(model: zoo.Sequential, path) -> None:
    """Set the weights of `model` from a Keras `.keras` or `.weights.h5` file of the same layers."""
    stored = read_keras_weights(path)
    for key, layer in zip(storage_keys(model), model.layers):
        if layer.weight_names:
            if key not in stored:
                raise ConvZooError(f"Layer '{layer.name}': no weights stored under '{key}' in {path}.")
            layer.set_weights(stored[key])


def load_keras(path) -> zoo.Sequential:
    """A `.keras` file's model as a convzoo `Sequential`, its weights loaded; Keras not needed.

    The model must be a `Sequential` or a functional chain of layers convzoo has.
    """
    with zipfile.ZipFile(path) as archive:
        config = json.loads(archive.read("config.json"))
    if config.get("class_name") not in ("Sequential", "Functional", "Model"):
        raise ConvZooTypeError(f"{path}: a {config.get('class_name')} model is not supported.")
    entries = [entry for entry in config["config"]["layers"] if entry["class_name"] not in _SKIPPED]
    _check_file_chain(entries, path)
    model = zoo.Sequential(name=config["config"].get("name"))
    for entry in entries:
        model.add(layer_from_config(entry["class_name"], entry["config"]))
    load_keras_weights(model, path)
    return model


def _check_file_chain(entries: list[dict], path) -> None:
    for previous, entry in zip(entries, entries[1:]):
        nodes = entry.get("inbound_nodes")
        if nodes is None:
            continue  # a Sequential's layers have no inbound nodes: a chain by definition
        sources = [arg["config"]["keras_history"][0] for node in nodes for arg in node.get("args", [])]
        if sources != [previous["config"]["name"]]:
            raise ConvZooError(f"{path}: only chains of layers convert; '{entry['config']['name']}' takes {sources}.")
