"""The public surface: exactly the names and signatures the contract gives, documented."""

from __future__ import annotations

import inspect
import re

import pytest

import convzoo

HYPER = 'strides=1, padding="valid", data_format="channels_last", dilation_rate=1, padding_mode="zeros"'
SIGNATURES = {
    "conv": f"(inputs, kernel, bias=None, *, {HYPER})",
    "pointwise_conv": '(inputs, kernel, bias=None, *, data_format="channels_last")',
    "conv_transpose": (
        '(inputs, kernel, bias=None, *, strides=1, padding="valid", output_padding=None, '
        'data_format="channels_last", dilation_rate=1, groups=1)'
    ),
    "depthwise_conv": f"(inputs, kernel, bias=None, *, {HYPER})",
    "separable_conv": f"(inputs, depthwise_kernel, pointwise_kernel, bias=None, *, {HYPER})",
    "spatially_separable_conv": f"(inputs, kernels, bias=None, *, {HYPER})",
    "vjp": "(op, *arrays, **options)",
}


@pytest.mark.parametrize("name", sorted(SIGNATURES))
def test_signature_is_the_contracts(name):
    signature = inspect.signature(getattr(convzoo, name))
    bare = signature.replace(
        parameters=[p.replace(annotation=p.empty) for p in signature.parameters.values()],
        return_annotation=signature.empty,
    )
    assert str(bare).replace("'", '"') == SIGNATURES[name]


def test_hyper_parameters_come_in_one_order_in_every_op():
    order = ["strides", "padding", "output_padding", "data_format", "dilation_rate", "groups", "padding_mode"]
    for name in SIGNATURES:
        if name == "vjp":
            continue
        keywords = [
            p.name for p in inspect.signature(getattr(convzoo, name)).parameters.values() if p.kind is p.KEYWORD_ONLY
        ]
        assert keywords == [word for word in order if word in keywords], name


@pytest.mark.parametrize("name", sorted(set(SIGNATURES) - {"vjp"}))
def test_every_op_documents_its_shape_formula_and_an_example(name):
    doc = getattr(convzoo, name).__doc__
    assert "Shape:" in doc and ">>> " in doc and "Raises:" in doc
    assert not re.search(r"\{[a-z_]+\}", doc), "a shared note was not formatted in"


def test_public_names():
    assert set(convzoo.__all__) >= set(SIGNATURES) | {"ConvZooError", "ConvZooTypeError"}
