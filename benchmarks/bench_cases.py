"""The benchmark cases of ../shared/bench/cases.md, each as a convzoo call and the same PyTorch call.

Every case builds float32 arrays once (channels-last for convzoo, as the table gives them)
and offers four callables: convzoo forward, convzoo forward + backward (the input and every
kernel gradient through `convzoo.vjp`), and the same two for PyTorch in a memory format
("nchw" or "channels_last"). FLOPs are 2 x the direct algorithm's MACs, from
`convzoo.arithmetic`, as in the anchors (../shared/research/perf-anchors.md).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

import convzoo
from convzoo import arithmetic


@dataclass(frozen=True)
class Spec:
    name: str
    what: str
    op: Callable  # the convzoo op
    input_shape: tuple[int, ...]  # channels-last
    kernel_shapes: tuple[tuple[int, ...], ...]  # convzoo's layouts, in the op's argument order
    options: dict
    layers: tuple[arithmetic.Layer, ...]  # for the FLOP count
    torch: Callable  # (torch module, x, kernels in convzoo layout as torch tensors) -> y
    kernel_list: bool = False  # the op takes its kernels as one list (spatially_separable_conv)

    def call_args(self, x, kernels) -> tuple:
        return (x, list(kernels)) if self.kernel_list else (x, *kernels)


def _torch_kernel(kernel):
    """Keras layout (*K, a, b) -> torch (b, a, *K): (C_out, C_in, *K) for a convolution, and
    (C_in, C_out, *K) for a transpose one, whose Keras kernel is (*K, C_out, C_in)."""
    rank = kernel.ndim - 2
    return kernel.permute(rank + 1, rank, *range(rank))


def _conv_case(name, what, input_shape, kernel_shape, **options):
    rank = len(input_shape) - 2
    groups = input_shape[-1] // kernel_shape[-2]
    padding = options.get("padding", "valid")
    layer = arithmetic.Layer(
        "conv",
        input_shape[1:-1],
        input_shape[-1],
        filters=kernel_shape[-1],
        kernel_size=kernel_shape[:-2],
        strides=options.get("strides", 1),
        padding=padding,
        dilation_rate=options.get("dilation_rate", 1),
        groups=groups,
        batch=input_shape[0],
    )

    def run_torch(torch, x, kernel):
        functional = getattr(torch.nn.functional, f"conv{rank}d")
        weight = _torch_kernel(kernel)
        if padding == "causal":  # left-pad (k-1)*d, the Keras causal rule
            x = torch.nn.functional.pad(x, ((kernel_shape[0] - 1) * options["dilation_rate"], 0))
            torch_padding = 0
        else:
            torch_padding = padding
        return functional(
            x,
            weight,
            stride=options.get("strides", 1),
            padding=torch_padding,
            dilation=options.get("dilation_rate", 1),
            groups=groups,
        )

    return Spec(name, what, convzoo.conv, input_shape, (kernel_shape,), options, (layer,), run_torch)


def _specs() -> list[Spec]:
    specs = [
        _conv_case("seed", "the notes' example", (32, 28, 28, 3), (3, 3, 3, 32)),
        _conv_case("std3x3", "ResNet-style body", (8, 56, 56, 64), (3, 3, 64, 64), padding="same"),
        _conv_case("std3x3_s2", "strided down-sampling", (8, 56, 56, 64), (3, 3, 64, 128), strides=2, padding=1),
    ]
    pointwise = _conv_case("pointwise", "1x1 bottleneck", (8, 28, 28, 256), (1, 1, 256, 128))
    specs.append(Spec(**{**pointwise.__dict__, "op": convzoo.pointwise_conv}))
    specs.append(
        Spec(
            "transpose",
            "decoder up-sampling",
            convzoo.conv_transpose,
            (8, 16, 16, 128),
            ((4, 4, 64, 128),),  # Keras: (*K, filters, C_in)
            {"strides": 2, "padding": 1},
            (arithmetic.Layer("transpose", (16, 16), 128, 64, 4, strides=2, padding=1, batch=8),),
            lambda torch, x, k: torch.nn.functional.conv_transpose2d(x, _torch_kernel(k), stride=2, padding=1),
        )
    )
    specs += [
        _conv_case("dilated", "atrous context", (8, 64, 64, 64), (3, 3, 64, 64), dilation_rate=2, padding="same"),
    ]

    def spatial_torch(torch, x, k1, k2):
        y = torch.nn.functional.conv2d(x, _torch_kernel(k1), padding=(1, 0))
        return torch.nn.functional.conv2d(y, _torch_kernel(k2), padding=(0, 1))

    specs.append(
        Spec(
            "spatial_sep",
            "(3,1) then (1,3)",
            convzoo.spatially_separable_conv,
            (8, 56, 56, 64),
            ((3, 1, 64, 64), (1, 3, 64, 64)),
            {"padding": "same"},
            (
                arithmetic.Layer(
                    "spatially-separable", (56, 56), 64, 64, 3, padding="same", intermediate_filters=64, batch=8
                ),
            ),
            spatial_torch,
            kernel_list=True,
        )
    )
    specs.append(
        Spec(
            "depthwise",
            "MobileNet depthwise",
            convzoo.depthwise_conv,
            (8, 112, 112, 32),
            ((3, 3, 32, 1),),
            {"padding": "same"},
            (arithmetic.Layer("depthwise", (112, 112), 32, kernel_size=3, padding="same", batch=8),),
            lambda torch, x, k: torch.nn.functional.conv2d(
                x, k.permute(2, 3, 0, 1).reshape(32, 1, 3, 3), padding=1, groups=32
            ),
        )
    )

    def separable_torch(torch, x, depthwise, pointwise):
        y = torch.nn.functional.conv2d(x, depthwise.permute(2, 3, 0, 1).reshape(64, 1, 3, 3), padding=1, groups=64)
        return torch.nn.functional.conv2d(y, _torch_kernel(pointwise))

    specs.append(
        Spec(
            "dw_separable",
            "MobileNet block",
            convzoo.separable_conv,
            (8, 56, 56, 64),
            ((3, 3, 64, 1), (1, 1, 64, 128)),
            {"padding": "same"},
            (arithmetic.Layer("separable", (56, 56), 64, 128, 3, padding="same", batch=8),),
            separable_torch,
        )
    )
    specs += [
        _conv_case("grouped", "ResNeXt block", (8, 28, 28, 256), (3, 3, 8, 256), padding="same"),
        _conv_case("conv1d_dilated", "WaveNet layer", (8, 4096, 64), (2, 64, 64), dilation_rate=8, padding="causal"),
        _conv_case("conv3d", "video / volume", (2, 16, 32, 32, 32), (3, 3, 3, 32, 32), padding="same"),
        _conv_case("big_kernel", "large kernel", (4, 64, 64, 16), (11, 11, 16, 16), padding="same"),
    ]
    return specs


SPECS = {spec.name: spec for spec in _specs()}


def flops(spec: Spec) -> int:
    """2 x MACs of the direct algorithm, forward."""
    return 2 * sum(arithmetic.macs(layer) for layer in spec.layers)


def arrays(spec: Spec, seed: int = 0) -> tuple[np.ndarray, ...]:
    """The input, then the kernels, float32, scaled so that outputs stay near unit size."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(spec.input_shape, dtype=np.float32)
    kernels = [
        (rng.standard_normal(shape, dtype=np.float32) / math.sqrt(math.prod(shape[:-1]))).astype(np.float32)
        for shape in spec.kernel_shapes
    ]
    return (x, *kernels)


def convzoo_calls(spec: Spec, values: tuple[np.ndarray, ...]) -> dict[str, Callable[[], object]]:
    """{"forward": ..., "forward_backward": ...}; the backward gives the input and kernel gradients."""
    x, *kernels = values
    args = spec.call_args(x, kernels)
    forward = lambda: spec.op(*args, **spec.options)
    cotangent = np.ones_like(forward())

    def forward_backward():
        out, pullback = convzoo.vjp(spec.op, *args, **spec.options)
        return out, pullback(cotangent)

    return {"forward": forward, "forward_backward": forward_backward}


def torch_calls(spec: Spec, values: tuple[np.ndarray, ...], layout: str) -> dict[str, Callable[[], object]]:
    """The same calls in PyTorch, NCHW ("nchw") or "channels_last" memory format."""
    import torch

    x, *kernels = values
    rank = x.ndim - 2
    tx = torch.from_numpy(np.moveaxis(x, -1, 1).copy())
    if layout == "channels_last":
        tx = tx.contiguous(memory_format=torch.channels_last if rank == 2 else torch.channels_last_3d)
    tk = [torch.from_numpy(k) for k in kernels]

    def forward():
        with torch.inference_mode():
            return spec.torch(torch, tx, *tk)

    cotangent = torch.ones_like(forward())
    leaves = [tx.detach().clone().requires_grad_(True), *(k.detach().clone().requires_grad_(True) for k in tk)]

    def forward_backward():
        for leaf in leaves:
            leaf.grad = None
        y = spec.torch(torch, *leaves)
        y.backward(cotangent)
        return y, [leaf.grad for leaf in leaves]

    return {"forward": forward, "forward_backward": forward_backward}


def torch_layouts(spec: Spec) -> tuple[str, ...]:
    return ("nchw",) if len(spec.input_shape) == 3 else ("nchw", "channels_last")
