"""Arrays at the public boundary: dtypes, data formats and shape checks.

The dtype rule (the same for every op): float32 in, float32 out; float64 in, float64 out;
float16 is computed in float32 and returned as float16; integer and bool arrays are promoted
to float64; mixed inputs follow NumPy's promotion of the promoted dtypes. Each gradient comes
back in the dtype of its array (float64 for an integer or bool array).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ConvZooError, ConvZooTypeError
from ..spec import DATA_FORMATS, choice


def float_dtype(array: np.ndarray) -> np.dtype:
    """The floating dtype an array takes part in a convolution with (and its gradient's)."""
    return array.dtype if array.dtype.kind == "f" else np.dtype(np.float64)


def as_real_array(value: object, name: str) -> np.ndarray:
    """`value` as an ndarray of real numbers (float, int or bool), or a clear TypeError."""
    try:
        array = np.asarray(value)
    except (ValueError, TypeError) as error:  # ragged nested lists, objects NumPy cannot read
        raise ConvZooTypeError(
            f"`{name}` must be an array of real numbers. Received: {name} that NumPy cannot read: {error}"
        ) from None
    if array.dtype.kind not in "fiub":
        raise ConvZooTypeError(
            f"`{name}` must be an array of real numbers (float, int or bool). Received: {name} of dtype {array.dtype}."
        )
    return array


@dataclass(frozen=True)
class Precision:
    """The dtype an op computes in and the dtype it returns."""

    compute: np.dtype
    output: np.dtype

    @classmethod
    def of(cls, *arrays: np.ndarray) -> Precision:
        output = np.result_type(*(float_dtype(array) for array in arrays))
        return cls(np.dtype(np.float32) if output == np.float16 else output, output)


def channels_last(x: np.ndarray, data_format: str) -> np.ndarray:
    """`x` in the engine's layout `(N, *S, C)`; a view, no copy."""
    return x if data_format == "channels_last" else np.moveaxis(x, 1, -1)


def from_channels_last(y: np.ndarray, data_format: str) -> np.ndarray:
    return y if data_format == "channels_last" else np.moveaxis(y, -1, 1)


def check_inputs(x: np.ndarray, rank: int, data_format: object) -> tuple[str, int, tuple[int, ...]]:
    """Check a batched input's rank and `data_format`; return (data_format, C_in, spatial sizes)."""
    data_format = choice(data_format, "data_format", DATA_FORMATS)
    layout = "(N, *spatial, C)" if data_format == "channels_last" else "(N, C, *spatial)"
    if x.ndim != rank + 2:
        raise ConvZooError(
            f"`inputs` must be a batch {layout} with {rank} spatial axes (rank {rank + 2}), the "
            f"spatial rank of the kernel. Received: inputs.shape={x.shape}."
        )
    if 0 in x.shape[1:]:
        raise ConvZooError(
            f"`inputs` {layout} may have an empty batch but no empty spatial or channel axis. "
            f"Received: inputs.shape={x.shape}."
        )
    if data_format == "channels_last":
        return data_format, x.shape[-1], x.shape[1:-1]
    return data_format, x.shape[1], x.shape[2:]


def kernel_rank(kernel: np.ndarray, name: str = "kernel", layout: str = "(*kernel_size, C_in/groups, C_out)") -> int:
    """The spatial rank a kernel gives, checking that it has at least one spatial axis."""
    if kernel.ndim < 3 or 0 in kernel.shape:
        raise ConvZooError(
            f"`{name}` must have the layout {layout}, with at least one spatial axis and no "
            f"empty axis. Received: {name}.shape={kernel.shape}."
        )
    return kernel.ndim - 2


def check_bias(bias: np.ndarray | None, out_channels: int) -> None:
    if bias is not None and bias.shape != (out_channels,):
        raise ConvZooError(f"`bias` must have shape (C_out,) = ({out_channels},). Received: bias.shape={bias.shape}.")
