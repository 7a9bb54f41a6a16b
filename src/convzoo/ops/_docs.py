"""Argument descriptions shared by several ops, written once and formatted into their docstrings."""

NOTES = dict(
    inputs="""inputs: a batch, `(N, *S, C_in)` for "channels_last" or `(N, C_in, *S)` for
            "channels_first". Any real dtype (see Returns).""",
    bias="""bias: `(C_out,)`, added to every output position, or None.""",
    strides="""strides: an int or one int per spatial axis, >= 1.""",
    padding="""padding: "valid" (none); "same" (Keras/TensorFlow: O = ceil(S / strides), the odd
            pixel of padding at the end); "full" (d*(k-1) on both sides); "causal" (1-D only:
            d*(k-1) before, none after); or explicit: an int, one int per spatial axis, or one
            (before, after) pair per spatial axis.""",
    data_format="""data_format: "channels_last" or "channels_first", the layout of `inputs` and
            of the output. Kernels keep Keras's layout either way.""",
    dilation_rate="""dilation_rate: an int or one int per spatial axis, >= 1: the kernel's taps are
            `dilation_rate` apart (atrous convolution). Strides and dilation may be combined.""",
    padding_mode="""padding_mode: how the padded positions are filled, as PyTorch's nn.Conv*d:
            "zeros", "reflect" (mirrored without the edge; padding < input size), "replicate"
            (the edge value) or "circular" (wrapped around; padding <= input size). It applies
            to whatever padding `padding` gives, string or explicit.""",
    returns="""The output, `(N, *O, C_out)` or `(N, C_out, *O)` as `data_format` says; float32
        for float32 inputs, float64 for float64, float16 (computed in float32) for float16,
        float64 for integer and bool inputs; mixed dtypes promote as NumPy does.""",
    shape="""O[a] = floor((S[a] + pad_before[a] + pad_after[a] - d[a]*(K[a] - 1) - 1) / s[a]) + 1,
        with s the strides, d the dilation_rate and the pads that `padding` gives
        (`convzoo.arithmetic.conv_padding`).""",
    raises="""ConvZooError: (a ValueError) naming the argument, the rule and the values
            received, for any argument or combination the op cannot take; ConvZooTypeError
            (also a TypeError) for an argument of the wrong type.""",
)


def with_notes(function):
    """Format the shared `NOTES` into `function`'s docstring."""
    function.__doc__ = function.__doc__.format(**NOTES)
    return function
