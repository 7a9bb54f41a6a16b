"""`run_onnx` against the ONNX backend node tests for Conv and ConvTranspose, and PyTorch.

onnx 1.23 no longer ships the node test data as files (onnx/onnx#7959); the cases are built
in memory by `onnx.backend.test.case.node` (conv.py, convtranspose.py), with inputs and
expected outputs. Every Conv and ConvTranspose case runs here. The node suite has no
grouped or dilated Conv, no SAME_UPPER Conv, no 1-D/3-D Conv and no ConvTranspose group with
more than one channel per group, so random graphs fill those gaps against PyTorch.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402

from convzoo import ConvZooError  # noqa: E402
from convzoo.interop import run_onnx  # noqa: E402

NODE_CASES = {
    "test_basic_conv_with_padding",
    "test_basic_conv_without_padding",
    "test_conv_with_autopad_same",
    "test_conv_with_strides_and_asymmetric_padding",
    "test_conv_with_strides_no_padding",
    "test_conv_with_strides_padding",
    "test_convtranspose",
    "test_convtranspose_1d",
    "test_convtranspose_3d",
    "test_convtranspose_autopad_same",
    "test_convtranspose_dilations",
    "test_convtranspose_group_2",
    "test_convtranspose_group_2_image_3",
    "test_convtranspose_kernel_shape",
    "test_convtranspose_output_shape",
    "test_convtranspose_pad",
    "test_convtranspose_pads",
}
KNOWN_FAILURES: dict[str, str] = {}  # none: every case passes


@pytest.fixture(scope="module")
def node_cases():
    import warnings

    from onnx.backend.test.case.node import collect_testcases

    with warnings.catch_warnings():  # other operators' cases divide by zero on purpose
        warnings.simplefilter("ignore", RuntimeWarning)
        cases = collect_testcases(op_type=None)
    return {
        case.name: case for case in cases if {n.op_type for n in case.model.graph.node} <= {"Conv", "ConvTranspose"}
    }


def test_the_node_suite_has_the_conv_cases_we_run(node_cases):
    assert set(node_cases) == NODE_CASES


@pytest.mark.parametrize("name", sorted(NODE_CASES))
def test_onnx_node_case(name, node_cases):
    if name in KNOWN_FAILURES:
        pytest.xfail(KNOWN_FAILURES[name])
    case = node_cases[name]
    names = [value.name for value in case.model.graph.input]
    for inputs, outputs in case.data_sets:
        got = run_onnx(case.model, dict(zip(names, inputs)))
        assert len(got) == len(outputs)
        for actual, expected in zip(got, outputs):
            assert actual.shape == expected.shape
            np.testing.assert_allclose(actual, expected, rtol=case.rtol, atol=case.atol)


# -- the gaps of the node suite, against PyTorch ------------------------------------------------
def _model(op_type: str, with_bias: bool, **attributes):
    inputs = ["X", "W"] + (["B"] if with_bias else [])
    node = helper.make_node(op_type, inputs, ["Y"], name="the_node", **attributes)
    value = lambda name: helper.make_tensor_value_info(name, TensorProto.DOUBLE, None)  # noqa: E731
    return helper.make_model(helper.make_graph([node], "g", [value(n) for n in inputs], [value("Y")]))


def _same_pads(size, kernel, stride, dilation, upper):
    out = -(-size // stride)
    total = max((out - 1) * stride + dilation * (kernel - 1) + 1 - size, 0)
    small, large = total // 2, total - total // 2
    return (small, large) if upper else (large, small)


@st.composite
def conv_graphs(draw):
    rank = draw(st.integers(1, 3))
    group = draw(st.sampled_from([1, 2, 3]))
    per_axis = lambda low, high: [draw(st.integers(low, high)) for _ in range(rank)]  # noqa: E731
    kernel, strides, dilations, sizes = per_axis(1, 3), per_axis(1, 3), per_axis(1, 2), per_axis(4, 7)
    auto_pad = draw(st.sampled_from(["NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER"]))
    attributes = dict(strides=strides, dilations=dilations, group=group, auto_pad=auto_pad)
    if draw(st.booleans()):
        attributes["kernel_shape"] = kernel
    if auto_pad == "NOTSET":
        attributes["pads"] = per_axis(0, 2) + per_axis(0, 2)
    in_channels, out_channels = group * draw(st.integers(1, 2)), group * draw(st.integers(1, 2))
    rng = np.random.default_rng(draw(st.integers(0, 100)))
    x = rng.standard_normal((2, in_channels, *sizes))
    w = rng.standard_normal((out_channels, in_channels // group, *kernel))
    b = rng.standard_normal(out_channels) if draw(st.booleans()) else None
    return attributes, x, w, b


@settings(max_examples=40)
@given(conv_graphs())
def test_conv_graphs_match_torch(graph):
    attributes, x, w, b = graph
    rank = w.ndim - 2
    strides, dilations, auto_pad = attributes["strides"], attributes["dilations"], attributes["auto_pad"]
    if auto_pad == "NOTSET":
        pairs = list(zip(attributes["pads"][:rank], attributes["pads"][rank:]))
    elif auto_pad == "VALID":
        pairs = [(0, 0)] * rank
    else:
        pairs = [
            _same_pads(i, k, s, d, auto_pad == "SAME_UPPER")
            for i, k, s, d in zip(x.shape[2:], w.shape[2:], strides, dilations)
        ]
    padded = F.pad(torch.tensor(x), [p for pair in reversed(pairs) for p in pair])
    conv = (F.conv1d, F.conv2d, F.conv3d)[rank - 1]
    bias = None if b is None else torch.tensor(b)
    expected = conv(padded, torch.tensor(w), bias, stride=strides, dilation=dilations, groups=attributes["group"])
    inputs = {"X": x, "W": w, **({"B": b} if b is not None else {})}
    (actual,) = run_onnx(_model("Conv", b is not None, **attributes), inputs)
    np.testing.assert_allclose(actual, expected.numpy(), rtol=1e-10, atol=1e-12)


@st.composite
def conv_transpose_graphs(draw):
    rank = draw(st.integers(1, 3))
    group = draw(st.sampled_from([1, 2, 3]))
    per_axis = lambda low, high: [draw(st.integers(low, high)) for _ in range(rank)]  # noqa: E731
    kernel, strides, dilations, sizes = per_axis(1, 3), per_axis(1, 3), per_axis(1, 2), per_axis(2, 4)
    output_padding = [draw(st.integers(0, max(s, d) - 1)) for s, d in zip(strides, dilations)]
    auto_pad = draw(st.sampled_from(["NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER"]))
    attributes = dict(strides=strides, dilations=dilations, group=group, output_padding=output_padding)
    if auto_pad != "NOTSET":
        attributes["auto_pad"] = auto_pad
    choice = draw(st.sampled_from(["pads", "output_shape", "none"]))
    if choice == "pads" and auto_pad == "NOTSET":
        attributes["pads"] = per_axis(0, 1) + per_axis(0, 1)
    elif choice == "output_shape":
        attributes["output_shape"] = [
            (i - 1) * s + d * (k - 1) + 1 + draw(st.integers(-1, 2))
            for i, k, s, d in zip(sizes, kernel, strides, dilations)
        ]
    in_channels, out_channels = group * draw(st.integers(1, 2)), group * draw(st.integers(1, 2))
    rng = np.random.default_rng(draw(st.integers(0, 100)))
    x = rng.standard_normal((2, in_channels, *sizes))
    w = rng.standard_normal((in_channels, out_channels // group, *kernel))
    b = rng.standard_normal(out_channels) if draw(st.booleans()) else None
    return attributes, x, w, b


def _spec_crops(attributes, x, w):
    """(begin, end) per axis from the ConvTranspose spec's equations, independently of convzoo."""
    rank = w.ndim - 2
    auto_pad = attributes.get("auto_pad", "NOTSET")
    crops = []
    for axis in range(rank):
        i, k = x.shape[2 + axis], w.shape[2 + axis]
        s, d, a = attributes["strides"][axis], attributes["dilations"][axis], attributes["output_padding"][axis]
        full = s * (i - 1) + a + (k - 1) * d + 1
        if "output_shape" in attributes or auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            target = attributes["output_shape"][axis] if "output_shape" in attributes else i * s
            total = full - target
            crops.append(
                (total // 2, total - total // 2) if auto_pad == "SAME_UPPER" else (total - total // 2, total // 2)
            )
        elif "pads" in attributes:
            crops.append((attributes["pads"][axis], attributes["pads"][axis + rank]))
        else:
            crops.append((0, 0))
    return crops


@settings(max_examples=40)
@given(conv_transpose_graphs())
def test_conv_transpose_graphs_match_the_spec_with_torch(graph):
    attributes, x, w, b = graph
    rank = w.ndim - 2
    transpose = (F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d)[rank - 1]
    full = transpose(
        torch.tensor(x),
        torch.tensor(w),
        stride=attributes["strides"],
        dilation=attributes["dilations"],
        groups=attributes["group"],
    ).numpy()
    # output_padding: zero rows at the end; then the spec's crops (a negative crop adds zero rows)
    full = np.pad(full, [(0, 0), (0, 0), *((0, a) for a in attributes["output_padding"])])
    crops = _spec_crops(attributes, x, w)
    full = np.pad(full, [(0, 0), (0, 0), *((max(-b_, 0), max(-e, 0)) for b_, e in crops)])
    index = tuple(slice(max(b_, 0), size - max(e, 0)) for (b_, e), size in zip(crops, full.shape[2:]))
    expected = full[(slice(None), slice(None), *index)]
    if b is not None:
        expected = expected + b.reshape(-1, *(1,) * rank)
    inputs = {"X": x, "W": w, **({"B": b} if b is not None else {})}
    (actual,) = run_onnx(_model("ConvTranspose", b is not None, **attributes), inputs)
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, rtol=1e-10, atol=1e-12)


def test_a_graph_with_batch_norm_relu_and_add_matches_the_reference_evaluator(tmp_path):
    from onnx.reference import ReferenceEvaluator

    rng = np.random.default_rng(0)
    tensor = lambda name, array: onnx.numpy_helper.from_array(array.astype(np.float32), name)  # noqa: E731
    initializers = [
        tensor("W1", rng.standard_normal((4, 3, 3, 3))),
        tensor("B1", rng.standard_normal(4)),
        tensor("scale", rng.uniform(0.5, 2, 4)),
        tensor("shift", rng.standard_normal(4)),
        tensor("mean", rng.standard_normal(4)),
        tensor("var", rng.uniform(0.5, 2, 4)),
        tensor("W2", rng.standard_normal((4, 4, 3, 3))),
    ]
    nodes = [
        helper.make_node("Conv", ["X", "W1", "B1"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c", "scale", "shift", "mean", "var"], ["n"], epsilon=1e-3),
        helper.make_node("Relu", ["n"], ["r"]),
        helper.make_node("ConvTranspose", ["r", "W2"], ["t"], strides=[2, 2], pads=[1, 1, 1, 1], output_padding=[1, 1]),
        helper.make_node("Conv", ["t", "W2"], ["u"], auto_pad="SAME_UPPER", strides=[2, 2]),
        helper.make_node("Add", ["u", "r"], ["Y"]),
    ]
    value = lambda name: helper.make_tensor_value_info(name, TensorProto.FLOAT, None)  # noqa: E731
    model = helper.make_model(helper.make_graph(nodes, "g", [value("X")], [value("Y")], initializers))
    x = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    expected = ReferenceEvaluator(model).run(None, {"X": x})[0]
    onnx.save(model, tmp_path / "model.onnx")
    (actual,) = run_onnx(tmp_path / "model.onnx", {"X": x})
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-4)


def test_unsupported_ops_and_attributes_name_the_node():
    with pytest.raises(ConvZooError, match=r"node 0 'the_node' \(MaxPool\): the operator MaxPool is not supported"):
        run_onnx(_model("MaxPool", False, kernel_shape=[2]), {"X": np.ones((1, 1, 4)), "W": np.ones(1)})
    with pytest.raises(ConvZooError, match=r"node 0 'the_node' \(Conv\): attribute 'fancy' is not supported"):
        run_onnx(_model("Conv", False, fancy=1), {"X": np.ones((1, 1, 4)), "W": np.ones((1, 1, 2))})
    with pytest.raises(ConvZooError, match=r"'the_node' \(Conv\): attribute 'kernel_shape' must match W"):
        run_onnx(_model("Conv", False, kernel_shape=[3]), {"X": np.ones((1, 1, 4)), "W": np.ones((1, 1, 2))})
    with pytest.raises(ConvZooError, match=r"'the_node' \(ConvTranspose\): W must be \(C, M/group, \*K\)"):
        run_onnx(_model("ConvTranspose", False, group=2), {"X": np.ones((1, 3, 4)), "W": np.ones((3, 1, 2))})
    with pytest.raises(ConvZooError, match=r"input 'W' was not given"):
        run_onnx(_model("Conv", False), {"X": np.ones((1, 1, 4))})
