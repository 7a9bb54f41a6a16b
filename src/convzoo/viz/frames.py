"""The frames of an animation as data: grids of cells, kernel placements, and the numbers.

Nothing here draws. A `Grid` is one tensor as it is drawn: its channels, its spatial cells and
any margin around them (padding, the zeros a transpose convolution inserts, cropped or
appended output cells), each cell with its kind and the tensor index it holds or mirrors. A
`Step` is one placement of the kernel: in the gather view (every convolution, and a transpose
convolution seen as zero insertion then a convolution) it reads the cells under the kernel's
taps and writes one output cell; in the scatter view (a transpose convolution seen as each
input pixel scattering a scaled kernel) it reads one input cell and writes under the taps.
A `Frame` is one or more consecutive steps (`group_steps`). Where the cells are comes from
the layer's `convzoo.arithmetic` geometry; the values come from the core's ops
(`convzoo.viz.examples`).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from ..arithmetic import Layer

# The kinds of cell a grid holds: a cell of the tensor, or one of the margins drawn apart.
CELL_KINDS = ("real", "padding", "inserted", "cropped", "appended")
# numpy.pad's names for PyTorch's padding modes (the core's padding_mode values).
_NUMPY_MODES = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


@dataclass(frozen=True, eq=False)
class Grid:
    """One tensor as drawn: `values` (C, *sizes) over grid cells, the tensor at `origin`.

    `cells` (*sizes) names each cell's kind (`CELL_KINDS`); `sources` (*sizes, rank) is the
    tensor index a cell holds ("real") or copies (padding in a non-zero mode), -1 where it
    holds none (zero padding, inserted zeros, cropped and appended cells). `role` is "input",
    "intermediate" or "output"; `channel_groups` the group of each channel, for its colour.
    """

    name: str
    role: str
    values: np.ndarray
    cells: np.ndarray
    sources: np.ndarray
    origin: tuple[int, ...]
    channel_groups: tuple[int, ...]

    @property
    def sizes(self) -> tuple[int, ...]:
        return self.cells.shape

    @property
    def channels(self) -> int:
        return self.values.shape[0]

    def source(self, cell: tuple[int, ...]) -> tuple[int, ...] | None:
        """The tensor index that `cell` holds or mirrors, None for a zero it makes up."""
        index = tuple(int(i) for i in self.sources[cell])
        return None if min(index) < 0 else index


@dataclass(frozen=True, eq=False)
class Stage:
    """One pass of a kernel from grid `source` to grid `target`.

    `kernel` is `(*K, fan, channels)`: for a gather stage the conv layout `(*K, C_in/groups,
    C_out)`, the slice `[..., f]` being what output channel f applies; for a scatter stage
    Keras's transpose layout `(*K, C_out/groups, C_in)`, the slice `[..., c]` what input
    channel c scatters. `view` is "gather" or "scatter".
    """

    label: str
    source: int
    target: int
    kernel: np.ndarray
    groups: int
    view: str = "gather"


@dataclass(frozen=True, eq=False)
class Step:
    """One kernel placement in `stage`.

    Gather: output `channel` at grid cell `cell` of the target is the sum of `products`, the
    taps' `weights` times the `operands` read from `cells[t]` of the source in each of
    `fan_channels`; `value` is the core's output there. Scatter: input `channel` at `cell`
    of the source, whose `value` is every operand, adds `products` into `cells[t]` of the
    target in each of `fan_channels`. `weights`, `operands`, `products`: (fan, taps).
    """

    stage: int
    channel: int
    cell: tuple[int, ...]
    fan_channels: tuple[int, ...]
    taps: tuple[tuple[int, ...], ...]
    cells: tuple[tuple[int, ...], ...]
    weights: np.ndarray
    operands: np.ndarray
    value: float

    @property
    def products(self) -> np.ndarray:
        return self.weights * self.operands


@dataclass(frozen=True, eq=False)
class Frame:
    """Consecutive steps shown at once; `partial` (scatter view) is the target after them."""

    steps: tuple[Step, ...]
    partial: np.ndarray | None = None


@dataclass(frozen=True, eq=False)
class Animation:
    """Every frame of one layer's animation, with the grids and stages they refer to."""

    layer: Layer
    view: str
    grids: tuple[Grid, ...]
    stages: tuple[Stage, ...]
    frames: tuple[Frame, ...]
    steps_per_frame: int

    @property
    def steps(self) -> tuple[Step, ...]:
        return tuple(step for frame in self.frames for step in frame.steps)


# --------------------------------------------------------------------------------------------
# Grids
# --------------------------------------------------------------------------------------------


def _combine(axes_kinds: list[np.ndarray], axes_sources: list[np.ndarray], priority: tuple[str, ...]) -> tuple:
    """Cell kinds and sources of a grid from per-axis ones: a cell takes its axes' highest-priority
    kind, and has a source only where every axis has one."""
    mesh_kinds = np.meshgrid(*axes_kinds, indexing="ij")
    cells = np.full(mesh_kinds[0].shape, priority[-1], dtype=object)
    for kind in reversed(priority):
        cells[np.logical_or.reduce([k == kind for k in mesh_kinds])] = kind
    sources = np.stack(np.meshgrid(*axes_sources, indexing="ij"), axis=-1)
    sources[(sources < 0).any(axis=-1)] = -1
    return cells, sources


def _gather_values(tensor: np.ndarray, sources: np.ndarray) -> np.ndarray:
    """(C, *grid) values: the tensor at each cell's source, 0 where it has none."""
    valid = (sources >= 0).all(axis=-1)
    index = tuple(np.where(valid, sources[..., axis], 0) for axis in range(sources.shape[-1]))
    return np.where(valid, tensor[(slice(None), *index)], 0)


def padded_grid(name, role, tensor, padding, mode, channel_groups) -> Grid:
    """`tensor` (C, *S) padded by (before, after) `padding` pairs, filled as `mode` says."""
    kinds, sources = [], []
    for size, (before, after) in zip(tensor.shape[1:], padding):
        index = np.arange(-before, size + after)
        inside = (index >= 0) & (index < size)
        kinds.append(np.where(inside, "real", "padding"))
        if mode == "zeros":
            sources.append(np.where(inside, index, -1))
        else:
            sources.append(np.pad(np.arange(size), (before, after), mode=_NUMPY_MODES[mode]))
    cells, sources = _combine(kinds, sources, ("padding", "real"))
    origin = tuple(before for before, _ in padding)
    return Grid(name, role, _gather_values(tensor, sources), cells, sources, origin, tuple(channel_groups))


def plain_grid(name, role, tensor, channel_groups) -> Grid:
    return padded_grid(name, role, tensor, [(0, 0)] * (tensor.ndim - 1), "zeros", channel_groups)


def stretched_grid(name, tensor, strides, pads, channel_groups) -> tuple[Grid, tuple[int, ...]]:
    """A transpose convolution's input with strides-1 zeros inserted between its cells, padded by
    `pads` (before, after) per axis (negative crops), and the offset of padded position 0."""
    kinds, sources, origin = [], [], []
    for size, s, (before, after) in zip(tensor.shape[1:], strides, pads):
        length = (size - 1) * s + 1
        low, high = min(0, -before), max(length, length + after)
        u = np.arange(low, high)
        read = (u >= -before) & (u < length + after)
        inside = (u >= 0) & (u < length)
        on_pixel = inside & (u % s == 0)
        kind = np.where(~read, "cropped", np.where(~inside, "padding", np.where(on_pixel, "real", "inserted")))
        kinds.append(kind)
        sources.append(np.where(on_pixel, u // s, -1))
        origin.append(-low)
    cells, sources = _combine(kinds, sources, ("cropped", "padding", "inserted", "real"))
    grid = Grid(name, "input", _gather_values(tensor, sources), cells, sources, tuple(origin), tuple(channel_groups))
    offset = tuple(o - before for o, (before, _) in zip(origin, pads))
    return grid, offset


def scatter_canvas(name, full, out_sizes, crops, channel_groups) -> Grid:
    """A transpose convolution's full output `full` (C, *L), the cropped cells kept, output
    padding appended: the real output starts at crop_before on each axis."""
    kinds, sources = [], []
    for length, out, (before, _) in zip(full.shape[1:], out_sizes, crops):
        q = np.arange(max(length, before + out))
        real = (q >= before) & (q < before + out)
        kinds.append(np.where(real, np.where(q < length, "real", "appended"), "cropped"))
        sources.append(np.where(real, q - before, -1))
    cells, sources = _combine(kinds, sources, ("cropped", "appended", "real"))
    values = np.zeros((full.shape[0], *cells.shape))
    values[(slice(None), *(slice(0, length) for length in full.shape[1:]))] = full
    origin = tuple(before for before, _ in crops)
    return Grid(name, "output", values, cells, sources, origin, tuple(channel_groups))


# --------------------------------------------------------------------------------------------
# Steps
# --------------------------------------------------------------------------------------------


def _taps(kernel_sizes) -> list[tuple[int, ...]]:
    return list(itertools.product(*(range(k) for k in kernel_sizes)))


def gather_steps(number, stage, source, target, strides, dilation, offset, out_sizes) -> list[Step]:
    """Every output cell of a gather stage, output channel by output channel, in raster order.

    Output o reads source cell offset + o*strides + t*dilation for each tap t (D&V's
    relationship 15: the padded input at o*s + t*d), in its group's input channels.
    """
    kernel, taps = stage.kernel, _taps(stage.kernel.shape[:-2])
    fan, out_channels = kernel.shape[-2:]
    per_group_out = out_channels // stage.groups
    steps = []
    for channel in range(out_channels):
        group = channel // per_group_out
        fan_channels = tuple(range(group * fan, (group + 1) * fan))
        weights = np.array([[kernel[(*t, j, channel)] for t in taps] for j in range(fan)])
        for o in np.ndindex(*out_sizes):
            cells = tuple(
                tuple(b + oi * s + ti * d for b, oi, s, ti, d in zip(offset, o, strides, t, dilation)) for t in taps
            )
            operands = np.array([[source.values[(c, *cell)] for cell in cells] for c in fan_channels])
            out_cell = tuple(g + oi for g, oi in zip(target.origin, o))
            value = float(target.values[(channel, *out_cell)])
            steps.append(Step(number, channel, out_cell, fan_channels, tuple(taps), cells, weights, operands, value))
    return steps


def scatter_steps(number, stage, source, target, strides, dilation) -> list[Step]:
    """Every input cell of a scatter stage, input channel by input channel, in raster order.

    Input i adds x[i] * w[t] at full-output position i*strides + t*dilation for each tap t,
    into its group's output channels.
    """
    kernel, taps = stage.kernel, _taps(stage.kernel.shape[:-2])
    fan, in_channels = kernel.shape[-2:]
    per_group_in = in_channels // stage.groups
    steps = []
    for channel in range(in_channels):
        group = channel // per_group_in
        fan_channels = tuple(range(group * fan, (group + 1) * fan))
        weights = np.array([[kernel[(*t, j, channel)] for t in taps] for j in range(fan)])
        for i in np.ndindex(*source.sizes):
            cells = tuple(tuple(ii * s + ti * d for ii, s, ti, d in zip(i, strides, t, dilation)) for t in taps)
            value = float(source.values[(channel, *i)])
            operands = np.full(weights.shape, value)
            steps.append(Step(number, channel, i, fan_channels, tuple(taps), cells, weights, operands, value))
    return steps


def group_steps(steps: list[Step], max_frames: int) -> tuple[list[tuple[Step, ...]], int]:
    """One frame per step, or, beyond `max_frames` steps, ceil(steps / max_frames) consecutive
    steps per frame (so at most `max_frames` frames). Returns the frames and steps per frame.

    >>> frames, per_frame = group_steps(list(range(250)), 100)
    >>> len(frames), per_frame, frames[-1]
    (84, 3, (249,))
    """
    per_frame = max(1, math.ceil(len(steps) / max_frames))
    return [tuple(steps[i : i + per_frame]) for i in range(0, len(steps), per_frame)], per_frame
