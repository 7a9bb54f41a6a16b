"""Run an ONNX graph of Conv and ConvTranspose nodes (with Relu, Add, BatchNormalization and
Identity) through convzoo: `run_onnx`.

Every attribute of the two operators is honoured (opset 22, onnx/defs and the reference
implementation onnx/reference/ops/op_conv_transpose.py):
- `auto_pad`: NOTSET (explicit `pads`), VALID, SAME_UPPER (the odd pixel of padding at the
  end, Keras's "same") and SAME_LOWER (at the start); for ConvTranspose, SAME_* and
  `output_shape` set the output size and the crops are split as the spec's equations say,
  with floor division (the reference implementation's), so a negative total (k < s) puts
  the extra zero row at the start for SAME_UPPER;
- `pads` `[x1_begin, x2_begin, ..., x1_end, x2_end, ...]`, `strides`, `dilations`, `group`,
  `kernel_shape` (checked against W), `output_padding` and `output_shape`.
Layouts: X `(N, C, *spatial)`, Conv's W `(M, C/group, *K)`, ConvTranspose's W
`(C, M/group, *K)`; both become Keras's kernels by `W.transpose(2, ..., 1, 0)`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import arithmetic
from ..errors import ConvZooError, with_context
from ..ops import conv, conv_transpose
from ._common import optional_import

_ATTRIBUTES = {
    "Conv": {"auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"},
    "ConvTranspose": {
        "auto_pad",
        "dilations",
        "group",
        "kernel_shape",
        "output_padding",
        "output_shape",
        "pads",
        "strides",
    },
    "Relu": set(),
    "Add": set(),
    "Identity": set(),
    "BatchNormalization": {"epsilon", "momentum", "training_mode"},
}


def run_onnx(model, inputs: dict) -> list[np.ndarray]:
    """Run an ONNX model through convzoo and return its outputs, in the graph's order.

    Args:
        model: an `onnx.ModelProto`, or the path of a `.onnx` file.
        inputs: the graph's inputs by name (arrays); initializers come from the model.

    Returns:
        One array per graph output.

    Raises:
        ConvZooError: for a node type or attribute convzoo does not run, naming the node and
            the attribute, or a missing input.

    >>> import numpy as np, onnx
    >>> from onnx import helper, TensorProto
    >>> node = helper.make_node("Conv", ["X", "W"], ["Y"], auto_pad="SAME_UPPER", strides=[2, 2])
    >>> value = lambda name: helper.make_tensor_value_info(name, TensorProto.FLOAT, None)
    >>> graph = helper.make_graph([node], "g", [value("X"), value("W")], [value("Y")])
    >>> x, w = np.ones((1, 1, 5, 5), np.float32), np.ones((1, 1, 3, 3), np.float32)
    >>> run_onnx(helper.make_model(graph), {"X": x, "W": w})[0][0, 0]
    array([[4., 6., 4.],
           [6., 9., 6.],
           [4., 6., 4.]], dtype=float32)
    """
    onnx = optional_import("onnx", "onnx")
    from onnx import numpy_helper

    if isinstance(model, (str, Path)):
        model = onnx.load(str(model))
    graph = model.graph
    values = {tensor.name: numpy_helper.to_array(tensor) for tensor in graph.initializer}
    values.update({name: np.asarray(array) for name, array in inputs.items()})
    for index, node in enumerate(graph.node):
        where = f"node {index} '{node.name or node.output[0]}' ({node.op_type})"
        if node.op_type not in _ATTRIBUTES:
            raise ConvZooError(
                f"{where}: the operator {node.op_type} is not supported; convzoo runs {', '.join(_ATTRIBUTES)}."
            )
        attributes = {attribute.name: onnx.helper.get_attribute_value(attribute) for attribute in node.attribute}
        unknown = sorted(set(attributes) - _ATTRIBUTES[node.op_type])
        if unknown:
            raise ConvZooError(
                f"{where}: attribute {unknown[0]!r} is not supported. "
                f"Received: {unknown[0]}={attributes[unknown[0]]!r}."
            )
        missing = [name for name in node.input if name and name not in values]
        if missing:
            raise ConvZooError(f"{where}: input {missing[0]!r} was not given and no node computes it.")
        arrays = [values[name] if name else None for name in node.input]
        try:
            outputs = _RUN[node.op_type](arrays, attributes)
        except ConvZooError as error:
            raise with_context(error, where) from None
        values.update(zip(node.output, outputs))
    return [values[output.name] for output in graph.output]


def _auto_pad(attributes: dict) -> str:
    value = attributes.get("auto_pad", "NOTSET")
    value = value.decode() if isinstance(value, bytes) else value
    if value not in ("NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER"):
        raise ConvZooError(f"auto_pad must be NOTSET, VALID, SAME_UPPER or SAME_LOWER. Received: auto_pad={value!r}.")
    return value


def _geometry(x, w, attributes):
    rank = w.ndim - 2
    if x.ndim != rank + 2:
        raise ConvZooError(
            f"X must have rank {rank + 2} for a {rank}-D W. Received: X.shape={x.shape}, W.shape={w.shape}."
        )
    kernel_shape = tuple(attributes.get("kernel_shape", w.shape[2:]))
    if kernel_shape != w.shape[2:]:
        raise ConvZooError(
            f"attribute 'kernel_shape' must match W's spatial shape. Received: kernel_shape={list(kernel_shape)}, "
            f"W.shape={w.shape}."
        )
    ones = [1] * rank
    strides = tuple(attributes.get("strides", ones))
    dilations = tuple(attributes.get("dilations", ones))
    pads = list(attributes.get("pads", [0] * 2 * rank))
    pairs = tuple(zip(pads[:rank], pads[rank:]))
    return rank, strides, dilations, pairs, int(attributes.get("group", 1))


def _keras_kernel(w: np.ndarray) -> np.ndarray:
    return np.transpose(w, (*range(2, w.ndim), 1, 0))


def _conv(arrays, attributes):
    x, w, *rest = arrays
    bias = rest[0] if rest else None
    rank, strides, dilations, pairs, group = _geometry(x, w, attributes)
    if x.shape[1] != w.shape[1] * group:
        raise ConvZooError(
            f"attribute 'group' must make C = W.shape[1] * group. "
            f"Received: group={group}, X.shape={x.shape}, W.shape={w.shape}."
        )
    auto_pad = _auto_pad(attributes)
    padding = {"NOTSET": pairs, "VALID": "valid", "SAME_UPPER": "same"}.get(auto_pad)
    if auto_pad == "SAME_LOWER":  # the odd pixel at the start: Keras's "same" pair, swapped
        padding = tuple(
            arithmetic.same_padding(i, k, s, d)[::-1]
            for i, k, s, d in zip(x.shape[2:], w.shape[2:], strides, dilations)
        )
    out = conv(
        x,
        _keras_kernel(w),
        bias,
        strides=strides,
        padding=padding,
        data_format="channels_first",
        dilation_rate=dilations,
    )
    return [out]


def transpose_crops(in_sizes, kernel_sizes, strides, dilations, pairs, output_padding, output_shape, auto_pad):
    """ONNX ConvTranspose's (crop_begin, crop_end) per axis, from the full output (i-1)*s + k_eff.

    A negative crop adds zero rows (which then get the bias). Follows the spec's equations:
    explicit `pads` unless `output_shape` or SAME_* is given, which set the total.

    >>> transpose_crops((3, 3), (3, 3), (3, 2), (1, 1), ((0, 0), (0, 0)), (0, 0), (10, 8), "NOTSET")
    ((0, -1), (0, -1))
    """
    crops = []
    for axis, (i, k, s, d) in enumerate(zip(in_sizes, kernel_sizes, strides, dilations)):
        a = output_padding[axis]
        full = s * (i - 1) + a + arithmetic.dilated_kernel_size(k, d)
        if output_shape is not None or auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            total = full - (output_shape[axis] if output_shape is not None else i * s)
            small, large = total // 2, total - total // 2
            begin, end = (small, large) if auto_pad == "SAME_UPPER" else (large, small)
        else:
            begin, end = pairs[axis] if auto_pad == "NOTSET" else (0, 0)
        crops.append((begin, end - a))
    return tuple(crops)


def _conv_transpose(arrays, attributes):
    x, w, *rest = arrays
    bias = rest[0] if rest else None
    rank, strides, dilations, pairs, group = _geometry(x, w, attributes)
    if w.shape[0] != x.shape[1] or x.shape[1] % group:
        raise ConvZooError(
            f"W must be (C, M/group, *K) with group dividing C. "
            f"Received: group={group}, X.shape={x.shape}, W.shape={w.shape}."
        )
    output_padding = tuple(attributes.get("output_padding", [0] * rank))
    output_shape = attributes.get("output_shape")
    output_shape = None if output_shape is None else tuple(output_shape)[-rank:]
    crops = transpose_crops(
        x.shape[2:], w.shape[2:], strides, dilations, pairs, output_padding, output_shape, _auto_pad(attributes)
    )
    kernel = _keras_kernel(w)
    options = dict(strides=strides, data_format="channels_first", dilation_rate=dilations, groups=group)
    if min(min(pair) for pair in crops) >= 0:
        return [conv_transpose(x, kernel, bias, padding=crops, **options)]
    # Crop what is to be cropped, then add the zero rows the spec's negative pads ask for; the
    # bias goes on after, as it does on every output position.
    out = conv_transpose(x, kernel, padding=tuple((max(b, 0), max(e, 0)) for b, e in crops), **options)
    out = np.pad(out, [(0, 0), (0, 0), *((max(-b, 0), max(-e, 0)) for b, e in crops)])
    if bias is not None:
        out = out + bias.reshape(-1, *(1,) * rank).astype(out.dtype)
    return [out]


def _batch_normalization(arrays, attributes):
    if attributes.get("training_mode", 0):
        raise ConvZooError("attribute 'training_mode' must be 0 (inference). Received: training_mode=1.")
    x, scale, bias, mean, variance = arrays
    shape = (-1, *(1,) * (x.ndim - 2))
    epsilon = attributes.get("epsilon", 1e-5)
    inverse_std = 1 / np.sqrt(variance.reshape(shape) + epsilon)
    out = (x - mean.reshape(shape)) * inverse_std * scale.reshape(shape) + bias.reshape(shape)
    return [out.astype(x.dtype, copy=False)]


_RUN = {
    "Conv": _conv,
    "ConvTranspose": _conv_transpose,
    "Relu": lambda arrays, attributes: [np.maximum(arrays[0], 0)],
    "Add": lambda arrays, attributes: [arrays[0] + arrays[1]],
    "Identity": lambda arrays, attributes: [arrays[0]],
    "BatchNormalization": _batch_normalization,
}
