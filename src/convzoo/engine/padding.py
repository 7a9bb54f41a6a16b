"""Padding and cropping of channels-last arrays `(N, *S, C)`, with their adjoints.

Two mechanisms, both linear maps whose adjoints the gradients need:
- `pad_or_crop`: zeros added (positive pairs) or positions removed (negative pairs); its
  adjoint is itself with the pairs negated.
- `pad_with_mode`: PyTorch's "reflect", "replicate" and "circular" modes, each a gather along
  an axis by an index map; its adjoint scatters the gradient back through the same map.
"""

from __future__ import annotations

import numpy as np

Pairs = tuple[tuple[int, int], ...]

# PyTorch's names (convzoo's) -> NumPy's names for the same extension (features.md, pitfall 12).
_NUMPY_MODES = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def negate(pairs: Pairs) -> Pairs:
    return tuple((-before, -after) for before, after in pairs)


def pad_or_crop(x: np.ndarray, pairs: Pairs) -> np.ndarray:
    """Zero-pad (positive) or crop (negative) the spatial axes of `x` by (before, after) pairs.

    Returns `x` itself (not a copy) when every pair is (0, 0).
    """
    crops = tuple(slice(max(-before, 0), size - max(-after, 0)) for size, (before, after) in zip(x.shape[1:], pairs))
    x = x[(slice(None), *crops)]
    pads = [(max(before, 0), max(after, 0)) for before, after in pairs]
    if any(before or after for before, after in pads):
        x = np.pad(x, [(0, 0), *pads, (0, 0)])
    return x


def source_indices(size: int, pair: tuple[int, int], mode: str) -> np.ndarray:
    """For each position of an axis padded by `pair` in `mode`, the input position it copies.

    >>> source_indices(4, (2, 2), "reflect").tolist()
    [2, 1, 0, 1, 2, 3, 2, 1]
    """
    return np.pad(np.arange(size), pair, mode=_NUMPY_MODES[mode])


def pad_with_mode(x: np.ndarray, pairs: Pairs, mode: str) -> np.ndarray:
    """Pad the spatial axes of `x` by `pairs` (>= 0), filling as `mode` says."""
    for axis, pair in enumerate(pairs, start=1):
        if pair != (0, 0):
            x = np.take(x, source_indices(x.shape[axis], pair, mode), axis=axis)
    return x


def pad_with_mode_adjoint(grad: np.ndarray, pairs: Pairs, mode: str, in_sizes: tuple[int, ...]) -> np.ndarray:
    """The adjoint of `pad_with_mode`: each padded position's gradient goes back to its source."""
    for axis, (pair, size) in reversed(list(enumerate(zip(pairs, in_sizes), start=1))):
        if pair != (0, 0):
            folded = np.zeros(grad.shape[:axis] + (size,) + grad.shape[axis + 1 :], grad.dtype)
            np.add.at(np.moveaxis(folded, axis, 0), source_indices(size, pair, mode), np.moveaxis(grad, axis, 0))
            grad = folded
    return grad
