"""Scenes as pixels with Pillow: a PNG of one frame, an animated GIF of all of them.

Pillow is imported here only, when a picture is written; it comes with `pip install
convzoo[viz]`, and without it the error says so.
"""

from __future__ import annotations

import functools
from pathlib import Path

from ..errors import ConvZooError
from .scene import PALETTE, Line, Polygon, Rect, Scene, Text

SCALE = 2  # drawn at twice the layout's size, so that text stays crisp when the picture is zoomed


def _pillow():
    try:
        from PIL import Image, ImageDraw, ImageFont
    except ImportError:
        raise ConvZooError(
            "PNG and GIF pictures need Pillow: pip install convzoo[viz] (SVG and HTML need nothing)."
        ) from None
    return Image, ImageDraw, ImageFont


@functools.lru_cache(maxsize=64)
def _font(size: int, bold: bool):
    _, _, ImageFont = _pillow()
    for name in ("DejaVuSans-Bold.ttf", "Arial Bold.ttf") if bold else ("DejaVuSans.ttf", "Arial.ttf"):
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    return ImageFont.load_default(size=size)  # Pillow's own font, always there


def _dashes(draw, x0, y0, x1, y1, colour, width, dash=4 * SCALE):
    length = max(abs(x1 - x0), abs(y1 - y0))
    for start in range(0, int(length), 2 * dash):
        end = min(start + dash, length)
        fx, fy = (x1 - x0) / length, (y1 - y0) / length
        draw.line([(x0 + fx * start, y0 + fy * start), (x0 + fx * end, y0 + fy * end)], fill=colour, width=width)


def _draw(draw, item) -> None:
    s = SCALE
    if isinstance(item, Rect):
        box = [item.x * s, item.y * s, (item.x + item.width) * s, (item.y + item.height) * s]
        width = max(1, round(item.line * s))
        if item.fill:
            draw.rectangle(box, fill=item.fill)
        if item.edge and item.dashed:
            inset = width / 2  # inside the box, as Pillow draws a solid edge
            x0, y0, x1, y1 = box[0] + inset, box[1] + inset, box[2] - inset, box[3] - inset
            for a, b in (((x0, y0), (x1, y0)), ((x1, y0), (x1, y1)), ((x1, y1), (x0, y1)), ((x0, y1), (x0, y0))):
                _dashes(draw, *a, *b, item.edge, width)
        elif item.edge:
            draw.rectangle(box, outline=item.edge, width=width)
    elif isinstance(item, Text):
        anchor = {"start": "lm", "middle": "mm", "end": "rm"}[item.anchor]
        font = _font(max(1, round(item.size * s)), item.bold)
        draw.text((item.x * s, item.y * s), item.text, fill=item.colour, font=font, anchor=anchor)
    elif isinstance(item, Line):
        points = [(x * s, y * s) for x, y in item.points]
        for a, b in zip(points, points[1:]):
            if item.dashed:
                _dashes(draw, *a, *b, item.colour, max(1, round(item.width * s)))
            else:
                draw.line([a, b], fill=item.colour, width=max(1, round(item.width * s)))
    elif isinstance(item, Polygon):
        draw.polygon(
            [(x * s, y * s) for x, y in item.points],
            fill=item.fill,
            outline=item.edge,
            width=max(1, round(item.line * s)),
        )


def images(scene: Scene) -> list:
    """One Pillow image per frame of `scene`."""
    Image, ImageDraw, _ = _pillow()
    base = Image.new("RGB", (scene.width * SCALE, scene.height * SCALE), PALETTE["background"])
    draw = ImageDraw.Draw(base)
    for item in scene.base:
        _draw(draw, item)
    frames = []
    for items in scene.frames:
        image = base.copy()
        draw = ImageDraw.Draw(image)
        for item in items:
            _draw(draw, item)
        frames.append(image)
    return frames


def write_png(scene: Scene, path: Path, frame: int = 0) -> None:
    images_ = images(Scene(scene.width, scene.height, scene.base, [scene.frames[frame]], scene.seconds))
    images_[0].save(path, format="PNG", optimize=True)


def write_gif(scene: Scene, path: Path) -> None:
    """An animated GIF that loops, each frame `scene.seconds` long (the last one twice)."""
    frames = images(scene)
    durations = [round(scene.seconds * 1000)] * len(frames)
    durations[-1] *= 2
    paletted = [frame.quantize(colors=64, method=2, dither=0) for frame in frames]  # 2: fast octree, flat colours
    paletted[0].save(
        path, format="GIF", save_all=True, append_images=paletted[1:], duration=durations, loop=0, optimize=True
    )
