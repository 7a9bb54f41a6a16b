"""convzoo: every convolution of deep learning as exact NumPy operations, with gradients.

All "convolutions" here are cross-correlations, as in every deep-learning framework. Arrays
use Keras's layouts: inputs `(N, *spatial, C)` (or `(N, C, *spatial)` with
data_format="channels_first"), kernels `(*kernel_size, C_in/groups, C_out)`.
"""

from .engine import use_algorithm
from .errors import ConvZooError, ConvZooTypeError
from .ops import (
    conv,
    conv_transpose,
    depthwise_conv,
    pointwise_conv,
    separable_conv,
    spatially_separable_conv,
    vjp,
)
from .threads import num_threads

__version__ = "0.1.0"
__all__ = [
    "ConvZooError",
    "ConvZooTypeError",
    "conv",
    "conv_transpose",
    "depthwise_conv",
    "num_threads",
    "pointwise_conv",
    "separable_conv",
    "spatially_separable_conv",
    "use_algorithm",
    "vjp",
]
