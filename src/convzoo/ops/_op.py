"""How a public op is made: its rule, its arrays, its gradient, and `convzoo.vjp`.

Each public op is written once, as a rule that computes (output, pullback). The decorator
`differentiable` turns the rule into the op users call (which returns the output alone) and
registers it for `vjp` (which returns both). The decorator also puts the op's name and array
shapes in front of any `ConvZooError` raised inside, once (the einops habit), and `Arrays`
applies the dtype rule of `_arrays` on the way in and on the way out.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence

import numpy as np

from ..errors import ConvZooError, ConvZooTypeError, with_context
from ._arrays import Precision, as_real_array, float_dtype

_RULE = "__convzoo_vjp_rule__"


class Arrays:
    """The array arguments of one call, in signature order, as given and in the compute dtype.

    A value may be an array-like, None (an absent bias) or, for the names in `sequences`, a
    list or tuple of array-likes (the kernels of a spatially separable convolution).
    """

    def __init__(self, sequences: tuple[str, ...] = (), **named: object):
        self.given = {name: _convert(value, name, name in sequences) for name, value in named.items()}
        self.precision = Precision.of(*_leaves(self.given.values()))
        self.compute = [_map(lambda a: a.astype(self.precision.compute, copy=False), v) for v in self.given.values()]

    def finish(self, out: np.ndarray, pullback: Callable[[np.ndarray], tuple]):
        """The output in the output dtype, and a pullback that checks the cotangent and returns
        one gradient per array (same nesting), each in its array's floating dtype."""
        out = out.astype(self.precision.output, copy=False)

        def checked_pullback(cotangent: object) -> tuple:
            cotangent = as_real_array(cotangent, "cotangent")
            if cotangent.shape != out.shape:
                raise ConvZooError(
                    f"`cotangent` must have the output's shape {out.shape}. "
                    f"Received: cotangent.shape={cotangent.shape}."
                )
            grads = pullback(cotangent.astype(self.precision.compute, copy=False))
            return tuple(
                _map(lambda g, a: g.astype(float_dtype(a), copy=False), grad, given)
                for grad, given in zip(grads, self.given.values())
            )

        return out, checked_pullback


def _convert(value: object, name: str, is_sequence: bool):
    if value is None:
        return None
    if not is_sequence:
        return as_real_array(value, name)
    if not isinstance(value, (list, tuple)):
        raise ConvZooTypeError(
            f"`{name}` must be a list or tuple of arrays. Received: {name} of type {type(value).__name__}."
        )
    return type(value)(as_real_array(item, f"{name}[{index}]") for index, item in enumerate(value))


def _leaves(values) -> list[np.ndarray]:
    leaves = []
    for value in values:
        if isinstance(value, np.ndarray):
            leaves.append(value)
        elif value is not None:
            leaves.extend(value)
    return leaves


def _map(function, value, *others):
    """`function` applied to an array, to each array of a list/tuple (same type back), or None kept."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return type(value)(_map(function, *items) for items in zip(value, *others))
    return function(value, *others)


def differentiable(*array_names: str):
    """Make a public op from a rule returning (output, pullback); `array_names` are its array
    parameters in signature order, whose gradients the pullback returns in that order."""

    def decorate(rule: Callable) -> Callable:
        @functools.wraps(rule)
        def op(*args, **kwargs):
            return _call(rule, args, kwargs)[0]

        op.array_names = array_names
        setattr(op, _RULE, rule)
        return op

    return decorate


def _call(rule: Callable, args: tuple, kwargs: dict):
    try:
        out, pullback = rule(*args, **kwargs)
    except ConvZooError as error:
        raise with_context(error, _describe(rule, args, kwargs)) from None

    def pullback_in_context(cotangent):
        try:
            return pullback(cotangent)
        except ConvZooError as error:
            raise with_context(error, f"pullback of {_describe(rule, args, kwargs)}") from None

    return out, pullback_in_context


def _describe(rule: Callable, args: tuple, kwargs: dict) -> str:
    """`conv(inputs.shape=(2, 5, 5, 3), kernel.shape=(3, 3, 3, 4))`: the op and its arrays' shapes."""
    try:
        bound = inspect.signature(rule).bind(*args, **kwargs).arguments
    except TypeError:
        return rule.__name__
    shapes = []
    for name, value in bound.items():
        if isinstance(value, Sequence) and value and hasattr(value[0], "shape"):
            shapes.append(f"{name} shapes={[tuple(np.shape(item)) for item in value]}")
        elif hasattr(value, "shape"):
            shapes.append(f"{name}.shape={tuple(np.shape(value))}")
    return f"{rule.__name__}({', '.join(shapes)})"


def vjp(op: Callable, *arrays, **options):
    """Evaluate `op` and return its output with a pullback that gives the gradients.

    Args:
        op: one of convzoo's ops, the function itself (`convzoo.conv`, ...).
        *arrays: the op's array arguments in signature order: the inputs, the kernel(s),
            and the bias if there is one. Pass them by position.
        **options: the op's hyper-parameters (`strides=2`, `padding="same"`, ...).

    Returns:
        `(out, pullback)`: `out` is `op(*arrays, **options)`; `pullback(cotangent)`, for a
        cotangent of `out`'s shape, returns the vector-Jacobian products, one per array in
        `arrays` with the same structure (a sequence of kernels gives a sequence of
        gradients), each in its array's dtype (float64 for integer and bool arrays).

    Raises:
        ConvZooTypeError: if `op` is not a convzoo op, or an array is passed by keyword.

    >>> import numpy as np, convzoo
    >>> x, k = np.ones((1, 5, 1)), np.ones((3, 1, 1))
    >>> out, pullback = convzoo.vjp(convzoo.conv, x, k)
    >>> grad_x, grad_k = pullback(np.ones_like(out))
    >>> grad_x[0, :, 0].tolist()
    [1.0, 2.0, 3.0, 2.0, 1.0]
    """
    rule = getattr(op, _RULE, None)
    if rule is None:
        raise ConvZooTypeError(
            f"`op` must be one of convzoo's ops (convzoo.conv, convzoo.conv_transpose, ...). Received: op={op!r}."
        )
    by_keyword = [name for name in op.array_names if name in options]
    if by_keyword:
        raise ConvZooTypeError(
            f"vjp takes the arrays by position, so that the gradients come back in the same order. "
            f"Received: {', '.join(by_keyword)} by keyword."
        )
    out, pullback = _call(rule, arrays, options)
    return out, lambda cotangent: pullback(cotangent)[: len(arrays)]
