"""convzoo's layers against PyTorch modules, forward and gradients, weights moved by interop.

Two directions: random convzoo layers turned into modules by `to_torch` (which copies the
weights to PyTorch's layouts), and random PyTorch modules turned into layers by
`from_torch`. Outputs and every gradient (input and weights) are compared in float64;
weight gradients are compared in PyTorch's layout by passing them through
`to_torch_weights`, which is linear in the weights.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from convzoo import ConvZooError, ConvZooTypeError, layers
from convzoo.interop import from_torch, to_torch, to_torch_weights

torch.set_num_threads(1)
FAMILIES = ("conv", "transpose", "depthwise", "separable", "spatial", "pointwise")
CLASSES = {
    "conv": {1: layers.Conv1D, 2: layers.Conv2D, 3: layers.Conv3D},
    "transpose": {1: layers.Conv1DTranspose, 2: layers.Conv2DTranspose, 3: layers.Conv3DTranspose},
    "depthwise": {1: layers.DepthwiseConv1D, 2: layers.DepthwiseConv2D, 3: layers.DepthwiseConv3D},
    "separable": {1: layers.SeparableConv1D, 2: layers.SeparableConv2D, 3: layers.SeparableConv3D},
    "spatial": {2: layers.SpatiallySeparableConv2D, 3: layers.SpatiallySeparableConv3D},
    "pointwise": {1: layers.PointwiseConv1D, 2: layers.PointwiseConv2D, 3: layers.PointwiseConv3D},
}
ACTIVATIONS = (None, "relu", "tanh", "sigmoid", "leaky_relu", "elu", "silu", "softplus")


@st.composite
def layer_configs(draw):
    family = draw(st.sampled_from(FAMILIES))
    rank = draw(st.sampled_from(sorted(CLASSES[family])))
    per_axis = lambda low, high: tuple(draw(st.integers(low, high)) for _ in range(rank))  # noqa: E731
    options = dict(
        activation=draw(st.sampled_from(ACTIVATIONS)),
        use_bias=draw(st.booleans()),
        data_format=draw(st.sampled_from(["channels_last", "channels_first"])),
        dtype="float64",
        seed=draw(st.integers(0, 2**16)),
    )
    groups = draw(st.sampled_from([1, 2])) if family in ("conv", "transpose") else 1
    in_channels = groups * draw(st.integers(1, 2))
    if family != "pointwise":
        options.update(kernel_size=per_axis(1, 3), strides=per_axis(1, 2), dilation_rate=per_axis(1, 2))
        strings = ["valid", "same"] + (["full"] if family != "transpose" else []) + (["causal"] if rank == 1 else [])
        padding = draw(st.one_of(st.sampled_from(strings), st.just(per_axis(0, 2))))
        if family == "transpose" and padding == "full" or (padding == "causal" and family == "transpose"):
            padding = "valid"
        if family != "transpose" and draw(st.booleans()):
            padding = tuple(zip(per_axis(0, 2), per_axis(0, 2)))  # asymmetric pairs
        options["padding"] = padding
    if family in ("conv", "transpose"):
        options["groups"] = groups
    if family in ("depthwise", "separable"):
        options["depth_multiplier"] = draw(st.integers(1, 2))
    if family in ("conv", "depthwise", "separable", "spatial"):
        options["padding_mode"] = draw(st.sampled_from(["zeros", "reflect", "replicate", "circular"]))
    if family == "transpose" and draw(st.booleans()):
        limits = [
            max(s, d) if not isinstance(options["padding"], str) else s
            for s, d in zip(options["strides"], options["dilation_rate"])
        ]
        options["output_padding"] = tuple(draw(st.integers(0, limit - 1)) for limit in limits)
    if family == "spatial" and draw(st.booleans()):
        options["intermediate_filters"] = draw(st.integers(1, 3))
    filters = None if family == "depthwise" else groups * draw(st.integers(1, 2))
    cls = CLASSES[family][rank]
    args = () if family == "depthwise" else (filters,)
    sizes = per_axis(1, 6)
    return cls, args, options, in_channels, sizes


def _channels_first(array, layer):
    return array if layer.data_format == "channels_first" else np.moveaxis(array, -1, 1)


def _build(config):
    cls, args, options, in_channels, sizes = config
    layer = cls(*args, **options)
    shape = (2, *sizes, in_channels) if layer.data_format == "channels_last" else (2, in_channels, *sizes)
    try:
        layer.arithmetic(shape)
    except ConvZooError:
        assume(False)  # an empty output or a padding the mode cannot fill: not a valid configuration
    return layer, shape


def _torch_grads(module, x, grad):
    x_t = torch.tensor(x, requires_grad=True)
    y_t = module(x_t)
    (y_t * torch.tensor(grad)).sum().backward()
    return y_t.detach().numpy(), x_t.grad.numpy(), {name: p.grad.numpy() for name, p in module.named_parameters()}


def _compare(layer, x, module=None):
    """The layer's output and gradients equal the module's, in channels-first terms."""
    rng = np.random.default_rng(1)
    out = layer(x)
    module = module if module is not None else to_torch(layer)
    grad = rng.standard_normal(out.shape)
    x_grad = layer.backward(grad)
    torch_out, torch_x_grad, torch_grads = _torch_grads(module, _channels_first(x, layer), _channels_first(grad, layer))
    np.testing.assert_allclose(_channels_first(out, layer), torch_out, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(_channels_first(x_grad, layer), torch_x_grad, rtol=1e-10, atol=1e-10)
    as_layer = copy.deepcopy(layer)
    as_layer.set_weights(layer.gradients)
    expected = {name: value.numpy() for name, value in to_torch_weights(as_layer, x.shape).items()}
    assert sorted(expected) == sorted(torch_grads)
    for name, value in torch_grads.items():
        np.testing.assert_allclose(expected[name], value, rtol=1e-9, atol=1e-10, err_msg=name)


@settings(max_examples=60)
@given(layer_configs())
def test_every_layer_matches_its_torch_module_forward_and_gradients(config):
    layer, shape = _build(config)
    x = np.random.default_rng(0).standard_normal(shape)
    _compare(layer, x)


# -- from_torch: PyTorch modules in -------------------------------------------------------------
@st.composite
def torch_convs(draw):
    rank = draw(st.integers(1, 3))
    transpose = draw(st.booleans())
    per_axis = lambda low, high: tuple(draw(st.integers(low, high)) for _ in range(rank))  # noqa: E731
    groups = draw(st.sampled_from([1, 2, 3]))
    in_channels, out_channels = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    kernel, dilation = per_axis(1, 3), per_axis(1, 2)
    options = dict(dilation=dilation, groups=groups, bias=draw(st.booleans()), dtype=torch.float64)
    if transpose:
        strides = per_axis(1, 3)
        options.update(stride=strides, padding=per_axis(0, 2))
        options["output_padding"] = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(strides, dilation))
        module = getattr(torch.nn, f"ConvTranspose{rank}d")(in_channels, out_channels, kernel, **options)
    else:
        padding = draw(st.one_of(st.sampled_from(["same", "valid"]), st.just(per_axis(0, 2))))
        strides = (1,) * rank if padding == "same" else per_axis(1, 2)
        mode = draw(st.sampled_from(["zeros", "reflect", "replicate", "circular"]))
        options.update(stride=strides, padding=padding, padding_mode=mode)
        module = getattr(torch.nn, f"Conv{rank}d")(in_channels, out_channels, kernel, **options)
    return module, (2, in_channels, *per_axis(3, 7))


@settings(max_examples=50)
@given(torch_convs())
def test_from_torch_converts_every_conv_and_transpose_setting(case):
    module, shape = case
    x = np.random.default_rng(0).standard_normal(shape)
    try:
        module(torch.tensor(x))
    except RuntimeError:
        assume(False)  # PyTorch refuses it too (an input smaller than the kernel, a too-wide reflect)
    layer = from_torch(module)
    _compare(layer, x, module)
    module.load_state_dict(to_torch_weights(layer))  # names and layouts fit the module they came from


def test_from_torch_channels_last_takes_nhwc_arrays():
    module = torch.nn.Conv2d(4, 6, (3, 2), stride=(2, 1), padding=(1, 0), groups=2, padding_mode="circular").double()
    x = np.random.default_rng(0).standard_normal((2, 4, 7, 5))
    layer = from_torch(module, data_format="channels_last")
    expected = module(torch.tensor(x)).detach().numpy()
    np.testing.assert_allclose(layer(np.moveaxis(x, 1, -1)), np.moveaxis(expected, 1, -1), rtol=1e-12)


def small_cnn() -> torch.nn.Sequential:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1, padding_mode="reflect"),
        torch.nn.BatchNorm2d(8),
        torch.nn.ReLU(),
        torch.nn.Conv2d(8, 8, 3, stride=2, groups=8, padding="valid"),  # depthwise
        torch.nn.Conv2d(8, 12, 1),  # pointwise
        torch.nn.LeakyReLU(0.1),
        torch.nn.Conv2d(12, 12, 3, dilation=2, groups=3, padding=2),  # dilated, grouped
        torch.nn.ConvTranspose2d(12, 6, 4, stride=2, padding=1, output_padding=1, groups=2),
        torch.nn.SiLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.AvgPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Dropout(0.5),
        torch.nn.Linear(6 * 2 * 2, 5),
        torch.nn.Tanh(),
    ).double()


def test_a_small_cnn_built_in_torch_gives_the_same_outputs_and_gradients():
    module = small_cnn()
    with torch.no_grad():  # non-trivial running statistics
        module[1].running_mean.uniform_(-1, 1)
        module[1].running_var.uniform_(0.5, 2)
    module.eval()
    model = from_torch(module)
    x = np.random.default_rng(0).standard_normal((2, 3, 9, 9))
    out = model(x)
    grad = np.random.default_rng(1).standard_normal(out.shape)
    x_grad = model.backward(grad)
    torch_out, torch_x_grad, torch_grads = _torch_grads(module, x, grad)
    np.testing.assert_allclose(out, torch_out, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(x_grad, torch_x_grad, rtol=1e-10, atol=1e-12)
    grads = copy.deepcopy(model)
    grads.set_weights(model.gradients)
    expected = to_torch_weights(grads)
    for name, value in torch_grads.items():
        np.testing.assert_allclose(expected[name].numpy(), value, rtol=1e-9, atol=1e-12, err_msg=name)
    assert [type(layer).__name__ for layer in model.layers][:4] == [
        "Conv2D",
        "BatchNormalization",
        "Activation",
        "Conv2D",
    ]


def test_to_torch_weights_loads_back_into_the_source_sequential():
    module = small_cnn()
    model = from_torch(module)
    model.set_weights([w * 2 for w in model.get_weights()])
    module.load_state_dict(to_torch_weights(model))
    assert torch.equal(module[0].weight, 2 * small_cnn()[0].weight)


def test_unknown_modules_are_named():
    with pytest.raises(ConvZooTypeError, match=r"Module GELU is not supported"):
        from_torch(torch.nn.GELU())
    with pytest.raises(ConvZooTypeError, match=r"nn.Sequential module 1 \(position 1\): Module LSTM is not supported"):
        from_torch(torch.nn.Sequential(torch.nn.Conv1d(1, 1, 1), torch.nn.LSTM(1, 1)))
    with pytest.raises(ConvZooError, match=r"MaxPool2d: `padding` must be 0"):
        from_torch(torch.nn.MaxPool2d(3, padding=1))
    with pytest.raises(ConvZooError, match=r"Flatten: .* convert with data_format='channels_first'"):
        from_torch(torch.nn.Flatten(), data_format="channels_last")
