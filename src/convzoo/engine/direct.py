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
from .simd import ROWS, VECTOR_BYTES, lanes, tile, tile_one

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


@numba.njit(parallel=True, **_JIT)
def _grouped_forward(x, packed, out, kernel_sizes, strides, dilation, pads, lo, hi):
    # x (N, D, H, W, C_in); packed (G, FB, T * Cg * L): group g's kernel with its output channels
    # in FB blocks of L lanes (zero-padded), tap-major; out (N, OD, OH, OW, C_out), every entry
    # written. Interior columns [lo, hi) go ROWS at a time (the last tile overlaps the one before);
    # a border column runs alone (ROWS copies of it) over the taps that land inside the row.
    n_batch, in_d, in_h, in_w, in_channels = x.shape
    _, out_d, out_h, out_w, out_channels = out.shape
    groups, blocks = packed.shape[0], packed.shape[1]
    k_d, k_h, k_w = kernel_sizes[0], kernel_sizes[1], kernel_sizes[2]
    per_group_in, per_group_out = in_channels // groups, out_channels // groups
    width = VECTOR_BYTES // x.itemsize
    x_flat, w_flat = x.reshape(x.size), packed.reshape(packed.size)
    for job in numba.prange(n_batch * out_d * out_h):
        n, rest = job // (out_d * out_h), job % (out_d * out_h)
        od, oh = rest // out_h, rest % out_h
        x_outer = np.empty(k_d * k_h * k_w, np.int64)  # per valid tap: its input offset, its weight rows
        w_outer = np.empty(k_d * k_h * k_w, np.int64)
        columns = np.empty(k_d * k_h * k_w, np.int64)  # per valid tap: its input column at output column 0
        taps = 0
        for td in range(k_d):
            i_d = od * strides[0] + td * dilation[0] - pads[0]
            if i_d < 0 or i_d >= in_d:
                continue
            for th in range(k_h):
                i_h = oh * strides[1] + th * dilation[1] - pads[1]
                if i_h < 0 or i_h >= in_h:
                    continue
                for tw in range(k_w):
                    columns[taps] = tw * dilation[2] - pads[2]
                    x_outer[taps] = (((n * in_d + i_d) * in_h + i_h) * in_w + columns[taps]) * in_channels
                    w_outer[taps] = ((td * k_h + th) * k_w + tw) * per_group_in * width
                    taps += 1
        acc = np.zeros((ROWS, width), x.dtype)
        bases = np.empty(ROWS, np.int64)
        border_x = np.empty(k_d * k_h * k_w, np.int64)
        border_w = np.empty(k_d * k_h * k_w, np.int64)
        row = out[n, od, oh]
        ow = 0
        while ow < out_w:
            if lo <= ow < hi and hi - lo >= ROWS:
                start = min(ow, hi - ROWS)
                for p in range(ROWS):
                    bases[p] = (start + p) * strides[2] * in_channels
                used, count = ROWS, taps
                ow = start + ROWS
            else:
                start, count = ow, 0
                for t in range(taps):
                    column = ow * strides[2] + columns[t]
                    if 0 <= column < in_w:
                        border_x[count], border_w[count] = x_outer[t], w_outer[t]
                        count += 1
                bases[:] = ow * strides[2] * in_channels
                used = 1
                ow += 1
            for g in range(groups):
                for block in range(blocks):
                    w_base = (g * blocks + block) * packed.shape[2]
                    if used == ROWS:
                        tile(acc, x_flat, bases, x_outer, w_outer, count, per_group_in, 1, w_flat, width, w_base)
                    else:
                        tile_one(acc, x_flat, bases, border_x, border_w, count, per_group_in, 1, w_flat, width, w_base)
                    first = g * per_group_out + block * width
                    for p in range(used):
                        for lane in range(min(width, per_group_out - block * width)):
                            row[start + p, first + lane] = acc[p, lane]
                for p in range(ROWS):
                    bases[p] += per_group_in


@numba.njit(parallel=True, **_JIT)
def _grouped_kernel_grad(x, grad, partial, strides, dilation, pads, per_group_out):
    # x (N, D, H, W, C_in); grad (N, OD, OH, OW, G * FB * L): the output gradient with each group's
    # channels zero-padded to FB blocks of L lanes; partial (chunks, KD, KH, KW, Cg, C_out) zero-filled.
    # Per chunk of output rows, kernel tap and group: ROWS input channels x L output channels,
    # summed over the chunk's rows (outer) and each row's columns (inner) in registers.
    n_batch, in_d, in_h, in_w, in_channels = x.shape
    chunks, k_d, k_h, k_w, per_group_in, out_channels = partial.shape
    _, out_d, out_h, out_w, padded = grad.shape
    groups = out_channels // per_group_out
    width = VECTOR_BYTES // x.itemsize
    blocks = padded // (groups * width)
    x_flat, g_flat = x.reshape(x.size), grad.reshape(grad.size)
    jobs = n_batch * out_d * out_h
    for chunk in numba.prange(chunks):
        sums = partial[chunk]
        acc = np.zeros((ROWS, width), x.dtype)
        bases = np.empty(ROWS, np.int64)
        begin, end = chunk * jobs // chunks, (chunk + 1) * jobs // chunks
        x_rows = np.empty(end - begin, np.int64)  # the input row a tap reads for each output row
        g_rows = np.empty(end - begin, np.int64)
        for td in range(k_d):
            for th in range(k_h):
                count = 0
                for job in range(begin, end):
                    n, rest = job // (out_d * out_h), job % (out_d * out_h)
                    od, oh = rest // out_h, rest % out_h
                    i_d = od * strides[0] + td * dilation[0] - pads[0]
                    i_h = oh * strides[1] + th * dilation[1] - pads[1]
                    if 0 <= i_d < in_d and 0 <= i_h < in_h:
                        x_rows[count] = ((n * in_d + i_d) * in_h + i_h) * in_w * in_channels
                        g_rows[count] = job * out_w * padded
                        count += 1
                if count == 0:
                    continue
                for tw in range(k_w):
                    offset = tw * dilation[2]
                    first, stop = _column_range(in_w, out_w, pads[2], offset, strides[2])
                    if stop <= first:
                        continue
                    x_at = (first * strides[2] + offset - pads[2]) * in_channels
                    for g in range(groups):
                        for ci in range(0, per_group_in, ROWS):
                            for p in range(ROWS):  # past the group's channels: repeat the last, drop it below
                                bases[p] = x_at + g * per_group_in + min(ci + p, per_group_in - 1)
                            for block in range(blocks):
                                w_base = first * padded + (g * blocks + block) * width
                                tile(
                                    acc,
                                    x_flat,
                                    bases,
                                    x_rows,
                                    g_rows,
                                    count,
                                    stop - first,
                                    strides[2] * in_channels,
                                    g_flat,
                                    padded,
                                    w_base,
                                )
                                target = g * per_group_out + block * width
                                for p in range(min(ROWS, per_group_in - ci)):
                                    for lane in range(min(width, per_group_out - block * width)):
                                        sums[td, th, tw, ci + p, target + lane] += acc[p, lane]


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
        o = orow[ow * chans : (ow + 1) * chans]
        p = ow * step + start
        a0 = r0[p : p + chans]
        a1 = r0[p + e : p + e + chans]
        a2 = r0[p + 2 * e : p + 2 * e + chans]
        b0 = r1[p : p + chans]
        b1 = r1[p + e : p + e + chans]
        b2 = r1[p + 2 * e : p + 2 * e + chans]
        c0 = r2[p : p + chans]
        c1 = r2[p + e : p + e + chans]
        c2 = r2[p + 2 * e : p + 2 * e + chans]
        if first:
            for c in range(chans):
                o[c] = (
                    a0[c] * q0[0, c]
                    + a1[c] * q0[1, c]
                    + a2[c] * q0[2, c]
                    + b0[c] * q1[0, c]
                    + b1[c] * q1[1, c]
                    + b2[c] * q1[2, c]
                    + c0[c] * q2[0, c]
                    + c1[c] * q2[1, c]
                    + c2[c] * q2[2, c]
                )
        else:
            for c in range(chans):
                o[c] += (
                    a0[c] * q0[0, c]
                    + a1[c] * q0[1, c]
                    + a2[c] * q0[2, c]
                    + b0[c] * q1[0, c]
                    + b1[c] * q1[1, c]
                    + b2[c] * q1[2, c]
                    + c0[c] * q2[0, c]
                    + c1[c] * q2[1, c]
                    + c2[c] * q2[2, c]
                )


@numba.njit(inline="always", **_JIT)
def _pass_1x3(orow, r0, q0, lo, hi, step, start, e, chans, first):
    for ow in range(lo, hi):
        o = orow[ow * chans : (ow + 1) * chans]
        p = ow * step + start
        a0 = r0[p : p + chans]
        a1 = r0[p + e : p + e + chans]
        a2 = r0[p + 2 * e : p + 2 * e + chans]
        if first:
            for c in range(chans):
                o[c] = a0[c] * q0[0, c] + a1[c] * q0[1, c] + a2[c] * q0[2, c]
        else:
            for c in range(chans):
                o[c] += a0[c] * q0[0, c] + a1[c] * q0[1, c] + a2[c] * q0[2, c]


@numba.njit(inline="always", **_JIT)
def _pass_1x1(orow, r0, q0, lo, hi, step, start, chans, first):
    for ow in range(lo, hi):
        o = orow[ow * chans : (ow + 1) * chans]
        p = ow * step + start
        a0 = r0[p : p + chans]
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
                    _pass_3x3(
                        orow,
                        xr[rows[i]],
                        xr[rows[i + 1]],
                        xr[rows[i + 2]],
                        wr[kernel_rows[i], t : t + 3],
                        wr[kernel_rows[i + 1], t : t + 3],
                        wr[kernel_rows[i + 2], t : t + 3],
                        lo,
                        hi,
                        step,
                        start,
                        e,
                        chans,
                        first,
                    )
                    first = False
                    t += 3
                i += 3
            else:
                while t + 3 <= k_w:
                    start = (t * dw - pw) * chans
                    _pass_1x3(orow, xr[rows[i]], wr[kernel_rows[i], t : t + 3], lo, hi, step, start, e, chans, first)
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
            o = orow[ow * chans : (ow + 1) * chans]
            o[:] = 0
            for i in range(count):
                source = xr[rows[i]]
                for t in range(k_w):
                    iw = ow * sw + t * dw - pw
                    if iw < 0 or iw >= in_w:
                        continue
                    a0 = source[iw * chans : (iw + 1) * chans]
                    q0 = wr[kernel_rows[i], t]
                    for c in range(chans):
                        o[c] += a0[c] * q0[c]


@numba.njit(inline="always", **_JIT)
def _dot_columns(acc, source, g_row, first, stop, step, start, chans):
    # acc[c] += sum over ow in [first, stop) of source[ow*step + start + c] * g_row[ow*chans + c], 4 columns at a time
    ow = first
    while ow + 4 <= stop:
        p = ow * step + start
        a0 = source[p : p + chans]
        a1 = source[p + step : p + step + chans]
        a2 = source[p + 2 * step : p + 2 * step + chans]
        a3 = source[p + 3 * step : p + 3 * step + chans]
        u = ow * chans
        g0 = g_row[u : u + chans]
        g1 = g_row[u + chans : u + 2 * chans]
        g2 = g_row[u + 2 * chans : u + 3 * chans]
        g3 = g_row[u + 3 * chans : u + 4 * chans]
        for c in range(chans):
            acc[c] += a0[c] * g0[c] + a1[c] * g1[c] + a2[c] * g2[c] + a3[c] * g3[c]
        ow += 4
    while ow < stop:
        p = ow * step + start
        a0 = source[p : p + chans]
        g0 = g_row[ow * chans : (ow + 1) * chans]
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
                    _dot_columns(
                        acc[kernel_rows[i], t], source, g_row, first, stop, sw * chans, (t * dw - pw) * chans, chans
                    )


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


def _tiled(dtype: np.dtype) -> bool:
    return dtype in (np.float32, np.float64)  # the SIMD tile's element types


def _interior_columns(geometry: ConvGeometry) -> tuple[int, int]:
    """Output columns whose every kernel column lands inside the input row: [lo, hi)."""
    size, out, kernel = geometry.in_sizes[-1], geometry.out_sizes[-1], geometry.kernel_sizes[-1]
    stride, dilation, pad = geometry.strides[-1], geometry.dilation[-1], geometry.padding[-1][0]
    lo, _ = _column_range(size, out, pad, 0, stride)
    _, hi = _column_range(size, out, pad, (kernel - 1) * dilation, stride)
    return lo, max(lo, hi)


def _pack(kernel: np.ndarray, groups: int, width: int) -> np.ndarray:
    """(*K, Cg, C_out) -> (G, FB, T * Cg * L): each group's kernel, its output channels in FB
    blocks of L lanes (zero-padded), for `_grouped_forward`."""
    *_, per_group_in, out_channels = kernel.shape
    per_group_out = out_channels // groups
    blocks = -(-per_group_out // width)
    taps = kernel.reshape(-1, per_group_in, groups, per_group_out)
    padded = np.zeros((*taps.shape[:3], blocks * width), kernel.dtype)
    padded[..., :per_group_out] = taps
    padded = padded.reshape(*taps.shape[:3], blocks, width).transpose(2, 3, 0, 1, 4)
    return np.ascontiguousarray(padded).reshape(groups, blocks, -1)


def _lane_padded(grad: np.ndarray, groups: int, width: int) -> np.ndarray:
    """(..., C_out) -> (..., G * FB * L): each group's channels zero-padded to whole blocks of lanes."""
    per_group_out = grad.shape[-1] // groups
    if per_group_out % width == 0:
        return grad
    blocks = -(-per_group_out // width)
    padded = np.zeros((*grad.shape[:-1], groups, blocks * width), grad.dtype)
    padded[..., :per_group_out] = grad.reshape(*grad.shape[:-1], groups, per_group_out)
    return padded.reshape(*grad.shape[:-1], -1)


def conv(x: np.ndarray, kernel: np.ndarray, geometry: ConvGeometry, groups: int) -> np.ndarray:
    dtype = np.result_type(x, kernel)
    rank = geometry.rank  # 1 to 3: select.why_not keeps higher ranks away
    shape = (x.shape[0], *geometry.out_sizes, kernel.shape[-1])
    x3, kernel3 = _as_3d(_contiguous(x, dtype), rank, 1), _as_3d(_contiguous(kernel, dtype), rank, 0)
    params = _params(geometry)
    if _depthwise(groups, x.shape[-1], kernel.shape[-1]):
        out = np.empty(shape, dtype)  # the kernel writes every entry
        _depthwise_forward(x3, kernel3, _as_3d(out, rank, 1), *params)
        return out
    if _tiled(dtype):
        out = np.empty(shape, dtype)  # every entry written
        packed = _pack(kernel3, groups, lanes(dtype.itemsize))
        sizes = np.array(kernel3.shape[:3], np.int64)
        _grouped_forward(x3, packed, _as_3d(out, rank, 1), sizes, *params, *_interior_columns(geometry))
    else:
        out = np.zeros(shape, dtype)
        _forward(x3, kernel3, _as_3d(out, rank, 1), *params, groups)
    return out


def conv_kernel_grad(x: np.ndarray, grad: np.ndarray, geometry: ConvGeometry, groups: int) -> np.ndarray:
    dtype = np.result_type(x, grad)
    rank = geometry.rank
    rows = x.shape[0] * int(np.prod(geometry.out_sizes[:-1], dtype=np.int64))
    chunks = max(1, min(rows, 4 * numba.get_num_threads()))
    shape = (*geometry.kernel_sizes, x.shape[-1] // groups, grad.shape[-1])
    partial = np.zeros((chunks, *((1,) * (3 - rank)), *shape), dtype)
    x3, grad = _as_3d(_contiguous(x, dtype), rank, 1), _contiguous(grad, dtype)
    if _depthwise(groups, x.shape[-1], grad.shape[-1]):
        _depthwise_kernel_grad(x3, _as_3d(grad, rank, 1), partial, *_params(geometry))
    elif _tiled(dtype):
        padded = _as_3d(_lane_padded(grad, groups, lanes(dtype.itemsize)), rank, 1)
        _grouped_kernel_grad(x3, padded, partial, *_params(geometry), grad.shape[-1] // groups)
    else:
        _kernel_grad(x3, _as_3d(grad, rank, 1), partial, *_params(geometry), groups)
    return partial.sum(axis=0).reshape(shape)
