"""Bad input gets a clear error: the argument, the rule, the values received.

One test per rule. Each asserts the exception type (ConvZooError, a ValueError; or
ConvZooTypeError, also a TypeError, for a wrong type) and the words that matter.
"""

from __future__ import annotations

import numpy as np
import pytest

import convzoo
from convzoo import ConvZooError, ConvZooTypeError

X2 = np.ones((2, 8, 8, 6))  # (N, H, W, C) batch of 6-channel images
K2 = np.ones((3, 3, 2, 6))  # 3x3 kernel, 2 input channels per group (3 groups), 6 filters


def raises(error, *words):
    """pytest.raises for `error` whose message contains every one of `words`, in order."""
    return pytest.raises(error, match=".*".join(map(_escape, words)))


def _escape(text):
    import re

    return re.escape(text)


def test_errors_are_value_errors_and_type_errors_are_also_type_errors():
    assert issubclass(ConvZooError, ValueError)
    assert issubclass(ConvZooTypeError, ConvZooError) and issubclass(ConvZooTypeError, TypeError)


def test_the_op_and_its_array_shapes_come_first():
    with raises(ConvZooError, "conv(inputs.shape=(2, 8, 8, 6), kernel.shape=(3, 3, 4, 6)):"):
        convzoo.conv(X2, np.ones((3, 3, 4, 6)))


def test_kernel_input_channels_must_divide_the_inputs_channels():
    with raises(
        ConvZooError,
        "kernel's input channels",
        "must divide the input's channels",
        "kernel.shape=(3, 3, 4, 6)",
        "input channels=6",
    ):
        convzoo.conv(X2, np.ones((3, 3, 4, 6)))


def test_groups_must_divide_the_filters():
    with raises(ConvZooError, "groups must divide the number of filters", "groups=3", "filters=4"):
        convzoo.conv(X2, np.ones((3, 3, 2, 4)))


def test_padded_input_smaller_than_the_dilated_kernel_is_an_empty_output():
    with raises(
        ConvZooError,
        "dilated kernel spans 9",
        "padded input has only 8",
        "spatial axis 0",
        "output would be empty",
        "dilation_rate=4",
    ):
        convzoo.conv(X2, K2, dilation_rate=4)


@pytest.mark.parametrize("name", ["strides", "dilation_rate"])
def test_strides_and_dilation_must_be_at_least_one(name):
    with raises(ConvZooError, f"`{name}` must be >= 1", f"{name}=(1, 0)"):
        convzoo.conv(X2, K2, **{name: (1, 0)})


def test_strides_and_dilation_need_one_value_per_axis():
    with raises(ConvZooError, "`strides` must be an int or 2 ints", "strides=(1, 2, 3)"):
        convzoo.conv(X2, K2, strides=(1, 2, 3))


def test_negative_padding_is_refused():
    with raises(ConvZooError, "`padding` must be >= 0", "padding=((1, -1), 0)"):
        convzoo.conv(X2, K2, padding=((1, -1), 0))


def test_padding_must_give_one_entry_per_axis():
    with raises(ConvZooError, "`padding` must give one entry per spatial axis", "spatial rank 2"):
        convzoo.conv(X2, K2, padding=(1, 1, 1))
    with raises(ConvZooError, "(before, after) pair", "padding=((1, 2, 3), 0)"):
        convzoo.conv(X2, K2, padding=((1, 2, 3), 0))


def test_unknown_padding_string_is_refused():
    with raises(ConvZooError, "`padding` must be one of 'valid', 'same', 'full', 'causal'", "padding='half'"):
        convzoo.conv(X2, K2, padding="half")


def test_causal_is_for_1d_only():
    with raises(ConvZooError, "'causal'` is defined for 1-D convolutions only", "spatial rank 2"):
        convzoo.conv(X2, K2, padding="causal")


def test_transpose_takes_neither_full_nor_causal():
    for padding in ("full", "causal"):
        with raises(ConvZooError, "`padding` must be one of 'valid', 'same', an int", f"padding='{padding}'"):
            convzoo.conv_transpose(np.ones((1, 5, 2)), np.ones((3, 4, 2)), padding=padding)


def test_transpose_takes_no_padding_mode():
    with pytest.raises(TypeError, match="padding_mode"):
        convzoo.conv_transpose(np.ones((1, 5, 2)), np.ones((3, 4, 2)), padding_mode="reflect")


def test_output_padding_must_be_below_the_stride_with_string_padding():
    with raises(
        ConvZooError,
        "`output_padding` must be smaller than `strides`",
        "Keras's rule",
        "output_padding=(2, 0)",
        "strides=(2, 2)",
    ):
        convzoo.conv_transpose(X2, np.ones((3, 3, 4, 6)), strides=2, padding="same", output_padding=(2, 0))


def test_output_padding_must_be_below_stride_or_dilation_with_explicit_padding():
    x, kernel = np.ones((1, 5, 2)), np.ones((3, 4, 2))
    assert convzoo.conv_transpose(x, kernel, padding=0, dilation_rate=3, output_padding=2).shape == (1, 13, 4)
    with raises(ConvZooError, "max(`strides`, `dilation_rate`)", "PyTorch's rule", "output_padding=(3,)"):
        convzoo.conv_transpose(x, kernel, padding=0, dilation_rate=3, output_padding=3)


def test_negative_output_padding_is_refused():
    with raises(ConvZooError, "`output_padding` must be >= 0"):
        convzoo.conv_transpose(np.ones((1, 5, 2)), np.ones((3, 4, 2)), strides=2, output_padding=-1)


def test_transpose_output_that_would_be_empty_is_refused():
    with raises(ConvZooError, "transpose convolution's output would be empty on spatial axis 0", "padding=(3, 3)"):
        convzoo.conv_transpose(np.ones((1, 1, 2)), np.ones((3, 4, 2)), padding=3)


def test_transpose_kernel_must_end_with_the_inputs_channels():
    with raises(
        ConvZooError, "(*kernel_size, C_out/groups, C_in) must end with the input's channels", "input channels=6"
    ):
        convzoo.conv_transpose(X2, np.ones((3, 3, 6, 4)))


def test_transpose_groups_must_divide_the_inputs_channels():
    with raises(ConvZooError, "`groups` must divide the input's channels", "groups=4", "input channels=6"):
        convzoo.conv_transpose(X2, np.ones((3, 3, 2, 6)), groups=4)
    with raises(ConvZooError, "`groups` must be >= 1"):
        convzoo.conv_transpose(X2, np.ones((3, 3, 2, 6)), groups=0)


def test_reflect_padding_must_be_smaller_than_the_input():
    x = np.ones((1, 3, 1))
    assert convzoo.conv(x, np.ones((3, 1, 1)), padding=2, padding_mode="reflect").shape == (1, 5, 1)
    with raises(
        ConvZooError, "padding_mode='reflect' needs a padding smaller than the input size", "padding=(3, 3)", "size 3"
    ):
        convzoo.conv(x, np.ones((3, 1, 1)), padding=3, padding_mode="reflect")


def test_circular_padding_may_wrap_around_once_at_most():
    x = np.ones((1, 3, 1))
    assert convzoo.conv(x, np.ones((3, 1, 1)), padding=3, padding_mode="circular").shape == (1, 7, 1)
    with raises(ConvZooError, "padding_mode='circular' needs a padding at most the input size", "padding=(4, 4)"):
        convzoo.conv(x, np.ones((3, 1, 1)), padding=4, padding_mode="circular")


def test_unknown_padding_mode_is_refused():
    with raises(
        ConvZooError,
        "`padding_mode` must be one of 'zeros', 'reflect', 'replicate', 'circular'",
        "padding_mode='mirror'",
    ):
        convzoo.conv(X2, K2, padding=1, padding_mode="mirror")


def test_unknown_data_format_is_refused():
    with raises(ConvZooError, "`data_format` must be one of 'channels_last', 'channels_first'", "data_format='NHWC'"):
        convzoo.conv(X2, K2, data_format="NHWC")


def test_input_of_the_wrong_rank_is_refused():
    with raises(
        ConvZooError, "`inputs` must be a batch (N, *spatial, C) with 2 spatial axes (rank 4)", "inputs.shape=(8, 8, 6)"
    ):
        convzoo.conv(X2[0], K2)


def test_input_with_an_empty_axis_is_refused():
    with raises(ConvZooError, "no empty spatial or channel axis", "inputs.shape=(2, 0, 8, 6)"):
        convzoo.conv(np.ones((2, 0, 8, 6)), K2)
    assert convzoo.conv(np.ones((0, 8, 8, 6)), K2).shape == (0, 6, 6, 6)  # an empty batch is fine


def test_kernel_without_a_spatial_axis_is_refused():
    with raises(
        ConvZooError, "`kernel` must have the layout (*kernel_size, C_in/groups, C_out)", "kernel.shape=(6, 4)"
    ):
        convzoo.conv(X2, np.ones((6, 4)))


def test_bias_must_have_one_value_per_filter():
    with raises(ConvZooError, "`bias` must have shape (C_out,) = (6,)", "bias.shape=(3,)"):
        convzoo.conv(X2, K2, np.ones(3))


def test_depthwise_kernel_must_have_the_inputs_channels():
    with raises(
        ConvZooError,
        "depthwise kernel (*kernel_size, C_in, depth_multiplier)",
        "kernel.shape=(3, 3, 4, 2)",
        "input channels=6",
    ):
        convzoo.depthwise_conv(X2, np.ones((3, 3, 4, 2)))


def test_separable_pointwise_kernel_must_take_the_depthwise_channels():
    with raises(
        ConvZooError,
        "`pointwise_kernel` of a pointwise convolution",
        "C_in = 12",
        "pointwise_kernel.shape=(1, 1, 6, 8)",
    ):
        convzoo.separable_conv(X2, np.ones((3, 3, 6, 2)), np.ones((1, 1, 6, 8)))


def test_pointwise_kernel_must_be_one_by_one():
    with raises(ConvZooError, "(C_in, C_out) or (1, ..., 1, C_in, C_out)", "kernel.shape=(3, 3, 6, 4)"):
        convzoo.pointwise_conv(X2, np.ones((3, 3, 6, 4)))


def test_spatially_separable_needs_one_kernel_per_axis_spanning_its_axis_only():
    with raises(ConvZooError, "one kernel per spatial axis", "[(3, 1, 6, 4)]"):
        convzoo.spatially_separable_conv(X2, [np.ones((3, 1, 6, 4))])
    with raises(ConvZooError, "extent 1 on every spatial axis but axis i", "(3, 3, 4, 4)"):
        convzoo.spatially_separable_conv(X2, [np.ones((3, 1, 6, 4)), np.ones((3, 3, 4, 4))])
    with raises(ConvZooError, "Kernel 1 must take the 4 channels its stage receives", "kernels[1].shape=(1, 3, 2, 4)"):
        convzoo.spatially_separable_conv(X2, [np.ones((3, 1, 6, 4)), np.ones((1, 3, 2, 4))])
    with raises(ConvZooError, "Received: no kernels"):
        convzoo.spatially_separable_conv(X2, [])


@pytest.mark.parametrize(
    "options, words",
    [
        (dict(strides=1.5), ["`strides` must be an int or a sequence of ints", "strides=1.5", "float"]),
        (dict(strides="2"), ["`strides` must be an int or a sequence of ints", "strides='2'"]),
        (dict(dilation_rate=(1, True)), ["`dilation_rate` must be an integer", "True", "bool"]),
        (dict(padding=None), ["`padding` must be an int or a sequence of ints", "padding=None"]),
        (dict(padding=((1.0, 0), 0)), ["`padding` must be an integer", "padding=1.0"]),
    ],
)
def test_hyper_parameters_of_the_wrong_type_are_type_errors(options, words):
    with raises(ConvZooTypeError, *words):
        convzoo.conv(X2, K2, **options)


def test_arrays_of_non_real_numbers_are_type_errors():
    with raises(ConvZooTypeError, "`kernel` must be an array of real numbers", "complex128"):
        convzoo.conv(X2, K2 + 1j)
    with raises(ConvZooTypeError, "`inputs` must be an array of real numbers", "<U1"):
        convzoo.conv(np.full((1, 3, 1), "a"), np.ones((1, 1, 1)))
    with raises(ConvZooTypeError, "`inputs` must be an array of real numbers", "NumPy cannot read", "inhomogeneous"):
        convzoo.conv([[[1.0], [2.0]], [[1.0]]], np.ones((1, 1, 1)))
    with raises(ConvZooTypeError, "`kernels` must be a list or tuple of arrays", "ndarray"):
        convzoo.spatially_separable_conv(X2, np.ones((3, 1, 6, 4)))
