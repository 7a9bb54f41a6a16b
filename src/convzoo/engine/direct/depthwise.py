"""Depthwise convolutions (one input and one output channel per group) in lanewise register tiles.

A depthwise layer is memory-bound: 9 multiply-adds per output value for a 3x3, so what
matters is reading each input row from cache once per use and writing each output value
once. The channels are the vector axis: a block is two of the host's widest vectors (AVX-512:
32 float32 channels), and the tiles (`simd.depthwise_*`, LLVM IR) multiply input vectors by
weight vectors lane by lane.

- forward, 3 taps along rows of stride 1 and dilation 1 (`window_forward`, the common case,
  and the input gradient of such layers): x is read in place, no row cache; per output row, a
  sliding tile (`simd.depthwise_sliding`) holds the weights of up to 3 kernel rows x 3 taps for
  two vectors of channels in registers, loads each input column once and adds it into the 3
  output columns that read it, storing one output column per input column (6 loads, 18
  multiply-adds, 2 stores); the padding's columns are zeros in registers. Layers of more kernel
  rows (or depth taps) go 3 kernel rows at a time, the later pieces adding into the output row.
  8 x 112 x 112 x 32: 0.67 ms through the row cache, 0.50 in place (a copy of the input
  takes 0.44).
- other forwards: a tile holds R output pixels x one block in registers (AVX-512: 12 x 2 zmm) and
  sums every tap into them; each term loads one weight block, shared by the R pixels. The
  input rows come through the per-thread row cache, padded with zeros along the row
  (`loops.row_cache`), so every tile is full; a row's columns go R at a time, the last tile
  overlapping the one before it (the overlap is written twice with the same values). While a
  row computes, the next row's new input row is prefetched (the layer is memory-bound).
- kernel gradient, 3 taps along rows of stride 1 and dilation 1 (`window_kernel_grad`, the
  common case): x and the output gradient are read in place, no row cache; per output row, a
  window tile (`simd.depthwise_windows`) holds up to 3 kernel rows x 3 taps of sums for one
  vector of channels and slides a window of input columns along the row in registers, so each
  input and gradient vector is loaded once per output row (4 loads for 9 multiply-adds); the
  padding's columns are zeros in registers. That is memory-bound: the row cache's copy cost
  as much as the tiles (8 x 112 x 112 x 32: 0.97-1.06 ms before, 0.78-0.87 after).
- other kernel gradients: per output row and kernel row, a tile holds the kernel row's taps
  (up to 3) x one block, summed over each half of the row's columns, from the row cache.

Channel blocks: the last block overlaps the one before it (its first lanes are recomputed),
so any channel count from one block up needs no padding; fewer channels than a block are
zero-padded by the caller (`direct.conv`).

    forward:      y[n, o, c] = sum over t of x[n, o*s + t*d - p, c] * w[t, 0, c]
    kernel grad:  w'[t, 0, c] = sum over n, o of x[n, o*s + t*d - p, c] * y'[n, o, c]
"""

from __future__ import annotations

import numba
import numpy as np

from . import tasks
from .loops import JIT, fetch_rows, row_cache, valid_rows
from .simd import (
    DEPTHWISE_ROWS,
    DEPTHWISE_VECTORS,
    SLIDING_VECTORS,
    WIDE_BYTES,
    WINDOW_TAPS,
    depthwise_long,
    depthwise_one,
    depthwise_short,
    depthwise_sliding,
    depthwise_taps,
    depthwise_windows,
    prefetch,
)

LONG, SHORT = DEPTHWISE_ROWS
TAPS = 3  # kernel taps per kernel-gradient tile
_WINDOW_ONE, _WINDOW_TWO, _WINDOW_THREE = depthwise_windows  # 1, 2, 3 kernel rows
(_SLIDE_ONE, _SLIDE_TWO, _SLIDE_THREE), (_SLIDE_ONE_WIDE, _SLIDE_TWO_WIDE, _SLIDE_THREE_WIDE) = depthwise_sliding


def block_lanes(itemsize: int) -> int:
    """Channels per block: the fewest a depthwise layer needs without padding."""
    return DEPTHWISE_VECTORS * WIDE_BYTES // itemsize


def windowed(kernel_w: int, stride_w: int, dilation_w: int, channels: int, itemsize: int) -> bool:
    """Whether `window_kernel_grad` computes a kernel gradient: 3 taps along rows, stride and
    dilation 1 along them, whole vectors of channels."""
    return (kernel_w, stride_w, dilation_w) == (WINDOW_TAPS, 1, 1) and channels % (WIDE_BYTES // itemsize) == 0


@numba.njit(inline="always", **JIT)
def _window(rows, sums, sums_base, x, x_rows, g, g_base, columns, step, lead, limit):
    args = (sums, sums_base, x, x_rows, g, g_base, columns, step, lead, limit)
    if rows == 3:
        _WINDOW_THREE(*args)
    elif rows == 2:
        _WINDOW_TWO(*args)
    else:
        _WINDOW_ONE(*args)


@numba.njit(inline="always", **JIT)
def _kernel_rows(n, od, oh, td, x_shape, strides, dilation, pads, frame, row_starts):
    # output row (n, od, oh), depth tap td: its kernel rows whose input rows are inside the
    # input (consecutive), as (the first, how many; 0 where the depth tap is outside); row_starts[i]
    # receives the flat start of kernel row first + i's input row, from input column `frame`
    _, in_d, in_h, in_w, chans = x_shape
    i_d = od * strides[0] + td * dilation[0] - pads[0]
    lowest, count = 0, 0
    if i_d < 0 or i_d >= in_d:
        return lowest, count
    for th in range(row_starts.size):
        i_h = oh * strides[1] + th * dilation[1] - pads[1]
        if 0 <= i_h < in_h:
            if count == 0:
                lowest = th
            row_starts[count] = (((n * in_d + i_d) * in_h + i_h) * in_w + frame) * chans
            count += 1
    return lowest, count


@numba.njit(inline="always", **JIT)
def _slide(rows, vectors, out, out_base, x, x_rows, w, w_base, columns, step, lead, limit, adding):
    args = (out, out_base, x, x_rows, w, w_base, columns, step, lead, limit, adding)
    if vectors == 1:
        if rows == 3:
            _SLIDE_THREE(*args)
        elif rows == 2:
            _SLIDE_TWO(*args)
        else:
            _SLIDE_ONE(*args)
    elif rows == 3:
        _SLIDE_THREE_WIDE(*args)
    elif rows == 2:
        _SLIDE_TWO_WIDE(*args)
    else:
        _SLIDE_ONE_WIDE(*args)


@numba.njit(inline="always", **JIT)
def _tile(rows, out, out_base, out_step, x, bases, x_outer, w_outer, n_outer, n_inner, x_step, w, w_step, w_base):
    if rows == LONG:
        depthwise_long(out, out_base, out_step, x, bases, x_outer, w_outer, n_outer, n_inner, x_step, w, w_step, w_base)
    elif rows == SHORT:
        depthwise_short(
            out, out_base, out_step, x, bases, x_outer, w_outer, n_outer, n_inner, x_step, w, w_step, w_base
        )
    else:
        depthwise_one(out, out_base, out_step, x, bases, x_outer, w_outer, n_outer, n_inner, x_step, w, w_step, w_base)


@numba.njit(parallel=True, **JIT)
def forward(x, w, out, strides, dilation, pads, chunks, span):
    # x (N, D, H, W, C), w (KD, KH, KW, 1, C), out (N, OD, OH, OW, C), C >= one block; every
    # entry of out written. Output rows are split into `chunks` runs, one per task; each task
    # reads its input rows through a cache of rows padded to `span` columns (loops.row_cache).
    n_batch, in_d, in_h, in_w, chans = x.shape
    k_d, k_h, k_w = w.shape[0], w.shape[1], w.shape[2]
    _, out_d, out_h, out_w, _ = out.shape
    block = DEPTHWISE_VECTORS * WIDE_BYTES // x.itemsize
    blocks = -(-chans // block)
    x_flat, w_flat, out_flat = x.reshape(x.size), w.reshape(w.size), out.reshape(out.size)
    sw, dw, pw = strides[2], dilation[2], pads[2]
    rows_per_tile = LONG if out_w >= LONG else SHORT if out_w >= SHORT else 1
    jobs = n_batch * out_d * out_h
    for chunk in numba.prange(chunks):
        cache, cached_row, last_used = row_cache(2 * k_d * k_h, span, x)
        cached, length = cache.reshape(cache.size), cache.shape[1]
        rows = np.empty(k_d * k_h, np.int64)
        kernel_rows = np.empty(k_d * k_h, np.int64)
        slot_of = np.empty(k_d * k_h, np.int64)
        x_outer = np.empty(k_d * k_h, np.int64)  # per valid kernel row: its cached input row, its weights
        w_outer = np.empty(k_d * k_h, np.int64)
        bases = np.empty(LONG, np.int64)
        for job in range(chunk * jobs // chunks, (chunk + 1) * jobs // chunks):
            count = valid_rows(job, out_d, out_h, in_d, in_h, k_d, k_h, strides, dilation, pads, rows, kernel_rows)
            fetch_rows(x_flat, rows, count, in_w, chans, pw, cache, cached_row, last_used, slot_of, job + 1)
            for i in range(count):
                x_outer[i] = slot_of[i] * length
                w_outer[i] = kernel_rows[i] * k_w * chans
            out_row = job * out_w * chans
            # the input row that the next job reads first: fetched now, it arrives while this row computes
            ahead = -1
            if count > 0 and job + 1 < jobs:
                last = rows[count - 1] + 1
                if last < n_batch * in_d * in_h:
                    ahead = (last * in_w - pw) * chans
            for b in range(blocks):
                lane = min(b * block, chans - block)
                ow = 0
                while ow < out_w:
                    start = min(ow, out_w - rows_per_tile)
                    for p in range(rows_per_tile):
                        bases[p] = (start + p) * sw * chans + lane
                    at = out_row + start * chans + lane
                    if ahead >= 0:  # the same columns of the next job's new input row, one line at a time
                        for column in range(start * sw * chans, (start + rows_per_tile) * sw * chans, 64 // x.itemsize):
                            prefetch(x_flat, ahead + column)
                    _tile(
                        rows_per_tile,
                        out_flat,
                        at,
                        chans,
                        cached,
                        bases,
                        x_outer,
                        w_outer,
                        count,
                        k_w,
                        dw * chans,
                        w_flat,
                        chans,
                        lane,
                    )
                    ow = start + rows_per_tile


@numba.njit(parallel=True, **JIT)
def window_forward(x, w, out, strides, dilation, pads, chunks):
    # x (N, D, H, W, C), w (KD, KH, 3, 1, C), out (N, OD, OH, OW, C), C whole vectors; stride and
    # dilation 1 along W (`windowed`); every entry of out written. Output rows go in runs of
    # consecutive rows (they read mostly the same input rows, still in cache) that the `chunks`
    # tasks claim (tasks.py); x is read in place: per output row and depth tap, its valid kernel rows
    # (consecutive) go 3 at a time through the sliding tiles (simd.depthwise_sliding), 2 vectors
    # of channels at a time (1 for the last of an odd count), the first piece storing and the
    # others adding, the padding's columns zeros in registers.
    in_w, chans = x.shape[3], x.shape[4]
    k_d, k_h, k_w = w.shape[0], w.shape[1], w.shape[2]
    n_batch, out_d, out_h, out_w, _ = out.shape
    width = WIDE_BYTES // x.itemsize
    x_flat, w_flat, out_flat = x.reshape(x.size), w.reshape(w.size), out.reshape(out.size)
    pw = pads[2]
    lead, frame = max(0, pw), max(0, -pw)  # zero columns before the row; the first column read
    limit = in_w - frame
    jobs = n_batch * out_d * out_h
    runs, state = tasks.runs_of(jobs, chunks), tasks.new_state()
    for chunk in numba.prange(chunks):
        x_rows = np.empty(WINDOW_TAPS, np.int64)
        row_starts = np.empty(k_h, np.int64)
        claimed = tasks.claim(state)
        while claimed < runs:
            from_job, to_job = tasks.jobs_of(claimed, runs, jobs)
            for job in range(from_job, to_job):
                n, rest = job // (out_d * out_h), job % (out_d * out_h)
                od, oh = rest // out_h, rest % out_h
                out_at = job * out_w * chans
                adding = 0
                for td in range(k_d):
                    lowest, count = _kernel_rows(n, od, oh, td, x.shape, strides, dilation, pads, frame, row_starts)
                    for piece in range(0, count, WINDOW_TAPS):
                        rows = min(WINDOW_TAPS, count - piece)
                        w_at = (td * k_h + lowest + piece) * k_w * chans
                        lane = 0
                        while lane < chans:
                            vectors = min(SLIDING_VECTORS, (chans - lane) // width)
                            for r in range(rows):
                                x_rows[r] = row_starts[piece + r] + lane
                            out_base, w_base = out_at + lane, w_at + lane
                            _slide(
                                rows,
                                vectors,
                                out_flat,
                                out_base,
                                x_flat,
                                x_rows,
                                w_flat,
                                w_base,
                                out_w,
                                chans,
                                lead,
                                limit,
                                adding,
                            )
                            lane += vectors * width
                        adding = 1
                if adding == 0:  # no kernel row inside the input
                    out_flat[out_at : out_at + out_w * chans] = 0
            tasks.done(state)
            claimed = tasks.claim(state)
        tasks.leave(state, chunk, runs)


@numba.njit(parallel=True, **JIT)
def kernel_grad(x, grad, partial, strides, dilation, pads, span):
    # x (N, D, H, W, C), grad (N, OD, OH, OW, C), C >= one block; partial (chunks, KD, KH, KW, 1, C)
    # zero-filled. Output rows are split into chunks, one per task, the input rows read through
    # a cache as in `forward`. Each output row's columns go in two halves, each with its own
    # accumulators (the sums are chains of dependent FMAs: twice as many chains, twice the rate).
    _, in_d, in_h, in_w, chans = x.shape
    chunks, k_d, k_h, k_w = partial.shape[0], partial.shape[1], partial.shape[2], partial.shape[3]
    n_batch, out_d, out_h, out_w, _ = grad.shape
    block = DEPTHWISE_VECTORS * WIDE_BYTES // x.itemsize
    blocks = -(-chans // block)
    x_flat, g_flat = x.reshape(x.size), grad.reshape(grad.size)
    sw, dw, pw = strides[2], dilation[2], pads[2]
    half = out_w // 2  # columns of the first half; the second has the rest
    jobs = n_batch * out_d * out_h
    for chunk in numba.prange(chunks):
        sums = partial[chunk].reshape(k_d * k_h, k_w, chans)
        cache, cached_row, last_used = row_cache(2 * k_d * k_h, span, x)
        cached, length = cache.reshape(cache.size), cache.shape[1]
        acc = np.empty((2 * TAPS, block), x.dtype)
        acc_flat = acc.reshape(acc.size)
        bases = np.empty(2 * TAPS, np.int64)
        rows = np.empty(k_d * k_h, np.int64)
        kernel_rows = np.empty(k_d * k_h, np.int64)
        slot_of = np.empty(k_d * k_h, np.int64)
        x_outer = np.empty(1, np.int64)
        g_outer = np.empty(1, np.int64)
        for job in range(chunk * jobs // chunks, (chunk + 1) * jobs // chunks):
            count = valid_rows(job, out_d, out_h, in_d, in_h, k_d, k_h, strides, dilation, pads, rows, kernel_rows)
            fetch_rows(x_flat, rows, count, in_w, chans, pw, cache, cached_row, last_used, slot_of, job + 1)
            g_outer[0] = job * out_w * chans
            for i in range(count):
                x_outer[0] = slot_of[i] * length
                for b in range(blocks):
                    lane = min(b * block, chans - block)
                    fresh = b * block - lane  # lanes before this one belong to the block before
                    t = 0
                    while t < k_w:
                        taps = TAPS if k_w - t >= TAPS else 1
                        for p in range(taps):  # tap t + p over each half: rows p and TAPS + p
                            bases[p] = (t + p) * dw * chans + lane
                            bases[TAPS + p] = bases[p] + half * sw * chans
                        for h in range(2):  # the halves: columns [0, half) and [half, OW)
                            begin, end = (0, half) if h == 0 else (half, out_w)
                            rows_h, at = bases[h * TAPS :], h * TAPS * block
                            g_at = lane + begin * chans
                            n_inner, x_step = end - begin, sw * chans
                            args = (
                                acc_flat,
                                at,
                                block,
                                cached,
                                rows_h,
                                x_outer,
                                g_outer,
                                1,
                                n_inner,
                                x_step,
                                g_flat,
                                chans,
                                g_at,
                            )
                            if taps == TAPS:
                                depthwise_taps(*args)
                            else:
                                depthwise_one(*args)
                        for p in range(taps):
                            target = sums[kernel_rows[i], t + p]
                            for c in range(fresh, block):
                                target[lane + c] += acc[p, c] + acc[TAPS + p, c]
                        t += taps


@numba.njit(parallel=True, **JIT)
def window_kernel_grad(x, grad, partial, strides, dilation, pads):
    # x (N, D, H, W, C), grad (N, OD, OH, OW, C), C whole vectors; partial (chunks, KD, KH, 3, 1,
    # C) zero-filled; stride and dilation 1 along W (`windowed`). Output rows go in runs of
    # consecutive rows that the `chunks` tasks claim (tasks.py), each task summing into its
    # partial[chunk]; x and grad are read in place, no row cache: per output row and depth
    # tap, its valid kernel rows (consecutive) go 3 at a time through the window tiles
    # (simd.depthwise_windows), one vector of channels at a time, over the output columns that
    # reach the input row, the padding's columns zeros in registers.
    in_w, chans = x.shape[3], x.shape[4]
    chunks, k_d, k_h, k_w = partial.shape[0], partial.shape[1], partial.shape[2], partial.shape[3]
    n_batch, out_d, out_h, out_w, _ = grad.shape
    width = WIDE_BYTES // x.itemsize
    x_flat, g_flat = x.reshape(x.size), grad.reshape(grad.size)
    pw = pads[2]
    # output columns o with a tap inside the row (o + t - pw in [0, in_w) for some t < k_w), and
    # the tile's frame: its first input column, the zero columns before it, the columns after it
    begin = min(max(0, pw - k_w + 1), out_w)
    end = max(begin, min(out_w, in_w + pw))
    columns = end - begin
    lead = max(0, pw - begin)
    frame = begin - pw + lead
    limit = in_w - frame
    jobs = n_batch * out_d * out_h
    runs, state = tasks.runs_of(jobs, chunks), tasks.new_state()
    for chunk in numba.prange(chunks):
        sums = partial[chunk].reshape(partial[chunk].size)
        x_rows = np.empty(WINDOW_TAPS, np.int64)
        row_starts = np.empty(k_h, np.int64)
        claimed = tasks.claim(state)
        while claimed < runs:
            from_job, to_job = tasks.jobs_of(claimed, runs, jobs)
            for job in range(from_job, to_job):
                n, rest = job // (out_d * out_h), job % (out_d * out_h)
                od, oh = rest // out_h, rest % out_h
                g_at = (job * out_w + begin) * chans
                for td in range(k_d):
                    lowest, count = _kernel_rows(n, od, oh, td, x.shape, strides, dilation, pads, frame, row_starts)
                    for piece in range(0, count, WINDOW_TAPS):
                        rows = min(WINDOW_TAPS, count - piece)
                        kernel_row = td * k_h + lowest + piece
                        for lane in range(0, chans, width):
                            for r in range(rows):
                                x_rows[r] = row_starts[piece + r] + lane
                            s_at = kernel_row * k_w * chans + lane
                            _window(rows, sums, s_at, x_flat, x_rows, g_flat, g_at + lane, columns, chans, lead, limit)
            tasks.done(state)
            claimed = tasks.claim(state)
        tasks.leave(state, chunk, runs)
