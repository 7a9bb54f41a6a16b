"""Convolution by the FFT, for large kernels (stride 1, groups 1, ranks 1 to 3).

A correlation of the padded input `xp` (sizes P) with the dilated kernel (spans (K-1)d+1) is,
on FFT grids of size L >= P per axis, a product per frequency; across channels that product
is a matrix product per frequency:

    Y^(k)  = X^(k) @ conj(W^(k))      (N, C_in) @ (C_in, C_out), per frequency k

No output position wraps around: a valid output o reads xp[o + t] with o + t <= P - 1 < L.
The input gradient is the adjoint (a convolution: X'^ = Y'^ @ W^T) and the kernel gradient
the correlation of xp with the output gradient (W'^ = X^H ... summed over the batch).

The work is O(prod(L) log prod(L)) per channel plus one small matrix product per frequency,
independent of the kernel size, so it wins from about 7x7 kernels on (docs/performance.md).
scipy.fft is used when it is installed (multi-threaded), numpy.fft otherwise.

Accuracy. The rounding error is relative to the largest values of the transforms rather than
to each output's own terms; tests/test_algorithms.py bounds it in float32 against float64.
"""

from __future__ import annotations

import os

import numpy as np

from ..arithmetic import ConvGeometry
from .padding import negate, pad_or_crop

try:  # scipy.fft runs on several threads and keeps float32 in float32
    import scipy.fft as _fft

    _WORKERS = {"workers": os.cpu_count() or 1}
    _fast_size = _fft.next_fast_len
except ImportError:  # pragma: no cover - scipy is optional
    _fft = np.fft
    _WORKERS = {}

    def _fast_size(n: int, real: bool = True) -> int:
        """The smallest 2^a 3^b 5^c >= n, a size pocketfft handles quickly."""
        best = 1 << max(n - 1, 0).bit_length()
        p5 = 1
        while p5 < best:
            p35 = p5
            while p35 < best:
                size = p35
                while size < n:
                    size *= 2
                best = min(best, size)
                p35 *= 3
            p5 *= 5
        return best


def applies(geometry: ConvGeometry, groups: int) -> str | None:
    if geometry.rank > 3:
        return "the FFT path covers ranks 1 to 3"
    if any(s != 1 for s in geometry.strides):
        return "the FFT path is for stride 1"
    if groups != 1:
        return "the FFT path is for groups=1"
    return None


def _spans(geometry: ConvGeometry) -> tuple[int, ...]:
    return tuple((k - 1) * d + 1 for k, d in zip(geometry.kernel_sizes, geometry.dilation))


def _grid(geometry: ConvGeometry) -> tuple[int, ...]:
    return tuple(_fast_size(p, True) for p in geometry.padded_sizes)


def _axes(rank: int) -> tuple[int, ...]:
    return tuple(range(1, rank + 1))


def _kernel_spectrum(kernel: np.ndarray, geometry: ConvGeometry, grid: tuple[int, ...]) -> np.ndarray:
    """`(*K, C_in, C_out) -> (prod(frequencies), C_in, C_out)`, the dilated kernel's spectrum."""
    dilated = np.zeros((*_spans(geometry), *kernel.shape[-2:]), kernel.dtype)
    dilated[tuple(slice(None, None, d) for d in geometry.dilation)] = kernel
    spectrum = _fft.rfftn(dilated, s=grid, axes=tuple(range(geometry.rank)), **_WORKERS)
    return spectrum.reshape(-1, *kernel.shape[-2:])


def _spectrum(x: np.ndarray, grid: tuple[int, ...]) -> np.ndarray:
    """`(N, *S, C) -> (prod(frequencies), N, C)`, frequencies leading for the batched products."""
    spectrum = _fft.rfftn(x, s=grid, axes=_axes(len(grid)), **_WORKERS)
    return np.moveaxis(spectrum.reshape(x.shape[0], -1, x.shape[-1]), 1, 0)


def _signal(spectrum: np.ndarray, batch: int, grid: tuple[int, ...], sizes: tuple[int, ...], dtype) -> np.ndarray:
    """The inverse of `_spectrum`, cut to `sizes` per axis."""
    frequencies = (*grid[:-1], grid[-1] // 2 + 1)
    spectrum = np.moveaxis(spectrum, 0, 1).reshape(batch, *frequencies, -1)
    signal = _fft.irfftn(spectrum, s=grid, axes=_axes(len(grid)), **_WORKERS)
    return np.ascontiguousarray(signal[(slice(None), *(slice(0, s) for s in sizes))], dtype=dtype)


def conv(x: np.ndarray, kernel: np.ndarray, geometry: ConvGeometry, groups: int) -> np.ndarray:
    dtype = np.result_type(x, kernel)
    grid = _grid(geometry)
    padded = pad_or_crop(x, geometry.padding)
    products = np.matmul(_spectrum(padded, grid), _kernel_spectrum(kernel, geometry, grid).conj())
    return _signal(products, x.shape[0], grid, geometry.out_sizes, dtype)


def conv_input_grad(grad: np.ndarray, kernel: np.ndarray, geometry: ConvGeometry, groups: int) -> np.ndarray:
    dtype = np.result_type(grad, kernel)
    grid = _grid(geometry)
    spectrum = _kernel_spectrum(kernel, geometry, grid)
    padded = _signal(
        np.matmul(_spectrum(grad, grid), np.swapaxes(spectrum, 1, 2)), grad.shape[0], grid, geometry.padded_sizes, dtype
    )
    return pad_or_crop(padded, negate(geometry.padding))


def conv_kernel_grad(x: np.ndarray, grad: np.ndarray, geometry: ConvGeometry, groups: int) -> np.ndarray:
    dtype = np.result_type(x, grad)
    grid = _grid(geometry)
    padded = pad_or_crop(x, geometry.padding)
    # sum over the batch of conj(X^) Y'^ per frequency: (C_in, N) @ (N, C_out)
    products = np.matmul(np.swapaxes(_spectrum(padded, grid), 1, 2).conj(), _spectrum(grad, grid))
    frequencies = (*grid[:-1], grid[-1] // 2 + 1)
    spectrum = products.reshape(*frequencies, *products.shape[1:])
    # correlation of xp with y': its value at lag t is  sum_o xp[o + t] y'[o]  = irfft(conj(X^) Y'^)(-t)
    lags = _fft.irfftn(spectrum.conj(), s=grid, axes=tuple(range(len(grid))), **_WORKERS)
    spans = _spans(geometry)
    taps = lags[tuple(slice(0, s, d) for s, d in zip(spans, geometry.dilation))]
    return np.ascontiguousarray(taps, dtype=dtype)
