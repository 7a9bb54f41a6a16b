"""Winograd minimal filtering F(4x4, 3x3) for 3x3 stride-1 convolutions in 2-D.

Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks" (arXiv:1509.09308). A 4x4
tile of outputs of a 3x3 correlation needs 36 multiplications in the transformed domain
instead of 144: Y = A^T [(G g G^T) * (B^T d B)] A, with d the 6x6 input tile and g the 3x3
kernel. Across channels the 36 element-wise products become 36 matrix products

    M[e] = V[e] @ U[e],   V (36, tiles, C_in) the input tiles,  U (36, C_in, C_out) the kernel

so the multiply count falls 4x and the work left is BLAS-shaped. The input and output
transforms are compiled loops (numba) over tiles, vectorised along the channels.

Dilation d: a dilated convolution is d^2 undilated ones, one per phase of the input
(positions p, p + d, p + 2d, ... on each axis give the outputs p, p + d, ...).

Accuracy. The transforms' entries (up to 5, and 1/24) grow the rounding error: in float32
the error of F(4x4, 3x3) is a few times that of the direct sum (docs/performance.md gives
the measured figures; tests/test_algorithms.py bounds it).

Temporary memory: the tiles are transformed a chunk of the batch at a time, with V and M
at most `_CHUNK_BYTES` together (or one batch item).
"""

from __future__ import annotations

import numba
import numpy as np

from ..arithmetic import ConvGeometry
from .padding import pad_or_crop

TILE = 4  # outputs per tile and axis: F(4x4, 3x3)
_CHUNK_BYTES = 24 << 20

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


def applies(geometry: ConvGeometry, groups: int) -> str | None:
    if geometry.rank != 2 or geometry.kernel_sizes != (3, 3):
        return "Winograd F(4x4, 3x3) is for 2-D 3x3 kernels"
    if geometry.strides != (1, 1):
        return "Winograd is for stride 1"
    if groups != 1:
        return "Winograd is for groups=1"
    return None


# The transforms' constants 2, 4, 5, 8 travel as an array of the data's dtype: a Python int
# or float literal would promote float32 arithmetic to float64 in numba (half the SIMD width).


@numba.njit(inline="always")
def _bt(k, d0, d1, d2, d3, d4, d5):
    # B^T of F(4, 3) applied to six values; k = (2, 4, 5, 8)
    two, four, five = k[0], k[1], k[2]
    return (
        four * d0 - five * d2 + d4,
        d3 + d4 - four * (d1 + d2),
        four * (d1 - d2) - d3 + d4,
        two * (d3 - d1) - d2 + d4,
        two * (d1 - d3) - d2 + d4,
        four * d1 - five * d3 + d5,
    )


@numba.njit(inline="always")
def _at(k, m0, m1, m2, m3, m4, m5):
    # A^T of F(4, 3) applied to six values; k = (2, 4, 5, 8)
    two, four, eight = k[0], k[1], k[3]
    plus, minus = m1 + m2, m1 - m2
    return (m0 + plus + m3 + m4, minus + two * (m3 - m4), plus + four * (m3 + m4), minus + eight * (m3 - m4) + m5)


@numba.njit(parallel=True, cache=True)
def _input_transform(padded, tiles_h, tiles_w, k, out):
    # padded (N, 4*tiles_h + 2, 4*tiles_w + 2, C) -> out (36, N * tiles_h * tiles_w, C)
    batch, _, _, channels = padded.shape
    for job in numba.prange(batch * tiles_h):
        n, th = job // tiles_h, job % tiles_h
        rows = np.empty((6, 6, channels), padded.dtype)
        for tw in range(tiles_w):
            tile = n * tiles_h * tiles_w + th * tiles_w + tw
            patch = padded[n, 4 * th : 4 * th + 6, 4 * tw : 4 * tw + 6]
            for i in range(6):  # B^T along the columns of each row
                for c in range(channels):
                    r0, r1, r2, r3, r4, r5 = _bt(
                        k,
                        patch[i, 0, c],
                        patch[i, 1, c],
                        patch[i, 2, c],
                        patch[i, 3, c],
                        patch[i, 4, c],
                        patch[i, 5, c],
                    )
                    rows[i, 0, c], rows[i, 1, c], rows[i, 2, c] = r0, r1, r2
                    rows[i, 3, c], rows[i, 4, c], rows[i, 5, c] = r3, r4, r5
            for j in range(6):  # B^T along the rows
                for c in range(channels):
                    r0, r1, r2, r3, r4, r5 = _bt(
                        k, rows[0, j, c], rows[1, j, c], rows[2, j, c], rows[3, j, c], rows[4, j, c], rows[5, j, c]
                    )
                    out[j, tile, c], out[6 + j, tile, c], out[12 + j, tile, c] = r0, r1, r2
                    out[18 + j, tile, c], out[24 + j, tile, c], out[30 + j, tile, c] = r3, r4, r5


@numba.njit(parallel=True, cache=True)
def _output_transform(products, tiles_h, tiles_w, k, out):
    # products (36, N * tiles_h * tiles_w, F) -> out (N, H, W, F), H <= 4 * tiles_h
    batch, height, width, channels = out.shape
    for job in numba.prange(batch * tiles_h):
        n, th = job // tiles_h, job % tiles_h
        cols = np.empty((6, 4, channels), products.dtype)
        for tw in range(tiles_w):
            tile = n * tiles_h * tiles_w + th * tiles_w + tw
            for i in range(6):  # A^T along the columns
                for c in range(channels):
                    r0, r1, r2, r3 = _at(
                        k,
                        products[i * 6, tile, c],
                        products[i * 6 + 1, tile, c],
                        products[i * 6 + 2, tile, c],
                        products[i * 6 + 3, tile, c],
                        products[i * 6 + 4, tile, c],
                        products[i * 6 + 5, tile, c],
                    )
                    cols[i, 0, c], cols[i, 1, c], cols[i, 2, c], cols[i, 3, c] = r0, r1, r2, r3
            for j in range(4):  # A^T along the rows, written where the tile lies inside the output
                w = 4 * tw + j
                if w >= width:
                    break
                for c in range(channels):
                    r0, r1, r2, r3 = _at(
                        k, cols[0, j, c], cols[1, j, c], cols[2, j, c], cols[3, j, c], cols[4, j, c], cols[5, j, c]
                    )
                    out[n, 4 * th, w, c] = r0
                    if 4 * th + 1 < height:
                        out[n, 4 * th + 1, w, c] = r1
                    if 4 * th + 2 < height:
                        out[n, 4 * th + 2, w, c] = r2
                    if 4 * th + 3 < height:
                        out[n, 4 * th + 3, w, c] = r3


def kernel_transform(kernel: np.ndarray) -> np.ndarray:
    """`(3, 3, C_in, C_out) -> (36, C_in, C_out)`: G g G^T for every channel pair."""
    g = _G.astype(kernel.dtype)
    transformed = np.einsum("ik,klcf,jl->ijcf", g, kernel, g, optimize=True).reshape(36, *kernel.shape[2:])
    return np.ascontiguousarray(transformed)  # a strided einsum result would keep matmul off BLAS


def _undilated(padded: np.ndarray, transformed: np.ndarray, out: np.ndarray) -> None:
    """Fill `out (N, H, W, F)` with the valid 3x3 correlation of `padded (N, >= H + 2, >= W + 2, C)`."""
    batch, height, width, out_channels = out.shape
    tiles_h, tiles_w = -(-height // TILE), -(-width // TILE)
    in_channels = padded.shape[-1]
    itemsize = out.dtype.itemsize
    constants = np.array([2, 4, 5, 8], out.dtype)
    per_item = 36 * tiles_h * tiles_w * (in_channels + out_channels) * itemsize
    step = max(1, min(batch, _CHUNK_BYTES // per_item))
    for start in range(0, batch, step):
        chunk = slice(start, min(start + step, batch))
        source = padded[chunk, : TILE * tiles_h + 2, : TILE * tiles_w + 2]
        grow = ((0, 0), (0, TILE * tiles_h + 2 - source.shape[1]), (0, TILE * tiles_w + 2 - source.shape[2]), (0, 0))
        source = np.ascontiguousarray(np.pad(source, grow) if any(p for _, p in grow) else source)
        tiles = source.shape[0] * tiles_h * tiles_w
        v = np.empty((36, tiles, in_channels), out.dtype)
        _input_transform(source, tiles_h, tiles_w, constants, v)
        products = np.matmul(v, transformed)  # 36 products (tiles, C_in) @ (C_in, C_out)
        _output_transform(products, tiles_h, tiles_w, constants, out[chunk])  # out is C-contiguous: chunks are too


def conv(x: np.ndarray, kernel: np.ndarray, geometry: ConvGeometry, groups: int) -> np.ndarray:
    dtype = np.result_type(x, kernel)
    padded = pad_or_crop(x, geometry.padding).astype(dtype, copy=False)
    transformed = kernel_transform(kernel.astype(dtype, copy=False))
    out = np.empty((x.shape[0], *geometry.out_sizes, kernel.shape[-1]), dtype)
    dh, dw = geometry.dilation
    if (dh, dw) == (1, 1):
        _undilated(padded, transformed, out)
        return out
    for p in range(min(dh, out.shape[1])):  # one undilated convolution per phase
        for q in range(min(dw, out.shape[2])):
            phase = out[:, p::dh, q::dw]
            result = np.empty(phase.shape, dtype)
            _undilated(padded[:, p::dh, q::dw], transformed, result)
            phase[...] = result
    return out
