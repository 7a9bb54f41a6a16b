"""Dense convolutions (one group) in wide register tiles (simd.py), padding in a per-thread row cache.

A dense layer is compute-bound: what matters is keeping the FMA units busy. Each tile holds
R output pixels x 2 wide vectors of output channels in registers (AVX-512: 14 x 32 float32)
and sums every (tap, input channel) term into them: per term one broadcast of an input value
per pixel, two weight vectors shared by the R pixels, 2R fused multiply-adds. This is the
micro-kernel of a GEMM whose A-matrix rows are read straight from the input rows, so there is
no im2col copy (oneDNN's direct convolutions work the same way).

Padding. A tile reads R input windows of a row with one base offset per pixel and one offset
per tap, so every column it touches must exist. Each thread keeps a cache of input rows padded
with zeros along the row (`slots` rows of `span` columns): an output row uses the cached rows
of its valid kernel rows, and a thread that walks consecutive output rows copies each input row
about once. Rows above or below the input are skipped, not padded. Temporary memory: per
thread, 2 x KD x KH padded rows.

    y[n, o, f] = sum over t, c of xp[n, o*s + t*d, c] * w[t, c, f]
"""

from __future__ import annotations

import numba
import numpy as np

from .loops import JIT, column_range, fetch_rows, row_cache, tap_rows, valid_rows
from .simd import (
    DENSE_ROWS,
    WIDE_BYTES,
    dense_long,
    dense_one,
    dense_out_tiles,
    dense_short,
    narrow_long,
    narrow_one,
    narrow_out_tiles,
    narrow_short,
)

LONG, SHORT = DENSE_ROWS
_DENSE_OUT_LONG, _DENSE_OUT_SHORT, _DENSE_OUT_ONE = dense_out_tiles
_NARROW_OUT_LONG, _NARROW_OUT_SHORT, _NARROW_OUT_ONE = narrow_out_tiles
SWEEP = 4  # output rows a kernel-gradient tile sums over: their input and gradient rows stay in cache


def tile_rows(size: int) -> int:
    """Rows per tile for `size` output columns (or input channels): the long or the short tile,
    whichever computes fewer rows in all (the last tile overlaps the one before it), else one."""
    candidates = [rows for rows in DENSE_ROWS if rows <= size]
    if not candidates:
        return 1
    return min(candidates, key=lambda rows: (-(-size // rows) * rows, -rows))


@numba.njit(inline="always", **JIT)
def _tile(rows, acc, x, bases, x_outer, w_outer, n_outer, n_inner, x_step, w, w_step, w_base):
    # the tile of `rows` rows and acc.shape[1] lanes (simd.py's sum; acc's first `rows` rows receive it)
    if acc.shape[1] * acc.itemsize == WIDE_BYTES:
        if rows == LONG:
            narrow_long(acc, x, bases, x_outer, w_outer, n_outer, n_inner, x_step, w, w_step, w_base)
        elif rows == SHORT:
            narrow_short(acc, x, bases, x_outer, w_outer, n_outer, n_inner, x_step, w, w_step, w_base)
        else:
            narrow_one(acc, x, bases, x_outer, w_outer, n_outer, n_inner, x_step, w, w_step, w_base)
    elif rows == LONG:
        dense_long(acc, x, bases, x_outer, w_outer, n_outer, n_inner, x_step, w, w_step, w_base)
    elif rows == SHORT:
        dense_short(acc, x, bases, x_outer, w_outer, n_outer, n_inner, x_step, w, w_step, w_base)
    else:
        dense_one(acc, x, bases, x_outer, w_outer, n_outer, n_inner, x_step, w, w_step, w_base)


@numba.njit(inline="always", **JIT)
def _tile_out(
    rows, narrow, out, out_base, out_step, x, bases, x_outer, w_outer, n_outer, n_inner, x_step, w, w_step, w_base
):
    # the same sums, stored straight into out (simd.dense_out_tiles, simd.narrow_out_tiles)
    args = (out, out_base, out_step, x, bases, x_outer, w_outer, n_outer, n_inner, x_step, w, w_step, w_base)
    if narrow:
        if rows == LONG:
            _NARROW_OUT_LONG(*args)
        elif rows == SHORT:
            _NARROW_OUT_SHORT(*args)
        else:
            _NARROW_OUT_ONE(*args)
    elif rows == LONG:
        _DENSE_OUT_LONG(*args)
    elif rows == SHORT:
        _DENSE_OUT_SHORT(*args)
    else:
        _DENSE_OUT_ONE(*args)


@numba.njit(parallel=True, **JIT)
def forward(x, packed, out, kernel_sizes, strides, dilation, pads, rows_per_tile, chunks, span):
    # x (N, D, H, W, C); packed (FB, T * C * L): the kernel's output channels in FB blocks of L
    # lanes (zero-padded), tap-major; out (N, OD, OH, OW, F), every entry written. Output rows
    # (n, od, oh) are split into `chunks` runs of consecutive rows, one run per task.
    n_batch, in_d, in_h, in_w, channels = x.shape
    _, out_d, out_h, out_w, out_channels = out.shape
    blocks, block_size = packed.shape
    k_d, k_h, k_w = kernel_sizes[0], kernel_sizes[1], kernel_sizes[2]
    width = block_size // (k_d * k_h * k_w * channels)  # lanes per block
    x_flat, w_flat, out_flat = x.reshape(x.size), packed.reshape(packed.size), out.reshape(out.size)
    out_rows = out.reshape(n_batch * out_d * out_h, out_w, out_channels)
    whole, narrow = out_channels % width == 0, width * x.itemsize == WIDE_BYTES
    slots = 2 * k_d * k_h
    jobs = n_batch * out_d * out_h
    for chunk in numba.prange(chunks):
        cache, cached_row, last_used = row_cache(slots, span, x)  # column b: input column b - pads[2]
        cached, length = cache.reshape(cache.size), cache.shape[1]
        rows = np.empty(k_d * k_h, np.int64)
        kernel_rows = np.empty(k_d * k_h, np.int64)
        slot_of = np.empty(k_d * k_h, np.int64)
        x_outer = np.empty(k_d * k_h * k_w, np.int64)  # per valid tap: its offset in the cache, its weights
        w_outer = np.empty(k_d * k_h * k_w, np.int64)
        acc = np.empty((LONG, width), x.dtype)
        bases = np.empty(LONG, np.int64)
        for job in range(chunk * jobs // chunks, (chunk + 1) * jobs // chunks):
            valid = valid_rows(job, out_d, out_h, in_d, in_h, k_d, k_h, strides, dilation, pads, rows, kernel_rows)
            fetch_rows(x_flat, rows, valid, in_w, channels, pads[2], cache, cached_row, last_used, slot_of, job + 1)
            # terms: per valid tap (outer) its input channels (inner); without dilation a kernel
            # row's taps and channels are one run in the cache and in the weights (tap tw,
            # channel c at tw * C + c), so the outer loop is the kernel rows and the inner longer
            outer, inner = 0, channels if dilation[2] > 1 else k_w * channels
            for i in range(valid):
                for tw in range(k_w if dilation[2] > 1 else 1):
                    x_outer[outer] = slot_of[i] * length + tw * dilation[2] * channels
                    w_outer[outer] = (kernel_rows[i] * k_w + tw) * channels * width
                    outer += 1
            row = out_rows[job]
            out_row = job * out_w * out_channels
            for block in range(blocks):
                lanes = min(width, out_channels - block * width)
                target = block * width
                ow = 0
                while ow < out_w:
                    start = min(ow, out_w - rows_per_tile)
                    for p in range(rows_per_tile):
                        bases[p] = (start + p) * strides[2] * channels
                    w_base = block * block_size
                    if whole:  # every block full: the tile stores into out
                        at = out_row + start * out_channels + target
                        _tile_out(
                            rows_per_tile,
                            narrow,
                            out_flat,
                            at,
                            out_channels,
                            cached,
                            bases,
                            x_outer,
                            w_outer,
                            outer,
                            inner,
                            1,
                            w_flat,
                            width,
                            w_base,
                        )
                    else:
                        _tile(
                            rows_per_tile, acc, cached, bases, x_outer, w_outer, outer, inner, 1, w_flat, width, w_base
                        )
                        for p in range(rows_per_tile):
                            for lane in range(lanes):
                                row[start + p, target + lane] = acc[p, lane]
                    ow = start + rows_per_tile


@numba.njit(parallel=True, **JIT)
def kernel_grad(x, grad, partial, strides, dilation, pads, rows, width):
    # x (N, D, H, W, C); grad (N, OD, OH, OW, FB * L): the output gradient zero-padded to whole
    # blocks of L = `width` lanes; partial (chunks, KD, KH, KW, C, F) zero-filled. Per run of SWEEP
    # output rows of a chunk and kernel tap: tiles of R input channels x L output channels, summed
    # over the run's rows (outer) and each row's columns that the tap keeps inside the input
    # (inner) in registers. Longer runs keep the sums in registers longer but stream their rows
    # from memory once per tile (measured: whole chunks took 15% longer on four dense layers).
    n_batch, _, _, in_w, channels = x.shape
    chunks, k_d, k_h, k_w, _, out_channels = partial.shape
    _, out_d, out_h, out_w, padded = grad.shape
    blocks = padded // width
    x_flat, g_flat = x.reshape(x.size), grad.reshape(grad.size)
    jobs = n_batch * out_d * out_h
    for chunk in numba.prange(chunks):
        sums = partial[chunk]
        acc = np.zeros((LONG, width), x.dtype)
        bases = np.empty(LONG, np.int64)
        x_rows = np.empty(SWEEP, np.int64)  # the input row a tap reads for each output row
        g_rows = np.empty(SWEEP, np.int64)
        for begin in range(chunk * jobs // chunks, (chunk + 1) * jobs // chunks, SWEEP):
            end = min(begin + SWEEP, (chunk + 1) * jobs // chunks)
            for td in range(k_d):
                for th in range(k_h):
                    count = tap_rows(begin, end, td, th, x.shape, grad.shape, strides, dilation, pads, x_rows, g_rows)
                    if count == 0:
                        continue
                    for tw in range(k_w):
                        offset = tw * dilation[2]
                        first, stop = column_range(in_w, out_w, pads[2], offset, strides[2])
                        if stop <= first:
                            continue
                        x_at = (first * strides[2] + offset - pads[2]) * channels
                        x_step, columns = strides[2] * channels, stop - first
                        for ci in range(0, channels, rows):
                            for p in range(rows):  # past the last channel: repeat it, drop it below
                                bases[p] = x_at + min(ci + p, channels - 1)
                            for block in range(blocks):
                                at = first * padded + block * width
                                _tile(
                                    rows, acc, x_flat, bases, x_rows, g_rows, count, columns, x_step, g_flat, padded, at
                                )
                                target = block * width
                                for p in range(min(rows, channels - ci)):
                                    for lane in range(min(width, out_channels - target)):
                                        sums[td, th, tw, ci + p, target + lane] += acc[p, lane]
