"""Gradients: the adjoint test, finite differences, and what `vjp` returns.

Every op is linear in each of its arrays taken alone (bias aside), so for each array a the
pullback must satisfy <op(..., a, ...), g> = <a, pullback(g)[a]> exactly (up to rounding):
the adjoint test, which checks the gradients against convzoo's own forward pass with no
finite-difference noise. A central finite difference in float64 checks each kind once more
through the public functions only.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings

import convzoo
from cases import KINDS, cases
from convzoo import ConvZooError, ConvZooTypeError


def _flat(grads):
    return [g for item in grads for g in (item if isinstance(item, list) else [item])]


def _replace_leaf(arrays, index, value):
    """`arrays` with its `index`-th array (counting into the kernel list) replaced by `value`."""
    flat_index, rebuilt = 0, []
    for item in arrays:
        if isinstance(item, list):
            rebuilt.append([value if flat_index + i == index else k for i, k in enumerate(item)])
            flat_index += len(item)
        else:
            rebuilt.append(value if flat_index == index else item)
            flat_index += 1
    return tuple(rebuilt)


@pytest.mark.parametrize("kind", KINDS)
def test_vjp_passes_the_adjoint_test_for_every_array(kind):
    @settings(max_examples=60)
    @given(case=cases(kinds=(kind,), bias=False))
    def check(case):
        out, pullback = convzoo.vjp(case.op, *case.arrays, **case.options)
        cotangent = np.random.default_rng(7).standard_normal(out.shape)
        for index, (array, grad) in enumerate(zip(_flat(case.arrays), _flat(pullback(cotangent)))):
            # op is linear in this array alone: <op(a), g> = <a, J^T g>
            direction = np.random.default_rng(index).standard_normal(array.shape)
            moved = case.op(*_replace_leaf(case.arrays, index, direction), **case.options)
            lhs, rhs = np.vdot(moved, cotangent), np.vdot(direction, grad)
            assert np.isclose(lhs, rhs, rtol=1e-10, atol=1e-10), (case, index, lhs, rhs)

    check()


@pytest.mark.parametrize("kind", KINDS)
def test_gradients_match_central_finite_differences_in_float64(kind):
    @settings(max_examples=20)
    @given(case=cases(kinds=(kind,), bias=True))
    def check(case):
        out, pullback = convzoo.vjp(case.op, *case.arrays, **case.options)
        cotangent = np.random.default_rng(3).standard_normal(out.shape)
        loss = lambda arrays: np.vdot(case.op(*arrays, **case.options), cotangent)
        step = 1e-6
        for index, (array, grad) in enumerate(zip(_flat(case.arrays), _flat(pullback(cotangent)))):
            direction = np.random.default_rng(index + 10).standard_normal(array.shape)
            plus = loss(_replace_leaf(case.arrays, index, array + step * direction))
            minus = loss(_replace_leaf(case.arrays, index, array - step * direction))
            numeric, analytic = (plus - minus) / (2 * step), np.vdot(direction, grad)
            assert np.isclose(numeric, analytic, rtol=1e-6, atol=1e-6), (case, index, numeric, analytic)

    check()


def test_bias_gradient_sums_the_cotangent_over_batch_and_positions():
    x, kernel, bias = np.ones((2, 6, 5, 3)), np.ones((3, 3, 3, 4)), np.zeros(4)
    out, pullback = convzoo.vjp(convzoo.conv, x, kernel, bias, data_format="channels_first")
    cotangent = np.random.default_rng(0).standard_normal(out.shape)
    np.testing.assert_allclose(pullback(cotangent)[2], cotangent.sum(axis=(0, 2, 3)))


def test_pullback_mirrors_the_structure_of_the_arrays():
    x = np.ones((1, 5, 5, 2))
    kernels = [np.ones((3, 1, 2, 4)), np.ones((1, 3, 4, 3))]
    out, pullback = convzoo.vjp(convzoo.spatially_separable_conv, x, kernels)
    grads = pullback(np.ones_like(out))
    assert isinstance(grads, tuple) and len(grads) == 2
    assert isinstance(grads[1], list) and [g.shape for g in grads[1]] == [k.shape for k in kernels]
    out, pullback = convzoo.vjp(convzoo.spatially_separable_conv, x, tuple(kernels), np.ones(3))
    input_grad, kernel_grads, bias_grad = pullback(np.ones_like(out))
    assert isinstance(kernel_grads, tuple) and bias_grad.shape == (3,)
    out, pullback = convzoo.vjp(convzoo.conv, x, np.ones((3, 3, 2, 4)), None)
    assert pullback(np.ones_like(out))[2] is None


def test_pullback_returns_each_gradient_in_its_arrays_dtype():
    x16, kernel32, bias16 = np.ones((1, 5, 2), np.float16), np.ones((3, 2, 3), np.float32), np.ones(3, np.float16)
    out, pullback = convzoo.vjp(convzoo.conv, x16, kernel32, bias16)
    assert out.dtype == np.float32
    assert [g.dtype for g in pullback(np.ones(out.shape))] == [np.float16, np.float32, np.float16]
    out, pullback = convzoo.vjp(convzoo.conv, np.ones((1, 5, 2), np.int64), kernel32, np.ones(3, bool))
    assert out.dtype == np.float64  # integers and bools count as float64, and promote
    assert [g.dtype for g in pullback(np.ones(out.shape))] == [np.float64, np.float32, np.float64]


def test_pointwise_kernel_gradient_keeps_the_kernels_shape():
    x = np.ones((2, 4, 4, 3))
    for kernel in (np.ones((3, 5)), np.ones((1, 1, 3, 5))):
        out, pullback = convzoo.vjp(convzoo.pointwise_conv, x, kernel)
        assert pullback(np.ones_like(out))[1].shape == kernel.shape


def test_cotangent_of_the_wrong_shape_is_a_clear_error():
    out, pullback = convzoo.vjp(convzoo.conv, np.ones((1, 5, 5, 1)), np.ones((3, 3, 1, 2)))
    with pytest.raises(ConvZooError, match=r"`cotangent` must have the output's shape \(1, 3, 3, 2\).*\(1, 3, 3\)"):
        pullback(np.ones((1, 3, 3)))


def test_vjp_refuses_what_is_not_a_convzoo_op():
    with pytest.raises(ConvZooTypeError, match="`op` must be one of convzoo's ops"):
        convzoo.vjp(np.convolve, np.ones(3), np.ones(2))


def test_vjp_refuses_arrays_given_by_keyword():
    with pytest.raises(ConvZooTypeError, match="by position.*bias by keyword"):
        convzoo.vjp(convzoo.conv, np.ones((1, 5, 1)), np.ones((3, 1, 1)), bias=np.ones(1))
