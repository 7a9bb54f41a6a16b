"""The general loops: any groups and dtype, output rows in cache, channels innermost.

Used where the tiles do not apply (dtypes other than float32 and float64)."""

from __future__ import annotations

import numba

from .loops import JIT, column_range


@numba.njit(parallel=True, **JIT)
def forward(x, w, out, strides, dilation, pads, groups):
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
                    first, stop = column_range(in_w, out_w, pads[2], offset, strides[2])
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


@numba.njit(parallel=True, **JIT)
def kernel_grad(x, grad, partial, strides, dilation, pads, groups):
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
                        first, stop = column_range(in_w, out_w, pads[2], offset, strides[2])
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
