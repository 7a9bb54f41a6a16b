"""The `convzoo` command line: the tour of every kind, and the calculator for a layer or a stack.

Parsing and formatting only: every figure comes from `convzoo.arithmetic`, every run from
`convzoo.kinds`. Built on click (commands, options, errors without tracebacks) and rich
(tables); both come with the `cli` extra, so the core keeps NumPy as its only dependency.
Every command takes `--json` for machines. A bad option exits non-zero with a message.
"""

from __future__ import annotations

import json
import os
import time
from fractions import Fraction
from pathlib import Path

import click
import numpy as np
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from . import __version__, arithmetic
from .errors import ConvZooError
from .kinds import DEFAULT_LAYER, KINDS, standard

DTYPES = ("float16", "float32", "float64")
PADDING_HELP = "valid, same, causal, full, or explicit: 1, one per axis 1x2, or before:after pairs 1:0x0:1"


# --------------------------------------------------------------------------------------------
# Parsing what a user writes: 28x28x3, 3x1, same, 1:0x0:1
# --------------------------------------------------------------------------------------------


def _ints(text: str, name: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.lower().split("x"))
    except ValueError:
        raise click.BadParameter(
            f"{name} must be integers joined by 'x', such as 3 or 3x1. Received: {text!r}."
        ) from None


class PerAxis(click.ParamType):
    """`3` -> 3, `3x1` -> (3, 1): one int, or one per spatial axis."""

    name = "N[xN...]"

    def convert(self, value, param, ctx):
        if not isinstance(value, str):
            return value
        numbers = _ints(value, f"--{param.name.replace('_', '-')}" if param else "value")
        return numbers[0] if len(numbers) == 1 else numbers


class InputShape(click.ParamType):
    """`28x28x3` -> ((28, 28), 3): spatial sizes, then channels (channels last)."""

    name = "HxWxC"

    def convert(self, value, param, ctx):
        if not isinstance(value, str):
            return value
        numbers = _ints(value, "--input")
        if len(numbers) < 2:
            self.fail(
                f"--input gives the spatial sizes then the channels, such as 28x28x3. Received: {value!r}.", param, ctx
            )
        return numbers[:-1], numbers[-1]


class Padding(click.ParamType):
    """A padding string, or explicit: `1`, `1x2` (one per axis), `1:0x0:1` (before:after pairs)."""

    name = "PADDING"

    def convert(self, value, param, ctx):
        if not isinstance(value, str) or value.lower() in ("valid", "same", "causal", "full"):
            return value.lower() if isinstance(value, str) else value
        try:
            axes = [
                tuple(int(side) for side in axis.split(":")) if ":" in axis else int(axis) for axis in value.split("x")
            ]
        except ValueError:
            self.fail(f"--padding must be {PADDING_HELP}. Received: {value!r}.", param, ctx)
        return axes[0] if len(axes) == 1 and isinstance(axes[0], int) else tuple(axes)


def _dtype_itemsize(dtype: str) -> int:
    return np.dtype(dtype).itemsize


# Layer options: (option name, Layer field, click type, help). The same names serve every
# command that describes a layer, and the keys of a stack file.
LAYER_OPTIONS = (
    ("filters", "filters", click.IntRange(1), "output channels"),
    ("kernel", "kernel_size", PerAxis(), "kernel size, one or one per axis (3 or 3x1)"),
    ("strides", "strides", PerAxis(), "strides, one or one per axis"),
    ("padding", "padding", Padding(), PADDING_HELP),
    ("dilation", "dilation_rate", PerAxis(), "dilation rate, one or one per axis"),
    ("groups", "groups", click.IntRange(1), "groups (conv, grouped, transpose)"),
    ("depth-multiplier", "depth_multiplier", click.IntRange(1), "filters per input channel (depthwise, separable)"),
    ("output-padding", "output_padding", PerAxis(), "extra output at the end of each axis (transpose)"),
    ("intermediate-filters", "intermediate_filters", PerAxis(), "channels between the stages (spatially separable)"),
    (
        "padding-mode",
        "padding_mode",
        click.Choice(["zeros", "reflect", "replicate", "circular"]),
        "how padding is filled",
    ),
)


def layer_options(command):
    """Add the options that describe one layer to `command` (all default to the kind's own)."""
    shared = [
        click.option("--input", "input_shape", type=InputShape(), help="input: spatial sizes then channels, 28x28x3"),
        click.option("--batch", type=int, help="batch size"),
        click.option("--dtype", type=click.Choice(DTYPES), help="dtype of the arrays (memory)"),
        click.option(
            "--data-format", type=click.Choice(["channels_last", "channels_first"]), help="layout of the shapes"
        ),
        click.option("--bias/--no-bias", "use_bias", default=None, help="with a bias (default) or without"),
    ]
    own = [click.option(f"--{name}", field, type=kind, help=text) for name, field, kind, text in LAYER_OPTIONS]
    for option in reversed(shared + own):
        command = option(command)
    return command


def _given(options: dict) -> dict:
    """Layer fields from the command's options, only those given."""
    fields = {name: value for name, value in options.items() if value is not None}
    if "input_shape" in fields:
        fields["in_sizes"], fields["in_channels"] = fields.pop("input_shape")
    if "dtype" in fields:
        fields["itemsize"] = _dtype_itemsize(fields["dtype"])
    fields.pop("dtype", None)
    return fields


# --------------------------------------------------------------------------------------------
# Formatting figures
# --------------------------------------------------------------------------------------------


def _number(value) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)


def _bytes(count: int) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if count >= size:
            return f"{count / size:,.1f} {unit}"
    return f"{count} B"


def _axes(values) -> str:
    return "x".join(str(value) for value in values)


def _shape(shape) -> str:
    return "(" + ", ".join(str(size) for size in shape) + ")"


def _jsonable(value):
    """Fractions as numbers (floats when not whole), tuples as lists."""
    if isinstance(value, Fraction):
        return int(value) if value.denominator == 1 else float(value)
    if isinstance(value, (tuple, list)):
        return [_jsonable(item) for item in value]
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    return value


def _fields_json(fields) -> list[dict]:
    return [dict(size=field.size, jump=field.jump, start=field.start) for field in fields]


def _per_axis(values) -> str:
    """One value if every axis has it, else one per axis: `5` or `(5, 3)`."""
    values = [str(value) for value in values]
    return values[0] if len(set(values)) == 1 else "(" + ", ".join(values) + ")"


def _fields_text(fields) -> tuple[str, str, str]:
    return tuple(_per_axis(getattr(field, name) for field in fields) for name in ("size", "jump", "start"))


def _dtype_name(layer) -> str:
    return {2: "float16", 4: "float32", 8: "float64"}.get(layer.itemsize, f"{layer.itemsize}-byte")


def padding_text(padding) -> str:
    """A padding as `--padding` takes it: `same`, `1`, `1x2`, `1:0x0:1`."""
    if isinstance(padding, str):
        return padding
    if all(before == after for before, after in padding):
        return _per_axis(before for before, _ in padding).strip("()").replace(", ", "x")
    return "x".join(f"{before}:{after}" for before, after in padding)


def describe(layer) -> str:
    """A layer in a few words: `conv 3x3, strides 2x2, padding same`."""
    ones = (1,) * layer.rank
    parts = [
        f"strides {_axes(layer.strides)}" if layer.strides != ones else "",
        f"dilation {_axes(layer.dilation_rate)}" if layer.dilation_rate != ones else "",
        f"padding {padding_text(layer.padding)}" if layer.padding != "valid" else "",
        f"output_padding {_axes(layer.output_padding)}" if layer.output_padding else "",
        f"groups {layer.groups}" if layer.groups != 1 else "",
        f"depth x{layer.depth_multiplier}" if layer.depth_multiplier != 1 else "",
        f"padding_mode {layer.padding_mode}" if layer.padding_mode != "zeros" else "",
        "no bias" if not layer.use_bias else "",
    ]
    return ", ".join([f"{layer.kind} {_axes(layer.kernel_size)}", *filter(None, parts)])


def report(layer) -> dict:
    """Every figure of `convzoo.arithmetic` for one layer, ready for JSON."""
    kind = KINDS[layer.kind]
    params, memory = arithmetic.parameters(layer), arithmetic.memory(layer)
    return _jsonable(
        dict(
            kind=layer.kind,
            summary=kind.summary,
            keras=kind.keras_call(layer),
            convzoo=kind.convzoo_call(layer),
            dtype=_dtype_name(layer),
            data_format=layer.data_format,
            input_shape=layer.input_shape,
            output_shape=layer.output_shape,
            output_size_formulas=arithmetic.output_size_formulas(layer),
            padding=arithmetic.applied_padding(layer),
            padding_is_crop=layer.kind == "transpose",
            parameters=dict(kernel=params.kernel, bias=params.bias, total=params.total),
            macs=arithmetic.macs(layer),
            flops=arithmetic.flops(layer),
            bias_adds=arithmetic.bias_adds(layer),
            memory_bytes=dict(
                inputs=memory.inputs, outputs=memory.outputs, intermediate=memory.intermediate, weights=memory.weights
            ),
            receptive_field=_fields_json(arithmetic.receptive_field(layer)),
        )
    )


def _console() -> Console:
    """A console; when the output is not a terminal and COLUMNS is unset, wide enough for the tables."""
    console = Console()
    return console if console.is_terminal or "COLUMNS" in os.environ else Console(width=160)


def _emit_json(data) -> None:
    click.echo(json.dumps(data, indent=2))


# --------------------------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------------------------


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
def tour(input_shape, filters, kernel_size, batch, dtype, repeat, seed, as_json):
    """Run every kind for real on random data and compare them with the standard convolution."""
    given = _given(dict(input_shape=input_shape, filters=filters, kernel_size=kernel_size, batch=batch))
    given["itemsize"] = _dtype_itemsize(dtype)
    rng = np.random.default_rng(seed)
    rows = [_tour_row(kind, given, rng, dtype, repeat) for kind in KINDS.values()]
    if as_json:
        return _emit_json(dict(dtype=dtype, repeat=repeat, rows=rows))
    _print_tour(rows, dtype, repeat)


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


def _change(ratio: float) -> str:
    """A ratio to the standard conv as a change: 0.17 -> '-83%', 3.8 -> '+279%'."""
    return f"{(ratio - 1) * 100:+.0f}%" if abs(ratio - 1) >= 0.005 else "same"


def _print_tour(rows: list[dict], dtype: str, repeat: int) -> None:
    first = next((row for row in rows if "error" not in row), None)
    title = "convzoo tour" + (f": {_shape(first['input_shape'])} {dtype} through every kind" if first else "")
    table = Table(
        title=title,
        caption=f"time: best of {repeat} runs of the NumPy core. Changes are against a "
        "standard convolution on the same input (stride 1, valid).",
    )
    for header, justify in (
        ("kind", "left"),
        ("Keras layer, or convzoo's call", "left"),
        ("output", "right"),
        ("params", "right"),
        ("MACs", "right"),
        ("time", "right"),
        ("params vs conv", "right"),
        ("MACs vs conv", "right"),
    ):
        table.add_column(header, justify=justify, overflow="fold")
    for row in rows:
        if "error" in row:
            table.add_row(row["kind"], f"[red]cannot run: {escape(row['error'])}[/red]", *[""] * 6)
            continue
        name = (
            row["kind"]
            if row["input_shape"] == first["input_shape"]
            else f"{row['kind']}\n(on {_shape(row['input_shape'])})"
        )
        call = row["keras"].removeprefix("keras.layers.") if row["keras"] else f"no Keras API: {row['convzoo']}"
        table.add_row(
            name,
            escape(call),
            _shape(row["output_shape"]),
            _number(row["parameters"]["total"]),
            _number(row["macs"]),
            f"{row['seconds'] * 1000:.1f} ms",
            _change(row["parameters_ratio"]),
            _change(row["macs_ratio"]),
        )
    _console().print(table)


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
        layer = KINDS[kind].layer(**_given(options))
        return _emit_json(report(layer)) if as_json else _print_layer(layer)
    layers = _stack(stack_file, layer_specs, options)
    return _emit_json(stack_report(layers)) if as_json else _print_stack(layers)


def _print_layer(layer) -> None:
    data, fields = report(layer), arithmetic.receptive_field(layer)
    table = Table(
        title=f"{describe(layer)}: {_shape(layer.input_shape)} -> {_shape(layer.output_shape)}", show_header=False
    )
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    table.add_row("what", escape(data["summary"]))
    table.add_row("Keras", escape(data["keras"] or "no Keras API"))
    table.add_row("convzoo", escape(data["convzoo"]))
    table.add_row(
        "shapes", f"input {_shape(layer.input_shape)} -> output {_shape(layer.output_shape)}, {layer.data_format}"
    )
    for axis, formula in enumerate(data["output_size_formulas"]):
        table.add_row(f"output size, axis {axis}", formula)
    word = "cropped (before, after)" if data["padding_is_crop"] else "padding (before, after)"
    table.add_row(word, ", ".join(f"({before}, {after})" for before, after in data["padding"]))
    params = data["parameters"]
    table.add_row(
        "parameters",
        f"{_number(params['total'])} = kernel {_number(params['kernel'])} + bias {_number(params['bias'])}",
    )
    table.add_row("MACs", f"{_number(data['macs'])} (FLOPs {_number(data['flops'])}, 2 per MAC)")
    table.add_row("bias adds", _number(data["bias_adds"]))
    memory = data["memory_bytes"]
    table.add_row(
        f"memory ({data['dtype']})",
        ", ".join(f"{name} {_bytes(count)}" for name, count in memory.items() if count or name != "intermediate"),
    )
    size, jump, start = _fields_text(fields)
    table.add_row("receptive field", f"size {size}, jump {jump}, start {start}")
    _console().print(table)


# --------------------------------------------------------------------------------------------
# Stacks
# --------------------------------------------------------------------------------------------

_STACK_KEYS = {name: (field, kind) for name, field, kind, _ in LAYER_OPTIONS}
_STACK_KEYS["bias"] = ("use_bias", click.BOOL)


def parse_layer(text: str) -> tuple[str, dict]:
    """`conv filters=32 kernel=3x3 padding=same` -> ('conv', {'filters': 32, ...})."""
    kind, *pairs = text.split()
    if any("=" not in pair for pair in pairs):
        raise click.BadParameter(
            f"a layer is its kind then OPTION=VALUE pairs, such as 'conv filters=32 kernel=3'. Received: {text!r}."
        )
    return _layer_entry(dict(kind=kind, **dict(pair.split("=", 1) for pair in pairs)))


def _layer_entry(entry: dict) -> tuple[str, dict]:
    """A stack entry (a mapping with `kind` and CLI option names) as (kind, Layer fields)."""
    entry = {str(key).replace("_", "-"): value for key, value in entry.items()}
    kind = entry.pop("kind", None)
    if kind not in KINDS:
        raise click.BadParameter(f"each layer needs a kind, one of {', '.join(KINDS)}. Received: kind={kind!r}.")
    fields = {}
    for key, value in entry.items():
        if key not in _STACK_KEYS:
            raise click.BadParameter(f"{key!r} is not a layer option; they are {', '.join(_STACK_KEYS)}.")
        field, convert = _STACK_KEYS[key]
        if isinstance(value, list):
            value = tuple(tuple(item) if isinstance(item, list) else item for item in value)
        fields[field] = convert.convert(value, None, None) if isinstance(value, str) else value
    return kind, fields


def _read_stack_file(path: Path) -> dict:
    import yaml  # YAML is a superset of JSON: one reader for both

    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise click.BadParameter(f"{path} is not valid YAML or JSON: {error}") from None
    if isinstance(data, list):
        data = dict(layers=data)
    if not isinstance(data, dict) or not isinstance(data.get("layers"), list):
        raise click.BadParameter(f"{path} must hold a list of layers, or a mapping with a `layers` list.")
    return data


def _stack(stack_file, layer_specs, options):
    """The chained layers of a stack file and/or --layer options; command-line options win."""
    per_layer = sorted(name for name, value in options.items() if value is not None and name not in _STACK_SETTINGS)
    if per_layer:
        raise click.UsageError(
            f"In a stack, layer options go with each layer (--layer 'conv filters=32'). Received: {per_layer}."
        )
    data = _read_stack_file(stack_file) if stack_file else dict(layers=[])
    entries = [parse_layer(item) if isinstance(item, str) else _layer_entry(item) for item in data["layers"]]
    entries += [parse_layer(text) for text in layer_specs]
    settings = {key.replace("-", "_"): value for key, value in data.items() if key != "layers"}
    settings["input_shape"] = settings.pop("input", None)
    unknown = set(settings) - set(_STACK_SETTINGS)
    if unknown:
        raise click.BadParameter(
            f"a stack sets only input, batch, dtype and data_format besides its layers. Received: {sorted(unknown)}."
        )
    chosen = {name: options[name] if options[name] is not None else settings.get(name) for name in _STACK_SETTINGS}
    chosen["input_shape"] = InputShape().convert(chosen["input_shape"], None, None)
    shared = {name: DEFAULT_LAYER[name] for name in ("in_sizes", "in_channels", "batch")} | _given(chosen)
    in_sizes, in_channels = shared.pop("in_sizes"), shared.pop("in_channels")
    return arithmetic.stack(in_sizes, in_channels, entries, **shared)


_STACK_SETTINGS = ("input_shape", "batch", "dtype", "data_format")


def stack_report(layers) -> dict:
    growth = arithmetic.stack_receptive_fields(layers)
    rows = [
        dict(report(layer), receptive_field_so_far=_jsonable(_fields_json(fields)))
        for layer, fields in zip(layers, growth)
    ]
    totals = dict(
        parameters=sum(row["parameters"]["total"] for row in rows),
        macs=sum(row["macs"] for row in rows),
        flops=sum(row["flops"] for row in rows),
        bias_adds=sum(row["bias_adds"] for row in rows),
        weight_bytes=sum(row["memory_bytes"]["weights"] for row in rows),
    )
    return dict(
        input_shape=list(layers[0].input_shape),
        layers=rows,
        totals=totals,
        receptive_field=rows[-1]["receptive_field_so_far"],
    )


def _print_stack(layers) -> None:
    data, growth = stack_report(layers), arithmetic.stack_receptive_fields(layers)
    table = Table(title=f"stack of {len(layers)} layers on {_shape(data['input_shape'])}", show_footer=True)
    headers = ("#", "layer", "output shape", "params", "MACs", "field size", "jump", "start")
    footers = ("", "total", "", _number(data["totals"]["parameters"]), _number(data["totals"]["macs"]), "", "", "")
    for header, footer in zip(headers, footers):
        table.add_column(header, footer, justify="left" if header == "layer" else "right")
    table.add_row("", "input", _shape(data["input_shape"]), "", "", "1", "1", "0")
    for number, (layer, fields) in enumerate(zip(layers, growth), start=1):
        row = data["layers"][number - 1]
        table.add_row(
            str(number),
            describe(layer),
            _shape(layer.output_shape),
            _number(row["parameters"]["total"]),
            _number(row["macs"]),
            *_fields_text(fields),
        )
    totals = data["totals"]
    console = _console()
    console.print(table)
    console.print(
        f"FLOPs {_number(totals['flops'])} (2 per MAC), bias adds {_number(totals['bias_adds'])}, "
        f"weights {_bytes(totals['weight_bytes'])} in {_dtype_name(layers[0])}. The receptive field of the last "
        f"layer's outputs: size {_fields_text(growth[-1])[0]} input pixels."
    )
