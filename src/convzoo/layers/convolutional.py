"""Keras-compatible convolution layers for every kind, thin over convzoo's ops.

One rank-generic class per family (`Conv`, `ConvTranspose`, `DepthwiseConv`, `SeparableConv`,
`SpatiallySeparableConv`, `PointwiseConv`) holds the arguments, the weight shapes and the op
it calls; the 1-D/2-D/3-D names only set `rank`. Arguments, defaults, weight names, shapes
and order are Keras 3's (keras/src/layers/convolutional/), so `layer.set_weights(
keras_layer.get_weights())` gives Keras's outputs. Beyond Keras: `padding` also takes
"full", "causal" (1-D) and explicit PyTorch-style paddings, `padding_mode` fills the padding
("zeros", "reflect", "replicate", "circular"), strides and dilation combine, transpose layers
take `groups`, and the depthwise and separable families have a 3-D member.

Shapes come from `convzoo.arithmetic.Layer` (the rules the ops run), numerics from the ops,
gradients from `convzoo.vjp`.
"""

from __future__ import annotations

import numpy as np

from .. import arithmetic, spec
from ..errors import ConvZooError, with_context
from ..ops import conv, conv_transpose, depthwise_conv, pointwise_conv, separable_conv, spatially_separable_conv, vjp
from . import activations, initializers
from .base import Layer


def _positive(value, name: str) -> int:
    value = spec.as_int(value, name)
    if value < 1:
        raise ConvZooError(f"`{name}` must be >= 1. Received: {name}={value}.")
    return value


class BaseConv(Layer):
    """What every convolution layer shares: arguments, activation, bias, forward and backward.

    Subclasses set `rank`, `kind` (a `convzoo.arithmetic` kind), `op`, `weight_names` and the
    kernel shapes; everything else is here.
    """

    rank: int | None = None
    kind = "conv"
    op = staticmethod(conv)
    takes = frozenset({"strides", "padding", "dilation_rate", "padding_mode"})  # the op's options

    def __init__(
        self,
        filters=None,
        kernel_size=1,
        strides=1,
        padding="valid",
        data_format=None,
        dilation_rate=1,
        groups=1,
        depth_multiplier=1,
        output_padding=None,
        intermediate_filters=None,
        activation=None,
        use_bias=True,
        kernel_initializers: dict | None = None,
        padding_mode="zeros",
        *,
        name=None,
        dtype=None,
        seed=None,
    ):
        super().__init__(name=name, dtype=dtype, seed=seed)
        if self.rank is None:
            raise ConvZooError(f"{type(self).__name__} is rank-generic; use its 1-D, 2-D or 3-D layer.")
        rank = self.rank
        self.filters = None if filters is None else _positive(filters, "filters")
        self.kernel_size = spec.per_axis(kernel_size, rank, "kernel_size")
        self.strides = spec.per_axis(strides, rank, "strides")
        strings = spec.TRANSPOSE_PADDING_STRINGS if self.kind == "transpose" else spec.PADDING_STRINGS
        self.padding = spec.padding(padding, rank, strings)
        self.data_format = spec.choice(data_format or "channels_last", "data_format", spec.DATA_FORMATS)
        self.dilation_rate = spec.per_axis(dilation_rate, rank, "dilation_rate")
        self.groups = _positive(groups, "groups")
        self.depth_multiplier = _positive(depth_multiplier, "depth_multiplier")
        self.output_padding = spec.output_padding(output_padding, rank)
        self.intermediate_filters = intermediate_filters
        self.activation = activations.get(activation)
        if not isinstance(use_bias, bool):
            raise ConvZooError(f"`use_bias` must be True or False. Received: use_bias={use_bias!r}.")
        self.use_bias = use_bias
        self.padding_mode = spec.choice(padding_mode, "padding_mode", spec.PADDING_MODES)
        self._initializer_args = dict(kernel_initializers or {})
        self._found_initializers = {key: initializers.get(value, key) for key, value in self._initializer_args.items()}
        if self.filters is not None and self.filters % self.groups:
            raise ConvZooError(
                f"`groups` must divide `filters`. Received: groups={self.groups}, filters={self.filters}."
            )
        self.weight_names = (*self._kernel_names(), *(("bias",) if use_bias else ()))

    # -- weights ----------------------------------------------------------------------------
    def _kernel_names(self) -> tuple[str, ...]:
        return ("kernel",)

    def _kernel_shapes(self, in_channels: int) -> tuple[tuple[int, ...], ...]:
        return ((*self.kernel_size, in_channels // self.groups, self.filters),)

    @property
    def out_channels(self) -> int:
        return self.filters

    def _weight_shapes(self, in_channels: int) -> dict[str, tuple[int, ...]]:
        shapes = dict(zip(self._kernel_names(), self._kernel_shapes(in_channels)))
        if self.use_bias:
            shapes["bias"] = (self._out_channels(in_channels),)
        return shapes

    def _out_channels(self, in_channels: int) -> int:
        return self.filters

    def _initializers(self) -> dict:
        found = self._found_initializers
        kernel_key = next(key for key in found if key != "bias_initializer")
        return {
            name: found.get(f"{name}_initializer", found[kernel_key] if name != "bias" else found["bias_initializer"])
            for name in self.weight_names
        }

    def _in_channels(self, input_shape: tuple) -> int:
        if len(input_shape) != self.rank + 2:
            raise ConvZooError(
                f"Layer '{self.name}' ({type(self).__name__}) takes inputs of rank {self.rank + 2} "
                f"(batch, {self.rank} spatial axes, channels). Received: input_shape={input_shape}."
            )
        channels = input_shape[-1] if self.data_format == "channels_last" else input_shape[1]
        if channels is None or channels % self.groups:
            raise ConvZooError(
                f"Layer '{self.name}': `groups` must divide the input channels. "
                f"Received: groups={self.groups}, input_shape={input_shape}."
            )
        return int(channels)

    def _in_channels_from_weights(self, weights: list[np.ndarray]) -> int:
        if not weights or weights[0].ndim != self.rank + 2:
            shape = weights[0].shape if weights else None
            raise ConvZooError(
                f"Layer '{self.name}' ({type(self).__name__}): weight '{self.weight_names[0]}' must have rank "
                f"{self.rank + 2}. Received: {self.weight_names[0]}.shape={shape}."
            )
        return weights[0].shape[-2] * self.groups

    # -- shapes -----------------------------------------------------------------------------
    def arithmetic(self, input_shape) -> arithmetic.Layer:
        """This layer on inputs of `input_shape` as a `convzoo.arithmetic.Layer` (shapes, costs).

        A None batch entry counts as 1.
        """
        input_shape = tuple(input_shape)
        in_channels = self._in_channels(input_shape)
        sizes = input_shape[1:-1] if self.data_format == "channels_last" else input_shape[2:]
        options = dict(
            strides=self.strides,
            padding=self.padding,
            dilation_rate=self.dilation_rate,
            groups=self.groups,
            depth_multiplier=self.depth_multiplier,
            output_padding=self.output_padding,
            intermediate_filters=self.intermediate_filters,
            padding_mode=self.padding_mode,
        )
        options = {key: value for key, value in options.items() if key in self._arithmetic_options}
        try:
            return arithmetic.Layer(
                self.kind,
                sizes,
                in_channels,
                filters=self.filters,
                kernel_size=self.kernel_size,
                data_format=self.data_format,
                batch=1 if input_shape[0] is None else input_shape[0],
                itemsize=self.dtype.itemsize,
                use_bias=self.use_bias,
                **options,
            )
        except ConvZooError as error:
            raise with_context(error, f"Layer '{self.name}' ({type(self).__name__})") from None

    _arithmetic_options = frozenset({"strides", "padding", "dilation_rate", "groups", "padding_mode"})

    def compute_output_shape(self, input_shape) -> tuple:
        """The output shape for inputs of `input_shape` (batch entry None allowed), from
        `convzoo.arithmetic`.

        >>> from convzoo.layers import Conv2D
        >>> Conv2D(8, 3, strides=2, padding="same").compute_output_shape((None, 28, 28, 3))
        (None, 14, 14, 8)
        """
        shape = self.arithmetic(input_shape).output_shape
        return (input_shape[0], *shape[1:])

    # -- forward ----------------------------------------------------------------------------
    def _op_options(self) -> dict:
        options = dict(
            strides=self.strides,
            padding=self.padding,
            dilation_rate=self.dilation_rate,
            padding_mode=self.padding_mode,
            output_padding=self.output_padding,
            groups=self.groups,
        )
        return {"data_format": self.data_format, **{key: options[key] for key in self.takes}}

    def _op_arrays(self) -> list:
        return [self._weights[name] for name in self._kernel_names()]

    def _flat_grads(self, grads: tuple) -> list[np.ndarray]:
        return list(grads)

    def _forward(self, x: np.ndarray):
        arrays = self._op_arrays() + ([self._weights["bias"]] if self.use_bias else [])
        try:
            pre, pullback = vjp(self.op, x, *arrays, **self._op_options())
        except ConvZooError as error:
            raise with_context(error, f"Layer '{self.name}' ({type(self).__name__})") from None
        activation = self.activation
        out = activation.forward(pre) if activation.name != "linear" else pre

        def layer_pullback(grad_out):
            grad_pre = activation.backward(pre, out, grad_out) if activation.name != "linear" else grad_out
            input_grad, *weight_grads = pullback(grad_pre.astype(pre.dtype, copy=False))
            return input_grad, self._flat_grads(weight_grads)

        return out, layer_pullback

    # -- description ------------------------------------------------------------------------
    def get_config(self) -> dict:
        config = {"name": self.name}
        if self.filters is not None and "filters" in self._config_keys:
            config["filters"] = self.filters
        config.update(kernel_size=self.kernel_size, strides=self.strides, padding=self.padding)
        for key in self._config_keys - {"filters"}:
            config[key] = getattr(self, key)
        config.update(
            data_format=self.data_format,
            dilation_rate=self.dilation_rate,
            activation=self.activation.name,
            use_bias=self.use_bias,
            **self._initializer_args,
        )
        if "padding_mode" in self.takes:
            config["padding_mode"] = self.padding_mode
        return config

    _config_keys = frozenset({"filters", "groups"})

    def _shown(self, key: str, value) -> bool:
        ones = (1,) * self.rank
        defaults = dict(
            strides=ones,
            padding="valid",
            data_format="channels_last",
            dilation_rate=ones,
            groups=1,
            depth_multiplier=1,
            output_padding=None,
            intermediate_filters=None,
            activation="linear",
            use_bias=True,
            padding_mode="zeros",
            kernel_initializer="glorot_uniform",
            depthwise_initializer="glorot_uniform",
            pointwise_initializer="glorot_uniform",
            bias_initializer="zeros",
        )
        return key not in defaults or defaults[key] != value


def _kernel_init(kernel_initializer, bias_initializer) -> dict:
    return {"kernel_initializer": kernel_initializer, "bias_initializer": bias_initializer}


class Conv(BaseConv):
    """The standard convolution layer (also strided, dilated, grouped): Keras's `Conv{1,2,3}D`.

    Args:
        filters: output channels.
        kernel_size: an int or one int per spatial axis.
        strides: an int or one per axis (may combine with dilation, unlike in Keras).
        padding: "valid", "same" (Keras's rule), "full", "causal" (1-D, as Keras's Conv1D),
            or explicit as PyTorch's: an int, one per axis, or one (before, after) pair per axis.
        data_format: "channels_last" (None, the default: `(N, *spatial, C)`) or "channels_first".
        dilation_rate: an int or one per axis.
        groups: input and output channels split into this many groups.
        activation: None or an activation's name (`convzoo.layers.activations.ACTIVATIONS`).
        use_bias: whether to add a bias.
        kernel_initializer, bias_initializer: Keras's names or a callable (shape, dtype).
        padding_mode: how padding is filled: "zeros", "reflect", "replicate" or "circular".
        name, dtype, seed: see `convzoo.layers.Layer`.

    Weights: `kernel (*kernel_size, C_in/groups, filters)`, `bias (filters,)`.

    Shape: O = floor((S + p_before + p_after - d*(K-1) - 1) / s) + 1 per spatial axis.

    >>> import numpy as np
    >>> from convzoo.layers import Conv2D
    >>> layer = Conv2D(8, 3, padding="same", seed=0)
    >>> layer(np.ones((2, 16, 16, 3))).shape, [w.shape for w in layer.get_weights()]
    ((2, 16, 16, 8), [(3, 3, 3, 8), (8,)])
    """

    def __init__(
        self,
        filters,
        kernel_size,
        strides=1,
        padding="valid",
        data_format=None,
        dilation_rate=1,
        groups=1,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        padding_mode="zeros",
        **kwargs,
    ):
        super().__init__(
            filters,
            kernel_size,
            strides,
            padding,
            data_format,
            dilation_rate,
            groups=groups,
            activation=activation,
            use_bias=use_bias,
            kernel_initializers=_kernel_init(kernel_initializer, bias_initializer),
            padding_mode=padding_mode,
            **kwargs,
        )


class ConvTranspose(BaseConv):
    """The transpose convolution layer: Keras's `Conv{1,2,3}DTranspose`, with PyTorch's `groups`.

    Args:
        filters: output channels.
        kernel_size, strides, dilation_rate: an int or one per spatial axis.
        padding: "valid" or "same" (Keras's rules), or explicit as PyTorch's (cropped from
            the full output).
        output_padding: None or an int or one per axis, added at the end (see
            `convzoo.conv_transpose`).
        groups: channel groups (PyTorch's `groups`; Keras has none).
        Others as `Conv` (no `padding_mode`: a transpose convolution crops, it does not pad).

    Weights: `kernel (*kernel_size, filters/groups, C_in)`, `bias (filters,)`.

    Shape: explicit: O = (S-1)*s - p_before - p_after + d*(K-1) + 1 + output_padding;
    "same": O = S*s; "valid": O = (S-1)*s + max(d*(K-1) + 1, s) (without output_padding).

    >>> import numpy as np
    >>> from convzoo.layers import Conv2DTranspose
    >>> Conv2DTranspose(4, 3, strides=2, padding="same", seed=0)(np.ones((1, 8, 8, 2))).shape
    (1, 16, 16, 4)
    """

    kind = "transpose"
    op = staticmethod(conv_transpose)
    takes = frozenset({"strides", "padding", "dilation_rate", "output_padding", "groups"})
    _arithmetic_options = frozenset({"strides", "padding", "dilation_rate", "groups", "output_padding"})
    _config_keys = frozenset({"filters", "groups", "output_padding"})

    def __init__(
        self,
        filters,
        kernel_size,
        strides=1,
        padding="valid",
        output_padding=None,
        data_format=None,
        dilation_rate=1,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        groups=1,
        **kwargs,
    ):
        super().__init__(
            filters,
            kernel_size,
            strides,
            padding,
            data_format,
            dilation_rate,
            groups=groups,
            output_padding=output_padding,
            activation=activation,
            use_bias=use_bias,
            kernel_initializers=_kernel_init(kernel_initializer, bias_initializer),
            **kwargs,
        )

    def _kernel_shapes(self, in_channels: int):
        return ((*self.kernel_size, self.filters // self.groups, in_channels),)

    def _in_channels_from_weights(self, weights):
        super()._in_channels_from_weights(weights)
        return weights[0].shape[-1]


class DepthwiseConv(BaseConv):
    """The depthwise convolution layer: Keras's `DepthwiseConv{1,2}D`, and a 3-D one.

    Args:
        kernel_size, strides, padding, data_format, dilation_rate, padding_mode: as `Conv`.
        depth_multiplier: filters per input channel; output channels C_in * depth_multiplier.
        depthwise_initializer, bias_initializer: Keras's names or a callable.

    Weights: `kernel (*kernel_size, C_in, depth_multiplier)`, `bias (C_in * depth_multiplier,)`.

    Shape: as `Conv`.

    >>> import numpy as np
    >>> from convzoo.layers import DepthwiseConv2D
    >>> DepthwiseConv2D(3, depth_multiplier=2, seed=0)(np.ones((1, 8, 8, 3))).shape
    (1, 6, 6, 6)
    """

    kind = "depthwise"
    op = staticmethod(depthwise_conv)
    _arithmetic_options = frozenset({"strides", "padding", "dilation_rate", "depth_multiplier", "padding_mode"})
    _config_keys = frozenset({"depth_multiplier"})

    def __init__(
        self,
        kernel_size,
        strides=1,
        padding="valid",
        depth_multiplier=1,
        data_format=None,
        dilation_rate=1,
        activation=None,
        use_bias=True,
        depthwise_initializer="glorot_uniform",
        bias_initializer="zeros",
        padding_mode="zeros",
        **kwargs,
    ):
        super().__init__(
            None,
            kernel_size,
            strides,
            padding,
            data_format,
            dilation_rate,
            depth_multiplier=depth_multiplier,
            activation=activation,
            use_bias=use_bias,
            kernel_initializers={"depthwise_initializer": depthwise_initializer, "bias_initializer": bias_initializer},
            padding_mode=padding_mode,
            **kwargs,
        )

    def _initializers(self):
        found = self._found_initializers
        return {"kernel": found["depthwise_initializer"], "bias": found["bias_initializer"]}

    def _kernel_shapes(self, in_channels: int):
        return ((*self.kernel_size, in_channels, self.depth_multiplier),)

    def _out_channels(self, in_channels: int) -> int:
        return in_channels * self.depth_multiplier

    def _in_channels_from_weights(self, weights):
        super()._in_channels_from_weights(weights)
        return weights[0].shape[-2]


class SeparableConv(DepthwiseConv):
    """The depthwise-separable convolution layer: Keras's `SeparableConv{1,2}D`, and a 3-D one.

    A depthwise convolution (with the strides, padding, dilation and padding mode), then a
    pointwise one to `filters` channels; one bias, at the end.

    Args:
        filters: output channels.
        depth_multiplier: filters per input channel in the depthwise stage.
        depthwise_initializer, pointwise_initializer, bias_initializer: Keras's names or callables.
        Others as `Conv`.

    Weights: `depthwise_kernel (*kernel_size, C_in, depth_multiplier)`,
    `pointwise_kernel (1, ..., 1, C_in * depth_multiplier, filters)`, `bias (filters,)`.

    Shape: as `Conv`.

    >>> import numpy as np
    >>> from convzoo.layers import SeparableConv2D
    >>> layer = SeparableConv2D(16, 3, seed=0)
    >>> layer(np.ones((1, 8, 8, 3))).shape, layer.count_params()
    ((1, 6, 6, 16), 91)
    """

    kind = "separable"
    op = staticmethod(separable_conv)
    _config_keys = frozenset({"filters", "depth_multiplier"})

    def __init__(
        self,
        filters,
        kernel_size,
        strides=1,
        padding="valid",
        data_format=None,
        dilation_rate=1,
        depth_multiplier=1,
        activation=None,
        use_bias=True,
        depthwise_initializer="glorot_uniform",
        pointwise_initializer="glorot_uniform",
        bias_initializer="zeros",
        padding_mode="zeros",
        **kwargs,
    ):
        BaseConv.__init__(
            self,
            filters,
            kernel_size,
            strides,
            padding,
            data_format,
            dilation_rate,
            depth_multiplier=depth_multiplier,
            activation=activation,
            use_bias=use_bias,
            kernel_initializers={
                "depthwise_initializer": depthwise_initializer,
                "pointwise_initializer": pointwise_initializer,
                "bias_initializer": bias_initializer,
            },
            padding_mode=padding_mode,
            **kwargs,
        )

    def _kernel_names(self):
        return ("depthwise_kernel", "pointwise_kernel")

    def _initializers(self):
        found = self._found_initializers
        return {
            "depthwise_kernel": found["depthwise_initializer"],
            "pointwise_kernel": found["pointwise_initializer"],
            "bias": found["bias_initializer"],
        }

    def _kernel_shapes(self, in_channels: int):
        middle = in_channels * self.depth_multiplier
        return ((*self.kernel_size, in_channels, self.depth_multiplier), (*(1,) * self.rank, middle, self.filters))

    def _out_channels(self, in_channels: int) -> int:
        return self.filters


class SpatiallySeparableConv(BaseConv):
    """The spatially separable convolution layer (no Keras layer): a (k, 1) then a (1, k) kernel.

    One kernel per spatial axis, applied in turn; kernel i spans axis i only and uses that
    axis's stride, dilation and padding. `intermediate_filters` are the channels between the
    stages (the input's channels if None, as Inception-v3 factors its 7x7 convolutions).

    Args:
        filters: output channels.
        intermediate_filters: None, an int, or one int per intermediate stage (rank - 1).
        Others as `Conv` (no `groups`).

    Weights (2-D): `kernel_h (K_h, 1, C_in, C_mid)`, `kernel_w (1, K_w, C_mid, filters)`,
    `bias (filters,)`; 3-D adds `kernel_d` first.

    Shape: as `Conv`, axis by axis.

    >>> import numpy as np
    >>> from convzoo.layers import SpatiallySeparableConv2D
    >>> layer = SpatiallySeparableConv2D(8, 3, intermediate_filters=4, seed=0)
    >>> layer(np.ones((1, 8, 8, 3))).shape, [w.shape for w in layer.get_weights()]
    ((1, 6, 6, 8), [(3, 1, 3, 4), (1, 3, 4, 8), (8,)])
    """

    kind = "spatially-separable"
    op = staticmethod(spatially_separable_conv)
    _arithmetic_options = frozenset({"strides", "padding", "dilation_rate", "intermediate_filters", "padding_mode"})
    _config_keys = frozenset({"filters", "intermediate_filters"})

    def __init__(
        self,
        filters,
        kernel_size,
        strides=1,
        padding="valid",
        data_format=None,
        dilation_rate=1,
        intermediate_filters=None,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        padding_mode="zeros",
        **kwargs,
    ):
        super().__init__(
            filters,
            kernel_size,
            strides,
            padding,
            data_format,
            dilation_rate,
            activation=activation,
            use_bias=use_bias,
            kernel_initializers=_kernel_init(kernel_initializer, bias_initializer),
            padding_mode=padding_mode,
            **kwargs,
        )
        if intermediate_filters is not None:
            self.intermediate_filters = spec.per_axis(intermediate_filters, self.rank - 1, "intermediate_filters")

    def _kernel_names(self):
        return tuple(f"kernel_{axis}" for axis in "dhw"[3 - self.rank :])

    def _kernel_shapes(self, in_channels: int):
        channels = (in_channels, *(self.intermediate_filters or (in_channels,) * (self.rank - 1)), self.filters)
        ones = (1,) * self.rank
        return tuple(
            (*ones[:axis], size, *ones[axis + 1 :], channels[axis], channels[axis + 1])
            for axis, size in enumerate(self.kernel_size)
        )

    def _op_arrays(self):
        return [[self._weights[name] for name in self._kernel_names()]]

    def _flat_grads(self, grads):
        kernel_grads, *rest = grads
        return [*kernel_grads, *rest]


class PointwiseConv(BaseConv):
    """The 1x1 (pointwise) convolution layer: a Conv with kernel_size 1, as its own layer.

    Args:
        filters: output channels.
        data_format, activation, use_bias, kernel_initializer, bias_initializer: as `Conv`.

    Weights: `kernel (1, ..., 1, C_in, filters)` (a Conv's layout), `bias (filters,)`.

    Shape: O = S.

    >>> import numpy as np
    >>> from convzoo.layers import PointwiseConv2D
    >>> PointwiseConv2D(8, seed=0)(np.ones((1, 5, 5, 3))).shape
    (1, 5, 5, 8)
    """

    kind = "pointwise"
    op = staticmethod(pointwise_conv)
    takes = frozenset()
    _arithmetic_options = frozenset()
    _config_keys = frozenset({"filters"})

    def __init__(
        self,
        filters,
        data_format=None,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(
            filters,
            1,
            data_format=data_format,
            activation=activation,
            use_bias=use_bias,
            kernel_initializers=_kernel_init(kernel_initializer, bias_initializer),
            **kwargs,
        )

    def get_config(self):
        config = super().get_config()
        for key in ("kernel_size", "strides", "padding", "dilation_rate"):
            config.pop(key)
        return config


def _wrapper(family: type, rank: int, name: str, doc: str) -> type:
    """`family` at spatial rank `rank`, named `name` (Conv2D, ...)."""
    return type(name, (family,), {"rank": rank, "__doc__": doc, "__module__": __name__})


Conv1D = _wrapper(Conv, 1, "Conv1D", "1-D convolution layer (Keras's Conv1D); see `Conv`.")
Conv2D = _wrapper(Conv, 2, "Conv2D", "2-D convolution layer (Keras's Conv2D); see `Conv`.")
Conv3D = _wrapper(Conv, 3, "Conv3D", "3-D convolution layer (Keras's Conv3D); see `Conv`.")
Conv1DTranspose = _wrapper(ConvTranspose, 1, "Conv1DTranspose", "1-D transpose convolution; see `ConvTranspose`.")
Conv2DTranspose = _wrapper(ConvTranspose, 2, "Conv2DTranspose", "2-D transpose convolution; see `ConvTranspose`.")
Conv3DTranspose = _wrapper(ConvTranspose, 3, "Conv3DTranspose", "3-D transpose convolution; see `ConvTranspose`.")
DepthwiseConv1D = _wrapper(DepthwiseConv, 1, "DepthwiseConv1D", "1-D depthwise convolution; see `DepthwiseConv`.")
DepthwiseConv2D = _wrapper(DepthwiseConv, 2, "DepthwiseConv2D", "2-D depthwise convolution; see `DepthwiseConv`.")
DepthwiseConv3D = _wrapper(
    DepthwiseConv, 3, "DepthwiseConv3D", "3-D depthwise convolution (Keras has none); see `DepthwiseConv`."
)
SeparableConv1D = _wrapper(SeparableConv, 1, "SeparableConv1D", "1-D separable convolution; see `SeparableConv`.")
SeparableConv2D = _wrapper(SeparableConv, 2, "SeparableConv2D", "2-D separable convolution; see `SeparableConv`.")
SeparableConv3D = _wrapper(
    SeparableConv, 3, "SeparableConv3D", "3-D separable convolution (Keras has none); see `SeparableConv`."
)
SpatiallySeparableConv2D = _wrapper(
    SpatiallySeparableConv, 2, "SpatiallySeparableConv2D", "(k, 1) then (1, k); see `SpatiallySeparableConv`."
)
SpatiallySeparableConv3D = _wrapper(
    SpatiallySeparableConv, 3, "SpatiallySeparableConv3D", "(k,1,1), (1,k,1), (1,1,k); see `SpatiallySeparableConv`."
)
PointwiseConv1D = _wrapper(PointwiseConv, 1, "PointwiseConv1D", "1-D pointwise convolution; see `PointwiseConv`.")
PointwiseConv2D = _wrapper(PointwiseConv, 2, "PointwiseConv2D", "2-D pointwise convolution; see `PointwiseConv`.")
PointwiseConv3D = _wrapper(PointwiseConv, 3, "PointwiseConv3D", "3-D pointwise convolution; see `PointwiseConv`.")
