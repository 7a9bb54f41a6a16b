"""The `convzoo` command line: the tour of every kind, and the calculator for a layer or a stack.

Parsing and formatting only: every figure comes from `convzoo.arithmetic`, every run from
`convzoo.kinds`. Built on click (commands, options, errors without tracebacks) and rich
(tables); both come with the `cli` extra, so the core keeps NumPy as its only dependency.
Every command takes `--json` for machines. A bad option exits non-zero with a message.

- `options`: what a user writes (28x28x3, 3x1, same, 1:0x0:1) and the options of a layer;
- `figures`: the figures of a layer as JSON-ready data and as rich tables;
- `stacks`: stacks of layers from YAML/JSON files and `--layer`;
- `pictures`: `animate`, `diagram` and the gallery of `tour --gallery` (through `convzoo.viz`).
"""

from __future__ import annotations

import time
from pathlib import Path

import click
import numpy as np

from .. import __version__, arithmetic
from ..errors import ConvZooError
from ..kinds import DEFAULT_LAYER, KINDS, standard
from .figures import emit_json, print_layer, print_tour, report
from .options import DTYPES, InputShape, PerAxis, dtype_itemsize, given_fields, layer_options
from .pictures import animate, diagram, write_gallery
from .stacks import print_stack, read_stack, stack_report


class _Group(click.Group):
    """A group that turns a ConvZooError into a clear message and exit status 1, never a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except ConvZooError as error:
            raise click.ClickException(str(error)) from None


@click.group(cls=_Group, context_settings=dict(help_option_names=["-h", "--help"]))
@click.version_option(__version__, prog_name="convzoo")
def main():
    """Every convolution of deep learning, exact, in NumPy: start with `convzoo tour`."""


@main.command()
@click.option(
    "--input", "input_shape", type=InputShape(), help="input: spatial sizes then channels  [default: 28x28x3]"
)
@click.option("--filters", type=int, help="output channels  [default: 32]")
@click.option("--kernel", "kernel_size", type=PerAxis(), help="kernel size  [default: 3]")
@click.option("--batch", type=int, help="batch size  [default: 32]")
@click.option("--dtype", type=click.Choice(DTYPES), default="float32", show_default=True)
@click.option("--repeat", type=click.IntRange(1), default=3, show_default=True, help="runs per kind; the best is shown")
@click.option("--seed", type=int, default=0, show_default=True, help="seed of the random arrays")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@click.option(
    "--gallery",
    type=click.Path(file_okay=False, path_type=Path),
    help="also write every kind's animation and diagram into this folder (docs/viz.md)",
)
def tour(input_shape, filters, kernel_size, batch, dtype, repeat, seed, as_json, gallery):
    """Run every kind for real on random data and compare them with the standard convolution."""
    given = given_fields(dict(input_shape=input_shape, filters=filters, kernel_size=kernel_size, batch=batch))
    given["itemsize"] = dtype_itemsize(dtype)
    rng = np.random.default_rng(seed)
    rows = [_tour_row(kind, given, rng, dtype, repeat) for kind in KINDS.values()]
    pictures = write_gallery(gallery, given) if gallery else None
    if as_json:
        return emit_json(dict(dtype=dtype, repeat=repeat, rows=rows, **({"gallery": pictures} if gallery else {})))
    print_tour(rows, dtype, repeat)
    if gallery:
        count = sum(len(row["files"]) for row in pictures)
        click.echo(f"gallery: {count} files and index.md in {gallery}")


def _tour_row(kind, given: dict, rng, dtype: str, repeat: int) -> dict:
    """One kind: its layer, its figures, the best time of `repeat` runs, and its ratios to the standard conv."""
    try:
        layer = kind.layer(**given)
    except ConvZooError as error:
        return dict(kind=kind.name, error=str(error))
    call = kind.build(layer, rng, dtype)
    seconds = min(_timed(call) for _ in range(repeat))
    base = standard(layer, given.get("kernel_size", DEFAULT_LAYER["kernel_size"]))
    row = report(layer)
    row.update(
        seconds=seconds,
        standard=dict(parameters=arithmetic.parameters(base).total, macs=arithmetic.macs(base)),
        parameters_ratio=row["parameters"]["total"] / arithmetic.parameters(base).total,
        macs_ratio=row["macs"] / arithmetic.macs(base),
    )
    return row


def _timed(call) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


@main.command()
@click.argument("kind", required=False, type=click.Choice(list(KINDS)))
@layer_options
@click.option(
    "--stack",
    "stack_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="a stack of layers, as YAML or JSON (docs/cli.md)",
)
@click.option(
    "--layer",
    "layer_specs",
    multiple=True,
    metavar="'KIND OPTION=VALUE ...'",
    help="one layer of a stack, such as 'conv filters=32 kernel=3 padding=same'; repeat it",
)
@click.option("--json", "as_json", is_flag=True, help="print JSON")
def calc(kind, stack_file, layer_specs, as_json, **options):
    """Every figure of one layer of KIND, or of a stack (--stack FILE or repeated --layer).

    Nothing is allocated: a 100000x100000x3 input answers at once.
    """
    if kind and (stack_file or layer_specs):
        raise click.UsageError("Give a KIND for one layer, or a stack (--stack, --layer), not both.")
    if not kind and not (stack_file or layer_specs):
        raise click.UsageError(f"Give a KIND ({', '.join(KINDS)}) or a stack (--stack FILE, --layer '...').")
    if kind:
        layer = KINDS[kind].layer(**given_fields(options))
        return emit_json(report(layer)) if as_json else print_layer(layer)
    layers = read_stack(stack_file, layer_specs, options)
    return emit_json(stack_report(layers)) if as_json else print_stack(layers)


main.add_command(animate)
main.add_command(diagram)
