"""The layers' own contract: shapes and parameters from convzoo.arithmetic, weights, errors,
gradients of the non-convolution helpers, initializers, and Sequential."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convzoo import ConvZooError, arithmetic, layers
from convzoo.layers import activations, initializers

CONV_LAYERS = [
    (layers.Conv2D, (6, 3), dict(strides=2, padding="same", groups=3), "conv"),
    (layers.Conv1D, (4, 5), dict(padding="causal", dilation_rate=2), "conv"),
    (layers.Conv3DTranspose, (6, 2), dict(strides=2, groups=3, output_padding=1, padding="same"), "transpose"),
    (layers.DepthwiseConv2D, (3,), dict(depth_multiplier=2, padding_mode="reflect", padding="same"), "depthwise"),
    (layers.SeparableConv3D, (5, 3), dict(depth_multiplier=2, padding=((1, 0), 1, (0, 2))), "separable"),
    (layers.SpatiallySeparableConv2D, (5, 3), dict(intermediate_filters=2, strides=(2, 1)), "spatially-separable"),
    (layers.PointwiseConv2D, (5,), dict(use_bias=False), "pointwise"),
]


@pytest.mark.parametrize("cls, args, kwargs, kind", CONV_LAYERS, ids=[c[0].__name__ for c in CONV_LAYERS])
def test_shapes_and_parameters_are_the_arithmetic_layers(cls, args, kwargs, kind):
    layer = cls(*args, **kwargs, seed=0)
    shape = (2, *(7,) * layer.rank, 3)
    out = layer(np.ones(shape))
    resolved = layer.arithmetic(shape)
    assert resolved.kind == kind
    assert out.shape == resolved.output_shape == layer.compute_output_shape(shape)
    assert layer.compute_output_shape((None, *shape[1:])) == (None, *out.shape[1:])
    assert [w.shape for w in layer.get_weights()[: len(arithmetic.kernel_shapes(resolved))]] == [
        tuple(s) if kind != "pointwise" else (1, 1, *s) for s in arithmetic.kernel_shapes(resolved)
    ]
    assert layer.count_params() == arithmetic.parameters(resolved).total


def test_layers_build_lazily_or_from_set_weights():
    layer = layers.Conv2D(4, 3, groups=2)
    assert not layer.built and layer.get_weights() == []
    layer.set_weights([np.ones((3, 3, 3, 4)), np.zeros(4)])  # 6 input channels follow from the kernel
    assert layer.in_channels == 6
    np.testing.assert_allclose(layer(np.ones((1, 3, 3, 6)))[0, 0, 0], 27.0)
    with pytest.raises(ConvZooError, match=r"Layer 'conv2d\w*' \(Conv2D\) was built for 6 input channels"):
        layer(np.ones((1, 3, 3, 4)))


def test_set_weights_with_wrong_shapes_names_the_layer_and_the_weight():
    layer = layers.SeparableConv2D(8, 3, name="sep")
    layer(np.ones((1, 5, 5, 3)))
    with pytest.raises(
        ConvZooError,
        match=r"Layer 'sep' \(SeparableConv2D\): weight 'pointwise_kernel' must have shape \(1, 1, 3, 8\)\. "
        r"Received: pointwise_kernel\.shape=\(1, 1, 3, 7\)\.",
    ):
        layer.set_weights([np.ones((3, 3, 3, 1)), np.ones((1, 1, 3, 7)), np.ones(8)])
    with pytest.raises(ConvZooError, match=r"Layer 'sep' \(SeparableConv2D\) has 3 weights \(depthwise_kernel, "):
        layer.set_weights([np.ones((3, 3, 3, 1))])
    with pytest.raises(ConvZooError, match=r"Layer 'x' \(Conv1D\): weight 'kernel' must have rank 3"):
        layers.Conv1D(2, 3, name="x").set_weights([np.ones((3, 2)), np.ones(2)])


def test_bad_arguments_name_them():
    with pytest.raises(ConvZooError, match=r"`groups` must divide `filters`. Received: groups=3, filters=4"):
        layers.Conv2D(4, 3, groups=3)
    with pytest.raises(ConvZooError, match=r"`padding` must be one of 'valid', 'same'"):
        layers.Conv2DTranspose(4, 3, padding="full")
    with pytest.raises(ConvZooError, match=r"`activation` must be None or one of"):
        layers.Conv2D(4, 3, activation="gelu")
    with pytest.raises(ConvZooError, match=r"`kernel_initializer` must be one of 'zeros'"):
        layers.Conv2D(4, 3, kernel_initializer="orthogonalish")
    with pytest.raises(ConvZooError, match=r"Layer 'small' \(Conv2D\): .*output would be empty"):
        layers.Conv2D(4, 5, name="small")(np.ones((1, 3, 3, 1)))
    with pytest.raises(ConvZooError, match=r"call the layer on an input before calling backward"):
        layers.Conv2D(4, 3).backward(np.ones(1))


def test_repr_shows_the_keras_call():
    layer = layers.Conv2D(32, 3, strides=2, padding="same", activation="relu", name="c")
    assert (
        repr(layer)
        == "Conv2D(filters=32, kernel_size=(3, 3), strides=(2, 2), padding='same', activation='relu', name='c')"
    )
    assert repr(layers.DepthwiseConv1D(3, name="d")) == "DepthwiseConv1D(kernel_size=(3,), name='d')"


@pytest.mark.parametrize("name", ["glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_normal"])
def test_variance_scaling_initializers_have_kerass_variance(name):
    shape = (3, 3, 16, 32)
    fan_in, fan_out = initializers.fans(shape)
    scale, n = {"glorot": (1, (fan_in + fan_out) / 2), "he": (2, fan_in), "lecun": (1, fan_in)}[name.split("_")[0]]
    values = initializers.get(name, "kernel_initializer")(shape, np.float64, np.random.default_rng(0))
    assert abs(values.var() / (scale / n) - 1) < 0.08
    if name.endswith("normal"):
        assert np.abs(values).max() <= 2 * np.sqrt(scale / n) / 0.87962566103423978


def test_a_seed_makes_the_weights_reproducible():
    first, second = layers.Conv2D(4, 3, seed=7), layers.Conv2D(4, 3, seed=7)
    first.build((1, 5, 5, 2)), second.build((1, 5, 5, 2))
    np.testing.assert_array_equal(first.get_weights()[0], second.get_weights()[0])
    assert first.get_weights()[0].dtype == np.float32


def _check_gradient(layer, x, rng):
    """The input gradient and every weight gradient by central finite differences."""
    out = layer(x)
    grad = rng.standard_normal(out.shape)
    x_grad = layer.backward(grad)
    loss = lambda: float((layer(x) * grad).sum())  # noqa: E731
    step = 1e-6
    weights = []
    for name, weight_grad in zip(layer.weight_names, layer.gradients):
        if name.startswith("moving_"):  # not trained: a zero gradient, so that sgd_step leaves it alone
            assert not weight_grad.any()
        else:
            weights.append((layer._weights[name], weight_grad))
    for array, analytic in [(x, x_grad), *weights]:
        for index in list(np.ndindex(array.shape))[:: max(1, array.size // 12)]:
            saved = array[index]
            array[index] = saved + step
            up = loss()
            array[index] = saved - step
            down = loss()
            array[index] = saved
            assert abs((up - down) / (2 * step) - analytic[index]) < 1e-5 * (1 + abs(analytic[index]))


HELPERS = [
    lambda: layers.Dense(3, activation="tanh", dtype="float64"),
    lambda: layers.Dense(2, dtype="float64"),
    lambda: layers.MaxPooling2D(3, strides=2, padding="same"),
    lambda: layers.MaxPooling1D(2, data_format="channels_first"),
    lambda: layers.AveragePooling2D(2, strides=1, padding="same"),
    lambda: layers.AveragePooling3D((2, 1, 2)),
    lambda: layers.BatchNormalization(dtype="float64"),
    lambda: layers.Flatten(data_format="channels_first"),
    *(lambda name=name: layers.Activation(name) for name in activations.ACTIVATIONS),
    lambda: layers.LeakyReLU(0.1),
    lambda: layers.Conv2D(2, 2, activation="softmax", dtype="float64"),
]
SHAPES = {"Dense": (2, 4), "MaxPooling1D": (2, 3, 7), "AveragePooling3D": (1, 4, 3, 5, 2)}


@pytest.mark.parametrize("make", HELPERS)
def test_helper_gradients_by_finite_differences(make):
    rng = np.random.default_rng(0)
    layer = make()
    x = rng.standard_normal(SHAPES.get(type(layer).__name__, (2, 5, 6, 3)))
    if isinstance(layer, layers.BatchNormalization):
        layer.build(x.shape)
        layer.set_weights(
            [rng.uniform(0.5, 2, 3), rng.standard_normal(3), rng.standard_normal(3), rng.uniform(0.5, 2, 3)]
        )
    _check_gradient(layer, x, rng)


def test_pooling_matches_keras_rules_on_same_padding():
    x = np.arange(1.0, 26.0).reshape(1, 5, 5, 1)
    out = layers.AveragePooling2D(2, padding="same")(x)
    assert out.shape == (1, 3, 3, 1)
    assert out[0, 2, 2, 0] == 25.0  # the padding is not counted in the average
    assert out[0, 0, 2, 0] == (5 + 10) / 2
    assert layers.MaxPooling2D(2, padding="same")(-x)[0, 2, 2, 0] == -25.0  # nor does it win a max


@settings(max_examples=10)
@given(st.integers(0, 1000))
def test_sequential_backward_and_sgd_reduce_a_loss(seed):
    rng = np.random.default_rng(seed)
    model = layers.Sequential(
        [
            layers.Conv2D(4, 3, padding="same", activation="relu", dtype="float64", seed=seed),
            layers.SeparableConv2D(4, 3, strides=2, dtype="float64", seed=seed),
            layers.Flatten(),
            layers.Dense(2, dtype="float64", seed=seed),
        ]
    )
    x, target = rng.standard_normal((4, 6, 6, 2)), rng.standard_normal((4, 2))
    losses = []
    for _ in range(5):
        error = model(x) - target
        losses.append(float((error**2).mean()))
        model.backward(2 * error / error.size)
        model.sgd_step(0.05)
    assert losses[-1] < losses[0]
    assert len(model.gradients) == len(model.get_weights()) == 7


def test_summary_rows_come_from_arithmetic():
    model = layers.Sequential([layers.Conv2DTranspose(8, 3, strides=2, padding="same", name="up")], name="m")
    lines = []
    model.summary(input_shape=(None, 14, 14, 4), print_fn=lines.append)
    resolved = model.layers[0].arithmetic((1, 14, 14, 4))
    row = next(line for line in lines if "up (Conv2DTranspose)" in line)
    assert "(None, 28, 28, 8)" in row
    assert f"{arithmetic.parameters(resolved).total:,}" in row and f"{arithmetic.macs(resolved):,}" in row
    with pytest.raises(ConvZooError, match=r"give `input_shape` or call the model"):
        layers.Sequential([layers.Flatten()]).summary()


def test_the_examples_in_docs_layers_md_run():
    import doctest
    from pathlib import Path

    path = Path(__file__).parent.parent / "docs" / "layers.md"
    result = doctest.testfile(str(path), module_relative=False, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 5 and result.failed == 0
