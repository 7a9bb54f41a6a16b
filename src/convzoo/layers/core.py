"""The few layers a CNN needs around its convolutions: activations, dense, flatten, dropout,
pooling and batch normalization (inference), with Keras's arguments and weight order.

Dense and average pooling run through convzoo's ops (a pointwise and a depthwise
convolution); max pooling and the element-wise layers are NumPy here.
"""

from __future__ import annotations

import math

import numpy as np

from .. import arithmetic, spec
from ..errors import ConvZooError
from ..ops import depthwise_conv, pointwise_conv, vjp
from . import activations, initializers
from .base import Layer


class Activation(Layer):
    """An activation as a layer (Keras's `Activation`); `activation` names it.

    >>> import numpy as np
    >>> Activation("relu")(np.array([[-1.0, 2.0]]))
    array([[0., 2.]])
    """

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def _forward(self, x):
        y = self.activation.forward(x)
        return y, lambda grad: (self.activation.backward(x, y, grad), [])

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {"name": self.name, "activation": self.activation.name}


class ReLU(Activation):
    """Keras's `ReLU()` (default arguments only)."""

    def __init__(self, **kwargs):
        super().__init__("relu", **kwargs)

    def get_config(self):
        return {"name": self.name}


class LeakyReLU(Activation):
    """Keras's `LeakyReLU(negative_slope=0.3)` (PyTorch's default slope is 0.01)."""

    def __init__(self, negative_slope=0.3, **kwargs):
        super().__init__(activations.leaky_relu(negative_slope), **kwargs)
        self.negative_slope = float(negative_slope)

    def get_config(self):
        return {"name": self.name, "negative_slope": self.negative_slope}


class Dropout(Layer):
    """Keras's `Dropout(rate)` at inference: the identity (convzoo layers do not train stochastically)."""

    def __init__(self, rate, **kwargs):
        super().__init__(**kwargs)
        self.rate = float(rate)

    def _forward(self, x):
        return x, lambda grad: (grad, [])

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {"name": self.name, "rate": self.rate}


class Flatten(Layer):
    """Keras's `Flatten`: `(N, ...) -> (N, prod(...))`; "channels_first" moves channels last first.

    >>> import numpy as np
    >>> Flatten()(np.ones((2, 3, 4, 5))).shape
    (2, 60)
    """

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = spec.choice(data_format or "channels_last", "data_format", spec.DATA_FORMATS)

    def _forward(self, x):
        moved = x.ndim > 2 and self.data_format == "channels_first"
        y = np.moveaxis(x, 1, -1) if moved else x
        shape = y.shape

        def pullback(grad):
            grad = grad.reshape(shape)
            return (np.moveaxis(grad, -1, 1) if moved else grad), []

        return y.reshape(len(x), -1), pullback

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        return (input_shape[0], None if None in rest else math.prod(rest))

    def get_config(self):
        return {"name": self.name, "data_format": self.data_format}

    _defaults = {"data_format": "channels_last"}


class Dense(Layer):
    """Keras's `Dense(units)`: the last axis times `kernel (C_in, units)`, plus `bias (units,)`.

    Runs as a pointwise convolution (on a length-1 axis for a 2-D input).

    >>> import numpy as np
    >>> Dense(4, seed=0)(np.ones((2, 3))).shape
    (2, 4)
    """

    weight_names = ("kernel", "bias")

    def __init__(
        self,
        units,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = spec.as_int(units, "units")
        if self.units < 1:
            raise ConvZooError(f"`units` must be >= 1. Received: units={units}.")
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.weight_names = ("kernel", "bias") if use_bias else ("kernel",)
        self._inits = {
            "kernel": initializers.get(kernel_initializer, "kernel_initializer"),
            "bias": initializers.get(bias_initializer, "bias_initializer"),
        }
        self._init_names = (kernel_initializer, bias_initializer)

    def _initializers(self):
        return self._inits

    def _in_channels(self, input_shape):
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise ConvZooError(f"Layer '{self.name}' (Dense) needs inputs (N, ..., C). Received: {input_shape}.")
        return int(input_shape[-1])

    def _in_channels_from_weights(self, weights):
        if weights[0].ndim != 2:
            raise ConvZooError(
                f"Layer '{self.name}' (Dense): weight 'kernel' must be (C_in, units). "
                f"Received: kernel.shape={weights[0].shape}."
            )
        return weights[0].shape[0]

    def _weight_shapes(self, in_channels):
        return {"kernel": (in_channels, self.units), "bias": (self.units,)}

    def _forward(self, x):
        flat = x.ndim == 2
        arrays = [self._weights[name] for name in self.weight_names]
        pre, pullback = vjp(pointwise_conv, x[:, None, :] if flat else x, *arrays)
        pre = pre[:, 0] if flat else pre
        y = self.activation.forward(pre)

        def dense_pullback(grad):
            grad = self.activation.backward(pre, y, grad).astype(pre.dtype, copy=False)
            input_grad, *weight_grads = pullback(grad[:, None] if flat else grad)
            return (input_grad[:, 0] if flat else input_grad), weight_grads

        return y, dense_pullback

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        kernel_init, bias_init = self._init_names
        return {
            "name": self.name,
            "units": self.units,
            "activation": self.activation.name,
            "use_bias": self.use_bias,
            "kernel_initializer": kernel_init,
            "bias_initializer": bias_init,
        }

    _defaults = {
        "activation": "linear",
        "use_bias": True,
        "kernel_initializer": "glorot_uniform",
        "bias_initializer": "zeros",
    }


class BatchNormalization(Layer):
    """Keras's `BatchNormalization` at inference: (x - moving_mean) / sqrt(moving_variance + eps)
    * gamma + beta along `axis`.

    Weights (Keras's order): `gamma`, `beta` (if `scale`, `center`), `moving_mean`,
    `moving_variance`, each `(C,)`. The moving statistics are not trained: `backward` gives
    them zero gradients. Keras's epsilon is 1e-3, PyTorch's 1e-5.
    """

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True, **kwargs):
        super().__init__(**kwargs)
        self.axis = spec.as_int(axis, "axis")
        self.momentum, self.epsilon = float(momentum), float(epsilon)
        self.center, self.scale = bool(center), bool(scale)
        self.weight_names = (
            *(("gamma",) if scale else ()),
            *(("beta",) if center else ()),
            "moving_mean",
            "moving_variance",
        )

    def _initializers(self):
        ones, zeros = initializers.get("ones", "ones"), initializers.get("zeros", "zeros")
        return {"gamma": ones, "beta": zeros, "moving_mean": zeros, "moving_variance": ones}

    def _in_channels(self, input_shape):
        return int(input_shape[self.axis])

    def _in_channels_from_weights(self, weights):
        return weights[0].shape[0]

    def _weight_shapes(self, in_channels):
        return dict.fromkeys(self.weight_names, (in_channels,))

    def _forward(self, x):
        shape = [1] * x.ndim
        shape[self.axis] = -1
        w = {name: value.reshape(shape) for name, value in self._weights.items()}
        inverse_std = 1 / np.sqrt(w["moving_variance"] + self.epsilon)
        normalized = (x - w["moving_mean"]) * inverse_std
        gamma = w.get("gamma", 1)
        out = normalized * gamma + w.get("beta", 0)
        axes = tuple(a for a in range(x.ndim) if a != self.axis % x.ndim)

        def pullback(grad):
            grads = {"gamma": (grad * normalized).sum(axis=axes), "beta": grad.sum(axis=axes)}
            zeros = {name: np.zeros_like(self._weights[name]) for name in ("moving_mean", "moving_variance")}
            grads.update(zeros)
            return grad * gamma * inverse_std, [grads[name] for name in self.weight_names]

        return out.astype(np.result_type(x.dtype, self.dtype), copy=False), pullback

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {
            "name": self.name,
            "axis": self.axis,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
        }


class Pooling(Layer):
    """Max or average pooling over `pool_size` windows, rank-generic (Keras's `*Pooling{1,2,3}D`).

    Args:
        pool_size: an int or one per spatial axis (2 by default, as Keras).
        strides: None (= pool_size, Keras's default), an int or one per axis.
        padding: "valid" or "same" (Keras's rule; the padding never wins a max and is not
            counted in an average).
        data_format: "channels_last" (None) or "channels_first".

    Shape: as a convolution with kernel `pool_size`: O = floor((S + p - K) / s) + 1.
    """

    rank: int | None = None
    mode = "max"

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.pool_size = spec.per_axis(pool_size, self.rank, "pool_size")
        self.strides = self.pool_size if strides is None else spec.per_axis(strides, self.rank, "strides")
        self.padding = spec.padding(padding, self.rank, ("valid", "same"))
        self.data_format = spec.choice(data_format or "channels_last", "data_format", spec.DATA_FORMATS)

    def geometry(self, input_shape) -> arithmetic.ConvGeometry:
        """The pooling windows as a convolution's geometry (`convzoo.arithmetic`)."""
        sizes = input_shape[1:-1] if self.data_format == "channels_last" else input_shape[2:]
        return self._geometry(tuple(sizes))

    def _geometry(self, sizes: tuple[int, ...]) -> arithmetic.ConvGeometry:
        ones = (1,) * self.rank
        return arithmetic.conv_geometry(sizes, self.pool_size, self.strides, ones, self.padding)

    def compute_output_shape(self, input_shape):
        out = self.geometry(input_shape).out_sizes
        if self.data_format == "channels_last":
            return (input_shape[0], *out, input_shape[-1])
        return (input_shape[0], input_shape[1], *out)

    def _forward(self, x):
        if x.ndim != self.rank + 2:
            raise ConvZooError(
                f"Layer '{self.name}' ({type(self).__name__}) takes inputs of rank {self.rank + 2}. "
                f"Received: inputs.shape={x.shape}."
            )
        last = self.data_format == "channels_last"
        x_last = x if last else np.moveaxis(x, 1, -1)
        y, pullback = (self._max if self.mode == "max" else self._average)(x_last)
        if last:
            return y, pullback
        return np.moveaxis(y, -1, 1), lambda grad: (np.moveaxis(pullback(np.moveaxis(grad, 1, -1))[0], -1, 1), [])

    def _average(self, x):
        # a depthwise convolution by 1/prod(pool_size), divided by the taps inside the input
        options = dict(strides=self.strides, padding=self.padding)
        kernel = np.ones((*self.pool_size, x.shape[-1], 1), x.dtype)
        counts = depthwise_conv(np.ones((1, *x.shape[1:-1], 1), x.dtype), kernel[..., :1, :], **options)
        total, pullback = vjp(depthwise_conv, x, kernel, **options)
        return total / counts, lambda grad: (pullback(grad / counts)[0], [])

    def _max(self, x):
        geometry = self._geometry(x.shape[1:-1])  # x is channels-last here
        pads = [(0, 0), *geometry.padding, (0, 0)]
        padded = np.pad(x, pads, constant_values=-np.inf) if any(map(any, pads)) else x
        spatial = tuple(range(1, self.rank + 1))
        windows = np.lib.stride_tricks.sliding_window_view(padded, self.pool_size, axis=spatial)
        windows = windows[(slice(None), *(slice(None, None, s) for s in self.strides))]
        windows = windows[(slice(None), *(slice(o) for o in geometry.out_sizes))]
        flat = windows.reshape(*windows.shape[: self.rank + 2], -1)  # (N, *O, C, prod(pool_size))
        winners = flat.argmax(axis=-1)
        y = np.take_along_axis(flat, winners[..., None], axis=-1)[..., 0]

        def pullback(grad):
            offsets = np.unravel_index(winners, self.pool_size)  # one array per axis, (N, *O, C)
            grid = np.indices(winners.shape, sparse=True)
            index = [grid[0]]
            for axis in range(self.rank):
                index.append(grid[axis + 1] * self.strides[axis] + offsets[axis])
            index.append(grid[-1])
            grad_padded = np.zeros(padded.shape, grad.dtype)
            np.add.at(grad_padded, tuple(index), grad)
            crop = tuple(slice(before, size - after) for size, (before, after) in zip(padded.shape, pads))
            return grad_padded[crop], []

        return y, pullback

    def get_config(self):
        return {
            "name": self.name,
            "pool_size": self.pool_size,
            "strides": self.strides,
            "padding": self.padding,
            "data_format": self.data_format,
        }


def _pooling(mode: str, rank: int, name: str) -> type:
    doc = f"{'Max' if mode == 'max' else 'Average'} pooling over {rank}-D windows (Keras's {name}); see `Pooling`."
    return type(name, (Pooling,), {"rank": rank, "mode": mode, "__doc__": doc, "__module__": __name__})


MaxPooling1D = _pooling("max", 1, "MaxPooling1D")
MaxPooling2D = _pooling("max", 2, "MaxPooling2D")
MaxPooling3D = _pooling("max", 3, "MaxPooling3D")
AveragePooling1D = _pooling("average", 1, "AveragePooling1D")
AveragePooling2D = _pooling("average", 2, "AveragePooling2D")
AveragePooling3D = _pooling("average", 3, "AveragePooling3D")
