"""The standard convolution (also strided, dilated and grouped) and the 1x1 pointwise one."""

from __future__ import annotations

import numpy as np

from ..arithmetic import shared_layer
from ..errors import ConvZooError
from ._arrays import check_bias, check_inputs, kernel_rank
from ._docs import with_notes
from ._op import Arrays, differentiable
from ._pipeline import run, steps


def channel_groups(in_channels: int, kernel: np.ndarray) -> int:
    """groups = C_in / kernel.shape[-2], as keras.ops.conv infers it; it must divide C_out."""
    per_group_in, out_channels = kernel.shape[-2:]
    if in_channels % per_group_in:
        raise ConvZooError(
            f"The kernel's input channels (kernel.shape[-2]) must divide the input's channels; "
            f"their ratio is the number of groups. Received: kernel.shape={kernel.shape}, "
            f"input channels={in_channels}."
        )
    groups = in_channels // per_group_in
    if out_channels % groups:
        raise ConvZooError(
            f"The number of groups must divide the number of filters (kernel.shape[-1]). Received: "
            f"groups={groups} (input channels {in_channels} / kernel.shape[-2] {per_group_in}), "
            f"filters={out_channels}."
        )
    return groups


def conv_from_pointwise(kernel: np.ndarray, in_channels: int, rank: int, name: str = "kernel") -> np.ndarray:
    """A pointwise kernel `(C_in, C_out)` or `(1, ..., 1, C_in, C_out)` as `(1, ..., 1, C_in, C_out)`."""
    if (
        kernel.ndim < 2
        or kernel.shape[:-1] not in ((in_channels,), (1,) * rank + (in_channels,))
        or not kernel.shape[-1]
    ):
        raise ConvZooError(
            f"`{name}` of a pointwise convolution must be (C_in, C_out) or (1, ..., 1, C_in, C_out) with "
            f"{rank} ones, C_in = {in_channels} the channels it mixes. Received: {name}.shape={kernel.shape}."
        )
    return kernel.reshape((1,) * rank + kernel.shape[-2:])


@differentiable("inputs", "kernel", "bias")
@with_notes
def conv(
    inputs,
    kernel,
    bias=None,
    *,
    strides=1,
    padding="valid",
    data_format="channels_last",
    dilation_rate=1,
    padding_mode="zeros",
):
    """The standard convolution (a cross-correlation), strided, dilated or grouped, 1-D to N-D.

    Every output position is the sum, over the kernel's taps and the input channels of its
    group, of the padded input at position o*strides + tap*dilation_rate times the kernel.
    Grouped convolution is a kernel that sees fewer input channels, as in keras.ops.conv:
    groups = C_in / kernel.shape[-2], and output channels come in contiguous groups.

    Args:
        {inputs}
        kernel: `(*K, C_in/groups, C_out)`, Keras's layout; its rank sets the spatial rank.
        {bias}
        {strides}
        {padding}
        {data_format}
        {dilation_rate}
        {padding_mode}

    Returns:
        {returns}

    Shape:
        {shape}

    Raises:
        {raises}

    >>> import numpy as np, convzoo
    >>> x = np.arange(5.0).reshape(1, 5, 1)          # (N, S, C) = (1, 5, 1)
    >>> convzoo.conv(x, np.ones((3, 1, 1)))[0, :, 0]  # sums of 3 neighbours
    array([3., 6., 9.])
    >>> convzoo.conv(np.ones((2, 28, 28, 4)), np.ones((3, 3, 2, 8)), strides=2, padding="same").shape
    (2, 14, 14, 8)
    """
    arrays = Arrays(inputs=inputs, kernel=kernel, bias=bias)
    x, kernel, bias = arrays.compute
    rank = kernel_rank(kernel)
    data_format, in_channels, in_sizes = check_inputs(x, rank, data_format)
    check_bias(bias, kernel.shape[-1])
    layer = shared_layer(
        "conv",
        in_sizes,
        in_channels,
        filters=kernel.shape[-1],
        kernel_size=kernel.shape[:rank],
        strides=strides,
        padding=padding,
        dilation_rate=dilation_rate,
        groups=channel_groups(in_channels, kernel),
        padding_mode=padding_mode,
        batch=x.shape[0],
    )
    out, pullback = run(x, steps(layer, [kernel]), bias, data_format)
    return arrays.finish(out, lambda grad: _flat(pullback(grad)))


@differentiable("inputs", "kernel", "bias")
@with_notes
def pointwise_conv(inputs, kernel, bias=None, *, data_format="channels_last"):
    """The 1x1 (pointwise) convolution: the same channel mixing at every position.

    It changes the number of channels without looking at neighbours: the output at each
    position is the input's channel vector times a `(C_in, C_out)` matrix.

    Args:
        {inputs} The spatial rank is the input's.
        kernel: `(C_in, C_out)`, or `(1, ..., 1, C_in, C_out)` with one 1 per spatial axis.
        {bias}
        {data_format}

    Returns:
        {returns}

    Shape:
        O = S: the spatial sizes do not change.

    Raises:
        {raises}

    >>> import numpy as np, convzoo
    >>> convzoo.pointwise_conv(np.ones((2, 28, 28, 32)), np.ones((32, 8))).shape
    (2, 28, 28, 8)
    """
    arrays = Arrays(inputs=inputs, kernel=kernel, bias=bias)
    x, kernel, bias = arrays.compute
    rank = x.ndim - 2
    if rank < 1:
        raise ConvZooError(
            f"`inputs` must be a batch with at least one spatial axis (rank >= 3). Received: inputs.shape={x.shape}."
        )
    data_format, in_channels, in_sizes = check_inputs(x, rank, data_format)
    matrix = conv_from_pointwise(kernel, in_channels, rank)
    check_bias(bias, kernel.shape[-1])
    layer = shared_layer("pointwise", in_sizes, in_channels, filters=kernel.shape[-1], batch=x.shape[0])
    out, pullback = run(x, steps(layer, [matrix]), bias, data_format)
    return arrays.finish(out, lambda grad: _flat(pullback(grad), kernel.shape))


def _flat(grads: tuple, kernel_shape: tuple[int, ...] | None = None) -> tuple:
    """(input, [kernel], bias) gradients of a one-step op as (input, kernel, bias)."""
    input_grad, (kernel_grad,), bias_grad = grads
    return input_grad, kernel_grad if kernel_shape is None else kernel_grad.reshape(kernel_shape), bias_grad
