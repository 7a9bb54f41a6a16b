"""What a user writes on the command line, parsed: 28x28x3, 3x1, same, 1:0x0:1; the layer options."""

from __future__ import annotations

import click
import numpy as np

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


def dtype_itemsize(dtype: str) -> int:
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


def given_fields(options: dict) -> dict:
    """Layer fields from the command's options, only those given."""
    fields = {name: value for name, value in options.items() if value is not None}
    if "input_shape" in fields:
        fields["in_sizes"], fields["in_channels"] = fields.pop("input_shape")
    if "dtype" in fields:
        fields["itemsize"] = dtype_itemsize(fields["dtype"])
    fields.pop("dtype", None)
    return fields
