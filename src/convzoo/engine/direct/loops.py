"""What every loop of `direct` shares: the compiler options and the column arithmetic."""

from __future__ import annotations

import numba

# contract: multiply-adds become FMAs (one rounding instead of two, as in the BLAS); no other
# fast-math flag, so NaN and Inf keep IEEE semantics. error_model="numpy": no division checks.
JIT = dict(cache=True, fastmath={"contract"}, error_model="numpy")


@numba.njit(inline="always", **JIT)
def column_range(in_size, out_size, pad, offset, stride):
    # o*stride + offset - pad in [0, in_size)  <=>  first <= o < stop
    first = 0
    if pad - offset > 0:
        first = (pad - offset + stride - 1) // stride
    last_in = in_size - 1 + pad - offset
    stop = 0 if last_in < 0 else min(out_size, last_in // stride + 1)
    return first, max(first, stop)


@numba.njit(inline="always", **JIT)
def valid_rows(n, od, oh, in_d, in_h, k_d, k_h, strides, dilation, pads, rows, kernel_rows):
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


@numba.njit(inline="always", **JIT)
def tap_rows(begin, end, td, th, x_shape, grad_shape, strides, dilation, pads, x_rows, g_rows):
    # for output rows begin..end that kernel row (td, th) reads inside the input: the flat start
    # of that input row in x and of the output row in grad; returns how many
    _, in_d, in_h, in_w, channels = x_shape
    _, out_d, out_h, out_w, padded = grad_shape
    count = 0
    for job in range(begin, end):
        n, rest = job // (out_d * out_h), job % (out_d * out_h)
        od, oh = rest // out_h, rest % out_h
        i_d = od * strides[0] + td * dilation[0] - pads[0]
        i_h = oh * strides[1] + th * dilation[1] - pads[1]
        if 0 <= i_d < in_d and 0 <= i_h < in_h:
            x_rows[count] = ((n * in_d + i_d) * in_h + i_h) * in_w * channels
            g_rows[count] = job * out_w * padded
            count += 1
    return count
