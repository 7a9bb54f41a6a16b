"""The shift-and-add algorithm: one matrix product per kernel offset.

For a kernel offset t, the input positions that offset reads for every output position form
one strided slice of the padded input, `(N, *O, C_in)`. A convolution is the sum over the
offsets of that slice times the kernel's `(C_in/G, C_out)` matrix at t; its input gradient
adds the output gradient times the transposed matrix back into the same slice; its kernel
gradient at t is the slice's transpose times the output gradient. The loop runs over the
prod(K) kernel offsets, never over pixels or batch items, and the temporary memory is one
slice at a time (no im2col copy of the whole input).

Channels are grouped: input channel c belongs to group c // (C_in/G) and output channel f to
group f // (C_out/G); each group mixes only its own channels.
"""

from __future__ import annotations

import numpy as np

from ..arithmetic import ConvGeometry
from .padding import negate, pad_or_crop


def _offset_slices(offset: tuple[int, ...], geometry: ConvGeometry) -> tuple[slice, ...]:
    """Index of the padded-input positions that kernel offset `offset` reads, all outputs at once.

    Output position o reads padded position o*s + t*d on each axis.
    """
    return (slice(None),) + tuple(
        slice(t * d, t * d + s * (o - 1) + 1, s)
        for t, d, s, o in zip(offset, geometry.dilation, geometry.strides, geometry.out_sizes)
    )


def _mix(inputs: np.ndarray, matrix: np.ndarray, groups: int) -> np.ndarray:
    """Channel mixing `(..., C_in) x (C_in/G, C_out) -> (..., C_out)`, group by group."""
    lead, in_channels = inputs.shape[:-1], inputs.shape[-1]
    rows = inputs.reshape(-1, in_channels)  # (M, C_in), M = N * prod(O)
    per_group_in, out_channels = matrix.shape
    per_group_out = out_channels // groups
    if groups == 1:
        mixed = rows @ matrix
    elif per_group_in == 1:  # depthwise: a broadcast product, no reduction
        mixed = rows[:, :, None] * matrix.reshape(groups, per_group_out)
    else:  # (G, M, C_in/G) @ (G, C_in/G, C_out/G) -> (G, M, C_out/G)
        mixed = np.matmul(
            rows.reshape(-1, groups, per_group_in).transpose(1, 0, 2),
            matrix.reshape(per_group_in, groups, per_group_out).transpose(1, 0, 2),
        ).transpose(1, 0, 2)
    return mixed.reshape(*lead, out_channels)


def _mix_weights(inputs: np.ndarray, grad: np.ndarray, groups: int) -> np.ndarray:
    """The adjoint of `_mix` in its matrix: `(..., C_in), (..., C_out) -> (C_in/G, C_out)`."""
    in_channels, out_channels = inputs.shape[-1], grad.shape[-1]
    per_group_in, per_group_out = in_channels // groups, out_channels // groups
    rows, grad_rows = inputs.reshape(-1, in_channels), grad.reshape(-1, out_channels)
    if groups == 1:
        return rows.T @ grad_rows
    # (G, C_in/G, M) @ (G, M, C_out/G) -> (G, C_in/G, C_out/G) -> (C_in/G, G * C_out/G)
    per_group = np.matmul(
        rows.reshape(-1, groups, per_group_in).transpose(1, 2, 0),
        grad_rows.reshape(-1, groups, per_group_out).transpose(1, 0, 2),
    )
    return per_group.transpose(1, 0, 2).reshape(per_group_in, out_channels)


def swap_channels(kernel: np.ndarray, groups: int) -> np.ndarray:
    """`(*K, C_in/G, C_out) -> (*K, C_out/G, C_in)`: each group's matrix transposed."""
    *spatial, per_group_in, out_channels = kernel.shape
    grouped = kernel.reshape(*spatial, per_group_in, groups, out_channels // groups)
    return np.swapaxes(grouped, -1, -3).reshape(*spatial, out_channels // groups, groups * per_group_in)


def conv(x: np.ndarray, kernel: np.ndarray, geometry: ConvGeometry, groups: int) -> np.ndarray:
    padded = pad_or_crop(x, geometry.padding)
    out = np.zeros((x.shape[0], *geometry.out_sizes, kernel.shape[-1]), np.result_type(x, kernel))
    for offset in np.ndindex(*geometry.kernel_sizes):
        out += _mix(padded[_offset_slices(offset, geometry)], kernel[offset], groups)
    return out


def conv_input_grad(grad: np.ndarray, kernel: np.ndarray, geometry: ConvGeometry, groups: int) -> np.ndarray:
    backward = swap_channels(kernel, groups)
    in_channels = backward.shape[-1]
    padded = np.zeros((grad.shape[0], *geometry.padded_sizes, in_channels), np.result_type(grad, kernel))
    for offset in np.ndindex(*geometry.kernel_sizes):
        padded[_offset_slices(offset, geometry)] += _mix(grad, backward[offset], groups)
    return pad_or_crop(padded, negate(geometry.padding))


def conv_kernel_grad(x: np.ndarray, grad: np.ndarray, geometry: ConvGeometry, groups: int) -> np.ndarray:
    padded = pad_or_crop(x, geometry.padding)
    kernel_grad = np.empty((*geometry.kernel_sizes, x.shape[-1] // groups, grad.shape[-1]), np.result_type(x, grad))
    for offset in np.ndindex(*geometry.kernel_sizes):
        kernel_grad[offset] = _mix_weights(padded[_offset_slices(offset, geometry)], grad, groups)
    return kernel_grad
