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
scipy.fft is used when it is installed (multi-threaded), numpy.fft otherwise, for the input's
and the output gradient's planes. The kernel has a few taps per axis on a grid of dozens of
points: its spectrum, and the kernel gradient's values at those taps, are DFTs restricted to
the taps along each axis (`_along_axis`), not FFTs of planes that are mostly zeros. The
products per frequency run in one compiled loop (`_products`): NumPy's batched matmul took
1.0 ms for a big_kernel layer's 2850 products of (4, 16) x (16, 16).

Accuracy. The rounding error is relative to the largest values of the transforms rather than
to each output's own terms; tests/test_algorithms.py bounds it in float32 against float64.
"""

from __future__ import annotations

import math
import os

import numba
import numpy as np

from ..arithmetic import ConvGeometry
from .direct.loops import JIT
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


def _complex(dtype) -> np.dtype:
    return np.dtype(np.complex64 if dtype == np.float32 else np.complex128)


def _dft(length: int, taps: int, dilation: int, half: bool, inverse: bool, dtype) -> np.ndarray:
    """The DFT matrix of a grid of `length` restricted to the taps 0, d, ..., (taps - 1) d:
    (F, taps) forward (F = L // 2 + 1 where `half`, else L), exp(-2 pi i f t d / L); or (taps, F)
    inverse, exp(+2 pi i f t d / L) / L, where `half` with the Hermitian weights of irfft (1 for
    the zero and Nyquist frequencies, 2 for the others, whose mirror images are not stored)."""
    frequencies = np.arange(length // 2 + 1 if half else length)
    phase = 2 * np.pi * np.outer(frequencies, np.arange(taps) * dilation) / length
    if not inverse:
        return np.exp(-1j * phase).astype(dtype)
    weights = np.ones(len(frequencies))
    if half:
        weights[1 : (length + 1) // 2] = 2
    return (np.exp(1j * phase) * weights[:, None] / length).T.astype(dtype)


@numba.njit(parallel=True, **JIT)
def _along(real, imag, source, out, complex_source):
    # out[a, f, b, m] = sum over t of (real + i imag)[f, t] * source[a, t, b, m]: a DFT along one
    # axis (its rows restricted to the taps the kernel has, or to the lags its gradient needs),
    # the other axes flattened to a (before) and b (after), m the channel pairs (the vector
    # axis). Complex arrays come as float views, (re, im) interleaved along their last axis, so
    # that the sums are real multiply-adds the compiler vectorizes.
    # A job is one (a, b): its `taps` source rows stay in L1 while every output row f is summed.
    before, taps, after, width = source.shape
    rows, pairs = real.shape[0], out.shape[3] // 2
    for job in numba.prange(before * after):
        a, b = job // after, job % after
        for f in range(rows):
            target = out[a, f, b]
            for m in range(2 * pairs):
                target[m] = 0
            for t in range(taps):
                re, im, row = real[f, t], imag[f, t], source[a, t, b]
                if complex_source:
                    for m in range(pairs):
                        target[2 * m] += re * row[2 * m] - im * row[2 * m + 1]
                        target[2 * m + 1] += re * row[2 * m + 1] + im * row[2 * m]
                else:
                    for m in range(pairs):
                        target[2 * m] += re * row[m]
                        target[2 * m + 1] += im * row[m]


def _apply_along(array: np.ndarray, axis: int, matrix: np.ndarray) -> np.ndarray:
    """`matrix` (F, T, complex) applied along `axis` of `array` (..., T, ..., M), real or complex."""
    shape = array.shape
    if matrix.shape == (1, 1) and matrix[0, 0] == 1:
        return array
    source = array.reshape(math.prod(shape[:axis]), shape[axis], math.prod(shape[axis + 1 : -1]), shape[-1])
    is_complex = np.iscomplexobj(source)
    floats = source.view(source.real.dtype) if is_complex else source
    out = np.empty((source.shape[0], matrix.shape[0], *source.shape[2:]), matrix.dtype)
    parts = np.ascontiguousarray(matrix.real), np.ascontiguousarray(matrix.imag)
    _along(*parts, floats, out.view(matrix.real.dtype), is_complex)
    return out.reshape(*shape[:axis], matrix.shape[0], *shape[axis + 1 :])


PRUNED_TAPS = 16  # the most taps along an axis for which a restricted DFT beats the FFT (below)


def _along_axis(array: np.ndarray, axis: int, length: int, taps: int, dilation: int, half: bool, inverse: bool):
    """One axis of a transform between `taps` taps (0, d, ..., (taps - 1) d) and the frequencies
    of a grid of `length`: forward, taps -> frequencies (rfft where `half`); inverse,
    frequencies -> the taps' values. A DFT restricted to the taps (`_along`) up to PRUNED_TAPS
    taps (an 11x11 kernel's spectrum on an 80 x 80 grid: 1.4 ms instead of 3.6 for the FFT of
    its zero-padded planes), the FFT beyond (49 taps along 4160 points: the restricted DFT's
    49 x 2081 products per line took 2.5x as long)."""
    dtype = _complex(array.real.dtype)
    if taps <= PRUNED_TAPS:
        return _apply_along(array, axis, _dft(length, taps, dilation, half, inverse, dtype))
    if inverse:
        full = (_fft.irfft if half else _fft.ifft)(array, n=length, axis=axis, **_WORKERS)
        return full[(slice(None),) * axis + (slice(0, (taps - 1) * dilation + 1, dilation),)]
    dilated = np.zeros((*array.shape[:axis], (taps - 1) * dilation + 1, *array.shape[axis + 1 :]), array.dtype)
    dilated[(slice(None),) * axis + (slice(None, None, dilation),)] = array
    return (_fft.rfft if half else _fft.fft)(dilated, n=length, axis=axis, **_WORKERS).astype(dtype, copy=False)


def _kernel_spectrum(kernel: np.ndarray, geometry: ConvGeometry, grid: tuple[int, ...]) -> np.ndarray:
    """`(*K, C_in, C_out) -> (prod(frequencies), C_in, C_out)`, the dilated kernel's spectrum on
    `grid` (rfftn of the kernel zero-padded to the grid), one axis at a time (`_along_axis`)."""
    rank = geometry.rank
    spectrum = kernel.reshape(*kernel.shape[:rank], -1)
    for axis in reversed(range(rank)):  # the last axis first: the real input's half spectrum
        half = axis == rank - 1
        spectrum = _along_axis(spectrum, axis, grid[axis], kernel.shape[axis], geometry.dilation[axis], half, False)
    return spectrum.reshape(-1, *kernel.shape[-2:])


def _spectrum(x: np.ndarray, grid: tuple[int, ...]) -> np.ndarray:
    """`(N, *S, C) -> (N, prod(frequencies), C)`."""
    spectrum = _fft.rfftn(x, s=grid, axes=_axes(len(grid)), **_WORKERS)
    return spectrum.reshape(x.shape[0], -1, x.shape[-1])


def _signal(spectrum: np.ndarray, grid: tuple[int, ...], sizes: tuple[int, ...], dtype) -> np.ndarray:
    """The inverse of `_spectrum`, cut to `sizes` per axis."""
    frequencies = (*grid[:-1], grid[-1] // 2 + 1)
    spectrum = spectrum.reshape(spectrum.shape[0], *frequencies, -1)
    signal = _fft.irfftn(spectrum, s=grid, axes=_axes(len(grid)), **_WORKERS)
    return np.ascontiguousarray(signal[(slice(None), *(slice(0, s) for s in sizes))], dtype=dtype)


@numba.njit(parallel=True, **JIT)
def _products(a, b, out, face, chunks):
    # per frequency f, a product of channel matrices (the FFT convolution's only sum over channels):
    #   face 0 (conv):        out[n, f] = a[n, f] @ conj(b[f])      a (N, F, C_in),  b (F, C_in, C_out)
    #   face 1 (input grad):  out[n, f] = a[n, f] @ b[f]^T          a (N, F, C_out), b (F, C_in, C_out)
    #   face 2 (kernel grad): out[f] = sum over n of a[n, f] outer conj(b[n, f])   a (N, F, C_in), b (N, F, C_out)
    # frequencies split into `chunks`, one per thread; the innermost loop runs along out's contiguous axis
    batch, frequencies = a.shape[0], a.shape[1]
    for chunk in numba.prange(chunks):
        for f in range(chunk * frequencies // chunks, (chunk + 1) * frequencies // chunks):
            if face == 2:
                target = out[f]
                target[:] = 0
                for n in range(batch):
                    left, right = a[n, f], b[n, f]
                    for i in range(left.shape[0]):
                        value, row = left[i], target[i]
                        for j in range(right.shape[0]):
                            row[j] += value * np.conj(right[j])
                continue
            kernel = b[f]
            for n in range(batch):
                left, row = a[n, f], out[n, f]
                row[:] = 0
                if face == 0:
                    for i in range(left.shape[0]):
                        value, weights = left[i], kernel[i]
                        for j in range(row.shape[0]):
                            row[j] += value * np.conj(weights[j])
                else:
                    for j in range(row.shape[0]):
                        weights, total = kernel[j], row[j]
                        for i in range(left.shape[0]):
                            total += left[i] * weights[i]
                        row[j] = total


def _chunks(spectrum: np.ndarray) -> int:
    return max(1, min(spectrum.shape[1], numba.get_num_threads()))


def _with_kernel(spectrum, kernel, geometry, grid, face: int, channels: int) -> np.ndarray:
    """`_products` of a signal's spectrum (N, F, C) with the kernel's: face 0 (conv) or 1 (input grad)."""
    products = np.empty((spectrum.shape[0], spectrum.shape[1], channels), spectrum.dtype)
    weights = _kernel_spectrum(kernel, geometry, grid).astype(spectrum.dtype, copy=False)
    _products(spectrum, weights, products, face, _chunks(spectrum))
    return products


def conv(x: np.ndarray, kernel: np.ndarray, geometry: ConvGeometry, groups: int) -> np.ndarray:
    dtype = np.result_type(x, kernel)
    grid = _grid(geometry)
    spectrum = _spectrum(pad_or_crop(x, geometry.padding), grid)
    products = _with_kernel(spectrum, kernel, geometry, grid, 0, kernel.shape[-1])
    return _signal(products, grid, geometry.out_sizes, dtype)


def conv_input_grad(grad: np.ndarray, kernel: np.ndarray, geometry: ConvGeometry, groups: int) -> np.ndarray:
    dtype = np.result_type(grad, kernel)
    grid = _grid(geometry)
    products = _with_kernel(_spectrum(grad, grid), kernel, geometry, grid, 1, kernel.shape[-2])
    return pad_or_crop(_signal(products, grid, geometry.padded_sizes, dtype), negate(geometry.padding))


def conv_kernel_grad(x: np.ndarray, grad: np.ndarray, geometry: ConvGeometry, groups: int) -> np.ndarray:
    dtype = np.result_type(x, grad)
    grid, rank = _grid(geometry), geometry.rank
    padded = _spectrum(pad_or_crop(x, geometry.padding), grid)
    spectrum = _spectrum(grad, grid).astype(padded.dtype, copy=False)
    # sum over the batch of X^ conj(Y'^) per frequency: the correlation of xp with y', whose
    # value at lag t is  sum_o xp[o + t] y'[o]  = irfftn(X^ conj(Y'^))(t); only the kernel's
    # taps t = 0, d, ..., (K - 1) d are needed: an inverse DFT restricted to them along each axis
    pairs = np.empty((padded.shape[1], x.shape[-1], grad.shape[-1]), padded.dtype)
    _products(padded, spectrum, pairs, 2, _chunks(padded))
    frequencies = (*grid[:-1], grid[-1] // 2 + 1)
    lags = pairs.reshape(*frequencies, -1)
    for axis in range(rank):  # the full axes first, the half axis (Hermitian weights) last
        taps, half = geometry.kernel_sizes[axis], axis == rank - 1
        lags = _along_axis(lags, axis, grid[axis], taps, geometry.dilation[axis], half, True)
    return np.ascontiguousarray(lags.real.reshape(*geometry.kernel_sizes, x.shape[-1], grad.shape[-1]), dtype=dtype)
