"""Block diagrams of a layer: the input volume, each stage's kernels, the volumes they make.

Volumes are boxes, spatial sizes across and channels in depth, drawn on a log scale so that
28x28x3 and 1x1x256 both fit; every box carries its shape in numbers, each stage its
kernels ("32 x 3x3x3"), and the caption the layer's parameters and MACs from
`convzoo.arithmetic`. Channel groups (grouped, depthwise, the depthwise stage of a separable
layer, grouped transpose) are slabs edged in the group colours of the animations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .. import arithmetic
from ..arithmetic import Layer
from ..kinds import KINDS
from .scene import GROUP_COLOURS, PALETTE, Line, Polygon, Scene, Text, group_colour, text_width

MARGIN, GAP = 24, 190
GROUPS_DRAWN = len(GROUP_COLOURS)  # more groups than this are drawn as this many slabs, and said so


def _length(n: int) -> float:
    """Pixels for a spatial size: log-scaled, 1 -> 10, 28 -> ~120."""
    return 10 + 33 * math.log2(n) if n > 1 else 10


def _depth(n: int) -> float:
    """Pixels of depth (oblique) for a number of channels."""
    return 4 + 9 * math.log2(n) if n > 1 else 4


@dataclass(frozen=True)
class Volume:
    """A tensor drawn as a box: its spatial sizes, its channels, its role and groups."""

    sizes: tuple[int, ...]
    channels: int
    role: str
    groups: int = 1

    @property
    def face(self) -> tuple[float, float]:
        """(width, height) of the front face: the last spatial axis across, the one before up."""
        height = self.sizes[-2] if len(self.sizes) > 1 else 1
        return _length(self.sizes[-1]), _length(height)

    @property
    def depth(self) -> float:
        return _depth(self.channels)

    @property
    def label(self) -> str:
        return "x".join(map(str, (*self.sizes, self.channels)))


_ROLE = {
    "input": ("input", "input_edge"),
    "intermediate": ("intermediate", "intermediate_edge"),
    "output": ("output", "output_edge"),
    "kernel": ("kernel", "kernel_edge"),
}


def _box(x: float, y: float, width: float, height: float, depth: float, fill: str, edge: str, line=1.2) -> list:
    """A cuboid: front face (x, y, width, height), receding up and right by `depth` (oblique 45 degrees)."""
    d = depth * 0.7
    front = ((x, y), (x + width, y), (x + width, y + height), (x, y + height))
    top = ((x, y), (x + d, y - d), (x + width + d, y - d), (x + width, y))
    side = ((x + width, y), (x + width + d, y - d), (x + width + d, y + height - d), (x + width, y + height))
    return [
        Polygon(side, _shade(fill, 0.85), edge, line),
        Polygon(top, _shade(fill, 0.93), edge, line),
        Polygon(front, fill, edge, line),
    ]


def _shade(colour: str, factor: float) -> str:
    red, green, blue = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return "#" + "".join(f"{round(c * factor):02x}" for c in (red, green, blue))


def _volume_items(volume: Volume, x: float, centre: float) -> tuple[list, float]:
    """The box of `volume` with its front face centred on `centre`, and its drawn width."""
    width, height = volume.face
    fill, edge = (PALETTE[name] for name in _ROLE[volume.role])
    y = centre - height / 2
    groups = min(volume.groups, GROUPS_DRAWN)
    items = []
    if groups > 1:
        # Slabs from the back (last group) to the front (group 0), each edged in its group's colour.
        slab = volume.depth / groups
        for group in reversed(range(groups)):
            offset = slab * group * 0.7
            items += _box(x + offset, y - offset, width, height, slab, fill, group_colour(group), 2)
    else:
        items += _box(x, y, width, height, volume.depth, fill, edge)
    items.append(Text(x + width / 2, y + height + 14, volume.label, 12, PALETTE["ink"]))
    if volume.groups > 1:
        note = f"{volume.groups} groups" + (f" ({GROUPS_DRAWN} drawn)" if volume.groups > GROUPS_DRAWN else "")
        items.append(Text(x + width / 2, y + height + 30, note, 11, PALETTE["muted"]))
    return items, width + volume.depth * 0.7


@dataclass(frozen=True)
class Step:
    """One stage drawn between two volumes: its kernels and what it says."""

    kernel_sizes: tuple[int, ...]
    kernel_channels: int
    count: int
    groups: int
    words: str


def _volumes_and_steps(layer: Layer) -> tuple[list[Volume], list[Step]]:
    """Volumes (input, between stages, output) and the stages between them, for every kind."""
    volumes = [Volume(layer.in_sizes, layer.in_channels, "input", _input_groups(layer))]
    steps = []
    for number, stage in enumerate(layer.stages):
        geometry = stage.geometry
        last = number == len(layer.stages) - 1
        if stage.transposed:
            sizes, channels_in, channels_out = geometry.in_sizes, stage.out_channels, stage.in_channels
        else:
            sizes, channels_in, channels_out = geometry.out_sizes, stage.in_channels, stage.out_channels
        groups = stage.groups
        words = f"{_words(layer, number, stage)}; {arithmetic.stage_macs(stage, layer.batch):,} MACs"
        steps.append(Step(geometry.kernel_sizes, channels_in // groups, channels_out, groups, words))
        role = "output" if last else "intermediate"
        volumes.append(Volume(sizes, channels_out, role, groups if groups > 1 else 1))
    return volumes, steps


def _input_groups(layer: Layer) -> int:
    first = layer.stages[0]
    return first.groups if first.groups > 1 else 1


def _words(layer: Layer, number: int, stage) -> str:
    """What the stage does, in a few words."""
    if layer.kind == "separable":
        return "depthwise" if number == 0 else "pointwise"
    if layer.kind == "spatially-separable":
        return f"axis {number}"
    if layer.kind == "transpose":
        return "scatter, stride " + "x".join(map(str, stage.geometry.strides))
    if layer.kind == "depthwise":
        return f"depthwise, multiplier {layer.depth_multiplier}"
    words = []
    if max(stage.geometry.strides) > 1:
        words.append("stride " + "x".join(map(str, stage.geometry.strides)))
    if max(stage.geometry.dilation) > 1:
        words.append("dilation " + "x".join(map(str, stage.geometry.dilation)))
    if stage.groups > 1:
        words.append(f"{stage.groups} groups")
    return ", ".join(words) or layer.kind


def _step_items(step: Step, x: float, centre: float) -> list:
    """The kernels of one stage above an arrow from x to x + GAP."""
    sizes = (*step.kernel_sizes, step.kernel_channels)
    kernel = Volume(step.kernel_sizes, step.kernel_channels, "kernel")
    width, height = kernel.face
    scale = min(1.0, 60 / max(width, height))
    width, height, depth = width * scale, height * scale, kernel.depth * scale
    left = x + (GAP - width - depth * 0.7) / 2
    top = centre - 22 - height
    items = [Line(((x + 8, centre), (x + GAP - 10, centre)), PALETTE["muted"], 1.5)]
    items.append(
        Polygon(((x + GAP - 10, centre - 5), (x + GAP - 2, centre), (x + GAP - 10, centre + 5)), PALETTE["muted"])
    )
    if step.count > 1:  # a second box behind the first says "many kernels"
        items += _box(left + 5, top - 5, width, height, depth, PALETTE["kernel"], PALETTE["kernel_edge"])
    items += _box(left, top, width, height, depth, PALETTE["kernel"], PALETTE["kernel_edge"])
    label = f"{step.count} x " + "x".join(map(str, sizes))
    items.append(Text(x + GAP / 2, top - depth * 0.7 - 16, label, 12, PALETTE["kernel_edge"], bold=True))
    items.append(Text(x + GAP / 2, centre + 14, step.words, 11, PALETTE["muted"]))
    return items


def diagram_scene(layer: Layer) -> Scene:
    """The block diagram of `layer`, as a still `Scene`.

    >>> from convzoo.arithmetic import Layer
    >>> scene = diagram_scene(Layer("separable", (28, 28), 3, filters=32, kernel_size=3))
    >>> [item.text for item in scene.base if getattr(item, "text", "").startswith("parameters")]
    ['parameters 155 (kernels 123, bias 32); MACs 83,148 (batch 1)']
    """
    volumes, steps = _volumes_and_steps(layer)
    tallest = max(max(v.face[1] for v in volumes) + max(v.depth for v in volumes) * 0.7, 100)
    centre = MARGIN + 60 + tallest / 2 + 40
    items, x = [], MARGIN
    for number, volume in enumerate(volumes):
        drawn, width = _volume_items(volume, x, centre)
        items += drawn
        x += width
        if number < len(steps):
            items += _step_items(steps[number], x, centre)
            x += GAP
    title = f"{layer.kind}: {KINDS[layer.kind].convzoo_call(layer)}"
    caption = _caption(layer)
    width = max(x + MARGIN, text_width(title, 14) + 2 * MARGIN, text_width(caption, 12) + 2 * MARGIN)
    bottom = centre + tallest / 2 + 50
    scene = Scene(int(width), int(bottom + 40))
    scene.base = [
        Text(MARGIN, MARGIN + 8, title, 14, anchor="start", bold=True),
        Text(MARGIN, MARGIN + 28, KINDS[layer.kind].summary, 12, PALETTE["muted"], anchor="start"),
        *items,
        Text(MARGIN, bottom + 10, caption, 12, anchor="start"),
    ]
    return scene


def _caption(layer: Layer) -> str:
    parameters = arithmetic.parameters(layer)
    return (
        f"parameters {parameters.total:,} (kernels {parameters.kernel:,}, bias {parameters.bias:,}); "
        f"MACs {arithmetic.macs(layer):,} (batch {layer.batch})"
    )
