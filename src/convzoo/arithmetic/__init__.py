"""Convolution arithmetic: shapes, costs and receptive fields, as pure integer maths.

The one implementation of the shape rules: the ops build their engine calls from a `Layer`'s
stages, and the command line prints its figures, so what `convzoo calc` says is what
`convzoo.conv` computes. Nothing here touches an array or imports NumPy.

- `shapes`: output sizes, the padding applied, `ConvGeometry` (`conv_geometry`,
  `transpose_geometry`).
- `layer`: `Layer`, one layer of any kind by integers, and the `Stage`s its op runs; `stack`.
- `costs`: parameters, MACs and FLOPs, bias adds, memory, the output-size formulas.
- `receptive_field`: what an output sees, through a layer and through a stack.

Notation of Dumoulin & Visin, "A guide to convolution arithmetic for deep learning"
(arXiv:1603.07285), per spatial axis: i input size, k kernel size, s stride, d dilation,
k_eff = d*(k-1) + 1 the span of the dilated kernel, p = (p_before, p_after) padding,
a output padding, o output size.
"""

from .costs import (
    Memory,
    Parameters,
    applied_padding,
    bias_adds,
    flops,
    kernel_shapes,
    macs,
    memory,
    output_size_formulas,
    parameters,
    stage_macs,
)
from .layer import KIND_OPTIONS, KINDS, Layer, Stage, shared_layer, stack
from .receptive_field import IDENTITY_FIELD, ReceptiveField, receptive_field, stack_receptive_fields, stage_field
from .shapes import (
    ConvGeometry,
    Pair,
    check_padding_mode,
    conv_geometry,
    conv_output_size,
    conv_padding,
    dilated_kernel_size,
    interior_outputs,
    same_padding,
    transpose_crop,
    transpose_geometry,
)

__all__ = [
    "ConvGeometry",
    "IDENTITY_FIELD",
    "KINDS",
    "KIND_OPTIONS",
    "Layer",
    "Memory",
    "Pair",
    "Parameters",
    "ReceptiveField",
    "Stage",
    "applied_padding",
    "bias_adds",
    "check_padding_mode",
    "conv_geometry",
    "conv_output_size",
    "conv_padding",
    "dilated_kernel_size",
    "interior_outputs",
    "flops",
    "kernel_shapes",
    "macs",
    "memory",
    "output_size_formulas",
    "parameters",
    "receptive_field",
    "shared_layer",
    "same_padding",
    "stack",
    "stack_receptive_fields",
    "stage_field",
    "stage_macs",
    "transpose_crop",
    "transpose_geometry",
]
