"""Random valid configurations of every kind, as hypothesis strategies, for every property test.

`cases()` draws a `Case`: a kind, its arrays in signature order and its hyper-parameters,
always a configuration the core must accept (non-empty output, paddings the mode can fill,
channels the groups divide). Sizes stay small so that the slow reference and PyTorch keep up.
The arithmetic and CLI tests use the same generator, so the shape rules and the ops are
checked on the same ground.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from hypothesis import strategies as st

import convzoo

KINDS = ("conv", "pointwise", "transpose", "depthwise", "separable", "spatially_separable")
OPS = {
    "conv": convzoo.conv,
    "pointwise": convzoo.pointwise_conv,
    "transpose": convzoo.conv_transpose,
    "depthwise": convzoo.depthwise_conv,
    "separable": convzoo.separable_conv,
    "spatially_separable": convzoo.spatially_separable_conv,
}
PADDING_MODES = ("zeros", "reflect", "replicate", "circular")
PADDING_FORMS = ("valid", "same", "full", "causal", "int", "ints", "pairs")


@dataclass
class Case:
    """One call of one op: `op(*arrays, **options)`."""

    kind: str
    arrays: tuple
    options: dict = field(default_factory=dict)

    @property
    def op(self):
        return OPS[self.kind]

    @property
    def kernels(self) -> list[np.ndarray]:
        """Every kernel array of the call, flattened (the spatially separable list unpacked)."""
        middle = self.arrays[1:3] if self.kind == "separable" else self.arrays[1:2]
        return [k for item in middle for k in (item if isinstance(item, list) else [item])]

    @property
    def bias(self) -> np.ndarray | None:
        last = self.arrays[-1]
        has_bias = len(self.arrays) == (4 if self.kind == "separable" else 3)
        return last if has_bias else None

    def with_arrays(self, arrays: tuple) -> Case:
        return Case(self.kind, arrays, self.options)

    def __repr__(self) -> str:
        shapes = [[a.shape for a in item] if isinstance(item, list) else item.shape for item in self.arrays]
        return f"Case({self.kind}, shapes={shapes}, options={self.options})"


def _fill(draw, shapes, dtype):
    """Random arrays of `shapes` (a list item is a list of shapes), from one seeded stream."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    make = lambda shape: rng.standard_normal(shape).astype(dtype)
    return tuple([make(s) for s in shape] if isinstance(shape, list) else make(shape) for shape in shapes)


@st.composite
def _axis(draw, kind: str, pad_form: str, mode: str, same_pad: int):
    """One spatial axis: (kernel, stride, dilation, explicit pair or None, input size).

    `same_pad` is the padding every axis shares when `pad_form` is "int".
    """
    kernel = draw(st.integers(1, 4))
    stride = draw(st.integers(1, 3))
    dilation = draw(st.integers(1, 3))
    span = dilation * (kernel - 1) + 1
    pair = (same_pad, same_pad) if pad_form == "int" else None
    if pad_form == "ints":
        before = draw(st.integers(0, 3))
        pair = (before, before)
    elif pad_form == "pairs":
        pair = (draw(st.integers(0, 3)), draw(st.integers(0, 3)))
    if kind == "transpose":
        size = draw(st.integers(1, 5))
        return kernel, stride, dilation, pair, size
    needed = span - (sum(pair) if pair else 0) if pad_form in ("valid", "int", "ints", "pairs") else 1
    widest_pad = max(pair) if pair else span - 1  # "same"/"full"/"causal" pad at most span-1
    if mode == "reflect":
        needed = max(needed, widest_pad + 1)
    elif mode == "circular":
        needed = max(needed, widest_pad)
    needed = max(needed, 1)
    return kernel, stride, dilation, pair, draw(st.integers(needed, needed + 4))


def _padding_value(draw, form: str, pairs: list) -> object:
    """The `padding` argument in `form`: a string, an int, one int per axis or pairs."""
    if form in ("valid", "same", "full", "causal"):
        return draw(st.sampled_from([form, form.upper()])) if form == "same" else form
    if form == "int":
        return pairs[0][0]
    if form == "ints":
        return tuple(before for before, _ in pairs)
    return tuple(pairs)


@st.composite
def cases(
    draw,
    kinds=KINDS,
    ranks=(1, 2, 3),
    dtype=np.float64,
    modes=PADDING_MODES,
    bias=None,
    paddings=PADDING_FORMS,
    groups=(1, 2, 3),
) -> Case:
    """A random valid `Case` of one of `kinds`, with spatial rank in `ranks`.

    `paddings` limits the forms of `padding` ("valid", "same", "full", "causal", "int", "ints"
    for one int per axis, "pairs"), `modes` the padding modes, `groups` the group counts of
    conv and transpose, and `bias` forces a bias (True) or none (False).
    """
    kind = draw(st.sampled_from(kinds))
    rank = draw(st.sampled_from(ranks))
    if kind == "pointwise":
        return _pointwise(draw, rank, dtype, bias)
    unsupported = {"full", "causal"} if kind == "transpose" else set() if rank == 1 else {"causal"}
    pad_form = draw(st.sampled_from([form for form in paddings if form not in unsupported]))
    mode = "zeros" if kind == "transpose" else draw(st.sampled_from(modes))
    same_pad = draw(st.integers(0, 3))
    axes = [draw(_axis(kind, pad_form, mode, same_pad)) for _ in range(rank)]
    kernel_sizes, strides, dilations, pairs, sizes = (list(column) for column in zip(*axes))
    if kind == "spatially_separable":
        strides = [strides[0]] * rank if draw(st.booleans()) else strides  # int or per-axis
    options = {
        "strides": strides[0] if len(set(strides)) == 1 and draw(st.booleans()) else tuple(strides),
        "dilation_rate": tuple(dilations),
        "padding": _padding_value(draw, pad_form, pairs),
        "data_format": draw(st.sampled_from(["channels_last", "channels_first"])),
    }
    if kind == "transpose":
        sizes = _transpose_options(draw, options, pad_form, kernel_sizes, strides, dilations, pairs, sizes)
    else:
        options["padding_mode"] = mode
    batch = draw(st.integers(1, 2))
    shapes = {
        "conv": _conv,
        "transpose": _transpose,
        "depthwise": _depthwise,
        "separable": _separable,
        "spatially_separable": _spatially_separable,
    }[kind]
    kernel_shapes, in_channels, out_channels = shapes(draw, kernel_sizes, options, groups)
    x_shape = (
        (batch, *sizes, in_channels) if options["data_format"] == "channels_last" else (batch, in_channels, *sizes)
    )
    with_bias = draw(st.booleans()) if bias is None else bias
    bias_shape = [(out_channels,)] if with_bias else []
    return Case(kind, _fill(draw, [x_shape, *kernel_shapes, *bias_shape], dtype), options)


def _transpose_options(draw, options, pad_form, kernel_sizes, strides, dilations, pairs, sizes):
    """Draw output_padding within the rules, and grow the input until the output is not empty."""
    explicit = pad_form not in ("valid", "same")
    if draw(st.booleans()):
        limits = [max(s, d) if explicit else s for s, d in zip(strides, dilations)]
        options["output_padding"] = tuple(draw(st.integers(0, limit - 1)) for limit in limits)
    extras = options.get("output_padding") or (None,) * len(sizes)
    grown = []
    for kernel, stride, dilation, pair, size, extra in zip(kernel_sizes, strides, dilations, pairs, sizes, extras):
        while _transpose_out_size(pad_form, size, kernel, stride, dilation, pair, extra) < 1:
            size += 1
        grown.append(size)
    return grown


def _transpose_out_size(pad_form, size, kernel, stride, dilation, pair, extra):
    """The documented output sizes (PyTorch's for explicit padding, Keras's for strings)."""
    span = dilation * (kernel - 1) + 1
    if pad_form == "valid":
        return (size - 1) * stride + (max(span, stride) if extra is None else span + extra)
    if pad_form == "same":
        return size * stride if extra is None else (size - 1) * stride + span % 2 + extra
    return (size - 1) * stride + span - sum(pair) + (extra or 0)


# Each returns (kernel shapes in signature order, input channels, output channels).
def _conv(draw, kernel_sizes, options, groups):
    groups = draw(st.sampled_from(groups))
    per_group_in, per_group_out = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    return [(*kernel_sizes, per_group_in, groups * per_group_out)], groups * per_group_in, groups * per_group_out


def _transpose(draw, kernel_sizes, options, groups):
    groups = draw(st.sampled_from(groups))
    if groups > 1 or draw(st.booleans()):
        options["groups"] = groups
    per_group_in, per_group_out = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    return [(*kernel_sizes, per_group_out, groups * per_group_in)], groups * per_group_in, groups * per_group_out


def _depthwise(draw, kernel_sizes, options, groups):
    channels, multiplier = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    return [(*kernel_sizes, channels, multiplier)], channels, channels * multiplier


def _separable(draw, kernel_sizes, options, groups):
    channels, multiplier, filters = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 4))
    pointwise = (1,) * len(kernel_sizes) + (channels * multiplier, filters)
    return [(*kernel_sizes, channels, multiplier), pointwise], channels, filters


def _spatially_separable(draw, kernel_sizes, options, groups):
    rank = len(kernel_sizes)
    channels = [draw(st.integers(1, 3)) for _ in range(rank + 1)]
    kernels = [
        (*(size if a == axis else 1 for a in range(rank)), channels[axis], channels[axis + 1])
        for axis, size in enumerate(kernel_sizes)
    ]
    return [kernels], channels[0], channels[-1]


def _pointwise(draw, rank, dtype, bias) -> Case:
    in_channels, out_channels = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    data_format = draw(st.sampled_from(["channels_last", "channels_first"]))
    sizes = [draw(st.integers(1, 5)) for _ in range(rank)]
    batch = draw(st.integers(1, 2))
    x_shape = (batch, *sizes, in_channels) if data_format == "channels_last" else (batch, in_channels, *sizes)
    kernel_shape = (in_channels, out_channels) if draw(st.booleans()) else (1,) * rank + (in_channels, out_channels)
    with_bias = draw(st.booleans()) if bias is None else bias
    shapes = [x_shape, kernel_shape] + ([(out_channels,)] if with_bias else [])
    return Case("pointwise", _fill(draw, shapes, dtype), {"data_format": data_format})
