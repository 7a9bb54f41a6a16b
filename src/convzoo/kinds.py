"""The kinds of convolution, one table: what each is, how Keras and convzoo call it, how to run it.

The tour, `convzoo calc`, and later the animations and benchmarks loop over `KINDS`. Each
`Kind` turns a `convzoo.arithmetic.Layer` into the matching Keras call (or None where Keras has
none), convzoo's own call, and a `Call` of the core op on random arrays of the layer's shapes.
The default layer is the one of the study notes: a batch of 32 images of 28x28x3 through 32
filters of 3x3; each kind adds what makes it itself (dilation 2, stride 2, 4 groups...). The
grouped kind alone defaults to a 32-channel input, the feature map a first convolution would
give, because 4 groups cannot split 3 colour channels (groups must divide C_in).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from . import ops
from .arithmetic import Layer, kernel_shapes

DEFAULT_LAYER = dict(in_sizes=(28, 28), in_channels=3, batch=32, filters=32, kernel_size=3)


@dataclass(frozen=True)
class Call:
    """One call of a core op, arrays made: `op(*arrays, **options)`, timed without the set-up."""

    op: Callable
    arrays: tuple
    options: dict

    def __call__(self) -> np.ndarray:
        return self.op(*self.arrays, **self.options)


@dataclass(frozen=True)
class Kind:
    """One kind of convolution.

    `defaults` are the layer options that make the kind itself, laid over `DEFAULT_LAYER`;
    `keras_layer` names the Keras layer class (by spatial rank) or is None where Keras has none.
    """

    name: str
    summary: str
    op: Callable
    keras_layer: Callable[[Layer], str | None]
    defaults: dict = field(default_factory=dict)

    def layer(self, **options) -> Layer:
        """A `Layer` of this kind: `DEFAULT_LAYER`, then `defaults`, then `options`.

        >>> KINDS["grouped"].layer().input_shape, KINDS["grouped"].layer().groups
        ((32, 28, 28, 32), 4)
        """
        return Layer(self.name, **{**DEFAULT_LAYER, **self.defaults, **options})

    def keras_call(self, layer: Layer) -> str | None:
        """The Keras layer that computes `layer`, as code, or None where Keras has none.

        >>> KINDS["dilated"].keras_call(KINDS["dilated"].layer())
        'keras.layers.Conv2D(32, (3, 3), dilation_rate=(2, 2))'
        >>> KINDS["spatially-separable"].keras_call(KINDS["spatially-separable"].layer()) is None
        True
        """
        name = self.keras_layer(layer)
        if name is None or not _keras_can(layer):
            return None
        positional = (
            [str(layer.kernel_size)] if layer.kind == "depthwise" else [str(layer.filters), str(layer.kernel_size)]
        )
        return f"keras.layers.{name}({', '.join(positional + _keras_keywords(layer))})"

    def convzoo_call(self, layer: Layer) -> str:
        """convzoo's call for `layer`, the kernel shapes written in.

        >>> KINDS["transpose"].convzoo_call(KINDS["transpose"].layer())
        'convzoo.conv_transpose(x, kernel (3, 3, 32, 3), bias, strides=(2, 2))'
        """
        shapes = [f"kernel {shape}" for shape in kernel_shapes(layer)]
        if layer.kind == "spatially-separable":
            shapes = [f"kernels [{', '.join(str(shape) for shape in kernel_shapes(layer))}]"]
        arrays = ["x", *shapes] + (["bias"] if layer.use_bias else [])
        return f"convzoo.{self.op.__name__}({', '.join(arrays + _convzoo_keywords(layer))})"

    def build(self, layer: Layer, rng: np.random.Generator, dtype="float32") -> Call:
        """The core op on standard-normal arrays of `layer`'s shapes, ready to call.

        >>> import numpy as np
        >>> layer = KINDS["depthwise"].layer(batch=2)
        >>> KINDS["depthwise"].build(layer, np.random.default_rng(0))().shape == layer.output_shape
        True
        """
        random = lambda shape: rng.standard_normal(shape).astype(dtype)
        kernels = [random(shape) for shape in kernel_shapes(layer)]
        if layer.kind == "spatially-separable":
            kernels = [kernels]
        bias = [random((layer.filters,))] if layer.use_bias else []
        return Call(self.op, (random(layer.input_shape), *kernels, *bias), _op_options(layer))


def standard(layer: Layer, kernel_size=DEFAULT_LAYER["kernel_size"]) -> Layer:
    """The standard convolution a layer is compared with: same input, filters and dtype, a
    `kernel_size` kernel (3x3 by default), stride 1, no padding.

    >>> standard(KINDS["pointwise"].layer()).kernel_size
    (3, 3)
    """
    return Layer(
        "conv",
        layer.in_sizes,
        layer.in_channels,
        layer.filters,
        kernel_size,
        batch=layer.batch,
        data_format=layer.data_format,
        itemsize=layer.itemsize,
        use_bias=layer.use_bias,
    )


def _keras_can(layer: Layer) -> bool:
    """Whether Keras's layers take these options: string padding, zeros, rank <= 3, and no
    strides with dilation in Conv/ConvTranspose (Keras refuses the pair there)."""
    strided_and_dilated = max(layer.strides) > 1 and max(layer.dilation_rate) > 1
    return (
        isinstance(layer.padding, str)
        and (layer.padding != "causal" or layer.kind in ("conv", "dilated", "grouped"))
        and layer.padding != "full"
        and layer.padding_mode == "zeros"
        and layer.rank <= 3
        and not (strided_and_dilated and layer.kind in ("conv", "dilated", "grouped", "transpose"))
    )


def _keras_keywords(layer: Layer) -> list[str]:
    """The Keras keyword arguments that differ from Keras's defaults."""
    ones = (1,) * layer.rank
    keywords = dict(
        strides=layer.strides if layer.strides != ones else None,
        padding=repr(layer.padding) if layer.padding != "valid" else None,
        output_padding=layer.output_padding,
        dilation_rate=layer.dilation_rate if layer.dilation_rate != ones else None,
        groups=layer.groups if layer.groups != 1 and layer.kind != "transpose" else None,
        depth_multiplier=layer.depth_multiplier if layer.depth_multiplier != 1 else None,
        data_format=repr(layer.data_format) if layer.data_format != "channels_last" else None,
        use_bias=False if not layer.use_bias else None,
    )
    return [f"{name}={value}" for name, value in keywords.items() if value is not None]


def _op_options(layer: Layer) -> dict:
    """The keyword arguments of the core op for `layer`."""
    options = dict(data_format=layer.data_format)
    if layer.kind == "pointwise":
        return options
    options.update(strides=layer.strides, padding=layer.padding, dilation_rate=layer.dilation_rate)
    if layer.kind == "transpose":
        return dict(options, output_padding=layer.output_padding, groups=layer.groups)
    return dict(options, padding_mode=layer.padding_mode)


def _convzoo_keywords(layer: Layer) -> list[str]:
    """The op's keyword arguments that differ from its defaults."""
    ones = (1,) * layer.rank
    defaults = dict(
        data_format="channels_last",
        strides=ones,
        padding="valid",
        dilation_rate=ones,
        output_padding=None,
        groups=1,
        padding_mode="zeros",
    )
    return [f"{name}={value!r}" for name, value in _op_options(layer).items() if value != defaults[name]]


def _by_rank(*names: str) -> Callable[[Layer], str | None]:
    """The Keras class for spatial rank 1, 2, 3 (None where `names` has no entry)."""
    return lambda layer: names[layer.rank - 1] if layer.rank <= len(names) else None


def _conv_kind(name: str, summary: str, **defaults) -> Kind:
    return Kind(name, summary, ops.conv, _by_rank("Conv1D", "Conv2D", "Conv3D"), defaults)


KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        _conv_kind("conv", "The standard convolution: every filter sees every input channel in a kxk window."),
        Kind(
            "pointwise",
            "A 1x1 convolution: mixes channels at each position, sees no neighbours.",
            ops.pointwise_conv,
            _by_rank("Conv1D", "Conv2D", "Conv3D"),
            dict(kernel_size=None),
        ),
        Kind(
            "transpose",
            "Each input pixel scatters a scaled kernel, stride apart: upsamples.",
            ops.conv_transpose,
            lambda layer: (
                _by_rank("Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose")(layer) if layer.groups == 1 else None
            ),
            dict(strides=2),
        ),
        _conv_kind("dilated", "Kernel taps spread apart: a wider field for the same parameters.", dilation_rate=2),
        Kind(
            "depthwise",
            "Each input channel filtered alone by its own kernels.",
            ops.depthwise_conv,
            _by_rank("DepthwiseConv1D", "DepthwiseConv2D"),
            dict(filters=None),
        ),
        Kind(
            "separable",
            "Depthwise, then pointwise: a kxk conv factored into space and channels.",
            ops.separable_conv,
            _by_rank("SeparableConv1D", "SeparableConv2D"),
        ),
        Kind(
            "spatially-separable",
            "A (k,1) then a (1,k) kernel: a kxk conv factored along the axes.",
            ops.spatially_separable_conv,
            lambda layer: None,
        ),
        _conv_kind("grouped", "Channels split into groups, each convolved on its own.", groups=4, in_channels=32),
    )
}
