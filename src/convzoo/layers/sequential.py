"""`Sequential`: layers in a chain, run forward and backward, with a Keras-like `summary()`.

For running and inspecting models, not for training them: `backward` fills every layer's
`gradients` and `sgd_step` applies plain SGD; there is no optimizer state, loss or fit loop.
"""

from __future__ import annotations

import numpy as np

from .. import arithmetic
from ..errors import ConvZooError, ConvZooTypeError, with_context
from .base import Layer, unique_name
from .convolutional import BaseConv


class Sequential:
    """A stack of layers, each taking the previous one's output (Keras's `Sequential`).

    Args:
        layers: the layers, in order (more can be `add`ed).
        name: the model's name ("sequential", "sequential_1", ... if None).

    >>> import numpy as np
    >>> from convzoo.layers import Conv2D, Flatten, Dense, Sequential
    >>> layers = [Conv2D(4, 3, activation="relu", name="conv"), Flatten(name="flatten"), Dense(2, name="dense")]
    >>> model = Sequential(layers, name="tiny")
    >>> model(np.ones((1, 6, 6, 3))).shape
    (1, 2)
    >>> model.summary()  # doctest: +NORMALIZE_WHITESPACE
    Model: "tiny"
    ┏━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━┳━━━━━━━━━┳━━━━━━━┓
    ┃ Layer (type)         ┃ Output Shape     ┃ Param # ┃  MACs ┃
    ┡━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━╇━━━━━━━━━╇━━━━━━━┩
    │ conv (Conv2D)        │ (None, 4, 4, 4)  │     112 │ 1,728 │
    │ flatten (Flatten)    │ (None, 64)       │       0 │     0 │
    │ dense (Dense)        │ (None, 2)        │     130 │   128 │
    └──────────────────────┴──────────────────┴─────────┴───────┘
     Total params: 242
     MACs per sample: 1,856 (bias adds apart)
    """

    def __init__(self, layers=(), name: str | None = None):
        self.name = name or unique_name(type(self))
        self.layers: list[Layer] = []
        for layer in layers:
            self.add(layer)

    def add(self, layer: Layer) -> None:
        if not isinstance(layer, (Layer, Sequential)):
            raise ConvZooTypeError(
                f"Sequential '{self.name}' takes convzoo layers. Received: {type(layer).__name__} "
                f"at position {len(self.layers)}."
            )
        self.layers.append(layer)

    def __call__(self, inputs) -> np.ndarray:
        x = inputs
        for layer in self.layers:
            x = layer(x)
        return x

    def backward(self, grad_output) -> np.ndarray:
        """Back-propagate through the last call; each layer stores its weight gradients."""
        grad = grad_output
        for layer in reversed(self.layers):
            grad = layer.backward(grad)
        return grad

    @property
    def input_shape(self):
        return self.layers[0].input_shape if self.layers else None

    def compute_output_shape(self, input_shape) -> tuple:
        for layer in self.layers:
            input_shape = layer.compute_output_shape(input_shape)
        return input_shape

    # -- weights ----------------------------------------------------------------------------
    def get_weights(self) -> list[np.ndarray]:
        """Every layer's weights, layer by layer, each in its layer's order (as Keras)."""
        return [weight for layer in self.layers for weight in layer.get_weights()]

    def set_weights(self, weights) -> None:
        weights = list(weights)
        for layer in self.layers:
            count = len(_weight_names(layer))
            layer.set_weights(weights[:count])
            weights = weights[count:]
        if weights:
            raise ConvZooError(f"Sequential '{self.name}' got {len(weights)} more weights than its layers hold.")

    @property
    def gradients(self) -> list[np.ndarray]:
        return [grad for layer in self.layers for grad in (layer.gradients or [])]

    def count_params(self) -> int:
        return sum(layer.count_params() for layer in self.layers)

    def sgd_step(self, learning_rate: float = 0.01) -> None:
        """weights -= learning_rate * gradients, for every layer that has gradients."""
        for layer in self.layers:
            if isinstance(layer, Sequential):
                layer.sgd_step(learning_rate)
            elif layer.gradients:
                layer.set_weights([w - learning_rate * g for w, g in zip(layer.get_weights(), layer.gradients)])

    # -- summary ----------------------------------------------------------------------------
    def summary(self, input_shape=None, print_fn=print) -> None:
        """Print a table of the layers: name (type), output shape, parameters, MACs.

        Args:
            input_shape: the input's shape (batch entry None allowed); the last call's if None.
            print_fn: called with each line (Keras's argument).

        Shapes, parameters and MACs of convolution layers come from `convzoo.arithmetic`; MACs
        are per sample (batch 1), bias adds apart.
        """
        for line in self.summary_lines(input_shape):
            print_fn(line)

    def summary_lines(self, input_shape=None) -> list[str]:
        rows, total, total_macs = self._summary_rows(input_shape)
        header = ("Layer (type)", "Output Shape", "Param #", "MACs")
        widths = [max(len(row[i]) for row in [header, *rows]) for i in range(4)]
        widths[0], widths[1] = max(widths[0], 20), max(widths[1], 16)

        def line(left, fill, middle, right):
            return left + middle.join(fill * (w + 2) for w in widths) + right

        def cells(row, edge):
            texts = [row[0].ljust(widths[0]), row[1].ljust(widths[1]), row[2].rjust(widths[2]), row[3].rjust(widths[3])]
            return edge + edge.join(f" {text} " for text in texts) + edge

        return [
            f'Model: "{self.name}"',
            line("┏", "━", "┳", "┓"),
            cells(header, "┃"),
            line("┡", "━", "╇", "┩"),
            *(cells(row, "│") for row in rows),
            line("└", "─", "┴", "┘"),
            f" Total params: {total:,}",
            f" MACs per sample: {total_macs:,} (bias adds apart)",
        ]

    def _summary_rows(self, input_shape):
        shape = input_shape or self.input_shape
        if shape is None:
            raise ConvZooError(f"Sequential '{self.name}': give `input_shape` or call the model on an input first.")
        shape = (None, *tuple(shape)[1:])
        rows, total, total_macs = [], 0, 0
        for number, layer in enumerate(self.layers, start=1):
            try:
                params, macs = _params_and_macs(layer, shape)
                shape = layer.compute_output_shape(shape)
            except ConvZooError as error:
                raise with_context(error, f"layer {number} ('{layer.name}')") from None
            rows.append((f"{layer.name} ({type(layer).__name__})", str(shape), f"{params:,}", f"{macs:,}"))
            total, total_macs = total + params, total_macs + macs
        return rows, total, total_macs


def _weight_names(layer) -> tuple:
    if isinstance(layer, Sequential):
        return tuple(name for inner in layer.layers for name in _weight_names(inner))
    return layer.weight_names


def _params_and_macs(layer, input_shape) -> tuple[int, int]:
    if isinstance(layer, BaseConv):
        resolved = layer.arithmetic(input_shape)
        return arithmetic.parameters(resolved).total, arithmetic.macs(resolved)
    if isinstance(layer, Sequential):
        rows, total, macs = layer._summary_rows(input_shape)
        return total, macs
    if layer.built:
        params = layer.count_params()
    else:
        params = sum(int(np.prod(shape)) for shape in layer._weight_shapes(layer._in_channels(input_shape)).values())
    units = getattr(layer, "units", None)
    macs = 0 if units is None else int(np.prod(input_shape[1:])) * units  # Dense
    return params, macs
