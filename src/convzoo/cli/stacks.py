"""Stacks of layers: read from a YAML/JSON file and repeated `--layer` options, and summarised."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from .. import arithmetic
from ..kinds import DEFAULT_LAYER, KINDS
from .figures import (
    byte_text,
    describe,
    dtype_name,
    fields_json,
    fields_text,
    jsonable,
    number_text,
    report,
    shape_text,
    terminal,
)
from .options import LAYER_OPTIONS, InputShape, given_fields

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


def read_stack(stack_file, layer_specs, options):
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
    shared = {name: DEFAULT_LAYER[name] for name in ("in_sizes", "in_channels", "batch")} | given_fields(chosen)
    in_sizes, in_channels = shared.pop("in_sizes"), shared.pop("in_channels")
    return arithmetic.stack(in_sizes, in_channels, entries, **shared)


_STACK_SETTINGS = ("input_shape", "batch", "dtype", "data_format")


def stack_report(layers) -> dict:
    growth = arithmetic.stack_receptive_fields(layers)
    rows = [
        dict(report(layer), receptive_field_so_far=jsonable(fields_json(fields)))
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


def print_stack(layers) -> None:
    data, growth = stack_report(layers), arithmetic.stack_receptive_fields(layers)
    table = Table(title=f"stack of {len(layers)} layers on {shape_text(data['input_shape'])}", show_footer=True)
    headers = ("#", "layer", "output shape", "params", "MACs", "field size", "jump", "start")
    footers = (
        "",
        "total",
        "",
        number_text(data["totals"]["parameters"]),
        number_text(data["totals"]["macs"]),
        "",
        "",
        "",
    )
    for header, footer in zip(headers, footers):
        table.add_column(header, footer, justify="left" if header == "layer" else "right")
    table.add_row("", "input", shape_text(data["input_shape"]), "", "", "1", "1", "0")
    for number, (layer, fields) in enumerate(zip(layers, growth), start=1):
        row = data["layers"][number - 1]
        table.add_row(
            str(number),
            describe(layer),
            shape_text(layer.output_shape),
            number_text(row["parameters"]["total"]),
            number_text(row["macs"]),
            *fields_text(fields),
        )
    totals = data["totals"]
    console = terminal()
    console.print(table)
    console.print(
        f"FLOPs {number_text(totals['flops'])} (2 per MAC), bias adds {number_text(totals['bias_adds'])}, "
        f"weights {byte_text(totals['weight_bytes'])} in {dtype_name(layers[0])}. The receptive field of the last "
        f"layer's outputs: size {fields_text(growth[-1])[0]} input pixels."
    )
