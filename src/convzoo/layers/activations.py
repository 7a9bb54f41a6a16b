"""The activations a layer's `activation` argument names, each with its derivative.

Keras's names and defaults (keras/src/activations/activations.py): `leaky_relu` has slope
0.2, `elu` alpha 1, `softmax` works on the last axis. Each entry is `(forward, backward)`
with `backward(x, y, grad_y) -> grad_x`, y = forward(x): the chain rule through the
activation, which a layer's `backward` applies before the convolution's own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import ConvZooError

_SELU_ALPHA, _SELU_SCALE = 1.6732632423543772, 1.0507009873554805


@dataclass(frozen=True)
class Activation:
    """An activation by name: `forward(x)` and `backward(x, y, grad_y)`."""

    name: str
    forward: Callable[[np.ndarray], np.ndarray]
    backward: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def _sigmoid(x):
    # exp of a non-positive number only: no overflow for large |x|
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _elu(x, alpha=1.0):
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


def _table() -> dict[str, Activation]:
    entries = [
        Activation("linear", lambda x: x, lambda x, y, g: g),
        Activation("relu", lambda x: np.maximum(x, 0), lambda x, y, g: g * (x > 0)),
        Activation("relu6", lambda x: np.clip(x, 0, 6), lambda x, y, g: g * ((x > 0) & (x < 6))),
        Activation("leaky_relu", lambda x: np.where(x > 0, x, 0.2 * x), lambda x, y, g: g * np.where(x > 0, 1, 0.2)),
        Activation("elu", _elu, lambda x, y, g: g * np.where(x > 0, 1, y + 1)),
        Activation(
            "selu",
            lambda x: _SELU_SCALE * _elu(x, _SELU_ALPHA),
            lambda x, y, g: g * np.where(x > 0, _SELU_SCALE, y + _SELU_SCALE * _SELU_ALPHA),
        ),
        Activation("sigmoid", _sigmoid, lambda x, y, g: g * y * (1 - y)),
        Activation("tanh", np.tanh, lambda x, y, g: g * (1 - y * y)),
        Activation("softplus", lambda x: np.logaddexp(0, x), lambda x, y, g: g * _sigmoid(x)),
        Activation("softsign", lambda x: x / (1 + np.abs(x)), lambda x, y, g: g / (1 + np.abs(x)) ** 2),
        Activation("silu", lambda x: x * _sigmoid(x), lambda x, y, g: g * (_sigmoid(x) * (1 + x * (1 - _sigmoid(x))))),
        Activation("softmax", _softmax, lambda x, y, g: y * (g - (g * y).sum(axis=-1, keepdims=True))),
    ]
    table = {entry.name: entry for entry in entries}
    table["swish"] = table["silu"]
    return table


ACTIVATIONS = _table()


def leaky_relu(negative_slope: float) -> Activation:
    """A leaky ReLU with its own slope (the table's "leaky_relu" has Keras's default, 0.2)."""
    slope = float(negative_slope)
    return Activation(
        f"leaky_relu({slope})",
        lambda x: np.where(x > 0, x, slope * x),
        lambda x, y, g: g * np.where(x > 0, 1, slope),
    )


def get(activation: str | None, name: str = "activation") -> Activation:
    """The activation called `activation` (None is "linear").

    Raises:
        ConvZooError: naming the argument and listing the activations known.

    >>> get("relu").forward(np.array([-1.0, 2.0]))
    array([0., 2.])
    """
    if activation is None:
        return ACTIVATIONS["linear"]
    if isinstance(activation, Activation):
        return activation
    if isinstance(activation, str) and activation in ACTIVATIONS:
        return ACTIVATIONS[activation]
    raise ConvZooError(
        f"`{name}` must be None or one of {', '.join(map(repr, ACTIVATIONS))}. Received: {name}={activation!r}."
    )
