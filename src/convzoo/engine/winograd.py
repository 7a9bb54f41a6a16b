"""Winograd minimal filtering F(4x4, 3x3) for 3x3 stride-1 convolutions in 2-D.

Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks" (arXiv:1509.09308). A 4x4
tile of outputs of a 3x3 correlation needs 36 multiplications in the transformed domain
instead of 144: Y = A^T [(G g G^T) * (B^T d B)] A, with d the 6x6 input tile and g the 3x3
kernel. Across channels the 36 element-wise products become 36 matrix products

    M[e] = V[e] @ U[e],   V (36, tiles, C_in) the input tiles,  U (36, C_in, C_out) the kernel

so the multiply count falls 4x. One compiled loop (`_fused`) does the three steps for a run of
at most `RUN` tiles of one tile row at a time, so that V and M stay in the thread's cache
instead of travelling through memory (written to memory whole, a 56 x 56 x 64 layer's V and M
are 2.2 times its input and output, and the transforms then cost more than the products):

1. the run's 6 input rows (4 per tile row + 2 of overlap) into a row cache padded with zeros
   (the layer's padding, and channels to whole vectors);
2. B^T d B per tile and vector of channels (`simd.sandwich_of`, 6 x 6 vectors in registers)
   into V (36, run, C);
3. the 36 products, in `direct`'s dense register tiles (a tile of the run's tiles x two wide
   vectors of output channels summed over the input channels), into M (36, run, F);
4. A^T m A per tile and vector into the output, straight where the tile lies inside it.

Dilation d: a dilated convolution is d^2 undilated ones, one per phase of the input
(positions p, p + d, p + 2d, ... on each axis give the outputs p, p + d, ...); the row cache
gathers a phase's rows and columns, and the outputs are stored with steps of d.

Accuracy. The transforms' entries (up to 5 and 8, and 1/24 in G) grow the rounding error: in
float32 the error of F(4x4, 3x3) is a few times that of the direct sum (docs/performance.md
gives the measured figures; tests/test_algorithms.py bounds it).

Temporary memory: the transformed kernel (36 x C_in x C_out, packed), and per thread the row
cache, V and M: at most 6 x (4 RUN + 2) x C_in + 36 x RUN x (C_in + C_out) values.
"""

from __future__ import annotations

import numba
import numpy as np

from ..arithmetic import ConvGeometry
from .direct.dense import LONG, SHORT, _tile_add, _tile_out
from .direct.loops import JIT
from .direct.simd import WIDE_BYTES, dense_lanes, sandwich_of
from .padding import pad_or_crop

TILE = 4  # outputs per tile and axis: F(4x4, 3x3)
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
_input_transform = sandwich_of(_B_T)  # 6 x 6 vectors -> 6 x 6
_output_transform = sandwich_of(_A_T, checked=True)  # 6 x 6 vectors -> 4 x 4, and 0 or NaN (simd.py)
_gradient_transform = sandwich_of(tuple(zip(*_A_T)))  # A dY A^T, the adjoint: 4 x 4 -> 6 x 6


def applies(geometry: ConvGeometry, groups: int) -> str | None:
    if geometry.rank not in (2, 3) or geometry.kernel_sizes[-2:] != (3, 3):
        return "Winograd F(4x4, 3x3) is for 3x3 kernels in 2-D, and (KD, 3, 3) kernels in 3-D"
    if geometry.strides[-2:] != (1, 1):
        return "Winograd is for stride 1 along rows and columns"
    if groups != 1:
        return "Winograd is for groups=1"
    return None


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
def _job(job, runs, run, out_h, out_w, dh, dw):
    # job -> its phase (p, q), its first tile, the phase's outputs (rows p, p + dh, ...:
    # phase_h of them; columns likewise), tiles per row and per (n, od) plane
    p, rest = job // (dw * runs), job % (dw * runs)
    q, first = rest // runs, (rest % runs) * run
    phase_h, phase_w = -(-(out_h - p) // dh), -(-(out_w - q) // dw)
    tiles_w = -(-phase_w // TILE)
    return p, q, first, phase_h, phase_w, tiles_w, -(-phase_h // TILE) * tiles_w


@numba.njit(inline="always", **JIT)
def _input_tiles(x_flat, x_shape, out_d, v, patch, first, tiles, plane, tiles_w, p, q, depth, pads, dilation):
    # V[kd, e, t, :] = (B^T d B)[e] for tiles first .. first + tiles of phase (p, q), d the
    # tile's 6 x 6 inputs in the input slice that depth tap kd reads: in place inside the input
    # (channels in whole vectors), else gathered into `patch` (36 x CP, the channels past C
    # zero) with zeros for the padding; zero for a slice outside the input
    n_batch, in_d, in_h, in_w, channels = x_shape
    k_d, s_d, d_d, p_d = depth[0], depth[1], depth[2], depth[3]
    dh, dw = dilation[0], dilation[1]
    lanes = WIDE_BYTES // x_flat.itemsize
    padded_in = patch.size // 36
    step = tiles * padded_in  # from one e to the next in V
    for t in range(tiles):
        image, rest = (first + t) // plane, (first + t) % plane
        n, od = image // out_d, image % out_d
        top = p + dh * TILE * (rest // tiles_w) - pads[0]  # input row and column of d[0, 0]
        left = q + dw * TILE * (rest % tiles_w) - pads[1]
        inside = top >= 0 and top + 5 * dh < in_h and left >= 0 and left + 5 * dw < in_w
        for kd in range(k_d):
            into = (kd * 36 * tiles + t) * padded_in
            i_d = od * s_d + kd * d_d - p_d
            if i_d < 0 or i_d >= in_d:
                for e in range(36):
                    v[into + e * step : into + e * step + padded_in] = 0
                continue
            slice_at = (n * in_d + i_d) * in_h
            if padded_in == channels and inside:
                source, base = x_flat, ((slice_at + top) * in_w + left) * channels
                row_step, col_step = dh * in_w * channels, dw * channels
            else:
                for i in range(6):
                    for j in range(6):
                        r, c = top + dh * i, left + dw * j
                        at = (i * 6 + j) * padded_in
                        if 0 <= r < in_h and 0 <= c < in_w:
                            start = ((slice_at + r) * in_w + c) * channels
                            patch[at : at + channels] = x_flat[start : start + channels]
                        else:
                            patch[at : at + channels] = 0
                source, base, row_step, col_step = patch, 0, 6 * padded_in, padded_in
            for c in range(0, padded_in, lanes):
                _input_transform(v, into + c, 6 * step, step, source, base + c, row_step, col_step)


@numba.njit(parallel=True, **JIT)
def _fused(x, u, out, depth, pads, dilation, run, runs, width, chunks, flags):
    # x (N, D, H, W, C); u (FB, KD, 36, C, width) flat, the transformed kernel in blocks of
    # `width` output channels (zero-padded); out (N, OD, OH, OW, F), every entry written; depth:
    # the depth axis's kernel size, stride, dilation and padding before (a direct sum over its
    # taps). A job is a run of `run` consecutive tiles (n, od, tile row, tile column) of one
    # phase (p, q), `runs` of them per phase (as many as the largest phase needs); jobs are
    # split into `chunks` ranges, one per task. flags[chunk]: 0 where every output the task
    # computed is finite, else NaN (the engine then asks gemm for the direct sums' NaN and Inf).
    n_batch, _, _, _, channels = x.shape
    _, out_d, out_h, out_w, out_channels = out.shape
    k_d, dh, dw = depth[0], dilation[0], dilation[1]
    lanes = WIDE_BYTES // x.itemsize
    padded_in = -(-channels // lanes) * lanes  # channels to whole vectors, the rest zero
    padded_out = -(-out_channels // width) * width
    narrow = width == lanes
    jobs = dh * dw * runs
    x_flat, out_flat = x.reshape(x.size), out.reshape(out.size)
    for chunk in numba.prange(chunks):
        patch = np.empty(36 * padded_in, x.dtype)
        for i in range(patch.size):
            patch[i] = 0  # the channels past C stay zero: only a column's first C values are written
        v = np.empty(k_d * 36 * run * padded_in, x.dtype)
        m = np.empty(36 * run * padded_out, x.dtype)
        edge = np.empty(16 * lanes, x.dtype)
        bases = np.empty(LONG, np.int64)
        x_outer = np.empty(k_d, np.int64)
        w_outer = np.empty(k_d, np.int64)
        bad = x.dtype.type(0)
        for job in range(chunk * jobs // chunks, (chunk + 1) * jobs // chunks):
            p, q, first, phase_h, phase_w, tiles_w, plane = _job(job, runs, run, out_h, out_w, dh, dw)
            tiles = min(run, n_batch * out_d * plane - first)
            if tiles <= 0:
                continue
            # 1. V[kd, e, t, :] = (B^T d B)[e] for the run's tiles
            _input_tiles(x_flat, x.shape, out_d, v, patch, first, tiles, plane, tiles_w, p, q, depth, pads, dilation)
            # 2. M[e] = sum over kd of V[kd, e] @ U[kd, e]: tiles of `rows` tiles x a block of
            # output channels, the depth taps the outer terms of the sum
            rows = _rows_per_tile(tiles)
            for kd in range(k_d):
                w_outer[kd] = kd * 36 * channels * width
            for e in range(36):
                for kd in range(k_d):
                    x_outer[kd] = (kd * 36 + e) * tiles * padded_in
                for block in range(padded_out // width):
                    w_base = (block * k_d * 36 + e) * channels * width
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
            # 3. the outputs: A^T M_t A, a 4 x 4 tile per vector of output channels
            step = tiles * padded_out
            for t in range(tiles):
                image, rest = (first + t) // plane, (first + t) % plane
                th, tw = rest // tiles_w, rest % tiles_w
                oh, ow = p + dh * TILE * th, q + dw * TILE * tw
                inside = TILE * th + TILE <= phase_h and TILE * tw + TILE <= phase_w
                for f in range(0, out_channels, lanes):
                    source = t * padded_out + f
                    if inside and f + lanes <= out_channels:
                        at = ((image * out_h + oh) * out_w + ow) * out_channels + f
                        row_step, col_step = dh * out_w * out_channels, dw * out_channels
                        bad += _output_transform(out_flat, at, row_step, col_step, m, source, 6 * step, step)
                        continue
                    bad += _output_transform(edge, 0, TILE * lanes, lanes, m, source, 6 * step, step)
                    for i in range(min(TILE, phase_h - TILE * th)):
                        for j in range(min(TILE, phase_w - TILE * tw)):
                            at = ((image * out_h + oh + dh * i) * out_w + ow + dw * j) * out_channels + f
                            for lane in range(min(lanes, out_channels - f)):
                                out_flat[at + lane] = edge[(i * TILE + j) * lanes + lane]
        flags[chunk] = bad


@numba.njit(parallel=True, **JIT)
def _fused_kernel_grad(x, grad, partial, depth, pads, dilation, run, runs, width, chunks):
    # The adjoint of _fused in the kernel: Y_t = A^T [U * V_t] A for every tile t, so the
    # gradient in the transformed domain is dU[kd, e] = sum over t of V_t[kd, e]^T W_t[e], with
    # W_t = A dY_t A^T (dY_t the tile's 4 x 4 output gradients, zero past the output), and the
    # kernel's is G^T dU G (`_untransform_kernel`). x (N, D, H, W, C); grad (N, OD, OH, OW, F);
    # partial (chunks, KD, 36, C, FP) zeroed, FP the output channels padded to whole blocks of
    # `width`: task `chunk` adds its runs' dU into partial[chunk]. Jobs as in _fused.
    n_batch, _, _, _, channels = x.shape
    _, out_d, out_h, out_w, out_channels = grad.shape
    k_d, dh, dw = depth[0], dilation[0], dilation[1]
    padded_out = partial.shape[-1]
    lanes = WIDE_BYTES // x.itemsize
    padded_in = -(-channels // lanes) * lanes
    narrow = width == lanes
    jobs = dh * dw * runs
    x_flat, grad_flat = x.reshape(x.size), grad.reshape(grad.size)
    for chunk in numba.prange(chunks):
        sums = partial[chunk].reshape(partial[chunk].size)  # [kd, e, c, :] at ((kd * 36 + e) * C + c) * FP
        patch = np.empty(36 * padded_in, x.dtype)
        for i in range(patch.size):
            patch[i] = 0
        outputs = np.empty(16 * padded_out, x.dtype)  # a tile's output gradients, gathered
        for i in range(outputs.size):
            outputs[i] = 0  # the channels past F stay zero
        v = np.empty(k_d * 36 * run * padded_in, x.dtype)
        w = np.empty(36 * run * padded_out, x.dtype)
        bases = np.empty(LONG, np.int64)
        x_outer = np.zeros(1, np.int64)
        w_outer = np.zeros(1, np.int64)
        for job in range(chunk * jobs // chunks, (chunk + 1) * jobs // chunks):
            p, q, first, phase_h, phase_w, tiles_w, plane = _job(job, runs, run, out_h, out_w, dh, dw)
            tiles = min(run, n_batch * out_d * plane - first)
            if tiles <= 0:
                continue
            # 1. V[kd, e, t, :] as in the forward
            _input_tiles(x_flat, x.shape, out_d, v, patch, first, tiles, plane, tiles_w, p, q, depth, pads, dilation)
            # 2. W[e, t, :] = (A dY_t A^T)[e]: in place inside the output, else gathered
            step = tiles * padded_out
            for t in range(tiles):
                image, rest = (first + t) // plane, (first + t) % plane
                th, tw = rest // tiles_w, rest % tiles_w
                oh, ow = p + dh * TILE * th, q + dw * TILE * tw
                if padded_out == out_channels and TILE * th + TILE <= phase_h and TILE * tw + TILE <= phase_w:
                    source, base = grad_flat, ((image * out_h + oh) * out_w + ow) * out_channels
                    row_step, col_step = dh * out_w * out_channels, dw * out_channels
                else:
                    for i in range(TILE):
                        for j in range(TILE):
                            at = (i * TILE + j) * padded_out
                            if TILE * th + i < phase_h and TILE * tw + j < phase_w:
                                start = ((image * out_h + oh + dh * i) * out_w + ow + dw * j) * out_channels
                                outputs[at : at + out_channels] = grad_flat[start : start + out_channels]
                            else:
                                outputs[at : at + out_channels] = 0
                    source, base, row_step, col_step = outputs, 0, TILE * padded_out, padded_out
                for f in range(0, padded_out, lanes):
                    _gradient_transform(w, t * padded_out + f, 6 * step, step, source, base + f, row_step, col_step)
            # 3. dU[kd, e] += V[kd, e]^T W[e]: tiles of input channels x a block of output
            # channels, summed over the run's tiles (whole tiles only: they add into dU)
            for kd in range(k_d):
                for e in range(36):
                    x_outer[0] = (kd * 36 + e) * tiles * padded_in
                    for block in range(padded_out // width):
                        w_base = e * step + block * width
                        c = 0
                        while c < channels:
                            rows = LONG if channels - c >= LONG else (SHORT if channels - c >= SHORT else 1)
                            for k in range(rows):
                                bases[k] = c + k
                            at = ((kd * 36 + e) * channels + c) * padded_out + block * width
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
def _untransform_kernel(partial, g, out):
    # out (KD, 3, 3, C, F) = G^T dU G, dU the sum over partial (chunks, KD, 36, C, FP): the
    # adjoint of _transform_kernel, summed in float64 and rounded once
    chunks, k_d, _, channels, _ = partial.shape
    out_channels = out.shape[4]
    total = np.empty((36, out_channels))
    half = np.empty((6, 3, out_channels))
    for kd in range(k_d):
        for c in range(channels):
            for e in range(36):
                for f in range(out_channels):
                    total[e, f] = 0.0
                for chunk in range(chunks):
                    row = partial[chunk, kd, e, c]
                    for f in range(out_channels):
                        total[e, f] += row[f]
            for i in range(6):  # half = dU G along the columns
                for b in range(3):
                    for f in range(out_channels):
                        half[i, b, f] = (
                            g[0, b] * total[i * 6, f]
                            + g[1, b] * total[i * 6 + 1, f]
                            + g[2, b] * total[i * 6 + 2, f]
                            + g[3, b] * total[i * 6 + 3, f]
                            + g[4, b] * total[i * 6 + 4, f]
                            + g[5, b] * total[i * 6 + 5, f]
                        )
            for a in range(3):
                for b in range(3):
                    target = out[kd, a, b, c]
                    for f in range(out_channels):
                        target[f] = (
                            g[0, a] * half[0, b, f]
                            + g[1, a] * half[1, b, f]
                            + g[2, a] * half[2, b, f]
                            + g[3, a] * half[3, b, f]
                            + g[4, a] * half[4, b, f]
                            + g[5, a] * half[5, b, f]
                        )


def _ceil(size: int, step: int) -> int:
    return (size + step - 1) // step


def run_length(in_channels: int, out_channels: int, depth_taps: int, itemsize: int) -> int:
    """Tiles per run: V and M (36 x run x (KD C_in + C_out) values) within RUN_BYTES, in whole
    long register tiles where that leaves at least one."""
    fit = RUN_BYTES // (36 * (depth_taps * in_channels + out_channels) * itemsize)
    return max(LONG, fit // LONG * LONG)


@numba.njit(**JIT)
def _transform_kernel(kernel, g, packed):
    # kernel (KD, 3, 3, C, F); packed (FB, KD, 36, C, L) zeroed: [b, kd, 6 i + j, c, l] = (G g
    # G^T)[i, j] of depth tap kd and channel pair (c, b L + l), summed in float64 and rounded
    # once. A compiled loop, not NumPy: NumPy's matrix products would wake the BLAS threads just
    # before numba's (on 2 cores, a 1 x 28 x 28 x 64 layer took 0.75 ms instead of 0.3)
    k_d, _, _, channels, out_channels = kernel.shape
    blocks, _, _, _, width = packed.shape
    half = np.empty((6, 3, width))
    for b in range(blocks):
        lanes = min(width, out_channels - b * width)
        for kd in range(k_d):
            for c in range(channels):
                for col in range(3):  # half = G g along the kernel's rows
                    g0, g1, g2 = (
                        kernel[kd, 0, col, c, b * width :],
                        kernel[kd, 1, col, c, b * width :],
                        kernel[kd, 2, col, c, b * width :],
                    )
                    for i in range(6):
                        for f in range(lanes):
                            half[i, col, f] = g[i, 0] * g0[f] + g[i, 1] * g1[f] + g[i, 2] * g2[f]
                for i in range(6):
                    for j in range(6):
                        target = packed[b, kd, i * 6 + j, c]
                        for f in range(lanes):
                            target[f] = g[j, 0] * half[i, 0, f] + g[j, 1] * half[i, 1, f] + g[j, 2] * half[i, 2, f]


def kernel_transform(kernel: np.ndarray, width: int | None = None) -> np.ndarray:
    """`(*KD, 3, 3, C_in, C_out) -> (FB, KD, 36, C_in, width)`: G g G^T for every depth tap (KD
    is 1 for a 2-D kernel) and channel pair, the output channels in FB blocks of `width`
    (zero-padded; None: one block of C_out)."""
    *_, channels, out_channels = kernel.shape
    kernel = kernel.reshape(-1, 3, 3, channels, out_channels)
    width = width or out_channels
    packed = np.zeros((-(-out_channels // width), kernel.shape[0], 36, channels, width), kernel.dtype)
    _transform_kernel(kernel, _G, packed)
    return packed


class NonFinite(Exception):
    """A checked call's result holds a NaN or an Inf: the engine recomputes it with gemm."""


def conv(x: np.ndarray, kernel: np.ndarray, geometry: ConvGeometry, groups: int, checked=False) -> np.ndarray:
    """`(N, *S, C_in) x (*K, C_in, C_out) -> (N, *O, C_out)`. `checked`: raise NonFinite where an
    output is not finite (its NaN and Inf would not be where the direct sums put them); that
    happens whenever an input the outputs depend on is not finite, since a NaN or an Inf is
    never cancelled by the transforms' sums and products."""
    dtype = np.result_type(x, kernel)
    work = dtype if dtype in (np.float32, np.float64) else np.dtype(np.float64)
    crops = tuple((max(0, -before), max(0, -after)) for before, after in geometry.padding)
    x = pad_or_crop(x, tuple((-lo, -hi) for lo, hi in crops)) if any(map(any, crops)) else x
    x = np.ascontiguousarray(x, dtype=work)
    out = np.empty((x.shape[0], *geometry.out_sizes, kernel.shape[-1]), work)
    if out.size == 0:
        return out.astype(dtype, copy=False)
    # as 3-D: a 2-D layer has one depth tap over a depth of 1
    x5, out5 = (a.reshape(a.shape[0], *(1,) * (3 - geometry.rank), *a.shape[1:]) for a in (x, out))
    pads = [max(0, before) for before, _ in geometry.padding]
    depth = (
        (geometry.kernel_sizes[0], geometry.strides[0], geometry.dilation[0], pads[0])
        if geometry.rank == 3
        else (1, 1, 1, 0)
    )
    width = dense_lanes(work.itemsize, kernel.shape[-1])
    u = kernel_transform(kernel.astype(work, copy=False), width)
    dh, dw = geometry.dilation[-2:]
    run = run_length(x.shape[-1], kernel.shape[-1], depth[0], work.itemsize)
    # the largest phase's tiles (its rows and columns: ceil(O / d))
    tiles = x5.shape[0] * out5.shape[1] * _ceil(_ceil(out5.shape[2], dh), TILE) * _ceil(_ceil(out5.shape[3], dw), TILE)
    runs = _ceil(tiles, run)
    chunks = max(1, min(dh * dw * runs, numba.get_num_threads()))
    axes = np.array(depth, np.int64), np.array(pads[-2:], np.int64), np.array((dh, dw), np.int64)
    flags = np.empty(chunks, work)
    _fused(x5, u.reshape(-1), out5, *axes, run, runs, width, chunks, flags)
    if checked and not np.isfinite(flags).all():
        raise NonFinite
    return out.astype(dtype, copy=False)


def conv_kernel_grad(x: np.ndarray, grad: np.ndarray, geometry: ConvGeometry, groups: int, checked=False):
    """`(N, *S, C_in) x (N, *O, C_out) -> (*K, C_in, C_out)`, through the transformed domain.
    `checked`: raise NonFinite where an entry is not finite, as `conv` does."""
    dtype = np.result_type(x, grad)
    work = dtype if dtype in (np.float32, np.float64) else np.dtype(np.float64)
    crops = tuple((max(0, -before), max(0, -after)) for before, after in geometry.padding)
    x = pad_or_crop(x, tuple((-lo, -hi) for lo, hi in crops)) if any(map(any, crops)) else x
    x, grad = (np.ascontiguousarray(a, dtype=work) for a in (x, grad))
    channels, out_channels = x.shape[-1], grad.shape[-1]
    shape = (*geometry.kernel_sizes, channels, out_channels)
    x5, grad5 = (a.reshape(a.shape[0], *(1,) * (3 - geometry.rank), *a.shape[1:]) for a in (x, grad))
    pads = [max(0, before) for before, _ in geometry.padding]
    depth = (
        (geometry.kernel_sizes[0], geometry.strides[0], geometry.dilation[0], pads[0])
        if geometry.rank == 3
        else (1, 1, 1, 0)
    )
    width = dense_lanes(work.itemsize, out_channels)
    dh, dw = geometry.dilation[-2:]
    run = run_length(channels, out_channels, depth[0], work.itemsize)
    tiles = (
        grad5.shape[0]
        * grad5.shape[1]
        * _ceil(_ceil(grad5.shape[2], dh), TILE)
        * _ceil(_ceil(grad5.shape[3], dw), TILE)
    )
    runs = _ceil(tiles, run)
    chunks = max(1, min(dh * dw * runs, numba.get_num_threads()))
    partial = np.zeros((chunks, depth[0], 36, channels, _ceil(out_channels, width) * width), work)
    axes = np.array(depth, np.int64), np.array(pads[-2:], np.int64), np.array((dh, dw), np.int64)
    _fused_kernel_grad(x5, grad5, partial, *axes, run, runs, width, chunks)
    out = np.empty((depth[0], 3, 3, channels, out_channels), work)
    _untransform_kernel(partial, _G, out)
    if checked and not np.isfinite(out).all():  # a kernel: small
        raise NonFinite
    return out.reshape(shape).astype(dtype, copy=False)
