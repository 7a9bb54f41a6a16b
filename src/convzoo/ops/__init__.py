"""The public convolution ops, each a short pipeline over `convzoo.engine`, with its gradient."""

from ._op import vjp
from .conv import conv, pointwise_conv
from .depthwise import depthwise_conv, separable_conv
from .spatial import spatially_separable_conv
from .transpose import conv_transpose

__all__ = [
    "conv",
    "pointwise_conv",
    "conv_transpose",
    "depthwise_conv",
    "separable_conv",
    "spatially_separable_conv",
    "vjp",
]
