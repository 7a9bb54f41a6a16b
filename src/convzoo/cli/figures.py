"""The figures of a layer, as JSON-ready data and as rich tables (formatting only)."""

from __future__ import annotations

import json
import os
from fractions import Fraction

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .. import arithmetic
from ..kinds import KINDS


def number_text(value) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)


def byte_text(count: int) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if count >= size:
            return f"{count / size:,.1f} {unit}"
    return f"{count} B"


def axes_text(values) -> str:
    return "x".join(str(value) for value in values)


def shape_text(shape) -> str:
    return "(" + ", ".join(str(size) for size in shape) + ")"


def jsonable(value):
    """Fractions as numbers (floats when not whole), tuples as lists."""
    if isinstance(value, Fraction):
        return int(value) if value.denominator == 1 else float(value)
    if isinstance(value, (tuple, list)):
        return [jsonable(item) for item in value]
    if isinstance(value, dict):
        return {key: jsonable(item) for key, item in value.items()}
    return value


def fields_json(fields) -> list[dict]:
    return [dict(size=field.size, jump=field.jump, start=field.start) for field in fields]


def per_axis_text(values) -> str:
    """One value if every axis has it, else one per axis: `5` or `(5, 3)`."""
    values = [str(value) for value in values]
    return values[0] if len(set(values)) == 1 else "(" + ", ".join(values) + ")"


def fields_text(fields) -> tuple[str, str, str]:
    return tuple(per_axis_text(getattr(field, name) for field in fields) for name in ("size", "jump", "start"))


def dtype_name(layer) -> str:
    return {2: "float16", 4: "float32", 8: "float64"}.get(layer.itemsize, f"{layer.itemsize}-byte")


def padding_text(padding) -> str:
    """A padding as `--padding` takes it: `same`, `1`, `1x2`, `1:0x0:1`."""
    if isinstance(padding, str):
        return padding
    if all(before == after for before, after in padding):
        return per_axis_text(before for before, _ in padding).strip("()").replace(", ", "x")
    return "x".join(f"{before}:{after}" for before, after in padding)


def describe(layer) -> str:
    """A layer in a few words: `conv 3x3, strides 2x2, padding same`."""
    ones = (1,) * layer.rank
    parts = [
        f"strides {axes_text(layer.strides)}" if layer.strides != ones else "",
        f"dilation {axes_text(layer.dilation_rate)}" if layer.dilation_rate != ones else "",
        f"padding {padding_text(layer.padding)}" if layer.padding != "valid" else "",
        f"output_padding {axes_text(layer.output_padding)}" if layer.output_padding else "",
        f"groups {layer.groups}" if layer.groups != 1 else "",
        f"depth x{layer.depth_multiplier}" if layer.depth_multiplier != 1 else "",
        f"padding_mode {layer.padding_mode}" if layer.padding_mode != "zeros" else "",
        "no bias" if not layer.use_bias else "",
    ]
    return ", ".join([f"{layer.kind} {axes_text(layer.kernel_size)}", *filter(None, parts)])


def report(layer) -> dict:
    """Every figure of `convzoo.arithmetic` for one layer, ready for JSON."""
    kind = KINDS[layer.kind]
    params, memory = arithmetic.parameters(layer), arithmetic.memory(layer)
    return jsonable(
        dict(
            kind=layer.kind,
            summary=kind.summary,
            keras=kind.keras_call(layer),
            convzoo=kind.convzoo_call(layer),
            dtype=dtype_name(layer),
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
            receptive_field=fields_json(arithmetic.receptive_field(layer)),
        )
    )


def terminal() -> Console:
    """A console; when the output is not a terminal and COLUMNS is unset, wide enough for the tables."""
    console = Console()
    return console if console.is_terminal or "COLUMNS" in os.environ else Console(width=160)


def emit_json(data) -> None:
    click.echo(json.dumps(data, indent=2))


def change_text(ratio: float) -> str:
    """A ratio to the standard conv as a change: 0.17 -> '-83%', 3.8 -> '+279%'."""
    return f"{(ratio - 1) * 100:+.0f}%" if abs(ratio - 1) >= 0.005 else "same"


def print_tour(rows: list[dict], dtype: str, repeat: int) -> None:
    first = next((row for row in rows if "error" not in row), None)
    title = "convzoo tour" + (f": {shape_text(first['input_shape'])} {dtype} through every kind" if first else "")
    table = Table(
        title=title,
        caption=f"time: best of {repeat} runs of the NumPy core. Changes are against the standard "
        "convolution with the same input, kernel size and output channels (stride 1, valid).",
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
            else f"{row['kind']}\n(on {shape_text(row['input_shape'])})"
        )
        call = row["keras"].removeprefix("keras.layers.") if row["keras"] else f"no Keras API: {row['convzoo']}"
        table.add_row(
            name,
            escape(call),
            shape_text(row["output_shape"]),
            number_text(row["parameters"]["total"]),
            number_text(row["macs"]),
            f"{row['seconds'] * 1000:.1f} ms",
            change_text(row["parameters_ratio"]),
            change_text(row["macs_ratio"]),
        )
    terminal().print(table)


def print_layer(layer) -> None:
    data, fields = report(layer), arithmetic.receptive_field(layer)
    table = Table(
        title=f"{describe(layer)}: {shape_text(layer.input_shape)} -> {shape_text(layer.output_shape)}",
        show_header=False,
    )
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    table.add_row("what", escape(data["summary"]))
    table.add_row("Keras", escape(data["keras"] or "no Keras API"))
    table.add_row("convzoo", escape(data["convzoo"]))
    table.add_row(
        "shapes",
        f"input {shape_text(layer.input_shape)} -> output {shape_text(layer.output_shape)}, {layer.data_format}",
    )
    for axis, formula in enumerate(data["output_size_formulas"]):
        table.add_row(f"output size, axis {axis}", formula)
    word = "cropped (before, after)" if data["padding_is_crop"] else "padding (before, after)"
    table.add_row(word, ", ".join(f"({before}, {after})" for before, after in data["padding"]))
    params = data["parameters"]
    table.add_row(
        "parameters",
        f"{number_text(params['total'])} = kernel {number_text(params['kernel'])} + bias {number_text(params['bias'])}",
    )
    table.add_row("MACs", f"{number_text(data['macs'])} (FLOPs {number_text(data['flops'])}, 2 per MAC)")
    table.add_row("bias adds", number_text(data["bias_adds"]))
    memory = data["memory_bytes"]
    table.add_row(
        f"memory ({data['dtype']})",
        ", ".join(f"{name} {byte_text(count)}" for name, count in memory.items() if count or name != "intermediate"),
    )
    size, jump, start = fields_text(fields)
    table.add_row("receptive field", f"size {size}, jump {jump}, start {start}")
    terminal().print(table)
