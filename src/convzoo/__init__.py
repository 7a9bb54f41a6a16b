"""convzoo: every convolution of deep learning as exact NumPy operations, with gradients.

All "convolutions" here are cross-correlations, as in every deep-learning framework. Arrays
use Keras's layouts: inputs `(N, *spatial, C)` (or `(N, C, *spatial)` with
data_format="channels_first"), kernels `(*kernel_size, C_in/groups, C_out)`.
"""

import os

# numba's OpenMP threads spin after each parallel loop and starve the BLAS threads of the matrix
# product that follows (Winograd: 2x slower on std3x3, 4x on dilated; docs/performance.md).
# Sleeping instead costs microseconds. A value the user has set wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from .engine import use_algorithm  # noqa: E402
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
