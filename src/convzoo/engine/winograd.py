"""Winograd minimal filtering: F(4, 3) and F(4, 2) along each axis of the plane, fused.

Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks" (arXiv:1509.09308). A 4x4
tile of outputs of a 3x3 correlation needs 36 multiplications in the transformed domain
instead of 144: Y = A^T [(G g G^T) * (B^T d B)] A, with d the 6x6 input tile and g the 3x3
kernel. Across channels the 36 element-wise products become 36 matrix products

    M[e] = V[e] @ U[e],   V (36, tiles, C_in) the input tiles,  U (36, C_in, C_out) the kernel

so the multiply count falls 4x. Each axis of the plane takes F(4, 3) (3 taps: 6 transformed
values per 4 outputs), F(4, 2) (2 taps: 5 per 4; the same Toom-Cook construction on the
points 0, 1, -1, 2 and infinity) or none (1 tap): nine forms (SPANS: 6, 5 or 1 per axis), so
a 2x2 plane saves 2.56x, a (3, 1) one (a spatially separable stage, or a 1-D layer of 3 taps) 2x.

Parts and terms. One call computes parts, each a stride-1 correlation into a strided place of
the output, summing terms, each a correlation of its own taps with its own shift of the input:

- dilation d along an axis: d parts, one per phase p of the outputs (p, p + d, ...), reading
  every d-th input;
- stride s (dilation 1): one part summing s terms, term a reading every s-th input from a with
  the taps a, a + s, ... (zero-padded to ceil(K / s) taps, so a 3x3 stride-2 layer is 4 terms of
  2x2: 1.44x fewer multiplications, a 4x4 one 2.56x);
- the depth taps of a 3-D kernel: terms, V[k] for the slice each reads (any depth stride and
  dilation);
- the input gradient (`engine.phases`): one part per input phase, each a correlation of the
  output gradient with its own taps of the flipped kernel and its own form (a 4x4 stride-2
  layer's are 2x2; a 3x3 one's 2x2, 2x1, 1x2 and 1x1), storing into its positions of dx.

One compiled loop (`_fused`) does the three steps for a run of tiles at a time, taken in order
across tile rows, depth slices and batch items, so that V and M stay in the thread's cache
instead of travelling through memory (written to memory whole, a 56 x 56 x 64 layer's V and M
are 2.2 times its input and output, and the transforms then cost more than the products):

1. B^T d B per tile, term and vector of channels (`simd.sandwich_of`, the tile's vectors in
   registers) into V (K, E, run, C): read in place inside the input where the channels fill
   whole vectors, else gathered into a small patch with the padding's zeros;
2. the E products, summed over the terms, in `direct`'s dense register tiles (a tile of the
   run's tiles x two wide vectors of output channels summed over the input channels), into M;
3. A^T m A per tile and vector into the output, straight where the tile lies inside it, and
   0 or NaN back for the engine's check of non-finite results (`checked`).

The kernel gradient is the adjoint (`_fused_kernel_grad`): dU[k, e] = sum over tiles of
V[k, e]^T (A dY A^T)[e], then G^T dU G per term, scattered back to its taps.

Accuracy. The transforms' entries (up to 5 and 8, and 1/24 in G) grow the rounding error: in
float32 the error of F(4x4, 3x3) is several times that of the direct sum, F(4, 2)'s less
(docs/performance.md gives the measured figures; tests/test_algorithms.py bounds them).

Temporary memory: the transformed kernels (K x E x C_in x C_out each, packed), and per thread V
and M: E x run x (K C_in + C_out) values, RUN_BYTES or one long register tile of tiles.
"""

from __future__ import annotations

import functools
import itertools
import math

import numba
import numpy as np

from ..arithmetic import ConvGeometry
from . import phases
from .direct import _as_3d
from .direct.dense import LONG, SHORT, _tile_add, _tile_out
from .direct.loops import JIT
from .direct.simd import WIDE_BYTES, dense_lanes, sandwich_of
from .shift_add import swap_channels

TILE = 4  # outputs per tile along a transformed axis: F(4, r)
SPANS = {1: 1, 2: 5, 3: 6}  # taps r along an axis -> transformed values per tile (TILE + r - 1; 1: not transformed)
MAX_SPAN = 6
RUN_BYTES = 256 << 10  # V and M (or W) of a run (measured, forward: 256 KB best, 1 MB 5-15% slower)

# F(4, 3), points 0, 1, -1, 2, -2 and infinity (Lavin and Gray)
_B_T3 = (
    (4, 0, -5, 0, 1, 0),
    (0, -4, -4, 1, 1, 0),
    (0, 4, -4, -1, 1, 0),
    (0, -2, -1, 2, 1, 0),
    (0, 2, -1, -2, 1, 0),
    (0, 4, 0, -5, 0, 1),
)
_A_T3 = ((1, 1, 1, 1, 1, 0), (0, 1, -1, 2, -2, 0), (0, 1, 1, 4, 4, 0), (0, 1, -1, 8, -8, 1))
_G3 = np.array(
    [
        [1 / 4, 0, 0],
        [-1 / 6, -1 / 6, -1 / 6],
        [-1 / 6, 1 / 6, -1 / 6],
        [1 / 24, 1 / 12, 1 / 6],
        [1 / 24, -1 / 12, 1 / 6],
        [0, 0, 1],
    ]
)
# F(4, 2), points 0, 1, -1, 2 and infinity: the same Toom-Cook construction (A^T the points'
# powers, G their Lagrange weights, B^T solved from the bilinear identity)
_B_T2 = ((2, -1, -2, 1, 0), (0, -2, -1, 1, 0), (0, 2, -3, 1, 0), (0, -1, 0, 1, 0), (0, 2, -1, -2, 1))
_A_T2 = ((1, 1, 1, 1, 0), (0, 1, -1, 2, 0), (0, 1, 1, 4, 0), (0, 1, -1, 8, 1))
_G2 = np.array([[1 / 2, 0], [-1 / 2, -1 / 2], [-1 / 6, 1 / 6], [1 / 6, 1 / 3], [0, 1]])
_ONE = ((1,),)  # an axis that is not transformed
# per span: input transform B^T, output transform A^T, kernel transform G
_BY_SPAN = {6: (_B_T3, _A_T3, _G3), 5: (_B_T2, _A_T2, _G2), 1: (_ONE, _ONE, np.ones((1, 1)))}


def _transpose(matrix):
    return tuple(zip(*matrix))


def _dispatch(which: int, checked: bool = False, transposed: bool = False):
    """A compiled function (rows, columns, out, ...) that applies transform `which` of the form
    (rows, columns), spans 6, 5 or 1 each: 0 the input's B^T, 1 the output's A^T (`transposed`:
    A, the output gradients'), 2 the kernel's G. numba cannot index a tuple of intrinsics at run
    time, so the nine forms are branches."""

    def matrix(span):
        chosen = _BY_SPAN[span][which]
        return _transpose(chosen) if transposed else chosen

    t = {(h, w): sandwich_of(matrix(h), matrix(w), checked=checked) for h in (6, 5, 1) for w in (6, 5, 1)}
    f66, f65, f61, f56, f55, f51, f16, f15, f11 = (t[h, w] for h in (6, 5, 1) for w in (6, 5, 1))

    @numba.njit(inline="always", **JIT)
    def transform(rows, columns, out, out_base, out_row, out_col, x, x_base, x_row, x_col):
        if rows == 6:
            if columns == 6:
                return f66(out, out_base, out_row, out_col, x, x_base, x_row, x_col)
            if columns == 5:
                return f65(out, out_base, out_row, out_col, x, x_base, x_row, x_col)
            return f61(out, out_base, out_row, out_col, x, x_base, x_row, x_col)
        if rows == 5:
            if columns == 6:
                return f56(out, out_base, out_row, out_col, x, x_base, x_row, x_col)
            if columns == 5:
                return f55(out, out_base, out_row, out_col, x, x_base, x_row, x_col)
            return f51(out, out_base, out_row, out_col, x, x_base, x_row, x_col)
        if columns == 6:
            return f16(out, out_base, out_row, out_col, x, x_base, x_row, x_col)
        if columns == 5:
            return f15(out, out_base, out_row, out_col, x, x_base, x_row, x_col)
        return f11(out, out_base, out_row, out_col, x, x_base, x_row, x_col)

    return transform


_transform_input = _dispatch(0)  # B^T d B
_transform_output = _dispatch(1, checked=True)  # A^T m A, and 0 or NaN (simd.sandwich_of's check)
_transform_gradient = _dispatch(1, transposed=True)  # A dY A^T: the output gradients into the transformed domain
_transform_weights = _dispatch(2)  # G g G^T: the kernel (its entries 1/6, 1/24, ... rounded in the work dtype)
# out[out_base :][:L] = x[x_base :][:L], one wide vector (numba's loops copy element by element)
_copy_vector = sandwich_of(_ONE)

# The columns of a part (`_plan`): one stride-1 correlation, or one sum of strided phase terms,
# into a strided place of the output. Its input: rows R_ROW0 + R_STEP_H * i (i = TILE * tile
# row + position in the tile, plus a term's row offset), zero outside [0, R_HI_H); columns
# likewise. Its outputs: O_ROWS x O_COLS at O_BASE + O_ROW * i + O_COL * j (in elements) of
# each image (n, od); the form SPAN_H x SPAN_W; its transformed kernel at U_BASE; its first job.
R_ROW0, R_COL0, R_STEP_H, R_STEP_W, R_HI_H, R_HI_W = range(6)
O_BASE, O_ROW, O_COL, O_ROWS, O_COLS, SPAN_H, SPAN_W, U_BASE, JOB0 = range(6, 15)
# a term: (depth, row, column) offsets of its input, added to the part's
T_DEPTH, T_ROW, T_COL = range(3)


@numba.njit(inline="always", **JIT)
def _outputs(span):
    # outputs per tile along an axis with `span` transformed values: TILE, or 1 (not transformed)
    return TILE if span > 1 else 1


@numba.njit(inline="always", **JIT)
def _rows_per_tile(size):
    # dense.tile_rows: the long or the short tile, whichever computes fewer rows in all, else one
    best, best_total = 1, size
    for rows in (SHORT, LONG):
        total = -(-size // rows) * rows
        if rows <= size and total <= best_total:
            best, best_total = rows, total
    return best


@numba.njit(inline="always", **JIT)
def _job(parts, job, run, images):
    # job -> its part, its first tile, the run's tiles, tiles per row and per image of the part
    i = 0
    while i + 1 < parts.shape[0] and parts[i + 1, JOB0] <= job:
        i += 1
    part = parts[i]
    tiles_w = -(-part[O_COLS] // _outputs(part[SPAN_W]))
    plane = -(-part[O_ROWS] // _outputs(part[SPAN_H])) * tiles_w
    first = (job - part[JOB0]) * run
    return part, first, min(run, images * plane - first), tiles_w, plane


@numba.njit(inline="always", **JIT)
def _input_tiles(x_flat, x_shape, out_d, v, patch, first, tiles, plane, tiles_w, part, terms, depth):
    # V[k, e, t, :] = (B^T d B)[e] for tiles first .. first + tiles of the part, d the tile's
    # inputs (span_h x span_w) that term k reads: in place inside the input (channels in whole
    # vectors), else gathered into `patch` (36 x CP, the channels past C zero) with zeros for
    # the padding; zero for a depth slice outside the input
    n_batch, in_d, in_h, in_w, channels = x_shape
    s_d, p_d = depth[0], depth[1]
    span_h, span_w = part[SPAN_H], part[SPAN_W]
    read_h, read_w, hi_h, hi_w = part[R_STEP_H], part[R_STEP_W], part[R_HI_H], part[R_HI_W]
    values, n_terms = span_h * span_w, terms.shape[0]
    lanes = WIDE_BYTES // x_flat.itemsize
    padded_in = patch.size // (MAX_SPAN * MAX_SPAN)
    step = tiles * padded_in  # from one e to the next in V
    for t in range(tiles):
        image, rest = (first + t) // plane, (first + t) % plane
        n, od = image // out_d, image % out_d
        row0 = part[R_ROW0] + read_h * _outputs(span_h) * (rest // tiles_w)  # input row, column of d[0, 0]
        col0 = part[R_COL0] + read_w * _outputs(span_w) * (rest % tiles_w)
        for k in range(n_terms):
            into = (k * values * tiles + t) * padded_in
            i_d = od * s_d + terms[k, T_DEPTH] - p_d
            if i_d < 0 or i_d >= in_d:
                for e in range(values):
                    v[into + e * step : into + e * step + padded_in] = 0
                continue
            top, left = row0 + terms[k, T_ROW], col0 + terms[k, T_COL]
            inside = (
                top >= 0 and top + (span_h - 1) * read_h < hi_h and left >= 0 and left + (span_w - 1) * read_w < hi_w
            )
            slice_at = (n * in_d + i_d) * in_h
            if padded_in == channels and inside:
                source, base = x_flat, ((slice_at + top) * in_w + left) * channels
                row_step, col_step = read_h * in_w * channels, read_w * channels
            else:
                for i in range(span_h):
                    for j in range(span_w):
                        r, c = top + read_h * i, left + read_w * j
                        at = (i * span_w + j) * padded_in
                        if 0 <= r < hi_h and 0 <= c < hi_w:
                            start = ((slice_at + r) * in_w + c) * channels
                            patch[at : at + channels] = x_flat[start : start + channels]
                        else:
                            patch[at : at + channels] = 0
                source, base, row_step, col_step = patch, 0, span_w * padded_in, padded_in
            for c in range(0, padded_in, lanes):
                _transform_input(span_h, span_w, v, into + c, span_w * step, step, source, base + c, row_step, col_step)


@numba.njit(parallel=True, **JIT)
def _fused(x, u, out, parts, terms, depth, run, jobs, width, chunks, flags):
    # x (N, D, H, W, C); u flat, each part's transformed kernel (FB, K, E, C, width) at its
    # U_BASE, in blocks of `width` output channels (zero-padded); out (N, OD, OH, OW, F), every
    # entry the parts cover written; parts and terms (`_plan`); depth: the depth axis's stride
    # and padding before (its taps are terms). A job is a run of `run` consecutive tiles (n,
    # od, tile row, tile column) of one part; the jobs are split into `chunks` ranges, one per
    # task. flags[chunk]: 0 where every output the task computed is finite, else NaN (the
    # engine then asks gemm for the direct sums' NaN and Inf).
    n_batch, _, _, _, channels = x.shape
    _, out_d, out_h, out_w, out_channels = out.shape
    n_terms, image_size = terms.shape[0], out_h * out_w * out_channels
    lanes = WIDE_BYTES // x.itemsize
    padded_in = -(-channels // lanes) * lanes  # channels to whole vectors, the rest zero
    padded_out = -(-out_channels // width) * width
    most = 1
    for i in range(parts.shape[0]):
        most = max(most, parts[i, SPAN_H] * parts[i, SPAN_W])
    narrow = width == lanes
    x_flat, out_flat = x.reshape(x.size), out.reshape(out.size)
    for chunk in numba.prange(chunks):
        patch = np.empty(MAX_SPAN * MAX_SPAN * padded_in, x.dtype)
        for i in range(patch.size):
            patch[i] = 0  # the channels past C stay zero: only a column's first C values are written
        v = np.empty(n_terms * most * run * padded_in, x.dtype)
        m = np.empty(most * run * padded_out, x.dtype)
        edge = np.empty(TILE * TILE * lanes, x.dtype)
        bases = np.empty(LONG, np.int64)
        x_outer = np.empty(n_terms, np.int64)
        w_outer = np.empty(n_terms, np.int64)
        bad = x.dtype.type(0)
        for job in range(chunk * jobs // chunks, (chunk + 1) * jobs // chunks):
            part, first, tiles, tiles_w, plane = _job(parts, job, run, n_batch * out_d)
            if tiles <= 0:
                continue
            span_h, span_w = part[SPAN_H], part[SPAN_W]
            values, tile_h, tile_w = span_h * span_w, _outputs(span_h), _outputs(span_w)
            # 1. V[k, e, t, :] = (B^T d B)[e] for the run's tiles and every term
            _input_tiles(x_flat, x.shape, out_d, v, patch, first, tiles, plane, tiles_w, part, terms, depth)
            # 2. M[e] = sum over terms k of V[k, e] @ U[k, e]: tiles of `rows` tiles x a block of
            # output channels, the terms the outer terms of the sum
            rows = _rows_per_tile(tiles)
            for k in range(n_terms):
                w_outer[k] = k * values * channels * width
            for e in range(values):
                for k in range(n_terms):
                    x_outer[k] = (k * values + e) * tiles * padded_in
                for block in range(padded_out // width):
                    w_base = part[U_BASE] + (block * n_terms * values + e) * channels * width
                    t = 0
                    while t < tiles:
                        start = min(t, tiles - rows)
                        for k in range(rows):
                            bases[k] = (start + k) * padded_in
                        at = (e * tiles + start) * padded_out + block * width
                        _tile_out(
                            rows,
                            narrow,
                            m,
                            at,
                            padded_out,
                            v,
                            bases,
                            x_outer,
                            w_outer,
                            n_terms,
                            channels,
                            1,
                            u,
                            width,
                            w_base,
                        )
                        t = start + rows
            # 3. the outputs: A^T M_t A, a tile_h x tile_w tile per vector of output channels
            step = tiles * padded_out
            row_step, col_step = part[O_ROW], part[O_COL]
            for t in range(tiles):
                image, rest = (first + t) // plane, (first + t) % plane
                th, tw = rest // tiles_w, rest % tiles_w
                base = image * image_size + part[O_BASE] + tile_h * th * row_step + tile_w * tw * col_step
                inside = tile_h * (th + 1) <= part[O_ROWS] and tile_w * (tw + 1) <= part[O_COLS]
                for f in range(0, out_channels, lanes):
                    source = t * padded_out + f
                    if inside and f + lanes <= out_channels:
                        bad += _transform_output(
                            span_h, span_w, out_flat, base + f, row_step, col_step, m, source, span_w * step, step
                        )
                        continue
                    bad += _transform_output(
                        span_h, span_w, edge, 0, tile_w * lanes, lanes, m, source, span_w * step, step
                    )
                    for i in range(min(tile_h, part[O_ROWS] - tile_h * th)):
                        for j in range(min(tile_w, part[O_COLS] - tile_w * tw)):
                            at = base + i * row_step + j * col_step + f
                            for lane in range(min(lanes, out_channels - f)):
                                out_flat[at + lane] = edge[(i * tile_w + j) * lanes + lane]
        flags[chunk] = bad


@numba.njit(parallel=True, **JIT)
def _fused_kernel_grad(x, grad, partial, parts, terms, depth, run, jobs, width, chunks):
    # The adjoint of _fused in the kernel: Y_t = A^T [sum over k of U_k * V_t,k] A for every tile
    # t, so the gradient in the transformed domain is dU[k, e] = sum over t of V_t[k, e]^T
    # W_t[e], with W_t = A dY_t A^T (dY_t the tile's output gradients, zero past the part's
    # outputs), and the kernel's is G^T dU G (`_untransform_kernel`). x (N, D, H, W, C); grad
    # (N, OD, OH, OW, F); parts (one form) and terms as in _fused; partial (chunks, K, E, C, FP)
    # zeroed, FP the output channels padded to whole blocks of `width`: task `chunk` adds its
    # runs' dU into partial[chunk].
    n_batch, _, _, _, channels = x.shape
    _, out_d, out_h, out_w, out_channels = grad.shape
    n_terms, image_size = terms.shape[0], out_h * out_w * out_channels
    span_h, span_w = parts[0, SPAN_H], parts[0, SPAN_W]
    values, tile_h, tile_w = span_h * span_w, _outputs(span_h), _outputs(span_w)
    padded_out = partial.shape[-1]
    lanes = WIDE_BYTES // x.itemsize
    padded_in = -(-channels // lanes) * lanes
    narrow = width == lanes
    x_flat, grad_flat = x.reshape(x.size), grad.reshape(grad.size)
    for chunk in numba.prange(chunks):
        sums = partial[chunk].reshape(partial[chunk].size)  # [k, e, c, :] at ((k * E + e) * C + c) * FP
        patch = np.empty(MAX_SPAN * MAX_SPAN * padded_in, x.dtype)
        for i in range(patch.size):
            patch[i] = 0
        outputs = np.empty(TILE * TILE * padded_out, x.dtype)  # a tile's output gradients, gathered
        for i in range(outputs.size):
            outputs[i] = 0  # the channels past F stay zero
        v = np.empty(n_terms * values * run * padded_in, x.dtype)
        w = np.empty(values * run * padded_out, x.dtype)
        bases = np.empty(LONG, np.int64)
        x_outer = np.zeros(1, np.int64)
        w_outer = np.zeros(1, np.int64)
        for job in range(chunk * jobs // chunks, (chunk + 1) * jobs // chunks):
            part, first, tiles, tiles_w, plane = _job(parts, job, run, n_batch * out_d)
            if tiles <= 0:
                continue
            # 1. V[k, e, t, :] as in the forward
            _input_tiles(x_flat, x.shape, out_d, v, patch, first, tiles, plane, tiles_w, part, terms, depth)
            # 2. W[e, t, :] = (A dY_t A^T)[e]: in place inside the output, else gathered
            step = tiles * padded_out
            row_step, col_step = part[O_ROW], part[O_COL]
            for t in range(tiles):
                image, rest = (first + t) // plane, (first + t) % plane
                th, tw = rest // tiles_w, rest % tiles_w
                base = image * image_size + part[O_BASE] + tile_h * th * row_step + tile_w * tw * col_step
                rows_in, cols_in = part[O_ROWS] - tile_h * th, part[O_COLS] - tile_w * tw
                if padded_out == out_channels and rows_in >= tile_h and cols_in >= tile_w:
                    source, at, tile_row, tile_col = grad_flat, base, row_step, col_step
                else:
                    for i in range(tile_h):
                        for j in range(tile_w):
                            at = (i * tile_w + j) * padded_out
                            if i < rows_in and j < cols_in:
                                start = base + i * row_step + j * col_step
                                outputs[at : at + out_channels] = grad_flat[start : start + out_channels]
                            else:
                                outputs[at : at + out_channels] = 0
                    source, at, tile_row, tile_col = outputs, 0, tile_w * padded_out, padded_out
                for f in range(0, padded_out, lanes):
                    _transform_gradient(
                        span_h, span_w, w, t * padded_out + f, span_w * step, step, source, at + f, tile_row, tile_col
                    )
            # 3. dU[k, e] += V[k, e]^T W[e]: tiles of input channels x a block of output
            # channels, summed over the run's tiles (whole tiles only: they add into dU)
            for k in range(n_terms):
                for e in range(values):
                    x_outer[0] = (k * values + e) * tiles * padded_in
                    for block in range(padded_out // width):
                        w_base = e * step + block * width
                        c = 0
                        while c < channels:
                            rows = LONG if channels - c >= LONG else (SHORT if channels - c >= SHORT else 1)
                            for i in range(rows):
                                bases[i] = c + i
                            at = ((k * values + e) * channels + c) * padded_out + block * width
                            _tile_add(
                                rows,
                                narrow,
                                sums,
                                at,
                                padded_out,
                                v,
                                bases,
                                x_outer,
                                w_outer,
                                1,
                                tiles,
                                padded_in,
                                w,
                                padded_out,
                                w_base,
                            )
                            c += rows


STAGED = 8  # input channels per staged group of _transform_kernel (8 x 36 x 2 vectors: 36 KB, in L1)


@numba.njit(**JIT)
def _transform_kernel(kernel, span_h, span_w, packed):
    # kernel (K, KH, KW, C, FP) contiguous, FP the output channels zero-padded to whole vectors;
    # packed (FB, K, E, C, L), every entry written: [b, k, i * EW + j, c, l] = (G g G^T)[i, j]
    # of term k and channel pair (c, b L + l), zero past FP, G per axis for its span (or 1),
    # a vector of output channels at a time in registers (`_transform_weights`). A compiled
    # loop, not NumPy: NumPy's matrix products would wake the BLAS threads just before numba's
    # (on 2 cores, a 1 x 28 x 28 x 64 layer took 0.75 ms instead of 0.3).
    # Staged: one channel's E values lie C x L apart in packed, a multiple of 4 KB whenever C is
    # of 32 (L = 32 float32), so stored straight they all fall in one set of L1 and evict each
    # other half-written (4.7 ns a vector for C = 128, 1.8 for C = 120). The transforms of
    # STAGED channels go to a small buffer (E, STAGED, L) first, then each value's run of channels
    # is copied whole, in order: about 3 ns a vector for any C (0.035 ms for C = 128).
    terms, k_h, k_w, channels, padded = kernel.shape
    blocks, _, values, _, width = packed.shape
    lanes = WIDE_BYTES // kernel.itemsize
    taps, out = kernel.reshape(kernel.size), packed.reshape(packed.size)
    run = STAGED * width  # stage (E, STAGED, L): one value's channels are one run
    stage = np.empty(values * run, kernel.dtype)
    e_step, c_step = channels * width, channels * padded
    for b in range(blocks):
        live = min(width, padded - b * width)  # lanes below FP; the others stay zero
        if live < width:
            stage[:] = 0
        for k in range(terms):
            for c0 in range(0, channels, STAGED):
                group = min(STAGED, channels - c0)
                for g in range(group):
                    for lane in range(0, live, lanes):
                        source = (k * k_h * k_w * channels + c0 + g) * padded + b * width + lane
                        at = g * width + lane
                        _transform_weights(
                            span_h, span_w, stage, at, span_w * run, run, taps, source, k_w * c_step, c_step
                        )
                for e in range(values):
                    at = ((b * terms + k) * values + e) * e_step + c0 * width
                    for i in range(0, group * width, lanes):
                        _copy_vector(out, at + i, 0, 0, stage, e * run + i, 0, 0)


@numba.njit(**JIT)
def _untransform_kernel(partial, left, right, out):
    # out (KD, KH, KW, C, F) = left^T dU right, dU the sum over partial (chunks, KD, E, C, FP):
    # the adjoint of _transform_kernel, summed in float64 and rounded once
    chunks, k_d, values, channels, _ = partial.shape
    _, k_h, k_w, _, out_channels = out.shape
    span_h, span_w = left.shape[0], right.shape[0]
    total = np.empty((values, out_channels))
    half = np.empty((span_h, k_w, out_channels))
    for kd in range(k_d):
        for c in range(channels):
            for e in range(values):
                for f in range(out_channels):
                    total[e, f] = 0.0
                for chunk in range(chunks):
                    row = partial[chunk, kd, e, c]
                    for f in range(out_channels):
                        total[e, f] += row[f]
            for i in range(span_h):  # half = dU right, along the columns
                for b in range(k_w):
                    for f in range(out_channels):
                        half[i, b, f] = 0.0
                    for j in range(span_w):
                        for f in range(out_channels):
                            half[i, b, f] += right[j, b] * total[i * span_w + j, f]
            for a in range(k_h):
                for b in range(k_w):
                    target = out[kd, a, b, c]
                    for f in range(out_channels):
                        value = 0.0
                        for i in range(span_h):
                            value += left[i, a] * half[i, b, f]
                        target[f] = value


def _ceil(size: int, step: int) -> int:
    return (size + step - 1) // step


def run_length(values: int, in_channels: int, out_channels: int, terms: int, itemsize: int) -> int:
    """Tiles per run: V and M (E x run x (K C_in + C_out) values, K terms) within RUN_BYTES, in
    whole long register tiles where that leaves at least one."""
    fit = RUN_BYTES // (values * (terms * in_channels + out_channels) * itemsize)
    return max(LONG, fit // LONG * LONG)


def _axis_plan(size: int, out: int, k: int, s: int, d: int, before: int, after: int):
    """One axis of the plane as Winograd computes it: (read step, phases, terms, taps per term,
    readable end). A stride-1 axis of dilation d is d interleaved undilated correlations, one
    per phase p of the outputs (p, p + d, ...) reading every d-th input from p - before; a
    strided one (dilation 1) is one sum of s correlations, term a reading every s-th input from
    a - before with the taps a, a + s, ... (zero-padded to ceil(K / s)). Phases: (read origin,
    first output, output step, outputs); terms: (input offset, taps)."""
    if k == 1:
        d = 1  # one tap: no phases
    end = size + min(0, after)  # a crop after the input ends it early
    if s == 1:
        return d, [(p - before, p, d, _ceil(out - p, d)) for p in range(min(d, out))], [(0, tuple(range(k)))], k, end
    terms = [(a, tuple(range(a, k, s))) for a in range(min(s, k))]
    return s, [(-before, 0, 1, out)], terms, _ceil(k, s), end


def _axis_taps(k: int, s: int, d: int) -> int | None:
    """Taps per term along an axis (`_axis_plan`), None where strided and dilated."""
    if s == 1 or k == 1:
        return k if s == 1 else 1
    return None if d > 1 else _ceil(k, s)


def _plane3(geometry: ConvGeometry):
    """Per axis (D, H, W), the 1-D and 2-D ones of size 1: (S, O, K, s, d, before, after)."""
    fill = 3 - geometry.rank
    axes = zip(geometry.in_sizes, geometry.out_sizes, geometry.kernel_sizes, geometry.strides, geometry.dilation)
    return [(1, 1, 1, 1, 1, 0, 0)] * fill + [(*axis, *pad) for axis, pad in zip(axes, geometry.padding)]


def applies(geometry: ConvGeometry, groups: int, face: str = "conv") -> str | None:
    """None where Winograd computes `face` of the layer, else the reason it does not."""
    if groups != 1:
        return "Winograd is for groups=1"
    if geometry.rank > 3:
        return "Winograd is for ranks 1 to 3"
    if face == "input_grad":
        forms = _phase_forms(geometry)
        if forms is None:
            return (
                "Winograd computes the input gradient of layers whose input phases have 1 to 3 taps along "
                "rows and columns, with stride 1 along depth"
            )
    else:
        forms = [tuple(_axis_taps(*axis[2:5]) for axis in _plane3(geometry)[1:])]
    if any(None in form or max(form) > 3 for form in forms) or all(form == (1, 1) for form in forms):
        return (
            "Winograd is for planes of 2 or 3 taps along rows or columns (3x3, 2x2, (3, 1), ...; a strided "
            "axis counts ceil(K / stride) taps, and may not be dilated)"
        )
    return None


@functools.lru_cache(maxsize=256)
def saving(geometry: ConvGeometry, face: str = "conv") -> tuple[float, bool]:
    """(the direct sum's multiplications per Winograd's, over the plane; whether some form
    transforms both axes) for `face` of a layer Winograd computes (`applies`): 4 for 3x3
    planes, 2.56 for 2x2 ones and a 4x4 stride-2 layer's input gradient, 2 for 3 taps along one
    axis, 1.44 for a 3x3 stride-2 convolution (its 4 phase terms padded to 2x2)."""
    if face == "input_grad":  # one phase each: its taps
        forms = [(taps, 1) for taps in _phase_forms(geometry)]
        direct = sum(a * b for (a, b), _ in forms)
    else:  # one part: its terms
        _, rows_plan, cols_plan, taps = _conv_plan(geometry)
        forms = [(taps, len(rows_plan[2]) * len(cols_plan[2]))]
        direct = math.prod(geometry.kernel_sizes[-2:])
    winograd = sum(
        terms * SPANS[a] * SPANS[b] / (_outputs.py_func(SPANS[a]) * _outputs.py_func(SPANS[b]))
        for (a, b), terms in forms
    )
    return direct / winograd, any(min(taps) > 1 for taps, _ in forms)


@functools.lru_cache(maxsize=256)
def _phase_forms(geometry: ConvGeometry):
    """The input gradient's phases' taps (rows, columns), or None where a phase has more than 3
    along one or the depth axis is strided."""
    if geometry.rank == 3 and geometry.strides[0] != 1:
        return None
    forms = []
    for phase in phases.plan(geometry):
        if phase.taps is not None:
            plane = ((1, 1) + tuple(len(t) for t in phase.taps))[-2:]
            if max(plane) > 3:
                return None
            forms.append(plane)
    return forms


def _parts(rows_plan, cols_plan, spans, row_map, col_map, steps, u_base):
    """The part rows (columns R_ROW0 .. U_BASE) of one correlation: one per (row phase, column
    phase); row_map, col_map: (first, step) of its outputs in the output array, steps: the
    output's elements per row and per column."""
    (read_h, row_phases, _, _, end_h), (read_w, col_phases, _, _, end_w) = rows_plan, cols_plan
    out = []
    for (row0, first_h, step_h, rows), (col0, first_w, step_w, cols) in itertools.product(row_phases, col_phases):
        base = (row_map[0] + row_map[1] * first_h) * steps[0] + (col_map[0] + col_map[1] * first_w) * steps[1]
        row_step, col_step = row_map[1] * step_h * steps[0], col_map[1] * step_w * steps[1]
        out.append([row0, col0, read_h, read_w, end_h, end_w, base, row_step, col_step, rows, cols, *spans, u_base])
    return out


def _jobs(parts: list, run: int, images: int) -> tuple[np.ndarray, int]:
    """The parts as an array, each with its first job (JOB0), and the number of jobs."""
    jobs = 0
    for part in parts:
        tiles = _ceil(part[O_ROWS], _outputs.py_func(part[SPAN_H])) * _ceil(
            part[O_COLS], _outputs.py_func(part[SPAN_W])
        )
        part.append(jobs)
        jobs += _ceil(images * tiles, run)
    return np.array(parts, np.int64), jobs


def _sub_kernels(kernel5: np.ndarray, depth_taps, rows_terms, cols_terms, taps: tuple[int, int]):
    """(KD, KH, KW, C, F) -> (K, r_h, r_w, C, FP): each term's taps (depth tap, row term, column
    term), zero-padded to r_h x r_w, and its output channels to whole vectors (FP)."""
    *_, channels, out_channels = kernel5.shape
    lanes = WIDE_BYTES // kernel5.itemsize
    terms = len(depth_taps) * len(rows_terms) * len(cols_terms)
    stack = np.zeros((terms, *taps, channels, _ceil(out_channels, lanes) * lanes), kernel5.dtype)
    for k, (kd, (_, rows), (_, cols)) in enumerate(itertools.product(depth_taps, rows_terms, cols_terms)):
        stack[k, : len(rows), : len(cols), :, :out_channels] = kernel5[kd][np.ix_(rows, cols)]
    return stack


def _matrices(taps: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The kernel transform's G (or 1) along rows and columns, for r taps each."""
    return tuple(_BY_SPAN[SPANS[r]][2] for r in taps)


def kernel_transform(stack: np.ndarray, width: int, out: np.ndarray | None = None) -> np.ndarray:
    """`(K, r_h, r_w, C_in, FP) -> (FB, K, E, C_in, width)`: G g G^T for every term and channel
    pair, with G along the axes of 2 or 3 taps only (E = span_h x span_w), the output channels
    (FP, in whole vectors, `_sub_kernels`) in FB blocks of `width` (zero-padded); into `out`
    (flat, at least that size) where given."""
    terms, r_h, r_w, channels, padded = stack.shape
    spans = SPANS[r_h], SPANS[r_w]
    shape = (_ceil(padded, width), terms, spans[0] * spans[1], channels, width)
    packed = np.empty(shape, stack.dtype) if out is None else out[: math.prod(shape)].reshape(shape)
    _transform_kernel(stack, *spans, packed)
    return packed


def _work_dtype(*arrays: np.ndarray) -> np.dtype:
    """The dtype the loops compute in: the operands', or float64 for dtypes without tiles."""
    dtype = np.result_type(*arrays)
    return dtype if dtype in (np.float32, np.float64) else np.dtype(np.float64)


class NonFinite(Exception):
    """A checked call's result holds a NaN or an Inf: the engine recomputes it with gemm."""


def _conv_plan(geometry: ConvGeometry):
    """The convolution's (and its kernel gradient's) axes: depth (S, O, K, s, d, before, after),
    rows and columns (`_axis_plan`), and the plane's taps per term."""
    depth, rows, cols = _plane3(geometry)
    rows_plan, cols_plan = _axis_plan(*rows), _axis_plan(*cols)
    return depth, rows_plan, cols_plan, (rows_plan[3], cols_plan[3])


def _run_forward(x5, u, out5, parts, terms, depth, work, checked):
    """_fused over the parts: x5 (N, D, H, W, C) in `work`, out5 (N, OD, OH, OW, F)."""
    channels, out_channels = x5.shape[-1], out5.shape[-1]
    width = dense_lanes(work.itemsize, out_channels)
    most = max(part[SPAN_H] * part[SPAN_W] for part in parts)
    run = run_length(most, channels, out_channels, len(terms), work.itemsize)
    table, jobs = _jobs(parts, run, x5.shape[0] * out5.shape[1])
    chunks = max(1, min(jobs, numba.get_num_threads()))
    flags = np.empty(chunks, work)
    terms, depth = np.array(terms, np.int64).reshape(-1, 3), np.array(depth, np.int64)
    _fused(x5, u, out5, table, terms, depth, run, jobs, width, chunks, flags)
    if checked and not np.isfinite(flags).all():
        raise NonFinite


def conv(x: np.ndarray, kernel: np.ndarray, geometry: ConvGeometry, groups: int, checked=False) -> np.ndarray:
    """`(N, *S, C_in) x (*K, C_in, C_out) -> (N, *O, C_out)`. `checked`: raise NonFinite where an
    output is not finite (its NaN and Inf would not be where the direct sums put them); that
    happens whenever an input the outputs depend on is not finite, since a NaN or an Inf is
    never cancelled by the transforms' sums and products."""
    dtype, work = np.result_type(x, kernel), _work_dtype(x, kernel)
    out_channels = kernel.shape[-1]
    out = np.empty((x.shape[0], *geometry.out_sizes, out_channels), work)
    if out.size == 0:
        return out.astype(dtype, copy=False)
    (_, _, k_d, s_d, d_d, p_d, _), rows_plan, cols_plan, taps = _conv_plan(geometry)
    width = dense_lanes(work.itemsize, out_channels)
    kernel5 = _as_3d(kernel.astype(work, copy=False), geometry.rank, 0)
    u = kernel_transform(_sub_kernels(kernel5, range(k_d), rows_plan[2], cols_plan[2], taps), width)
    out5 = _as_3d(out, geometry.rank, 1)
    spans = (SPANS[taps[0]], SPANS[taps[1]])
    parts = _parts(rows_plan, cols_plan, spans, (0, 1), (0, 1), (out5.shape[3] * out_channels, out_channels), 0)
    terms = [(kd * d_d, a, b) for kd in range(k_d) for a, _ in rows_plan[2] for b, _ in cols_plan[2]]
    x5 = _as_3d(np.ascontiguousarray(x, dtype=work), geometry.rank, 1)
    _run_forward(x5, u.reshape(-1), out5, parts, terms, (s_d, p_d), work, checked)
    return out.astype(dtype, copy=False)


def conv_input_grad(grad: np.ndarray, kernel: np.ndarray, geometry: ConvGeometry, groups: int, checked=False):
    """`(N, *O, C_out) x (*K, C_in, C_out) -> (N, *S, C_in)`: the input phases (`engine.phases`)
    as the parts of one call, each a correlation of the output gradient with its taps of the
    flipped kernel (its own form: a 3x3 stride-2 layer's phases are 2x2, 2x1, 1x2 and 1x1),
    storing into its positions of the input gradient. `checked` as in `conv`."""
    dtype, work = np.result_type(grad, kernel), _work_dtype(grad, kernel)
    rank, channels = geometry.rank, kernel.shape[-2]
    dx = np.empty((grad.shape[0], *geometry.in_sizes, channels), work)
    dx5 = _as_3d(dx, rank, 1)
    swapped = _as_3d(swap_channels(kernel.astype(work, copy=False), 1), rank, 0)  # (KD, KH, KW, C_out, C_in)
    width = dense_lanes(work.itemsize, channels)
    fill, strides = (0,) * (3 - rank), (1,) * (3 - rank) + geometry.strides
    parts, stacks, u_base, terms, depth = [], [], 0, [], (1, 0)
    steps = (dx5.shape[3] * channels, channels)
    for phase in phases.plan(geometry):
        target = (slice(None), *phase.target)
        if phase.taps is None:
            dx[target] = 0
            continue
        taps = ((0,),) * (3 - rank) + phase.taps
        (_, _, k_d, _, d_d, p_d, _), rows, cols = _plane3(phase.geometry)
        rows_plan, cols_plan = _axis_plan(*rows), _axis_plan(*cols)
        plane = (rows_plan[3], cols_plan[3])
        stacks.append((_sub_kernels(swapped[np.ix_(*taps)], range(k_d), rows_plan[2], cols_plan[2], plane), u_base))
        maps = [((*fill, *(t.start for t in phase.target))[axis], strides[axis]) for axis in (1, 2)]
        spans = (SPANS[plane[0]], SPANS[plane[1]])
        parts += _parts(rows_plan, cols_plan, spans, *maps, steps, u_base)
        u_base += _ceil(channels, width) * width * k_d * spans[0] * spans[1] * kernel.shape[-1]
        terms, depth = [(kd * d_d, 0, 0) for kd in range(k_d)], (1, p_d)  # the same for every phase
    if parts:
        u = np.empty(u_base, work)  # every phase's transformed kernel, each at its U_BASE
        for stack, base in stacks:
            kernel_transform(stack, width, u[base:])
        g5 = _as_3d(np.ascontiguousarray(grad, dtype=work), rank, 1)
        _run_forward(g5, u, dx5, parts, terms, depth, work, checked)
    return dx.astype(dtype, copy=False)


def conv_kernel_grad(x: np.ndarray, grad: np.ndarray, geometry: ConvGeometry, groups: int, checked=False):
    """`(N, *S, C_in) x (N, *O, C_out) -> (*K, C_in, C_out)`, through the transformed domain: each
    term's dU, untransformed, scattered to its taps. `checked`: raise NonFinite where an entry
    is not finite, as `conv` does."""
    dtype, work = np.result_type(x, grad), _work_dtype(x, grad)
    channels, out_channels = x.shape[-1], grad.shape[-1]
    (_, _, k_d, s_d, d_d, p_d, _), rows_plan, cols_plan, taps = _conv_plan(geometry)
    spans = (SPANS[taps[0]], SPANS[taps[1]])
    width = dense_lanes(work.itemsize, out_channels)
    grad5 = _as_3d(np.ascontiguousarray(grad, dtype=work), geometry.rank, 1)
    x5 = _as_3d(np.ascontiguousarray(x, dtype=work), geometry.rank, 1)
    parts = _parts(rows_plan, cols_plan, spans, (0, 1), (0, 1), (grad5.shape[3] * out_channels, out_channels), 0)
    terms = list(itertools.product(range(k_d), rows_plan[2], cols_plan[2]))  # (depth tap, row term, column term)
    values = spans[0] * spans[1]
    run = run_length(values, channels, out_channels, len(terms), work.itemsize)
    table, jobs = _jobs(parts, run, x5.shape[0] * grad5.shape[1])
    chunks = max(1, min(jobs, numba.get_num_threads()))
    partial = np.zeros((chunks, len(terms), values, channels, _ceil(out_channels, width) * width), work)
    offsets = np.array([(kd * d_d, a, b) for kd, (a, _), (b, _) in terms], np.int64).reshape(-1, 3)
    depth = np.array((s_d, p_d), np.int64)
    _fused_kernel_grad(x5, grad5, partial, table, offsets, depth, run, jobs, width, chunks)
    stack = np.empty((len(terms), *taps, channels, out_channels), work)
    _untransform_kernel(partial, *_matrices(taps), stack)
    out = np.empty((k_d, *(_plane3(geometry)[axis][2] for axis in (1, 2)), channels, out_channels), work)
    for sub, (kd, (_, rows), (_, cols)) in zip(stack, terms):
        out[kd][np.ix_(rows, cols)] = sub[: len(rows), : len(cols)]
    if checked and not np.isfinite(out).all():  # a kernel: small
        raise NonFinite
    return out.reshape(*geometry.kernel_sizes, channels, out_channels).astype(dtype, copy=False)
