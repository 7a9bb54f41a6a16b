"""`convzoo animate` and `convzoo diagram`, and the gallery `convzoo tour --gallery DIR` writes.

Parsing and files only: the frames come from `convzoo.viz`, the figures from
`convzoo.arithmetic`. The layer options are `calc`'s (`layer_options`); `animate` lays them
over the kind's small example layer (`convzoo.viz.example_layer`), `diagram` over the kind's
tour layer, as `calc` does.
"""

from __future__ import annotations

from pathlib import Path

import click

from .. import viz
from ..errors import ConvZooError
from ..kinds import KINDS
from .options import given_fields, layer_options

VIEWS = ("gather", "scatter", "zero-insertion")


@click.command()
@click.argument("kind", type=click.Choice(list(KINDS)))
@layer_options
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="the file: .gif, .png (one frame), .svg or .html  [default: KIND.gif]",
)
@click.option("--view", type=click.Choice(VIEWS), help="transpose: scatter (default) or zero-insertion")
@click.option("--frame", type=int, help="write this frame only (0-based, negative from the end)")
@click.option(
    "--max-frames",
    type=click.IntRange(1),
    default=viz.DEFAULT_MAX_FRAMES,
    show_default=True,
    help="beyond this, consecutive steps share a frame",
)
@click.option("--seconds", type=click.FloatRange(0.02), default=viz.SECONDS, show_default=True, help="per frame")
@click.option("--numbers/--no-numbers", default=True, show_default=True, help="values in the cells and the sums")
@click.option("--seed", type=int, default=0, show_default=True, help="seed of the example integers")
def animate(kind, output, view, frame, max_frames, seconds, numbers, seed, **options):
    """Animate one layer of KIND: the kernel sliding over the padded input, filling the output.

    Without options, KIND's small example layer (5x5 input, 3x3 kernel, the kind's own
    strides, dilation, groups...); the options are calc's. The numbers are small integers
    run through the core.
    """
    layer = viz.example_layer(kind, **given_fields(options))
    movie = viz.animation(layer, view=view, seed=seed, max_frames=max_frames)
    path = viz.save_animation(movie, output or Path(f"{kind}.gif"), frame=frame, numbers=numbers, seconds=seconds)
    per_frame = f", {movie.steps_per_frame} steps per frame" if movie.steps_per_frame > 1 else ""
    click.echo(f"{path}: {kind} ({movie.view}), {len(movie.frames)} frames of {len(movie.steps)} steps{per_frame}")


@click.command()
@click.argument("kind", type=click.Choice(list(KINDS)))
@layer_options
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="the file: .svg, .png or .html  [default: KIND.svg]",
)
def diagram(kind, output, **options):
    """A block diagram of one layer of KIND: volumes, kernels, parameters and MACs.

    The layer is calc's: the tour's configuration, the options laid over it.
    """
    layer = KINDS[kind].layer(**given_fields(options))
    path = viz.save_diagram(layer, output or Path(f"{kind}.svg"))
    click.echo(f"{path}: {kind}, {layer.input_shape} -> {layer.output_shape}")


_ANIMATED_FIELDS = ("in_sizes", "in_channels", "filters", "kernel_size")


def write_gallery(directory: Path, given: dict) -> list[dict]:
    """Per kind: its animation(s) (GIF) and its block diagram (SVG), and an index.md.

    The diagrams show the tour's layers (`given` laid over them); the animations each kind's
    small example layer, with the input, filters and kernel of `given` if the user gave them.
    """
    directory.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, kind in KINDS.items():
        row = dict(kind=name, summary=kind.summary, files=[])
        try:
            example = viz.example_layer(name, **{k: v for k, v in given.items() if k in _ANIMATED_FIELDS})
            for view in viz.views(name):
                file = f"{name}.gif" if view == viz.views(name)[0] else f"{name}-{view}.gif"
                viz.save_animation(viz.animation(example, view=view), directory / file)
                row["files"].append(file)
            viz.save_diagram(kind.layer(**given), directory / f"{name}-diagram.svg")
            row["files"].append(f"{name}-diagram.svg")
        except ConvZooError as error:
            row["error"] = str(error)
        rows.append(row)
    (directory / "index.md").write_text(_index(rows), encoding="utf-8")
    return rows


def _index(rows: list[dict]) -> str:
    lines = [
        "# Gallery",
        "",
        "Written by `convzoo tour --gallery docs/gallery`; do not edit by hand (docs/viz.md).",
        "",
    ]
    for row in rows:
        lines += [f"## {row['kind']}", "", row["summary"], ""]
        lines += [f"![{row['kind']}: {file}]({file})" for file in row["files"]]
        if "error" in row:
            lines.append(f"Not drawn: {row['error']}")
        lines.append("")
    return "\n".join(lines)
