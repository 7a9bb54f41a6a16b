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
from .direct.dense import LONG, SHORT, _tile_out
from .direct.loops import JIT
from .direct.simd import WIDE_BYTES, dense_lanes, sandwich_of
from .padding import pad_or_crop

TILE = 4  # outputs per tile and axis: F(4x4, 3x3)
RUN_BYTES = 256 << 10  # V and M of a run: with the row of U being read, within a 2 MB L2 (docs/performance.md)

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
_output_transform = sandwich_of(_A_T)  # 6 x 6 vectors -> 4 x 4


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


@numba.njit(parallel=True, **JIT)
def _fused(x, u, out, depth, pads, dilation, run, runs, width, chunks):
    # x (N, D, H, W, C); u (FB, KD, 36, C, width) flat, the transformed kernel in blocks of
    # `width` output channels (zero-padded); out (N, OD, OH, OW, F), every entry written; depth:
    # the depth axis's kernel size, stride, dilation and padding before (a direct sum over its
    # taps). A job is a run of `run` consecutive tiles (n, od, tile row, tile column) of one
    # phase (p, q), `runs` of them per phase (as many as the largest phase needs); jobs are
    # split into `chunks` ranges, one per task.
    n_batch, in_d, in_h, in_w, channels = x.shape
    _, out_d, out_h, out_w, out_channels = out.shape
    k_d, s_d, d_d, p_d = depth[0], depth[1], depth[2], depth[3]
    dh, dw = dilation[0], dilation[1]
    lanes = WIDE_BYTES // x.itemsize
    padded_in = -(-channels // lanes) * lanes  # channels to whole vectors, the rest zero
    padded_out = -(-out_channels // width) * width
    narrow = width == lanes
    in_place = padded_in == channels  # whole vectors: inner tiles are read where they lie
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
        for job in range(chunk * jobs // chunks, (chunk + 1) * jobs // chunks):
            p, rest = job // (dw * runs), job % (dw * runs)
            q, first = rest // runs, (rest % runs) * run
            # the phase's outputs: rows p, p + dh, ... (phase_h of them), columns q, q + dw, ...
            phase_h, phase_w = -(-(out_h - p) // dh), -(-(out_w - q) // dw)
            tiles_h, tiles_w = -(-phase_h // TILE), -(-phase_w // TILE)
            plane = tiles_h * tiles_w  # tiles per (n, od)
            tiles = min(run, n_batch * out_d * plane - first)
            if tiles <= 0:
                continue
            # 1. V[kd, e, t, :] = (B^T d B)[e], d the tile's 6 x 6 inputs in the input slice
            # that depth tap kd reads: in place inside the input, else gathered into `patch`
            # with zeros for the padding; zero for a slice outside the input
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
                            v[into + e * tiles * padded_in : into + e * tiles * padded_in + padded_in] = 0
                        continue
                    slice_at = (n * in_d + i_d) * in_h
                    if in_place and inside:
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
                        step = tiles * padded_in
                        _input_transform(v, into + c, 6 * step, step, source, base + c, row_step, col_step)
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
                        _output_transform(out_flat, at, row_step, col_step, m, source, 6 * step, step)
                        continue
                    _output_transform(edge, 0, TILE * lanes, lanes, m, source, 6 * step, step)
                    for i in range(min(TILE, phase_h - TILE * th)):
                        for j in range(min(TILE, phase_w - TILE * tw)):
                            at = ((image * out_h + oh + dh * i) * out_w + ow + dw * j) * out_channels + f
                            for lane in range(min(lanes, out_channels - f)):
                                out_flat[at + lane] = edge[(i * TILE + j) * lanes + lane]


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


def conv(x: np.ndarray, kernel: np.ndarray, geometry: ConvGeometry, groups: int) -> np.ndarray:
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
    _fused(x5, u.reshape(-1), out5, *axes, run, runs, width, chunks)
    return out.astype(dtype, copy=False)
