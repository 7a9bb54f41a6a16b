"""The input gradient of a strided convolution as stride^rank stride-1 convolutions, no zeros inserted.

The sub-pixel decomposition (Shi et al. 2016, "Real-time single image and video
super-resolution", for the transpose convolution that this gradient is). Per axis, the input
positions i split into s phases by i0 = i mod s. With p the padding before,

    dx[i] = sum over (o, t) with o*s + t*d - p = i of g[o] w[t]

and for i = i0 + s*m only the taps t with t*d = i0 + p (mod s) take part, each at a fixed
offset: o = m + c_t, c_t = (i0 + p - t*d) / s. Those taps are evenly spaced (every
s/gcd(d, s)-th), and their offsets fall by e = d/gcd(d, s) from one to the next, so phase i0
is a stride-1 convolution of g with those taps in reverse order, dilation e, and padding
(-c_last, whatever makes its output ceil((S - i0)/s) long); a negative padding crops. A phase
with no taps is zero. The total work is the convolution's own; zero insertion costs s^rank
times more. With stride 1 there is one phase: the convolution of g with the kernel flipped and
each group's channels swapped (Dumoulin and Visin, relationship 14, generalised to any padding).
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..arithmetic import ConvGeometry
from .shift_add import swap_channels


def _axis_phase(i0: int, size: int, out: int, kernel: int, stride: int, dilation: int, before: int):
    """(taps in the order the phase convolution uses them, its dilation, its padding), or None."""
    taps = tuple(t for t in range(kernel) if (i0 + before - t * dilation) % stride == 0)[::-1]
    if not taps:
        return None
    first = (i0 + before - taps[0] * dilation) // stride  # the offset of the first tap used
    step = dilation // math.gcd(dilation, stride)
    length = -(-(size - i0) // stride)
    pad_before = -first
    pad_after = length - out - pad_before + (len(taps) - 1) * step
    return taps, step, (pad_before, pad_after)


@dataclass(frozen=True)
class Phase:
    """One input phase: the input positions it covers (`target`, slices of the spatial axes),
    and the stride-1 convolution of the output gradient that computes them: the kernel's taps
    it uses per axis, in the order it uses them, and its geometry; no taps: the phase is zero."""

    target: tuple[slice, ...]
    taps: tuple[tuple[int, ...], ...] | None
    geometry: ConvGeometry | None


@functools.lru_cache(maxsize=256)
def plan(geometry: ConvGeometry) -> tuple[Phase, ...]:
    """The phases of `geometry`'s input gradient: stride^rank of them (fewer where an input is
    shorter than the stride), one for a stride-1 layer. Cached: a training loop asks for the
    same few geometries on every step (30 us a call for a 2-D stride-2 layer)."""
    axes = _axes(geometry)
    out = []
    for phase in itertools.product(*(range(min(s, size)) for size, _, _, s, _, _ in axes)):
        target = tuple(slice(i0, None, axis[3]) for i0, axis in zip(phase, axes))
        per_axis = [_axis_phase(i0, *axis) for i0, axis in zip(phase, axes)]
        if any(p is None for p in per_axis):
            out.append(Phase(target, None, None))
            continue
        taps, steps, padding = zip(*per_axis)
        out.append(Phase(target, taps, _phase_geometry(geometry, taps, steps, padding)))
    return tuple(out)


def conv_input_grad(grad: np.ndarray, kernel: np.ndarray, geometry: ConvGeometry, groups: int, conv: Callable):
    """`(N, *O, C_out) x (*K, C_in/G, C_out) -> (N, *S, C_in)` with `conv` for each phase."""
    swapped = swap_channels(kernel, groups)  # (*K, C_out/G, C_in): each phase maps C_out to C_in
    phases = plan(geometry)
    if len(phases) == 1 and phases[0].taps is not None:  # stride 1: the flipped-kernel convolution, no copy
        (phase,) = phases
        return conv(grad, swapped[np.ix_(*phase.taps)], phase.geometry, groups)
    dx = np.empty((grad.shape[0], *geometry.in_sizes, swapped.shape[-1]), np.result_type(grad, kernel))
    for phase in phases:
        target = (slice(None), *phase.target)
        if phase.taps is None:
            dx[target] = 0
        else:
            dx[target] = conv(grad, swapped[np.ix_(*phase.taps)], phase.geometry, groups)
    return dx


def _axes(geometry: ConvGeometry) -> list[tuple[int, ...]]:
    """Per axis: (S, O, K, s, d, padding before), the arguments of `_axis_phase` after i0."""
    axes = zip(geometry.in_sizes, geometry.out_sizes, geometry.kernel_sizes, geometry.strides, geometry.dilation)
    return [(*axis, before) for axis, (before, _) in zip(axes, geometry.padding)]


def _phase_geometry(geometry: ConvGeometry, taps, steps, padding) -> ConvGeometry:
    return ConvGeometry(geometry.out_sizes, tuple(len(t) for t in taps), (1,) * geometry.rank, steps, padding)
