"""Lay an `Animation` out as a `Scene`: where each grid, channel and cell is drawn, and what
each frame adds (the kernel's footprint, the kernel's taps, the cells written, the numbers).

The grids sit left to right in the order the data flows, each stage's kernel between its
source and its target; a grid's channels are stacked top to bottom; a 1-D grid is one row,
a 3-D grid its depth slices side by side. Cells shrink (down to 6 px) so that the picture
stays within about `MAX_WIDTH` x `MAX_HEIGHT` pixels; numbers are written in cells of 18 px or more.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..kinds import KINDS
from .frames import Animation, Grid, Step
from .scene import GROUP_COLOURS, PALETTE, Rect, Scene, Text, group_colour, number_text, text_width

MAX_WIDTH, MAX_HEIGHT, CELL, MIN_CELL, NUMBERS_FROM = 1400, 1000, 32, 6, 18
MARGIN, GAP, LABEL, CHANNEL_GAP = 16, 36, 34, 10
PRODUCTS_LISTED = 12  # a sum of more products is written as its count and total


@dataclass(frozen=True)
class Block:
    """A grid of cells at (x, y): `sizes` (1, 2 or 3 axes) drawn as rows and depth slices."""

    x: float
    y: float
    sizes: tuple[int, ...]
    cell: float

    @property
    def slice_gap(self) -> float:
        return self.cell / 2

    @property
    def plane(self) -> tuple[int, int]:
        return (1, self.sizes[0]) if len(self.sizes) == 1 else self.sizes[-2:]

    @property
    def width(self) -> float:
        depth = self.sizes[0] if len(self.sizes) == 3 else 1
        return depth * self.plane[1] * self.cell + (depth - 1) * self.slice_gap

    @property
    def height(self) -> float:
        return self.plane[0] * self.cell

    def box(self, index: tuple[int, ...]) -> tuple[float, float]:
        """The top-left corner of cell `index`."""
        row, col = (0, index[0]) if len(index) == 1 else index[-2:]
        depth = index[0] if len(index) == 3 else 0
        x = self.x + depth * (self.plane[1] * self.cell + self.slice_gap) + col * self.cell
        return x, self.y + row * self.cell


def _block_sizes(sizes, cell) -> tuple[float, float]:
    probe = Block(0, 0, tuple(sizes), cell)
    return probe.width, probe.height


class Panel:
    """One grid (or one kernel slice), its channels stacked: a `Block` per channel."""

    def __init__(self, title: str, sizes, channels: int, cell: float, x: float, y: float):
        self.title, self.sizes, self.channels, self.cell = title, tuple(sizes), channels, cell
        block_width, block_height = _block_sizes(sizes, cell)
        self.label = LABEL if channels > 1 else 0
        self.width = max(self.label + block_width, text_width(title, 12))
        self.height = 22 + channels * block_height + (channels - 1) * CHANNEL_GAP
        self.x, self.y = x, y
        self.blocks = [
            Block(x + self.label, y + 22 + c * (block_height + CHANNEL_GAP), self.sizes, cell) for c in range(channels)
        ]

    def cell_rect(self, channel: int, index, **style) -> Rect:
        x, y = self.blocks[channel].box(index)
        return Rect(x, y, self.cell, self.cell, **style)


def _cell_size(animation: Animation) -> float:
    """The largest cell (up to CELL) that keeps the picture within MAX_WIDTH x MAX_HEIGHT."""
    kernels = [(stage.kernel.shape[:-2], stage.kernel.shape[-2]) for stage in animation.stages]
    blocks = [(grid.sizes, grid.channels) for grid in animation.grids] + kernels
    width = sum(_block_sizes(sizes, 1)[0] for sizes, _ in blocks)
    room = MAX_WIDTH - 2 * MARGIN - (len(blocks) - 1) * GAP - len(blocks) * LABEL
    by_height = min(
        (MAX_HEIGHT - 22 - (channels - 1) * CHANNEL_GAP) / (channels * _block_sizes(sizes, 1)[1])
        for sizes, channels in blocks
    )
    return max(MIN_CELL, min(CELL, room / max(width, 1), by_height))


def _grid_title(grid: Grid) -> str:
    """The tensor's shape, and the drawn extent where margins (padding, inserted zeros...) widen it."""
    tensor = tuple(int(grid.sources[..., axis].max()) + 1 for axis in range(len(grid.sizes)))
    title = f"{grid.name} {'x'.join(map(str, tensor))}x{grid.channels}"
    return title if tensor == grid.sizes else f"{title} (drawn {'x'.join(map(str, grid.sizes))})"


def animation_scene(animation: Animation, numbers: bool = True) -> Scene:
    """The `Scene` of `animation`: the grids under every frame, each frame's steps over them."""
    cell = _cell_size(animation)
    title = f"{animation.layer.kind}: {KINDS[animation.layer.kind].convzoo_call(animation.layer)}"
    subtitle = _subtitle(animation)
    top = MARGIN + 44
    panels, kernel_panels, x = [], {}, MARGIN
    for number, grid in enumerate(animation.grids):
        panels.append(Panel(_grid_title(grid), grid.sizes, grid.channels, cell, x, top))
        x += panels[-1].width + GAP
        for s, stage in enumerate(animation.stages):
            if stage.source == number:
                fan = stage.kernel.shape[-2]
                kernel_panels[s] = Panel(stage.label, stage.kernel.shape[:-2], fan, cell, x, top)
                x += kernel_panels[s].width + GAP
    height = max(p.y + p.height for p in [*panels, *kernel_panels.values()]) + 16
    equations = [_equation(animation, frame.steps) for frame in animation.frames] if numbers else []
    widest = max(
        [x - GAP + MARGIN, text_width(title, 14) + 2 * MARGIN] + [text_width(e, 13) + 2 * MARGIN for e in equations]
    )
    scene = Scene(int(widest), int(height + 80))
    scene.base += [
        Text(MARGIN, MARGIN + 8, title, 14, anchor="start", bold=True),
        Text(MARGIN, MARGIN + 28, subtitle, 12, PALETTE["muted"], anchor="start"),
    ]
    show_numbers = numbers and cell >= NUMBERS_FROM
    for grid, panel in zip(animation.grids, panels):
        scene.base += _grid_base(grid, panel, show_numbers, written=grid.role == "input")
    for panel in kernel_panels.values():
        scene.base += _kernel_base(panel)
    legend = _legend(animation, MARGIN, height + 50, scene.width - MARGIN)
    scene.height = int(max(item.y for item in legend) + 20)
    scene.base += legend
    written: set = set()
    scene.frames = []
    for frame in animation.frames:
        items = []
        for step in frame.steps:
            stage = animation.stages[step.stage]
            if stage.view == "gather":
                written.add((stage.target, step.channel, step.cell))
            else:
                written.update((stage.target, c, cell_) for c in step.fan_channels for cell_ in step.cells)
        items += _written(animation, panels, written, frame, show_numbers)
        for step in frame.steps:
            items += _step_items(animation, frame, step, panels, kernel_panels[step.stage], show_numbers)
        if numbers:
            items.append(Text(MARGIN, height + 14, equations[len(scene.frames)], 13, anchor="start"))
        scene.frames.append(items)
    return scene


def _subtitle(animation: Animation) -> str:
    layer, per_frame = animation.layer, animation.steps_per_frame
    view = {
        "scatter": "each input cell scatters a scaled kernel",
        "zero-insertion": "zeros inserted, then a stride-1 conv",
    }
    parts = [
        f"input {'x'.join(map(str, layer.in_sizes))}x{layer.in_channels} -> output "
        f"{'x'.join(map(str, layer.out_sizes))}x{layer.out_channels}"
    ]
    if animation.view in view:
        parts.append(view[animation.view])
    parts.append(f"{len(animation.steps)} steps" + (f", {per_frame} per frame" if per_frame > 1 else ""))
    if layer.padding_mode != "zeros":
        parts.append(f"padding mode {layer.padding_mode}")
    return "; ".join(parts)


def _cell_style(kind: str, role: str, filled: bool) -> dict:
    if kind == "padding":
        return dict(fill=PALETTE["padding"], edge=PALETTE["padding_edge"], dashed=True)
    if kind == "inserted":
        return dict(fill=PALETTE["inserted"], edge=PALETTE["padding_edge"], dashed=True)
    if kind == "cropped":
        return dict(fill=PALETTE["cropped"], edge=PALETTE["padding_edge"], dashed=True)
    if role == "input":
        return dict(fill=PALETTE["input"], edge=PALETTE["input_edge"])
    colour = "intermediate" if role == "intermediate" else "output"
    fill = PALETTE[colour] if filled else PALETTE["output_empty"]
    return dict(fill=fill, edge=PALETTE[f"{colour}_edge"], dashed=kind == "appended")


def _cell_items(grid: Grid, panel: Panel, channel: int, index, numbers: bool, style: dict, ink=None, value=None):
    items = [panel.cell_rect(channel, index, **style)]
    kind = grid.cells[index]
    if numbers and (value is not None or kind != "cropped"):
        number = grid.values[(channel, *index)] if value is None else value
        colour = ink or (PALETTE["padding_ink"] if kind != "real" else PALETTE["ink"])
        x, y = panel.blocks[channel].box(index)
        items.append(Text(x + panel.cell / 2, y + panel.cell / 2, number_text(number), panel.cell * 0.42, colour))
    return items


def _grid_base(grid: Grid, panel: Panel, numbers: bool, written: bool) -> list:
    items = [Text(panel.x, panel.y + 8, panel.title, 12, anchor="start", bold=True)]
    grouped = len(set(grid.channel_groups)) > 1
    for channel in range(grid.channels):
        block = panel.blocks[channel]
        if panel.label:
            colour = group_colour(grid.channel_groups[channel]) if grouped else PALETTE["muted"]
            items.append(
                Text(
                    block.x - 4, block.y + min(block.height, panel.cell) / 2, f"c{channel}", 11, colour, "end", grouped
                )
            )
        if grouped:
            items.append(
                Rect(
                    block.x - 3,
                    block.y - 3,
                    block.width + 6,
                    block.height + 6,
                    edge=group_colour(grid.channel_groups[channel]),
                    line=2.5,
                )
            )
        for index in np.ndindex(*grid.sizes):
            kind = grid.cells[index]
            show = numbers and (written or kind in ("padding", "inserted"))
            items += _cell_items(grid, panel, channel, index, show, _cell_style(kind, grid.role, written))
    return items


def _kernel_base(panel: Panel) -> list:
    items = [Text(panel.x, panel.y + 8, panel.title, 12, anchor="start", bold=True)]
    for j in range(panel.channels):
        for index in np.ndindex(*panel.sizes):
            items.append(
                panel.cell_rect(j, index, fill=PALETTE["background"], edge=PALETTE["kernel_edge"], dashed=True)
            )
    return items


def _written(animation, panels, written, frame, numbers) -> list:
    """Cells written up to this frame, with their values (partial sums in the scatter view)."""
    items = []
    for number, channel, index in sorted(written):
        grid, panel = animation.grids[number], panels[number]
        value = frame.partial[(channel, *index)] if frame.partial is not None else None
        items += _cell_items(
            grid, panel, channel, index, numbers, _cell_style(grid.cells[index], grid.role, True), value=value
        )
    return items


def _step_items(animation: Animation, frame, step: Step, panels, kernel_panel: Panel, numbers: bool) -> list:
    stage = animation.stages[step.stage]
    source, target = animation.grids[stage.source], animation.grids[stage.target]
    reader, writer = (source, target) if stage.view == "gather" else (target, source)
    reader_panel = panels[stage.source] if stage.view == "gather" else panels[stage.target]
    writer_panel = panels[stage.target] if stage.view == "gather" else panels[stage.source]
    foot = dict(edge=PALETTE["kernel_edge"], line=3)
    items = []
    # The footprint: the cells under the kernel's taps, in every channel the step reads or writes.
    for channel in step.fan_channels:
        for index in step.cells:
            kind = reader.cells[index]
            style = _cell_style(kind, reader.role, True) | foot
            value = None
            if stage.view == "scatter":  # the output cells receiving, with their partial sums
                style["fill"] = PALETTE["output_now"]
                value = frame.partial[(channel, *index)]
            items += _cell_items(reader, reader_panel, channel, index, numbers, style, value=value)
    # The cell the step writes (gather) or scatters (scatter).
    now = PALETTE["intermediate_now"] if writer.role == "intermediate" else PALETTE["output_now"]
    if stage.view == "gather":
        style = dict(fill=now, edge=PALETTE["output_edge"], line=3)
    else:
        style = dict(fill=PALETTE["footprint"], edge=PALETTE["kernel_edge"], line=3)
    items += _cell_items(writer, writer_panel, step.channel, step.cell, numbers, style, ink=PALETTE["ink"])
    # The kernel slice this step applies, coloured by its group.
    grouped = stage.groups > 1
    for j in range(kernel_panel.channels):
        block = kernel_panel.blocks[j]
        if grouped:
            group = (
                source.channel_groups[step.fan_channels[0]]
                if stage.view == "gather"
                else source.channel_groups[step.channel]
            )
            items.append(
                Rect(block.x - 3, block.y - 3, block.width + 6, block.height + 6, edge=group_colour(group), line=2.5)
            )
        for t, tap in enumerate(step.taps):
            x, y = block.box(tap)
            items.append(Rect(x, y, kernel_panel.cell, kernel_panel.cell, PALETTE["kernel"], PALETTE["kernel_edge"]))
            if numbers:
                items.append(
                    Text(
                        x + kernel_panel.cell / 2,
                        y + kernel_panel.cell / 2,
                        number_text(step.weights[j, t]),
                        kernel_panel.cell * 0.42,
                    )
                )
    return items


def _position(cell, origin) -> str:
    return "(" + ", ".join(str(c - o) for c, o in zip(cell, origin)) + ")"


def _equation(animation: Animation, steps) -> str:
    """The arithmetic of the frame's first step, as the core computed it."""
    step = steps[0]
    stage = animation.stages[step.stage]
    source, target = animation.grids[stage.source], animation.grids[stage.target]
    more = f"   (+{len(steps) - 1} more cells in this frame)" if len(steps) > 1 else ""
    if stage.view == "scatter":
        where = _position(step.cell, source.origin)
        value = number_text(step.value)
        return f"input c{step.channel} {where} = {value} scatters {value} x kernel into the output{more}"
    products = step.products.reshape(-1)
    pairs = zip(step.operands.reshape(-1), step.weights.reshape(-1))
    listed = (
        " + ".join(f"{number_text(a)}x{number_text(w)}" for a, w in pairs)
        if len(products) <= PRODUCTS_LISTED
        else f"sum of {len(products)} products"
    )
    where = _position(step.cell, target.origin)
    return f"{target.name} c{step.channel} {where} = {listed} = {number_text(step.value)}{more}"


def _legend(animation: Animation, x: float, y: float, right: float) -> list:
    """Swatches of every colour the animation uses, wrapped at `right`."""
    kinds = {kind for grid in animation.grids for kind in np.unique(grid.cells)}
    roles = {grid.role for grid in animation.grids}
    entries = [("input", dict(fill=PALETTE["input"], edge=PALETTE["input_edge"]))]
    if "padding" in kinds:
        mode = animation.layer.padding_mode
        entries.append(
            (f"padding ({mode})" if mode != "zeros" else "padding (zeros)", _cell_style("padding", "input", True))
        )
    if "inserted" in kinds:
        entries.append(("inserted zero", _cell_style("inserted", "input", True)))
    entries.append(("kernel", dict(fill=PALETTE["kernel"], edge=PALETTE["kernel_edge"])))
    entries.append(("footprint", dict(fill=PALETTE["input"], edge=PALETTE["kernel_edge"], line=3)))
    if "intermediate" in roles:
        entries.append(("intermediate", _cell_style("real", "intermediate", True)))
    entries.append(("output", _cell_style("real", "output", True)))
    entries.append(("being written", dict(fill=PALETTE["output_now"], edge=PALETTE["output_edge"], line=3)))
    if "cropped" in kinds:
        entries.append(("cropped", _cell_style("cropped", "output", True)))
    if "appended" in kinds:
        entries.append(("output padding", _cell_style("appended", "output", True)))
    groups = max(stage.groups for stage in animation.stages)
    if groups > 1:
        entries += [
            (f"group {g}", dict(edge=group_colour(g), line=2.5)) for g in range(min(groups, len(GROUP_COLOURS)))
        ]
    items, left = [], x
    for label, style in entries:
        width = 34 + text_width(label, 12)
        if x + width > right and x > left:
            x, y = left, y + 24
        items += [Rect(x, y - 7, 14, 14, **style), Text(x + 20, y, label, 12, PALETTE["muted"], "start")]
        x += width
    return items
