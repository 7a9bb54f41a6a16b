"""Convolution arithmetic: output sizes and the padding actually applied, as pure integer maths.

This module is the one implementation of the shape rules: the ops, the layers and the command
line all ask it, so what `convzoo calc` prints is what `convzoo.conv` computes. It does no
array work and imports nothing from convzoo but `errors` and `spec`.

Notation of Dumoulin & Visin, "A guide to convolution arithmetic for deep learning"
(arXiv:1603.07285), per spatial axis: i input size, k kernel size, s stride, d dilation,
k_eff = d*(k-1) + 1 the span of the dilated kernel, p = (p_before, p_after) padding,
a output padding, o output size.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from . import spec
from .errors import ConvZooError, with_context

Pair = tuple[int, int]


def dilated_kernel_size(k: int, d: int = 1) -> int:
    """k_eff = d*(k-1) + 1, the span a dilated kernel covers.

    >>> dilated_kernel_size(3, 2)
    5
    """
    return d * (k - 1) + 1


def conv_output_size(i: int, k: int, s: int = 1, p: Pair = (0, 0), d: int = 1) -> int:
    """o = floor((i + p_before + p_after - k_eff) / s) + 1 (D&V relationship 15, asymmetric p).

    Zero or negative when the padded input is shorter than the dilated kernel.

    >>> conv_output_size(5, 3, s=2, p=(1, 1))
    3
    """
    return (i + p[0] + p[1] - dilated_kernel_size(k, d)) // s + 1


def same_padding(i: int, k: int, s: int = 1, d: int = 1) -> Pair:
    """Keras/TensorFlow "same": o = ceil(i/s), the odd pixel of padding at the end.

    total = max((o-1)*s + k_eff - i, 0), split as (floor(total/2), ceil(total/2)).

    >>> same_padding(6, 3, s=2)
    (0, 1)
    >>> same_padding(6, 4)
    (1, 2)
    """
    o = -(-i // s)
    total = max((o - 1) * s + dilated_kernel_size(k, d) - i, 0)
    return (total // 2, total - total // 2)


def conv_padding(padding: str | Pair, i: int, k: int, s: int = 1, d: int = 1) -> Pair:
    """The (before, after) padding a convolution applies on one axis.

    `padding` is "valid", "same" (`same_padding`), "full" (k_eff-1 on both sides), "causal"
    (k_eff-1 before, nothing after) or an explicit (before, after) pair.

    >>> conv_padding("causal", 10, 2, d=8)
    (8, 0)
    """
    span = dilated_kernel_size(k, d) - 1
    if padding == "valid":
        return (0, 0)
    if padding == "same":
        return same_padding(i, k, s, d)
    if padding == "full":
        return (span, span)
    if padding == "causal":
        return (span, 0)
    return padding


def transpose_crop(padding: str | Pair, i: int, k: int, s: int = 1, d: int = 1, a: int | None = None) -> Pair:
    """What a transpose convolution crops from each end of its full output on one axis.

    The full output of a transpose convolution has (i-1)*s + k_eff positions (each input
    pixel scatters a dilated kernel, s apart). A negative crop after the end appends zeros.
    - explicit (p_before, p_after), PyTorch's rule: (p_before, p_after - a), a = 0 if None;
    - "valid", Keras's rule: (0, -a) with a = max(k_eff, s) - k_eff if None, so that
      o = (i-1)*s + max(k_eff, s);
    - "same", Keras's rule: the crop that leaves o = i*s if `a` is None, else
      o = (i-1)*s + (k_eff mod 2) + a, the larger half of the crop at the end.

    >>> transpose_crop("same", 5, 3, s=2)
    (0, 1)
    >>> transpose_crop((1, 1), 3, 3, s=2, a=1)
    (1, 0)
    """
    k_eff = dilated_kernel_size(k, d)
    if padding == "valid":
        return (0, -(max(k_eff, s) - k_eff if a is None else a))
    if padding == "same":
        # Keras pads the zero-inserted input of a stride-1 conv by `left` and `right`; the
        # full output corresponds to k_eff-1 on both sides, hence the crop (k_eff-1) - pad.
        pad_len = s + k_eff - 2 if a is None else k_eff + k_eff % 2 - 2 + a
        left = min(pad_len // 2 + pad_len % 2, k_eff - 1)
        return (k_eff - 1 - left, k_eff - 1 - (pad_len - left))
    return (padding[0], padding[1] - (a or 0))


@dataclass(frozen=True)
class ConvGeometry:
    """The spatial geometry of one convolution, resolved to integers, one entry per axis.

    `padding` holds the (before, after) pairs actually applied to the input; a negative entry
    crops. A transpose convolution is described by the geometry of the convolution whose
    input gradient it is: its output sizes are that convolution's `in_sizes`, its input sizes
    that convolution's `out_sizes`, and its crops that convolution's `padding`.
    """

    in_sizes: tuple[int, ...]
    kernel_sizes: tuple[int, ...]
    strides: tuple[int, ...]
    dilation: tuple[int, ...]
    padding: tuple[Pair, ...]

    @property
    def rank(self) -> int:
        return len(self.in_sizes)

    @property
    def out_sizes(self) -> tuple[int, ...]:
        return tuple(map(conv_output_size, self.in_sizes, self.kernel_sizes, self.strides, self.padding, self.dilation))

    @property
    def padded_sizes(self) -> tuple[int, ...]:
        return tuple(i + p + q for i, (p, q) in zip(self.in_sizes, self.padding))


def conv_geometry(in_sizes, kernel_sizes, strides, dilation, padding: str | tuple[Pair, ...]) -> ConvGeometry:
    """Resolve a convolution's padding and check that its output is not empty.

    `strides` and `dilation` are tuples of ints and `padding` a string or (before, after)
    pairs, as `convzoo.spec` returns them.

    Raises:
        ConvZooError: if the padded input is shorter than the dilated kernel on some axis.

    >>> conv_geometry((28, 28), (3, 3), (1, 1), (2, 2), "same").out_sizes
    (28, 28)
    """
    pads = tuple(
        conv_padding(padding if isinstance(padding, str) else padding[axis], i, k, s, d)
        for axis, (i, k, s, d) in enumerate(zip(in_sizes, kernel_sizes, strides, dilation))
    )
    geometry = ConvGeometry(tuple(in_sizes), tuple(kernel_sizes), tuple(strides), tuple(dilation), pads)
    for axis, (i, k, d, p) in enumerate(zip(in_sizes, kernel_sizes, dilation, pads)):
        if i + p[0] + p[1] < dilated_kernel_size(k, d):
            raise ConvZooError(
                f"The dilated kernel spans {dilated_kernel_size(k, d)} but the padded input has only "
                f"{i + p[0] + p[1]} positions on spatial axis {axis}, so the output would be empty. "
                f"Received: input size={i}, padding={p}, kernel_size={k}, dilation_rate={d}."
            )
    return geometry


def transpose_geometry(in_sizes, kernel_sizes, strides, dilation, padding, output_padding=None) -> ConvGeometry:
    """The geometry of the convolution that a transpose convolution is the input gradient of.

    Output size per axis: o = (i-1)*s + k_eff - crop_before - crop_after (`transpose_crop`):
    PyTorch's (i-1)*s - p_before - p_after + d*(k-1) + a + 1 for explicit padding, Keras's
    rules for "valid" and "same".

    Raises:
        ConvZooError: if `output_padding` is not below the stride (string padding, Keras's
            rule) or below max(stride, dilation) (explicit padding, PyTorch's rule), or if
            the output would be empty.

    >>> transpose_geometry((5,), (3,), (2,), (1,), "same").in_sizes
    (10,)
    """
    rank = len(in_sizes)
    pads = padding if not isinstance(padding, str) else (padding,) * rank
    extras = output_padding if output_padding is not None else (None,) * rank
    _check_output_padding(output_padding, padding, strides, dilation)
    crops = tuple(map(transpose_crop, pads, in_sizes, kernel_sizes, strides, dilation, extras))
    out_sizes = tuple(
        (i - 1) * s + dilated_kernel_size(k, d) - c[0] - c[1]
        for i, k, s, d, c in zip(in_sizes, kernel_sizes, strides, dilation, crops)
    )
    for axis, size in enumerate(out_sizes):
        if size < 1:
            raise ConvZooError(
                f"The transpose convolution's output would be empty on spatial axis {axis} "
                f"(length {size}): the padding crops more than the full output. Received: "
                f"input size={in_sizes[axis]}, kernel_size={kernel_sizes[axis]}, strides={strides[axis]}, "
                f"dilation_rate={dilation[axis]}, padding={pads[axis]!r}, output_padding={extras[axis]}."
            )
    return ConvGeometry(out_sizes, tuple(kernel_sizes), tuple(strides), tuple(dilation), crops)


def _check_output_padding(output_padding, padding, strides, dilation) -> None:
    if output_padding is None:
        return
    if isinstance(padding, str):
        limits, rule = strides, "`strides` (Keras's rule for string padding)"
    else:
        limits = tuple(map(max, strides, dilation))
        rule = "max(`strides`, `dilation_rate`) (PyTorch's rule for explicit padding)"
    if any(a >= limit for a, limit in zip(output_padding, limits)):
        raise ConvZooError(
            f"`output_padding` must be smaller than {rule} on every axis. Received: "
            f"output_padding={output_padding}, strides={strides}, dilation_rate={dilation}, padding={padding!r}."
        )


def check_padding_mode(padding_mode: str, geometry: ConvGeometry) -> None:
    """Refuse a padding that `padding_mode` cannot fill, as PyTorch does.

    "reflect" mirrors without repeating the edge, so it needs pad < i; "circular" wraps
    around once at most, so it needs pad <= i.

    Raises:
        ConvZooError: naming the axis, the padding and the input size.
    """
    limits = {"reflect": ("smaller than", 0), "circular": ("at most", 1)}
    if padding_mode not in limits:
        return
    words, slack = limits[padding_mode]
    for axis, (i, pair) in enumerate(zip(geometry.in_sizes, geometry.padding)):
        if max(pair) >= i + slack:
            raise ConvZooError(
                f"padding_mode={padding_mode!r} needs a padding {words} the input size on every axis. "
                f"Received: padding={pair} on spatial axis {axis} of size {i}."
            )


# --------------------------------------------------------------------------------------------
# One layer, described by integers
# --------------------------------------------------------------------------------------------

KINDS = ("conv", "pointwise", "transpose", "dilated", "depthwise", "separable", "spatially-separable", "grouped")

# The hyper-parameters each kind takes besides its input, `filters` and `kernel_size`, as the
# core's ops take them; any other must keep its default (`_DEFAULTS`).
_SLIDING = frozenset({"strides", "padding", "dilation_rate", "padding_mode"})
KIND_OPTIONS = {
    "conv": _SLIDING | {"groups"},
    "dilated": _SLIDING | {"groups"},
    "grouped": _SLIDING | {"groups"},
    "pointwise": frozenset(),
    "transpose": frozenset({"strides", "padding", "dilation_rate", "groups", "output_padding"}),
    "depthwise": _SLIDING | {"depth_multiplier"},
    "separable": _SLIDING | {"depth_multiplier"},
    "spatially-separable": _SLIDING | {"intermediate_filters"},
}
_DEFAULTS = dict(
    strides=1,
    padding="valid",
    dilation_rate=1,
    padding_mode="zeros",
    groups=1,
    depth_multiplier=1,
    output_padding=None,
    intermediate_filters=None,
)


@dataclass(frozen=True)
class Stage:
    """One engine call of a layer, seen as a convolution from `in_channels` to `out_channels`.

    A transposed stage is described, as `transpose_geometry` describes it, by the convolution
    whose input gradient it is: its channels are that convolution's, swapped.
    """

    geometry: ConvGeometry
    in_channels: int
    out_channels: int
    groups: int = 1
    transposed: bool = False


@dataclass(frozen=True)
class Layer:
    """One convolution layer of any kind, by integers: the core's arguments without the arrays.

    Arguments are those of the core's ops (Keras's words), checked and normalised by
    `convzoo.spec` on construction, so a `Layer` that exists is one the core accepts: every
    field below holds its canonical form afterwards (tuples per axis, (before, after) pairs).
    `in_sizes` are the input's spatial sizes; `filters` is None for a depthwise layer (it is
    C_in * depth_multiplier); `kernel_size` defaults to 1 for a pointwise layer;
    `intermediate_filters` are the channels between the stages of a spatially separable layer
    (one int, or one per intermediate stage; `filters` if None); `itemsize` is the bytes per
    number of the dtype.

    Raises:
        ConvZooError: naming the argument, for any value or combination the core refuses.

    >>> layer = Layer("conv", (28, 28), 3, filters=32, kernel_size=3, strides=2, padding="same")
    >>> layer.output_shape, layer.strides, layer.padding
    ((1, 14, 14, 32), (2, 2), 'same')
    """

    kind: str
    in_sizes: tuple[int, ...]
    in_channels: int
    filters: int | None = None
    kernel_size: tuple[int, ...] | None = None
    strides: tuple[int, ...] = 1
    padding: str | tuple[Pair, ...] = "valid"
    dilation_rate: tuple[int, ...] = 1
    groups: int = 1
    depth_multiplier: int = 1
    output_padding: tuple[int, ...] | None = None
    intermediate_filters: tuple[int, ...] | None = None
    padding_mode: str = "zeros"
    data_format: str = "channels_last"
    batch: int = 1
    itemsize: int = 4
    use_bias: bool = True
    stages: tuple[Stage, ...] = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self):
        for name, value in _normalised(self).items():
            object.__setattr__(self, name, value)
        # Resolve the geometry now: an impossible shape fails here, and every figure reuses it.
        object.__setattr__(self, "stages", _STAGES[self.kind](self))

    @property
    def rank(self) -> int:
        return len(self.in_sizes)

    @property
    def out_sizes(self) -> tuple[int, ...]:
        last = self.stages[-1]
        return last.geometry.in_sizes if last.transposed else last.geometry.out_sizes

    @property
    def out_channels(self) -> int:
        return self.filters

    @property
    def input_shape(self) -> tuple[int, ...]:
        return _batch_shape(self.batch, self.in_sizes, self.in_channels, self.data_format)

    @property
    def output_shape(self) -> tuple[int, ...]:
        return _batch_shape(self.batch, self.out_sizes, self.out_channels, self.data_format)


def _batch_shape(batch: int, sizes: tuple[int, ...], channels: int, data_format: str) -> tuple[int, ...]:
    return (batch, *sizes, channels) if data_format == "channels_last" else (batch, channels, *sizes)


def _normalised(layer: Layer) -> dict:
    """The canonical value of every field of `layer`, or a ConvZooError naming the argument."""
    kind = spec.choice(layer.kind, "kind", KINDS)
    rank = _rank(layer.in_sizes)
    strings = spec.TRANSPOSE_PADDING_STRINGS if kind == "transpose" else spec.PADDING_STRINGS
    kernel_size = 1 if layer.kernel_size is None and kind == "pointwise" else layer.kernel_size
    fields = dict(
        kind=kind,
        in_sizes=spec.per_axis(layer.in_sizes, rank, "in_sizes"),
        in_channels=_positive(layer.in_channels, "in_channels"),
        kernel_size=spec.per_axis(kernel_size, rank, "kernel_size"),
        strides=spec.per_axis(layer.strides, rank, "strides"),
        padding=spec.padding(layer.padding, rank, strings),
        dilation_rate=spec.per_axis(layer.dilation_rate, rank, "dilation_rate"),
        groups=_positive(layer.groups, "groups"),
        depth_multiplier=_positive(layer.depth_multiplier, "depth_multiplier"),
        output_padding=spec.output_padding(layer.output_padding, rank),
        intermediate_filters=layer.intermediate_filters,
        padding_mode=spec.choice(layer.padding_mode, "padding_mode", spec.PADDING_MODES),
        data_format=spec.choice(layer.data_format, "data_format", spec.DATA_FORMATS),
        batch=_positive(layer.batch, "batch"),
        itemsize=_positive(layer.itemsize, "itemsize"),
        use_bias=_boolean(layer.use_bias, "use_bias"),
    )
    _check_options_apply(kind, fields)
    if kind == "pointwise" and fields["kernel_size"] != (1,) * rank:
        raise ConvZooError(
            f"A pointwise layer's kernel is 1 on every axis. Received: kernel_size={layer.kernel_size!r}."
        )
    fields["filters"] = _filters(layer, kind, fields["in_channels"] * fields["depth_multiplier"])
    fields["intermediate_filters"] = _intermediate_filters(layer, rank, fields["filters"])
    _check_groups(fields["groups"], fields["in_channels"], fields["filters"])
    return fields


def _rank(in_sizes: object) -> int:
    """The spatial rank: 1 for one int, else the length of a non-empty sequence."""
    if isinstance(in_sizes, numbers.Integral):
        return 1
    if isinstance(in_sizes, (str, bytes)) or not isinstance(in_sizes, Sequence) or not in_sizes:
        raise ConvZooError(
            f"`in_sizes` must be one spatial size or a sequence of them. Received: in_sizes={in_sizes!r}."
        )
    return len(in_sizes)


def _check_options_apply(kind: str, fields: dict) -> None:
    """Refuse a hyper-parameter the kind's op does not take, unless it is left at its default."""
    rank = len(fields["in_sizes"])
    defaults = dict(_DEFAULTS, strides=(1,) * rank, dilation_rate=(1,) * rank)
    for name in sorted(set(defaults) - KIND_OPTIONS[kind]):
        if fields[name] != defaults[name]:
            takes = ", ".join(sorted(KIND_OPTIONS[kind])) or "none"
            raise ConvZooError(
                f"`{name}` does not apply to a {kind} layer, which takes {takes}. Received: {name}={fields[name]!r}."
            )


def _boolean(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise ConvZooError(f"`{name}` must be True or False. Received: {name}={value!r}.")
    return value


def _positive(value: object, name: str) -> int:
    value = spec.as_int(value, name)
    if value < 1:
        raise ConvZooError(f"`{name}` must be >= 1. Received: {name}={value}.")
    return value


def _filters(layer: Layer, kind: str, depthwise_channels: int) -> int:
    if kind != "depthwise":
        if layer.filters is None:
            raise ConvZooError(
                f"A {kind} layer needs `filters`, its number of output channels. Received: filters=None."
            )
        return _positive(layer.filters, "filters")
    if layer.filters not in (None, depthwise_channels):
        raise ConvZooError(
            f"A depthwise layer has in_channels * depth_multiplier filters; leave `filters` out. Received: "
            f"filters={layer.filters!r}, in_channels={layer.in_channels}, depth_multiplier={layer.depth_multiplier}."
        )
    return depthwise_channels


def _intermediate_filters(layer: Layer, rank: int, filters: int) -> tuple[int, ...] | None:
    """One channel count per intermediate stage of a spatially separable layer (rank - 1 of them)."""
    if layer.kind != "spatially-separable":
        return None
    if layer.intermediate_filters is None:
        return (filters,) * (rank - 1)
    if rank == 1:
        raise ConvZooError(
            f"A 1-D spatially separable layer has one stage, so no intermediate filters. "
            f"Received: intermediate_filters={layer.intermediate_filters!r}."
        )
    return spec.per_axis(layer.intermediate_filters, rank - 1, "intermediate_filters")


def _check_groups(groups: int, in_channels: int, filters: int) -> None:
    if in_channels % groups or filters % groups:
        raise ConvZooError(
            f"`groups` must divide both the input channels and the filters. "
            f"Received: groups={groups}, in_channels={in_channels}, filters={filters}."
        )


# Each kind as the stages its op runs, in order, each resolved by conv_geometry / transpose_geometry.
def _sliding_stage(layer: Layer, in_channels: int, out_channels: int, groups: int) -> Stage:
    geometry = conv_geometry(layer.in_sizes, layer.kernel_size, layer.strides, layer.dilation_rate, layer.padding)
    check_padding_mode(layer.padding_mode, geometry)
    return Stage(geometry, in_channels, out_channels, groups)


def _pointwise_stage(in_sizes: tuple[int, ...], in_channels: int, out_channels: int) -> Stage:
    ones = (1,) * len(in_sizes)
    return Stage(conv_geometry(in_sizes, ones, ones, ones, "valid"), in_channels, out_channels)


def _transpose_stages(layer: Layer) -> tuple[Stage, ...]:
    geometry = transpose_geometry(
        layer.in_sizes, layer.kernel_size, layer.strides, layer.dilation_rate, layer.padding, layer.output_padding
    )
    return (Stage(geometry, layer.filters, layer.in_channels, layer.groups, transposed=True),)


def _separable_stages(layer: Layer) -> tuple[Stage, ...]:
    depthwise = _sliding_stage(layer, layer.in_channels, layer.in_channels * layer.depth_multiplier, layer.in_channels)
    return depthwise, _pointwise_stage(depthwise.geometry.out_sizes, depthwise.out_channels, layer.filters)


def _spatially_separable_stages(layer: Layer) -> tuple[Stage, ...]:
    """Kernel a spans axis a only and takes that axis's stride, dilation and padding, as the op does."""
    channels = (layer.in_channels, *layer.intermediate_filters, layer.filters)
    stages, sizes = [], layer.in_sizes
    padding = (layer.padding,) * layer.rank if isinstance(layer.padding, str) else layer.padding
    for axis in range(layer.rank):
        geometry = conv_geometry(
            sizes,
            _on_axis(layer.kernel_size, axis, 1),
            _on_axis(layer.strides, axis, 1),
            _on_axis(layer.dilation_rate, axis, 1),
            _on_axis(padding, axis, (0, 0)),
        )
        check_padding_mode(layer.padding_mode, geometry)
        stages.append(Stage(geometry, channels[axis], channels[axis + 1]))
        sizes = geometry.out_sizes
    return tuple(stages)


def _on_axis(values: tuple, axis: int, neutral) -> tuple:
    """`values` on `axis`, `neutral` (no kernel, stride, dilation or padding) on the others."""
    return tuple(value if a == axis else neutral for a, value in enumerate(values))


_STAGES = {
    "conv": lambda layer: (_sliding_stage(layer, layer.in_channels, layer.filters, layer.groups),),
    "pointwise": lambda layer: (_pointwise_stage(layer.in_sizes, layer.in_channels, layer.filters),),
    "transpose": _transpose_stages,
    "depthwise": lambda layer: (_sliding_stage(layer, layer.in_channels, layer.filters, layer.in_channels),),
    "separable": _separable_stages,
    "spatially-separable": _spatially_separable_stages,
}
_STAGES["dilated"] = _STAGES["grouped"] = _STAGES["conv"]


# --------------------------------------------------------------------------------------------
# What a layer costs: padding, parameters, multiply-accumulates, memory
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# What a layer sees: receptive fields (Araujo, Norris & Sim, "Computing Receptive Fields of
# Convolutional Neural Networks", Distill 2019)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceptiveField:
    """What an output position sees of the input, on one axis.

    Output n sees input positions start + n*jump to start + n*jump + size - 1: `size` is
    Distill's r_0, `jump` its effective stride S_0 and `start` its u_0 = -P_0 (minus the
    effective padding; negative when the field reaches into the padding). Through a transpose
    layer, jump and size are fractions (see `stage_field`); otherwise they are ints.

    What is guaranteed (and tested by brute force on the core ops): every input pixel that
    influences output n lies in that interval. Without transpose layers the interval is exact
    (an output whose interval lies inside the input sees both its ends; dilation and strides
    may leave holes between). Through a transpose it is the field of the continuous model: for
    one undilated transpose, alone or after stride-1 convolutions, an output sees the first and
    last integer of its interval (or nothing, where k < s leaves gaps); elsewhere the pixels an
    output sees depend on its phase n mod s and may stop short of the interval's ends.
    """

    size: int | Fraction
    jump: int | Fraction
    start: int | Fraction

    def then(self, layer: ReceptiveField) -> ReceptiveField:
        """This field followed by a layer whose field on its own input is `layer`.

        Distill's recurrences run from the output back; read forward, with r, j, u the field
        so far: r' = r + (r_layer - 1)*j, j' = j*j_layer, u' = u + u_layer*j.

        >>> ReceptiveField(3, 3, -1).then(ReceptiveField(2, 1, 0))   # Distill's figure: u0 = -1, v0 = 4
        ReceptiveField(size=6, jump=3, start=-1)
        """
        return _field(
            self.size + (layer.size - 1) * self.jump, self.jump * layer.jump, self.start + layer.start * self.jump
        )


def _field(size, jump, start) -> ReceptiveField:
    """A ReceptiveField with ints where the fractions are whole."""
    whole = lambda x: int(x) if Fraction(x).denominator == 1 else Fraction(x)
    return ReceptiveField(whole(size), whole(jump), whole(start))


IDENTITY_FIELD = ReceptiveField(1, 1, 0)


def stage_field(stage: Stage, axis: int) -> ReceptiveField:
    """The receptive field of one stage on its own input, on `axis`.

    A convolution: size k_eff = d*(k-1) + 1, jump s, start -p_before (Distill's k, s, -p, with
    the dilated span for k). A transpose convolution is a stride-1 convolution (flipped kernel)
    of its input stretched s times (s-1 zeros between pixels) and padded k_eff-1-crop_before
    in front; in stretched units its field is k_eff wide with jump 1, and one stretched unit is
    1/s input pixel, hence size (k_eff-1)/s + 1, jump 1/s and start (crop_before-k_eff+1)/s:
    the input pixels an output sees lie in that interval, a fraction of a pixel wide at times.

    >>> stage_field(Layer("transpose", (5,), 1, filters=1, kernel_size=3, strides=2).stages[0], 0)
    ReceptiveField(size=2, jump=Fraction(1, 2), start=-1)
    """
    g = stage.geometry
    span = dilated_kernel_size(g.kernel_sizes[axis], g.dilation[axis])
    stride, before = g.strides[axis], g.padding[axis][0]
    if stage.transposed:
        return _field(Fraction(span - 1, stride) + 1, Fraction(1, stride), Fraction(before - span + 1, stride))
    return ReceptiveField(span, stride, -before)


def receptive_field(layer: Layer) -> tuple[ReceptiveField, ...]:
    """The receptive field of one layer on its input, per axis, its stages composed.

    >>> receptive_field(Layer("dilated", (28, 28), 3, filters=32, kernel_size=3, dilation_rate=2))
    (ReceptiveField(size=5, jump=1, start=0), ReceptiveField(size=5, jump=1, start=0))
    """
    fields = []
    for axis in range(layer.rank):
        field = IDENTITY_FIELD
        for stage in layer.stages:
            field = field.then(stage_field(stage, axis))
        fields.append(field)
    return tuple(fields)


def stack_receptive_fields(layers: Sequence[Layer]) -> tuple[tuple[ReceptiveField, ...], ...]:
    """The receptive field on the stack's input of each layer's output, per axis: its growth.

    >>> conv = lambda size: Layer("conv", (size,), 1, filters=1, kernel_size=3)
    >>> [fields[0].size for fields in stack_receptive_fields([conv(9), conv(7), conv(5)])]
    [3, 5, 7]
    """
    growth, fields = [], (IDENTITY_FIELD,) * (layers[0].rank if layers else 0)
    for layer in layers:
        fields = tuple(field.then(own) for field, own in zip(fields, receptive_field(layer)))
        growth.append(fields)
    return tuple(growth)


# --------------------------------------------------------------------------------------------
# A stack of layers
# --------------------------------------------------------------------------------------------


def stack(in_sizes, in_channels: int, specs: Sequence[tuple[str, dict]], **shared) -> tuple[Layer, ...]:
    """Chain layers: each `(kind, options)` in `specs` takes the previous layer's output.

    `shared` holds the fields every layer shares (`batch`, `data_format`, `itemsize`). An error
    names the layer it came from (counted from 1).

    >>> specs = [("conv", dict(filters=8, kernel_size=3)), ("depthwise", dict(kernel_size=3, strides=2))]
    >>> layers = stack((28, 28), 3, specs)
    >>> [layer.output_shape for layer in layers]
    [(1, 26, 26, 8), (1, 12, 12, 8)]
    """
    layers = []
    for number, (kind, options) in enumerate(specs, start=1):
        try:
            layers.append(Layer(kind, in_sizes, in_channels, **options, **shared))
        except ConvZooError as error:
            raise with_context(error, f"layer {number} ({kind})") from None
        in_sizes, in_channels = layers[-1].out_sizes, layers[-1].out_channels
    return tuple(layers)
