"""What every loop of `direct` shares: the compiler options and the column arithmetic."""

from __future__ import annotations

import numba

# contract: multiply-adds become FMAs (one rounding instead of two, as in the BLAS); no other
# fast-math flag, so NaN and Inf keep IEEE semantics. error_model="numpy": no division checks.
JIT = dict(cache=True, fastmath={"contract"}, error_model="numpy")


@numba.njit(inline="always", **JIT)
def column_range(in_size, out_size, pad, offset, stride):
    # o*stride + offset - pad in [0, in_size)  <=>  first <= o < stop
    first = 0
    if pad - offset > 0:
        first = (pad - offset + stride - 1) // stride
    last_in = in_size - 1 + pad - offset
    stop = 0 if last_in < 0 else min(out_size, last_in // stride + 1)
    return first, max(first, stop)
