"""Drawing primitives and the palette, shared by the raster (Pillow) and the SVG renderers.

A `Scene` is a list of primitives drawn on every frame (`base`) and one list per frame; the
layout decides every coordinate once, so the GIF, the PNG, the SVG and the HTML show the
same picture. Nothing here imports a drawing library.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# One colour code for every kind (light background): input blue, padding grey, kernel
# orange, output green, intermediate results purple; groups get the frame colours.
PALETTE = dict(
    background="#ffffff",
    ink="#212121",
    muted="#616161",
    input="#c6dbef",
    input_edge="#3a6ea5",
    padding="#eeeeee",
    padding_edge="#9e9e9e",
    padding_ink="#757575",
    inserted="#ffffff",
    cropped="#e0e0e0",
    kernel="#fdd0a2",
    kernel_edge="#d94801",
    footprint="#fd8d3c",
    output_empty="#ffffff",
    output="#c7e9c0",
    output_edge="#238b45",
    output_now="#41ab5d",
    intermediate="#dadaeb",
    intermediate_edge="#6a51a3",
    intermediate_now="#9e9ac8",
)
# Group frames: none of them the blue, orange or green of the roles.
GROUP_COLOURS = ("#7b3294", "#e7298a", "#8c510a", "#bcbd22", "#17becf", "#525252", "#d6616b", "#ce6dbd")


def group_colour(group: int) -> str:
    return GROUP_COLOURS[group % len(GROUP_COLOURS)]


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    width: float
    height: float
    fill: str | None = None
    edge: str | None = None
    line: float = 1
    dashed: bool = False


@dataclass(frozen=True)
class Text:
    x: float
    y: float
    text: str
    size: float = 12
    colour: str = PALETTE["ink"]
    anchor: str = "middle"  # "start", "middle" or "end", vertically centred on y
    bold: bool = False


@dataclass(frozen=True)
class Line:
    points: tuple[tuple[float, float], ...]
    colour: str = PALETTE["muted"]
    width: float = 1.5
    dashed: bool = False


@dataclass(frozen=True)
class Polygon:
    points: tuple[tuple[float, float], ...]
    fill: str | None = None
    edge: str | None = None
    line: float = 1


@dataclass
class Scene:
    """`base` drawn under every frame; `frames` one list of primitives each (one empty list
    for a still picture); `seconds` each frame is shown."""

    width: int
    height: int
    base: list = field(default_factory=list)
    frames: list[list] = field(default_factory=lambda: [[]])
    seconds: float = 0.8


def text_width(text: str, size: float) -> float:
    """An estimate of the width of `text` in a sans-serif font of `size` pixels."""
    return 0.62 * size * len(text)


def number_text(value: float) -> str:
    """An integer without its '.0', anything else with 3 significant digits."""
    return str(int(value)) if float(value).is_integer() else f"{value:.3g}"
