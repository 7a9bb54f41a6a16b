"""The spatially separable convolution: one kernel per spatial axis, applied in turn."""

from __future__ import annotations

from ..arithmetic import shared_layer
from ..errors import ConvZooError
from ._arrays import check_bias, check_inputs, kernel_rank
from ._docs import with_notes
from ._op import Arrays, differentiable
from ._pipeline import run, steps


@differentiable("inputs", "kernels", "bias")
@with_notes
def spatially_separable_conv(
    inputs,
    kernels,
    bias=None,
    *,
    strides=1,
    padding="valid",
    data_format="channels_last",
    dilation_rate=1,
    padding_mode="zeros",
):
    """The spatially separable convolution: a (k, 1) kernel, then a (1, k) one (in 2-D).

    `kernels` holds one convolution kernel per spatial axis, kernel i spanning axis i only
    (extent 1 on the others). They run in order; kernel i uses the stride, dilation and
    padding of axis i on that axis, and the other axes pass through unstrided and unpadded.
    The bias is added once, at the end. With one channel and no bias in between, it equals a
    convolution by the outer product of the kernels, at a fraction of the parameters.

    Args:
        {inputs}
        kernels: a list or tuple of one kernel per spatial axis, kernel i
            `(1, ..., K_i, ..., 1, C_i, C_{{i+1}})` in conv layout (no groups), with C_0 = C_in and
            the last kernel's C_out the output's channels.
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
    >>> kernels = [np.ones((3, 1, 3, 32)), np.ones((1, 3, 32, 32))]
    >>> convzoo.spatially_separable_conv(np.ones((2, 28, 28, 3)), kernels).shape
    (2, 26, 26, 32)
    """
    arrays = Arrays(sequences=("kernels",), inputs=inputs, kernels=kernels, bias=bias)
    x, kernels, bias = arrays.compute
    rank = _check_kernels(kernels)
    data_format, in_channels, in_sizes = check_inputs(x, rank, data_format)
    channels = [in_channels] + [kernel.shape[-1] for kernel in kernels]
    for axis, kernel in enumerate(kernels):
        if kernel.shape[-2] != channels[axis]:
            raise ConvZooError(
                f"Kernel {axis} must take the {channels[axis]} channels its stage receives on axis -2 "
                f"(no groups). Received: kernels[{axis}].shape={kernel.shape}."
            )
    check_bias(bias, channels[-1])
    layer = shared_layer(
        "spatially-separable",
        in_sizes,
        in_channels,
        filters=channels[-1],
        kernel_size=tuple(kernel.shape[axis] for axis, kernel in enumerate(kernels)),
        strides=strides,
        padding=padding,
        dilation_rate=dilation_rate,
        intermediate_filters=tuple(channels[1:-1]) or None,
        padding_mode=padding_mode,
        batch=x.shape[0],
    )
    out, pullback = run(x, steps(layer, list(kernels)), bias, data_format)

    def spatial_pullback(grad):
        input_grad, kernel_grads, bias_grad = pullback(grad)
        return input_grad, type(kernels)(kernel_grads), bias_grad

    return arrays.finish(out, spatial_pullback)


def _check_kernels(kernels) -> int:
    """The spatial rank, checking there is one kernel per axis, each spanning its axis only."""
    if not kernels:
        raise ConvZooError("`kernels` must hold one kernel per spatial axis. Received: no kernels.")
    rank = kernel_rank(kernels[0], "kernels[0]")
    for axis, kernel in enumerate(kernels):
        kernel_rank(kernel, f"kernels[{axis}]")
        spans_only_its_axis = all(size == 1 for a, size in enumerate(kernel.shape[:rank]) if a != axis)
        if len(kernels) != rank or kernel.ndim != rank + 2 or not spans_only_its_axis:
            raise ConvZooError(
                f"`kernels` must hold one kernel per spatial axis, kernel i of extent 1 on every "
                f"spatial axis but axis i, all of rank {rank + 2}. "
                f"Received: kernel shapes {[kernel.shape for kernel in kernels]}."
            )
    return rank
