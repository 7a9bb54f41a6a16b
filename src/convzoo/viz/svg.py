"""Scenes as SVG and HTML text: crisp at any zoom, animated by CSS, no library needed.

Each frame is a group shown for `scene.seconds` in turn by one CSS keyframe animation with
a per-frame delay, so the SVG animates wherever SVG is shown (browsers, GitHub's README); the
HTML page embeds that SVG and adds buttons to pause and step through the frames.
"""

from __future__ import annotations

from xml.sax.saxutils import escape

from .scene import PALETTE, Line, Polygon, Rect, Scene, Text

FONT = "DejaVu Sans, Verdana, Arial, sans-serif"


def _number(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _element(item) -> str:
    if isinstance(item, Rect):
        attributes = (
            f'x="{_number(item.x)}" y="{_number(item.y)}" width="{_number(item.width)}" height="{_number(item.height)}"'
        )
        fill = item.fill or "none"
        stroke = f' stroke="{item.edge}" stroke-width="{_number(item.line)}"' if item.edge else ""
        if item.edge:
            # Pillow draws a rectangle's edge inside it; an SVG stroke straddles the edge, so inset it by half.
            inset = item.line / 2
            attributes = (
                f'x="{_number(item.x + inset)}" y="{_number(item.y + inset)}" '
                f'width="{_number(max(item.width - item.line, 0))}" height="{_number(max(item.height - item.line, 0))}"'
            )
        dash = ' stroke-dasharray="4 4"' if item.dashed else ""
        return f'<rect {attributes} fill="{fill}"{stroke}{dash}/>'
    if isinstance(item, Text):
        anchor = f' text-anchor="{item.anchor}"'
        weight = ' font-weight="bold"' if item.bold else ""
        return (
            f'<text x="{_number(item.x)}" y="{_number(item.y)}" font-size="{_number(item.size)}" fill="{item.colour}"'
            f'{anchor}{weight} dominant-baseline="central">{escape(item.text)}</text>'
        )
    if isinstance(item, Line):
        points = " ".join(f"{_number(x)},{_number(y)}" for x, y in item.points)
        dash = ' stroke-dasharray="5 4"' if item.dashed else ""
        stroke = f'stroke="{item.colour}" stroke-width="{_number(item.width)}"'
        return f'<polyline points="{points}" fill="none" {stroke}{dash}/>'
    if isinstance(item, Polygon):
        points = " ".join(f"{_number(x)},{_number(y)}" for x, y in item.points)
        stroke = f' stroke="{item.edge}" stroke-width="{_number(item.line)}"' if item.edge else ""
        return f'<polygon points="{points}" fill="{item.fill or "none"}"{stroke}/>'
    raise TypeError(f"not a primitive: {item!r}")


def svg(scene: Scene, frame: int | None = None) -> str:
    """The SVG of `scene`: every frame in turn, looping, or only `frame` if given."""
    frames = scene.frames if frame is None else [scene.frames[frame]]
    total = scene.seconds * len(frames)
    lines = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{scene.width}" height="{scene.height}" '
        f'viewBox="0 0 {scene.width} {scene.height}" font-family="{FONT}">',
    ]
    if len(frames) > 1:
        show = 100 / len(frames)
        lines.append(
            f"<style>.frame{{opacity:0;animation:frames {_number(total)}s step-end infinite}}"
            f"@keyframes frames{{0%{{opacity:1}}{_number(show)}%{{opacity:0}}100%{{opacity:0}}}}</style>"
        )
    lines.append(f'<rect width="100%" height="100%" fill="{PALETTE["background"]}"/>')
    lines += [_element(item) for item in scene.base]
    for number, items in enumerate(frames):
        if len(frames) > 1:
            lines.append(f'<g class="frame" style="animation-delay:{_number(number * scene.seconds)}s">')
        else:
            lines.append("<g>")
        lines += [_element(item) for item in items]
        lines.append("</g>")
    lines.append("</svg>")
    return "\n".join(lines) + "\n"


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
body {{ font-family: {font}; color: #212121; background: #ffffff; margin: 24px; }}
button {{ font: inherit; margin-right: 6px; }}
svg {{ max-width: 100%; height: auto; }}
</style>
</head>
<body>
<p>{buttons}<span id="where"></span></p>
{svg}
<p>{caption}</p>
<script>
const frames = Array.from(document.querySelectorAll("svg .frame"));
let shown = null;
function show(i) {{
  shown = (i + frames.length) % frames.length;
  frames.forEach((f, j) => {{ f.style.animation = "none"; f.style.opacity = j === shown ? 1 : 0; }});
  document.getElementById("where").textContent = " frame " + (shown + 1) + " of " + frames.length;
}}
function play() {{
  shown = null;
  frames.forEach(f => {{ f.style.animation = ""; f.style.opacity = ""; }});
  document.getElementById("where").textContent = "";
}}
</script>
</body>
</html>
"""


def html(scene: Scene, title: str, caption: str = "") -> str:
    """A page with the animated SVG and buttons to pause on a frame and step (no network)."""
    buttons = ""
    if len(scene.frames) > 1:
        buttons = (
            '<button onclick="show(shown === null ? 0 : shown - 1)">previous</button>'
            '<button onclick="show(shown === null ? 0 : shown)">pause</button>'
            '<button onclick="play()">play</button>'
            '<button onclick="show(shown === null ? 0 : shown + 1)">next</button>'
        )
    return _PAGE.format(title=escape(title), font=FONT, buttons=buttons, svg=svg(scene), caption=escape(caption))
