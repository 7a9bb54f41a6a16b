"""Winograd minimal filtering F(4x4, 3x3), and F(4, 3) along one axis, for stride-1 layers.

Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks" (arXiv:1509.09308). A 4x4
tile of outputs of a 3x3 correlation needs 36 multiplications in the transformed domain
instead of 144: Y = A^T [(G g G^T) * (B^T d B)] A, with d the 6x6 input tile and g the 3x3
kernel. Across channels the 36 element-wise products become 36 matrix products

    M[e] = V[e] @ U[e],   V (36, tiles, C_in) the input tiles,  U (36, C_in, C_out) the kernel

so the multiply count falls 4x. A kernel of 3 taps along one axis and 1 along the other (the
stages of a spatially separable layer, or a 1-D layer of 3 taps) takes F(4, 3) along that axis:
6 products per 4 outputs instead of 12. The plane's form (`_FORMS`): 6 x 6 transformed values
per tile, 6 x 1 (a (3, 1) kernel) or 1 x 6 (a (1, 3) kernel, or 1-D).

One compiled loop (`_fused`) does the three steps for a run of tiles at a time, taken in order
across tile rows, depth slices and batch items, so that V and M stay in the thread's cache
instead of travelling through memory (written to memory whole, a 56 x 56 x 64 layer's V and M
are 2.2 times its input and output, and the transforms then cost more than the products):

1. B^T d B per tile and vector of channels (`simd.sandwich_of`, the tile's vectors in
   registers) into V (E, run, C): read in place inside the input where the channels fill whole
   vectors, else gathered into a small patch with the padding's zeros;
2. the E products, in `direct`'s dense register tiles (a tile of the run's tiles x two wide
   vectors of output channels summed over the input channels), into M (E, run, F);
3. A^T m A per tile and vector into the output, straight where the tile lies inside it, and
   0 or NaN back for the engine's check of non-finite results (`checked`).

3-D: a (KD, 3, 3) kernel sums its depth taps directly, V[kd] for the input slice each reads
(any depth size, stride and dilation). Dilation d along rows and columns: a dilated
convolution is d^2 undilated ones, one per phase of the input (positions p, p + d, ... on each
axis give the outputs p, p + d, ...); tiles read a phase's rows and columns, and store with
steps of d. The kernel gradient is the adjoint (`_fused_kernel_grad`): dU[e] = sum over tiles
of V[e]^T (A dY A^T)[e], then G^T dU G.

Accuracy. The transforms' entries (up to 5 and 8, and 1/24 in G) grow the rounding error: in
float32 the error of F(4x4, 3x3) is several times that of the direct sum (docs/performance.md
gives the measured figures; tests/test_algorithms.py bounds it).

Temporary memory: the transformed kernel (KD x E x C_in x C_out, packed), and per thread V and
M: E x run x (KD C_in + C_out) values, RUN_BYTES or one long register tile of tiles.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from ..arithmetic import ConvGeometry
from .direct import _as_3d
from .direct.dense import LONG, SHORT, _tile_add, _tile_out
from .direct.loops import JIT
from .direct.simd import WIDE_BYTES, dense_lanes, sandwich_of
from .padding import pad_or_crop

TILE = 4  # outputs per tile along a transformed axis: F(4, 3)
SPAN = 6  # inputs per tile along a transformed axis: TILE + 3 - 1
RUN_BYTES = 256 << 10  # V and M (or W) of a run (measured, forward: 256 KB best, 1 MB 5-15% slower)

_B_T = (
    (4, 0, -5, 0, 1, 0),
    (0, -4, -4, 1, 1, 0),
    (0, 4, -4, -1, 1, 0),
    (0, -2, -1, 2, 1, 0),
    (0, 2, -1, -2, 1, 0),
    (0, 4, 0, -5, 0, 1),
)
_A_T = ((1, 1, 1, 1, 1, 0), (0, 1, -1, 2, -2, 0), (0, 1, 1, 4, 4, 0), (0, 1, -1, 8, -8, 1))
_A = tuple(zip(*_A_T))
_G = np.array(
    [
        [1 / 4, 0, 0],
        [-1 / 6, -1 / 6, -1 / 6],
        [-1 / 6, 1 / 6, -1 / 6],
        [1 / 24, 1 / 12, 1 / 6],
        [1 / 24, -1 / 12, 1 / 6],
        [0, 0, 1],
    ]
)
_ONE = ((1,),)  # an axis that is not transformed
# the forms, by the kernel's (rows, columns) in its plane: (transformed rows, columns) per tile
_FORMS = {(3, 3): (SPAN, SPAN), (3, 1): (SPAN, 1), (1, 3): (1, SPAN)}
# their transforms: input (B^T d B), output (A^T m A, checked), output gradient (A dY A^T)
_IN_2D, _IN_ROWS, _IN_COLUMNS = sandwich_of(_B_T), sandwich_of(_B_T, _ONE), sandwich_of(_ONE, _B_T)
_OUT_2D, _OUT_ROWS, _OUT_COLUMNS = (sandwich_of(*pair, checked=True) for pair in ((_A_T,), (_A_T, _ONE), (_ONE, _A_T)))
_GRAD_2D, _GRAD_ROWS, _GRAD_COLUMNS = sandwich_of(_A), sandwich_of(_A, _ONE), sandwich_of(_ONE, _A)


def applies(geometry: ConvGeometry, groups: int) -> str | None:
    plane = ((1,) * (2 - geometry.rank) + geometry.kernel_sizes)[-2:]
    if geometry.rank > 3 or plane not in _FORMS:
        return (
            "Winograd is for kernels of 3x3, (3, 1) or (1, 3) in 2-D, (KD, 3, 3), (KD, 3, 1) or (KD, 1, 3) "
            "in 3-D, and 3 taps in 1-D"
        )
    if any(s != 1 for s in geometry.strides[-2:]):
        return "Winograd is for stride 1 along rows and columns"
    if groups != 1:
        return "Winograd is for groups=1"
    return None


@numba.njit(inline="always", **JIT)
def _transform_input(rows, columns, out, out_base, out_row, out_col, x, x_base, x_row, x_col):
    # B^T d B for the form (rows, columns): 6 x 6, 6 x 1 or 1 x 6 transformed values
    if rows == columns:
        _IN_2D(out, out_base, out_row, out_col, x, x_base, x_row, x_col)
    elif columns == 1:
        _IN_ROWS(out, out_base, out_row, out_col, x, x_base, x_row, x_col)
    else:
        _IN_COLUMNS(out, out_base, out_row, out_col, x, x_base, x_row, x_col)


@numba.njit(inline="always", **JIT)
def _transform_output(rows, columns, out, out_base, out_row, out_col, x, x_base, x_row, x_col):
    # A^T m A, and 0 or NaN (simd.sandwich_of's check)
    if rows == columns:
        return _OUT_2D(out, out_base, out_row, out_col, x, x_base, x_row, x_col)
    if columns == 1:
        return _OUT_ROWS(out, out_base, out_row, out_col, x, x_base, x_row, x_col)
    return _OUT_COLUMNS(out, out_base, out_row, out_col, x, x_base, x_row, x_col)


@numba.njit(inline="always", **JIT)
def _transform_gradient(rows, columns, out, out_base, out_row, out_col, x, x_base, x_row, x_col):
    # A dY A^T: the output gradients' tile into the transformed domain
    if rows == columns:
        _GRAD_2D(out, out_base, out_row, out_col, x, x_base, x_row, x_col)
    elif columns == 1:
        _GRAD_ROWS(out, out_base, out_row, out_col, x, x_base, x_row, x_col)
    else:
        _GRAD_COLUMNS(out, out_base, out_row, out_col, x, x_base, x_row, x_col)


@numba.njit(inline="always", **JIT)
def _outputs(span):
    # outputs per tile along an axis with `span` transformed values: TILE, or 1 (not transformed)
    return TILE if span == SPAN else 1


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
def _job(job, runs, run, out_h, out_w, dh, dw, form):
    # job -> its phase (p, q), its first tile, the phase's outputs (rows p, p + dh, ...:
    # phase_h of them; columns likewise), tiles per row and per (n, od) plane
    p, rest = job // (dw * runs), job % (dw * runs)
    q, first = rest // runs, (rest % runs) * run
    phase_h, phase_w = -(-(out_h - p) // dh), -(-(out_w - q) // dw)
    tiles_w = -(-phase_w // _outputs(form[1]))
    return p, q, first, phase_h, phase_w, tiles_w, -(-phase_h // _outputs(form[0])) * tiles_w


@numba.njit(inline="always", **JIT)
def _input_tiles(x_flat, x_shape, out_d, v, patch, first, tiles, plane, tiles_w, p, q, depth, pads, dilation, form):
    # V[kd, e, t, :] = (B^T d B)[e] for tiles first .. first + tiles of phase (p, q), d the
    # tile's inputs (span_h x span_w) in the input slice that depth tap kd reads: in place
    # inside the input (channels in whole vectors), else gathered into `patch` (36 x CP, the
    # channels past C zero) with zeros for the padding; zero for a slice outside the input
    n_batch, in_d, in_h, in_w, channels = x_shape
    k_d, s_d, d_d, p_d = depth[0], depth[1], depth[2], depth[3]
    dh, dw = dilation[0], dilation[1]
    span_h, span_w = form[0], form[1]
    values = span_h * span_w  # E
    lanes = WIDE_BYTES // x_flat.itemsize
    padded_in = patch.size // (SPAN * SPAN)
    step = tiles * padded_in  # from one e to the next in V
    for t in range(tiles):
        image, rest = (first + t) // plane, (first + t) % plane
        n, od = image // out_d, image % out_d
        top = p + dh * _outputs(span_h) * (rest // tiles_w) - pads[0]  # input row and column of d[0, 0]
        left = q + dw * _outputs(span_w) * (rest % tiles_w) - pads[1]
        inside = top >= 0 and top + (span_h - 1) * dh < in_h and left >= 0 and left + (span_w - 1) * dw < in_w
        for kd in range(k_d):
            into = (kd * values * tiles + t) * padded_in
            i_d = od * s_d + kd * d_d - p_d
            if i_d < 0 or i_d >= in_d:
                for e in range(values):
                    v[into + e * step : into + e * step + padded_in] = 0
                continue
            slice_at = (n * in_d + i_d) * in_h
            if padded_in == channels and inside:
                source, base = x_flat, ((slice_at + top) * in_w + left) * channels
                row_step, col_step = dh * in_w * channels, dw * channels
            else:
                for i in range(span_h):
                    for j in range(span_w):
                        r, c = top + dh * i, left + dw * j
                        at = (i * span_w + j) * padded_in
                        if 0 <= r < in_h and 0 <= c < in_w:
                            start = ((slice_at + r) * in_w + c) * channels
                            patch[at : at + channels] = x_flat[start : start + channels]
                        else:
                            patch[at : at + channels] = 0
                source, base, row_step, col_step = patch, 0, span_w * padded_in, padded_in
            for c in range(0, padded_in, lanes):
                _transform_input(span_h, span_w, v, into + c, span_w * step, step, source, base + c, row_step, col_step)


@numba.njit(parallel=True, **JIT)
def _fused(x, u, out, depth, pads, dilation, form, run, runs, width, chunks, flags):
    # x (N, D, H, W, C); u (FB, KD, E, C, width) flat, the transformed kernel in blocks of
    # `width` output channels (zero-padded); out (N, OD, OH, OW, F), every entry written; depth:
    # the depth axis's kernel size, stride, dilation and padding before (a direct sum over its
    # taps); form: transformed values per tile along rows and columns (6 or 1), E their product.
    # A job is a run of `run` consecutive tiles (n, od, tile row, tile column) of one phase
    # (p, q), `runs` of them per phase (as many as the largest phase needs); jobs are split into
    # `chunks` ranges, one per task. flags[chunk]: 0 where every output the task computed is
    # finite, else NaN (the engine then asks gemm for the direct sums' NaN and Inf).
    n_batch, _, _, _, channels = x.shape
    _, out_d, out_h, out_w, out_channels = out.shape
    k_d, dh, dw = depth[0], dilation[0], dilation[1]
    span_h, span_w = form[0], form[1]
    values, tile_h, tile_w = span_h * span_w, _outputs(span_h), _outputs(span_w)
    lanes = WIDE_BYTES // x.itemsize
    padded_in = -(-channels // lanes) * lanes  # channels to whole vectors, the rest zero
    padded_out = -(-out_channels // width) * width
    narrow = width == lanes
    jobs = dh * dw * runs
    x_flat, out_flat = x.reshape(x.size), out.reshape(out.size)
    for chunk in numba.prange(chunks):
        patch = np.empty(SPAN * SPAN * padded_in, x.dtype)
        for i in range(patch.size):
            patch[i] = 0  # the channels past C stay zero: only a column's first C values are written
        v = np.empty(k_d * values * run * padded_in, x.dtype)
        m = np.empty(values * run * padded_out, x.dtype)
        edge = np.empty(TILE * TILE * lanes, x.dtype)
        bases = np.empty(LONG, np.int64)
        x_outer = np.empty(k_d, np.int64)
        w_outer = np.empty(k_d, np.int64)
        bad = x.dtype.type(0)
        for job in range(chunk * jobs // chunks, (chunk + 1) * jobs // chunks):
            p, q, first, phase_h, phase_w, tiles_w, plane = _job(job, runs, run, out_h, out_w, dh, dw, form)
            tiles = min(run, n_batch * out_d * plane - first)
            if tiles <= 0:
                continue
            # 1. V[kd, e, t, :] = (B^T d B)[e] for the run's tiles
            _input_tiles(
                x_flat, x.shape, out_d, v, patch, first, tiles, plane, tiles_w, p, q, depth, pads, dilation, form
            )
            # 2. M[e] = sum over kd of V[kd, e] @ U[kd, e]: tiles of `rows` tiles x a block of
            # output channels, the depth taps the outer terms of the sum
            rows = _rows_per_tile(tiles)
            for kd in range(k_d):
                w_outer[kd] = kd * values * channels * width
            for e in range(values):
                for kd in range(k_d):
                    x_outer[kd] = (kd * values + e) * tiles * padded_in
                for block in range(padded_out // width):
                    w_base = (block * k_d * values + e) * channels * width
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
                            k_d,
                            channels,
                            1,
                            u,
                            width,
                            w_base,
                        )
                        t = start + rows
            # 3. the outputs: A^T M_t A, a tile_h x tile_w tile per vector of output channels
            step = tiles * padded_out
            for t in range(tiles):
                image, rest = (first + t) // plane, (first + t) % plane
                th, tw = rest // tiles_w, rest % tiles_w
                oh, ow = p + dh * tile_h * th, q + dw * tile_w * tw
                inside = tile_h * (th + 1) <= phase_h and tile_w * (tw + 1) <= phase_w
                for f in range(0, out_channels, lanes):
                    source = t * padded_out + f
                    if inside and f + lanes <= out_channels:
                        at = ((image * out_h + oh) * out_w + ow) * out_channels + f
                        row_step, col_step = dh * out_w * out_channels, dw * out_channels
                        bad += _transform_output(
                            span_h, span_w, out_flat, at, row_step, col_step, m, source, span_w * step, step
                        )
                        continue
                    bad += _transform_output(
                        span_h, span_w, edge, 0, tile_w * lanes, lanes, m, source, span_w * step, step
                    )
                    for i in range(min(tile_h, phase_h - tile_h * th)):
                        for j in range(min(tile_w, phase_w - tile_w * tw)):
                            at = ((image * out_h + oh + dh * i) * out_w + ow + dw * j) * out_channels + f
                            for lane in range(min(lanes, out_channels - f)):
                                out_flat[at + lane] = edge[(i * tile_w + j) * lanes + lane]
        flags[chunk] = bad


@numba.njit(parallel=True, **JIT)
def _fused_kernel_grad(x, grad, partial, depth, pads, dilation, form, run, runs, width, chunks):
    # The adjoint of _fused in the kernel: Y_t = A^T [U * V_t] A for every tile t, so the
    # gradient in the transformed domain is dU[kd, e] = sum over t of V_t[kd, e]^T W_t[e], with
    # W_t = A dY_t A^T (dY_t the tile's output gradients, zero past the output), and the
    # kernel's is G^T dU G (`_untransform_kernel`). x (N, D, H, W, C); grad (N, OD, OH, OW, F);
    # partial (chunks, KD, E, C, FP) zeroed, FP the output channels padded to whole blocks of
    # `width`: task `chunk` adds its runs' dU into partial[chunk]. Jobs as in _fused.
    n_batch, _, _, _, channels = x.shape
    _, out_d, out_h, out_w, out_channels = grad.shape
    k_d, dh, dw = depth[0], dilation[0], dilation[1]
    span_h, span_w = form[0], form[1]
    values, tile_h, tile_w = span_h * span_w, _outputs(span_h), _outputs(span_w)
    padded_out = partial.shape[-1]
    lanes = WIDE_BYTES // x.itemsize
    padded_in = -(-channels // lanes) * lanes
    narrow = width == lanes
    jobs = dh * dw * runs
    x_flat, grad_flat = x.reshape(x.size), grad.reshape(grad.size)
    for chunk in numba.prange(chunks):
        sums = partial[chunk].reshape(partial[chunk].size)  # [kd, e, c, :] at ((kd * E + e) * C + c) * FP
        patch = np.empty(SPAN * SPAN * padded_in, x.dtype)
        for i in range(patch.size):
            patch[i] = 0
        outputs = np.empty(TILE * TILE * padded_out, x.dtype)  # a tile's output gradients, gathered
        for i in range(outputs.size):
            outputs[i] = 0  # the channels past F stay zero
        v = np.empty(k_d * values * run * padded_in, x.dtype)
        w = np.empty(values * run * padded_out, x.dtype)
        bases = np.empty(LONG, np.int64)
        x_outer = np.zeros(1, np.int64)
        w_outer = np.zeros(1, np.int64)
        for job in range(chunk * jobs // chunks, (chunk + 1) * jobs // chunks):
            p, q, first, phase_h, phase_w, tiles_w, plane = _job(job, runs, run, out_h, out_w, dh, dw, form)
            tiles = min(run, n_batch * out_d * plane - first)
            if tiles <= 0:
                continue
            # 1. V[kd, e, t, :] as in the forward
            _input_tiles(
                x_flat, x.shape, out_d, v, patch, first, tiles, plane, tiles_w, p, q, depth, pads, dilation, form
            )
            # 2. W[e, t, :] = (A dY_t A^T)[e]: in place inside the output, else gathered
            step = tiles * padded_out
            for t in range(tiles):
                image, rest = (first + t) // plane, (first + t) % plane
                th, tw = rest // tiles_w, rest % tiles_w
                oh, ow = p + dh * tile_h * th, q + dw * tile_w * tw
                if padded_out == out_channels and tile_h * (th + 1) <= phase_h and tile_w * (tw + 1) <= phase_w:
                    source, base = grad_flat, ((image * out_h + oh) * out_w + ow) * out_channels
                    row_step, col_step = dh * out_w * out_channels, dw * out_channels
                else:
                    for i in range(tile_h):
                        for j in range(tile_w):
                            at = (i * tile_w + j) * padded_out
                            if tile_h * th + i < phase_h and tile_w * tw + j < phase_w:
                                start = ((image * out_h + oh + dh * i) * out_w + ow + dw * j) * out_channels
                                outputs[at : at + out_channels] = grad_flat[start : start + out_channels]
                            else:
                                outputs[at : at + out_channels] = 0
                    source, base, row_step, col_step = outputs, 0, tile_w * padded_out, padded_out
                for f in range(0, padded_out, lanes):
                    at = t * padded_out + f
                    _transform_gradient(
                        span_h, span_w, w, at, span_w * step, step, source, base + f, row_step, col_step
                    )
            # 3. dU[kd, e] += V[kd, e]^T W[e]: tiles of input channels x a block of output
            # channels, summed over the run's tiles (whole tiles only: they add into dU)
            for kd in range(k_d):
                for e in range(values):
                    x_outer[0] = (kd * values + e) * tiles * padded_in
                    for block in range(padded_out // width):
                        w_base = e * step + block * width
                        c = 0
                        while c < channels:
                            rows = LONG if channels - c >= LONG else (SHORT if channels - c >= SHORT else 1)
                            for k in range(rows):
                                bases[k] = c + k
                            at = ((kd * values + e) * channels + c) * padded_out + block * width
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


@numba.njit(**JIT)
def _transform_kernel(kernel, left, right, packed):
    # kernel (KD, KH, KW, C, F); packed (FB, KD, E, C, L) zeroed: [b, kd, i * EW + j, c, l] =
    # (left g right^T)[i, j] of depth tap kd and channel pair (c, b L + l), with left (EH, KH)
    # and right (EW, KW) G or 1; summed in float64 and rounded once. A compiled loop, not
    # NumPy: NumPy's matrix products would wake the BLAS threads just before numba's (on 2
    # cores, a 1 x 28 x 28 x 64 layer took 0.75 ms instead of 0.3)
    k_d, k_h, k_w, channels, out_channels = kernel.shape
    blocks, _, _, _, width = packed.shape
    span_h, span_w = left.shape[0], right.shape[0]
    half = np.empty((span_h, k_w, width))
    for b in range(blocks):
        lanes = min(width, out_channels - b * width)
        for kd in range(k_d):
            for c in range(channels):
                for i in range(span_h):  # half = left g, along the kernel's rows
                    for col in range(k_w):
                        for f in range(lanes):
                            half[i, col, f] = 0.0
                        for row in range(k_h):
                            taps = kernel[kd, row, col, c, b * width :]
                            for f in range(lanes):
                                half[i, col, f] += left[i, row] * taps[f]
                for i in range(span_h):
                    for j in range(span_w):
                        target = packed[b, kd, i * span_w + j, c]
                        for f in range(lanes):
                            total = 0.0
                            for col in range(k_w):
                                total += right[j, col] * half[i, col, f]
                            target[f] = total


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


def run_length(values: int, in_channels: int, out_channels: int, depth_taps: int, itemsize: int) -> int:
    """Tiles per run: V and M (E x run x (KD C_in + C_out) values) within RUN_BYTES, in whole
    long register tiles where that leaves at least one."""
    fit = RUN_BYTES // (values * (depth_taps * in_channels + out_channels) * itemsize)
    return max(LONG, fit // LONG * LONG)


def _matrices(plane: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The kernel transform's G or 1 along rows and columns, for the kernel's plane."""
    return tuple(_G if size == 3 else np.ones((1, 1)) for size in plane)


def kernel_transform(kernel: np.ndarray, width: int | None = None) -> np.ndarray:
    """`(*KD, KH, KW, C_in, C_out) -> (FB, KD, E, C_in, width)`: G g G^T for every depth tap
    (KD is 1 for a 2-D kernel) and channel pair, with G along the kernel's axes of 3 taps only
    (E = 36, or 6 for a (3, 1) or (1, 3) plane), the output channels in FB blocks of `width`
    (zero-padded; None: one block of C_out)."""
    *sizes, channels, out_channels = kernel.shape
    plane = (1, *sizes)[-2:]
    kernel = kernel.reshape(-1, *plane, channels, out_channels)
    span_h, span_w = _FORMS[plane]
    width = width or out_channels
    packed = np.zeros((-(-out_channels // width), kernel.shape[0], span_h * span_w, channels, width), kernel.dtype)
    _transform_kernel(kernel, *_matrices(plane), packed)
    return packed


def _work_dtype(*arrays: np.ndarray) -> np.dtype:
    """The dtype the loops compute in: the operands', or float64 for dtypes without tiles."""
    dtype = np.result_type(*arrays)
    return dtype if dtype in (np.float32, np.float64) else np.dtype(np.float64)


class NonFinite(Exception):
    """A checked call's result holds a NaN or an Inf: the engine recomputes it with gemm."""


def _setup(x: np.ndarray, geometry: ConvGeometry, work: np.dtype, channels: int, out_channels: int, batch: int):
    """What both loops take: x cropped and contiguous, and (depth, pads, dilation, form) arrays,
    (run, runs, width, chunks). Every rank runs as 3-D (size-1 axes in front), a 1-D layer as
    a (1, 3) plane."""
    crops = tuple((max(0, -before), max(0, -after)) for before, after in geometry.padding)
    x = pad_or_crop(x, tuple((-lo, -hi) for lo, hi in crops)) if any(map(any, crops)) else x
    x = np.ascontiguousarray(x, dtype=work)
    fill = 3 - geometry.rank
    kernel_sizes = (1,) * fill + geometry.kernel_sizes
    strides, dilation = (1,) * fill + geometry.strides, (1,) * fill + geometry.dilation
    pads = (0,) * fill + tuple(max(0, before) for before, _ in geometry.padding)
    out_sizes = (1,) * fill + geometry.out_sizes
    form = _FORMS[kernel_sizes[1:]]
    # an axis of one tap: no phases along it
    dh, dw = (d if k > 1 else 1 for d, k in zip(dilation[1:], kernel_sizes[1:]))
    depth = (kernel_sizes[0], strides[0], dilation[0], pads[0])
    width = dense_lanes(work.itemsize, out_channels)
    run = run_length(form[0] * form[1], channels, out_channels, depth[0], work.itemsize)
    # the largest phase's tiles (its rows and columns: ceil(O / d))
    along = [_ceil(_ceil(size, d), TILE if span == SPAN else 1) for size, d, span in zip(out_sizes[1:], (dh, dw), form)]
    runs = _ceil(batch * out_sizes[0] * along[0] * along[1], run)
    chunks = max(1, min(dh * dw * runs, numba.get_num_threads()))
    arrays = tuple(np.array(a, np.int64) for a in (depth, pads[1:], (dh, dw), form))
    return _as_3d(x, geometry.rank, 1), arrays, (run, runs, width, chunks)


def conv(x: np.ndarray, kernel: np.ndarray, geometry: ConvGeometry, groups: int, checked=False) -> np.ndarray:
    """`(N, *S, C_in) x (*K, C_in, C_out) -> (N, *O, C_out)`. `checked`: raise NonFinite where an
    output is not finite (its NaN and Inf would not be where the direct sums put them); that
    happens whenever an input the outputs depend on is not finite, since a NaN or an Inf is
    never cancelled by the transforms' sums and products."""
    dtype, work = np.result_type(x, kernel), _work_dtype(x, kernel)
    out = np.empty((x.shape[0], *geometry.out_sizes, kernel.shape[-1]), work)
    if out.size == 0:
        return out.astype(dtype, copy=False)
    x5, arrays, (run, runs, width, chunks) = _setup(x, geometry, work, x.shape[-1], kernel.shape[-1], x.shape[0])
    u = kernel_transform(kernel.astype(work, copy=False), width)
    flags = np.empty(chunks, work)
    _fused(x5, u.reshape(-1), _as_3d(out, geometry.rank, 1), *arrays, run, runs, width, chunks, flags)
    if checked and not np.isfinite(flags).all():
        raise NonFinite
    return out.astype(dtype, copy=False)


def conv_kernel_grad(x: np.ndarray, grad: np.ndarray, geometry: ConvGeometry, groups: int, checked=False):
    """`(N, *S, C_in) x (N, *O, C_out) -> (*K, C_in, C_out)`, through the transformed domain.
    `checked`: raise NonFinite where an entry is not finite, as `conv` does."""
    dtype, work = np.result_type(x, grad), _work_dtype(x, grad)
    channels, out_channels = x.shape[-1], grad.shape[-1]
    depth_taps, *sizes = (1,) * (3 - geometry.rank) + geometry.kernel_sizes
    plane = tuple(sizes)
    values = math.prod(_FORMS[plane])
    x5, arrays, (run, runs, width, chunks) = _setup(x, geometry, work, channels, out_channels, x.shape[0])
    grad5 = _as_3d(np.ascontiguousarray(grad, dtype=work), geometry.rank, 1)
    partial = np.zeros((chunks, depth_taps, values, channels, _ceil(out_channels, width) * width), work)
    _fused_kernel_grad(x5, grad5, partial, *arrays, run, runs, width, chunks)
    out = np.empty((depth_taps, *plane, channels, out_channels), work)
    _untransform_kernel(partial, *_matrices(plane), out)
    if checked and not np.isfinite(out).all():  # a kernel: small
        raise NonFinite
    return out.reshape(*geometry.kernel_sizes, channels, out_channels).astype(dtype, copy=False)
