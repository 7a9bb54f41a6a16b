"""Convolution as matrix products (GEMM), over sliding-window views of the padded input.

`conv` gathers every window of the padded input into the rows of a column matrix (im2col,
one row per output position, prod(K) * C_in columns in the kernel's order) and multiplies it
by the kernel reshaped to (prod(K) * C_in, C_out): one large product instead of one per
kernel offset. `conv_input_grad` runs the same product backwards (output gradient times the
kernel's transpose, one row of columns per output position) and adds each column block back
into the padded input at its window (col2im, one strided slice-add per kernel offset).
`conv_kernel_grad` is the column matrix's transpose times the output gradient.

Groups are one batched product over the groups, `(G, M, prod(K) * C_in/G) @ (G, prod(K) * C_in/G, C_out/G)`.

Temporary memory. The column matrix is built for a chunk of the batch at a time, so that it
holds at most `column_budget(...)` bytes (the size of the call's input plus its output) or
one batch item, whichever is larger.
"""

from __future__ import annotations

import math

import numpy as np

from ..arithmetic import ConvGeometry
from .padding import negate, pad_or_crop


def _windows(padded: np.ndarray, geometry: ConvGeometry, writeable: bool = False) -> np.ndarray:
    """`(N, *P, C) -> (N, *O, *K, C)`, a strided view: entry [n, o, t] is padded[n, o*s + t*d].

    For a fixed t the entries are distinct elements, so a writeable view can take `+=` per t.
    """
    rank = geometry.rank
    spatial = tuple(range(1, rank + 1))
    spans = tuple((k - 1) * d + 1 for k, d in zip(geometry.kernel_sizes, geometry.dilation))
    view = np.lib.stride_tricks.sliding_window_view(
        padded, spans, axis=spatial, writeable=writeable
    )  # (N, *P', C, *spans)
    view = view[(slice(None), *(slice(None, (o - 1) * s + 1, s) for o, s in zip(geometry.out_sizes, geometry.strides)))]
    view = view[(Ellipsis, *(slice(None, None, d) for d in geometry.dilation))]
    return np.moveaxis(view, rank + 1, -1)


def column_budget(x: np.ndarray, out_shape: tuple[int, ...], itemsize: int) -> int:
    return x.size * itemsize + math.prod(out_shape) * itemsize


def _chunks(batch: int, lines: int, item_bytes: int, budget: int):
    """Index pairs (batch slice, first-output-axis slice) whose column matrices hold at most
    `budget` bytes: whole batch items together while they fit, else lines of one item."""
    if item_bytes <= budget:
        step = max(1, min(batch, budget // max(item_bytes, 1)))
        for start in range(0, batch, step):
            yield slice(start, min(start + step, batch)), slice(None)
        return
    step = max(1, budget * lines // item_bytes)
    for n in range(batch):
        for start in range(0, lines, step):
            yield slice(n, n + 1), slice(start, min(start + step, lines))


def _group_columns(columns: np.ndarray, groups: int, taps: int) -> np.ndarray:
    """`(M, taps * C) -> (G, M, taps * C/G)`."""
    rows = columns.shape[0]
    return columns.reshape(rows, taps, groups, -1).transpose(2, 0, 1, 3).reshape(groups, rows, -1)


def _group_kernel(kernel: np.ndarray, groups: int) -> np.ndarray:
    """`(*K, C/G, C_out) -> (G, prod(K) * C/G, C_out/G)`."""
    taps = math.prod(kernel.shape[:-2])
    per_group_in, out_channels = kernel.shape[-2:]
    return (
        kernel.reshape(taps, per_group_in, groups, out_channels // groups)
        .transpose(2, 0, 1, 3)
        .reshape(groups, taps * per_group_in, -1)
    )


def conv(x: np.ndarray, kernel: np.ndarray, geometry: ConvGeometry, groups: int) -> np.ndarray:
    dtype = np.result_type(x, kernel)
    taps = math.prod(geometry.kernel_sizes)
    out_channels = kernel.shape[-1]
    out = np.empty((x.shape[0], *geometry.out_sizes, out_channels), dtype)
    windows = _windows(pad_or_crop(x, geometry.padding), geometry)
    positions = math.prod(geometry.out_sizes)
    matrix = _group_kernel(kernel.astype(dtype, copy=False), groups)
    item_bytes = positions * taps * x.shape[-1] * dtype.itemsize
    lines = geometry.out_sizes[0]
    for chunk in _chunks(x.shape[0], lines, item_bytes, column_budget(x, out.shape, dtype.itemsize)):
        columns = windows[chunk].reshape(-1, taps * x.shape[-1])  # the im2col copy
        target = out[chunk].reshape(-1, out_channels)
        if groups == 1:
            np.matmul(columns, matrix[0], out=target)
        else:
            mixed = np.matmul(_group_columns(columns, groups, taps), matrix)  # (G, M, C_out/G)
            target[...] = mixed.transpose(1, 0, 2).reshape(target.shape)
    return out


def conv_input_grad(grad: np.ndarray, kernel: np.ndarray, geometry: ConvGeometry, groups: int) -> np.ndarray:
    dtype = np.result_type(grad, kernel)
    taps = math.prod(geometry.kernel_sizes)
    per_group_in, out_channels = kernel.shape[-2:]
    in_channels = per_group_in * groups
    padded = np.zeros((grad.shape[0], *geometry.padded_sizes, in_channels), dtype)
    windows = _windows(padded, geometry, writeable=True)  # a view into `padded`
    matrix = _group_kernel(kernel.astype(dtype, copy=False), groups)  # (G, taps * C/G, C_out/G)
    positions = math.prod(geometry.out_sizes)
    item_bytes = positions * taps * in_channels * dtype.itemsize
    lines = geometry.out_sizes[0]
    for chunk in _chunks(grad.shape[0], lines, item_bytes, column_budget(grad, padded.shape, dtype.itemsize)):
        rows = grad[chunk].reshape(-1, out_channels)
        if groups == 1:
            columns = rows @ matrix[0].T  # (M, taps * C_in)
        else:
            per_group = np.matmul(
                rows.reshape(-1, groups, out_channels // groups).transpose(1, 0, 2), matrix.transpose(0, 2, 1)
            )  # (G, M, taps * C/G)
            columns = per_group.reshape(groups, -1, taps, per_group_in).transpose(1, 2, 0, 3)
        target = windows[chunk]  # (b, *O, *K, C_in)
        columns = columns.reshape(*target.shape[: geometry.rank + 1], taps, in_channels)
        for index, offset in enumerate(np.ndindex(*geometry.kernel_sizes)):
            target[(Ellipsis, *offset, slice(None))] += columns[..., index, :]  # col2im
    return pad_or_crop(padded, negate(geometry.padding))


def conv_kernel_grad(x: np.ndarray, grad: np.ndarray, geometry: ConvGeometry, groups: int) -> np.ndarray:
    dtype = np.result_type(x, grad)
    taps = math.prod(geometry.kernel_sizes)
    in_channels, out_channels = x.shape[-1], grad.shape[-1]
    windows = _windows(pad_or_crop(x, geometry.padding), geometry)
    positions = math.prod(geometry.out_sizes)
    item_bytes = positions * taps * in_channels * dtype.itemsize
    lines = geometry.out_sizes[0]
    total = np.zeros((groups, taps * (in_channels // groups), out_channels // groups), dtype)
    for chunk in _chunks(x.shape[0], lines, item_bytes, column_budget(x, grad.shape, dtype.itemsize)):
        columns = windows[chunk].reshape(-1, taps * in_channels)
        rows = grad[chunk].reshape(-1, out_channels)
        if groups == 1:
            total[0] += columns.T @ rows
        else:
            total += np.matmul(
                _group_columns(columns, groups, taps).transpose(0, 2, 1),
                rows.reshape(-1, groups, out_channels // groups).transpose(1, 0, 2),
            )
    # (G, taps * C/G, C_out/G) -> (*K, C/G, C_out), the inverse of _group_kernel
    per_group_in = in_channels // groups
    kernel_grad = total.reshape(groups, taps, per_group_in, -1).transpose(1, 2, 0, 3)
    return kernel_grad.reshape(*geometry.kernel_sizes, per_group_in, out_channels)
