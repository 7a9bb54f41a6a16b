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
about once. Rows above or below the input are skipped, not padded; where no row needs padding
(valid and 1x1 layers) the tiles read the input rows in place. Temporary memory: per thread,
2 x KD x KH padded rows.

    y[n, o, f] = sum over t, c of xp[n, o*s + t*d, c] * w[t, c, f]

One call computes several such convolutions of the same input ("parts", each with its own
taps, geometry and strided place in the output): the phases of an input gradient.

With one vector of output channels or less, a pixel x channel tile would load once per
multiply-add; `pixel_forward` exchanges the roles (output channels x two vectors of output
columns, the row cache channel-major, filled by register transposes; tiles of 4 or 8 output
channels store transposed into the channels-last output). Grouped layers with groups that
small take it too, group after group. The kernel gradient tiles input channels x output
channels, summed over pieces of rows x columns whose input and gradient values fit L1.
"""

from __future__ import annotations

import numba
import numpy as np

from .loops import JIT, TRANSPOSED, column_range, fetch_rows, row_cache, tap_rows, valid_rows
from .simd import (
    DENSE_ROWS,
    DENSE_VECTORS,
    TRANSPOSED_ROWS,
    WIDE_BYTES,
    dense_adding_tiles,
    dense_four,
    dense_long,
    dense_one,
    dense_out_tiles,
    dense_short,
    narrow_adding_tiles,
    narrow_long,
    narrow_one,
    narrow_out_tiles,
    narrow_short,
    transposed_tiles,
)

LONG, SHORT = DENSE_ROWS
FEW = 4  # rows of simd.dense_four: 4 x 2 vectors, 8 independent chains of FMAs
_DENSE_OUT_LONG, _DENSE_OUT_SHORT, _DENSE_OUT_ONE = dense_out_tiles
_TRANSPOSED_FIRST, _TRANSPOSED_SECOND = transposed_tiles
_NARROW_OUT_LONG, _NARROW_OUT_SHORT, _NARROW_OUT_ONE = narrow_out_tiles
_DENSE_ADD_LONG, _DENSE_ADD_SHORT, _DENSE_ADD_ONE = dense_adding_tiles
_NARROW_ADD_LONG, _NARROW_ADD_SHORT, _NARROW_ADD_ONE = narrow_adding_tiles
# the columns of dense.forward's table of parts: kernel sizes, strides, dilation, padding before
# (3 each, D H W), output sizes (3), output steps (n, d, h, w), origin in out, start in the
# weights, rows per tile
P_KERNEL, P_STRIDES, P_DILATION, P_PADS, P_OUT, P_STEPS, P_ORIGIN, P_WEIGHTS, P_TILE = 0, 3, 6, 9, 12, 15, 19, 20, 21
PIECE_BYTES = 40 * 1024  # input and gradient columns a kernel-gradient piece reads: most of a 48 KB L1


def tile_rows(size: int) -> int:
    """Rows per tile for `size` output columns (or input channels): the long or the short tile,
    whichever computes fewer rows in all (the last tile overlaps the one before it), else one."""
    candidates = [rows for rows in DENSE_ROWS if rows <= size]
    if not candidates:
        return 1
    return min(candidates, key=lambda rows: (-(-size // rows) * rows, -rows))


def piece_shape(out_w: int, stride: int, channels: int, padded: int, itemsize: int) -> tuple[int, int]:
    """(rows, columns) of a kernel-gradient piece (`kernel_grad`): as many output columns as
    PIECE_BYTES of their input and gradient values hold, whole rows where they fit (at most
    16), else even parts of a row."""
    columns = max(1, PIECE_BYTES // ((stride * channels + padded) * itemsize))
    if columns >= out_w:
        return min(16, columns // out_w), out_w
    parts = -(-out_w // columns)
    return 1, -(-out_w // parts)


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
def _pixel_tile(rows, acc, x, bases, x_outer, w_outer, n_outer, n_inner, x_step, w, w_step, w_base):
    # pixel_forward's tiles: rows (output channels) x 2 vectors, with a 4-row tile for few channels
    if rows == LONG:
        dense_long(acc, x, bases, x_outer, w_outer, n_outer, n_inner, x_step, w, w_step, w_base)
    elif rows == SHORT:
        dense_short(acc, x, bases, x_outer, w_outer, n_outer, n_inner, x_step, w, w_step, w_base)
    elif rows == FEW:
        dense_four(acc, x, bases, x_outer, w_outer, n_outer, n_inner, x_step, w, w_step, w_base)
    else:
        dense_one(acc, x, bases, x_outer, w_outer, n_outer, n_inner, x_step, w, w_step, w_base)


@numba.njit(inline="always", **JIT)
def _transposed_tile(
    rows, out, out_base, out_step, columns, x, bases, x_outer, w_outer, n_outer, n_inner, x_step, w, w_step, w_base
):  # fmt: skip
    # pixel_forward's tiles that store transposed into out (simd.transposed_tiles)
    args = (out, out_base, out_step, columns, x, bases, x_outer, w_outer, n_outer, n_inner, x_step, w, w_step, w_base)
    if rows == TRANSPOSED_ROWS[0]:
        _TRANSPOSED_FIRST(*args)
    else:
        _TRANSPOSED_SECOND(*args)


def grad_rows(channels: int, width: int, itemsize: int) -> int:
    """Input channels per kernel-gradient tile: the dense tiles' choice (`tile_rows`), or with
    fewer channels than a short tile and two vectors of output channels, the 4-row tile (one
    row is two chains of dependent multiply-adds; 3-channel seed spent 4 cycles per term)."""
    if channels >= SHORT or width * itemsize == WIDE_BYTES:
        return tile_rows(channels)
    return FEW


def pixel_rows(out_channels: int) -> int:
    """Output channels per pixel_forward tile: the dense tiles' choice from a short tile up, else
    4 or a short tile's rows with the kernel zero-padded to them (a one-row tile is two chains
    of dependent multiply-adds: 4 rows keep 8 in flight, what two FMA units of 4 cycles need)."""
    if out_channels >= SHORT:
        return tile_rows(out_channels)
    return FEW if out_channels <= FEW else SHORT


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


@numba.njit(inline="always", **JIT)
def _tile_add(
    rows, narrow, out, out_base, out_step, x, bases, x_outer, w_outer, n_outer, n_inner, x_step, w, w_step, w_base
):
    # the same sums, added into out (simd.dense_adding_tiles, simd.narrow_adding_tiles)
    args = (out, out_base, out_step, x, bases, x_outer, w_outer, n_outer, n_inner, x_step, w, w_step, w_base)
    if narrow:
        if rows == LONG:
            _NARROW_ADD_LONG(*args)
        elif rows == SHORT:
            _NARROW_ADD_SHORT(*args)
        else:
            _NARROW_ADD_ONE(*args)
    elif rows == LONG:
        _DENSE_ADD_LONG(*args)
    elif rows == SHORT:
        _DENSE_ADD_SHORT(*args)
    else:
        _DENSE_ADD_ONE(*args)


@numba.njit(inline="always", **JIT)
def _job_at(cost, starts, costs, parts):
    # the first job whose work starts at or after `cost` (forward's split of the jobs by work)
    for part in range(parts.shape[0]):
        if cost < costs[part + 1]:
            taps = parts[part, P_KERNEL] * parts[part, P_KERNEL + 1] * parts[part, P_KERNEL + 2]
            return starts[part] + (cost - costs[part] + taps - 1) // taps
    return starts[-1]


@numba.njit(parallel=True, **JIT)
def forward(x, weights, out, parts, out_channels, width, block_size, chunks, span, shift):
    # x (N, D, H, W, C); weights and out flat. A part is one convolution of x into out (a layer
    # is one part; its input gradient one per input phase, engine.phases), a row of `parts`
    # (columns: the P_ constants): its geometry; its kernel, block b of L = `width` of the F =
    # `out_channels` output channels (zero-padded) at weights[P_WEIGHTS + b * block_size:] as
    # (T, C, L); and where its output pixel (n, od, oh, ow) goes: out[origin + n*sn + od*sd +
    # oh*sh + ow*sw :][:F], every entry written. Output rows (part, n, od, oh) are split into
    # `chunks` runs of consecutive rows, one run per task. The cache's column b holds input
    # column b - `shift` (the largest padding before among the parts), so parts share it.
    n_batch, in_d, in_h, in_w, channels = x.shape
    whole = out_channels % width == 0
    narrow = width * x.itemsize == WIDE_BYTES
    x_flat = x.reshape(x.size)
    slots, taps = 0, 0
    for part in range(parts.shape[0]):
        sizes = parts[part, P_KERNEL : P_KERNEL + 3]
        slots, taps = max(slots, 2 * sizes[0] * sizes[1]), max(taps, sizes[0] * sizes[1] * sizes[2])
    # the first job (output row) of each part, and the work before it: a part's rows weigh
    # its taps (the phases of a 3x3 stride-2 gradient have 4, 2, 2 and 1: split by rows, one
    # thread had twice the other's work)
    starts, costs = np.empty(parts.shape[0] + 1, np.int64), np.empty(parts.shape[0] + 1, np.int64)
    starts[0] = costs[0] = 0  # not np.zeros: with parallel=True that is a parallel loop of its own, one more wake-up
    for part in range(parts.shape[0]):
        o, sizes = parts[part, P_OUT : P_OUT + 3], parts[part, P_KERNEL : P_KERNEL + 3]
        starts[part + 1] = starts[part] + n_batch * o[0] * o[1]
        costs[part + 1] = costs[part] + n_batch * o[0] * o[1] * sizes[0] * sizes[1] * sizes[2]
    # where no part pads its rows (valid layers, 1x1 layers), the tiles read x's rows in place:
    # a copy into the cache would be pure cost (a sixth of a 64 -> 128 1x1 layer's time)
    in_place = shift <= 0 and span - shift <= in_w
    for chunk in numba.prange(chunks):
        # the cache's column b holds input column b - shift
        cache, cached_row, last_used = row_cache(1 if in_place else slots, span, x)
        cached, length = cache.reshape(cache.size), cache.shape[1]
        source = x_flat if in_place else cached
        rows = np.empty(slots, np.int64)
        kernel_rows = np.empty(slots, np.int64)
        slot_of = np.empty(slots, np.int64)
        x_outer = np.empty(taps, np.int64)  # per valid tap: its offset in the cache, its weights
        w_outer = np.empty(taps, np.int64)
        acc = np.empty((LONG, width), x.dtype)
        bases = np.empty(LONG, np.int64)
        part = 0
        begin = _job_at(chunk * costs[-1] // chunks, starts, costs, parts)
        for job in range(begin, _job_at((chunk + 1) * costs[-1] // chunks, starts, costs, parts)):
            while job >= starts[part + 1]:
                part += 1
            spec = parts[part]
            k_d, k_h, k_w = spec[P_KERNEL], spec[P_KERNEL + 1], spec[P_KERNEL + 2]
            strides, dilation, pads = (
                spec[P_STRIDES : P_STRIDES + 3],
                spec[P_DILATION : P_DILATION + 3],
                spec[P_PADS : P_PADS + 3],
            )
            out_d, out_h, out_w = spec[P_OUT], spec[P_OUT + 1], spec[P_OUT + 2]
            steps, tile = spec[P_STEPS : P_STEPS + 4], spec[P_TILE]
            local = job - starts[part]
            valid = valid_rows(local, out_d, out_h, in_d, in_h, k_d, k_h, strides, dilation, pads, rows, kernel_rows)
            if in_place:  # the rows themselves: input column b at column b
                for i in range(valid):
                    slot_of[i] = rows[i]
                row_length, column_shift = in_w * channels, 0
            else:
                fetch_rows(x_flat, rows, valid, in_w, channels, shift, cache, cached_row, last_used, slot_of, job + 1)
                row_length, column_shift = length, shift
            # terms: per valid tap (outer) its input channels (inner); without dilation a kernel
            # row's taps and channels are one run in the cache and in the weights (tap tw,
            # channel c at tw * C + c), so the outer loop is the kernel rows and the inner longer
            outer, inner = 0, channels if dilation[2] > 1 else k_w * channels
            for i in range(valid):
                for tw in range(k_w if dilation[2] > 1 else 1):
                    x_outer[outer] = slot_of[i] * row_length + (tw * dilation[2] + column_shift - pads[2]) * channels
                    w_outer[outer] = (kernel_rows[i] * k_w + tw) * channels * width
                    outer += 1
            n, rest = local // (out_d * out_h), local % (out_d * out_h)
            out_row = spec[P_ORIGIN] + n * steps[0] + (rest // out_h) * steps[1] + (rest % out_h) * steps[2]
            for block in range(-(-out_channels // width)):
                target = block * width
                w_base = spec[P_WEIGHTS] + block * block_size
                ow = 0
                while ow < out_w:
                    start = min(ow, out_w - tile)
                    for p in range(tile):
                        bases[p] = (start + p) * strides[2] * channels
                    if whole:  # every block full: the tile stores into out
                        at = out_row + start * steps[3] + target
                        _tile_out(
                            tile,
                            narrow,
                            out,
                            at,
                            steps[3],
                            source,
                            bases,
                            x_outer,
                            w_outer,
                            outer,
                            inner,
                            1,
                            weights,
                            width,
                            w_base,
                        )
                    else:
                        _tile(tile, acc, source, bases, x_outer, w_outer, outer, inner, 1, weights, width, w_base)
                        for p in range(tile):
                            at = out_row + (start + p) * steps[3] + target
                            for lane in range(min(width, out_channels - target)):
                                out[at + lane] = acc[p, lane]
                    ow = start + tile


@numba.njit(parallel=True, **JIT)
def pixel_forward(x, kernel, out, kernel_sizes, strides, dilation, pads, groups, filter_rows, chunks, span):
    # kernel (G, T, Cg, FP) with FP >= Fg (zero-padded to a tile's rows where Fg is fewer)
    # The same sums with the roles of pixels and channels swapped, for layers with one vector
    # of output channels or less (F <= L) and stride 1 along rows: there a tile of R pixels x
    # one vector needs R + 1 loads per R multiply-adds, more than the two load ports give. Here
    # a tile holds R output channels x 2 vectors of consecutive output columns (the dense tiles
    # of simd.py, called with x and w exchanged): per term (tap, input channel) two vector
    # loads of input columns and R broadcasts of weights, 2R multiply-adds.
    # x (N, D, H, W, G * Cg); kernel flat; out (N, OD, OH, OW, G * Fg), every entry written,
    # transposed back on the way out. Output rows are split into `chunks` runs, one per task;
    # each reads its input rows through a row cache as `forward` does, but channel-major (a
    # slot is C rows of `span` columns, rounded up to whole vectors), so that columns are vectors.
    # A grouped layer (groups of at most one vector of output channels: ResNeXt's 8 -> 8) runs
    # its groups one after another on each output row, every group's input channels a run of
    # the slot's rows.
    n_batch, in_d, in_h, in_w, in_channels = x.shape
    _, out_d, out_h, out_w, out_channels = out.shape
    k_d, k_h, k_w = kernel_sizes[0], kernel_sizes[1], kernel_sizes[2]
    channels, per_group_out = in_channels // groups, out_channels // groups  # Cg, Fg
    padded = kernel.size // (groups * k_d * k_h * k_w * channels)  # FP
    group_size = k_d * k_h * k_w * channels * padded  # one group's kernel
    lanes = WIDE_BYTES // x.itemsize
    pixels = DENSE_VECTORS * lanes  # output columns per tile
    line = 64 // x.itemsize  # a slot's columns per channel, whole cache lines: each channel's row is
    span = max(span, pixels + (k_w - 1) * dilation[2])  # a tile reads `pixels` columns, even past a short row
    row_length = -(-span // line) * line  # 64-byte aligned, and the slot exactly C of them (copy_transposed)
    x_flat, out_flat = x.reshape(x.size), out.reshape(out.size)
    transposed = filter_rows in TRANSPOSED_ROWS and filter_rows <= lanes  # its tiles store into out
    slots = 2 * k_d * k_h
    jobs = n_batch * out_d * out_h
    for chunk in numba.prange(chunks):
        cache, cached_row, last_used = row_cache(slots, row_length, x)  # column b: input column b - pads[2]
        cached, length = cache.reshape(cache.size), cache.shape[1]
        rows = np.empty(k_d * k_h, np.int64)
        kernel_rows = np.empty(k_d * k_h, np.int64)
        slot_of = np.empty(k_d * k_h, np.int64)
        k_outer = np.empty(k_d * k_h * k_w, np.int64)  # per valid tap: its weights, its slot's columns
        x_outer = np.empty(k_d * k_h * k_w, np.int64)
        acc = np.empty((LONG, pixels), x.dtype)
        bases = np.empty(LONG, np.int64)
        for job in range(chunk * jobs // chunks, (chunk + 1) * jobs // chunks):
            valid = valid_rows(job, out_d, out_h, in_d, in_h, k_d, k_h, strides, dilation, pads, rows, kernel_rows)
            fetch_rows(
                x_flat, rows, valid, in_w, in_channels, pads[2], cache, cached_row, last_used, slot_of, job + 1,
                TRANSPOSED,
            )  # fmt: skip
            outer = 0
            for i in range(valid):
                for tw in range(k_w):
                    k_outer[outer] = (kernel_rows[i] * k_w + tw) * channels * padded
                    x_outer[outer] = slot_of[i] * length + tw * dilation[2]
                    outer += 1
            for g in range(groups):
                out_row = job * out_w * out_channels + g * per_group_out
                for first in range(0, per_group_out, filter_rows):
                    first = min(first, padded - filter_rows)  # the last tile overlaps the one before
                    for p in range(filter_rows):
                        bases[p] = g * group_size + first + p
                    ow = 0
                    while ow < out_w:
                        # the last tile overlaps the one before; on a row shorter than a tile it
                        # reads the cache's zero columns past the row's end and stores only the row
                        start = max(0, min(ow, out_w - pixels))
                        w_base = g * channels * row_length + start
                        if transposed and first + filter_rows <= per_group_out:  # every row an output channel
                            _transposed_tile(
                                filter_rows, out_flat, out_row + start * out_channels + first, out_channels,
                                min(pixels, out_w - start), kernel, bases, k_outer, x_outer, outer, channels,
                                padded, cached, row_length, w_base,
                            )  # fmt: skip
                        else:
                            _pixel_tile(
                                filter_rows, acc, kernel, bases, k_outer, x_outer, outer, channels, padded,
                                cached, row_length, w_base,
                            )  # fmt: skip
                            for q in range(min(pixels, out_w - start)):
                                at = out_row + (start + q) * out_channels + first
                                for p in range(min(filter_rows, per_group_out - first)):
                                    out_flat[at + p] = acc[p, q]
                        ow = start + pixels


@numba.njit(parallel=True, **JIT)
def kernel_grad(x, grad, partial, strides, dilation, pads, rows, width, sweep, span):
    # x (N, D, H, W, C); grad (N, OD, OH, OW, FB * L): the output gradient zero-padded to whole
    # blocks of L = `width` lanes; partial (chunks, KD, KH, KW, C, F) zero-filled. A chunk's
    # output rows go in pieces of `sweep` rows x `span` columns, sized (piece_shape) so that
    # their input and gradient columns stay in L1 while every tile of the piece reads them
    # (std3x3's 4 x 56 columns were 116 KB, from L2: 67% of the FMA peak on one core, against
    # 95% where a piece fits). Per piece and kernel tap: tiles of R input channels x L output
    # channels, summed over the piece's rows (outer) and the columns of each row that the tap
    # keeps inside the input (inner) in registers, then added into partial.
    n_batch, _, _, in_w, channels = x.shape
    chunks, k_d, k_h, k_w, _, out_channels = partial.shape
    _, out_d, out_h, out_w, padded = grad.shape
    blocks = padded // width
    whole, narrow = out_channels == padded, width * x.itemsize == WIDE_BYTES
    x_flat, g_flat = x.reshape(x.size), grad.reshape(grad.size)
    jobs = n_batch * out_d * out_h
    for chunk in numba.prange(chunks):
        sums = partial[chunk]
        sums_flat = sums.reshape(sums.size)
        acc = np.zeros((LONG, width), x.dtype)
        bases = np.empty(LONG, np.int64)
        x_rows = np.empty(sweep, np.int64)  # the input row a tap reads for each output row
        g_rows = np.empty(sweep, np.int64)
        for begin in range(chunk * jobs // chunks, (chunk + 1) * jobs // chunks, sweep):
            end = min(begin + sweep, (chunk + 1) * jobs // chunks)
            for piece in range(0, out_w, span):
                for td in range(k_d):
                    for th in range(k_h):
                        count = tap_rows(
                            begin, end, td, th, x.shape, grad.shape, strides, dilation, pads, x_rows, g_rows
                        )
                        if count == 0:
                            continue
                        for tw in range(k_w):
                            offset = tw * dilation[2]
                            first, stop = column_range(in_w, out_w, pads[2], offset, strides[2])
                            first, stop = max(first, piece), min(stop, piece + span)
                            if stop <= first:
                                continue
                            _kernel_grad_tap(
                                x_flat, g_flat, sums, sums_flat, acc, bases, x_rows, g_rows, count, first, stop,
                                td, th, tw, offset, strides[2], pads[2], channels, out_channels, padded, width,
                                blocks, rows, whole, narrow,
                            )  # fmt: skip


@numba.njit(inline="always", **JIT)
def _kernel_grad_tap(
    x_flat, g_flat, sums, sums_flat, acc, bases, x_rows, g_rows, count, first, stop,
    td, th, tw, offset, stride, pad, channels, out_channels, padded, width, blocks, rows, whole, narrow,
):  # fmt: skip
    # kernel_grad's tiles for one tap over output columns first..stop of `count` rows
    _, k_h, k_w, _, _ = sums.shape
    x_at = (first * stride + offset - pad) * channels
    x_step, columns = stride * channels, stop - first
    for block in range(blocks):  # outer: the block's gradient columns stay in L1
        at = first * padded + block * width
        target = block * width
        for ci in range(0, channels, rows):
            for p in range(rows):  # past the last channel: repeat it, drop it below
                bases[p] = x_at + min(ci + p, channels - 1)
            few = rows == FEW and rows != SHORT  # the 4-row tile (dense_four) has no adding form
            if whole and ci + rows <= channels and not few:  # the tile adds its sums into partial
                into = (((td * k_h + th) * k_w + tw) * channels + ci) * out_channels + target
                _tile_add(
                    rows, narrow, sums_flat, into, out_channels, x_flat, bases, x_rows, g_rows,
                    count, columns, x_step, g_flat, padded, at,
                )  # fmt: skip
                continue
            if few:
                dense_four(acc, x_flat, bases, x_rows, g_rows, count, columns, x_step, g_flat, padded, at)
            else:
                _tile(rows, acc, x_flat, bases, x_rows, g_rows, count, columns, x_step, g_flat, padded, at)
            for p in range(min(rows, channels - ci)):
                for lane in range(min(width, out_channels - target)):
                    sums[td, th, tw, ci + p, target + lane] += acc[p, lane]
