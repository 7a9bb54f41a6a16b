"""Tests of the oracle itself: hand-worked numbers, size tables, and PyTorch where it agrees.

The oracle is what the fast implementation is judged by, so it is checked against numbers
derived by hand (the working is in the comments), against the published size rules of Keras
and PyTorch, against `torch.nn.functional` where torch has the same semantics, and against its
own algebra (channels_first is channels_last transposed; conv_transpose is the adjoint of conv).
"""

from __future__ import annotations

import ast
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from convzoo import reference as ref

RNG = np.random.default_rng(20240601)

TORCH_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
TORCH_CONV_TRANSPOSE = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def signal(values) -> np.ndarray:
    """A 1-D signal as a batch of one, one channel: shape (1, n, 1)."""
    return np.asarray(values, dtype=np.float64).reshape(1, -1, 1)


def image(values) -> np.ndarray:
    """A 2-D image as a batch of one, one channel: shape (1, h, w, 1)."""
    values = np.asarray(values, dtype=np.float64)
    return values.reshape(1, *values.shape, 1)


def single_channel_kernel(values) -> np.ndarray:
    """A spatial kernel with one in- and one out-channel: shape (*k, 1, 1)."""
    values = np.asarray(values, dtype=np.float64)
    return values.reshape(*values.shape, 1, 1)


def spatial(outputs: np.ndarray) -> np.ndarray:
    """Drop the batch and channel axes of a one-sample, one-channel channels_last output."""
    assert outputs.shape[0] == 1 and outputs.shape[-1] == 1
    return outputs[0, ..., 0]


def random(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape)


def to_torch_weight(kernel: np.ndarray) -> torch.Tensor:
    """Keras (*k, a, b) -> torch (b, a, *k).

    A conv kernel (*k, C_in/g, C_out) becomes torch's (C_out, C_in/g, *k); a transpose kernel
    (*k, C_out/g, C_in) becomes torch's (C_in, C_out/g, *k). Same axis move for both.
    """
    return torch.from_numpy(np.ascontiguousarray(np.moveaxis(kernel, (-1, -2), (0, 1))))


def from_torch(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().numpy()


# --------------------------------------------------------------------------------------------
# Hand-worked correlations
# --------------------------------------------------------------------------------------------


def test_valid_1d_is_a_cross_correlation_not_a_convolution():
    # out[o] = x[o] * 1 + x[o + 1] * 0 + x[o + 2] * (-1): 1-3, 2-4, 3-5. A flipped kernel
    # (true convolution) would give +2 instead.
    outputs = ref.conv(signal([1, 2, 3, 4, 5]), single_channel_kernel([1, 0, -1]))
    np.testing.assert_array_equal(spatial(outputs), [-2, -2, -2])


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        # same: in 5, k 3, stride 1 -> out 5, total 2, pads (1, 1);
        # padded 0 1 2 3 4 5 0 -> 0-2, 1-3, 2-4, 3-5, 4-0.
        ({"padding": "same"}, [-2, -2, -2, -2, 4]),
        # full: pads (2, 2); padded 0 0 1 2 3 4 5 0 0 -> 0-1, 0-2, 1-3, 2-4, 3-5, 4-0, 5-0.
        ({"padding": "full"}, [-1, -2, -2, -2, -2, 4, 5]),
        # causal: pads (2, 0); padded 0 0 1 2 3 4 5 -> 0-1, 0-2, 1-3, 2-4, 3-5.
        ({"padding": "causal"}, [-1, -2, -2, -2, -2]),
        # stride 2: outputs 0 and 2 of the valid result; floor((5 - 3) / 2) + 1 = 2.
        ({"strides": 2}, [-2, -2]),
        # dilation 2: k_eff 5, one output: x0 * 1 + x2 * 0 + x4 * (-1) = 1 - 5.
        ({"dilation_rate": 2}, [-4]),
        # explicit per-axis pair (1, 0): padded 0 1 2 3 4 5 -> 0-2, 1-3, 2-4, 3-5.
        ({"padding": [(1, 0)]}, [-2, -2, -2, -2]),
    ],
)
def test_1d_padding_strides_and_dilation_by_hand(options, expected):
    outputs = ref.conv(signal([1, 2, 3, 4, 5]), single_channel_kernel([1, 0, -1]), **options)
    np.testing.assert_array_equal(spatial(outputs), expected)


def test_conv_arithmetic_4x4_input_3x3_kernel_gives_2x2():
    # x = 0..15 row-major. Window at (0, 0): 0+1+2 + 4+5+6 + 8+9+10 = 45; one step right adds
    # 1 to each of 9 pixels (54); one step down adds 4 to each (81); both: 90.
    outputs = ref.conv(image(np.arange(16).reshape(4, 4)), single_channel_kernel(np.ones((3, 3))))
    np.testing.assert_array_equal(spatial(outputs), [[45, 54], [81, 90]])


def test_conv_arithmetic_5x5_kernel_3_stride_2_padding_1_gives_3x3():
    # All-ones input and kernel count the real pixels under each window. Windows start at padded
    # rows 0, 2, 4 and cover real rows {0, 1}, {1, 2, 3}, {3, 4}: 2, 3, 2 rows (same for columns).
    outputs = ref.conv(image(np.ones((5, 5))), single_channel_kernel(np.ones((3, 3))), strides=2, padding=1)
    np.testing.assert_array_equal(spatial(outputs), [[4, 6, 4], [6, 9, 6], [4, 6, 4]])


@pytest.mark.parametrize(
    ("delta_at", "expected"),
    [
        # Tap (1, 1) reads x[i + 1 * 2, j + 1 * 2]: the block x[2:5, 2:5] of 0..48.
        ((1, 1), [[16, 17, 18], [23, 24, 25], [30, 31, 32]]),
        # Tap (2, 2) reads x[i + 4, j + 4]: the block x[4:7, 4:7].
        ((2, 2), [[32, 33, 34], [39, 40, 41], [46, 47, 48]]),
    ],
)
def test_conv_arithmetic_7x7_kernel_3_dilation_2_gives_3x3(delta_at, expected):
    # k_eff = 2 * (3 - 1) + 1 = 5, so 7 - 5 + 1 = 3 outputs per axis.
    kernel = np.zeros((3, 3))
    kernel[delta_at] = 1
    outputs = ref.conv(image(np.arange(49).reshape(7, 7)), single_channel_kernel(kernel), dilation_rate=2)
    np.testing.assert_array_equal(spatial(outputs), expected)


def test_same_with_even_kernel_puts_the_odd_pixel_at_the_end():
    # in 6, k 4, stride 1: total = 5 + 4 - 6 = 3 -> (1, 2). With the kernel a delta at tap 0,
    # out[o] = padded[o]: the zero in front, then 1..5.
    assert ref.conv_padding("same", (6,), (4,), (1,), (1,)) == ((1, 2),)
    outputs = ref.conv(signal([1, 2, 3, 4, 5, 6]), single_channel_kernel([1, 0, 0, 0]), padding="same")
    np.testing.assert_array_equal(spatial(outputs), [0, 1, 2, 3, 4, 5])


def test_same_with_stride_pads_only_what_the_last_window_needs():
    # in 6, k 3, stride 2: out = ceil(6 / 2) = 3, total = (3 - 1) * 2 + 3 - 6 = 1 -> (0, 1).
    assert ref.conv_padding("same", (6,), (3,), (2,), (1,)) == ((0, 1),)
    outputs = ref.conv(signal(np.ones(6)), single_channel_kernel(np.ones(3)), strides=2, padding="same")
    # windows: x0..x2, x2..x4, x4 x5 and the one zero.
    np.testing.assert_array_equal(spatial(outputs), [3, 3, 2])


@pytest.mark.parametrize(("in_size", "stride"), [(1, 1), (5, 2), (6, 2), (7, 3), (10, 4)])
@pytest.mark.parametrize(("kernel_size", "dilation"), [(1, 1), (2, 1), (3, 2), (4, 1), (5, 3)])
def test_same_gives_ceil_of_in_over_stride(in_size, stride, kernel_size, dilation):
    outputs = ref.conv(
        signal(np.ones(in_size)),
        single_channel_kernel(np.ones(kernel_size)),
        strides=stride,
        padding="same",
        dilation_rate=dilation,
    )
    assert outputs.shape == (1, -(-in_size // stride), 1)


# --------------------------------------------------------------------------------------------
# Padding modes
# --------------------------------------------------------------------------------------------

PADDING_MODE_TABLE = {
    # x = 1 2 3 4 padded by 2 on both sides.
    "zeros": [0, 0, 1, 2, 3, 4, 0, 0],
    "reflect": [3, 2, 1, 2, 3, 4, 3, 2],  # mirror about the edge, edge not repeated
    "replicate": [1, 1, 1, 2, 3, 4, 4, 4],
    "circular": [3, 4, 1, 2, 3, 4, 1, 2],
}


@pytest.mark.parametrize("mode", PADDING_MODE_TABLE)
def test_padding_mode_table(mode):
    # A single-tap identity kernel makes the output the padded input itself.
    outputs = ref.conv(signal([1, 2, 3, 4]), single_channel_kernel([1]), padding=[(2, 2)], padding_mode=mode)
    np.testing.assert_array_equal(spatial(outputs), PADDING_MODE_TABLE[mode])


@pytest.mark.parametrize("mode", PADDING_MODE_TABLE)
def test_padding_mode_table_matches_torch_pad(mode):
    torch_mode = "constant" if mode == "zeros" else mode
    padded = F.pad(torch.tensor([[[1.0, 2.0, 3.0, 4.0]]]), (2, 2), mode=torch_mode)
    np.testing.assert_array_equal(from_torch(padded)[0, 0], PADDING_MODE_TABLE[mode])


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
def test_2d_padding_modes_match_torch_pad_including_corners(mode):
    # Unequal pads on every side, so that corners need both axes' rules.
    values = random(3, 4)
    outputs = ref.conv(image(values), single_channel_kernel([[1]]), padding=[(1, 2), (2, 1)], padding_mode=mode)
    torch_mode = "constant" if mode == "zeros" else mode
    # F.pad takes the last axis first: (left, right, top, bottom).
    expected = F.pad(torch.from_numpy(values)[None, None], (2, 1, 1, 2), mode=torch_mode)
    np.testing.assert_allclose(spatial(outputs), from_torch(expected)[0, 0], rtol=0, atol=0)


def test_source_index_maps_padded_coordinates_to_the_unpadded_input():
    # x = [a, b, c, d] with 2 before: padded coordinate 0 is two before a.
    assert [ref.source_index(c, 4, 2, "zeros") for c in range(8)] == [
        None,
        None,
        0,
        1,
        2,
        3,
        None,
        None,
    ]
    assert [ref.source_index(c, 4, 2, "circular") for c in range(8)] == [2, 3, 0, 1, 2, 3, 0, 1]
    assert [ref.source_index(c, 4, 2, "replicate") for c in range(8)] == [0, 0, 0, 1, 2, 3, 3, 3]


def test_reflect_padding_as_wide_as_the_input_is_refused():
    # Mirroring without repeating the edge reaches at most in_size - 1 elements out.
    with pytest.raises(ValueError, match="reflect"):
        ref.conv(signal([1, 2, 3]), single_channel_kernel([1]), padding=3, padding_mode="reflect")


def test_padding_mode_also_fills_same_padding():
    # in 4, k 3 "same" -> (1, 1). Replicated: 1 1 2 3 4 4; window sums 4, 6, 9, 11.
    outputs = ref.conv(
        signal([1, 2, 3, 4]),
        single_channel_kernel([1, 1, 1]),
        padding="same",
        padding_mode="replicate",
    )
    np.testing.assert_array_equal(spatial(outputs), [4, 6, 9, 11])


# --------------------------------------------------------------------------------------------
# Taps
# --------------------------------------------------------------------------------------------


def test_taps_list_every_input_and_kernel_pair_an_output_sums():
    # in 5, k 3, stride 2, pads (1, 1): output o reads padded 2o + t, i.e. input 2o + t - 1.
    tap_map = ref.taps((5,), (3,), (2,), ((1, 1),), (1,))
    assert tap_map == {
        (0,): [(None, (0,)), ((0,), (1,)), ((1,), (2,))],
        (1,): [((1,), (0,)), ((2,), (1,)), ((3,), (2,))],
        (2,): [((3,), (0,)), ((4,), (1,)), (None, (2,))],
    }


def test_2d_taps_are_zero_as_soon_as_one_axis_is_in_zero_padding():
    tap_map = ref.taps((2, 2), (2, 2), (1, 1), ((1, 0), (0, 0)), (1, 1))
    # Output (0, 0): row taps read [pad, row 0]; column taps read columns 0 and 1.
    assert tap_map[(0, 0)] == [
        (None, (0, 0)),
        (None, (0, 1)),
        ((0, 0), (1, 0)),
        ((0, 1), (1, 1)),
    ]
    assert set(tap_map) == {(0, 0), (1, 0)}


def test_taps_follow_the_padding_mode():
    tap_map = ref.taps((3,), (3,), (1,), ((1, 1),), (1,), padding_mode="reflect")
    # padded: x1 x0 x1 x2 x1
    assert [in_position for in_position, _ in tap_map[(0,)]] == [(1,), (0,), (1,)]
    assert [in_position for in_position, _ in tap_map[(2,)]] == [(1,), (2,), (1,)]


def test_scatter_taps_list_where_each_input_lands():
    # in 2, k 3, stride 2: full coordinates 0 1 2 and 2 3 4; crops (1, 1) keep 1..3 as 0..2.
    tap_map = ref.scatter_taps((2,), (3,), (2,), ((1, 1),), (1,))
    assert tap_map == {
        (0,): [(None, (0,)), ((0,), (1,)), ((1,), (2,))],
        (1,): [((1,), (0,)), ((2,), (1,)), (None, (2,))],
    }


# --------------------------------------------------------------------------------------------
# Channels: groups, depthwise, pointwise, data_format, bias
# --------------------------------------------------------------------------------------------


def test_grouped_conv_groups_see_only_their_own_channels():
    # C_in 4, kernel in-channels 2 -> groups 2; C_out 2 -> one output per group.
    # out0 = x0 * 1 + x1 * 10 = 21; out1 = x2 * 100 + x3 * 1000 = 4300.
    kernel = np.array([[[1.0, 100.0], [10.0, 1000.0]]])  # (k=1, 2, 2)
    pixel = np.array([[[1.0, 2.0, 3.0, 4.0]]])  # (N=1, length 1, C=4)
    np.testing.assert_array_equal(ref.conv(pixel, kernel)[0, 0], [21, 4300])
    # Changing group 1's channels leaves group 0's output alone.
    changed = pixel + np.array([0, 0, 7, 7])
    assert ref.conv(changed, kernel)[0, 0, 0] == 21


def test_grouped_conv_matches_per_group_convs():
    inputs = random(2, 6, 6)  # C_in 6
    kernel = random(3, 2, 9)  # groups 3, C_out 9: 3 outputs per group
    outputs = ref.conv(inputs, kernel, padding="same")
    for group in range(3):
        group_out = ref.conv(
            inputs[..., 2 * group : 2 * group + 2],
            kernel[..., 3 * group : 3 * group + 3],
            padding="same",
        )
        np.testing.assert_allclose(outputs[..., 3 * group : 3 * group + 3], group_out)


def test_depthwise_output_channel_order_is_channel_times_multiplier_plus_copy():
    # out[c * M + m] = x[c] * k[c, m] with x = [1, 10], M = 3.
    kernel = np.array([[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]])  # (k=1, C=2, M=3)
    outputs = ref.depthwise_conv(np.array([[[1.0, 10.0]]]), kernel)
    np.testing.assert_array_equal(outputs[0, 0], [1, 2, 3, 40, 50, 60])


def test_pointwise_accepts_both_kernel_layouts():
    inputs = random(2, 3, 4, 5)
    kernel = random(5, 7)
    expected = np.einsum("nhwc,cf->nhwf", inputs, kernel)
    np.testing.assert_allclose(ref.pointwise_conv(inputs, kernel), expected)
    np.testing.assert_allclose(ref.pointwise_conv(inputs, kernel[None, None]), expected)
    with pytest.raises(ValueError):
        ref.pointwise_conv(inputs, random(2, 1, 5, 7))


def test_bias_is_added_at_every_output_position():
    inputs = random(2, 5, 3)
    kernel = random(3, 3, 4)
    bias = np.array([1.0, -2.0, 3.0, 0.5])
    np.testing.assert_allclose(ref.conv(inputs, kernel, bias), ref.conv(inputs, kernel) + bias)
    with pytest.raises(ValueError, match="bias"):
        ref.conv(inputs, kernel, np.ones(3))


SHARED_2D_OPTIONS = {"strides": (2, 1), "padding": "same", "dilation_rate": (1, 2)}
BIAS_6 = random(6)
DEPTHWISE_KERNEL_4X2 = random(3, 3, 4, 2)

OPS_2D = {
    # Each op on a 4-channel 2-D input, producing 6 channels (depthwise: 4 * 2 = 8).
    "conv": partial(ref.conv, kernel=random(3, 2, 2, 6), bias=BIAS_6, **SHARED_2D_OPTIONS),
    "pointwise": partial(ref.pointwise_conv, kernel=random(4, 6), bias=BIAS_6),
    "transpose": partial(ref.conv_transpose, kernel=random(3, 2, 3, 4), bias=BIAS_6, groups=2, **SHARED_2D_OPTIONS),
    "depthwise": partial(ref.depthwise_conv, kernel=DEPTHWISE_KERNEL_4X2, padding_mode="reflect", **SHARED_2D_OPTIONS),
    "separable": partial(
        ref.separable_conv,
        depthwise_kernel=DEPTHWISE_KERNEL_4X2,
        pointwise_kernel=random(1, 1, 8, 6),
        bias=BIAS_6,
        **SHARED_2D_OPTIONS,
    ),
    "spatially_separable": partial(
        ref.spatially_separable_conv,
        kernels=[random(3, 1, 4, 5), random(1, 2, 5, 6)],
        bias=BIAS_6,
        padding_mode="circular",
        **SHARED_2D_OPTIONS,
    ),
}


@pytest.mark.parametrize("op_name", OPS_2D)
def test_channels_first_is_channels_last_transposed(op_name):
    op = OPS_2D[op_name]
    inputs = random(2, 5, 6, 4)
    channels_last = op(inputs, data_format="channels_last")
    channels_first = op(np.moveaxis(inputs, -1, 1), data_format="channels_first")
    np.testing.assert_allclose(channels_first, np.moveaxis(channels_last, -1, 1))


def test_outputs_are_float64_whatever_the_input_dtype():
    outputs = ref.conv(np.ones((1, 4, 2), dtype=np.float32), np.ones((2, 2, 3), dtype=np.int32))
    assert outputs.dtype == np.float64


# --------------------------------------------------------------------------------------------
# Separable convolutions
# --------------------------------------------------------------------------------------------


def test_separable_is_depthwise_then_pointwise_then_bias():
    inputs = random(2, 7, 7, 3)
    depthwise_kernel = random(3, 3, 3, 2)
    pointwise_kernel = random(1, 1, 6, 4)
    bias = random(4)
    options = {"strides": 2, "padding": "same", "padding_mode": "replicate"}
    depthwise_outputs = ref.depthwise_conv(inputs, depthwise_kernel, **options)
    expected = np.einsum("nhwc,cf->nhwf", depthwise_outputs, pointwise_kernel[0, 0]) + bias
    outputs = ref.separable_conv(inputs, depthwise_kernel, pointwise_kernel, bias, **options)
    np.testing.assert_allclose(outputs, expected)


def test_spatially_separable_by_hand():
    # Stage 0: column kernel [1, 1] ("same" on rows: k 2 -> pads (0, 1)); stage 1: row kernel
    # [1, -1] ("same" on columns: pads (0, 1)). x = [[1, 2], [3, 4]].
    # Stage 0 sums each pixel with the one below (zero below the last row): [[4, 6], [3, 4]].
    # Stage 1 takes each pixel minus its right neighbour (zero after the last): [[-2, 6], [-1, 4]].
    kernels = [single_channel_kernel([[1], [1]]), single_channel_kernel([[1, -1]])]
    outputs = ref.spatially_separable_conv(image([[1, 2], [3, 4]]), kernels, padding="same")
    np.testing.assert_array_equal(spatial(outputs), [[-2, 6], [-1, 4]])


@pytest.mark.parametrize("padding_mode", ["zeros", "reflect", "replicate", "circular"])
@pytest.mark.parametrize(
    "options",
    [
        {"padding": "valid"},
        {"padding": "same", "strides": (2, 3)},
        {"padding": "full", "dilation_rate": (2, 1)},
        {"padding": [(2, 0), (1, 2)], "strides": (1, 2), "dilation_rate": (1, 2)},
    ],
)
def test_spatially_separable_equals_conv_with_the_outer_product_kernel(padding_mode, options):
    # Each stage acts on one axis only and padding is per axis, so the two stages commute with
    # each other's padding: the result is one conv whose kernel sums over the middle channels.
    inputs = random(2, 7, 8, 3)
    row_kernel = random(3, 1, 3, 4)  # spans axis 0
    column_kernel = random(1, 2, 4, 5)  # spans axis 1
    combined = np.einsum("aicm,jbmf->abcf", row_kernel, column_kernel)
    expected = ref.conv(inputs, combined, padding_mode=padding_mode, **options)
    outputs = ref.spatially_separable_conv(inputs, [row_kernel, column_kernel], padding_mode=padding_mode, **options)
    np.testing.assert_allclose(outputs, expected)


def test_spatially_separable_refuses_kernels_that_span_the_wrong_axis():
    with pytest.raises(ValueError, match="extent 1"):
        ref.spatially_separable_conv(random(1, 4, 4, 1), [random(3, 3, 1, 1), random(1, 3, 1, 1)])
    with pytest.raises(ValueError, match="2 kernels"):
        ref.spatially_separable_conv(random(1, 4, 4, 1), [random(3, 1, 1, 1)])


# --------------------------------------------------------------------------------------------
# Transposed convolution
# --------------------------------------------------------------------------------------------


def test_transpose_scatter_by_hand():
    # x = [1, 2], kernel [1, 10, 100], stride 2: input i lands at 2i + t.
    # full: [1, 10, 100 + 2, 20, 200]; "valid" keeps it all (max(3, 2) - 3 = 0 extra).
    x, kernel = signal([1, 2]), single_channel_kernel([1, 10, 100])
    np.testing.assert_array_equal(spatial(ref.conv_transpose(x, kernel, strides=2)), [1, 10, 102, 20, 200])
    # "same" with None: pad_len 2 + 3 - 2 = 3, left min(2, 2) = 2, right 1 -> crops (0, 1).
    np.testing.assert_array_equal(spatial(ref.conv_transpose(x, kernel, strides=2, padding="same")), [1, 10, 102, 20])


def test_torch_conv_transpose_1d_k3_s2_p1_op1_on_ones():
    # full (length 2 * 2 + 3 = 7): i0 -> 0 1 2, i1 -> 2 3 4, i2 -> 4 5 6: 1 1 2 1 2 1 1;
    # crops (1, 1 - 1 = 0): 1 2 1 2 1 1.
    outputs = ref.conv_transpose(np.ones((1, 3, 1)), np.ones((3, 1, 1)), strides=2, padding=1, output_padding=1)
    np.testing.assert_array_equal(spatial(outputs), [1, 2, 1, 2, 1, 1])
    torch_outputs = F.conv_transpose1d(torch.ones(1, 1, 3), torch.ones(1, 1, 3), stride=2, padding=1, output_padding=1)
    np.testing.assert_array_equal(from_torch(torch_outputs)[0, 0], [1, 2, 1, 2, 1, 1])


@pytest.mark.parametrize(
    ("padding", "output_padding", "size"),
    [
        # 5x5, k 3, s 2; full length (5 - 1) * 2 + 3 = 11.
        ("same", None, 10),  # pad_len 3, left 2, right 1 -> crops (0, 1)
        ("same", 0, 9),  # pad_len 3 + 1 - 2 + 0 = 2, left 1, right 1 -> crops (1, 1)
        ("same", 1, 10),  # pad_len 3 -> crops (0, 1)
        ("valid", None, 11),  # output_padding max(3, 2) - 3 = 0
        ("valid", 1, 12),  # one zero appended
    ],
)
def test_keras_transpose_sizes_5x5_k3_s2(padding, output_padding, size):
    outputs = ref.conv_transpose(
        random(1, 5, 5, 2),
        random(3, 3, 4, 2),
        strides=2,
        padding=padding,
        output_padding=output_padding,
    )
    assert outputs.shape == (1, size, size, 4)


def test_keras_valid_transpose_pads_up_to_the_stride_but_torch_does_not():
    # k 2, s 3, in 5: full length 4 * 3 + 2 = 14, each input writing 3i and 3i + 1.
    # Keras "valid" with None appends max(2, 3) - 2 = 1 zero -> 15; PyTorch padding 0 -> 14.
    x, kernel = signal(np.ones(5)), single_channel_kernel([1, 1])
    keras = spatial(ref.conv_transpose(x, kernel, strides=3, padding="valid"))
    torch_like = spatial(ref.conv_transpose(x, kernel, strides=3, padding=0))
    np.testing.assert_array_equal(keras, [1, 1, 0] * 5)
    np.testing.assert_array_equal(torch_like, ([1, 1, 0] * 5)[:14])
    torch_outputs = F.conv_transpose1d(torch.ones(1, 1, 5), torch.ones(1, 1, 2), stride=3)
    np.testing.assert_array_equal(from_torch(torch_outputs)[0, 0], torch_like)


def test_transpose_crops_table():
    # explicit: crops (pad_before, pad_after - output_padding), PyTorch's rule.
    assert ref.transpose_crops([(2, 1)], 1, (3,), (2,), (1,)) == ((2, 0),)
    # valid with output_padding 2: two zeros appended.
    assert ref.transpose_crops("valid", 2, (3,), (4,), (1,)) == ((0, -2),)
    # same, k 5 (k_eff 5), s 1, None: pad_len 4, left 2, right 2 -> crops (2, 2): out = in.
    assert ref.transpose_crops("same", None, (5,), (1,), (1,)) == ((2, 2),)


def test_grouped_transpose_by_hand():
    # C_in 2, groups 2, kernel (k=1, C_out/g=1, C_in=2) = [3, 5]:
    # input channel 0 (group 0) -> output channel 0: 1 * 3; channel 1 (group 1) -> output 1: 10 * 5.
    kernel = np.array([[[3.0, 5.0]]])
    outputs = ref.conv_transpose(np.array([[[1.0, 10.0]]]), kernel, groups=2)
    np.testing.assert_array_equal(outputs[0, 0], [3, 50])


def _conv_and_matching_transpose_options(data, rank):
    """Draw a conv problem and the transpose options under which it is the conv's adjoint."""
    kernel_sizes = data.draw(st.tuples(*[st.integers(1, 3)] * rank))
    strides = data.draw(st.tuples(*[st.integers(1, 3)] * rank))
    dilation = data.draw(st.tuples(*[st.integers(1, 2)] * rank))
    groups = data.draw(st.sampled_from([1, 2]))
    padding_kind = data.draw(st.sampled_from(["valid", "same", "explicit"]))
    effective = [d * (k - 1) + 1 for k, d in zip(kernel_sizes, dilation)]
    if padding_kind == "explicit":
        pads = data.draw(st.tuples(*[st.tuples(st.integers(0, 2), st.integers(0, 2))] * rank))
        in_sizes = data.draw(
            st.tuples(*[st.integers(1, 6)] * rank).filter(
                lambda sizes: all(n + b + a >= e for n, (b, a), e in zip(sizes, pads, effective))
            )
        )
        conv_padding = list(pads)
        out_sizes = [(n + b + a - e) // s + 1 for n, (b, a), e, s in zip(in_sizes, pads, effective, strides)]
        # output_padding gives back what the floor division dropped, so the sizes round-trip.
        output_padding = tuple(
            n - ((o - 1) * s - b - a + e) for n, o, (b, a), e, s in zip(in_sizes, out_sizes, pads, effective, strides)
        )
    else:
        out_sizes = data.draw(st.tuples(*[st.integers(1, 3)] * rank))
        if padding_kind == "same":  # Keras: "same" transpose with None gives out * stride
            in_sizes = tuple(o * s for o, s in zip(out_sizes, strides))
        else:  # Keras: "valid" transpose with None gives (out - 1) * s + max(k_eff, s)
            in_sizes = tuple((o - 1) * s + max(e, s) for o, s, e in zip(out_sizes, strides, effective))
        conv_padding, output_padding = padding_kind, None
    return kernel_sizes, strides, dilation, groups, in_sizes, conv_padding, output_padding


@settings(max_examples=40, deadline=None)
@given(data=st.data(), rank=st.sampled_from([1, 2]))
def test_conv_transpose_is_the_adjoint_of_conv(data, rank):
    # <conv(x, w), y> = <x, conv_transpose(y, w)> with the same kernel array: a conv kernel
    # (*k, C_in/g, C_out) is a transpose kernel (*k, C_out'/g, C_in') for C_in' = C_out.
    kernel_sizes, strides, dilation, groups, in_sizes, padding, output_padding = _conv_and_matching_transpose_options(
        data, rank
    )
    kernel = random(*kernel_sizes, 2, 2 * groups)
    x = random(2, *in_sizes, 2 * groups)
    options = {"strides": strides, "dilation_rate": dilation, "padding": padding}
    forward = ref.conv(x, kernel, **options)
    y = random(*forward.shape)
    backward = ref.conv_transpose(y, kernel, groups=groups, output_padding=output_padding, **options)
    assert backward.shape == x.shape
    np.testing.assert_allclose(np.vdot(forward, y), np.vdot(x, backward))


# --------------------------------------------------------------------------------------------
# Against torch.nn.functional where the semantics agree
# --------------------------------------------------------------------------------------------

CONV_CASES = [
    # rank, in sizes, kernel sizes, C_in, C_out, groups, stride, dilation, symmetric padding
    (1, (9,), (3,), 4, 6, 2, 2, 1, 1),
    (1, (10,), (4,), 3, 3, 3, 1, 2, 2),
    (2, (7, 8), (3, 2), 4, 4, 1, (2, 1), (1, 2), (1, 0)),
    (2, (6, 6), (3, 3), 6, 9, 3, 1, 1, 2),
    (3, (5, 4, 6), (2, 3, 2), 2, 4, 2, (1, 2, 2), (2, 1, 1), (1, 1, 0)),
]


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv_matches_torch_with_symmetric_explicit_padding(case):
    rank, in_sizes, kernel_sizes, in_channels, out_channels, groups, stride, dilation, pad = case
    inputs = random(2, in_channels, *in_sizes)
    kernel = random(*kernel_sizes, in_channels // groups, out_channels)
    bias = random(out_channels)
    outputs = ref.conv(
        inputs,
        kernel,
        bias,
        strides=stride,
        padding=pad,
        data_format="channels_first",
        dilation_rate=dilation,
    )
    expected = TORCH_CONV[rank](
        torch.from_numpy(inputs),
        to_torch_weight(kernel),
        torch.from_numpy(bias),
        stride=stride,
        padding=pad,
        dilation=dilation,
        groups=groups,
    )
    np.testing.assert_allclose(outputs, from_torch(expected), rtol=1e-12, atol=1e-12)


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths")
@pytest.mark.parametrize(
    ("rank", "kernel_sizes", "dilation"),
    [(1, (4,), 1), (1, (3,), 2), (2, (2, 3), (1, 2)), (2, (4, 4), 1), (3, (2, 3, 1), (2, 1, 1))],
)
def test_stride_1_same_matches_torch_same(rank, kernel_sizes, dilation):
    # With stride 1 both put the odd pixel at the end, including even kernels.
    in_sizes = (6, 5, 4)[:rank]
    inputs = random(2, 3, *in_sizes)
    kernel = random(*kernel_sizes, 3, 2)
    outputs = ref.conv(inputs, kernel, padding="same", data_format="channels_first", dilation_rate=dilation)
    expected = TORCH_CONV[rank](torch.from_numpy(inputs), to_torch_weight(kernel), padding="same", dilation=dilation)
    np.testing.assert_allclose(outputs, from_torch(expected), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_padding_modes_match_torch_pad_then_conv(mode):
    inputs = random(2, 3, 6, 7)
    kernel = random(3, 2, 3, 4)
    pads = [(2, 1), (1, 1)]
    outputs = ref.conv(
        inputs,
        kernel,
        strides=(1, 2),
        padding=pads,
        data_format="channels_first",
        padding_mode=mode,
    )
    padded = F.pad(torch.from_numpy(inputs), (1, 1, 2, 1), mode=mode)  # last axis first
    expected = F.conv2d(padded, to_torch_weight(kernel), stride=(1, 2))
    np.testing.assert_allclose(outputs, from_torch(expected), rtol=1e-12, atol=1e-12)


def test_depthwise_matches_torch_grouped_conv():
    # torch's depthwise conv is groups = C_in with weight (C_in * M, 1, *k), row c * M + m
    # holding kernel[..., c, m]: exactly a Keras (*k, C_in, M) kernel reshaped to (*k, 1, C_in*M).
    inputs = random(2, 3, 7, 6)
    kernel = random(3, 2, 3, 2)
    outputs = ref.depthwise_conv(
        inputs, kernel, strides=2, padding=1, data_format="channels_first", dilation_rate=(1, 2)
    )
    torch_kernel = kernel.reshape(3, 2, 1, 6)
    expected = F.conv2d(
        torch.from_numpy(inputs),
        to_torch_weight(torch_kernel),
        stride=2,
        padding=1,
        dilation=(1, 2),
        groups=3,
    )
    np.testing.assert_allclose(outputs, from_torch(expected), rtol=1e-12, atol=1e-12)


def test_spatially_separable_matches_two_torch_convs():
    inputs = random(2, 3, 7, 6)
    row_kernel, column_kernel = random(3, 1, 3, 4), random(1, 3, 4, 2)
    outputs = ref.spatially_separable_conv(
        inputs, [row_kernel, column_kernel], strides=(2, 1), padding=1, data_format="channels_first"
    )
    stage = F.conv2d(torch.from_numpy(inputs), to_torch_weight(row_kernel), stride=(2, 1), padding=(1, 0))
    expected = F.conv2d(stage, to_torch_weight(column_kernel), padding=(0, 1))
    np.testing.assert_allclose(outputs, from_torch(expected), rtol=1e-12, atol=1e-12)


TRANSPOSE_CASES = [
    # rank, in sizes, kernel sizes, C_in, C_out, groups, stride, dilation, padding, output_padding
    (1, (5,), (3,), 2, 3, 1, 2, 1, 0, 1),
    (1, (4,), (4,), 4, 6, 2, 3, 1, 0, 2),
    (1, (6,), (3,), 3, 3, 3, 2, 2, 2, 1),
    (2, (3, 4), (3, 2), 4, 2, 2, (2, 1), (1, 2), 0, (1, 0)),
    (2, (4, 4), (3, 3), 2, 4, 1, 2, 1, (1, 2), (1, 1)),
    (3, (2, 3, 2), (2, 2, 3), 2, 2, 1, (2, 1, 3), (1, 2, 1), 0, (1, 0, 2)),
]


@pytest.mark.parametrize("case", TRANSPOSE_CASES)
def test_conv_transpose_matches_torch(case):
    rank, in_sizes, kernel_sizes, in_channels, out_channels, groups = case[:6]
    stride, dilation, pad, extra = case[6:]
    inputs = random(2, in_channels, *in_sizes)
    kernel = random(*kernel_sizes, out_channels // groups, in_channels)
    bias = random(out_channels)
    outputs = ref.conv_transpose(
        inputs,
        kernel,
        bias,
        strides=stride,
        padding=pad,
        output_padding=extra,
        data_format="channels_first",
        dilation_rate=dilation,
        groups=groups,
    )
    expected = TORCH_CONV_TRANSPOSE[rank](
        torch.from_numpy(inputs),
        to_torch_weight(kernel),
        torch.from_numpy(bias),
        stride=stride,
        padding=pad,
        output_padding=extra,
        groups=groups,
        dilation=dilation,
    )
    np.testing.assert_allclose(outputs, from_torch(expected), rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------------------------
# Refusals: never a wrong-shaped result
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: ref.conv(random(1, 4, 4, 1), random(3, 3, 1, 1), padding="causal"), "causal"),
        (lambda: ref.conv(random(1, 2, 1), random(3, 1, 1)), "shorter than"),
        (lambda: ref.conv(random(1, 5, 1), random(3, 1, 1), padding=(1, 2)), "one entry per"),
        (lambda: ref.conv(random(1, 5, 3), random(3, 2, 1)), "divide"),
        (lambda: ref.conv(random(1, 5, 4), random(3, 2, 3)), "multiple of groups"),
        (lambda: ref.conv(random(1, 5, 1), random(3, 1, 1), strides=0), "strides"),
        (lambda: ref.conv(random(1, 5, 5, 1), random(3, 1, 1)), "rank"),
        (lambda: ref.conv(random(1, 5, 1), random(3, 1, 1), padding_mode="mirror"), "padding_mode"),
        (lambda: ref.conv(random(1, 5, 1), random(3, 1, 1), data_format="NCHW"), "data_format"),
        (lambda: ref.conv_transpose(random(1, 5, 1), random(3, 1, 1), padding="full"), "valid"),
        (lambda: ref.conv_transpose(random(1, 5, 3), random(3, 1, 3), groups=2), "groups"),
        (lambda: ref.depthwise_conv(random(1, 5, 3), random(3, 2, 1)), "channels"),
    ],
)
def test_bad_arguments_raise_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_reference_imports_only_numpy_and_the_standard_library():
    tree = ast.parse(Path(ref.__file__).read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module)
    top_level = {name.split(".")[0] for name in imported}
    assert top_level <= {"numpy", "__future__", "itertools", "operator", "collections", "typing"}
