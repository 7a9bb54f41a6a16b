"""Weight initializers by Keras's names, drawn from a NumPy generator.

Each is `initializer(shape, dtype, rng) -> array`. The variance-scaling ones follow Keras's
`VarianceScaling` (keras/src/initializers/random_initializers.py): fans from the kernel
shape `(*K, C_in, C_out)` as `fan_in = C_in * prod(K)`, `fan_out = C_out * prod(K)`;
"uniform" draws from [-limit, limit] with limit = sqrt(3 * scale / n); "normal" draws a
normal truncated at 2 standard deviations, its stddev divided by 0.8796... so that the
truncated variance is scale / n. They match Keras's distributions, not its random streams.
A callable `f(shape, dtype=None)` (a Keras initializer object, say) is accepted as well.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ..errors import ConvZooError

Initializer = Callable[[tuple, np.dtype, np.random.Generator], np.ndarray]
_TRUNCATED_STDDEV = 0.87962566103423978  # stddev of a unit normal truncated to [-2, 2]


def fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight shape, as Keras's `compute_fans`.

    >>> fans((3, 3, 16, 32))
    (144, 288)
    """
    if len(shape) < 1:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive_field = math.prod(shape[:-2])
    return shape[-2] * receptive_field, shape[-1] * receptive_field


def _variance_scaling(scale: float, mode: str, distribution: str) -> Initializer:
    def initialize(shape, dtype, rng):
        fan_in, fan_out = fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
        variance = scale / max(1.0, n)
        if distribution == "uniform":
            limit = math.sqrt(3.0 * variance)
            return rng.uniform(-limit, limit, size=shape).astype(dtype)
        return (_truncated_normal(rng, shape) * (math.sqrt(variance) / _TRUNCATED_STDDEV)).astype(dtype)

    return initialize


def _truncated_normal(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Unit normal samples redrawn until they lie in [-2, 2] (about 5% are redrawn each round)."""
    values = rng.standard_normal(shape)
    outside = np.abs(values) > 2
    while outside.any():
        values[outside] = rng.standard_normal(int(outside.sum()))
        outside = np.abs(values) > 2
    return values


INITIALIZERS: dict[str, Initializer] = {
    "zeros": lambda shape, dtype, rng: np.zeros(shape, dtype),
    "ones": lambda shape, dtype, rng: np.ones(shape, dtype),
    "glorot_uniform": _variance_scaling(1.0, "fan_avg", "uniform"),
    "glorot_normal": _variance_scaling(1.0, "fan_avg", "normal"),
    "he_uniform": _variance_scaling(2.0, "fan_in", "uniform"),
    "he_normal": _variance_scaling(2.0, "fan_in", "normal"),
    "lecun_uniform": _variance_scaling(1.0, "fan_in", "uniform"),
    "lecun_normal": _variance_scaling(1.0, "fan_in", "normal"),
    # Keras's RandomNormal / RandomUniform defaults: stddev 0.05, [-0.05, 0.05]
    "random_normal": lambda shape, dtype, rng: (0.05 * rng.standard_normal(shape)).astype(dtype),
    "random_uniform": lambda shape, dtype, rng: rng.uniform(-0.05, 0.05, size=shape).astype(dtype),
}


def get(initializer: str | Callable, name: str) -> Initializer:
    """The initializer called `initializer` (Keras's snake_case names), or a callable wrapped.

    Raises:
        ConvZooError: naming the argument `name` and listing the names known.

    >>> get("he_normal", "kernel_initializer")((3, 3, 2, 4), np.float32, np.random.default_rng(0)).shape
    (3, 3, 2, 4)
    """
    if callable(initializer):
        return lambda shape, dtype, rng: np.asarray(initializer(shape, dtype=np.dtype(dtype).name), dtype=dtype)
    if isinstance(initializer, str) and initializer.lower() in INITIALIZERS:
        return INITIALIZERS[initializer.lower()]
    raise ConvZooError(
        f"`{name}` must be one of {', '.join(map(repr, INITIALIZERS))} or a callable (shape, dtype) -> array. "
        f"Received: {name}={initializer!r}."
    )
