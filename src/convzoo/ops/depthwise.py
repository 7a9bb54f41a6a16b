"""The depthwise convolution (each channel its own filters) and the depthwise-separable one."""

from __future__ import annotations

import numpy as np

from ..arithmetic import shared_layer
from ..errors import ConvZooError
from ._arrays import check_bias, check_inputs, kernel_rank
from ._docs import with_notes
from ._op import Arrays, differentiable
from ._pipeline import run, steps
from .conv import _flat, conv_from_pointwise


def grouped_from_depthwise(kernel: np.ndarray, in_channels: int, name: str = "kernel") -> np.ndarray:
    """`(*K, C, M) -> (*K, 1, C*M)`: a convolution kernel with C groups of one input channel.

    Flattening (C, M) row by row puts input channel c's m-th filter at output c*M + m, the
    order of Keras and PyTorch.
    """
    kernel_rank(kernel, name, "(*kernel_size, C_in, depth_multiplier)")
    if kernel.shape[-2] != in_channels:
        raise ConvZooError(
            f"A depthwise kernel (*kernel_size, C_in, depth_multiplier) must have the input's channels "
            f"on axis -2. Received: {name}.shape={kernel.shape}, input channels={in_channels}."
        )
    return kernel.reshape(*kernel.shape[:-2], 1, -1)


@differentiable("inputs", "kernel", "bias")
@with_notes
def depthwise_conv(
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
    """The depthwise convolution: each input channel convolved with its own filters.

    Input channel c, correlated with its `depth_multiplier` filters `kernel[..., c, m]`,
    gives output channels c*M + m. It is `conv` with C_in groups of one channel each.

    Args:
        {inputs}
        kernel: `(*K, C_in, depth_multiplier)`, Keras's layout; its rank sets the spatial rank.
        bias: `(C_in * depth_multiplier,)` or None.
        {strides}
        {padding}
        {data_format}
        {dilation_rate}
        {padding_mode}

    Returns:
        {returns} C_out = C_in * depth_multiplier.

    Shape:
        {shape}

    Raises:
        {raises}

    >>> import numpy as np, convzoo
    >>> convzoo.depthwise_conv(np.ones((2, 28, 28, 3)), np.ones((3, 3, 3, 2)), padding="same").shape
    (2, 28, 28, 6)
    """
    arrays = Arrays(inputs=inputs, kernel=kernel, bias=bias)
    x, kernel, bias = arrays.compute
    rank = kernel_rank(kernel, layout="(*kernel_size, C_in, depth_multiplier)")
    data_format, in_channels, in_sizes = check_inputs(x, rank, data_format)
    grouped = grouped_from_depthwise(kernel, in_channels)
    check_bias(bias, grouped.shape[-1])
    layer = shared_layer(
        "depthwise",
        in_sizes,
        in_channels,
        kernel_size=kernel.shape[:rank],
        strides=strides,
        padding=padding,
        dilation_rate=dilation_rate,
        depth_multiplier=kernel.shape[-1],
        padding_mode=padding_mode,
        batch=x.shape[0],
    )
    out, pullback = run(x, steps(layer, [grouped]), bias, data_format)
    return arrays.finish(out, lambda grad: _flat(pullback(grad), kernel.shape))


@differentiable("inputs", "depthwise_kernel", "pointwise_kernel", "bias")
@with_notes
def separable_conv(
    inputs,
    depthwise_kernel,
    pointwise_kernel,
    bias=None,
    *,
    strides=1,
    padding="valid",
    data_format="channels_last",
    dilation_rate=1,
    padding_mode="zeros",
):
    """The depthwise-separable convolution: a depthwise convolution, then a pointwise one.

    The depthwise stage filters each channel alone (with the strides, padding, dilation and
    padding mode given); the pointwise stage mixes the C_in * M channels it produces into
    C_out; the bias is added once, at the end. As Keras's SeparableConv and
    keras.ops.separable_conv.

    Args:
        {inputs}
        depthwise_kernel: `(*K, C_in, depth_multiplier)`; its rank sets the spatial rank.
        pointwise_kernel: `(1, ..., 1, C_in * depth_multiplier, C_out)` (or without the ones).
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
    >>> x = np.ones((2, 28, 28, 3))
    >>> convzoo.separable_conv(x, np.ones((3, 3, 3, 1)), np.ones((1, 1, 3, 32))).shape
    (2, 26, 26, 32)
    """
    arrays = Arrays(inputs=inputs, depthwise_kernel=depthwise_kernel, pointwise_kernel=pointwise_kernel, bias=bias)
    x, depthwise, pointwise, bias = arrays.compute
    rank = kernel_rank(depthwise, "depthwise_kernel", "(*kernel_size, C_in, depth_multiplier)")
    data_format, in_channels, in_sizes = check_inputs(x, rank, data_format)
    grouped = grouped_from_depthwise(depthwise, in_channels, "depthwise_kernel")
    mixing = conv_from_pointwise(pointwise, grouped.shape[-1], rank, "pointwise_kernel")
    check_bias(bias, mixing.shape[-1])
    layer = shared_layer(
        "separable",
        in_sizes,
        in_channels,
        filters=mixing.shape[-1],
        kernel_size=depthwise.shape[:rank],
        strides=strides,
        padding=padding,
        dilation_rate=dilation_rate,
        depth_multiplier=depthwise.shape[-1],
        padding_mode=padding_mode,
        batch=x.shape[0],
    )
    out, pullback = run(x, steps(layer, [grouped, mixing]), bias, data_format)

    def separable_pullback(grad):
        input_grad, (depthwise_grad, pointwise_grad), bias_grad = pullback(grad)
        return input_grad, depthwise_grad.reshape(depthwise.shape), pointwise_grad.reshape(pointwise.shape), bias_grad

    return arrays.finish(out, separable_pullback)
