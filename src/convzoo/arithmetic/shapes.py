"""Output sizes and the padding actually applied, per axis: the shape rules of every op.

Pure functions of Python ints (notation in `convzoo.arithmetic`). The ops call `conv_geometry`
and `transpose_geometry` (through `Layer`), so what the arithmetic says is what they compute.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from ..errors import ConvZooError

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


def interior_outputs(i: int, k: int, s: int = 1, p: Pair = (0, 0), d: int = 1) -> tuple[int, int]:
    """The outputs [lo, hi) whose every tap lands inside the input, not in its padding:
    o*s - p_before >= 0 and o*s + k_eff - 1 - p_before <= i - 1 (empty: lo == hi).

    >>> interior_outputs(5, 3, p=(1, 1))
    (1, 4)
    >>> interior_outputs(6, 3, s=2, p=(0, 1))
    (0, 2)
    """
    o = conv_output_size(i, k, s, p, d)
    lo = min(max(0, -(-p[0] // s)), max(o, 0))
    hi = min(o, (i - 1 + p[0] - (dilated_kernel_size(k, d) - 1)) // s + 1)
    return lo, max(lo, hi)


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

    @functools.cached_property  # asked several times per engine call; the fields never change
    def out_sizes(self) -> tuple[int, ...]:
        return tuple(map(conv_output_size, self.in_sizes, self.kernel_sizes, self.strides, self.padding, self.dilation))

    @property
    def padded_sizes(self) -> tuple[int, ...]:
        return tuple(i + p + q for i, (p, q) in zip(self.in_sizes, self.padding))

    @functools.cached_property
    def interior(self) -> tuple[tuple[int, int], ...]:
        """Per axis, the outputs [lo, hi) that read no padding (`interior_outputs`)."""
        return tuple(map(interior_outputs, self.in_sizes, self.kernel_sizes, self.strides, self.padding, self.dilation))


def conv_geometry(in_sizes, kernel_sizes, strides, dilation, padding: str | tuple[str | Pair, ...]) -> ConvGeometry:
    """Resolve a convolution's padding and check that its output is not empty.

    `strides` and `dilation` are tuples of ints; `padding` is a string for every axis or, per
    axis, a string or a (before, after) pair (a spatially separable stage pads one axis by
    the user's rule and the others by (0, 0)), as `convzoo.spec` and `Layer` give them.

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
