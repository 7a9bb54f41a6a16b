"""The one general convolution, and its two gradients, on channels-last arrays.

Every kind of convolution in convzoo, and every gradient of every kind, is a call to one of
three functions here, with a `ConvGeometry` (strides, dilation, (before, after) padding, where
a negative entry crops) and a group count:

    conv(x, kernel)                 (N, *S, C_in) x (*K, C_in/G, C_out) -> (N, *O, C_out)
    conv_input_grad(grad, kernel)   (N, *O, C_out) x (*K, C_in/G, C_out) -> (N, *S, C_in)
    conv_kernel_grad(x, grad)       (N, *S, C_in) x (N, *O, C_out)       -> (*K, C_in/G, C_out)

Understanding the three. A convolution is one sum over a trilinear form,

    T(x, w, y) = sum over n, o, t, c, f of  xp[n, o*s + t*d, c] * w[t, c, f] * y[n, o, f]

(xp the padded x, c and f in the same group). Like a matrix product [m, j] [j, k] -> [m, k],
whose two gradients are again matrix products, each of the three arrays is the gradient of T
with respect to it given the other two: `conv` is dT/dy, `conv_input_grad` is dT/dx and
`conv_kernel_grad` is dT/dw. So the input gradient of a convolution is `conv_input_grad`,
which is also exactly a transpose convolution (`convzoo.conv_transpose` is this function), and
the gradients of a transpose convolution are `conv` and `conv_kernel_grad` with roles swapped.

Behind the three names sit several algorithms (`engine.select` has the table and the rules
that choose among them per call): `shift_add`, `gemm`, `winograd`, `fft` and `direct`. Each
function takes `algorithm=` to force one (tests do); an algorithm that cannot compute the call
raises ConvZooError with the reason. `convzoo.use_algorithm` sets a preference for a block of
code instead, falling back to the automatic choice where the preferred one does not apply.

NaN and Inf. Winograd and the FFT mix values across positions, and `direct` skips the padded
zeros, so none of them gives the direct sum's NaN and Inf pattern (docs/semantics.md: a padded
zero times an infinite weight is NaN). When an operand holds a NaN or an Inf, the automatic
choice is `gemm`, whose sums are the direct sums; a forced algorithm is used as forced.
Winograd's results are checked after the call instead (a NaN or an Inf in a used input always
reaches them): where one is not finite, gemm computes the call again. For
`direct` only the second operand matters (the kernel of `conv` and `conv_input_grad`, the
entries of the output gradient whose window reaches the padding, for `conv_kernel_grad`): the
skipped zeros only ever multiply those, and a zero times a finite number adds nothing. Checking
the big operands whole would cost a pass over memory, half of a depthwise layer's time.
"""

from __future__ import annotations

import contextlib
import contextvars

import numpy as np

from ..arithmetic import ConvGeometry
from ..errors import ConvZooError
from . import direct, fft, gemm, phases, shift_add, winograd
from .select import ALGORITHMS, Problem, choose, why_not

__all__ = ["ALGORITHMS", "conv", "conv_input_grad", "conv_kernel_grad", "use_algorithm", "chosen"]

_PREFERRED: contextvars.ContextVar[str | None] = contextvars.ContextVar("convzoo_algorithm", default=None)

_CONV = {
    "shift_add": shift_add.conv,
    "gemm": gemm.conv,
    "winograd": winograd.conv,
    "fft": fft.conv,
    "direct": direct.conv,
}
_INPUT_GRAD = {
    "shift_add": shift_add.conv_input_grad,
    "gemm": gemm.conv_input_grad,
    "winograd": winograd.conv_input_grad,  # by phases, as the parts of one call
    "fft": fft.conv_input_grad,
    "direct": direct.conv_input_grad,  # by phases, a dense layer's in one call
}
_KERNEL_GRAD = {
    "shift_add": shift_add.conv_kernel_grad,
    "gemm": gemm.conv_kernel_grad,
    "winograd": winograd.conv_kernel_grad,
    "fft": fft.conv_kernel_grad,
    "direct": direct.conv_kernel_grad,
}


@contextlib.contextmanager
def use_algorithm(name: str | None):
    """Prefer algorithm `name` for the engine calls in this block (None: the automatic choice).

    Where `name` cannot compute a call (Winograd on a 5x5 kernel, say), the call uses the
    automatic choice; pass `algorithm=` to an engine function to insist instead.

    >>> import numpy as np, convzoo
    >>> with convzoo.use_algorithm("shift_add"):
    ...     convzoo.conv(np.ones((1, 5, 5, 2)), np.ones((3, 3, 2, 4))).shape
    (1, 3, 3, 4)
    """
    if name is not None and name not in ALGORITHMS:
        raise ConvZooError(f"algorithm must be one of {', '.join(ALGORITHMS)} or None. Received: algorithm={name!r}.")
    token = _PREFERRED.set(name)
    try:
        yield
    finally:
        _PREFERRED.reset(token)


_EXACT_ON_NONFINITE = ("shift_add", "gemm")


def _finite(*arrays: np.ndarray) -> bool:
    # a sum is one pass without a temporary; a finite array whose sum overflows only costs the fast path
    with np.errstate(over="ignore", invalid="ignore"):
        return all(np.isfinite(array.sum()) for array in arrays)


def _checked(name: str, face: str, problem: Problem, operands: tuple) -> tuple:
    """The operands (or parts) whose NaN or Inf would give `name` another pattern than the direct
    sums, checked before the call: all of them, except for `direct`, which only skips padded
    zeros, and `winograd`, whose results are checked instead (its transforms never cancel a NaN
    or an Inf, so one in a used input always reaches a result; the check rides along with its
    output transform, where a pass over a big input costs 4-8% of the call). `direct`'s skipped
    zeros multiply the kernel in `conv` and `input_grad`, and in `kernel_grad` the
    output-gradient entries whose window reaches the padding: the slabs outside the interior
    along each axis, a thin border."""
    if name == "winograd":
        return operands[1:] if face != "kernel_grad" else ()  # the kernel, small
    if name != "direct" or len(operands) < 2:
        return operands
    second = operands[1]
    if face != "kernel_grad":
        return (second,)
    slabs = []
    for axis, (lo, hi) in enumerate(problem.geometry.interior, start=1):
        index = [slice(None)] * second.ndim
        for part in (slice(0, lo), slice(hi, None)):
            index[axis] = part
            slabs.append(second[tuple(index)])
    return tuple(slabs)


def chosen(face: str, problem: Problem, algorithm: str | None = None, operands: tuple = ()) -> str:
    """The algorithm that computes `face` of `problem`: the forced one, else the preferred one
    where it applies, else the automatic choice; `gemm` where an operand is not finite."""
    if algorithm is not None:
        if algorithm not in ALGORITHMS:
            raise ConvZooError(f"algorithm must be one of {', '.join(ALGORITHMS)}. Received: algorithm={algorithm!r}.")
        reason = why_not(algorithm, face, problem)
        if reason is not None:
            raise ConvZooError(f"algorithm={algorithm!r} cannot compute this call: {reason}.")
        return algorithm
    preferred = _PREFERRED.get()
    name = preferred if preferred is not None and why_not(preferred, face, problem) is None else choose(face, problem)
    if name not in _EXACT_ON_NONFINITE and not _finite(*_checked(name, face, problem, operands)):
        return "gemm"
    return name


def _problem(geometry: ConvGeometry, groups: int, kernel: np.ndarray, batch: int) -> Problem:
    return Problem(geometry, groups, kernel.shape[-2] * groups, kernel.shape[-1], batch)


def conv(x: np.ndarray, kernel: np.ndarray, geometry: ConvGeometry, groups: int, algorithm: str | None = None):
    """`(N, *S, C_in) x (*K, C_in/G, C_out) -> (N, *O, C_out)`."""
    name = chosen("conv", _problem(geometry, groups, kernel, x.shape[0]), algorithm, (x, kernel))
    if name == "winograd" and algorithm is None:  # checked after the call (`_checked`)
        try:  # through the table, checked=True positionally: tests wrap its entries
            return _CONV[name](x, kernel, geometry, groups, True)
        except winograd.NonFinite:
            name = "gemm"
    return _CONV[name](x, kernel, geometry, groups)


def conv_input_grad(grad: np.ndarray, kernel: np.ndarray, geometry: ConvGeometry, groups: int, algorithm=None):
    """`(N, *O, C_out) x (*K, C_in/G, C_out) -> (N, *S, C_in)`: the adjoint of `conv` in x."""
    name = chosen("input_grad", _problem(geometry, groups, kernel, grad.shape[0]), algorithm, (grad, kernel))
    if name == "winograd" and algorithm is None:  # checked after the call (`_checked`)
        try:
            return _INPUT_GRAD[name](grad, kernel, geometry, groups, True)  # checked=True, as in conv
        except winograd.NonFinite:
            name = "gemm"
    if name in _INPUT_GRAD and not (name == "gemm" and all(s == 1 for s in geometry.strides)):
        return _INPUT_GRAD[name](grad, kernel, geometry, groups)
    return phases.conv_input_grad(grad, kernel, geometry, groups, _CONV[name])  # stride^rank convolutions


def conv_kernel_grad(x: np.ndarray, grad: np.ndarray, geometry: ConvGeometry, groups: int, algorithm=None):
    """`(N, *S, C_in) x (N, *O, C_out) -> (*K, C_in/G, C_out)`: the adjoint of `conv` in the kernel."""
    problem = Problem(geometry, groups, x.shape[-1], grad.shape[-1], x.shape[0])
    name = chosen("kernel_grad", problem, algorithm, (x, grad))
    if name == "winograd" and algorithm is None:  # checked after the call (`_checked`)
        try:
            return _KERNEL_GRAD[name](x, grad, geometry, groups, True)  # checked=True, as in conv
        except winograd.NonFinite:
            name = "gemm"
    return _KERNEL_GRAD[name](x, grad, geometry, groups)
