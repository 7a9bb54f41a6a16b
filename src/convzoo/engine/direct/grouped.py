"""Grouped convolutions (and depthwise ones with a multiplier) in register tiles (simd.py).

Where a group's output channels pack into the host's wide vectors (S = 4, 2 or 1 groups per
vector, or several vectors per group), `packed_forward` and `packed_kernel_grad` tile 14 or 8
pixels (or (tap, input channel) terms) x one wide vector, each term reading the S groups'
input values side by side from a row cache blocked by packs of groups. Other shapes take
`forward` and `kernel_grad`: 8 pixels (or input channels) x one 256-bit vector of one group.
"""

from __future__ import annotations

import numba
import numpy as np

from .loops import JIT, column_range, copy_columns, fetch_rows, row_cache, tap_rows, valid_rows
from .simd import (
    DENSE_ROWS,
    PACKED_SPREADS,
    ROWS,
    VECTOR_BYTES,
    WIDE_BYTES,
    packed_adding_tiles,
    packed_tiles,
    tile,
    tile_one,
)

LONG, SHORT = DENSE_ROWS  # the rows of simd.packed_tiles, and 1
SWEEP = 4  # output rows a packed kernel-gradient tile sums over
(_S1_LONG, _S1_SHORT, _S1_ONE), (_S2_LONG, _S2_SHORT, _S2_ONE), (_S4_LONG, _S4_SHORT, _S4_ONE) = packed_tiles
(_A1_LONG, _A1_SHORT, _A1_ONE), (_A2_LONG, _A2_SHORT, _A2_ONE), (_A4_LONG, _A4_SHORT, _A4_ONE) = packed_adding_tiles
assert PACKED_SPREADS == (1, 2, 4)


@numba.njit(parallel=True, **JIT)
def forward(x, packed, out, kernel_sizes, strides, dilation, pads, lo, hi):
    # x (N, D, H, W, C_in); packed (G, FB, T * Cg * L): group g's kernel with its output channels
    # in FB blocks of L lanes (zero-padded), tap-major; out (N, OD, OH, OW, C_out), every entry
    # written. Interior columns [lo, hi) go ROWS at a time (the last tile overlaps the one before);
    # a border column runs alone (a one-row tile) over the taps that land inside the row.
    n_batch, in_d, in_h, in_w, in_channels = x.shape
    _, out_d, out_h, out_w, out_channels = out.shape
    groups, blocks = packed.shape[0], packed.shape[1]
    k_d, k_h, k_w = kernel_sizes[0], kernel_sizes[1], kernel_sizes[2]
    per_group_in, per_group_out = in_channels // groups, out_channels // groups
    width = VECTOR_BYTES // x.itemsize
    x_flat, w_flat = x.reshape(x.size), packed.reshape(packed.size)
    out_rows = out.reshape(n_batch * out_d * out_h, out_w, out_channels)
    for job in numba.prange(n_batch * out_d * out_h):
        x_outer = np.empty(k_d * k_h * k_w, np.int64)  # per valid tap: its input offset, its weight rows
        w_outer = np.empty(k_d * k_h * k_w, np.int64)
        columns = np.empty(k_d * k_h * k_w, np.int64)  # per valid tap: its input column at output column 0
        rows = np.empty(k_d * k_h, np.int64)
        kernel_rows = np.empty(k_d * k_h, np.int64)
        valid = valid_rows(job, out_d, out_h, in_d, in_h, k_d, k_h, strides, dilation, pads, rows, kernel_rows)
        taps = 0
        for i in range(valid):
            for tw in range(k_w):
                columns[taps] = tw * dilation[2] - pads[2]
                x_outer[taps] = (rows[i] * in_w + columns[taps]) * in_channels
                w_outer[taps] = (kernel_rows[i] * k_w + tw) * per_group_in * width
                taps += 1
        acc = np.zeros((ROWS, width), x.dtype)
        bases = np.empty(ROWS, np.int64)
        border_x = np.empty(k_d * k_h * k_w, np.int64)
        border_w = np.empty(k_d * k_h * k_w, np.int64)
        row = out_rows[job]
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


@numba.njit(parallel=True, **JIT)
def kernel_grad(x, grad, partial, strides, dilation, pads, per_group_out):
    # x (N, D, H, W, C_in); grad (N, OD, OH, OW, G * FB * L): the output gradient with each group's
    # channels zero-padded to FB blocks of L lanes; partial (chunks, KD, KH, KW, Cg, C_out) zero-filled.
    # Per chunk of output rows, kernel tap and group: ROWS input channels x L output channels,
    # summed over the chunk's rows (outer) and each row's columns (inner) in registers.
    n_batch, _, _, in_w, in_channels = x.shape
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
                count = tap_rows(begin, end, td, th, x.shape, grad.shape, strides, dilation, pads, x_rows, g_rows)
                if count == 0:
                    continue
                for tw in range(k_w):
                    offset = tw * dilation[2]
                    first, stop = column_range(in_w, out_w, pads[2], offset, strides[2])
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


@numba.njit(inline="always", **JIT)
def _packed_tile(
    spread, rows, out, out_base, out_step, x, bases, x_outer, w_outer, n_outer, n_inner, x_step, w, w_step, w_base
):
    # the tile of `rows` rows reading `spread` values per term (simd.packed_tiles)
    args = (out, out_base, out_step, x, bases, x_outer, w_outer, n_outer, n_inner, x_step, w, w_step, w_base)
    if spread == 1:
        if rows == LONG:
            _S1_LONG(*args)
        elif rows == SHORT:
            _S1_SHORT(*args)
        else:
            _S1_ONE(*args)
    elif spread == 2:
        if rows == LONG:
            _S2_LONG(*args)
        elif rows == SHORT:
            _S2_SHORT(*args)
        else:
            _S2_ONE(*args)
    elif rows == LONG:
        _S4_LONG(*args)
    elif rows == SHORT:
        _S4_SHORT(*args)
    else:
        _S4_ONE(*args)


@numba.njit(inline="always", **JIT)
def _packed_adding_tile(
    spread, rows, out, out_base, out_step, x, bases, x_outer, w_outer, n_outer, n_inner, x_step, w, w_step, w_base
):
    # the same, adding into out (simd.packed_adding_tiles)
    args = (out, out_base, out_step, x, bases, x_outer, w_outer, n_outer, n_inner, x_step, w, w_step, w_base)
    if spread == 1:
        if rows == LONG:
            _A1_LONG(*args)
        elif rows == SHORT:
            _A1_SHORT(*args)
        else:
            _A1_ONE(*args)
    elif spread == 2:
        if rows == LONG:
            _A2_LONG(*args)
        elif rows == SHORT:
            _A2_SHORT(*args)
        else:
            _A2_ONE(*args)
    elif rows == LONG:
        _A4_LONG(*args)
    elif rows == SHORT:
        _A4_SHORT(*args)
    else:
        _A4_ONE(*args)


@numba.njit(parallel=True, **JIT)
def packed_forward(
    x, packed, out, kernel_sizes, strides, dilation, pads, per_group_in, spread, rows_per_tile, chunks, span
):
    # x (N, D, H, W, C_in); packed (U, T * Cg * L): one unit per wide vector of output channels
    # (u*L to u*L + L), holding `spread` (S) groups of L/S channels or a block of one group, its
    # weights tap-major, then input channel, lane f*S + g for group g's channel f; out (N, OD,
    # OH, OW, C_out), every entry written. The row cache stores each pack of S groups as a
    # block of columns, each column input-channel-major, so that a term reads S consecutive
    # values (simd: `spread`) and a tile's reads stay within its block (a channels-last row
    # would put the tile's columns C values apart, a stride that maps them onto few cache sets).
    n_batch, in_d, in_h, in_w, in_channels = x.shape
    _, out_d, out_h, out_w, out_channels = out.shape
    units, unit_size = packed.shape
    k_d, k_h, k_w = kernel_sizes[0], kernel_sizes[1], kernel_sizes[2]
    width = unit_size // (k_d * k_h * k_w * per_group_in)
    per_group_out = width // spread if spread > 1 else out_channels // (in_channels // per_group_in)
    x_flat, w_flat, out_flat = x.reshape(x.size), packed.reshape(packed.size), out.reshape(out.size)
    jobs = n_batch * out_d * out_h
    for chunk in numba.prange(chunks):
        cache, cached_row, last_used = row_cache(2 * k_d * k_h, span, x)
        cached, length = cache.reshape(cache.size), cache.shape[1]
        columns, pack = length // in_channels, spread * per_group_in
        rows = np.empty(k_d * k_h, np.int64)
        kernel_rows = np.empty(k_d * k_h, np.int64)
        slot_of = np.empty(k_d * k_h, np.int64)
        x_outer = np.empty(k_d * k_h * k_w, np.int64)  # per valid tap: its offset in the cache, its weights
        w_outer = np.empty(k_d * k_h * k_w, np.int64)
        bases = np.empty(LONG, np.int64)
        for job in range(chunk * jobs // chunks, (chunk + 1) * jobs // chunks):
            valid = valid_rows(job, out_d, out_h, in_d, in_h, k_d, k_h, strides, dilation, pads, rows, kernel_rows)
            fetch_rows(
                x_flat,
                rows,
                valid,
                in_w,
                in_channels,
                pads[2],
                cache,
                cached_row,
                last_used,
                slot_of,
                job + 1,
                spread,
                per_group_in,
            )
            # terms: per valid tap (outer) its input channels (inner); without dilation a kernel
            # row's taps and channels are one run in the block (tap tw, channel ci at
            # (tw * Cg + ci) * S), so the outer loop is the kernel rows and the inner one longer
            outer, inner = 0, per_group_in if dilation[2] > 1 else k_w * per_group_in
            for i in range(valid):
                for tw in range(k_w if dilation[2] > 1 else 1):
                    x_outer[outer] = slot_of[i] * length + tw * dilation[2] * pack
                    w_outer[outer] = (kernel_rows[i] * k_w + tw) * per_group_in * width
                    outer += 1
            out_row = job * out_w * out_channels
            for unit in range(units):
                block = (unit * width // per_group_out // spread) * columns * pack  # its pack's block
                ow = 0
                while ow < out_w:
                    start = min(ow, out_w - rows_per_tile)
                    for p in range(rows_per_tile):
                        bases[p] = (start + p) * strides[2] * pack + block
                    at = out_row + start * out_channels + unit * width
                    _packed_tile(
                        spread,
                        rows_per_tile,
                        out_flat,
                        at,
                        out_channels,
                        cached,
                        bases,
                        x_outer,
                        w_outer,
                        outer,
                        inner,
                        spread,
                        w_flat,
                        width,
                        unit * unit_size,
                    )
                    ow = start + rows_per_tile


@numba.njit(parallel=True, **JIT)
def packed_kernel_grad(x, grad, partial, strides, dilation, pads, spread, rows_per_tile, span, sweep):
    # x (N, D, H, W, C_in); grad (N, OD, OH, OW, C_out); partial (chunks, KD, KH, KW, Cg, C_out)
    # zero-filled. Units of L output channels as in packed_forward. A chunk's output rows go in
    # runs of `sweep`; per run, unit and valid kernel row, tiles of R terms (tap, input channel)
    # x one vector, summed over the run's rows (outer) and their columns (inner): each column
    # broadcasts S input values per term and loads one vector of the output gradient, whose
    # rows are blocked like the input rows (so its lanes pair with the broadcast). Summing a
    # run instead of one row per tile: a tile's fixed cost (its sums loaded, added, stored)
    # spreads over `sweep` times more terms; the unit is the outer loop, so its blocks of the
    # run's rows stay in L1 across the kernel rows.
    n_batch, in_d, in_h, in_w, in_channels = x.shape
    chunks, k_d, k_h, k_w, per_group_in, out_channels = partial.shape
    _, out_d, out_h, out_w, _ = grad.shape
    width = WIDE_BYTES // x.itemsize
    groups = in_channels // per_group_in
    per_group_out = out_channels // groups
    pack_out = spread * per_group_out if spread > 1 else per_group_out  # output channels per block of grad
    terms = k_w * per_group_in
    x_flat, g_flat = x.reshape(x.size), grad.reshape(grad.size)
    jobs = n_batch * out_d * out_h
    row_size = out_w * out_channels  # one output row of grad
    slots = k_d * k_h * (sweep + 1)  # every input row a run reads stays cached through the run
    for chunk in numba.prange(chunks):
        sums = partial[chunk].reshape(k_d * k_h * terms * out_channels)  # (kernel row, tap * Cg + ci, C_out)
        cache, cached_row, last_used = row_cache(slots, span, x)
        cached, length = cache.reshape(cache.size), cache.shape[1]
        columns, pack = length // in_channels, spread * per_group_in
        g_rows = np.empty(sweep * row_size, x.dtype)  # the run's gradient rows, blocked
        bases = np.empty(LONG, np.int64)
        x_starts = np.empty(sweep, np.int64)
        g_starts = np.empty(sweep, np.int64)
        rows = np.empty(sweep, np.int64)
        slot_of = np.empty(sweep, np.int64)
        x_outer = np.empty((k_d * k_h, sweep), np.int64)  # per kernel row: the run's input rows in the cache
        g_outer = np.empty((k_d * k_h, sweep), np.int64)  # ... and their output rows in g_rows
        counts = np.empty(k_d * k_h, np.int64)
        stamp = 0
        for begin in range(chunk * jobs // chunks, (chunk + 1) * jobs // chunks, sweep):
            end = min(begin + sweep, (chunk + 1) * jobs // chunks)
            for job in range(begin, end):
                source = g_flat[job * row_size : (job + 1) * row_size]
                copy_columns(g_rows[(job - begin) * row_size : (job - begin + 1) * row_size], source, 0,
                             out_channels, spread, per_group_out)  # fmt: skip
            for td in range(k_d):
                for th in range(k_h):
                    kernel_row = td * k_h + th
                    count = tap_rows(
                        begin, end, td, th, x.shape, grad.shape, strides, dilation, pads, x_starts, g_starts
                    )
                    for j in range(count):
                        rows[j] = x_starts[j] // (in_w * in_channels)
                    stamp += 1
                    fetch_rows(
                        x_flat, rows, count, in_w, in_channels, pads[2], cache, cached_row, last_used, slot_of,
                        stamp, spread, per_group_in,
                    )  # fmt: skip
                    for j in range(count):
                        x_outer[kernel_row, j] = slot_of[j] * length
                        g_outer[kernel_row, j] = g_starts[j] - begin * row_size
                    counts[kernel_row] = count
            for unit in range(out_channels // width):
                first = unit * width  # its first output channel
                block = (first // per_group_out // spread) * columns * pack  # its pack's input block
                g_at = (first // pack_out) * out_w * pack_out + first % pack_out
                for kernel_row in range(k_d * k_h):
                    if counts[kernel_row] == 0:
                        continue
                    r = 0
                    while r < terms:  # tiles that add into the sums: no overlap, the rest one row at a time
                        left = terms - r
                        rows_here = rows_per_tile if left >= rows_per_tile else SHORT if left >= SHORT else 1
                        for p in range(rows_here):
                            tw, ci = (r + p) // per_group_in, (r + p) % per_group_in
                            bases[p] = block + tw * dilation[2] * pack + ci * spread
                        at = (kernel_row * terms + r) * out_channels + first
                        _packed_adding_tile(
                            spread, rows_here, sums, at, out_channels, cached, bases, x_outer[kernel_row],
                            g_outer[kernel_row], counts[kernel_row], out_w, strides[2] * pack, g_rows, pack_out, g_at,
                        )  # fmt: skip
                        r += rows_here
