"""The slow, obviously-correct oracle for every convolution in convzoo.

This module owns the *definitions*: each op is written straight from the contract as plain
loops over output positions and kernel taps, so that a reader can check it against the maths
line by line and the fast implementation can be tested against it. It imports only NumPy and the
standard library, never anything from convzoo, so that a bug in shared code cannot hide in both
the implementation and its oracle. Speed is not a goal; everything is computed in float64.

The central notion is the *tap*: one (input position, kernel offset) pair that an output
position sums. `taps` lists them for a correlation (a gather) and `scatter_taps` lists, for a
transposed convolution, the (output position, kernel offset) pairs each input position adds into
(a scatter). The forward functions only walk these maps, which also makes them easy to animate.

Conventions used throughout:

* Arrays are handled internally as channels_last, ``(batch, *spatial, channels)``; the public
  functions convert ``data_format`` on the way in and out.
* Kernels use Keras's layouts whatever the data_format (see each function).
* On one axis, output position ``o`` and tap ``t`` read the *padded* input coordinate
  ``o * stride + t * dilation``; the padding mode decides which real element, if any, that is.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Callable, Sequence
from typing import Literal, get_args

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "Position",
    "Tap",
    "conv",
    "conv_output_sizes",
    "conv_padding",
    "conv_transpose",
    "depthwise_conv",
    "effective_kernel_size",
    "pointwise_conv",
    "scatter_taps",
    "separable_conv",
    "source_index",
    "spatially_separable_conv",
    "taps",
    "transpose_crops",
    "transpose_output_sizes",
]

Position = tuple[int, ...]
"""A point on the spatial grid, one int per spatial axis."""

Tap = tuple[Position | None, Position]
"""(position on the other side of the kernel, or None where there is nothing; kernel offset)."""

AxisTaps = list[list[tuple[int | None, int]]]
"""One axis's taps: for each position on that axis, its (index on the other side or None, tap)."""


PaddingMode = Literal["zeros", "reflect", "replicate", "circular"]
PADDING_MODES: tuple[str, ...] = get_args(PaddingMode)
DataFormat = Literal["channels_last", "channels_first"]
DATA_FORMATS: tuple[str, ...] = get_args(DataFormat)
Padding = str | int | Sequence[int] | Sequence[tuple[int, int]]
"""A padding name ("valid", "same", ...), or explicit ints (see `_explicit_pads`)."""
IntOrPerAxis = int | Sequence[int]


# --------------------------------------------------------------------------------------------
# Small argument helpers
# --------------------------------------------------------------------------------------------


def _as_int(value: object, name: str) -> int:
    """`value` as a Python int (NumPy integers included, bools and floats refused)."""
    if isinstance(value, bool):
        raise ValueError(f"{name} must be an int, got {value!r}")
    try:
        return operator.index(value)
    except TypeError:
        raise ValueError(f"{name} must be an int, got {value!r}") from None


def _per_axis(value: IntOrPerAxis, rank: int, name: str, minimum: int) -> tuple[int, ...]:
    """An int or one int per spatial axis, as a tuple of `rank` ints each >= `minimum`."""
    if isinstance(value, Sequence) and not isinstance(value, str):
        values = tuple(_as_int(item, name) for item in value)
        if len(values) != rank:
            raise ValueError(f"{name} needs one value per spatial axis ({rank}), got {value!r}")
    else:
        values = (_as_int(value, name),) * rank
    if any(item < minimum for item in values):
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return values


def effective_kernel_size(kernel_size: int, dilation: int) -> int:
    """The extent a dilated kernel covers: its taps sit `dilation` apart."""
    return dilation * (kernel_size - 1) + 1


def _explicit_pads(padding: object, rank: int) -> tuple[tuple[int, int], ...]:
    """Integer padding as one (before, after) pair per axis.

    Accepts an int (both sides of every axis), one int per axis, or one (before, after) pair per
    axis. A bare pair is *not* read as (before, after) for a 1-D op: it must be ``[(b, a)]``,
    because for a 2-D op the same pair means one int per axis.
    """
    if not (isinstance(padding, Sequence) and not isinstance(padding, str)):
        pad = _as_int(padding, "padding")
        pairs: tuple[tuple[int, int], ...] = ((pad, pad),) * rank
    else:
        if len(padding) != rank:
            raise ValueError(f"padding needs one entry per spatial axis ({rank}), got {padding!r}")
        pairs = tuple(_explicit_pair(entry) for entry in padding)
    if any(amount < 0 for pair in pairs for amount in pair):
        raise ValueError(f"padding must not be negative, got {padding!r}")
    return pairs


def _explicit_pair(entry: object) -> tuple[int, int]:
    """One axis's padding: an int (same both sides) or a (before, after) pair."""
    if isinstance(entry, Sequence) and not isinstance(entry, str):
        if len(entry) != 2:
            raise ValueError(f"a per-axis padding pair must be (before, after), got {entry!r}")
        return _as_int(entry[0], "padding"), _as_int(entry[1], "padding")
    amount = _as_int(entry, "padding")
    return amount, amount


# --------------------------------------------------------------------------------------------
# Correlation geometry: padding, output sizes, taps
# --------------------------------------------------------------------------------------------


def _same_pads(in_size: int, kernel_size: int, stride: int, dilation: int) -> tuple[int, int]:
    """Keras/TensorFlow "same": pad for ceil(in / stride) outputs, the odd pixel at the end."""
    out_size = -(-in_size // stride)  # ceil division
    total = max((out_size - 1) * stride + effective_kernel_size(kernel_size, dilation) - in_size, 0)
    pad_before = total // 2
    return pad_before, total - pad_before


def conv_padding(
    padding: Padding,
    in_sizes: Sequence[int],
    kernel_sizes: Sequence[int],
    strides: Sequence[int],
    dilation: Sequence[int],
) -> tuple[tuple[int, int], ...]:
    """The (pad_before, pad_after) pair of every spatial axis for a correlation.

    `padding` is "valid", "same" (Keras's rule), "causal" (1-D only: everything before, so that
    output o never sees input after o), "full" (every partial overlap), or explicit integers.

    >>> conv_padding("same", (6,), (3,), (2,), (1,))
    ((0, 1),)
    """
    rank = len(in_sizes)
    axes = range(rank)
    effective = [effective_kernel_size(kernel_sizes[axis], dilation[axis]) for axis in axes]
    if padding == "valid":
        return ((0, 0),) * rank
    if padding == "same":
        return tuple(_same_pads(in_sizes[axis], kernel_sizes[axis], strides[axis], dilation[axis]) for axis in axes)
    if padding == "causal":
        if rank != 1:
            raise ValueError(f'padding="causal" is only defined for 1-D ops, this one is {rank}-D')
        return ((effective[0] - 1, 0),)
    if padding == "full":
        return tuple((size - 1, size - 1) for size in effective)
    if isinstance(padding, str):
        raise ValueError(f'padding must be "valid", "same", "causal", "full" or ints, got {padding!r}')
    return _explicit_pads(padding, rank)


def conv_output_sizes(
    in_sizes: Sequence[int],
    kernel_sizes: Sequence[int],
    strides: Sequence[int],
    pads: Sequence[tuple[int, int]],
    dilation: Sequence[int],
) -> Position:
    """floor((in + before + after - k_eff) / stride) + 1 per axis; an empty output is an error."""
    sizes = []
    for in_size, kernel_size, stride, (pad_before, pad_after), rate in zip(
        in_sizes, kernel_sizes, strides, pads, dilation, strict=True
    ):
        padded_size = in_size + pad_before + pad_after
        effective = effective_kernel_size(kernel_size, rate)
        if padded_size < effective:
            raise ValueError(f"the padded input ({padded_size}) is shorter than the dilated kernel ({effective})")
        sizes.append((padded_size - effective) // stride + 1)
    return tuple(sizes)


def source_index(padded_coordinate: int, in_size: int, pad_before: int, padding_mode: PaddingMode) -> int | None:
    """The unpadded index that a coordinate of the padded input shows, or None for a zero.

    For x = [1, 2, 3, 4] padded by 2 on both sides the modes give:
    zeros 0 0 1 2 3 4 0 0, reflect 3 2 1 2 3 4 3 2, replicate 1 1 1 2 3 4 4 4,
    circular 3 4 1 2 3 4 1 2.

    >>> [source_index(c, 4, 2, "reflect") for c in range(8)]
    [2, 1, 0, 1, 2, 3, 2, 1]
    """
    index = padded_coordinate - pad_before  # relative to the first real element
    if 0 <= index < in_size:
        return index
    if padding_mode == "zeros":
        return None
    if padding_mode == "replicate":
        return min(max(index, 0), in_size - 1)
    if padding_mode == "circular":
        return index % in_size
    if padding_mode == "reflect":
        # Mirror about the edge element itself, so the edge is not repeated: -1 -> 1, in -> in - 2.
        mirrored = -index if index < 0 else 2 * (in_size - 1) - index
        if not 0 <= mirrored < in_size:
            raise ValueError(f"reflect padding must be smaller than the input on each side: in_size={in_size}")
        return mirrored
    raise ValueError(f"padding_mode must be one of {PADDING_MODES}, got {padding_mode!r}")


def _axis_taps(
    out_size: int,
    in_size: int,
    kernel_size: int,
    stride: int,
    pads: tuple[int, int],
    dilation: int,
    padding_mode: PaddingMode,
) -> AxisTaps:
    """For each output index on one axis, its (input index or None, tap) pairs."""
    pad_before, pad_after = pads
    if padding_mode == "reflect" and max(pad_before, pad_after) >= in_size:
        # Checked up front so that padding no tap happens to read is refused too, as PyTorch does.
        raise ValueError(f"reflect padding must be smaller than the input: pads={pads}, in_size={in_size}")
    axis_taps: AxisTaps = []
    for out_index in range(out_size):
        index_taps = []
        for tap in range(kernel_size):
            padded_coordinate = out_index * stride + tap * dilation  # the defining formula
            in_index = source_index(padded_coordinate, in_size, pad_before, padding_mode)
            index_taps.append((in_index, tap))
        axis_taps.append(index_taps)
    return axis_taps


def taps(
    in_sizes: Sequence[int],
    kernel_sizes: Sequence[int],
    strides: Sequence[int],
    pads: Sequence[tuple[int, int]],
    dilation: Sequence[int],
    padding_mode: PaddingMode = "zeros",
) -> dict[Position, list[Tap]]:
    """Every output position of a correlation, mapped to the taps it sums.

    Each tap is ``(input_position, kernel_offset)``: output position ``o`` adds
    ``input[input_position] * kernel[kernel_offset]``. ``input_position`` indexes the *unpadded*
    input; where the tap lands in the padding it is the element the padding mode copies there,
    or None for zero padding (nothing to add). Positions and offsets are tuples, one int per
    spatial axis; the taps of a position come in row-major kernel order.

    Padding is applied axis by axis, so a multi-dimensional tap is the product of one tap per
    axis, and it is a zero as soon as one axis lands in zero padding.

    A 2-tap kernel over 3 inputs with one zero in front: output 0 reads the zero and input 0.

    >>> for out_position, position_taps in taps((3,), (2,), (1,), ((1, 0),), (1,)).items():
    ...     print(out_position, position_taps)
    (0,) [(None, (0,)), ((0,), (1,))]
    (1,) [((0,), (0,)), ((1,), (1,))]
    (2,) [((1,), (0,)), ((2,), (1,))]
    """
    out_sizes = conv_output_sizes(in_sizes, kernel_sizes, strides, pads, dilation)
    per_axis = [
        _axis_taps(out_size, in_size, kernel_size, stride, axis_pads, rate, padding_mode)
        for out_size, in_size, kernel_size, stride, axis_pads, rate in zip(
            out_sizes, in_sizes, kernel_sizes, strides, pads, dilation, strict=True
        )
    ]
    return _combine_axes(per_axis)


def _combine_axes(per_axis: Sequence[AxisTaps]) -> dict[Position, list[Tap]]:
    """Per-axis tap lists -> multi-dimensional tap map (row-major positions and offsets).

    A position's taps are every combination of one tap per axis; a combination is None as soon
    as one axis has nothing there (zero padding, or a cropped-away output).
    """
    tap_map: dict[Position, list[Tap]] = {}
    for position in itertools.product(*(range(len(axis_taps)) for axis_taps in per_axis)):
        axis_tap_lists = [axis_taps[index] for axis_taps, index in zip(per_axis, position)]
        tap_map[position] = [
            _combine_one_tap_per_axis(combination) for combination in itertools.product(*axis_tap_lists)
        ]
    return tap_map


def _combine_one_tap_per_axis(axis_taps: Sequence[tuple[int | None, int]]) -> Tap:
    """One tap per axis -> one multi-dimensional tap (None if any axis has nothing there)."""
    indices = tuple(index for index, _ in axis_taps)
    offset = tuple(tap for _, tap in axis_taps)
    return (None if None in indices else indices), offset


# --------------------------------------------------------------------------------------------
# Transposed-convolution geometry: crops and scatter taps
# --------------------------------------------------------------------------------------------


def transpose_crops(
    padding: Padding,
    output_padding: IntOrPerAxis | None,
    kernel_sizes: Sequence[int],
    strides: Sequence[int],
    dilation: Sequence[int],
) -> tuple[tuple[int, int], ...]:
    """How much to cut from each end of the "full" transposed output, per axis.

    The full output of an axis has length (in - 1) * stride + k_eff. A negative crop_after means
    zeros appended at the end. "valid" and "same" follow Keras; explicit integers follow PyTorch
    (crop the padding, give output_padding back at the end).

    >>> transpose_crops("same", None, (3,), (2,), (1,))
    ((0, 1),)
    """
    rank = len(kernel_sizes)
    if output_padding is None:
        extras: tuple[int | None, ...] = (None,) * rank
    else:
        extras = _per_axis(output_padding, rank, "output_padding", minimum=0)
    effective = [effective_kernel_size(kernel_sizes[axis], dilation[axis]) for axis in range(rank)]
    keras_rules = {"valid": _keras_valid_crops, "same": _keras_same_crops}
    if isinstance(padding, str) and padding in keras_rules:
        crops_of_axis = keras_rules[padding]
        return tuple(map(crops_of_axis, effective, strides, extras))
    if isinstance(padding, str):
        raise ValueError(f'conv_transpose padding must be "valid", "same" or ints, got {padding!r}')
    return tuple(
        (pad_before, pad_after - (0 if extra is None else extra))
        for (pad_before, pad_after), extra in zip(_explicit_pads(padding, rank), extras)
    )


def _keras_valid_crops(effective: int, stride: int, output_padding: int | None) -> tuple[int, int]:
    """Keras "valid": nothing cropped; output_padding zeros appended (None: up to the stride)."""
    if output_padding is None:
        output_padding = max(effective, stride) - effective
    return 0, -output_padding


def _keras_same_crops(effective: int, stride: int, output_padding: int | None) -> tuple[int, int]:
    """Keras "same", stated as the padding of the zero-inserted input and turned into crops.

    Keras pads the stride-dilated input by (left, right) before a "valid" correlation. Padding
    k_eff - 1 on each side would give the full output, so each pixel of padding short of that
    is one pixel cropped (and each pixel beyond it one zero appended).
    """
    if output_padding is None:
        pad_length = stride + effective - 2  # so that out = in * stride
    else:
        pad_length = effective + effective % 2 - 2 + output_padding
    left = min(pad_length // 2 + pad_length % 2, effective - 1)
    right = pad_length - left
    return (effective - 1) - left, (effective - 1) - right


def transpose_output_sizes(
    in_sizes: Sequence[int],
    kernel_sizes: Sequence[int],
    strides: Sequence[int],
    crops: Sequence[tuple[int, int]],
    dilation: Sequence[int],
) -> Position:
    """Full length (in - 1) * stride + k_eff minus both crops, per axis; empty is an error."""
    sizes = []
    for in_size, kernel_size, stride, (crop_before, crop_after), rate in zip(
        in_sizes, kernel_sizes, strides, crops, dilation, strict=True
    ):
        full_size = (in_size - 1) * stride + effective_kernel_size(kernel_size, rate)
        size = full_size - crop_before - crop_after
        if in_size < 1 or size < 1:
            raise ValueError(
                f"the transposed output would be empty: in_size={in_size}, full size {full_size}, "
                f"crops ({crop_before}, {crop_after})"
            )
        sizes.append(size)
    return tuple(sizes)


def scatter_taps(
    in_sizes: Sequence[int],
    kernel_sizes: Sequence[int],
    strides: Sequence[int],
    crops: Sequence[tuple[int, int]],
    dilation: Sequence[int],
) -> dict[Position, list[Tap]]:
    """Every input position of a transposed convolution, mapped to where its taps land.

    Each tap is ``(output_position, kernel_offset)``: input position ``i`` adds
    ``input[i] * kernel[kernel_offset]`` into ``output[output_position]``. On each axis the tap
    lands at full-output coordinate ``i * stride + t * dilation``, shifted by crop_before;
    ``output_position`` is None where that falls in a cropped-away part.

    Two inputs, a 2-tap kernel, stride 2 and the first full-output pixel cropped away:

    >>> for in_position, position_taps in scatter_taps((2,), (2,), (2,), ((1, 0),), (1,)).items():
    ...     print(in_position, position_taps)
    (0,) [(None, (0,)), ((0,), (1,))]
    (1,) [((1,), (0,)), ((2,), (1,))]
    """
    out_sizes = transpose_output_sizes(in_sizes, kernel_sizes, strides, crops, dilation)
    per_axis = [
        _axis_scatter_taps(in_size, kernel_size, stride, crop_before, rate, out_size)
        for in_size, kernel_size, stride, (crop_before, _), rate, out_size in zip(
            in_sizes, kernel_sizes, strides, crops, dilation, out_sizes, strict=True
        )
    ]
    return _combine_axes(per_axis)


def _axis_scatter_taps(
    in_size: int, kernel_size: int, stride: int, crop_before: int, dilation: int, out_size: int
) -> AxisTaps:
    """For each input index on one axis, its (output index or None, tap) pairs."""
    axis_taps: AxisTaps = []
    for in_index in range(in_size):
        index_taps = []
        for tap in range(kernel_size):
            full_coordinate = in_index * stride + tap * dilation  # the defining formula
            out_index = full_coordinate - crop_before
            index_taps.append((out_index if 0 <= out_index < out_size else None, tap))
        axis_taps.append(index_taps)
    return axis_taps


# --------------------------------------------------------------------------------------------
# Layout and channel mixing
# --------------------------------------------------------------------------------------------


def _to_channels_last(inputs: ArrayLike, data_format: DataFormat, rank: int) -> np.ndarray:
    """The batched input as float64 (batch, *spatial, channels), checking its rank."""
    if data_format not in DATA_FORMATS:
        raise ValueError(f"data_format must be one of {DATA_FORMATS}, got {data_format!r}")
    array = np.asarray(inputs, dtype=np.float64)
    if array.ndim != rank + 2:
        raise ValueError(
            f"a {rank}-D op needs inputs of rank {rank + 2} (batch, spatial..., channels), got shape {array.shape}"
        )
    return np.moveaxis(array, 1, -1) if data_format == "channels_first" else array


def _from_channels_last(array: np.ndarray, data_format: DataFormat) -> np.ndarray:
    """Undo `_to_channels_last` on an output."""
    return np.moveaxis(array, -1, 1) if data_format == "channels_first" else array


def _kernel(kernel: ArrayLike, name: str) -> np.ndarray:
    """A kernel as float64, with at least one spatial axis before its two channel axes."""
    array = np.asarray(kernel, dtype=np.float64)
    if array.ndim < 3:
        raise ValueError(f"{name} needs spatial axes then two channel axes, got shape {array.shape}")
    return array


def _add_bias(outputs: np.ndarray, bias: ArrayLike | None, out_channels: int) -> np.ndarray:
    """Add a (C_out,) bias to every output position of a channels_last array."""
    if bias is None:
        return outputs
    bias = np.asarray(bias, dtype=np.float64)
    if bias.shape != (out_channels,):
        raise ValueError(f"bias must have shape ({out_channels},), got {bias.shape}")
    return outputs + bias


ChannelMix = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""(input pixels (N, C_in), kernel slice at one tap) -> contribution to output pixels (N, C_out)."""


def _grouped_mix(groups: int) -> ChannelMix:
    """Conv channel mixing: output channel f sums input channels of group f // (C_out / groups)."""

    def mix(pixels: np.ndarray, weights: np.ndarray) -> np.ndarray:
        channels_per_group, out_channels = weights.shape
        outputs_per_group = out_channels // groups
        contribution = np.zeros((pixels.shape[0], out_channels))
        for group in range(groups):
            ins = slice(group * channels_per_group, (group + 1) * channels_per_group)
            outs = slice(group * outputs_per_group, (group + 1) * outputs_per_group)
            contribution[:, outs] = pixels[:, ins] @ weights[:, outs]
        return contribution

    return mix


def _transposed_grouped_mix(groups: int) -> ChannelMix:
    """Transpose channel mixing: input channel c of group g = c // (C_in / groups) feeds output
    channel g * (C_out / groups) + j through weight[j, c] (weights are (C_out / groups, C_in))."""

    def mix(pixels: np.ndarray, weights: np.ndarray) -> np.ndarray:
        outputs_per_group, in_channels = weights.shape
        channels_per_group = in_channels // groups
        contribution = np.zeros((pixels.shape[0], outputs_per_group * groups))
        for group in range(groups):
            ins = slice(group * channels_per_group, (group + 1) * channels_per_group)
            outs = slice(group * outputs_per_group, (group + 1) * outputs_per_group)
            contribution[:, outs] = pixels[:, ins] @ weights[:, ins].T
        return contribution

    return mix


def _depthwise_mix(pixels: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Depthwise mixing: output channel c * M + m is input channel c times weights[c, m]."""
    batch = pixels.shape[0]
    in_channels, multiplier = weights.shape
    contribution = np.zeros((batch, in_channels * multiplier))
    for channel in range(in_channels):
        for copy in range(multiplier):
            out_channel = channel * multiplier + copy
            contribution[:, out_channel] = pixels[:, channel] * weights[channel, copy]
    return contribution


def _correlate(
    inputs: np.ndarray,
    kernel: np.ndarray,
    out_channels: int,
    mix: ChannelMix,
    strides: IntOrPerAxis,
    padding: Padding,
    dilation_rate: IntOrPerAxis,
    padding_mode: PaddingMode,
) -> np.ndarray:
    """The shared gather loop: for every output position, add every tap's mixed input pixel.

    `inputs` is channels_last float64; `kernel` is (*k, kernel_in, kernel_out), and `mix` turns
    the input pixels at one tap and ``kernel[offset]`` into that tap's (N, out_channels) term.
    """
    if padding_mode not in PADDING_MODES:
        raise ValueError(f"padding_mode must be one of {PADDING_MODES}, got {padding_mode!r}")
    rank = kernel.ndim - 2
    in_sizes = inputs.shape[1:-1]
    kernel_sizes = kernel.shape[:rank]
    strides = _per_axis(strides, rank, "strides", minimum=1)
    dilation = _per_axis(dilation_rate, rank, "dilation_rate", minimum=1)
    pads = conv_padding(padding, in_sizes, kernel_sizes, strides, dilation)
    out_sizes = conv_output_sizes(in_sizes, kernel_sizes, strides, pads, dilation)
    outputs = np.zeros((inputs.shape[0], *out_sizes, out_channels))
    everything = slice(None)  # the batch axis (channels are the trailing axis, left implicit)
    tap_map = taps(in_sizes, kernel_sizes, strides, pads, dilation, padding_mode)
    padding_zeros = np.zeros_like(inputs[(everything, *(0,) * rank)])  # (N, C_in)
    for out_position, position_taps in tap_map.items():
        for in_position, kernel_offset in position_taps:
            # A tap in zero padding multiplies a zero: it adds nothing, unless the weight is
            # infinite or NaN, where IEEE arithmetic (and PyTorch, and Keras) give NaN.
            pixels = padding_zeros if in_position is None else inputs[(everything, *in_position)]
            outputs[(everything, *out_position)] += mix(pixels, kernel[kernel_offset])
    return outputs


# --------------------------------------------------------------------------------------------
# The public ops
# --------------------------------------------------------------------------------------------


def conv(
    inputs: ArrayLike,
    kernel: ArrayLike,
    bias: ArrayLike | None = None,
    *,
    strides: IntOrPerAxis = 1,
    padding: Padding = "valid",
    data_format: DataFormat = "channels_last",
    dilation_rate: IntOrPerAxis = 1,
    padding_mode: PaddingMode = "zeros",
) -> np.ndarray:
    """N-D grouped cross-correlation, Keras's ``ops.conv`` plus a bias and a padding mode.

    kernel: (*k, C_in / groups, C_out), where groups = C_in // kernel.shape[-2]; output channel f
    belongs to group g = f // (C_out / groups) and sees input channels
    g * (C_in / groups) ... (g + 1) * (C_in / groups) - 1.
    """
    kernel = _kernel(kernel, "kernel")
    rank = kernel.ndim - 2
    inputs = _to_channels_last(inputs, data_format, rank)
    in_channels = inputs.shape[-1]
    channels_per_group, out_channels = kernel.shape[-2:]
    if channels_per_group < 1 or in_channels % channels_per_group:
        raise ValueError(f"kernel in-channels ({channels_per_group}) must divide input channels ({in_channels})")
    groups = in_channels // channels_per_group
    if out_channels % groups:
        raise ValueError(f"output channels ({out_channels}) must be a multiple of groups ({groups})")
    mix = _grouped_mix(groups)
    outputs = _correlate(inputs, kernel, out_channels, mix, strides, padding, dilation_rate, padding_mode)
    return _from_channels_last(_add_bias(outputs, bias, out_channels), data_format)


def pointwise_conv(
    inputs: ArrayLike,
    kernel: ArrayLike,
    bias: ArrayLike | None = None,
    *,
    data_format: DataFormat = "channels_last",
) -> np.ndarray:
    """1x...x1 convolution: a per-position matrix product over channels.

    kernel: (C_in, C_out) or (1, ..., 1, C_in, C_out); the spatial rank comes from the input.
    """
    if data_format not in DATA_FORMATS:
        raise ValueError(f"data_format must be one of {DATA_FORMATS}, got {data_format!r}")
    kernel = np.asarray(kernel, dtype=np.float64)
    inputs = np.asarray(inputs, dtype=np.float64)
    rank = inputs.ndim - 2
    if rank < 1:
        raise ValueError(f"inputs need a batch, spatial and channel axes, got shape {inputs.shape}")
    if kernel.ndim == 2:
        kernel = kernel.reshape((1,) * rank + kernel.shape)
    if kernel.ndim != rank + 2 or any(size != 1 for size in kernel.shape[:-2]):
        raise ValueError(f"a pointwise kernel must be (C_in, C_out) or (1, ..., 1, C_in, C_out), got {kernel.shape}")
    in_channels = inputs.shape[-1 if data_format == "channels_last" else 1]
    if kernel.shape[-2] != in_channels:
        raise ValueError(f"pointwise kernel in-channels ({kernel.shape[-2]}) must equal input channels ({in_channels})")
    return conv(inputs, kernel, bias, data_format=data_format)


def depthwise_conv(
    inputs: ArrayLike,
    kernel: ArrayLike,
    bias: ArrayLike | None = None,
    *,
    strides: IntOrPerAxis = 1,
    padding: Padding = "valid",
    data_format: DataFormat = "channels_last",
    dilation_rate: IntOrPerAxis = 1,
    padding_mode: PaddingMode = "zeros",
) -> np.ndarray:
    """Each input channel correlated on its own with M kernels.

    kernel: (*k, C_in, M); output channel c * M + m is input channel c correlated with
    kernel[..., c, m].
    """
    kernel = _kernel(kernel, "kernel")
    rank = kernel.ndim - 2
    inputs = _to_channels_last(inputs, data_format, rank)
    in_channels, multiplier = kernel.shape[-2:]
    if in_channels != inputs.shape[-1]:
        raise ValueError(f"depthwise kernel channels ({in_channels}) must equal input channels ({inputs.shape[-1]})")
    out_channels = in_channels * multiplier
    outputs = _correlate(inputs, kernel, out_channels, _depthwise_mix, strides, padding, dilation_rate, padding_mode)
    return _from_channels_last(_add_bias(outputs, bias, out_channels), data_format)


def separable_conv(
    inputs: ArrayLike,
    depthwise_kernel: ArrayLike,
    pointwise_kernel: ArrayLike,
    bias: ArrayLike | None = None,
    *,
    strides: IntOrPerAxis = 1,
    padding: Padding = "valid",
    data_format: DataFormat = "channels_last",
    dilation_rate: IntOrPerAxis = 1,
    padding_mode: PaddingMode = "zeros",
) -> np.ndarray:
    """Depthwise (no bias; strides, padding and dilation apply here), then pointwise, then bias.

    depthwise_kernel: (*k, C_in, M); pointwise_kernel: (1, ..., 1, C_in * M, C_out).
    """
    depthwise_outputs = depthwise_conv(
        inputs,
        depthwise_kernel,
        strides=strides,
        padding=padding,
        data_format=data_format,
        dilation_rate=dilation_rate,
        padding_mode=padding_mode,
    )
    return pointwise_conv(depthwise_outputs, pointwise_kernel, bias, data_format=data_format)


def spatially_separable_conv(
    inputs: ArrayLike,
    kernels: Sequence[ArrayLike],
    bias: ArrayLike | None = None,
    *,
    strides: IntOrPerAxis = 1,
    padding: Padding = "valid",
    data_format: DataFormat = "channels_last",
    dilation_rate: IntOrPerAxis = 1,
    padding_mode: PaddingMode = "zeros",
) -> np.ndarray:
    """d one-axis convolutions in a row: kernel i spans axis i only and is applied i-th.

    kernels: a sequence of exactly d conv kernels (no groups); kernel i has extent 1 on every
    spatial axis but axis i. Stage i uses strides[i], dilation_rate[i] and the padding of axis i
    on axis i only (elsewhere stride 1, no padding), with `padding_mode`; bias is added once.
    """
    kernels = [_kernel(kernel, f"kernels[{index}]") for index, kernel in enumerate(kernels)]
    if not kernels:
        raise ValueError("kernels must hold one kernel per spatial axis, got none")
    rank = kernels[0].ndim - 2
    if len(kernels) != rank:
        raise ValueError(f"a {rank}-D spatially separable conv needs {rank} kernels, got {len(kernels)}")
    strides = _per_axis(strides, rank, "strides", minimum=1)
    dilation = _per_axis(dilation_rate, rank, "dilation_rate", minimum=1)
    outputs = _to_channels_last(inputs, data_format, rank)
    for axis, kernel in enumerate(kernels):
        _check_stage_kernel(kernel, axis, rank, outputs.shape[-1])
        outputs = conv(
            outputs,
            kernel,
            strides=_only_on_axis(strides[axis], axis, rank, elsewhere=1),
            padding=_stage_pads(padding, outputs.shape[1:-1], kernel, axis, strides, dilation),
            dilation_rate=_only_on_axis(dilation[axis], axis, rank, elsewhere=1),
            padding_mode=padding_mode,
        )
    return _from_channels_last(_add_bias(outputs, bias, outputs.shape[-1]), data_format)


def _only_on_axis(value: int, axis: int, rank: int, elsewhere: int) -> tuple[int, ...]:
    """`value` on `axis`, `elsewhere` on every other axis."""
    return tuple(value if index == axis else elsewhere for index in range(rank))


def _check_stage_kernel(kernel: np.ndarray, axis: int, rank: int, stage_channels: int) -> None:
    """Kernel `axis` must have the right rank, span only `axis`, and take all stage channels."""
    if kernel.ndim != rank + 2:
        raise ValueError(f"kernels[{axis}] must have rank {rank + 2}, got shape {kernel.shape}")
    if any(size != 1 for index, size in enumerate(kernel.shape[:rank]) if index != axis):
        raise ValueError(f"kernels[{axis}] must have extent 1 on every spatial axis but {axis}, got {kernel.shape}")
    if kernel.shape[-2] != stage_channels:
        raise ValueError(
            f"kernels[{axis}] in-channels ({kernel.shape[-2]}) must equal its stage's input "
            f"channels ({stage_channels}); spatially separable stages have no groups"
        )


def _stage_pads(
    padding: Padding,
    stage_in_sizes: Sequence[int],
    kernel: np.ndarray,
    axis: int,
    strides: Sequence[int],
    dilation: Sequence[int],
) -> tuple[tuple[int, int], ...]:
    """The stage's (before, after) pairs: the padding rule evaluated on `axis`, nothing elsewhere.

    The rule is evaluated on the stage's own input, whose size on `axis` no earlier stage has
    changed, with the stage kernel's extent, stride and dilation on `axis`.
    """
    rank = kernel.ndim - 2
    pads = conv_padding(padding, stage_in_sizes, kernel.shape[:rank], strides, dilation)
    return tuple(pair if index == axis else (0, 0) for index, pair in enumerate(pads))


def conv_transpose(
    inputs: ArrayLike,
    kernel: ArrayLike,
    bias: ArrayLike | None = None,
    *,
    strides: IntOrPerAxis = 1,
    padding: Padding = "valid",
    output_padding: IntOrPerAxis | None = None,
    data_format: DataFormat = "channels_last",
    dilation_rate: IntOrPerAxis = 1,
    groups: int = 1,
) -> np.ndarray:
    """Transposed convolution, written directly as a scatter (not as zero insertion + conv).

    kernel: (*k, C_out / groups, C_in). Input channel c is in group g = c // (C_in / groups) and
    adds ``x[i, c] * kernel[t, j, c]`` into output channel g * (C_out / groups) + j at every
    full-output coordinate i * stride + t * dilation; the full output is then cropped as
    `transpose_crops` says.
    """
    kernel = _kernel(kernel, "kernel")
    rank = kernel.ndim - 2
    inputs = _to_channels_last(inputs, data_format, rank)
    outputs_per_group, in_channels = kernel.shape[-2:]
    groups = _as_int(groups, "groups")
    if in_channels != inputs.shape[-1]:
        raise ValueError(f"transpose kernel in-channels ({in_channels}) must equal input channels ({inputs.shape[-1]})")
    if groups < 1 or in_channels % groups:
        raise ValueError(f"groups ({groups}) must divide input channels ({in_channels})")
    out_channels = outputs_per_group * groups
    in_sizes = inputs.shape[1:-1]
    kernel_sizes = kernel.shape[:rank]
    strides = _per_axis(strides, rank, "strides", minimum=1)
    dilation = _per_axis(dilation_rate, rank, "dilation_rate", minimum=1)
    crops = transpose_crops(padding, output_padding, kernel_sizes, strides, dilation)
    out_sizes = transpose_output_sizes(in_sizes, kernel_sizes, strides, crops, dilation)
    outputs = np.zeros((inputs.shape[0], *out_sizes, out_channels))
    everything = slice(None)  # the batch axis
    mix = _transposed_grouped_mix(groups)
    tap_map = scatter_taps(in_sizes, kernel_sizes, strides, crops, dilation)
    for in_position, position_taps in tap_map.items():
        pixels = inputs[(everything, *in_position)]  # (N, C_in)
        for out_position, kernel_offset in position_taps:
            if out_position is None:  # lands in a cropped-away part
                continue
            outputs[(everything, *out_position)] += mix(pixels, kernel[kernel_offset])
    return _from_channels_last(_add_bias(outputs, bias, out_channels), data_format)
