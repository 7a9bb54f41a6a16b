"""PyTorch modules to convzoo layers and back: `from_torch`, `to_torch`, `to_torch_weights`.

PyTorch's layouts are channels-first: inputs `(N, C, *spatial)`, a convolution's weight
`(C_out, C_in/groups, *K)`, a transpose convolution's `(C_in, C_out/groups, *K)`. Keras's
(and convzoo's) kernels put the kernel's spatial axes first and reverse the two channel
axes: `kernel = weight.permute(2, ..., 1, 0)` for both. No kernel is flipped.
"""

from __future__ import annotations

import numpy as np

from .. import arithmetic
from ..errors import ConvZooError, ConvZooTypeError, with_context
from ..layers import (
    Activation,
    BatchNormalization,
    Dense,
    Dropout,
    Flatten,
    LeakyReLU,
    Pooling,
    Sequential,
    core,
)
from ..layers import convolutional as conv_layers
from ..layers.base import Layer
from ._common import optional_import

SUPPORTED = (
    "nn.Conv1d/2d/3d, nn.ConvTranspose1d/2d/3d, nn.Linear, nn.BatchNorm1d/2d/3d (eval), nn.MaxPool/AvgPool1d/2d/3d "
    "(no padding), nn.Flatten, nn.Dropout, nn.Identity, nn.ReLU/ReLU6/LeakyReLU/ELU/SELU/Sigmoid/Tanh/SiLU/"
    "Softplus/Softsign, and nn.Sequential of them"
)
_ACTIVATIONS = {
    "ReLU": "relu",
    "ReLU6": "relu6",
    "SELU": "selu",
    "Sigmoid": "sigmoid",
    "Tanh": "tanh",
    "SiLU": "silu",
    "Softsign": "softsign",
    "Identity": "linear",
}


def _numpy(tensor) -> np.ndarray:
    return tensor.detach().cpu().numpy()


def _kernel(weight) -> np.ndarray:
    """(A, B, *K) -> (*K, B, A): PyTorch's conv and transpose weights as Keras's kernels."""
    array = _numpy(weight)
    return np.transpose(array, (*range(2, array.ndim), 1, 0))


def from_torch(module, data_format: str = "channels_first"):
    """The convzoo layer (or `Sequential`) that computes what `module` computes, weights copied.

    Args:
        module: a `torch.nn` module of the kinds in `SUPPORTED` (nested `nn.Sequential` too).
        data_format: "channels_first" (default) so the layers take the same `(N, C, *spatial)`
            arrays as the module, or "channels_last" for `(N, *spatial, C)` arrays.

    Returns:
        A convzoo layer, or a `Sequential` for an `nn.Sequential`, its weights in the dtype of
        the module's parameters.

    Raises:
        ConvZooTypeError: for a module type convzoo has no layer for, naming it and its position.
        ConvZooError: for a setting convzoo cannot reproduce (pooling with padding, say).

    >>> import torch, numpy as np
    >>> module = torch.nn.Conv2d(3, 8, 3, padding=1, padding_mode="reflect")
    >>> layer = from_torch(module)
    >>> x = np.random.default_rng(0).standard_normal((1, 3, 6, 6)).astype(np.float32)
    >>> bool(np.allclose(layer(x), module(torch.from_numpy(x)).detach().numpy(), atol=1e-5))
    True
    """
    torch = optional_import("torch", "torch")
    if data_format not in ("channels_first", "channels_last"):
        raise ConvZooError(
            f"`data_format` must be 'channels_first' or 'channels_last'. Received: data_format={data_format!r}."
        )
    if isinstance(module, torch.nn.Sequential):
        layers = []
        for index, (name, child) in enumerate(module.named_children()):
            try:
                layers.append(from_torch(child, data_format))
            except ConvZooError as error:
                raise with_context(error, f"nn.Sequential module {name} (position {index})") from None
        return Sequential(layers)
    kind = type(module).__name__
    converter = _CONVERTERS.get(kind.rstrip("123d") if kind[-2:] in ("1d", "2d", "3d") else kind)
    if converter is None or not isinstance(module, torch.nn.Module):
        raise ConvZooTypeError(f"Module {kind} is not supported. convzoo converts {SUPPORTED}.")
    return converter(module, data_format)


def _dtype(module):
    parameter = next(module.parameters(), None)
    return None if parameter is None else str(parameter.dtype).replace("torch.", "")


def _conv(module, data_format):
    rank = len(module.kernel_size)
    padding = module.padding if isinstance(module.padding, str) else tuple(module.padding)
    padding = "valid" if padding == (0,) * len(padding) else padding
    layer = {1: conv_layers.Conv1D, 2: conv_layers.Conv2D, 3: conv_layers.Conv3D}[rank](
        module.out_channels,
        module.kernel_size,
        strides=module.stride,
        padding=padding,
        data_format=data_format,
        dilation_rate=module.dilation,
        groups=module.groups,
        use_bias=module.bias is not None,
        padding_mode=module.padding_mode,
        dtype=_dtype(module),
    )
    return _with_weights(layer, module, [_kernel(module.weight)])


def _conv_transpose(module, data_format):
    if module.padding_mode != "zeros":
        raise ConvZooError(
            f"{type(module).__name__}: padding_mode must be 'zeros' (PyTorch's only one for transposes)."
        )
    rank = len(module.kernel_size)
    layer = {1: conv_layers.Conv1DTranspose, 2: conv_layers.Conv2DTranspose, 3: conv_layers.Conv3DTranspose}[rank](
        module.out_channels,
        module.kernel_size,
        strides=module.stride,
        padding=tuple(module.padding),
        output_padding=tuple(module.output_padding),
        data_format=data_format,
        dilation_rate=module.dilation,
        use_bias=module.bias is not None,
        groups=module.groups,
        dtype=_dtype(module),
    )
    return _with_weights(layer, module, [_kernel(module.weight)])


def _with_weights(layer, module, kernels):
    bias = [] if getattr(module, "bias", None) is None else [_numpy(module.bias)]
    layer.set_weights(kernels + bias)
    return layer


def _linear(module, data_format):
    layer = Dense(module.out_features, use_bias=module.bias is not None, dtype=_dtype(module))
    return _with_weights(layer, module, [_numpy(module.weight).T])


def _batch_norm(module, data_format):
    if not module.track_running_stats or module.running_mean is None:
        raise ConvZooError(f"{type(module).__name__}: convzoo runs batch normalization with running statistics only.")
    axis = 1 if data_format == "channels_first" else -1
    layer = BatchNormalization(
        axis=axis,
        epsilon=module.eps,
        center=module.affine,
        scale=module.affine,
        dtype=str(module.running_mean.dtype).replace("torch.", ""),
    )
    affine = [_numpy(module.weight), _numpy(module.bias)] if module.affine else []
    layer.set_weights([*affine, _numpy(module.running_mean), _numpy(module.running_var)])
    return layer


def _pool(module, data_format):
    kind = type(module).__name__
    rank = int(kind[-2])
    settings = {"padding": 0, "ceil_mode": False, "dilation": 1, "divisor_override": None, "return_indices": False}
    for name, default in settings.items():
        value = getattr(module, name, default)
        if value not in (default, (default,) * rank, [default] * rank):
            raise ConvZooError(f"{kind}: `{name}` must be {default!r}. Received: {name}={value!r}.")
    stride = module.stride if module.stride is not None else module.kernel_size
    cls = getattr(core, ("MaxPooling" if kind.startswith("Max") else "AveragePooling") + f"{rank}D")
    return cls(module.kernel_size, strides=stride, data_format=data_format)


def _flatten(module, data_format):
    if module.start_dim != 1 or module.end_dim != -1:
        raise ConvZooError(
            f"Flatten: only start_dim=1, end_dim=-1 are supported. Received: start_dim={module.start_dim}, "
            f"end_dim={module.end_dim}."
        )
    if data_format != "channels_first":
        raise ConvZooError(
            "Flatten: nn.Flatten flattens (C, *spatial) in that order, which channels-last arrays do not "
            "have; convert with data_format='channels_first'."
        )
    return Flatten()


def _activation(module, data_format):
    return Activation(_ACTIVATIONS[type(module).__name__])


def _elu(module, data_format):
    if module.alpha != 1.0:
        raise ConvZooError(f"ELU: alpha must be 1.0. Received: alpha={module.alpha}.")
    return Activation("elu")


def _softplus(module, data_format):
    if module.beta != 1.0:
        raise ConvZooError(f"Softplus: beta must be 1. Received: beta={module.beta}.")
    return Activation("softplus")


_CONVERTERS = {
    "Conv": _conv,
    "ConvTranspose": _conv_transpose,
    "Linear": _linear,
    "BatchNorm": _batch_norm,
    "MaxPool": _pool,
    "AvgPool": _pool,
    "Flatten": _flatten,
    "Dropout": lambda module, data_format: Dropout(module.p),
    "LeakyReLU": lambda module, data_format: LeakyReLU(module.negative_slope),
    "ELU": _elu,
    "Softplus": _softplus,
    **dict.fromkeys(_ACTIVATIONS, _activation),
}


# -- convzoo to PyTorch -------------------------------------------------------------------------
def to_torch(layer, input_shape=None):
    """A `torch.nn` module computing what `layer` (or a `Sequential`) computes, weights copied.

    The module takes channels-first arrays, whatever the layer's `data_format`. A padding
    PyTorch's convolution cannot express (asymmetric, Keras's "same" with strides) becomes
    a padding module in front; a transpose layer's asymmetric crop becomes PyTorch's padding
    and output_padding, plus a negative `ZeroPad` where needed. A fused activation follows
    its convolution in an `nn.Sequential`.

    Args:
        layer: a built convzoo layer or `Sequential`.
        input_shape: the input shape, needed only for Keras's "same" padding with strides
            (it depends on the input size); the layer's last input if None.

    Raises:
        ConvZooError: for a layer or setting PyTorch's modules cannot express, naming it.

    >>> import numpy as np
    >>> from convzoo.layers import Conv2D
    >>> layer = Conv2D(4, 3, padding="same", data_format="channels_first", seed=0)
    >>> x = np.ones((1, 2, 5, 5), np.float32)
    >>> out = layer(x)
    >>> module = to_torch(layer)
    >>> bool(np.allclose(module(__import__("torch").from_numpy(x)).detach().numpy(), out, atol=1e-6))
    True
    """
    torch = optional_import("torch", "torch")
    if isinstance(layer, Sequential):
        modules, shape = [], input_shape or layer.input_shape
        for number, inner in enumerate(layer.layers, start=1):
            try:
                modules.append(to_torch(inner, shape))
                shape = None if shape is None else inner.compute_output_shape(shape)
            except ConvZooError as error:
                raise with_context(error, f"layer {number} ('{inner.name}')") from None
        return torch.nn.Sequential(*modules)
    if not isinstance(layer, Layer):
        raise ConvZooTypeError(f"`layer` must be a convzoo layer or Sequential. Received: {type(layer).__name__}.")
    if layer.weight_names and not layer.built:
        raise ConvZooError(f"Layer '{layer.name}' is not built yet: call it on an input or set its weights first.")
    builder = next((build for cls, build in _BUILDERS if isinstance(layer, cls)), None)
    if builder is None:
        raise ConvZooTypeError(f"Layer '{layer.name}' ({type(layer).__name__}) has no PyTorch counterpart here.")
    try:
        module = builder(torch, layer, input_shape or layer.input_shape)
    except ConvZooError as error:
        raise with_context(error, f"Layer '{layer.name}' ({type(layer).__name__})") from None
    activation = getattr(layer, "activation", None)
    if isinstance(layer, conv_layers.BaseConv) and activation.name != "linear":
        module = torch.nn.Sequential(module, _torch_activation(torch, activation.name))
    return module


def _torch_dtype(torch, layer):
    return getattr(torch, layer.dtype.name)


def to_torch_weights(layer, input_shape=None) -> dict:
    """The `state_dict` of `to_torch(layer)`: PyTorch-layout tensors by parameter name.

    For a layer converted by `from_torch` from one module, the names are the module's own
    ("weight", "bias"), so `module.load_state_dict(to_torch_weights(layer))` copies the
    weights back.

    >>> import torch
    >>> module = torch.nn.Conv1d(2, 4, 3, groups=2)
    >>> layer = from_torch(module)
    >>> sorted(to_torch_weights(layer)), tuple(to_torch_weights(layer)["weight"].shape)
    (['bias', 'weight'], (4, 1, 3))
    """
    return dict(to_torch(layer, input_shape).state_dict())


def _tensor(torch, array):
    return torch.from_numpy(np.ascontiguousarray(array))


def _torch_weight(kernel: np.ndarray) -> np.ndarray:
    """(*K, B, A) -> (A, B, *K), the inverse of `_kernel`."""
    rank = kernel.ndim - 2
    return np.transpose(kernel, (rank + 1, rank, *range(rank)))


def _load(module, **arrays):
    import torch

    with torch.no_grad():
        for name, array in arrays.items():
            getattr(module, name).copy_(_tensor(torch, array))
    return module


def _conv_pads(layer, input_shape) -> tuple:
    """One (before, after) pair per axis, as the layer pads its input."""
    if isinstance(layer.padding, tuple):
        return layer.padding
    if layer.padding == "same" and max(layer.strides) > 1:
        if input_shape is None:
            raise ConvZooError(
                "padding='same' with strides depends on the input size: pass `input_shape` or call the layer first."
            )
        return arithmetic.applied_padding(layer.arithmetic(input_shape))
    return tuple(
        arithmetic.conv_padding(layer.padding, k_eff, k, s, d)  # no input size dependence here
        for k_eff, k, s, d in zip(
            map(arithmetic.dilated_kernel_size, layer.kernel_size, layer.dilation_rate),
            layer.kernel_size,
            layer.strides,
            layer.dilation_rate,
        )
    )


_PAD_MODULES = {
    "zeros": "ZeroPad",
    "reflect": "ReflectionPad",
    "replicate": "ReplicationPad",
    "circular": "CircularPad",
}


def _padded_conv(torch, pads, padding_mode, make_conv):
    """`make_conv(padding)`; asymmetric pads go to a padding module in front."""
    if all(before == after for before, after in pads):
        mode = padding_mode if any(before for before, _ in pads) else "zeros"
        return make_conv(tuple(before for before, _ in pads), mode)
    rank = len(pads)
    flat = tuple(amount for pair in reversed(pads) for amount in pair)
    pad = getattr(torch.nn, f"{_PAD_MODULES[padding_mode]}{rank}d")(flat)
    return torch.nn.Sequential(pad, make_conv(0, "zeros"))


def _conv_module(torch, layer, input_shape):
    rank, in_channels = layer.rank, layer.in_channels
    kernels = layer.get_weights()
    bias = kernels.pop() if layer.use_bias else None
    conv_cls = getattr(torch.nn, f"Conv{rank}d")

    def stage(kernel, pads, groups, use_bias, kernel_size, strides, dilation):
        make = lambda padding, mode: conv_cls(  # noqa: E731
            kernel.shape[-2] * groups,
            kernel.shape[-1],
            kernel_size,
            stride=strides,
            padding=padding,
            dilation=dilation,
            groups=groups,
            bias=use_bias,
            padding_mode=mode,
            dtype=_torch_dtype(torch, layer),
        )
        if layer.padding == "same" and max(strides) == 1 and any(map(any, pads)):
            module = make("same", layer.padding_mode)  # PyTorch's "same" is Keras's at stride 1
        else:
            module = _padded_conv(torch, pads, layer.padding_mode, make)
        conv = module[-1] if isinstance(module, torch.nn.Sequential) else module
        _load(conv, weight=_torch_weight(kernel), **({"bias": bias} if use_bias else {}))
        return module

    pads = _conv_pads(layer, input_shape)
    geometry = (layer.kernel_size, layer.strides, layer.dilation_rate)
    if isinstance(layer, conv_layers.SpatiallySeparableConv):
        stages = []
        for axis, kernel in enumerate(kernels):
            on_axis = lambda values, neutral: tuple(v if a == axis else neutral for a, v in enumerate(values))  # noqa: E731,B023
            last = axis == rank - 1
            stages.append(
                stage(
                    kernel,
                    on_axis(pads, (0, 0)),
                    1,
                    layer.use_bias and last,
                    kernel.shape[:rank],
                    on_axis(layer.strides, 1),
                    on_axis(layer.dilation_rate, 1),
                )
            )
        return torch.nn.Sequential(*stages)
    if isinstance(layer, conv_layers.SeparableConv):
        depthwise, pointwise = kernels
        flat = depthwise.reshape(*depthwise.shape[:-2], 1, -1)
        first = stage(flat, pads, in_channels, False, *geometry)
        ones = (1,) * rank
        second = stage(pointwise, ((0, 0),) * rank, 1, layer.use_bias, ones, ones, ones)
        return torch.nn.Sequential(first, second)
    if isinstance(layer, conv_layers.DepthwiseConv):
        (kernel,) = kernels
        return stage(kernel.reshape(*kernel.shape[:-2], 1, -1), pads, in_channels, layer.use_bias, *geometry)
    return stage(kernels[0], pads, layer.groups, layer.use_bias, *geometry)


def _transpose_module(torch, layer, input_shape):
    rank = layer.rank
    paddings, output_paddings, crops = [], [], []
    for k, s, d, pad, a in zip(
        layer.kernel_size,
        layer.strides,
        layer.dilation_rate,
        layer.padding if isinstance(layer.padding, tuple) else (layer.padding,) * rank,
        layer.output_padding or (None,) * rank,
    ):
        before, after = arithmetic.transpose_crop(pad, 1, k, s, d, a)  # independent of the input size
        if before >= 0 and 0 <= before - after < max(s, d):
            paddings.append(before), output_paddings.append(before - after), crops.append((0, 0))
        elif after >= before >= 0:
            paddings.append(before), output_paddings.append(0), crops.append((0, after - before))
        elif before > after >= 0:
            paddings.append(after), output_paddings.append(0), crops.append((before - after, 0))
        else:
            raise ConvZooError(
                f"nn.ConvTranspose cannot crop ({before}, {after}) from its output (strides={s}, dilation_rate={d})."
            )
    kernel, *bias = layer.get_weights()
    module = getattr(torch.nn, f"ConvTranspose{rank}d")(
        kernel.shape[-1],
        layer.filters,
        layer.kernel_size,
        stride=layer.strides,
        padding=tuple(paddings),
        output_padding=tuple(output_paddings),
        groups=layer.groups,
        bias=layer.use_bias,
        dilation=layer.dilation_rate,
        dtype=_torch_dtype(torch, layer),
    )
    _load(module, weight=_torch_weight(kernel), **({"bias": bias[0]} if bias else {}))
    if not any(map(any, crops)):
        return module
    negative = tuple(-amount for pair in reversed(crops) for amount in pair)  # a negative pad crops
    return torch.nn.Sequential(module, getattr(torch.nn, f"ZeroPad{rank}d")(negative))


def _torch_activation(torch, name: str):
    if name.startswith("leaky_relu"):
        slope = 0.2 if name == "leaky_relu" else float(name[len("leaky_relu(") : -1])
        return torch.nn.LeakyReLU(slope)
    simple = {value: key for key, value in _ACTIVATIONS.items()}
    simple.update(elu="ELU", softplus="Softplus", swish="SiLU")
    if name == "softmax":
        return torch.nn.Softmax(dim=-1)
    return getattr(torch.nn, simple[name])()


def _dense_module(torch, layer, input_shape):
    kernel, *bias = layer.get_weights()
    module = torch.nn.Linear(kernel.shape[0], kernel.shape[1], bias=layer.use_bias, dtype=_torch_dtype(torch, layer))
    _load(module, weight=kernel.T, **({"bias": bias[0]} if bias else {}))
    if layer.activation.name == "linear":
        return module
    return torch.nn.Sequential(module, _torch_activation(torch, layer.activation.name))


def _pool_module(torch, layer, input_shape):
    if layer.padding != "valid":
        raise ConvZooError("PyTorch's pooling has no 'same' padding; only padding='valid' converts.")
    kind = "MaxPool" if layer.mode == "max" else "AvgPool"
    return getattr(torch.nn, f"{kind}{layer.rank}d")(layer.pool_size, stride=layer.strides)


def _batch_norm_module(torch, layer, input_shape):
    rank = max(1, min(3, len(input_shape) - 2)) if input_shape is not None else 2
    module = getattr(torch.nn, f"BatchNorm{rank}d")(
        layer.in_channels, eps=layer.epsilon, affine=layer.scale, dtype=_torch_dtype(torch, layer)
    )
    weights = dict(zip(layer.weight_names, layer.get_weights()))
    if layer.scale:
        _load(module, weight=weights["gamma"], bias=weights.get("beta", np.zeros(layer.in_channels)))
    module.running_mean.copy_(_tensor(torch, weights["moving_mean"]))
    module.running_var.copy_(_tensor(torch, weights["moving_variance"]))
    return module.eval()


def _flatten_module(torch, layer, input_shape):
    if layer.data_format != "channels_last":
        raise ConvZooError("nn.Flatten does not move channels last; only Flatten() (channels_last) converts.")
    return torch.nn.Flatten()


_BUILDERS = (
    (conv_layers.ConvTranspose, _transpose_module),
    (conv_layers.BaseConv, _conv_module),
    (Dense, _dense_module),
    (Pooling, _pool_module),
    (BatchNormalization, _batch_norm_module),
    (Flatten, _flatten_module),
    (Dropout, lambda torch, layer, shape: torch.nn.Dropout(layer.rate)),
    (Activation, lambda torch, layer, shape: _torch_activation(torch, layer.activation.name)),
)
