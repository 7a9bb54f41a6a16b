"""What every loop of `direct` shares: the compiler options and the column arithmetic."""

from __future__ import annotations

import numba
import numpy as np

from .simd import WIDE_BYTES, transpose_block

# contract: multiply-adds become FMAs (one rounding instead of two, as in the BLAS); no other
# fast-math flag, so NaN and Inf keep IEEE semantics. error_model="numpy": no division checks.
JIT = dict(cache=True, fastmath={"contract"}, error_model="numpy")
TRANSPOSED = -1  # fetch_rows' `spread` for rows stored channel-major (dense.pixel_forward)


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
def valid_rows(job, out_d, out_h, in_d, in_h, k_d, k_h, strides, dilation, pads, rows, kernel_rows):
    # for output row `job` (n, od, oh flattened): the flat input rows its kernel rows read
    # inside the input, and those kernel rows (td * KH + th); returns how many
    n, rest = job // (out_d * out_h), job % (out_d * out_h)
    od, oh = rest // out_h, rest % out_h
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


@numba.njit(inline="always", **JIT)
def row_cache(slots, span, x):
    """A thread's cache of `slots` input rows of x (N, D, H, W, C), each padded with zeros to
    `span` columns: (cache (slots, L) with L >= span * C, every slot 64-byte aligned so that
    vector loads do not split cache lines; the input row each slot holds, -1 if none; when
    each slot was last used)."""
    channels, itemsize = x.shape[4], x.itemsize
    lanes = 64 // itemsize
    length = -(-(span * channels) // lanes) * lanes
    buffer = np.zeros(slots * length + lanes, x.dtype)
    skip = (64 - buffer.ctypes.data % 64) % 64 // itemsize
    cache = buffer[skip : skip + slots * length].reshape(slots, length)
    return cache, np.full(slots, -1, np.int64), np.zeros(slots, np.int64)


@numba.njit(inline="always", **JIT)
def copy_columns(slot, source, at, channels, spread, per_group):
    # source: whole columns of `channels` values, into slot from column `at`: as they are
    # (spread 0), or blocked for grouped.packed_forward: the slot holds one block per pack of
    # `spread` groups of `per_group` channels, slot.size // channels columns each, every column
    # input-channel-major ((g, ci) -> (ci, g)), so that a pack's columns are contiguous
    if spread == 0:
        slot[at * channels : at * channels + source.size] = source
        return
    pack = spread * per_group
    columns = slot.size // channels
    for k in range(channels // pack):
        block = slot[k * columns * pack : (k + 1) * columns * pack]
        for column in range(source.size // channels):
            packed = block[(at + column) * pack : (at + column + 1) * pack]
            for g in range(spread):
                start = column * channels + k * pack + g * per_group
                group = source[start : start + per_group]
                for ci in range(per_group):
                    packed[ci * spread + g] = group[ci]


@numba.njit(inline="always", **JIT)
def copy_transposed(slot, source, at, channels):
    # source: whole columns of `channels` values, into slot (C rows of slot.size // C columns)
    # from column `at`, channels and columns swapped (dense.pixel_forward reads columns as vectors):
    # blocks of L x L in registers (simd.transpose_block; a row's last block overlaps the one
    # before), the channels past whole blocks, or a row shorter than a block, one at a time
    row, columns = slot.size // channels, source.size // channels
    width = WIDE_BYTES // slot.itemsize
    blocked = channels // width * width if columns >= width else 0
    for c in range(0, blocked, width):
        for column in range(0, columns, width):
            column = min(column, columns - width)
            transpose_block(slot, c * row + at + column, row, source, column * channels + c, channels)
    for column in range(columns):
        for c in range(blocked, channels):
            slot[c * row + at + column] = source[column * channels + c]


@numba.njit(inline="always", **JIT)
def fetch_rows(
    x_flat, rows, valid, in_w, channels, pad, cache, cached_row, last_used, slot_of, stamp, spread=0, per_group=1
):
    # make the input rows rows[:valid] (flat row indices) resident: slot_of[i] receives the slot
    # of rows[i]. A slot's column b holds input column b - pad (blocked by packs of `spread`
    # groups where spread > 0, see copy_columns; channel-major where spread is TRANSPOSED);
    # columns no input column lands on were zero-filled once and are never written. Rows
    # already cached keep their slots; the others take the least recently used slots that this
    # call does not need (`stamp` increases from call to call).
    slots, length = cache.shape
    first, stop = max(0, -pad), min(in_w, length // channels - pad)  # columns that land in a slot
    for i in range(valid):
        slot_of[i] = -1
        for s in range(slots):
            if cached_row[s] == rows[i]:
                slot_of[i] = s
                last_used[s] = stamp
    for i in range(valid):
        if slot_of[i] >= 0:
            continue
        victim = 0
        for s in range(slots):
            if last_used[s] < last_used[victim]:
                victim = s
        slot_of[i], cached_row[victim], last_used[victim] = victim, rows[i], stamp
        source = rows[i] * in_w * channels
        block = x_flat[source + first * channels : source + stop * channels]
        if spread == TRANSPOSED:
            copy_transposed(cache[victim], block, first + pad, channels)
        else:
            copy_columns(cache[victim], block, first + pad, channels, spread, per_group)
