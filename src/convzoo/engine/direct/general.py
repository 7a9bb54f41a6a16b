"""The general loops: any groups and dtype, output rows in cache, channels innermost.

Used where the tiles do not apply (dtypes other than float32 and float64)."""

from __future__ import annotations

import numba
import numpy as np

from .loops import JIT, column_range, valid_rows


@numba.njit(parallel=True, **JIT)
def forward(x, w, out, strides, dilation, pads, groups):
    # x (N, D, H, W, C_in), w (KD, KH, KW, Cg, C_out), out (N, OD, OH, OW, C_out), zero-filled
    n_batch, in_d, in_h, in_w, in_channels = x.shape
    k_d, k_h, k_w, per_group_in, out_channels = w.shape
    _, out_d, out_h, out_w, _ = out.shape
    per_group_out = out_channels // groups
    x_rows = x.reshape(n_batch * in_d * in_h, in_w, in_channels)
    w_rows = w.reshape(k_d * k_h, k_w, per_group_in, out_channels)
    out_rows = out.reshape(n_batch * out_d * out_h, out_w, out_channels)
    for job in numba.prange(n_batch * out_d * out_h):
        rows = np.empty(k_d * k_h, np.int64)
        kernel_rows = np.empty(k_d * k_h, np.int64)
        valid = valid_rows(job, out_d, out_h, in_d, in_h, k_d, k_h, strides, dilation, pads, rows, kernel_rows)
        row = out_rows[job]  # (OW, C_out), stays in cache while every tap adds into it
        for i in range(valid):
            source = x_rows[rows[i]]  # (W, C_in)
            for tw in range(k_w):
                offset = tw * dilation[2]
                first, stop = column_range(in_w, out_w, pads[2], offset, strides[2])
                taps = w_rows[kernel_rows[i], tw]  # (Cg, C_out)
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
    n_batch, in_d, in_h, in_w, in_channels = x.shape
    chunks, k_d, k_h, k_w, per_group_in, out_channels = partial.shape
    _, out_d, out_h, out_w, _ = grad.shape
    per_group_out = out_channels // groups
    jobs = n_batch * out_d * out_h
    x_rows = x.reshape(n_batch * in_d * in_h, in_w, in_channels)
    grad_rows = grad.reshape(jobs, out_w, out_channels)
    for chunk in numba.prange(chunks):
        acc = partial[chunk].reshape(k_d * k_h, k_w, per_group_in, out_channels)
        rows = np.empty(k_d * k_h, np.int64)
        kernel_rows = np.empty(k_d * k_h, np.int64)
        for job in range(chunk * jobs // chunks, (chunk + 1) * jobs // chunks):
            valid = valid_rows(job, out_d, out_h, in_d, in_h, k_d, k_h, strides, dilation, pads, rows, kernel_rows)
            row = grad_rows[job]
            for i in range(valid):
                source = x_rows[rows[i]]
                for tw in range(k_w):
                    offset = tw * dilation[2]
                    first, stop = column_range(in_w, out_w, pads[2], offset, strides[2])
                    taps = acc[kernel_rows[i], tw]
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
