"""Identities between kinds: each kind is what the notes say it is, in terms of another.

Every identity is checked over random valid configurations from `cases()`, in float64.
"""

from __future__ import annotations

import numpy as np
from hypothesis import assume, given, settings

import convzoo
from cases import cases

EXAMPLES = settings(max_examples=60)


def close(actual, expected):
    np.testing.assert_allclose(actual, expected, rtol=1e-10, atol=1e-10)


def _explicit_pairs(options, rank):
    padding = options["padding"]
    if isinstance(padding, int):
        return [(padding, padding)] * rank
    return [(p, p) if isinstance(p, int) else p for p in padding]


def _per_axis(value, rank):
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * rank


@EXAMPLES
@given(cases(kinds=("conv",), modes=("zeros",), paddings=("valid", "int", "ints", "pairs")))
def test_conv_transpose_is_the_input_gradient_of_conv(case):
    """JAX's testConvTranspose idea: the same kernel array, strides, dilation and groups; the
    transpose's padding is the conv's and its output_padding gives back the input's size."""
    x, kernel = case.arrays[:2]
    options = case.options
    rank = kernel.ndim - 2
    out, pullback = convzoo.vjp(convzoo.conv, x, kernel, **options)
    cotangent = np.random.default_rng(1).standard_normal(out.shape)
    pairs = [(0, 0)] * rank if options["padding"] == "valid" else _explicit_pairs(options, rank)
    channels_last = options["data_format"] == "channels_last"
    in_sizes = x.shape[1:-1] if channels_last else x.shape[2:]
    strides, dilation = _per_axis(options["strides"], rank), options["dilation_rate"]
    leftover = tuple(
        (size + before + after - d * (k - 1) - 1) % s
        for size, (before, after), k, s, d in zip(in_sizes, pairs, kernel.shape, strides, dilation)
    )
    groups = (x.shape[-1] if channels_last else x.shape[1]) // kernel.shape[-2]
    transposed = convzoo.conv_transpose(
        cotangent,
        kernel,
        strides=strides,
        padding=pairs,
        output_padding=leftover,
        data_format=options["data_format"],
        dilation_rate=dilation,
        groups=groups,
    )
    close(transposed, pullback(cotangent)[0])


@EXAMPLES
@given(cases(kinds=("transpose",), paddings=("valid", "int", "ints", "pairs")))
def test_conv_transpose_equals_zero_insertion_then_full_conv_with_flipped_kernel(case):
    """D&V relationship 14: s-1 zeros between input pixels, padding k_eff-1-crop, the kernel
    flipped and each group's matrix transposed, stride 1: the fractionally strided view."""
    x, kernel = case.arrays[:2]
    options = dict(case.options)
    rank, groups = kernel.ndim - 2, options.get("groups", 1)
    strides, dilation = _per_axis(options["strides"], rank), options["dilation_rate"]
    extras = options.get("output_padding") or (0,) * rank
    pairs = [(0, 0)] * rank if options["padding"] == "valid" else _explicit_pairs(options, rank)
    if options["padding"] == "valid" and options.get("output_padding") is None:  # Keras's s > k_eff tail
        extras = tuple(max(d * (k - 1) + 1, s) - (d * (k - 1) + 1) for k, s, d in zip(kernel.shape, strides, dilation))
    spans = [d * (k - 1) + 1 for k, d in zip(kernel.shape, dilation)]
    pads = [(span - 1 - before, span - 1 - after + extra) for span, (before, after), extra in zip(spans, pairs, extras)]
    assume(min(min(pair) for pair in pads) >= 0)  # a crop beyond the kernel's span is not a padding
    channels_last = options["data_format"] == "channels_last"
    x_last = x if channels_last else np.moveaxis(x, 1, -1)
    dilated = np.zeros(
        (x_last.shape[0], *[(n - 1) * s + 1 for n, s in zip(x_last.shape[1:-1], strides)], x_last.shape[-1])
    )
    dilated[(slice(None), *[slice(None, None, s) for s in strides])] = x_last
    *spatial, per_group_out, in_channels = kernel.shape
    per_group_in = in_channels // groups
    flipped = kernel[tuple(slice(None, None, -1) for _ in spatial)]
    swapped = flipped.reshape(*spatial, per_group_out, groups, per_group_in).swapaxes(-1, -3)
    conv_kernel = swapped.reshape(*spatial, per_group_in, groups * per_group_out)
    expected = convzoo.conv(dilated, conv_kernel, padding=pads, dilation_rate=dilation)
    out = convzoo.conv_transpose(x_last, kernel, **{**options, "data_format": "channels_last"})
    close(out, expected)


@EXAMPLES
@given(cases(kinds=("depthwise",)))
def test_depthwise_is_conv_with_one_group_per_channel(case):
    x, kernel = case.arrays[:2]
    grouped = kernel.reshape(*kernel.shape[:-2], 1, kernel.shape[-2] * kernel.shape[-1])
    close(case.op(*case.arrays, **case.options), convzoo.conv(x, grouped, *case.arrays[2:], **case.options))


@EXAMPLES
@given(cases(kinds=("separable",)))
def test_separable_is_depthwise_then_pointwise(case):
    x, depthwise, pointwise, *bias = case.arrays
    middle = convzoo.depthwise_conv(x, depthwise, **case.options)
    expected = convzoo.pointwise_conv(middle, pointwise, *bias, data_format=case.options["data_format"])
    close(case.op(*case.arrays, **case.options), expected)


@EXAMPLES
@given(cases(kinds=("spatially_separable",), ranks=(2, 3)))
def test_spatially_separable_is_conv_with_the_product_kernel(case):
    """Kernel i spans axis i only, so contracting their channel chain builds the full kernel:
    K[a, b, c, f] = sum_m k1[a, 0, c, m] k2[0, b, m, f] in 2-D (any padding mode: each stage
    acts on lines of one axis, so it commutes with the padding of the others)."""
    x, kernels, *bias = case.arrays
    product = kernels[0]
    for kernel in kernels[1:]:
        product = np.einsum("...cm,...mf->...cf", product, kernel)
    close(case.op(*case.arrays, **case.options), convzoo.conv(x, product, *bias, **case.options))


@EXAMPLES
@given(cases(kinds=("conv",)))
def test_dilated_is_conv_with_zeros_between_kernel_taps(case):
    x, kernel, *bias = case.arrays
    dilation = case.options["dilation_rate"]
    rank = kernel.ndim - 2
    holey = np.zeros((*[d * (k - 1) + 1 for k, d in zip(kernel.shape, dilation)], *kernel.shape[-2:]))
    holey[tuple(slice(None, None, d) for d in dilation)] = kernel
    options = {**case.options, "dilation_rate": 1}
    close(case.op(*case.arrays, **case.options), convzoo.conv(x, holey, *bias, **options))
    assert rank == len(dilation)


@EXAMPLES
@given(cases(kinds=("conv", "depthwise"), paddings=("valid", "int", "ints", "pairs")))
def test_strided_is_unstrided_subsampled(case):
    rank = case.arrays[1].ndim - 2
    strides = _per_axis(case.options["strides"], rank)
    dense = case.op(*case.arrays, **{**case.options, "strides": 1})
    channels_last = case.options["data_format"] == "channels_last"
    keep = (slice(None),) * (1 if channels_last else 2) + tuple(slice(None, None, s) for s in strides)
    close(case.op(*case.arrays, **case.options), dense[keep])


@EXAMPLES
@given(cases(kinds=("conv",), groups=(2, 3)))
def test_grouped_is_per_group_convs_concatenated(case):
    x, kernel, *bias = case.arrays
    channels_last = case.options["data_format"] == "channels_last"
    channel_axis = -1 if channels_last else 1
    groups = x.shape[channel_axis] // kernel.shape[-2]
    parts = np.split(x, groups, axis=channel_axis)
    kernels = np.split(kernel, groups, axis=-1)
    expected = np.concatenate([convzoo.conv(p, k, **case.options) for p, k in zip(parts, kernels)], axis=channel_axis)
    if bias:
        expected = expected + (bias[0] if channels_last else bias[0].reshape(-1, *[1] * (kernel.ndim - 2)))
    close(case.op(*case.arrays, **case.options), expected)


@EXAMPLES
@given(cases(kinds=("pointwise",)))
def test_pointwise_is_a_matrix_product_over_channels(case):
    x, kernel, *bias = case.arrays
    matrix = kernel.reshape(kernel.shape[-2:])
    channels_last = case.options["data_format"] == "channels_last"
    expected = np.moveaxis(np.moveaxis(x, 1, -1) @ matrix, -1, 1) if not channels_last else x @ matrix
    if bias:
        expected = expected + (bias[0] if channels_last else bias[0].reshape(-1, *[1] * (x.ndim - 2)))
    close(case.op(*case.arrays, **case.options), expected)


@EXAMPLES
@given(cases())
def test_channels_first_is_channels_last_transposed(case):
    options = dict(case.options)
    x, *rest = case.arrays
    if options["data_format"] == "channels_first":
        x = np.moveaxis(x, 1, -1)
    options["data_format"] = "channels_last"
    last = case.op(x, *rest, **options)
    options["data_format"] = "channels_first"
    first = case.op(np.moveaxis(x, -1, 1), *rest, **options)
    close(first, np.moveaxis(last, -1, 1))
