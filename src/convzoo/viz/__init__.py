"""Pictures of every kind of convolution: animations whose frames are data, and block diagrams.

- `animation(layer)`: the frames of a layer as data (`frames.Animation`): which cells each
  kernel placement reads and writes, padding and its mirrored values, the numbers the core
  computes. Any layer the core accepts, 1-D to 3-D, every kind.
- `save_animation(animation, path)`: GIF, PNG (one frame), SVG (animated by CSS) or HTML.
- `save_diagram(layer, path)`: a block diagram (PNG, SVG or HTML) of the volumes and kernels,
  with the parameters and MACs from `convzoo.arithmetic`.
- `example_layer(kind)`: the small layer each kind is animated with by default.

GIF and PNG need Pillow (`pip install convzoo[viz]`), imported only when one is written; SVG
and HTML are text. The layout (`layout`, `diagram`) is shared by every format.
"""

from __future__ import annotations

from pathlib import Path

from ..arithmetic import Layer
from ..errors import ConvZooError
from ..kinds import KINDS
from .animation import DEFAULT_MAX_FRAMES, animation, views
from .diagram import diagram_scene
from .frames import Animation, Frame, Grid, Stage, Step
from .layout import animation_scene
from .scene import Scene

FORMATS = ("gif", "png", "svg", "html")
SECONDS = 0.8

# The small layers the kinds are animated with by default: each kind's own hyper-parameters
# (as in the tour: stride 2 transpose, dilation 2, groups...) on a few cells and channels.
_SMALL = dict(in_sizes=(5, 5), in_channels=1, filters=1, kernel_size=3, batch=1)
EXAMPLE_LAYERS = {
    "conv": dict(padding=1),
    "pointwise": dict(in_sizes=(3, 3), in_channels=3, filters=2, kernel_size=None),
    "transpose": dict(in_sizes=(2, 2), strides=2),
    "dilated": dict(in_sizes=(7, 7), dilation_rate=2),
    "depthwise": dict(in_channels=2, filters=None, depth_multiplier=2),
    "separable": dict(in_channels=2, filters=2),
    "spatially-separable": dict(),
    "grouped": dict(in_channels=4, filters=2, groups=2),
}


def example_layer(kind: str, **options) -> Layer:
    """The small layer `kind` is animated with, `options` (Layer fields) laid over it.

    >>> example_layer("dilated").in_sizes, example_layer("dilated").out_sizes
    ((7, 7), (3, 3))
    """
    if kind not in KINDS:
        raise ConvZooError(f"`kind` must be one of {', '.join(KINDS)}. Received: kind={kind!r}.")
    return Layer(kind, **{**_SMALL, **EXAMPLE_LAYERS[kind], **options})


def _format(path: Path, allowed: tuple[str, ...]) -> str:
    suffix = path.suffix.lower().lstrip(".")
    if suffix not in allowed:
        raise ConvZooError(
            f"The file's suffix chooses the format, one of {', '.join('.' + f for f in allowed)}. "
            f"Received: path={str(path)!r}."
        )
    return suffix


def _write(scene: Scene, path: Path, kind: str, title: str, caption: str, frame: int | None) -> None:
    from . import raster, svg

    if kind == "gif":
        raster.write_gif(scene, path)
    elif kind == "png":
        raster.write_png(scene, path, frame or 0)
    elif kind == "svg":
        path.write_text(svg.svg(scene, frame), encoding="utf-8")
    else:
        path.write_text(svg.html(scene, title, caption), encoding="utf-8")


def save_animation(
    movie: Animation, path, *, frame: int | None = None, numbers: bool = True, seconds: float = SECONDS
) -> Path:
    """Write `movie` to `path`, the format chosen by its suffix: .gif, .png, .svg or .html.

    Args:
        movie: an `Animation` (from `animation`).
        path: the file to write.
        frame: write this frame only (0-based; negative counts from the end). A PNG is one
            frame: the first if None.
        numbers: write the values in the cells and the sum of the current step.
        seconds: how long each frame is shown.

    Returns:
        The path written.

    Raises:
        ConvZooError: for an unknown suffix, a frame out of range, or no Pillow for GIF/PNG.

    >>> import tempfile, pathlib
    >>> movie = animation(example_layer("conv"))
    >>> path = save_animation(movie, pathlib.Path(tempfile.mkdtemp()) / "conv.svg")
    >>> path.read_text().count('class="frame"') == len(movie.frames) == 25
    True
    """
    path = Path(path)
    kind = _format(path, FORMATS)
    count = len(movie.frames)
    if frame is not None:
        if not -count <= frame < count:
            raise ConvZooError(f"`frame` must be in [{-count}, {count}). Received: frame={frame}.")
        frame %= count
    scene = animation_scene(movie, numbers=numbers)
    scene.seconds = seconds
    if frame is not None and kind != "png":
        scene.frames = [scene.frames[frame]]
        frame = None
    title = f"convzoo: {movie.layer.kind} ({movie.view})"
    _write(scene, path, kind, title, KINDS[movie.layer.kind].summary, frame)
    return path


def save_diagram(layer: Layer, path) -> Path:
    """Write the block diagram of `layer` to `path`: .png, .svg or .html (by the suffix).

    Raises:
        ConvZooError: for another suffix, or no Pillow for PNG.

    >>> import tempfile, pathlib
    >>> path = save_diagram(KINDS["separable"].layer(), pathlib.Path(tempfile.mkdtemp()) / "separable.svg")
    >>> "32 x 1x1x3" in path.read_text()
    True
    """
    path = Path(path)
    kind = _format(path, ("png", "svg", "html"))
    _write(diagram_scene(layer), path, kind, f"convzoo: {layer.kind}", KINDS[layer.kind].summary, None)
    return path


__all__ = [
    "DEFAULT_MAX_FRAMES",
    "EXAMPLE_LAYERS",
    "FORMATS",
    "Animation",
    "Frame",
    "Grid",
    "Stage",
    "Step",
    "animation",
    "animation_scene",
    "diagram_scene",
    "example_layer",
    "save_animation",
    "save_diagram",
    "views",
]
