"""Normalise and validate the hyper-parameters a user writes, one argument at a time.

Every public op, layer and command passes its arguments through these functions once, at the
boundary; nothing below them re-checks. Each function takes what a user may write (``2``,
``(2, 1)``, ``"same"``, ``((1, 0), (0, 1))``) and returns one canonical form of plain Python
ints, or raises a `ConvZooError` naming the argument. Rules that involve sizes (an empty
output, a reflect padding wider than the input) live in `convzoo.arithmetic`.

Imports nothing from convzoo but `errors`.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

from .errors import ConvZooError, ConvZooTypeError

Pair = tuple[int, int]
IntOrSeq = int | Sequence[int]
PaddingArg = str | int | Sequence[int | Sequence[int]]

PADDING_STRINGS = ("valid", "same", "full", "causal")
TRANSPOSE_PADDING_STRINGS = ("valid", "same")
DATA_FORMATS = ("channels_last", "channels_first")
PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def as_int(value: object, name: str) -> int:
    """`value` as a Python int; bools and floats are refused, NumPy integers accepted."""
    if type(value) is int:  # the common case, without the ABC check (a few us per op call)
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ConvZooTypeError(
            f"`{name}` must be an integer. Received: {name}={value!r} of type {type(value).__name__}."
        )
    return int(value)


def _as_sequence(value: object, name: str) -> Sequence:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise ConvZooTypeError(
            f"`{name}` must be an int or a sequence of ints. Received: {name}={value!r} of type {type(value).__name__}."
        )
    return value


def per_axis(value: IntOrSeq, rank: int, name: str, minimum: int = 1) -> tuple[int, ...]:
    """One int per spatial axis from an int or a sequence of `rank` ints, each >= `minimum`.

    >>> per_axis(2, 3, "strides")
    (2, 2, 2)
    >>> per_axis((1, 2), 2, "dilation_rate")
    (1, 2)
    """
    if type(value) is int or (isinstance(value, numbers.Integral) and not isinstance(value, bool)):
        values = (int(value),) * rank
    else:
        items = _as_sequence(value, name)
        if len(items) != rank:
            raise ConvZooError(
                f"`{name}` must be an int or {rank} ints, one per spatial axis. "
                f"Received: {name}={value!r} for spatial rank {rank}."
            )
        values = tuple(as_int(item, name) for item in items)
    if min(values) < minimum:
        raise ConvZooError(f"`{name}` must be >= {minimum} on every axis. Received: {name}={value!r}.")
    return values


def padding(value: PaddingArg, rank: int, strings: Sequence[str] = PADDING_STRINGS) -> str | tuple[Pair, ...]:
    """A padding string (lower case) or one (before, after) pair of ints >= 0 per spatial axis.

    Accepts one of `strings`, an int (the same on both sides of every axis), one int per
    axis, or one (before, after) pair per axis; "causal" only for spatial rank 1.

    >>> padding("SAME", 2)
    'same'
    >>> padding(1, 2)
    ((1, 1), (1, 1))
    >>> padding((2, (0, 1)), 2)
    ((2, 2), (0, 1))
    """
    if isinstance(value, str):
        mode = value.lower()
        if mode not in strings:
            raise ConvZooError(
                f"`padding` must be one of {', '.join(map(repr, strings))}, an int, one int per "
                f"spatial axis or one (before, after) pair per axis. Received: padding={value!r}."
            )
        if mode == "causal" and rank != 1:
            raise ConvZooError(
                f"`padding='causal'` is defined for 1-D convolutions only. "
                f"Received: padding='causal' for spatial rank {rank}."
            )
        return mode
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = (value,) * rank
    items = _as_sequence(value, "padding")
    if len(items) != rank:
        raise ConvZooError(
            f"`padding` must give one entry per spatial axis. Received: padding={value!r} for spatial rank {rank}."
        )
    pairs = tuple(_padding_pair(item, value) for item in items)
    if min(min(pair) for pair in pairs) < 0:
        raise ConvZooError(f"`padding` must be >= 0 on every side. Received: padding={value!r}.")
    return pairs


def _padding_pair(item: object, whole: object) -> Pair:
    if isinstance(item, numbers.Integral) and not isinstance(item, bool):
        return (int(item), int(item))
    pair = _as_sequence(item, "padding")
    if len(pair) != 2:
        raise ConvZooError(
            f"Each entry of `padding` must be an int or a (before, after) pair. Received: padding={whole!r}."
        )
    return (as_int(pair[0], "padding"), as_int(pair[1], "padding"))


def output_padding(value: IntOrSeq | None, rank: int) -> tuple[int, ...] | None:
    """None (let the padding rule choose) or one int >= 0 per spatial axis."""
    return None if value is None else per_axis(value, rank, "output_padding", minimum=0)


def choice(value: object, name: str, options: Sequence[str]) -> str:
    """`value` if it is one of `options` (as for `data_format` and `padding_mode`)."""
    if not isinstance(value, str) or value not in options:
        raise ConvZooError(f"`{name}` must be one of {', '.join(map(repr, options))}. Received: {name}={value!r}.")
    return value
