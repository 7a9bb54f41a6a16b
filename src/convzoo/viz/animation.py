"""Build the animation of a layer: small integer arrays, the core's outputs, and the frames.

Every kind is a chain of stages read off `Layer.stages` (its geometry: strides, dilation, the
padding applied, the output sizes); every number is computed by the kind's core op
(`convzoo.conv`, `convzoo.depthwise_conv`, ...), intermediate results by the op of that stage.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .. import ops
from ..arithmetic import Layer, dilated_kernel_size, kernel_shapes
from ..errors import ConvZooError
from . import frames as fr

VIEWS = {"transpose": ("scatter", "zero-insertion")}
DEFAULT_MAX_FRAMES = 100


def views(kind: str) -> tuple[str, ...]:
    """The views a kind animates in, its default first.

    >>> views("transpose"), views("conv")
    (('scatter', 'zero-insertion'), ('gather',))
    """
    return VIEWS.get(kind, ("gather",))


def animation(layer: Layer, *, view: str | None = None, seed: int = 0, max_frames: int = DEFAULT_MAX_FRAMES):
    """The frames of `layer`'s animation, on small integer arrays, with the core's numbers.

    One frame per step (an output cell written, or in the scatter view an input cell
    scattered), output channel by output channel (input channel in the scatter view), each
    in raster order; beyond `max_frames` steps, ceil(steps / max_frames) consecutive steps
    per frame. The input holds integers 0..3 and the kernels 0..2 (seeded by `seed`), in
    float64, so every product and sum is exact; no bias.

    Args:
        layer: any `convzoo.arithmetic.Layer` (batch and data_format are ignored).
        view: "gather" for every kind; a transpose layer takes "scatter" (its default: each
            input cell scatters a scaled kernel) or "zero-insertion" (zeros between the
            input's cells, then a stride-1 convolution with the flipped kernel).
        seed: seed of the example arrays.
        max_frames: the most frames, >= 1.

    Returns:
        An `Animation`.

    Raises:
        ConvZooError: for a view the kind does not have, or max_frames < 1.

    >>> from convzoo.arithmetic import Layer
    >>> movie = animation(Layer("conv", (5, 5), 1, filters=1, kernel_size=3, strides=2, padding=1))
    >>> len(movie.frames), movie.grids[0].sizes, movie.frames[0].steps[0].cells[:3]
    (9, (7, 7), ((0, 0), (0, 1), (0, 2)))
    """
    view = view or views(layer.kind)[0]
    if view not in views(layer.kind):
        raise ConvZooError(
            f"A {layer.kind} layer animates in the view(s) {', '.join(views(layer.kind))}. Received: view={view!r}."
        )
    if not isinstance(max_frames, int) or max_frames < 1:
        raise ConvZooError(f"`max_frames` must be an int >= 1. Received: max_frames={max_frames!r}.")
    layer = dataclasses.replace(layer, batch=1, use_bias=False, data_format="channels_last")
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 4, layer.input_shape).astype(np.float64)
    kernels = [rng.integers(0, 3, shape).astype(np.float64) for shape in kernel_shapes(layer)]
    build = _scatter if view == "scatter" else _zero_insertion if view == "zero-insertion" else _BUILDERS[layer.kind]
    grids, stages, steps, partial = build(layer, x, kernels)
    grouped, per_frame = fr.group_steps(steps, max_frames)
    partials = partial(grouped) if partial else [None] * len(grouped)
    frames = tuple(fr.Frame(group, values) for group, values in zip(grouped, partials))
    return fr.Animation(layer, view, tuple(grids), tuple(stages), frames, per_frame)


def _chw(batch: np.ndarray) -> np.ndarray:
    """(1, *S, C) -> (C, *S)."""
    return np.moveaxis(batch[0], -1, 0)


def _groups_of(channels: int, groups: int) -> tuple[int, ...]:
    return tuple(c // (channels // groups) for c in range(channels))


def _sliding(layer: Layer, x: np.ndarray, kernel: np.ndarray, out: np.ndarray, groups: int, label: str):
    """One gather stage over the padded input: conv, dilated, grouped, depthwise, pointwise."""
    geometry = layer.stages[0].geometry
    kernel = kernel.reshape(*kernel.shape[:-2], -1, out.shape[-1])
    source = fr.padded_grid(
        "input", "input", _chw(x), geometry.padding, layer.padding_mode, _groups_of(x.shape[-1], groups)
    )
    target = fr.plain_grid("output", "output", _chw(out), _groups_of(out.shape[-1], groups))
    stage = fr.Stage(label, 0, 1, kernel, groups)
    zero = (0,) * layer.rank
    steps = fr.gather_steps(0, stage, source, target, geometry.strides, geometry.dilation, zero, geometry.out_sizes)
    return [source, target], [stage], steps, None


def _conv(layer, x, kernels):
    (kernel,) = kernels
    out = ops.conv(x, kernel, **_sliding_options(layer))
    return _sliding(layer, x, kernel, out, layer.groups, "kernel")


def _pointwise(layer, x, kernels):
    (kernel,) = kernels
    out = ops.pointwise_conv(x, kernel)
    return _sliding(layer, x, kernel.reshape((1,) * layer.rank + kernel.shape), out, 1, "1x1 kernel")


def _depthwise(layer, x, kernels):
    (kernel,) = kernels
    out = ops.depthwise_conv(x, kernel, **_sliding_options(layer))
    return _sliding(layer, x, kernel, out, layer.in_channels, "depthwise kernel")


def _separable(layer, x, kernels):
    depthwise, pointwise = kernels
    middle = ops.depthwise_conv(x, depthwise, **_sliding_options(layer))
    out = ops.separable_conv(x, depthwise, pointwise, **_sliding_options(layer))
    grids, stages, steps, _ = _sliding(layer, x, depthwise, middle, layer.in_channels, "depthwise kernel")
    grids[1] = dataclasses.replace(grids[1], name="depthwise output", role="intermediate")
    target = fr.plain_grid("output", "output", _chw(out), (0,) * out.shape[-1])
    stage = fr.Stage("pointwise kernel", 1, 2, pointwise, 1)
    ones = (1,) * layer.rank
    steps += fr.gather_steps(1, stage, grids[1], target, ones, ones, (0,) * layer.rank, layer.out_sizes)
    return [*grids, target], [*stages, stage], steps, None


def _spatially_separable(layer, x, kernels):
    """Stage a: kernel a spans axis a, with that axis's stride, dilation and padding."""
    out = ops.spatially_separable_conv(x, list(kernels), **_sliding_options(layer))
    tensors, current = [], x
    for stage, kernel in zip(layer.stages[:-1], kernels):
        current = ops.conv(current, kernel, **_geometry_options(stage.geometry, layer.padding_mode))
        tensors.append(current)
    tensors.append(out)
    grids = [
        fr.padded_grid(
            "input", "input", _chw(x), layer.stages[0].geometry.padding, layer.padding_mode, [0] * x.shape[-1]
        )
    ]
    for number, tensor in enumerate(tensors):
        last = number == layer.rank - 1
        pads = [(0, 0)] * layer.rank if last else layer.stages[number + 1].geometry.padding
        name = "output" if last else f"after kernel {number + 1}"
        grids.append(
            fr.padded_grid(
                name,
                "output" if last else "intermediate",
                _chw(tensor),
                pads,
                layer.padding_mode,
                [0] * tensor.shape[-1],
            )
        )
    stages, steps = [], []
    for number, (stage, kernel) in enumerate(zip(layer.stages, kernels)):
        geometry = stage.geometry
        stages.append(fr.Stage(f"kernel {number + 1} {_size_text(kernel.shape[:-2])}", number, number + 1, kernel, 1))
        steps += fr.gather_steps(
            number,
            stages[-1],
            grids[number],
            grids[number + 1],
            geometry.strides,
            geometry.dilation,
            (0,) * layer.rank,
            geometry.out_sizes,
        )
    return grids, stages, steps, None


def _transpose_out(layer, x, kernel, **padding):
    options = dict(strides=layer.strides, dilation_rate=layer.dilation_rate, groups=layer.groups)
    return ops.conv_transpose(x, kernel, **{**options, **padding})


def _scatter(layer, x, kernels):
    """Each input cell adds x[i] * kernel at i*strides + t*dilation of the full output, which
    the padding then crops (and output_padding extends)."""
    (kernel,) = kernels
    geometry = layer.stages[0].geometry
    out = _transpose_out(layer, x, kernel, padding=layer.padding, output_padding=layer.output_padding)
    groups_out = _groups_of(layer.filters, layer.groups)
    full = _transpose_out(layer, x, kernel, padding=0)  # nothing cropped: (S-1)*s + k_eff
    canvas = fr.scatter_canvas("output", _chw(full), layer.out_sizes, geometry.padding, groups_out)
    canvas.values[(slice(None), *(slice(o, o + n) for o, n in zip(canvas.origin, layer.out_sizes)))] = _chw(out)
    source = fr.plain_grid("input", "input", _chw(x), _groups_of(layer.in_channels, layer.groups))
    stage = fr.Stage("kernel", 0, 1, kernel, layer.groups, view="scatter")
    steps = fr.scatter_steps(0, stage, source, canvas, geometry.strides, geometry.dilation)

    def partial(grouped):
        """The full output after each frame, from the core on the input cells scattered so far."""
        seen, sums = np.zeros_like(x), []
        for group in grouped:
            for step in group:
                seen[(0, *step.cell, step.channel)] = 1
            values = np.zeros_like(canvas.values)
            values[(slice(None), *(slice(0, n) for n in full.shape[1:-1]))] = _chw(
                _transpose_out(layer, x * seen, kernel, padding=0)
            )
            sums.append(values)
        return sums

    return [source, canvas], [stage], steps, partial


def _zero_insertion(layer, x, kernel_list):
    """strides-1 zeros between the input's cells, padded by k_eff-1-crop on each side, then a
    stride-1 convolution with the kernel flipped on every spatial axis and its channel axes
    swapped, group by group (D&V relationship 14)."""
    (kernel,) = kernel_list
    geometry = layer.stages[0].geometry
    out = _transpose_out(layer, x, kernel, padding=layer.padding, output_padding=layer.output_padding)
    k_eff = map(dilated_kernel_size, layer.kernel_size, layer.dilation_rate)
    pads = [(k - 1 - before, k - 1 - after) for k, (before, after) in zip(k_eff, geometry.padding)]
    source, offset = fr.stretched_grid(
        "input", _chw(x), layer.strides, pads, _groups_of(layer.in_channels, layer.groups)
    )
    target = fr.plain_grid("output", "output", _chw(out), _groups_of(layer.filters, layer.groups))
    stage = fr.Stage("kernel, flipped", 0, 1, _as_conv_kernel(kernel, layer.groups), layer.groups)
    ones = (1,) * layer.rank
    steps = fr.gather_steps(0, stage, source, target, ones, layer.dilation_rate, offset, layer.out_sizes)
    return [source, target], [stage], steps, None


def _as_conv_kernel(kernel: np.ndarray, groups: int) -> np.ndarray:
    """A transpose kernel (*K, F/g, C) as the conv kernel (*K, C/g, F) of its zero-insertion
    view: flipped in space, and within each group the channel axes swapped."""
    rank = kernel.ndim - 2
    flipped = np.flip(kernel, axis=tuple(range(rank)))
    per_group_out, in_channels = kernel.shape[-2:]
    per_group_in = in_channels // groups
    parts = [np.swapaxes(flipped[..., g * per_group_in : (g + 1) * per_group_in], -1, -2) for g in range(groups)]
    return np.concatenate(parts, axis=-1)


def _sliding_options(layer: Layer) -> dict:
    return dict(
        strides=layer.strides, padding=layer.padding, dilation_rate=layer.dilation_rate, padding_mode=layer.padding_mode
    )


def _geometry_options(geometry, padding_mode: str) -> dict:
    return dict(
        strides=geometry.strides, padding=geometry.padding, dilation_rate=geometry.dilation, padding_mode=padding_mode
    )


def _size_text(sizes) -> str:
    return "x".join(map(str, sizes))


_BUILDERS = {
    "conv": _conv,
    "dilated": _conv,
    "grouped": _conv,
    "pointwise": _pointwise,
    "depthwise": _depthwise,
    "separable": _separable,
    "spatially-separable": _spatially_separable,
}
