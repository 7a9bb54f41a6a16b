"""Layers and weights between convzoo and Keras, PyTorch and ONNX.

Each framework is an optional extra, imported only when its converter runs:
`convzoo[keras]` (keras, h5py), `convzoo[torch]`, `convzoo[onnx]`.
"""

from .keras import from_keras, layer_from_config, load_keras, load_keras_weights, read_keras_weights
from .onnx import run_onnx
from .torch import from_torch, to_torch, to_torch_weights

__all__ = [
    "from_keras",
    "from_torch",
    "layer_from_config",
    "load_keras",
    "load_keras_weights",
    "read_keras_weights",
    "run_onnx",
    "to_torch",
    "to_torch_weights",
]
