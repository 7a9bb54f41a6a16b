"""The transpose (fractionally strided) convolution: the input gradient of a convolution."""

from __future__ import annotations

from .. import spec
from ..arithmetic import shared_layer
from ..errors import ConvZooError
from ._arrays import check_bias, check_inputs, kernel_rank
from ._docs import with_notes
from ._op import Arrays, differentiable
from ._pipeline import run, steps
from .conv import _flat


@differentiable("inputs", "kernel", "bias")
@with_notes
def conv_transpose(
    inputs,
    kernel,
    bias=None,
    *,
    strides=1,
    padding="valid",
    output_padding=None,
    data_format="channels_last",
    dilation_rate=1,
    groups=1,
):
    """The transpose convolution: each input pixel scatters a scaled kernel into the output.

    It is exactly the gradient of `conv` with respect to its input, for the convolution with
    the same kernel array, strides, dilation and groups that maps the output's shape back to
    the input's (Keras's transpose kernel `(*K, C_out/groups, C_in)` is that convolution's
    kernel). Input pixels land `strides` apart in the output, hence "fractionally strided";
    no zeros are inserted and none are multiplied.

    Args:
        {inputs}
        kernel: `(*K, C_out/groups, C_in)`, Keras's layout (PyTorch's weight is
            `(C_in, C_out/groups, *K)`); its rank sets the spatial rank.
        {bias}
        {strides}
        padding: "valid" or "same", Keras's rules, or explicit as PyTorch's: an int, one int
            per spatial axis or one (before, after) pair per axis, cropped from the full
            output. "full" and "causal" are not defined for a transpose convolution.
        output_padding: None, an int or one int per axis, added at the end of each axis:
            smaller than `strides` with "valid"/"same" (Keras's rule), smaller than
            max(strides, dilation_rate) with explicit padding (PyTorch's rule). None lets
            "valid" give (S-1)*s + max(k_eff, s) and "same" give S*s, as Keras does.
        {data_format}
        {dilation_rate}
        groups: input and output channels split into `groups` groups, each group's outputs
            fed by its inputs only (PyTorch's `groups`; Keras has none).

    Returns:
        {returns}

    Shape:
        With k_eff = d*(K-1) + 1 and a = output_padding:
        explicit (p_before, p_after): O = (S-1)*s - p_before - p_after + k_eff + a (PyTorch);
        "valid": O = (S-1)*s + k_eff + a, or (S-1)*s + max(k_eff, s) if a is None (Keras);
        "same": O = (S-1)*s + (k_eff mod 2) + a, or S*s if a is None (Keras).

    Raises:
        {raises}

    >>> import numpy as np, convzoo
    >>> convzoo.conv_transpose(np.ones((1, 3, 1)), np.ones((3, 1, 1)), strides=2, padding=1, output_padding=1)[0, :, 0]
    array([1., 2., 1., 2., 1., 1.])
    >>> convzoo.conv_transpose(np.ones((8, 16, 16, 128)), np.ones((4, 4, 64, 128)), strides=2, padding=1).shape
    (8, 32, 32, 64)
    """
    arrays = Arrays(inputs=inputs, kernel=kernel, bias=bias)
    x, kernel, bias = arrays.compute
    rank = kernel_rank(kernel, layout="(*kernel_size, C_out/groups, C_in)")
    data_format, in_channels, in_sizes = check_inputs(x, rank, data_format)
    groups = _transpose_groups(groups, in_channels, kernel.shape)
    check_bias(bias, kernel.shape[-2] * groups)
    layer = shared_layer(
        "transpose",
        in_sizes,
        in_channels,
        filters=kernel.shape[-2] * groups,
        kernel_size=kernel.shape[:rank],
        strides=strides,
        padding=padding,
        output_padding=output_padding,
        dilation_rate=dilation_rate,
        groups=groups,
        batch=x.shape[0],
    )
    out, pullback = run(x, steps(layer, [kernel]), bias, data_format)
    return arrays.finish(out, lambda grad: _flat(pullback(grad)))


def _transpose_groups(groups: object, in_channels: int, kernel_shape: tuple[int, ...]) -> int:
    groups = spec.as_int(groups, "groups")
    if groups < 1:
        raise ConvZooError(f"`groups` must be >= 1. Received: groups={groups}.")
    if kernel_shape[-1] != in_channels:
        raise ConvZooError(
            f"A transpose convolution's kernel (*kernel_size, C_out/groups, C_in) must end with the "
            f"input's channels. Received: kernel.shape={kernel_shape}, input channels={in_channels}."
        )
    if in_channels % groups:
        raise ConvZooError(
            f"`groups` must divide the input's channels. Received: groups={groups}, input channels={in_channels}."
        )
    return groups
