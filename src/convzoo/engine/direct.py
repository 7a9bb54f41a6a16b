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


# contract: multiply-adds become FMAs (one rounding instead of two, as in the BLAS); no other
# fast-math flag, so NaN and Inf keep IEEE semantics. error_model="numpy": no division checks.
_JIT = dict(cache=True, fastmath={"contract"}, error_model="numpy")


@numba.njit(inline="always", **_JIT)
def _column_range(in_size, out_size, pad, offset, stride):
    # o*stride + offset - pad in [0, in_size)  <=>  first <= o < stop
    first = 0
    if pad - offset > 0:
        first = (pad - offset + stride - 1) // stride
    last_in = in_size - 1 + pad - offset
    stop = 0 if last_in < 0 else min(out_size, last_in // stride + 1)
    return first, max(first, stop)


@numba.njit(parallel=True, **_JIT)
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


@numba.njit(parallel=True, **_JIT)
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


@numba.njit(inline="always", **_JIT)
def _valid_rows(n, od, oh, in_d, in_h, k_d, k_h, strides, dilation, pads, rows, kernel_rows):
    count = 0
    for td in range(k_d):
        i_d = od * strides[0] + td * dilation[0] - pads[0]
        if i_d < 0 or i_d >= in_d:
            continue
        for th in range(k_h):
            i_h = oh * strides[1] + th * dilation[1] - pads[1]
            if i_h < 0 or i_h >= in_h:
                continue
            rows[count] = (n * in_d + i_d) * in_h + i_h
            kernel_rows[count] = td * k_h + th
            count += 1
    return count

@numba.njit(inline="always", **_JIT)
def _pass_3x3(orow, r0, r1, r2, q0, q1, q2, lo, hi, step, start, e, chans, first):
    for ow in range(lo, hi):
        o = orow[ow * chans:(ow + 1) * chans]
        p = ow * step + start
        a0 = r0[p:p + chans]; a1 = r0[p + e:p + e + chans]; a2 = r0[p + 2 * e:p + 2 * e + chans]
        b0 = r1[p:p + chans]; b1 = r1[p + e:p + e + chans]; b2 = r1[p + 2 * e:p + 2 * e + chans]
        c0 = r2[p:p + chans]; c1 = r2[p + e:p + e + chans]; c2 = r2[p + 2 * e:p + 2 * e + chans]
        if first:
            for c in range(chans):
                o[c] = (a0[c] * q0[0, c] + a1[c] * q0[1, c] + a2[c] * q0[2, c]
                        + b0[c] * q1[0, c] + b1[c] * q1[1, c] + b2[c] * q1[2, c]
                        + c0[c] * q2[0, c] + c1[c] * q2[1, c] + c2[c] * q2[2, c])
        else:
            for c in range(chans):
                o[c] += (a0[c] * q0[0, c] + a1[c] * q0[1, c] + a2[c] * q0[2, c]
                         + b0[c] * q1[0, c] + b1[c] * q1[1, c] + b2[c] * q1[2, c]
                         + c0[c] * q2[0, c] + c1[c] * q2[1, c] + c2[c] * q2[2, c])

@numba.njit(inline="always", **_JIT)
def _pass_1x3(orow, r0, q0, lo, hi, step, start, e, chans, first):
    for ow in range(lo, hi):
        o = orow[ow * chans:(ow + 1) * chans]
        p = ow * step + start
        a0 = r0[p:p + chans]; a1 = r0[p + e:p + e + chans]; a2 = r0[p + 2 * e:p + 2 * e + chans]
        if first:
            for c in range(chans):
                o[c] = a0[c] * q0[0, c] + a1[c] * q0[1, c] + a2[c] * q0[2, c]
        else:
            for c in range(chans):
                o[c] += a0[c] * q0[0, c] + a1[c] * q0[1, c] + a2[c] * q0[2, c]

@numba.njit(inline="always", **_JIT)
def _pass_1x1(orow, r0, q0, lo, hi, step, start, chans, first):
    for ow in range(lo, hi):
        o = orow[ow * chans:(ow + 1) * chans]
        p = ow * step + start
        a0 = r0[p:p + chans]
        if first:
            for c in range(chans):
                o[c] = a0[c] * q0[c]
        else:
            for c in range(chans):
                o[c] += a0[c] * q0[c]

@numba.njit(parallel=True, **_JIT)
def _depthwise_forward(x, w, out, strides, dilation, pads):
    # x (N, D, H, W, C), w (KD, KH, KW, 1, C), out (N, OD, OH, OW, C), every entry written
    n_batch, in_d, in_h, in_w, chans = x.shape
    k_d, k_h, k_w = w.shape[0], w.shape[1], w.shape[2]
    _, out_d, out_h, out_w, _ = out.shape
    xr = x.reshape(n_batch * in_d * in_h, in_w * chans)
    wr = w.reshape(k_d * k_h, k_w, chans)
    orows = out.reshape(n_batch * out_d * out_h, out_w * chans)
    sw, dw, pw = strides[2], dilation[2], pads[2]
    lo, _ = _column_range(in_w, out_w, pw, 0, sw)  # interior columns: every tw lands inside the row
    _, hi = _column_range(in_w, out_w, pw, (k_w - 1) * dw, sw)
    hi = max(lo, hi)
    step, e = sw * chans, dw * chans
    for job in numba.prange(n_batch * out_d * out_h):
        n, rest = job // (out_d * out_h), job % (out_d * out_h)
        od, oh = rest // out_h, rest % out_h
        rows = np.empty(k_d * k_h, np.int64)
        kernel_rows = np.empty(k_d * k_h, np.int64)
        count = _valid_rows(n, od, oh, in_d, in_h, k_d, k_h, strides, dilation, pads, rows, kernel_rows)
        orow = orows[job]
        if count == 0:
            orow[:] = 0
            continue
        first = True
        i = 0
        while i < count:
            t = 0
            if k_w % 3 == 0 and count - i >= 3:
                while t < k_w:
                    start = (t * dw - pw) * chans
                    _pass_3x3(orow, xr[rows[i]], xr[rows[i + 1]], xr[rows[i + 2]],
                              wr[kernel_rows[i], t:t + 3], wr[kernel_rows[i + 1], t:t + 3], wr[kernel_rows[i + 2], t:t + 3],
                              lo, hi, step, start, e, chans, first)
                    first = False
                    t += 3
                i += 3
            else:
                while t + 3 <= k_w:
                    start = (t * dw - pw) * chans
                    _pass_1x3(orow, xr[rows[i]], wr[kernel_rows[i], t:t + 3], lo, hi, step, start, e, chans, first)
                    first = False
                    t += 3
                while t < k_w:
                    start = (t * dw - pw) * chans
                    _pass_1x1(orow, xr[rows[i]], wr[kernel_rows[i], t], lo, hi, step, start, chans, first)
                    first = False
                    t += 1
                i += 1
        # border columns: some taps fall outside the row
        for ow in range(out_w):
            if lo <= ow < hi:
                continue
            o = orow[ow * chans:(ow + 1) * chans]
            o[:] = 0
            for i in range(count):
                source = xr[rows[i]]
                for t in range(k_w):
                    iw = ow * sw + t * dw - pw
                    if iw < 0 or iw >= in_w:
                        continue
                    a0 = source[iw * chans:(iw + 1) * chans]
                    q0 = wr[kernel_rows[i], t]
                    for c in range(chans):
                        o[c] += a0[c] * q0[c]

@numba.njit(inline="always", **_JIT)
def _dot_columns(acc, source, g_row, first, stop, step, start, chans):
    # acc[c] += sum over ow in [first, stop) of source[ow*step + start + c] * g_row[ow*chans + c], 4 columns at a time
    ow = first
    while ow + 4 <= stop:
        p = ow * step + start
        a0 = source[p:p + chans]; a1 = source[p + step:p + step + chans]
        a2 = source[p + 2 * step:p + 2 * step + chans]; a3 = source[p + 3 * step:p + 3 * step + chans]
        u = ow * chans
        g0 = g_row[u:u + chans]; g1 = g_row[u + chans:u + 2 * chans]
        g2 = g_row[u + 2 * chans:u + 3 * chans]; g3 = g_row[u + 3 * chans:u + 4 * chans]
        for c in range(chans):
            acc[c] += a0[c] * g0[c] + a1[c] * g1[c] + a2[c] * g2[c] + a3[c] * g3[c]
        ow += 4
    while ow < stop:
        p = ow * step + start
        a0 = source[p:p + chans]
        g0 = g_row[ow * chans:(ow + 1) * chans]
        for c in range(chans):
            acc[c] += a0[c] * g0[c]
        ow += 1

@numba.njit(parallel=True, **_JIT)
def _depthwise_kernel_grad(x, grad, partial, strides, dilation, pads):
    # x (N, D, H, W, C), grad (N, OD, OH, OW, C), partial (chunks, KD, KH, KW, 1, C) zero-filled
    n_batch, in_d, in_h, in_w, chans = x.shape
    chunks, k_d, k_h, k_w = partial.shape[0], partial.shape[1], partial.shape[2], partial.shape[3]
    _, out_d, out_h, out_w, _ = grad.shape
    xr = x.reshape(n_batch * in_d * in_h, in_w * chans)
    grows = grad.reshape(n_batch * out_d * out_h, out_w * chans)
    sw, dw, pw = strides[2], dilation[2], pads[2]
    jobs = n_batch * out_d * out_h
    for chunk in numba.prange(chunks):
        acc = partial[chunk].reshape(k_d * k_h, k_w, chans)
        rows = np.empty(k_d * k_h, np.int64)
        kernel_rows = np.empty(k_d * k_h, np.int64)
        for job in range(chunk * jobs // chunks, (chunk + 1) * jobs // chunks):
            n, rest = job // (out_d * out_h), job % (out_d * out_h)
            od, oh = rest // out_h, rest % out_h
            count = _valid_rows(n, od, oh, in_d, in_h, k_d, k_h, strides, dilation, pads, rows, kernel_rows)
            g_row = grows[job]
            for i in range(count):
                source = xr[rows[i]]
                for t in range(k_w):
                    first, stop = _column_range(in_w, out_w, pw, t * dw, sw)
                    _dot_columns(acc[kernel_rows[i], t], source, g_row, first, stop, sw * chans, (t * dw - pw) * chans, chans)


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


def _depthwise(groups: int, in_channels: int, out_channels: int) -> bool:
    """One input and one output channel per group: the channels vectorise as one axis."""
    return groups == in_channels == out_channels


def conv(x: np.ndarray, kernel: np.ndarray, geometry: ConvGeometry, groups: int) -> np.ndarray:
    dtype = np.result_type(x, kernel)
    rank = geometry.rank  # 1 to 3: select.why_not keeps higher ranks away
    shape = (x.shape[0], *geometry.out_sizes, kernel.shape[-1])
    x3, kernel3 = _as_3d(_contiguous(x, dtype), rank, 1), _as_3d(_contiguous(kernel, dtype), rank, 0)
    if _depthwise(groups, x.shape[-1], kernel.shape[-1]):
        out = np.empty(shape, dtype)  # the kernel writes every entry
        _depthwise_forward(x3, kernel3, _as_3d(out, rank, 1), *_params(geometry))
    else:
        out = np.zeros(shape, dtype)
        _forward(x3, kernel3, _as_3d(out, rank, 1), *_params(geometry), groups)
    return out


def conv_kernel_grad(x: np.ndarray, grad: np.ndarray, geometry: ConvGeometry, groups: int) -> np.ndarray:
    dtype = np.result_type(x, grad)
    rank = geometry.rank
    rows = x.shape[0] * int(np.prod(geometry.out_sizes[:-1], dtype=np.int64))
    chunks = max(1, min(rows, 4 * numba.get_num_threads()))
    shape = (*geometry.kernel_sizes, x.shape[-1] // groups, grad.shape[-1])
    partial = np.zeros((chunks, *((1,) * (3 - rank)), *shape), dtype)
    operands = (_as_3d(_contiguous(x, dtype), rank, 1), _as_3d(_contiguous(grad, dtype), rank, 1), partial)
    if _depthwise(groups, x.shape[-1], grad.shape[-1]):
        _depthwise_kernel_grad(*operands, *_params(geometry))
    else:
        _kernel_grad(*operands, *_params(geometry), groups)
    return partial.sum(axis=0).reshape(shape)
