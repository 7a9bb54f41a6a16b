"""The layer protocol: lazy weights, a forward that keeps its pullback, and `backward`.

A layer owns named weight arrays (in Keras's order), builds them from the first input it
sees (or from `set_weights`), runs its forward through convzoo's ops, and keeps the pullback
of its last call so that `backward(grad_output)` returns the input gradient and stores the
weight gradients in `gradients`, in the order of `get_weights()`.
"""

from __future__ import annotations

import itertools
import re
from collections import defaultdict

import numpy as np

from .. import spec
from ..errors import ConvZooError, ConvZooTypeError
from . import initializers

_NAME_COUNTERS: defaultdict[str, itertools.count] = defaultdict(itertools.count)


def snake_case(name: str) -> str:
    """Keras's `to_snake_case`: "SeparableConv2D" -> "separable_conv2d"."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", re.sub(r"\W+", "", name))
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def unique_name(cls: type) -> str:
    """Keras's automatic layer names: "conv2d", "conv2d_1", ..."""
    base = snake_case(cls.__name__)
    number = next(_NAME_COUNTERS[base])
    return base if number == 0 else f"{base}_{number}"


class Layer:
    """The base of every convzoo layer.

    Args:
        name: the layer's name; Keras's automatic one ("conv2d_1") if None.
        dtype: the floating dtype of the weights (float32, as Keras's default, if None).
        seed: an int or a `numpy.random.Generator` for the initializers (fresh entropy if None).

    Subclasses define `weight_names`, `_weight_shapes(in_channels)`, `_in_channels(input_shape)`,
    `_in_channels_from_weights(weights)`, `_forward(x) -> (out, pullback)` and
    `compute_output_shape`; `pullback(grad) -> (input_grad, [weight grads])`.
    """

    weight_names: tuple[str, ...] = ()

    def __init__(self, *, name: str | None = None, dtype=None, seed=None):
        if name is not None and not isinstance(name, str):
            raise ConvZooTypeError(f"`name` must be a string or None. Received: name={name!r}.")
        self.name = name or unique_name(type(self))
        self.dtype = np.dtype(dtype or "float32")
        if self.dtype.kind != "f":
            raise ConvZooError(f"`dtype` must be a floating dtype. Received: dtype={dtype!r}.")
        self.seed = seed
        self.in_channels: int | None = None
        self.input_shape: tuple | None = None  # of the last call
        self.gradients: list[np.ndarray] | None = None
        self._weights: dict[str, np.ndarray] = {}
        self._pullback = None

    # -- weights ----------------------------------------------------------------------------
    @property
    def built(self) -> bool:
        return self.in_channels is not None

    def _initializers(self) -> dict[str, initializers.Initializer]:
        return {}

    def _weight_shapes(self, in_channels: int) -> dict[str, tuple[int, ...]]:
        return {}

    def _in_channels(self, input_shape: tuple) -> int:
        return 0

    def _in_channels_from_weights(self, weights: list[np.ndarray]) -> int:
        return 0

    def build(self, input_shape) -> None:
        """Create the weights for inputs of `input_shape` (the batch entry may be None)."""
        self.in_channels = self._in_channels(tuple(input_shape))
        shapes = self._weight_shapes(self.in_channels)
        rng = self.seed if isinstance(self.seed, np.random.Generator) else np.random.default_rng(self.seed)
        found = self._initializers()
        self._weights = {name: found[name](shapes[name], self.dtype, rng) for name in self.weight_names}

    def get_weights(self) -> list[np.ndarray]:
        """Copies of the weights, in Keras's order (`weight_names`); none before the layer is built."""
        return [self._weights[name].copy() for name in self.weight_names if name in self._weights]

    @property
    def weights(self) -> dict[str, np.ndarray]:
        """The weights by name (the arrays themselves, not copies)."""
        return dict(self._weights)

    def set_weights(self, weights) -> None:
        """Replace the weights with `weights`, in the order of `get_weights()`, cast to `dtype`.

        An unbuilt layer is built from the weights' shapes (the input channels follow from them).

        Raises:
            ConvZooError: naming the layer and the weight, with the expected and given shapes.
        """
        weights = [np.asarray(w) for w in weights]
        if len(weights) != len(self.weight_names):
            raise ConvZooError(
                f"Layer '{self.name}' ({type(self).__name__}) has {len(self.weight_names)} weights "
                f"({', '.join(self.weight_names) or 'none'}). Received: {len(weights)} arrays."
            )
        in_channels = self.in_channels if self.built else self._in_channels_from_weights(weights)
        expected = self._weight_shapes(in_channels)
        for name, weight in zip(self.weight_names, weights):
            if weight.shape != tuple(expected[name]):
                raise ConvZooError(
                    f"Layer '{self.name}' ({type(self).__name__}): weight '{name}' must have shape "
                    f"{tuple(expected[name])}. Received: {name}.shape={weight.shape}."
                )
        self.in_channels = in_channels
        self._weights = {name: w.astype(self.dtype) for name, w in zip(self.weight_names, weights)}

    def count_params(self) -> int:
        """The number of weights (the layer must be built)."""
        if not self.built:
            raise ConvZooError(f"Layer '{self.name}' is not built yet: call it on an input or set its weights first.")
        return sum(w.size for w in self._weights.values())

    # -- forward and backward ---------------------------------------------------------------
    def __call__(self, inputs) -> np.ndarray:
        """The layer's output for `inputs`; the layer builds itself on its first call."""
        x = inputs if isinstance(inputs, np.ndarray) else np.asarray(inputs)
        if not self.built:
            self.build(x.shape)
        elif self._weight_names_need_channels() and self._in_channels(x.shape) != self.in_channels:
            raise ConvZooError(
                f"Layer '{self.name}' ({type(self).__name__}) was built for {self.in_channels} input channels. "
                f"Received: inputs.shape={x.shape}."
            )
        self.input_shape = x.shape
        out, self._pullback = self._forward(x)
        return out

    def _weight_names_need_channels(self) -> bool:
        return bool(self.weight_names)

    def _forward(self, x: np.ndarray):
        raise NotImplementedError

    def backward(self, grad_output) -> np.ndarray:
        """The gradient with respect to the last call's input; weight gradients go to `gradients`.

        Args:
            grad_output: the gradient of the loss with respect to the last call's output.

        Returns:
            The gradient with respect to that call's input, of the input's shape.
        """
        if self._pullback is None:
            raise ConvZooError(f"Layer '{self.name}': call the layer on an input before calling backward.")
        input_grad, weight_grads = self._pullback(np.asarray(grad_output))
        self.gradients = list(weight_grads)
        return input_grad

    def compute_output_shape(self, input_shape) -> tuple:
        raise NotImplementedError

    # -- description ------------------------------------------------------------------------
    def get_config(self) -> dict:
        """The constructor's arguments, Keras-style (what `repr` shows when not default)."""
        return {"name": self.name}

    _defaults: dict = {}

    def __repr__(self) -> str:
        config = self.get_config()
        shown = [f"{key}={value!r}" for key, value in config.items() if key != "name" and self._shown(key, value)]
        return f"{type(self).__name__}({', '.join(shown)}, name={self.name!r})".replace("(, ", "(")

    def _shown(self, key: str, value) -> bool:
        return key not in self._defaults or self._defaults[key] != value


def per_axis_or_none(value, rank: int, name: str, minimum: int = 1):
    return None if value is None else spec.per_axis(value, rank, name, minimum)
