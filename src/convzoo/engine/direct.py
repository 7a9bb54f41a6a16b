"""Direct convolution compiled with numba: one pass over memory, for few channels per group.

Depthwise and grouped convolutions with few channels per group are not matrix products of
any useful size (a depthwise 3x3 is 9 multiply-adds per output value), so lowering them to
GEMM spends its time moving data. These loops read each input row and write each output row
once, keep the output row being built in cache, and run the innermost loop along the
contiguous channel axis, which the compiler vectorises. Rows of the output, (n, d, h), are
shared among the threads.

Every rank runs as 3-D: a 1-D or 2-D problem gets axes of size 1 in front (views, no copies).
Padding is never materialised: each kernel offset's valid range of output columns is
computed once, and rows outside the input are skipped; a negative padding (a crop) is the same
arithmetic.

    forward:      y[n, o, g*Fg + f] = sum over t, ci of x[n, o*s + t*d - p, g*Cg + ci] * w[t, ci, g*Fg + f]
    kernel grad:  w'[t, ci, g*Fg + f] = sum over n, o of x[n, o*s + t*d - p, g*Cg + ci] * y'[n, o, g*Fg + f]

The input gradient is a forward call (see `engine.select`). The first call per dtype compiles
(about a second per function); `cache=True` keeps the machine code on disk for the next process.
"""

from __future__ import annotations

import numba
import numpy as np

from ..arithmetic import ConvGeometry


@numba.njit(cache=True, inline="always")
def _column_range(in_size, out_size, pad, offset, stride):
    # o*stride + offset - pad in [0, in_size)  <=>  first <= o < stop
    first = 0
    if pad - offset > 0:
        first = (pad - offset + stride - 1) // stride
    last_in = in_size - 1 + pad - offset
    stop = 0 if last_in < 0 else min(out_size, last_in // stride + 1)
    return first, max(first, stop)


@numba.njit(parallel=True, cache=True)
def _forward(x, w, out, strides, dilation, pads, groups):
    # x (N, D, H, W, C_in), w (KD, KH, KW, Cg, C_out), out (N, OD, OH, OW, C_out), zero-filled
    n_batch, in_d, in_h, in_w, _ = x.shape
    k_d, k_h, k_w, per_group_in, out_channels = w.shape
    _, out_d, out_h, out_w, _ = out.shape
    per_group_out = out_channels // groups
    for job in numba.prange(n_batch * out_d * out_h):
        n, rest = job // (out_d * out_h), job % (out_d * out_h)
        od, oh = rest // out_h, rest % out_h
        row = out[n, od, oh]  # (OW, C_out), stays in cache while every tap adds into it
        for td in range(k_d):
            i_d = od * strides[0] + td * dilation[0] - pads[0]
            if i_d < 0 or i_d >= in_d:
                continue
            for th in range(k_h):
                i_h = oh * strides[1] + th * dilation[1] - pads[1]
                if i_h < 0 or i_h >= in_h:
                    continue
                source = x[n, i_d, i_h]  # (W, C_in)
                for tw in range(k_w):
                    offset = tw * dilation[2]
                    first, stop = _column_range(in_w, out_w, pads[2], offset, strides[2])
                    taps = w[td, th, tw]  # (Cg, C_out)
                    if per_group_in == 1 and per_group_out == 1:  # depthwise, multiplier 1
                        weights = taps[0]
                        for ow in range(first, stop):
                            pixel = source[ow * strides[2] + offset - pads[2]]
                            target = row[ow]
                            for c in range(out_channels):
                                target[c] += pixel[c] * weights[c]
                    else:
                        for ow in range(first, stop):
                            pixel = source[ow * strides[2] + offset - pads[2]]
                            target = row[ow]
                            for g in range(groups):
                                base = g * per_group_out
                                for ci in range(per_group_in):
                                    value = pixel[g * per_group_in + ci]
                                    tap = taps[ci]
                                    for f in range(per_group_out):
                                        target[base + f] += value * tap[base + f]


@numba.njit(parallel=True, cache=True)
def _kernel_grad(x, grad, partial, strides, dilation, pads, groups):
    # x (N, D, H, W, C_in), grad (N, OD, OH, OW, C_out), partial (chunks, KD, KH, KW, Cg, C_out) zero-filled
    n_batch, in_d, in_h, in_w, _ = x.shape
    chunks, k_d, k_h, k_w, per_group_in, out_channels = partial.shape
    _, out_d, out_h, out_w, _ = grad.shape
    per_group_out = out_channels // groups
    jobs = n_batch * out_d * out_h
    for chunk in numba.prange(chunks):
        acc = partial[chunk]
        for job in range(chunk * jobs // chunks, (chunk + 1) * jobs // chunks):
            n, rest = job // (out_d * out_h), job % (out_d * out_h)
            od, oh = rest // out_h, rest % out_h
            row = grad[n, od, oh]
            for td in range(k_d):
                i_d = od * strides[0] + td * dilation[0] - pads[0]
                if i_d < 0 or i_d >= in_d:
                    continue
                for th in range(k_h):
                    i_h = oh * strides[1] + th * dilation[1] - pads[1]
                    if i_h < 0 or i_h >= in_h:
                        continue
                    source = x[n, i_d, i_h]
                    for tw in range(k_w):
                        offset = tw * dilation[2]
                        first, stop = _column_range(in_w, out_w, pads[2], offset, strides[2])
                        taps = acc[td, th, tw]
                        if per_group_in == 1 and per_group_out == 1:
                            sums = taps[0]
                            for ow in range(first, stop):
                                pixel = source[ow * strides[2] + offset - pads[2]]
                                g_row = row[ow]
                                for c in range(out_channels):
                                    sums[c] += pixel[c] * g_row[c]
                        else:
                            for ow in range(first, stop):
                                pixel = source[ow * strides[2] + offset - pads[2]]
                                g_row = row[ow]
                                for g in range(groups):
                                    base = g * per_group_out
                                    for ci in range(per_group_in):
                                        value = pixel[g * per_group_in + ci]
                                        tap = taps[ci]
                                        for f in range(per_group_out):
                                            tap[base + f] += value * g_row[base + f]


def _as_3d(array: np.ndarray, rank: int, lead: int) -> np.ndarray:
    """Insert size-1 spatial axes after the first `lead` axes so that there are 3."""
    return array.reshape(array.shape[:lead] + (1,) * (3 - rank) + array.shape[lead:])


def _params(geometry: ConvGeometry) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    fill = 3 - geometry.rank
    strides = (1,) * fill + geometry.strides
    dilation = (1,) * fill + geometry.dilation
    pads = (0,) * fill + tuple(before for before, _ in geometry.padding)
    return tuple(np.array(v, np.int64) for v in (strides, dilation, pads))


def _contiguous(array: np.ndarray, dtype: np.dtype) -> np.ndarray:
    return np.ascontiguousarray(array, dtype=dtype)


def conv(x: np.ndarray, kernel: np.ndarray, geometry: ConvGeometry, groups: int) -> np.ndarray:
    dtype = np.result_type(x, kernel)
    rank = geometry.rank  # 1 to 3: select.why_not keeps higher ranks away
    out = np.zeros((x.shape[0], *geometry.out_sizes, kernel.shape[-1]), dtype)
    _forward(
        _as_3d(_contiguous(x, dtype), rank, 1),
        _as_3d(_contiguous(kernel, dtype), rank, 0),
        _as_3d(out, rank, 1),
        *_params(geometry),
        groups,
    )
    return out


def conv_kernel_grad(x: np.ndarray, grad: np.ndarray, geometry: ConvGeometry, groups: int) -> np.ndarray:
    dtype = np.result_type(x, grad)
    rank = geometry.rank
    rows = x.shape[0] * int(np.prod(geometry.out_sizes[:-1], dtype=np.int64))
    chunks = max(1, min(rows, 4 * numba.get_num_threads()))
    shape = (*geometry.kernel_sizes, x.shape[-1] // groups, grad.shape[-1])
    partial = np.zeros((chunks, *((1,) * (3 - rank)), *shape), dtype)
    _kernel_grad(
        _as_3d(_contiguous(x, dtype), rank, 1),
        _as_3d(_contiguous(grad, dtype), rank, 1),
        partial,
        *_params(geometry),
        groups,
    )
    return partial.sum(axis=0).reshape(shape)
