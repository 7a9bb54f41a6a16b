"""What a layer costs: the padding it applies, its parameters, MACs and FLOPs, its memory."""

from __future__ import annotations

import math
from dataclasses import dataclass

from .layer import Layer, Stage
from .shapes import Pair


def _acting_stage(layer: Layer, axis: int) -> Stage:
    """The stage that strides, pads and dilates `axis` (the others keep its size)."""
    return layer.stages[axis] if layer.kind == "spatially-separable" else layer.stages[0]


def applied_padding(layer: Layer) -> tuple[Pair, ...]:
    """The (before, after) padding applied per axis; for a transpose layer, what it crops.

    >>> applied_padding(Layer("conv", (6, 6), 1, filters=1, kernel_size=4, padding="same"))
    ((1, 2), (1, 2))
    >>> applied_padding(Layer("transpose", (5,), 1, filters=1, kernel_size=3, strides=2, padding="same"))
    ((0, 1),)
    """
    return tuple(_acting_stage(layer, axis).geometry.padding[axis] for axis in range(layer.rank))


def kernel_shapes(layer: Layer) -> tuple[tuple[int, ...], ...]:
    """The shapes of the layer's kernel arrays, in the core's (Keras's) layouts.

    >>> kernel_shapes(Layer("separable", (28, 28), 3, filters=32, kernel_size=3))
    ((3, 3, 3, 1), (1, 1, 3, 32))
    """
    k, c, f = layer.kernel_size, layer.in_channels, layer.filters
    if layer.kind == "pointwise":
        return ((c, f),)
    if layer.kind == "transpose":
        return ((*k, f // layer.groups, c),)
    if layer.kind in ("depthwise", "separable"):
        depthwise = (*k, c, layer.depth_multiplier)
        return (
            (depthwise,)
            if layer.kind == "depthwise"
            else (depthwise, (*(1,) * layer.rank, c * layer.depth_multiplier, f))
        )
    if layer.kind == "spatially-separable":
        return tuple((*stage.geometry.kernel_sizes, stage.in_channels, stage.out_channels) for stage in layer.stages)
    return ((*k, c // layer.groups, f),)


@dataclass(frozen=True)
class Parameters:
    """Trainable numbers of a layer: the kernels' and the bias's."""

    kernel: int
    bias: int

    @property
    def total(self) -> int:
        return self.kernel + self.bias


def parameters(layer: Layer) -> Parameters:
    """The sizes of the kernel arrays, and `filters` for the bias (one per output channel).

    Keras's SeparableConv2D(32, (3, 3)) on 3 channels: 3*3*3 + 3*32 kernel and 32 bias.

    >>> parameters(Layer("separable", (28, 28), 3, filters=32, kernel_size=3)).total
    155
    """
    kernel = sum(math.prod(shape) for shape in kernel_shapes(layer))
    return Parameters(kernel, layer.filters if layer.use_bias else 0)


def stage_macs(stage: Stage, batch: int) -> int:
    """Multiply-accumulates of the direct algorithm for one stage, padded taps included.

    A convolution does out_elements * (C_in/groups) * prod(K): every output number is a dot
    product over its group's channels and the kernel's taps. A transpose convolution does
    in_elements * (C_out/groups) * prod(K): every input number scatters its group's kernel
    once, never the zero-inserted (stride^d times larger) input that some counters assume.
    As a transposed stage is described by the convolution it is the input gradient of, whose
    output is the transpose's input and whose channels are swapped, both are this one product.
    """
    geometry = stage.geometry
    out_elements = batch * math.prod(geometry.out_sizes) * stage.out_channels
    return out_elements * (stage.in_channels // stage.groups) * math.prod(geometry.kernel_sizes)


def macs(layer: Layer) -> int:
    """Multiply-accumulates of the layer, summed over its stages, bias adds apart.

    Counted as PyTorch's FlopCounterMode (which reports 2 FLOPs per MAC) and fvcore count them.

    >>> macs(Layer("transpose", (16, 16), 8, filters=16, kernel_size=3, strides=2, padding=1, output_padding=1))
    294912
    """
    return sum(stage_macs(stage, layer.batch) for stage in layer.stages)


def flops(layer: Layer) -> int:
    """Floating-point operations: 2 per MAC (a multiply and an add), bias adds apart.

    >>> flops(Layer("conv", (16, 16), 8, filters=16, kernel_size=3, padding="same"))
    589824
    """
    return 2 * macs(layer)


def bias_adds(layer: Layer) -> int:
    """Additions of the bias: one per output number, none without a bias.

    >>> bias_adds(Layer("conv", (16, 16), 8, filters=16, kernel_size=3, padding="same"))
    4096
    """
    return math.prod(layer.output_shape) if layer.use_bias else 0


@dataclass(frozen=True)
class Memory:
    """Bytes of a layer's arrays: input and output activations, the arrays between its stages
    (separable and spatially separable layers), and the weights (kernels and bias)."""

    inputs: int
    outputs: int
    intermediate: int
    weights: int


def memory(layer: Layer) -> Memory:
    """The bytes each array of the layer takes at `layer.itemsize` bytes per number.

    >>> memory(Layer("conv", (28, 28), 3, filters=32, kernel_size=3, batch=32))
    Memory(inputs=301056, outputs=2768896, intermediate=0, weights=3584)
    """
    between = sum(layer.batch * math.prod(stage.geometry.out_sizes) * stage.out_channels for stage in layer.stages[:-1])
    size = layer.itemsize
    return Memory(
        math.prod(layer.input_shape) * size,
        math.prod(layer.output_shape) * size,
        between * size,
        parameters(layer).total * size,
    )


def output_size_formulas(layer: Layer) -> tuple[str, ...]:
    """Per axis, the rule that gave the output size, written out with the layer's numbers.

    A convolution: o = floor((i + p_before + p_after - d*(k-1) - 1) / s) + 1 (relationship 15
    of Dumoulin & Visin). A transpose: o = (i-1)*s + d*(k-1) + 1 - crop_before - crop_after,
    the full output minus what `padding` and `output_padding` crop (`transpose_crop`).

    >>> output_size_formulas(Layer("conv", (28, 28), 3, filters=32, kernel_size=3, dilation_rate=2))
    ('floor((28 + 0 + 0 - 2*(3-1) - 1) / 1) + 1 = 24', 'floor((28 + 0 + 0 - 2*(3-1) - 1) / 1) + 1 = 24')
    """
    return tuple(_axis_formula(_acting_stage(layer, axis), axis) for axis in range(layer.rank))


def _axis_formula(stage: Stage, axis: int) -> str:
    g = stage.geometry
    k, s, d, (before, after) = g.kernel_sizes[axis], g.strides[axis], g.dilation[axis], g.padding[axis]
    if stage.transposed:
        i, o = g.out_sizes[axis], g.in_sizes[axis]
        return f"({i}-1)*{s} + {d}*({k}-1) + 1 {_minus(before)} {_minus(after)} = {o}"
    i, o = g.in_sizes[axis], g.out_sizes[axis]
    return f"floor(({i} + {before} + {after} - {d}*({k}-1) - 1) / {s}) + 1 = {o}"


def _minus(value: int) -> str:
    return f"- {value}" if value >= 0 else f"+ {-value}"
