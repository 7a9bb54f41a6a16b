"""The dtype rule, and NaN and Inf propagating as in the direct sum.

float32 in, float32 out; float64 in, float64 out; float16 computed in float32 and returned as
float16; integers and bools promoted to float64; mixed dtypes promote as NumPy does.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import convzoo
from cases import cases
from test_against_oracles import REFERENCE_OPS

RNG = np.random.default_rng(0)
X, KERNEL = RNG.standard_normal((2, 7, 6, 4)), RNG.standard_normal((3, 3, 2, 6))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float32_and_float64_are_kept(dtype):
    out = convzoo.conv(X.astype(dtype), KERNEL.astype(dtype), padding="same")
    assert out.dtype == dtype
    np.testing.assert_allclose(out, convzoo.conv(X, KERNEL, padding="same"), rtol=1e-4, atol=1e-4)


def test_float16_is_computed_in_float32_and_returned_as_float16():
    x16, kernel16 = X.astype(np.float16), KERNEL.astype(np.float16)
    out = convzoo.conv(x16, kernel16, strides=2)
    assert out.dtype == np.float16
    in_float32 = convzoo.conv(x16.astype(np.float32), kernel16.astype(np.float32), strides=2)
    np.testing.assert_array_equal(out, in_float32.astype(np.float16))


@pytest.mark.parametrize("dtype", [np.int8, np.int64, np.uint16, bool])
def test_integers_and_bools_are_promoted_to_float64(dtype):
    x = (X > 0).astype(dtype) if dtype is bool else (X * 3).astype(dtype)
    out = convzoo.conv(x, KERNEL.astype(np.int32) if dtype is not bool else KERNEL)
    assert out.dtype == np.float64
    expected = convzoo.conv(
        x.astype(np.float64), KERNEL.astype(np.int32).astype(np.float64) if dtype is not bool else KERNEL
    )
    np.testing.assert_array_equal(out, expected)


def test_mixed_dtypes_promote_as_numpy_does():
    assert convzoo.conv(X.astype(np.float32), KERNEL).dtype == np.float64
    assert convzoo.conv(X.astype(np.float16), KERNEL.astype(np.float32)).dtype == np.float32
    assert (
        convzoo.conv_transpose(X.astype(np.float32), np.ones((2, 2, 3, 4), np.float32), np.ones(3, np.int8)).dtype
        == np.float64
    )


def test_array_likes_are_accepted():
    out = convzoo.conv([[[1.0], [2.0], [3.0]]], [[[1.0]], [[1.0]]])
    np.testing.assert_array_equal(out, [[[3.0], [5.0]]])


def _poisoned(array, rng):
    """`array` with a few entries replaced by NaN, +Inf or -Inf."""
    flat = array.astype(np.float64).ravel()
    picks = rng.choice(flat.size, size=min(2, flat.size), replace=False)
    flat[picks] = rng.choice([np.nan, np.inf, -np.inf], size=picks.size)
    return flat.reshape(array.shape)


@settings(max_examples=150)
@given(case=cases(), seed=st.integers(0, 2**16), which=st.sampled_from(["inputs", "kernels", "both"]))
def test_nan_and_inf_propagate_as_in_the_direct_sum(case, seed, which):
    """An output is NaN or +-Inf exactly where the direct sum over the padded input is (a padded
    zero times an infinite weight is NaN, as in PyTorch and Keras); the reference sums taps one
    by one, so it is the judge. A transpose convolution multiplies only real input pixels."""
    rng = np.random.default_rng(seed)
    x, *rest = case.arrays
    if which in ("inputs", "both"):
        x = _poisoned(x, rng)
    if which in ("kernels", "both"):
        rest = [[_poisoned(k, rng) for k in item] if isinstance(item, list) else _poisoned(item, rng) for item in rest]
    poisoned = case.with_arrays((x, *rest))
    options = dict(case.options)
    if isinstance(options.get("padding"), str):
        options["padding"] = options["padding"].lower()
    with np.errstate(invalid="ignore", over="ignore"):
        expected = REFERENCE_OPS[case.kind](*poisoned.arrays, **options)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # convzoo propagates NaN without NumPy's warnings
        out = case.op(*poisoned.arrays, **case.options)
    np.testing.assert_array_equal(np.isnan(out), np.isnan(expected), err_msg=repr(case))
    np.testing.assert_array_equal(np.isposinf(out), np.isposinf(expected), err_msg=repr(case))
    np.testing.assert_array_equal(np.isneginf(out), np.isneginf(expected), err_msg=repr(case))
    finite = np.isfinite(expected)
    np.testing.assert_allclose(out[finite], expected[finite], rtol=1e-9, atol=1e-9)
