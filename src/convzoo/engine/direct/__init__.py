"""Direct convolution compiled with numba: loops that keep their sums in registers or in cache.

Depthwise and grouped convolutions with few channels per group are not matrix products of
any useful size (a depthwise 3x3 is 9 multiply-adds per output value), so lowering them to
GEMM spends its time moving data; dense layers are matrix products, but im2col copies the
input KxK times. These loops read the input rows in place. Rows of the output, (n, d, h),
are shared among the threads. The families:

- `depthwise`: one channel per group each way, at least a block of channels (2 wide vectors).
  With 3 taps along rows of stride 1, the input is read in place: the forward slides along
  each output row with the weights of up to 3 kernel rows x 3 taps in registers, the kernel
  gradient with their sums, each loading every input vector once. Otherwise lanewise tiles
  (`simd.depthwise_*`) hold 12 output pixels x one block over every tap, and kernel gradients
  tile 3 taps x one block over each half of an output row.
- `few_channels`: depthwise layers with fewer channels, in passes of 3 x 3 taps vectorised
  along the channels into an output row in cache.
- `dense`: one group. Wide register tiles (`simd.dense_*`) hold 14 or 8 output pixels x two
  of the host's widest vectors of output channels over every (tap, input channel) term; with
  one vector of output channels or less (8 to 16 float32 on AVX-512) and stride 1 along rows,
  `pixel_forward` swaps the roles: 14, 8 or 4 output channels x two vectors of output columns.
  The kernel gradient tiles input channels x output channels over pieces of rows x columns
  sized to L1.
- `grouped`: other groups. Groups of one vector of output channels or less, stride 1 along
  rows, run forward in `dense.pixel_forward`'s tiles, group after group on each output row.
  Where a group's output channels pack into wide vectors (4, 2 or 1
  groups per vector, or several vectors per group), `packed_forward` and `packed_kernel_grad`
  tile 14 or 8 pixels (or (tap, input channel) terms) x one vector, each term reading the
  input values of the vector's groups side by side; otherwise a 256-bit tile (`simd.tile`)
  holds 8 output pixels x one vector of one group's output channels, and its kernel gradient
  8 input channels x one vector of output channels over a chunk of rows.
- `general`: the plain loops, for dtypes other than float32 and float64.

Every rank runs as 3-D: a 1-D or 2-D problem gets axes of size 1 in front (views, no copies).
Rows outside the input are skipped. Along a row, `dense`, `depthwise` and the packed groups
read the input through a per-thread cache of rows padded with zeros and 64-byte aligned
(`loops.row_cache`), so that every tile is full and no vector load splits a cache line; the
others compute each kernel offset's valid range of output columns instead. A negative padding
(a crop) is the same arithmetic.

    forward:      y[n, o, g*Fg + f] = sum over t, ci of x[n, o*s + t*d - p, g*Cg + ci] * w[t, ci, g*Fg + f]
    kernel grad:  w'[t, ci, g*Fg + f] = sum over n, o of x[n, o*s + t*d - p, g*Cg + ci] * y'[n, o, g*Fg + f]

The input gradient goes by input phases (`engine.phases`): a dense layer's phases are the parts
of one `dense.forward` call, each storing straight into its positions of the input gradient (one
wake-up of the threads instead of one per phase, no copies); the other families call their
forward once per phase.

The first call per dtype compiles (about a second per function); `cache=True` keeps the machine
code on disk for the next process. numba keys that cache on each function's own file: after
editing simd.py, touch the files that call it (or delete __pycache__) so their cached machine
code is rebuilt. In a `parallel=True` function, an array constructor that fills (np.zeros,
np.full) outside the prange loop becomes a parallel loop of its own, one more wake-up of the
threads per call (60 us on this 2-core VM): allocate with np.empty and fill in a plain loop.
"""

from __future__ import annotations

import functools
import math

import numba
import numpy as np

from ...arithmetic import ConvGeometry
from .. import phases
from ..shift_add import swap_channels
from . import dense, depthwise, few_channels, general, grouped
from .simd import PACKED_SPREADS, WIDE_BYTES, dense_lanes, lanes


def _as_3d(array: np.ndarray, rank: int, lead: int) -> np.ndarray:
    """Insert size-1 spatial axes after the first `lead` axes so that there are 3."""
    return array.reshape(array.shape[:lead] + (1,) * (3 - rank) + array.shape[lead:])


def _axes3(geometry: ConvGeometry) -> tuple[tuple[int, int, int], ...]:
    """(strides, dilation, padding before), each over 3 axes (D, H, W)."""
    fill = 3 - geometry.rank
    strides = (1,) * fill + geometry.strides
    dilation = (1,) * fill + geometry.dilation
    pads = (0,) * fill + tuple(before for before, _ in geometry.padding)
    return strides, dilation, pads


@functools.lru_cache(maxsize=512)
def _params(geometry: ConvGeometry) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(strides, dilation, padding before) as the loops take them, shared between calls (the
    loops never write them; read-only arrays would be another type to numba, compiled again)."""
    return tuple(np.array(v, np.int64) for v in _axes3(geometry))


def _rows(x: np.ndarray, geometry: ConvGeometry) -> int:
    """Output rows (n, d, h): the units of work the threads share."""
    return x.shape[0] * int(np.prod(geometry.out_sizes[:-1], dtype=np.int64))


def _span(geometry: ConvGeometry) -> int:
    """Columns of a padded input row that the output row reads: (OW - 1) * s + (KW - 1) * d + 1."""
    out_w, k_w = geometry.out_sizes[-1], geometry.kernel_sizes[-1]
    return (out_w - 1) * geometry.strides[-1] + (k_w - 1) * geometry.dilation[-1] + 1


def _contiguous(array: np.ndarray, dtype: np.dtype) -> np.ndarray:
    return np.ascontiguousarray(array, dtype=dtype)


def _family(dtype: np.dtype, groups: int, in_channels: int, out_channels: int) -> str:
    """Which loops compute a layer: for float32 and float64 the tiles (`dense` for one group,
    `depthwise` for one channel per group each way with at least a block of channels, else
    `grouped`) or, for depthwise layers of fewer channels, `few_channels` (a tile would leave
    most of each vector empty); the `general` loops for other dtypes."""
    if dtype not in (np.float32, np.float64):
        return "general"
    if groups == 1:
        return "dense"
    if groups == in_channels == out_channels:
        return "depthwise" if in_channels >= depthwise.block_lanes(dtype.itemsize) else "few_channels"
    return "grouped"


def _pack(kernel: np.ndarray, groups: int, width: int) -> np.ndarray:
    """(*K, Cg, C_out) -> (G, FB, T * Cg * L): each group's kernel, its output channels in FB
    blocks of L lanes (zero-padded), for `grouped.forward`."""
    *_, per_group_in, out_channels = kernel.shape
    per_group_out = out_channels // groups
    blocks = -(-per_group_out // width)
    taps = kernel.reshape(-1, per_group_in, groups, per_group_out)
    padded = np.zeros((*taps.shape[:3], blocks * width), kernel.dtype)
    padded[..., :per_group_out] = taps
    padded = padded.reshape(*taps.shape[:3], blocks, width).transpose(2, 3, 0, 1, 4)
    return np.ascontiguousarray(padded).reshape(groups, blocks, -1)


def _spread(dtype: np.dtype, groups: int, per_group_out: int) -> int | None:
    """Groups per wide vector in `grouped.packed_forward` (1 where a group fills whole vectors),
    or None where its channels do not tile the vectors."""
    width = WIDE_BYTES // dtype.itemsize
    if per_group_out % width == 0:
        return 1
    spread = width // per_group_out
    if width % per_group_out == 0 and spread in PACKED_SPREADS and groups % spread == 0:
        return spread
    return None


def _pack_units(kernel: np.ndarray, spread: int, width: int) -> np.ndarray:
    """(*K, Cg, C_out) -> (C_out / L, T * Cg * L): per unit u of L output channels, its weights
    tap-major, then input channel, lane f*S + g holding output channel u*L + g*(L/S) + f."""
    *_, per_group_in, out_channels = kernel.shape
    units = kernel.reshape(-1, per_group_in, out_channels // width, spread, width // spread)
    return np.ascontiguousarray(units.transpose(2, 0, 1, 4, 3)).reshape(out_channels // width, -1)


def _lane_padded(grad: np.ndarray, groups: int, width: int) -> np.ndarray:
    """(..., C_out) -> (..., G * FB * L): each group's channels zero-padded to whole blocks of lanes."""
    per_group_out = grad.shape[-1] // groups
    if per_group_out % width == 0:
        return grad
    blocks = -(-per_group_out // width)
    padded = np.zeros((*grad.shape[:-1], groups, blocks * width), grad.dtype)
    padded[..., :per_group_out] = grad.reshape(*grad.shape[:-1], groups, per_group_out)
    return padded.reshape(*grad.shape[:-1], -1)


def _dense_weights(kernel: np.ndarray, order: np.ndarray | None, width: int) -> np.ndarray:
    """(*K, C, F) -> (FB, T, C, L) for `dense.forward`: the output channels in FB blocks of L
    lanes (zero-padded), the taps (flat, C order) in `order` (None: as they are)."""
    *_, channels, out_channels = kernel.shape
    blocks = -(-out_channels // width)
    taps = kernel.reshape(-1, channels, out_channels)
    if blocks * width != out_channels:
        padded = np.zeros((*taps.shape[:2], blocks * width), kernel.dtype)
        padded[..., :out_channels] = taps
        taps = padded
    lanes = taps.reshape(*taps.shape[:2], blocks, width).transpose(2, 0, 1, 3)
    return np.ascontiguousarray(lanes if order is None else lanes[:, order])


@functools.lru_cache(maxsize=256)
def _tap_order(taps: tuple[tuple[int, ...], ...], kernel_sizes: tuple[int, ...]) -> np.ndarray:
    """The flat (C order) indices of the kernel taps `taps` (per axis), in that order."""
    order = np.ravel_multi_index(np.ix_(*taps), kernel_sizes).reshape(-1)
    order.flags.writeable = False  # shared between calls
    return order


def _dense_forward(x3: np.ndarray, out3: np.ndarray, kernel: np.ndarray, parts) -> None:
    """`dense.forward` of x3 (N, D, H, W, C) with `kernel` (*K, C, F) into out3 (N, ..., F,
    contiguous), for `parts`: (taps, geometry, target), each a convolution with the kernel's
    taps `taps` (per axis, in the order the part uses them; None: all, in order) into `target`,
    a view of out3 (N, OD, OH, OW, F). All the parts run in one parallel call: one wake-up of
    the threads, and one row cache, as they read the same input rows. One part that fills out3,
    with one vector of output channels or less, runs in `dense.pixel_forward` (`_by_pixels`)."""
    itemsize, out_channels = out3.dtype.itemsize, out3.shape[-1]
    kernel_sizes, channels = kernel.shape[:-2], kernel.shape[-2]
    orders = [_tap_order(taps, kernel_sizes) for taps, _, _ in parts if taps is not None]
    order = np.concatenate(orders) if orders else None
    if len(parts) == 1 and _by_pixels(parts[0][1], itemsize, out_channels) and _is_whole(parts[0][2], out3):
        return _pixel_forward(x3, out3, kernel, order, parts[0][1])
    width = dense_lanes(itemsize, out_channels)
    start = out3.ctypes.data
    targets = tuple(
        (geometry, target.shape[1:4], target.strides[:4], target.ctypes.data - start) for _, geometry, target in parts
    )
    table, span, shift, rows = _dense_table(targets, channels, width, itemsize, x3.shape[0])
    weights = _dense_weights(kernel, order, width)
    chunks = max(1, min(rows, numba.get_num_threads()))
    block_size = weights[0].size
    dense.forward(
        x3, weights.reshape(-1), out3.reshape(-1), table, out_channels, width, block_size, chunks, span, shift
    )


@functools.lru_cache(maxsize=512)
def _dense_table(targets: tuple, channels: int, width: int, itemsize: int, batch: int):
    """`dense.forward`'s table of parts (one row each), the columns of its row cache, the shift
    of their columns, and the output rows: for `targets`, per part its geometry, its target's
    (OD, OH, OW), byte strides and byte offset in the output. Shared between calls (the loops
    never write the table)."""
    table, at = [], 0
    for geometry, target_sizes, target_strides, offset in targets:
        strides, dilation, pads = _axes3(geometry)
        steps = tuple(step // itemsize for step in target_strides)
        tile = dense.tile_rows(target_sizes[2])
        sizes = (1,) * (3 - geometry.rank) + geometry.kernel_sizes
        table.append((*sizes, *strides, *dilation, *pads, *target_sizes, *steps, offset // itemsize, at, tile))
        at += math.prod(sizes) * channels * width
    shift = max(row[dense.P_PADS + 2] for row in table)  # the cache's column b holds input column b - shift
    span = max(shift - row[dense.P_PADS + 2] + _span(part[0]) for row, part in zip(table, targets))
    rows = sum(batch * row[dense.P_OUT] * row[dense.P_OUT + 1] for row in table)
    return np.array(table, np.int64), span, shift, rows


def _by_pixels(geometry: ConvGeometry, itemsize: int, out_channels: int) -> bool:
    """Whether `dense.pixel_forward` computes a part: stride 1 along rows, one vector of output
    channels or less, and its tiles' columns used at least as well as the one-vector tiles'
    lanes would be (F of L), or three quarters of them (its tiles also load less per multiply-add).
    The input gradient of a 3-channel layer (seed) runs at 3 of 16 lanes in the one-vector tiles."""
    lanes = WIDE_BYTES // itemsize
    if out_channels > lanes or geometry.strides[-1] != 1:
        return False
    out_w, pixels = geometry.out_sizes[-1], 2 * lanes
    used = out_w / (-(-out_w // pixels) * pixels)  # the share of the tiles' columns that are the row's
    return used >= min(out_channels / lanes, 0.75)


def _windowed(geometry: ConvGeometry, channels: int, itemsize: int) -> bool:
    """Whether a depthwise layer reads its input in place (`depthwise.windowed`, its last axis)."""
    w_axis = (geometry.kernel_sizes[-1], geometry.strides[-1], geometry.dilation[-1])
    return depthwise.windowed(*w_axis, channels, itemsize)


def _is_whole(view: np.ndarray, array: np.ndarray) -> bool:
    return view.shape == array.shape and view.strides == array.strides and view.ctypes.data == array.ctypes.data


def _pixel_forward(
    x3: np.ndarray, out3: np.ndarray, kernel: np.ndarray, order, geometry: ConvGeometry, groups: int = 1
) -> None:
    """`dense.pixel_forward`: x3 (N, D, H, W, C) -> out3 (N, OD, OH, OW, F), kernel (*K, Cg, F)
    with its taps (flat, C order) in `order` (None: as they are)."""
    per_group_in, out_channels = kernel.shape[-2:]
    per_group_out = out_channels // groups
    filter_rows = dense.pixel_rows(per_group_out)
    taps = kernel.reshape(-1, per_group_in, groups, per_group_out).transpose(2, 0, 1, 3)  # (G, T, Cg, Fg)
    taps = taps if order is None else taps[:, order]
    if per_group_out < filter_rows:  # zero output channels up to a tile's rows
        taps = np.concatenate([taps, np.zeros((*taps.shape[:3], filter_rows - per_group_out), taps.dtype)], axis=-1)
    taps = np.ascontiguousarray(taps)
    sizes = np.array((1,) * (3 - geometry.rank) + geometry.kernel_sizes, np.int64)
    rows = x3.shape[0] * out3.shape[1] * out3.shape[2]
    chunks = max(1, min(rows, numba.get_num_threads()))
    dense.pixel_forward(
        x3, taps.reshape(-1), out3, sizes, *_params(geometry), groups, filter_rows, chunks, _span(geometry)
    )


def conv(x: np.ndarray, kernel: np.ndarray, geometry: ConvGeometry, groups: int) -> np.ndarray:
    dtype = np.result_type(x, kernel)
    rank = geometry.rank  # 1 to 3: select.why_not keeps higher ranks away
    shape = (x.shape[0], *geometry.out_sizes, kernel.shape[-1])
    x3, kernel3 = _as_3d(_contiguous(x, dtype), rank, 1), _as_3d(_contiguous(kernel, dtype), rank, 0)
    params = _params(geometry)
    family = _family(dtype, groups, x.shape[-1], kernel.shape[-1])
    if family == "few_channels":
        out = np.empty(shape, dtype)  # the kernel writes every entry
        few_channels.forward(x3, kernel3, _as_3d(out, rank, 1), *params)
    elif family == "depthwise":
        out = np.empty(shape, dtype)  # the kernel writes every entry
        if _windowed(geometry, x.shape[-1], dtype.itemsize):
            chunks = max(1, min(_rows(x, geometry), numba.get_num_threads()))
            depthwise.window_forward(x3, kernel3, _as_3d(out, rank, 1), *params, chunks)
        else:
            chunks = max(1, min(_rows(x, geometry), 4 * numba.get_num_threads()))
            depthwise.forward(x3, kernel3, _as_3d(out, rank, 1), *params, chunks, _span(geometry))
    elif family == "dense":
        out = np.empty(shape, dtype)  # every entry written
        out3 = _as_3d(out, rank, 1)
        _dense_forward(x3, out3, _contiguous(kernel, dtype), [(None, geometry, out3)])
    elif family == "grouped":
        out = np.empty(shape, dtype)  # every entry written
        sizes = np.array(kernel3.shape[:3], np.int64)
        if _by_pixels(geometry, dtype.itemsize, kernel.shape[-1] // groups):
            _pixel_forward(x3, _as_3d(out, rank, 1), kernel3, None, geometry, groups)
        elif (spread := _spread(dtype, groups, kernel.shape[-1] // groups)) is not None:  # groups packed into vectors
            packed = _pack_units(kernel3, spread, WIDE_BYTES // dtype.itemsize)
            chunks = max(1, min(_rows(x, geometry), numba.get_num_threads()))
            tile_rows = dense.tile_rows(geometry.out_sizes[-1])
            per_group_in = kernel.shape[-2]
            grouped.packed_forward(
                x3,
                packed,
                _as_3d(out, rank, 1),
                sizes,
                *params,
                per_group_in,
                spread,
                tile_rows,
                chunks,
                _span(geometry),
            )
        else:
            packed = _pack(kernel3, groups, lanes(dtype.itemsize))
            grouped.forward(x3, packed, _as_3d(out, rank, 1), sizes, *params, *geometry.interior[-1])
    else:
        out = np.zeros(shape, dtype)
        general.forward(x3, kernel3, _as_3d(out, rank, 1), *params, groups)
    return out


def conv_input_grad(grad: np.ndarray, kernel: np.ndarray, geometry: ConvGeometry, groups: int) -> np.ndarray:
    """By phases (`engine.phases`); a dense layer's phases in one call of `dense.forward`, each
    storing into its positions of the input gradient."""
    dtype = np.result_type(grad, kernel)
    if _family(dtype, groups, kernel.shape[-1], kernel.shape[-2] * groups) != "dense":
        return phases.conv_input_grad(grad, kernel, geometry, groups, conv)
    swapped = swap_channels(kernel.astype(dtype, copy=False), 1)  # (*K, C_out, C_in), a view
    dx = np.empty((grad.shape[0], *geometry.in_sizes, kernel.shape[-2]), dtype)
    parts, fill = [], tuple(range(1, 4 - geometry.rank))  # target views get axes of size 1 in front
    for phase in phases.plan(geometry):
        target = dx[(slice(None), *phase.target)]
        if phase.taps is None:
            target[...] = 0
        else:
            parts.append((phase.taps, phase.geometry, np.expand_dims(target, fill)))
    if parts:
        rank = geometry.rank
        _dense_forward(_as_3d(_contiguous(grad, dtype), rank, 1), _as_3d(dx, rank, 1), swapped, parts)
    return dx


def conv_kernel_grad(x: np.ndarray, grad: np.ndarray, geometry: ConvGeometry, groups: int) -> np.ndarray:
    dtype = np.result_type(x, grad)
    rank = geometry.rank
    chunks = max(1, min(_rows(x, geometry), numba.get_num_threads()))
    shape = (*geometry.kernel_sizes, x.shape[-1] // groups, grad.shape[-1])
    partial = np.zeros((chunks, *((1,) * (3 - rank)), *shape), dtype)
    x3, grad = _as_3d(_contiguous(x, dtype), rank, 1), _contiguous(grad, dtype)
    family = _family(dtype, groups, x.shape[-1], grad.shape[-1])
    if family == "few_channels":
        few_channels.kernel_grad(x3, _as_3d(grad, rank, 1), partial, *_params(geometry))
    elif family == "depthwise":
        if _windowed(geometry, x.shape[-1], dtype.itemsize):
            depthwise.window_kernel_grad(x3, _as_3d(grad, rank, 1), partial, *_params(geometry))
        else:
            depthwise.kernel_grad(x3, _as_3d(grad, rank, 1), partial, *_params(geometry), _span(geometry))
    elif family == "dense":
        width = dense_lanes(dtype.itemsize, grad.shape[-1])
        padded = _as_3d(_lane_padded(grad, 1, width), rank, 1)
        piece = dense.piece_shape(
            geometry.out_sizes[-1], geometry.strides[-1], x.shape[-1], padded.shape[-1], x.itemsize
        )
        rows = dense.grad_rows(x.shape[-1], width, x.itemsize)
        dense.kernel_grad(x3, padded, partial, *_params(geometry), rows, width, *piece)
    elif family == "grouped":
        spread = _spread(dtype, groups, grad.shape[-1] // groups)
        if spread is not None:  # groups packed into wide vectors
            terms = geometry.kernel_sizes[-1] * (x.shape[-1] // groups)  # a kernel row's (tap, input channel)
            grad3, tile_rows = _as_3d(grad, rank, 1), dense.tile_rows(terms)
            params = (*_params(geometry), spread, tile_rows, _span(geometry), grouped.SWEEP)
            grouped.packed_kernel_grad(x3, grad3, partial, *params)
        else:
            padded = _as_3d(_lane_padded(grad, groups, lanes(dtype.itemsize)), rank, 1)
            grouped.kernel_grad(x3, padded, partial, *_params(geometry), grad.shape[-1] // groups)
    else:
        general.kernel_grad(x3, _as_3d(grad, rank, 1), partial, *_params(geometry), groups)
    return partial.sum(axis=0).reshape(shape)
