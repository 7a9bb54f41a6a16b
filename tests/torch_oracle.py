"""PyTorch 2.13 (CPU) as an oracle: every convzoo op written with torch.nn.functional.

Shares nothing with convzoo but the meaning of the arguments: the Keras layouts are permuted
to PyTorch's, Keras's string paddings are resolved here with their published rules, explicit
and asymmetric padding and the padding modes go through F.pad, and a transpose convolution is
F.conv_transpose with no padding, then cropped. Gradients come from torch.autograd.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

torch.set_num_threads(1)
CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
CONV_TRANSPOSE = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}
TORCH_MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "replicate", "circular": "circular"}


def _span(kernel: int, dilation: int) -> int:
    return dilation * (kernel - 1) + 1


def _keras_same(size: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    out = -(-size // stride)
    total = max((out - 1) * stride + _span(kernel, dilation) - size, 0)
    return total // 2, total - total // 2


def _per_axis(value, rank):
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * rank


def _pairs(padding, rank):
    """Explicit padding as one (before, after) pair per axis."""
    if isinstance(padding, int):
        return [(padding, padding)] * rank
    return [(p, p) if isinstance(p, int) else tuple(p) for p in padding]


def _conv_pads(padding, sizes, kernels, strides, dilations):
    if not isinstance(padding, str):
        return _pairs(padding, len(sizes))
    padding = padding.lower()
    pads = []
    for size, kernel, stride, dilation in zip(sizes, kernels, strides, dilations):
        span = _span(kernel, dilation) - 1
        pads.append(
            {"valid": (0, 0), "full": (span, span), "causal": (span, 0)}.get(padding)
            or _keras_same(size, kernel, stride, dilation)
        )
    return pads


def _pad(x: torch.Tensor, pads, mode: str) -> torch.Tensor:
    flat = [amount for pair in reversed(pads) for amount in pair]  # F.pad wants the last axis first
    if not any(flat):
        return x
    return F.pad(x, flat, mode=TORCH_MODES[mode])


def _crop(y: torch.Tensor, crops) -> torch.Tensor:
    """Crop (before, after) per spatial axis of an NC... tensor; a negative crop appends zeros."""
    for axis, (before, after) in enumerate(crops, start=2):
        if after < 0:
            y = _pad_axis(y, axis, -after)
            after = 0
        y = y.narrow(axis, before, y.shape[axis] - before - after)
    return y


def _pad_axis(y, axis, amount):
    shape = list(y.shape)
    shape[axis] = amount
    return torch.cat([y, y.new_zeros(shape)], dim=axis)


def _transpose_crops(padding, output_padding, kernels, strides, dilations):
    rank = len(kernels)
    extras = _per_axis(output_padding, rank) if output_padding is not None else (None,) * rank
    if not isinstance(padding, str):
        return [(b, a - (e or 0)) for (b, a), e in zip(_pairs(padding, rank), extras)]
    crops = []
    for kernel, stride, dilation, extra in zip(kernels, strides, dilations, extras):
        span = _span(kernel, dilation)
        if padding.lower() == "valid":
            crops.append((0, -(max(span, stride) - span if extra is None else extra)))
            continue
        pad_len = stride + span - 2 if extra is None else span + span % 2 - 2 + extra
        left = min(pad_len // 2 + pad_len % 2, span - 1)
        crops.append((span - 1 - left, span - 1 - (pad_len - left)))
    return crops


def _weight(kernel: torch.Tensor) -> torch.Tensor:
    """Keras (*K, A, B) -> PyTorch (B, A, *K)."""
    rank = kernel.dim() - 2
    return kernel.permute(rank + 1, rank, *range(rank)).contiguous()  # autograd needs it contiguous


def conv(x, kernel, bias=None, *, strides=1, padding="valid", dilation_rate=1, padding_mode="zeros", groups=None):
    """x is NC...; kernel (*K, C_in/g, C_out) as in Keras."""
    rank = kernel.dim() - 2
    strides, dilations = _per_axis(strides, rank), _per_axis(dilation_rate, rank)
    pads = _conv_pads(padding, x.shape[2:], kernel.shape[:rank], strides, dilations)
    groups = groups or x.shape[1] // kernel.shape[-2]
    padded = _pad(x, pads, padding_mode)
    return CONV[rank](padded, _weight(kernel), bias, stride=strides, dilation=dilations, groups=groups)


def conv_transpose(x, kernel, bias=None, *, strides=1, padding="valid", output_padding=None, dilation_rate=1, groups=1):
    """x is NC...; kernel (*K, C_out/g, C_in) as in Keras; PyTorch's weight is (C_in, C_out/g, *K)."""
    rank = kernel.dim() - 2
    strides, dilations = _per_axis(strides, rank), _per_axis(dilation_rate, rank)
    full = CONV_TRANSPOSE[rank](x, _weight(kernel), None, stride=strides, dilation=dilations, groups=groups)
    y = _crop(full, _transpose_crops(padding, output_padding, kernel.shape[:rank], strides, dilations))
    return y if bias is None else y + bias.reshape(-1, *([1] * rank))


def depthwise_conv(x, kernel, bias=None, **options):
    rank = kernel.dim() - 2
    channels, multiplier = kernel.shape[-2:]
    grouped = kernel.reshape(*kernel.shape[:rank], 1, channels * multiplier)
    return conv(x, grouped, bias, groups=channels, **options)


def separable_conv(x, depthwise_kernel, pointwise_kernel, bias=None, **options):
    rank = depthwise_kernel.dim() - 2
    middle = depthwise_conv(x, depthwise_kernel, **options)
    return conv(middle, pointwise_kernel.reshape((1,) * rank + tuple(pointwise_kernel.shape[-2:])), bias)


def pointwise_conv(x, kernel, bias=None):
    rank = x.dim() - 2
    return conv(x, kernel.reshape((1,) * rank + tuple(kernel.shape[-2:])), bias)


def _only(axis, values, elsewhere):
    return tuple(value if a == axis else elsewhere for a, value in enumerate(values))


def spatially_separable_conv(
    x, kernels, bias=None, *, strides=1, padding="valid", dilation_rate=1, padding_mode="zeros"
):
    rank = len(kernels)
    strides, dilations = _per_axis(strides, rank), _per_axis(dilation_rate, rank)
    for axis, kernel in enumerate(kernels):
        pads = _conv_pads(padding, x.shape[2:], kernel.shape[:rank], strides, dilations)
        x = conv(
            x,
            kernel,
            strides=_only(axis, strides, 1),
            dilation_rate=_only(axis, dilations, 1),
            padding=_only(axis, pads, (0, 0)),
            padding_mode=padding_mode,
        )
    return x if bias is None else x + bias.reshape(-1, *([1] * rank))


OPS = {
    "conv": conv,
    "pointwise": pointwise_conv,
    "transpose": conv_transpose,
    "depthwise": depthwise_conv,
    "separable": separable_conv,
    "spatially_separable": spatially_separable_conv,
}


def _tensor(value, dtype):
    return torch.tensor(np.asarray(value), dtype=dtype, requires_grad=True)


def run(case, cotangent: np.ndarray | None = None, dtype=torch.float64):
    """`case`'s output and (if `cotangent` is given) its gradients, computed by PyTorch.

    Returns numpy arrays in convzoo's layouts: (output, [grad per array, nested as the arrays]).
    """
    options = dict(case.options)
    channels_first = options.pop("data_format", "channels_last") == "channels_first"
    x, *rest = case.arrays
    x_t = _tensor(x, dtype)
    rest_t = [[_tensor(k, dtype) for k in item] if isinstance(item, list) else _tensor(item, dtype) for item in rest]
    moved = x_t if channels_first else x_t.movedim(-1, 1)
    out = OPS[case.kind](moved, *rest_t, **options)
    out_np = (out if channels_first else out.movedim(1, -1)).detach().numpy()
    if cotangent is None:
        return out_np, None
    cot = torch.tensor(cotangent, dtype=dtype)
    leaves = [x_t] + [t for item in rest_t for t in (item if isinstance(item, list) else [item])]
    grads = torch.autograd.grad(out, leaves, cot if channels_first else cot.movedim(-1, 1), allow_unused=True)
    grads = [np.zeros(leaf.shape) if g is None else g.numpy() for g, leaf in zip(grads, leaves)]
    nested, position = [grads[0]], 1
    for item in rest:
        count = len(item) if isinstance(item, list) else 1
        nested.append(grads[position : position + count] if isinstance(item, list) else grads[position])
        position += count
    return out_np, nested
