"""Keras's semantics, checked against Keras 3.15 itself (JAX backend, CPU, float64).

PyTorch has no equal for Keras's "same" with strides, its transpose "valid" and "same" (with
and without output_padding) or "causal"; the PyTorch oracle re-derives them from Keras's
source. Here Keras computes them: keras.ops for the forward pass, jax.vjp through keras.ops
for the gradients, the Conv1D layer for "causal".
"""

from __future__ import annotations

import jax
import numpy as np
import pytest
from hypothesis import given, settings

jax.config.update("jax_enable_x64", True)
import keras  # noqa: E402  (after enabling float64; conftest has chosen the JAX backend)

import convzoo  # noqa: E402
from cases import cases  # noqa: E402

KERAS_OPS = {
    "conv": keras.ops.conv,
    "transpose": keras.ops.conv_transpose,
    "depthwise": keras.ops.depthwise_conv,
    "separable": keras.ops.separable_conv,
}


def _keras_options(case) -> dict:
    options = {k: v for k, v in case.options.items() if k not in ("padding_mode", "groups")}
    options["padding"] = options["padding"].lower()
    return options


@pytest.mark.parametrize("kind", sorted(KERAS_OPS))
def test_forward_and_gradients_equal_keras(kind):
    # What Keras's ops take: "valid"/"same", zero padding, no bias, no groups on the transpose.
    ranks = (1, 2) if kind in ("depthwise", "separable") else (1, 2, 3)
    groups = (1,) if kind == "transpose" else (1, 2, 3)
    keras_cases = cases(
        kinds=(kind,), ranks=ranks, bias=False, modes=("zeros",), paddings=("valid", "same"), groups=groups
    )

    @settings(max_examples=40)
    @given(case=keras_cases)
    def check(case):
        keras_op = KERAS_OPS[kind]
        options = _keras_options(case)
        expected, keras_pullback = jax.vjp(lambda *arrays: keras_op(*arrays, **options), *case.arrays)
        out, pullback = convzoo.vjp(case.op, *case.arrays, **case.options)
        np.testing.assert_allclose(out, np.asarray(expected), atol=1e-12, err_msg=repr(case))
        cotangent = np.random.default_rng(0).standard_normal(out.shape)
        for grad, keras_grad in zip(pullback(cotangent), keras_pullback(cotangent)):
            np.testing.assert_allclose(grad, np.asarray(keras_grad), atol=1e-12, err_msg=repr(case))

    check()


@pytest.mark.parametrize(
    "padding, output_padding, expected",
    [("same", None, 10), ("same", 0, 9), ("same", 1, 10), ("valid", None, 11), ("valid", 1, 12)],
)
def test_transpose_sizes_measured_in_keras_on_5x5_k3_s2(padding, output_padding, expected):
    """features.md 3.1: the sizes Keras 3.15.1 gave, and Keras again here."""
    x, kernel = np.ones((1, 5, 5, 1)), np.ones((3, 3, 1, 1))
    options = dict(strides=2, padding=padding, output_padding=output_padding)
    out = convzoo.conv_transpose(x, kernel, **options)
    assert out.shape == (1, expected, expected, 1)
    np.testing.assert_array_equal(out, np.asarray(keras.ops.conv_transpose(x, kernel, **options)))


def test_transpose_valid_with_stride_above_kernel_keeps_keras_zero_tail():
    """Keras: (i-1)*s + s = 15 for k=2, s=3, i=5; PyTorch and ONNX give (i-1)*s + k = 14."""
    x = np.arange(1.0, 6.0).reshape(1, 5, 1)
    out = convzoo.conv_transpose(x, np.ones((2, 1, 1)), strides=3)
    assert out.shape == (1, 15, 1)
    assert out[0, -1, 0] == 0.0
    np.testing.assert_array_equal(out, np.asarray(keras.ops.conv_transpose(x, np.ones((2, 1, 1)), strides=3)))
    assert convzoo.conv_transpose(x, np.ones((2, 1, 1)), strides=3, padding=0).shape == (1, 14, 1)


@pytest.mark.parametrize("kernel_size, dilation", [(2, 1), (3, 2), (2, 8), (4, 1)])
def test_causal_equals_keras_conv1d_layer(kernel_size, dilation):
    rng = np.random.default_rng(kernel_size * dilation)
    x, kernel, bias = rng.standard_normal((2, 20, 3)), rng.standard_normal((kernel_size, 3, 4)), rng.standard_normal(4)
    layer = keras.layers.Conv1D(4, kernel_size, padding="causal", dilation_rate=dilation, dtype="float64")
    layer.build(x.shape)
    layer.set_weights([kernel, bias])
    out = convzoo.conv(x, kernel, bias, padding="causal", dilation_rate=dilation)
    np.testing.assert_allclose(out, np.asarray(layer(x)), atol=1e-12)


def test_same_with_even_kernel_puts_the_odd_pad_at_the_end():
    """features.md 4.2: a k=4 delta at tap 0 over 1..6 gives [0,1,2,3,4,5] (pads 1 before, 2 after)."""
    x, delta = np.arange(1.0, 7.0).reshape(1, 6, 1), np.array([1.0, 0, 0, 0]).reshape(4, 1, 1)
    out = convzoo.conv(x, delta, padding="same")
    np.testing.assert_array_equal(out[0, :, 0], [0, 1, 2, 3, 4, 5])
    np.testing.assert_array_equal(out, np.asarray(keras.ops.conv(x, delta, padding="same")))
