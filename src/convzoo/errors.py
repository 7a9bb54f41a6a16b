"""convzoo's one exception type.

Every error convzoo raises for bad input is a `ConvZooError`, a `ValueError`, so that
`except ValueError` works as it does for NumPy, Keras and PyTorch users. An argument of the
wrong type raises `ConvZooTypeError`, which is both a `ConvZooError` and a `TypeError`.

Messages state the rule that was broken, then ``Received: name=value, ...`` with every value
needed to fix it; the public op adds its name and the array shapes in front, once.
"""

from __future__ import annotations


class ConvZooError(ValueError):
    """An argument or a combination of arguments that convzoo cannot accept."""


class ConvZooTypeError(ConvZooError, TypeError):
    """An argument of the wrong type (a string where an int is expected, a complex array...)."""


def with_context(error: ConvZooError, context: str) -> ConvZooError:
    """The same kind of error, its message prefixed with `context` (an op name and shapes)."""
    return type(error)(f"{context}: {error}")
