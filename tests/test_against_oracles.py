"""Every op, forward and every gradient, against the slow reference and PyTorch 2.13.

Configurations come from `cases()`: every kind, ranks 1 to 3, odd sizes, strides, dilations,
groups, asymmetric explicit padding, every padding mode and both data formats. float64 must
agree to rounding; float32 must stay within the worst-case bound of floating-point summation,
eps * L * sum(|terms|), L the number of terms, computed per element.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings

import convzoo
import torch_oracle
from cases import KINDS, cases
from convzoo import reference

REFERENCE_OPS = {
    "conv": reference.conv,
    "pointwise": reference.pointwise_conv,
    "transpose": reference.conv_transpose,
    "depthwise": reference.depthwise_conv,
    "separable": reference.separable_conv,
    "spatially_separable": reference.spatially_separable_conv,
}


def _reference(case):
    options = dict(case.options)
    if isinstance(options.get("padding"), str):
        options["padding"] = options["padding"].lower()  # the reference takes the exact names
    return REFERENCE_OPS[case.kind](*case.arrays, **options)


def _cotangent(out, seed=0):
    return np.random.default_rng(seed).standard_normal(out.shape)


def _assert_close64(actual, expected, what):
    scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
    np.testing.assert_allclose(actual, expected, rtol=0, atol=1e-12 * scale, err_msg=what)


@pytest.mark.parametrize("kind", KINDS)
def test_forward_equals_reference(kind):
    @settings(max_examples=150)
    @given(case=cases(kinds=(kind,)))
    def check(case):
        out = case.op(*case.arrays, **case.options)
        _assert_close64(out, _reference(case), repr(case))

    check()


@pytest.mark.parametrize("kind", KINDS)
def test_forward_and_gradients_equal_pytorch_in_float64(kind):
    @settings(max_examples=150)
    @given(case=cases(kinds=(kind,)))
    def check(case):
        out, pullback = convzoo.vjp(case.op, *case.arrays, **case.options)
        cotangent = _cotangent(out)
        torch_out, torch_grads = torch_oracle.run(case, cotangent)
        _assert_close64(out, torch_out, f"output of {case!r}")
        for index, (grad, expected) in enumerate(zip(_leaves(pullback(cotangent)), _leaves(torch_grads))):
            _assert_close64(grad, expected, f"gradient {index} of {case!r}")

    check()


@pytest.mark.parametrize("kind", KINDS)
def test_float32_stays_within_the_summation_error_bound(kind):
    @settings(max_examples=60)
    @given(case=cases(kinds=(kind,), dtype=np.float32))
    def check(case):
        out, pullback = convzoo.vjp(case.op, *case.arrays, **case.options)
        assert out.dtype == np.float32
        cotangent = _cotangent(out).astype(np.float32)
        grads = _leaves(pullback(cotangent))
        assert all(grad.dtype == np.float32 for grad in grads)
        exact_out, exact_grads = torch_oracle.run(case, cotangent.astype(np.float64))
        # The same sums over |terms|: the op on absolute values bounds each element's magnitude.
        magnitude = case.with_arrays(tuple(_abs(a) for a in case.arrays))
        bound_out, bound_grads = torch_oracle.run(magnitude, np.abs(cotangent).astype(np.float64))
        terms = _terms(case, out)
        eps = np.finfo(np.float32).eps
        for actual, exact, bound in zip(
            [out, *grads], [exact_out, *_leaves(exact_grads)], [bound_out, *_leaves(bound_grads)]
        ):
            error = np.abs(actual.astype(np.float64) - exact)
            assert np.all(error <= eps * terms * np.abs(bound) + 1e-30), f"{case!r}: max error {error.max()}"

    check()


def _abs(item):
    return [np.abs(a) for a in item] if isinstance(item, list) else np.abs(item)


def _leaves(grads):
    return [g for item in grads for g in (item if isinstance(item, list) else [item])]


def _terms(case, out) -> int:
    """An upper bound on the number of terms in any one sum of the op or its gradients."""
    kernel_terms = int(np.prod([k.size for k in case.kernels]))
    return kernel_terms + out.size + 2


def test_four_spatial_axes_work_too():
    """N-D costs nothing: the engine and the reference are rank-generic (PyTorch stops at 3-D)."""

    @settings(max_examples=10)
    @given(case=cases(ranks=(4,)))
    def check(case):
        _assert_close64(case.op(*case.arrays, **case.options), _reference(case), repr(case))

    check()
