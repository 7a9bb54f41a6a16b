"""Tests of `convzoo.arithmetic` beyond the shape rules: layers, costs and receptive fields.

Each figure is checked against something independent of the formula that computes it:
- output shapes and parameter counts against the core ops' actual arrays (`tests/cases.py`);
- parameter counts against PyTorch's `sum(p.numel())` and Keras's `count_params()`;
- MACs against hand-worked examples (the working is in the comments), the measured table of
  docs features.md section 3.7, and PyTorch's FlopCounterMode (2 FLOPs per MAC);
- receptive fields against the Distill article's worked examples and published table, and
  against brute force: a batch of one-hot inputs through the real core ops shows which input
  pixels change which outputs.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

import numpy as np
import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st
from torch.utils.flop_counter import FlopCounterMode

from cases import cases
from convzoo import ConvZooError
from convzoo.arithmetic import (
    KINDS,
    Layer,
    ReceptiveField,
    applied_padding,
    bias_adds,
    conv_output_size,
    flops,
    interior_outputs,
    macs,
    memory,
    output_size_formulas,
    parameters,
    receptive_field,
    shared_layer,
    stack,
    stack_receptive_fields,
)
from convzoo.kinds import KINDS as KIND_TABLE

# --------------------------------------------------------------------------------------------
# Output sizes and padding, by hand
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options, out_sizes, padding",
    [
        # D&V relationship 6: floor((5 + 2 - 3) / 2) + 1 = 3
        (dict(kernel_size=3, strides=2, padding=1), (3,), ((1, 1),)),
        # "same", stride 2 on 6: o = 3, total = (3-1)*2 + 3 - 6 = 1, the odd pixel after
        (dict(kernel_size=3, strides=2, padding="same", in_sizes=6), (3,), ((0, 1),)),
        # even kernel, "same": total 3 -> (1, 2) (Keras, PyTorch, JAX 'SAME')
        (dict(kernel_size=4, padding="same", in_sizes=6), (6,), ((1, 2),)),
        # dilation 2: k_eff = 5, floor((7 - 5) / 1) + 1 = 3 (the conv_arithmetic GIF)
        (dict(kernel_size=3, dilation_rate=2, in_sizes=7), (3,), ((0, 0),)),
        # causal: d*(k-1) = 4 before, nothing after, output as long as the input
        (dict(kernel_size=3, dilation_rate=2, padding="causal", in_sizes=7), (7,), ((4, 0),)),
        # full: k-1 on both sides, o = 5 + 3 - 1 = 7 (relationship 4)
        (dict(kernel_size=3, padding="full"), (7,), ((2, 2),)),
    ],
)
def test_conv_output_sizes_and_padding_by_hand(options, out_sizes, padding):
    options = dict(dict(in_sizes=5), **options)
    layer = Layer("conv", options.pop("in_sizes"), 1, filters=1, **options)
    assert layer.out_sizes == out_sizes
    assert applied_padding(layer) == padding


@pytest.mark.parametrize(
    "in_size, options, out_size, crop",
    [
        # The measured Keras values on 5, k=3, s=2 (features.md 3.1)
        (5, dict(padding="same"), 10, (0, 1)),
        (5, dict(padding="same", output_padding=0), 9, (1, 1)),
        # Keras pads the stretched input by (k_eff-1) - crop: pad_len 3+1-2+1 = 3, left 2 -> (0, 1)
        (5, dict(padding="same", output_padding=1), 10, (0, 1)),
        (5, dict(padding="valid"), 11, (0, 0)),
        (5, dict(padding="valid", output_padding=1), 12, (0, -1)),
        # Keras "valid" with s > k: (5-1)*3 + max(2, 3) = 15, one zero appended
        (5, dict(kernel_size=2, strides=3), 15, (0, -1)),
        # PyTorch ConvTranspose1d(k3, s2, p1, op1) on 3: (3-1)*2 - 2 + 2 + 1 + 1 = 6
        (3, dict(padding=1, output_padding=1), 6, (1, 0)),
    ],
)
def test_transpose_output_sizes_and_crops_by_hand(in_size, options, out_size, crop):
    options = dict(dict(kernel_size=3, strides=2), **options)
    layer = Layer("transpose", in_size, 1, filters=1, **options)
    assert layer.out_sizes == (out_size,)
    assert applied_padding(layer) == (crop,)


@given(
    st.integers(1, 12), st.integers(1, 4), st.integers(1, 3), st.integers(1, 3), st.integers(-2, 4), st.integers(-2, 4)
)
def test_interior_outputs_are_those_whose_taps_all_land_inside(i, k, s, d, before, after):
    """Brute force over every output and tap (crops included)."""
    o = conv_output_size(i, k, s, (before, after), d)
    assume(o >= 1)
    inside = [all(0 <= out * s + t * d - before < i for t in range(k)) for out in range(o)]
    lo, hi = interior_outputs(i, k, s, (before, after), d)
    assert 0 <= lo <= hi <= o
    assert inside == [lo <= out < hi for out in range(o)]


def test_output_size_formulas_are_written_with_the_numbers():
    conv = Layer("conv", (28, 9), 3, filters=8, kernel_size=(3, 2), strides=(2, 1), padding="same")
    assert output_size_formulas(conv) == (
        "floor((28 + 0 + 1 - 1*(3-1) - 1) / 2) + 1 = 14",
        "floor((9 + 0 + 1 - 1*(2-1) - 1) / 1) + 1 = 9",
    )
    transpose = Layer("transpose", (5,), 1, filters=1, kernel_size=3, strides=2, padding="valid", output_padding=1)
    assert output_size_formulas(transpose) == ("(5-1)*2 + 1*(3-1) + 1 - 0 + 1 = 12",)


def test_shapes_follow_the_data_format_and_a_huge_input_is_never_allocated():
    layer = Layer("conv", (100_000, 100_000), 3, filters=32, kernel_size=3, batch=2, data_format="channels_first")
    assert layer.output_shape == (2, 32, 99_998, 99_998)
    assert macs(layer) == 2 * 99_998**2 * 32 * 27
    assert memory(layer).inputs == 2 * 3 * 10**10 * 4


# --------------------------------------------------------------------------------------------
# The core ops agree: shapes, kernel sizes and bytes over random cases of every kind
# --------------------------------------------------------------------------------------------

CASE_KINDS = {"spatially_separable": "spatially-separable"}


def layer_of(case) -> Layer:
    """The `Layer` that describes one core call of `tests/cases.py`."""
    x, options = case.arrays[0], case.options
    channels_last = options.get("data_format", "channels_last") == "channels_last"
    sizes, channels = (x.shape[1:-1], x.shape[-1]) if channels_last else (x.shape[2:], x.shape[1])
    fields = dict(batch=x.shape[0], itemsize=x.itemsize, use_bias=case.bias is not None)
    fields.update((name, value) for name, value in options.items() if name != "groups")
    kernels = case.kernels
    if case.kind == "conv":
        fields.update(kernel_size=kernels[0].shape[:-2], groups=channels // kernels[0].shape[-2])
    elif case.kind == "transpose":
        groups = options.get("groups", 1)
        fields.update(kernel_size=kernels[0].shape[:-2], groups=groups, filters=kernels[0].shape[-2] * groups)
    elif case.kind in ("depthwise", "separable"):
        fields.update(kernel_size=kernels[0].shape[:-2], depth_multiplier=kernels[0].shape[-1])
    elif case.kind == "spatially_separable":
        rank = len(kernels)
        fields.update(kernel_size=tuple(kernel.shape[axis] for axis, kernel in enumerate(kernels)))
        if rank > 1:
            fields["intermediate_filters"] = tuple(kernel.shape[-1] for kernel in kernels[:-1])
    if case.kind != "depthwise":
        fields.setdefault("filters", kernels[-1].shape[-1])
    return Layer(CASE_KINDS.get(case.kind, case.kind), tuple(sizes), channels, **fields)


@given(cases())
def test_shapes_parameters_and_bytes_equal_the_core_ops(case):
    layer = layer_of(case)
    out = case.op(*case.arrays, **case.options)
    assert layer.output_shape == out.shape
    assert layer.input_shape == case.arrays[0].shape
    weights = sum(kernel.size for kernel in case.kernels) + (0 if case.bias is None else case.bias.size)
    assert parameters(layer).total == weights
    assert memory(layer).outputs == out.nbytes and memory(layer).weights == weights * layer.itemsize


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_of_the_table_runs_with_the_shapes_it_describes(kind):
    layer = KIND_TABLE[kind].layer(batch=2)
    assert KIND_TABLE[kind].build(layer, np.random.default_rng(0))().shape == layer.output_shape


# --------------------------------------------------------------------------------------------
# Parameters: PyTorch's sum(p.numel()) and Keras's count_params()
# --------------------------------------------------------------------------------------------

TORCH_CONV = {1: torch.nn.Conv1d, 2: torch.nn.Conv2d, 3: torch.nn.Conv3d}
TORCH_TRANSPOSE = {1: torch.nn.ConvTranspose1d, 2: torch.nn.ConvTranspose2d, 3: torch.nn.ConvTranspose3d}


def torch_modules(layer: Layer) -> list[torch.nn.Module]:
    """The PyTorch modules equal to `layer` (explicit integer padding), bias on the last only."""
    rank, k, c, f = layer.rank, layer.kernel_size, layer.in_channels, layer.filters
    pads = 0 if isinstance(layer.padding, str) else tuple(before for before, _ in layer.padding)
    sliding = dict(stride=layer.strides, padding=pads, dilation=layer.dilation_rate)
    conv = TORCH_CONV[rank]
    if layer.kind == "transpose":
        return [
            TORCH_TRANSPOSE[rank](
                c, f, k, output_padding=layer.output_padding or 0, groups=layer.groups, bias=layer.use_bias, **sliding
            )
        ]
    if layer.kind == "pointwise":
        return [conv(c, f, 1, bias=layer.use_bias)]
    if layer.kind in ("depthwise", "separable"):
        spread = c * layer.depth_multiplier
        depthwise = conv(c, spread, k, groups=c, bias=layer.use_bias and layer.kind == "depthwise", **sliding)
        return [depthwise] if layer.kind == "depthwise" else [depthwise, conv(spread, f, 1, bias=layer.use_bias)]
    if layer.kind == "spatially-separable":
        channels = (c, *layer.intermediate_filters, f)
        return [
            conv(
                channels[axis],
                channels[axis + 1],
                tuple(size if a == axis else 1 for a, size in enumerate(k)),
                stride=tuple(s if a == axis else 1 for a, s in enumerate(layer.strides)),
                padding=tuple(p if a == axis else 0 for a, p in enumerate(pads)),
                dilation=tuple(d if a == axis else 1 for a, d in enumerate(layer.dilation_rate)),
                bias=layer.use_bias and axis == rank - 1,
            )
            for axis in range(rank)
        ]
    return [conv(c, f, k, groups=layer.groups, bias=layer.use_bias, **sliding)]


@st.composite
def torch_layers(draw, kinds=KINDS):
    """A random layer PyTorch can also build: symmetric integer padding, output_padding < max(s, d)."""
    kind = draw(st.sampled_from(kinds))
    rank = draw(st.integers(1, 3))
    axes = lambda low, high: tuple(draw(st.integers(low, high)) for _ in range(rank))
    groups = draw(st.sampled_from([1, 2, 3])) if kind in ("conv", "grouped", "transpose") else 1
    fields = dict(
        in_channels=groups * draw(st.integers(1, 3)),
        filters=groups * draw(st.integers(1, 3)),
        batch=draw(st.integers(1, 2)),
        use_bias=draw(st.booleans()),
    )
    if kind != "pointwise":
        fields.update(kernel_size=axes(1, 3), strides=axes(1, 3), dilation_rate=axes(1, 2), padding=axes(0, 2))
    if kind in ("conv", "grouped", "dilated", "transpose"):
        fields["groups"] = groups
    if kind in ("depthwise", "separable"):
        fields["depth_multiplier"] = draw(st.integers(1, 3))
        if kind == "depthwise":
            fields.pop("filters")
    if kind == "transpose":
        limits = [max(s, d) for s, d in zip(fields["strides"], fields["dilation_rate"])]
        fields["output_padding"] = tuple(draw(st.integers(0, limit - 1)) for limit in limits)
    if kind == "spatially-separable" and rank > 1:
        fields["intermediate_filters"] = draw(st.integers(1, 3))
    spans = [
        d * (k - 1) + 1
        for k, d in zip(fields.get("kernel_size", (1,) * rank), fields.get("dilation_rate", (1,) * rank))
    ]
    in_sizes = tuple(draw(st.integers(max(span, 1), span + 4)) for span in spans)
    try:
        return Layer(kind, in_sizes, **fields)
    except ConvZooError:  # a transpose whose padding crops its whole output
        assume(False)


@given(torch_layers())
def test_parameters_equal_pytorch_numel(layer):
    modules = torch_modules(layer)
    assert parameters(layer).total == sum(p.numel() for module in modules for p in module.parameters())
    assert parameters(layer).bias == (layer.filters if layer.use_bias else 0)


@given(torch_layers())
def test_flops_equal_pytorch_flop_counter(layer):
    """FlopCounterMode counts 2 FLOPs per MAC and, like us, no bias adds."""
    x = torch.zeros((layer.batch, layer.in_channels, *layer.in_sizes))
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        for module in torch_modules(layer):
            x = module(x)
    assert tuple(x.shape[2:]) == layer.out_sizes
    assert flops(layer) == 2 * macs(layer) == counter.get_total_flops()


@pytest.mark.parametrize(
    "kind, options, count",
    [
        # Keras's documented counts: SeparableConv2D(32, (3, 3)) on 3 channels = 3*3*3 + 3*32 + 32
        ("separable", dict(filters=32, kernel_size=3), 155),
        ("conv", dict(filters=32, kernel_size=3), 3 * 3 * 3 * 32 + 32),  # 896
        ("depthwise", dict(kernel_size=3, depth_multiplier=2), 3 * 3 * 3 * 2 + 6),  # 60
        ("pointwise", dict(filters=32), 3 * 32 + 32),  # 128
        ("transpose", dict(filters=16, kernel_size=4, strides=2), 4 * 4 * 16 * 3 + 16),  # 784
    ],
)
def test_parameters_equal_keras_count_params(kind, options, count):
    import keras  # the test extra's Keras 3 (conftest picks the JAX backend)

    layer = Layer(kind, (28, 28), 3, **options)
    keras_layer = eval(KIND_TABLE[kind].keras_call(layer), {"keras": keras})
    keras_layer.build((None, 28, 28, 3))
    assert parameters(layer).total == keras_layer.count_params() == count


def test_grouped_parameters_as_keras_builds_them():
    # Conv2D(6, 3, groups=2) on 4 channels: kernel (3, 3, 2, 6) = 108, bias 6 (features.md 3.1)
    assert parameters(Layer("grouped", (8, 8), 4, filters=6, kernel_size=3, groups=2)) == parameters(
        Layer("conv", (8, 8), 4, filters=6, kernel_size=3, groups=2)
    )
    assert parameters(Layer("grouped", (8, 8), 4, filters=6, kernel_size=3, groups=2)).total == 114


# --------------------------------------------------------------------------------------------
# MACs by hand, every kind
# --------------------------------------------------------------------------------------------

# features.md 3.7: batch 1, input 8 channels of 16x16, bias adds excluded; the "truth" column.
MEASURED_TABLE = [
    ("conv", dict(filters=16, kernel_size=3, padding=1), 294_912),
    ("grouped", dict(filters=16, kernel_size=3, padding=1, groups=4), 73_728),
    ("depthwise", dict(kernel_size=3, padding=1), 18_432),
    ("transpose", dict(filters=16, kernel_size=3, strides=2, padding=1, output_padding=1), 294_912),
    ("transpose", dict(filters=16, kernel_size=4, strides=2, padding=1, groups=2), 262_144),
    ("spatially-separable", dict(filters=16, kernel_size=3, padding=1, intermediate_filters=8), 147_456),
]


@pytest.mark.parametrize("kind, options, expected", MEASURED_TABLE)
def test_macs_equal_the_measured_table(kind, options, expected):
    assert macs(Layer(kind, (16, 16), 8, **options)) == expected


@pytest.mark.parametrize(
    "kind, options, expected",
    [
        # 28x28x3 -> 26x26x32, 3x3: 26*26 outputs * 32 filters * 3 channels * 9 taps
        ("conv", dict(filters=32, kernel_size=3), 26 * 26 * 32 * 3 * 9),
        # 1x1: every one of the 28*28 positions mixes 3 channels into 32
        ("pointwise", dict(filters=32), 28 * 28 * 32 * 3),
        # dilation 2: k_eff 5, 24x24 outputs, still 9 taps each
        ("dilated", dict(filters=32, kernel_size=3, dilation_rate=2), 24 * 24 * 32 * 3 * 9),
        # 4 groups of 8 channels on a 32-channel input: each filter sees 8 channels
        ("grouped", dict(filters=32, kernel_size=3, groups=4, in_channels=32), 26 * 26 * 32 * 8 * 9),
        # depthwise, multiplier 2: 26*26 positions * 6 outputs * 1 channel * 9 taps
        ("depthwise", dict(kernel_size=3, depth_multiplier=2), 26 * 26 * 6 * 9),
        # separable: the depthwise stage, then 26*26 * 32 * 3 for the pointwise
        ("separable", dict(filters=32, kernel_size=3), 26 * 26 * 3 * 9 + 26 * 26 * 32 * 3),
        # spatially separable, intermediate = the input's 3 channels: (3,1): 26x28 * 3 * 3 * 3,
        # then (1,3): 26x26 * 32 * 3 * 3
        ("spatially-separable", dict(filters=32, kernel_size=3), 26 * 28 * 3 * 3 * 3 + 26 * 26 * 32 * 3 * 3),
        (
            "spatially-separable",
            dict(filters=32, kernel_size=3, intermediate_filters=32),
            26 * 28 * 32 * 3 * 3 + 26 * 26 * 32 * 32 * 3,
        ),
        # strided transpose: each of the 28*28*3 input numbers scatters 32 filters of 9 taps,
        # not the 57*57*32*27 of a conv over the zero-stretched input
        ("transpose", dict(filters=32, kernel_size=3, strides=2), 28 * 28 * 3 * 32 * 9),
    ],
)
def test_macs_by_hand_for_every_kind(kind, options, expected):
    options = dict(dict(in_channels=3), **options)
    layer = Layer(kind, (28, 28), options.pop("in_channels"), **options)
    assert macs(layer) == expected
    assert flops(layer) == 2 * expected
    assert bias_adds(layer) == math.prod(layer.output_shape)


def test_bias_adds_and_bias_parameters_vanish_without_a_bias():
    layer = Layer("conv", (8, 8), 3, filters=4, kernel_size=3, use_bias=False)
    assert bias_adds(layer) == 0 and parameters(layer).bias == 0


def test_memory_in_bytes_for_a_dtype():
    # separable on 28x28x3, float64: input 2352 numbers, between the stages 26*26*3, output 26*26*32
    layer = Layer("separable", (28, 28), 3, filters=32, kernel_size=3, itemsize=8)
    assert memory(layer) == type(memory(layer))(28 * 28 * 3 * 8, 26 * 26 * 32 * 8, 26 * 26 * 3 * 8, 155 * 8)


# --------------------------------------------------------------------------------------------
# Receptive fields: the Distill article (Araujo, Norris & Sim 2019), then brute force
# --------------------------------------------------------------------------------------------


def test_distill_worked_example():
    # Its figure: layer 1 k=3, p=1, s=3; layer 2 k=2, p=0, s=1; u0 = -1, v0 = 4, so r0 = 6.
    layers = stack(
        (9,),
        1,
        [("conv", dict(filters=1, kernel_size=3, padding=1, strides=3)), ("conv", dict(filters=1, kernel_size=2))],
    )
    field = stack_receptive_fields(layers)[-1][0]
    assert field == ReceptiveField(size=6, jump=3, start=-1)
    assert field.start + field.size - 1 == 4


def _window(kernel_size, strides, padding=0):
    """A pooling window as the depthwise layer of the same geometry (its field is the same)."""
    return ("depthwise", dict(kernel_size=kernel_size, strides=strides, padding=padding))


def _same(filters, kernel_size):
    return ("conv", dict(filters=filters, kernel_size=kernel_size, padding="same"))


def test_distill_table_alexnet_v2():
    # TF-Slim alexnet_v2 to pool5: r = 195, S = 32, P = 64 (the article's table)
    specs = [
        ("conv", dict(filters=64, kernel_size=11, strides=4)),
        _window(3, 2),
        _same(192, 5),
        _window(3, 2),
        _same(384, 3),
        _same(384, 3),
        _same(256, 3),
        _window(3, 2),
    ]
    field = stack_receptive_fields(stack((224, 224), 3, specs))[-1][0]
    assert (field.size, field.jump, -field.start) == (195, 32, 64)


def test_distill_table_vgg_16():
    # TF-Slim vgg_16 to pool5: r = 212, S = 32, P = 90
    specs = []
    for convs, filters in ((2, 64), (2, 128), (3, 256), (3, 512), (3, 512)):
        specs += [_same(filters, 3)] * convs + [_window(2, 2)]
    field = stack_receptive_fields(stack((224, 224), 3, specs))[-1][1]
    assert (field.size, field.jump, -field.start) == (212, 32, 90)


def test_transpose_fields_are_fractional():
    # k=3, s=2 transposed: a stride-1 conv of the input stretched twice; 3 stretched units
    # are (3-1)/2 + 1 = 2 input pixels, one output step is half a pixel.
    layer = Layer("transpose", (5,), 1, filters=1, kernel_size=3, strides=2)
    assert receptive_field(layer) == (ReceptiveField(2, Fraction(1, 2), -1),)
    # an encoder-decoder pair: conv k3 s2 then transpose k3 s2 gives back jump 1
    pair = stack(
        (9,),
        1,
        [("conv", dict(filters=1, kernel_size=3, strides=2)), ("transpose", dict(filters=1, kernel_size=3, strides=2))],
    )
    assert stack_receptive_fields(pair)[-1] == (ReceptiveField(5, 1, -2),)


def test_stages_compose_within_a_layer():
    # separable = depthwise then pointwise: the field of the depthwise; spatially separable:
    # axis a gets kernel a's k, stride and padding
    separable = Layer("separable", (9, 9), 2, filters=3, kernel_size=(3, 5), strides=2, padding="same")
    # "same" with stride 2 on 9: o = 5, pads (1, 1) for k=3 and (2, 2) for k=5
    assert receptive_field(separable) == (ReceptiveField(3, 2, -1), ReceptiveField(5, 2, -2))
    spatial = Layer("spatially-separable", (9, 9), 2, filters=3, kernel_size=(3, 5), strides=(1, 2), padding=1)
    assert receptive_field(spatial) == (ReceptiveField(3, 1, -1), ReceptiveField(5, 2, -1))


@pytest.mark.parametrize(
    "strides", [1, (1, 1), [1, 1], np.int64(1), 1.0, True, (1, 1.0), [1, True], np.array([1, 1]), "1", None]
)
def test_a_shared_layer_is_the_layer_its_arguments_build(strides):
    """The ops share one Layer per set of arguments (`shared_layer`): after a call with strides=1
    has filled the cache, any other value gives what `Layer` gives, the same fields or the same
    error, though 1, 1.0 and True are equal and hash alike; an unhashable value (an array) too."""
    options = dict(filters=4, kernel_size=3, padding="same")
    assert shared_layer("conv", (8, 8), 3, strides=1, **options) is shared_layer(
        "conv", (8, 8), 3, strides=1, **options
    )
    try:
        expected = Layer("conv", (8, 8), 3, strides=strides, **options)
    except ConvZooError as error:
        with pytest.raises(type(error), match=re.escape(str(error))):
            shared_layer("conv", (8, 8), 3, strides=strides, **options)
    else:
        assert shared_layer("conv", (8, 8), 3, strides=strides, **options) == expected


def influence(layers) -> np.ndarray:
    """hit[j, o]: whether input pixel j changes output o, by the real core ops (1-D, one channel).

    The batch holds one one-hot input per pixel; kernels are positive, so no sum cancels.
    """
    size = layers[0].in_sizes[0]
    x = np.eye(size)[:, :, None]
    rng = np.random.default_rng(0)
    for layer in layers:
        call = KIND_TABLE[layer.kind].build(layer, rng, "float64")
        kernels = [np.abs(kernel) + 0.5 for kernel in call.arrays[1:]]
        x = call.op(x, *kernels, **call.options)
    return x[..., 0] != 0


@st.composite
def stacks_1d(draw, kinds=("conv", "dilated", "transpose"), max_layers=3, strided=True, dilated=True):
    """A random stack of 1-D single-channel layers, no bias, on one-hot inputs."""
    specs = []
    for _ in range(draw(st.integers(1, max_layers))):
        kind = draw(st.sampled_from(kinds))
        paddings = ["valid", "same"] + ([] if kind == "transpose" else ["full", "causal"])
        options = dict(
            filters=1,
            kernel_size=draw(st.integers(1, 4)),
            use_bias=False,
            strides=draw(st.integers(1, 3)) if strided else 1,
            dilation_rate=draw(st.integers(2 if kind == "dilated" else 1, 2)) if dilated else 1,
            padding=draw(st.sampled_from(paddings) | st.integers(0, 2)),
        )
        specs.append((kind, options))
    size = draw(st.integers(6, 14))
    try:
        return stack((size,), 1, specs, batch=size, itemsize=8)
    except ConvZooError:
        return stack((size,), 1, [("conv", dict(filters=1, kernel_size=1, use_bias=False))], batch=size, itemsize=8)


def _check_fields(layers, exact: bool) -> None:
    """Every influence lies in [start + o*jump, start + o*jump + size - 1]; if `exact`, an
    output that sees anything, its interval inside the input, sees the interval's first and
    last integer. (A transpose with k < s leaves outputs that see nothing at all.)"""
    field = stack_receptive_fields(layers)[-1][0]
    hits = influence(layers)
    size = hits.shape[0]
    for output in range(hits.shape[1]):
        seen = np.nonzero(hits[:, output])[0]
        first = field.start + output * field.jump
        last = first + field.size - 1
        if len(seen):
            assert first <= seen.min() and seen.max() <= last, (output, seen, field)
        if exact and len(seen) and first >= 0 and last <= size - 1:
            assert (seen.min(), seen.max()) == (math.ceil(first), math.floor(last)), (output, seen, field)


@given(stacks_1d(kinds=("conv", "dilated")))
def test_brute_force_conv_stacks_are_exact(layers):
    _check_fields(layers, exact=True)


@given(stacks_1d())
def test_brute_force_every_influence_lies_in_the_field(layers):
    _check_fields(layers, exact=False)


@given(stacks_1d(kinds=("transpose",), max_layers=1, dilated=False))
def test_brute_force_one_transpose_is_exact(layers):
    _check_fields(layers, exact=True)


@given(
    stacks_1d(kinds=("conv",), strided=False, dilated=False),
    stacks_1d(kinds=("transpose",), max_layers=1, dilated=False),
)
def test_brute_force_stride_one_convs_then_a_transpose_is_exact(convs, transpose):
    specs = [
        (layer.kind, dict(filters=1, kernel_size=layer.kernel_size, padding=layer.padding, use_bias=False))
        for layer in convs
    ]
    last = transpose[0]
    specs.append(
        (
            "transpose",
            dict(filters=1, kernel_size=last.kernel_size, strides=last.strides, padding=last.padding, use_bias=False),
        )
    )
    size = convs[0].in_sizes[0]
    try:
        layers = stack((size,), 1, specs, batch=size, itemsize=8)
    except ConvZooError:  # the transpose crops its whole output: not a stack to check
        assume(False)
    _check_fields(layers, exact=True)


def test_brute_force_2d_stack_of_every_sliding_kind():
    """Each axis on its own: a 2-D stack with depthwise, separable, spatially separable and
    pointwise layers, a one-hot per pixel of a 9x8 image."""
    specs = [
        ("depthwise", dict(kernel_size=(3, 2), padding="same", use_bias=False)),
        ("separable", dict(filters=2, kernel_size=2, strides=(2, 1), use_bias=False)),
        ("spatially-separable", dict(filters=2, kernel_size=(2, 3), dilation_rate=(1, 2), padding=1, use_bias=False)),
        ("pointwise", dict(filters=1, use_bias=False)),
    ]
    height, width = 9, 8
    layers = stack((height, width), 1, specs, batch=height * width, itemsize=8)
    x = np.eye(height * width).reshape(height * width, height, width, 1)
    rng = np.random.default_rng(1)
    for layer in layers:
        call = KIND_TABLE[layer.kind].build(layer, rng, "float64")
        kernels = [
            [np.abs(k) + 0.5 for k in kernel] if isinstance(kernel, list) else np.abs(kernel) + 0.5
            for kernel in call.arrays[1:]
        ]
        x = call.op(x, *kernels, **call.options)
    hits = (x[..., 0] != 0).reshape(height, width, *x.shape[1:3])
    rows, columns = stack_receptive_fields(layers)[-1]
    for out_row in range(x.shape[1]):
        for out_column in range(x.shape[2]):
            seen_rows, seen_columns = np.nonzero(hits[:, :, out_row, out_column])
            row_first, column_first = rows.start + out_row * rows.jump, columns.start + out_column * columns.jump
            assert row_first <= seen_rows.min() and seen_rows.max() <= row_first + rows.size - 1
            assert column_first <= seen_columns.min() and seen_columns.max() <= column_first + columns.size - 1
            if row_first >= 0 and row_first + rows.size <= height:
                assert (seen_rows.min(), seen_rows.max()) == (row_first, row_first + rows.size - 1)


# --------------------------------------------------------------------------------------------
# Errors: every rule, with its numbers
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make, message",
    [
        (
            lambda: Layer("grouped", (28, 28), 3, filters=32, kernel_size=3, groups=4),
            "`groups` must divide both the input channels and the filters. "
            "Received: groups=4, in_channels=3, filters=32.",
        ),
        (
            lambda: Layer("conv", (2,), 1, filters=1, kernel_size=5),
            "The dilated kernel spans 5 but the padded input has only 2 positions on spatial axis 0",
        ),
        (
            lambda: Layer("pointwise", (8,), 1, filters=1, strides=2),
            "`strides` does not apply to a pointwise layer, which takes none. Received: strides=(2,).",
        ),
        (
            lambda: Layer("depthwise", (8,), 3, filters=5, kernel_size=3),
            "leave `filters` out. Received: filters=5, in_channels=3, depth_multiplier=1.",
        ),
        (lambda: Layer("conv", (8,), 3, kernel_size=3), "A conv layer needs `filters`"),
        (
            lambda: Layer("transpose", (8,), 3, filters=3, kernel_size=3, padding="full"),
            "`padding` must be one of 'valid', 'same'",
        ),
        (
            lambda: Layer("transpose", (8,), 3, filters=3, kernel_size=3, strides=2, padding="same", output_padding=2),
            "`output_padding` must be smaller than `strides`",
        ),
        (
            lambda: Layer("conv", (8, 8), 3, filters=3, kernel_size=3, padding="causal"),
            "defined for 1-D convolutions only",
        ),
        (lambda: Layer("conv", (), 3, filters=3, kernel_size=3), "`in_sizes` must be one spatial size or a sequence"),
        (
            lambda: Layer("conv", (2,), 3, filters=3, kernel_size=3, padding=2, padding_mode="reflect"),
            "padding_mode='reflect' needs a padding smaller than the input size",
        ),
        (
            lambda: Layer("pointwise", (8,), 3, filters=3, kernel_size=3),
            "A pointwise layer's kernel is 1 on every axis",
        ),
        (lambda: Layer("hexagonal", (8,), 3, filters=3), "`kind` must be one of 'conv'"),
        (
            lambda: stack(
                (8,), 3, [("conv", dict(filters=4, kernel_size=3)), ("conv", dict(filters=4, kernel_size=9))]
            ),
            "layer 2 (conv): The dilated kernel spans 9 but the padded input has only 6 positions",
        ),
    ],
)
def test_errors_name_the_rule_and_the_numbers(make, message):
    with pytest.raises(ConvZooError) as error:
        make()
    assert message in str(error.value)


def test_a_layer_is_frozen_and_canonical():
    layer = Layer("conv", 28, 3, filters=8, kernel_size=3, padding=1)
    assert (layer.in_sizes, layer.kernel_size, layer.padding, layer.strides) == ((28,), (3,), ((1, 1),), (1,))
    with pytest.raises(AttributeError):
        layer.filters = 9
