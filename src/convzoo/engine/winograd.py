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
    if geometry.rank != 2 or geometry.kernel_sizes != (3, 3):
        return "Winograd F(4x4, 3x3) is for 2-D 3x3 kernels"
    if geometry.strides != (1, 1):
        return "Winograd is for stride 1"
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
def _fused(x, u, out, pads, dilation, run, runs, width, chunks):
    # x (N, H, W, C); u (FB, 36, C, width) flat, the transformed kernel in blocks of `width`
    # output channels (zero-padded); out (N, OH, OW, F), every entry written. A job is a run
    # of `run` consecutive tiles (n, tile row, tile column) of one phase (p, q), `runs` of them
    # per phase (as many as the largest phase needs); jobs are split into `chunks` ranges, one
    # per task.
    n_batch, in_h, in_w, channels = x.shape
    _, out_h, out_w, out_channels = out.shape
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
        v = np.empty(36 * run * padded_in, x.dtype)
        m = np.empty(36 * run * padded_out, x.dtype)
        edge = np.empty(16 * lanes, x.dtype)
        bases = np.empty(LONG, np.int64)
        x_outer = np.zeros(1, np.int64)
        w_outer = np.zeros(1, np.int64)
        for job in range(chunk * jobs // chunks, (chunk + 1) * jobs // chunks):
            p, rest = job // (dw * runs), job % (dw * runs)
            q, first = rest // runs, (rest % runs) * run
            # the phase's outputs: rows p, p + dh, ... (phase_h of them), columns q, q + dw, ...
            phase_h, phase_w = -(-(out_h - p) // dh), -(-(out_w - q) // dw)
            tiles_h, tiles_w = -(-phase_h // TILE), -(-phase_w // TILE)
            tiles = min(run, n_batch * tiles_h * tiles_w - first)
            if tiles <= 0:
                continue
            # 1. V[e, t, :] = (B^T d_t B)[e], d_t the tile's 6 x 6 inputs: read in place inside
            # the input, else gathered into `patch` with zeros for the padding
            for t in range(tiles):
                n, rest = (first + t) // (tiles_h * tiles_w), (first + t) % (tiles_h * tiles_w)
                top = p + dh * TILE * (rest // tiles_w) - pads[0]  # input row and column of d_t[0, 0]
                left = q + dw * TILE * (rest % tiles_w) - pads[1]
                inside = top >= 0 and top + 5 * dh < in_h and left >= 0 and left + 5 * dw < in_w
                if in_place and inside:
                    source, base, row_step, col_step = (
                        x_flat,
                        ((n * in_h + top) * in_w + left) * channels,
                        dh * in_w * channels,
                        dw * channels,
                    )
                else:
                    for i in range(6):
                        for j in range(6):
                            r, c = top + dh * i, left + dw * j
                            at = (i * 6 + j) * padded_in
                            if 0 <= r < in_h and 0 <= c < in_w:
                                start = ((n * in_h + r) * in_w + c) * channels
                                patch[at : at + channels] = x_flat[start : start + channels]
                            else:
                                patch[at : at + channels] = 0
                    source, base, row_step, col_step = patch, 0, 6 * padded_in, padded_in
                for c in range(0, padded_in, lanes):
                    _input_transform(
                        v,
                        t * padded_in + c,
                        6 * tiles * padded_in,
                        tiles * padded_in,
                        source,
                        base + c,
                        row_step,
                        col_step,
                    )
            # 2. M[e] = V[e] @ U[e]: tiles of `rows` tiles x a block of output channels
            rows = _rows_per_tile(tiles)
            for e in range(36):
                x_outer[0] = e * tiles * padded_in
                for block in range(padded_out // width):
                    w_base = (block * 36 + e) * channels * width
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
                            1,
                            channels,
                            1,
                            u,
                            width,
                            w_base,
                        )
                        t = start + rows
            # 3. the outputs: A^T M_t A, a 4 x 4 tile per vector of output channels
            for t in range(tiles):
                n, rest = (first + t) // (tiles_h * tiles_w), (first + t) % (tiles_h * tiles_w)
                th, tw = rest // tiles_w, rest % tiles_w
                oh, ow = p + dh * TILE * th, q + dw * TILE * tw
                inside = TILE * th + TILE <= phase_h and TILE * tw + TILE <= phase_w
                for f in range(0, out_channels, lanes):
                    source = t * padded_out + f
                    if inside and f + lanes <= out_channels:
                        at = ((n * out_h + oh) * out_w + ow) * out_channels + f
                        _output_transform(
                            out_flat,
                            at,
                            dh * out_w * out_channels,
                            dw * out_channels,
                            m,
                            source,
                            6 * tiles * padded_out,
                            tiles * padded_out,
                        )
                        continue
                    _output_transform(
                        edge, 0, TILE * lanes, lanes, m, source, 6 * tiles * padded_out, tiles * padded_out
                    )
                    for i in range(min(TILE, phase_h - TILE * th)):
                        for j in range(min(TILE, phase_w - TILE * tw)):
                            at = ((n * out_h + oh + dh * i) * out_w + ow + dw * j) * out_channels + f
                            for lane in range(min(lanes, out_channels - f)):
                                out_flat[at + lane] = edge[(i * TILE + j) * lanes + lane]


def _ceil(size: int, step: int) -> int:
    return (size + step - 1) // step


def run_length(in_channels: int, out_channels: int, itemsize: int) -> int:
    """Tiles per run: V and M (36 x run x (C_in + C_out) values) within RUN_BYTES, in whole
    long register tiles where that leaves at least one."""
    fit = RUN_BYTES // (36 * (in_channels + out_channels) * itemsize)
    return max(LONG, fit // LONG * LONG)


@numba.njit(**JIT)
def _transform_kernel(kernel, g, packed):
    # kernel (3, 3, C, F); packed (FB, 36, C, L) zeroed: [b, 6 i + j, c, l] = (G g G^T)[i, j] of
    # channel pair (c, b L + l), summed in float64 and rounded once. A compiled loop, not NumPy:
    # NumPy's matrix products would wake the BLAS threads just before numba's (on 2 cores, a
    # 1 x 28 x 28 x 64 layer took 0.75 ms instead of 0.2)
    _, _, channels, out_channels = kernel.shape
    blocks, _, _, width = packed.shape
    half = np.empty((6, 3, width))
    for b in range(blocks):
        lanes = min(width, out_channels - b * width)
        for c in range(channels):
            for col in range(3):  # half = G g along the kernel's rows
                g0, g1, g2 = (
                    kernel[0, col, c, b * width :],
                    kernel[1, col, c, b * width :],
                    kernel[2, col, c, b * width :],
                )
                for i in range(6):
                    for f in range(lanes):
                        half[i, col, f] = g[i, 0] * g0[f] + g[i, 1] * g1[f] + g[i, 2] * g2[f]
            for i in range(6):
                for j in range(6):
                    target = packed[b, i * 6 + j, c]
                    for f in range(lanes):
                        target[f] = g[j, 0] * half[i, 0, f] + g[j, 1] * half[i, 1, f] + g[j, 2] * half[i, 2, f]


def kernel_transform(kernel: np.ndarray, width: int | None = None) -> np.ndarray:
    """`(3, 3, C_in, C_out) -> (FB, 36, C_in, width)`: G g G^T for every channel pair, the
    output channels in FB blocks of `width` (zero-padded; None: one block of C_out)."""
    *_, channels, out_channels = kernel.shape
    width = width or out_channels
    packed = np.zeros((-(-out_channels // width), 36, channels, width), kernel.dtype)
    _transform_kernel(kernel, _G, packed)
    return packed


def conv(x: np.ndarray, kernel: np.ndarray, geometry: ConvGeometry, groups: int) -> np.ndarray:
    dtype = np.result_type(x, kernel)
    work = dtype if dtype in (np.float32, np.float64) else np.dtype(np.float64)
    crops = tuple((max(0, -before), max(0, -after)) for before, after in geometry.padding)
    x = pad_or_crop(x, tuple((-lo, -hi) for lo, hi in crops)) if any(map(any, crops)) else x
    pads = np.array([max(0, before) for before, _ in geometry.padding], np.int64)
    x = np.ascontiguousarray(x, dtype=work)
    out = np.empty((x.shape[0], *geometry.out_sizes, kernel.shape[-1]), work)
    if out.size == 0:
        return out.astype(dtype, copy=False)
    width = dense_lanes(work.itemsize, kernel.shape[-1])
    u = kernel_transform(kernel.astype(work, copy=False), width)
    dh, dw = geometry.dilation
    run = run_length(x.shape[-1], kernel.shape[-1], work.itemsize)
    # the largest phase's tiles (its rows and columns: ceil(O / d))
    tiles = x.shape[0] * _ceil(_ceil(out.shape[1], dh), TILE) * _ceil(_ceil(out.shape[2], dw), TILE)
    runs = _ceil(tiles, run)
    chunks = max(1, min(dh * dw * runs, numba.get_num_threads()))
    _fused(x, u.reshape(-1), out, pads, np.array((dh, dw), np.int64), run, runs, width, chunks)
    return out.astype(dtype, copy=False)
