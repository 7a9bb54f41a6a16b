"""Which algorithm computes a call: the rules, and the reasons an algorithm does not apply.

Every algorithm computes the same three faces (docs/decisions/performance-engine.md):

    name        conv          input grad              kernel grad       applies to
    shift_add   yes           yes                     yes               everything (the fallback)
    gemm        im2col        GEMM + col2im           im2col^T @ grad   everything
    winograd    F(4, 3|2)     phases as parts         G^T dU G          1-3 taps per plane axis (ceil(K/s)), groups 1
    fft         yes           yes                     yes               stride 1, groups 1, ranks 1-3
    direct      numba loops   as convs (by phases)    numba loops       ranks 1-3

"as a conv": the input gradient of a stride-1 convolution is the convolution of the output
gradient with the kernel flipped and each group's channels swapped; a strided one is stride^rank
such convolutions, one per phase of the input (`engine.phases`, no zeros inserted).

The choice, from the shapes and the host (measured in benchmarks/, docs/performance.md):
- few channels per group (depthwise, most grouped layers): `direct`, which touches memory once;
- a dense layer with 3x3 planes (2-D 3x3, or 3-D (KD, 3, 3)), stride 1 along them, 16 channels
  or more each way and 1024 outputs or more per channel: `winograd` for the convolution and the
  kernel gradient, 4x fewer multiplications than the direct sum, on every host. On this
  AVX-512 host its convolution ran 1.1-2.7x faster than `direct`'s tiles over 16 to 512
  channels and 7 to 224 columns (2.2x on 8 x 56 x 56 x 64), its kernel gradient 1.1-2.2x;
  with 8 to 12 channels, or a single 28 x 28 image, its transforms and kernel cost more. With
  3 taps along one axis and 1 along the other (spatially separable stages, 1-D layers) its
  F(4, 3) form from 64 channels each way: 1.1-1.5x there, 0.5-1.0x with 16 or 32. 2x2 planes
  (F(4x4, 2x2), 2.56x fewer multiplications) likewise from 16 channels: 1.3-1.4x at 8 x 56 x 56
  x 64. Of strided layers only the input gradient of a 4x4 stride-2 one (a transpose
  convolution's forward: 2x2 phases), 1.1x (`winograd_pays`);
- a dense layer (one group) with more than one tap, on a host with AVX-512: `direct`'s wide
  register tiles, for every face (a strided input gradient by phases); there too, a 1x1 layer
  with 64 channels or fewer on one side and rows of 32 columns or more. That rule is about
  hand-offs more than rates: alone, such a layer ran 0-11% faster in gemm (farm-bench, 2 x
  112 x 112, 4 x 64 x 64, 8 x 56 x 56), but dw_separable's fwd+bwd, which alternates it with depthwise
  layers in numba, ran 23% faster with it in `direct` (the BLAS's threads and numba's contend
  at each hand-off on 2 cores); on shorter rows gemm won by 20-75% (28, 14 and 4 columns);
- elsewhere (AVX2), a stride-1 dense layer with a kernel of 49 taps or more: `fft` (convolution
  and kernel gradient); any other dense convolution: `direct`;
- otherwise `gemm` (1x1 layers, fat groups, and on AVX2 hosts the dense kernel gradients and
  strided input gradients), whose column matrix is bounded by the call's input plus output sizes.
The input gradient of a stride-1 layer is chosen as the convolution it rewrites to.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, replace

from ..arithmetic import ConvGeometry
from . import winograd
from .direct.simd import WIDE_BYTES
from .fft import applies as fft_applies

WIDE_HOST = WIDE_BYTES == 64  # AVX-512: direct's dense tiles beat Winograd, the FFT and im2col there

ALGORITHMS = ("shift_add", "gemm", "winograd", "fft", "direct")
FACES = ("conv", "input_grad", "kernel_grad")


@dataclass(frozen=True)
class Problem:
    """One engine call's shapes: what the choice depends on."""

    geometry: ConvGeometry
    groups: int
    in_channels: int
    out_channels: int
    batch: int = 1

    @property
    def per_group_in(self) -> int:
        return self.in_channels // self.groups

    @property
    def per_group_out(self) -> int:
        return self.out_channels // self.groups

    @property
    def thin_groups(self) -> bool:
        """Too few channels per group for a matrix product worth its data movement."""
        return self.groups > 1 and self.per_group_in * self.per_group_out <= 256


def why_not(name: str, face: str, problem: Problem) -> str | None:
    """None if algorithm `name` computes `face` for `problem`, else the reason it does not."""
    geometry, groups = problem.geometry, problem.groups
    if name in ("shift_add", "gemm"):
        return None
    if name == "direct":
        return "direct covers ranks 1 to 3" if geometry.rank > 3 else None
    if name == "fft":
        return fft_applies(geometry, groups)
    if name == "winograd":
        return winograd.applies(geometry, groups, face)
    raise ValueError(name)


@functools.lru_cache(maxsize=1024)  # a pure function of hashable shapes, asked once per engine call
def choose(face: str, problem: Problem) -> str:
    """The algorithm for `face` of `problem` (the rules in this module's docstring)."""
    geometry = problem.geometry
    if face == "input_grad" and all(s == 1 for s in geometry.strides):
        return choose("conv", as_conv_problem(problem))
    if problem.thin_groups and geometry.rank <= 3:
        return "direct"
    if winograd.applies(geometry, problem.groups, face) is None and winograd_pays(problem, face):
        return "winograd"
    taps = math.prod(geometry.kernel_sizes)
    stride_one_dense = all(s == 1 for s in geometry.strides) and problem.groups == 1 and geometry.rank <= 3
    dense = problem.groups == 1 and geometry.rank <= 3 and taps > 1
    if dense and WIDE_HOST:
        return "direct"
    thin = min(problem.in_channels, problem.out_channels) <= 64
    thin_pointwise = taps == 1 and thin and geometry.out_sizes[-1] >= 32  # see the docstring
    if WIDE_HOST and problem.groups == 1 and geometry.rank <= 3 and thin_pointwise:
        return "direct"
    if stride_one_dense and taps >= 49 and face != "input_grad":
        return "fft"
    if dense and face == "conv":
        return "direct"
    return "gemm"


def winograd_pays(problem: Problem, face: str = "conv") -> bool:
    """Winograd's fused runs beat the dense tiles (docs/performance.md) from 1024 outputs per
    channel, where they save at least half the multiplications (`winograd.saving`), with 16
    channels each way where a form transforms both axes of the plane (3x3: 4x fewer, 2x2: 2.56x),
    64 where only one (3 taps along one axis: 2x; with 16 or 32 channels its transforms cost
    more). Of strided layers, only the input gradient, at 2.5x (a 4x4 stride-2 layer's: its
    phases are 2x2): a 3x3 stride-2 layer's phases save 1.78x, its convolution's phase terms
    1.44x, and both lost to the dense tiles, as did the 4x4 one's convolution."""
    geometry = problem.geometry
    strided = any(s != 1 for s in geometry.strides[-2:])
    if strided and face != "input_grad":
        return False
    ratio, both_axes = winograd.saving(geometry, face)
    outputs = problem.batch * math.prod(geometry.out_sizes)
    least = 16 if both_axes else 64
    return (
        ratio >= (2.5 if strided else 2) and min(problem.in_channels, problem.out_channels) >= least and outputs >= 1024
    )


def as_conv_problem(problem: Problem) -> Problem:
    geometry = _as_conv_geometry(problem.geometry)
    return replace(problem, geometry=geometry, in_channels=problem.out_channels, out_channels=problem.in_channels)


def _as_conv_geometry(geometry: ConvGeometry) -> ConvGeometry:
    """The stride-1 convolution that computes `geometry`'s input gradient (see the module docstring).

    Per axis, with P the padded input size, (pb, pa) its padding, O the output size and
    L = (O - 1) s + 1 the gradient's size once zeros are inserted: the rewritten convolution
    pads L by ((K - 1) d - pb, P - L - pa), so that its output has P - pb - pa = S positions.
    """
    lengths = tuple((o - 1) * s + 1 for o, s in zip(geometry.out_sizes, geometry.strides))
    padding = tuple(
        ((k - 1) * d - before, p - length - after)
        for k, d, (before, after), p, length in zip(
            geometry.kernel_sizes, geometry.dilation, geometry.padding, geometry.padded_sizes, lengths
        )
    )
    return ConvGeometry(lengths, geometry.kernel_sizes, (1,) * geometry.rank, geometry.dilation, padding)
