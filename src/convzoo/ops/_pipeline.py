"""Public ops as pipelines of engine steps, with the reverse pass that gives their gradients.

A public op is: inputs to channels-last, one or more `Step`s (an engine call, with the
padding mode applied around it), the bias, back to the data format. Every part is linear in
the input, so the input gradient runs the parts' adjoints in reverse order, and each step's
kernel gradient is one more engine call on the values it saw going forward.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from .. import engine
from ..arithmetic import ConvGeometry, Layer, Stage
from ..engine.padding import pad_with_mode, pad_with_mode_adjoint
from ._arrays import channels_last, from_channels_last


@dataclass(frozen=True)
class Step:
    """One stage of a layer with its kernel array: x -> conv(x, kernel), or its transpose.

    `kernel` is in the engine's layout `(*K, C_in/G, C_out)` of the convolution the stage's
    geometry describes. A transposed stage computes the input gradient of that convolution (a
    transpose convolution, from its `out_sizes` to its `in_sizes`). A padding mode other than
    "zeros" is applied as a separate gather before the engine, which then pads nothing.
    """

    stage: Stage
    kernel: np.ndarray
    padding_mode: str = "zeros"

    @property
    def _engine_geometry(self) -> ConvGeometry:
        geometry = self.stage.geometry
        if self.padding_mode == "zeros":
            return geometry
        return replace(geometry, in_sizes=geometry.padded_sizes, padding=((0, 0),) * geometry.rank)

    def _pad(self, x: np.ndarray) -> np.ndarray:
        if self.padding_mode == "zeros":
            return x
        return pad_with_mode(x, self.stage.geometry.padding, self.padding_mode)

    def forward(self, x: np.ndarray) -> np.ndarray:
        if self.stage.transposed:
            return engine.conv_input_grad(x, self.kernel, self.stage.geometry, self.stage.groups)
        return engine.conv(self._pad(x), self.kernel, self._engine_geometry, self.stage.groups)

    def backward(self, x: np.ndarray, grad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(input gradient, kernel gradient) at input `x` for output gradient `grad`."""
        geometry, groups = self.stage.geometry, self.stage.groups
        if self.stage.transposed:  # forward is conv_input_grad: its adjoints are conv and the kernel face
            input_grad = engine.conv(grad, self.kernel, geometry, groups)
            return input_grad, engine.conv_kernel_grad(grad, x, geometry, groups)
        engine_geometry = self._engine_geometry
        padded_grad = engine.conv_input_grad(grad, self.kernel, engine_geometry, groups)
        kernel_grad = engine.conv_kernel_grad(self._pad(x), grad, engine_geometry, groups)
        if self.padding_mode != "zeros":
            padded_grad = pad_with_mode_adjoint(padded_grad, geometry.padding, self.padding_mode, geometry.in_sizes)
        return padded_grad, kernel_grad


def steps(layer: Layer, kernels: list[np.ndarray]) -> list[Step]:
    """The layer's stages, each with its kernel in the engine's layout."""
    return [Step(stage, kernel, layer.padding_mode) for stage, kernel in zip(layer.stages, kernels)]


Pullback = Callable[[np.ndarray], tuple]


def _ieee_quietly():
    """NaN and Inf propagate through the sums as IEEE arithmetic says, without NumPy's warnings
    (a NaN in, NaN out is the result asked for, not an accident; frameworks do not warn)."""
    return np.errstate(invalid="ignore", over="ignore")


def run(x: np.ndarray, steps: list[Step], bias: np.ndarray | None, data_format: str) -> tuple[np.ndarray, Pullback]:
    """Apply `steps` then `bias` to `x`; return the output and its pullback.

    The pullback maps an output gradient (in `data_format`) to
    (input gradient, [one kernel gradient per step], bias gradient or None).
    """
    values = [channels_last(x, data_format)]
    with _ieee_quietly():
        for step in steps:
            values.append(step.forward(values[-1]))
        out = values.pop() if bias is None else values.pop() + bias

    def pullback(grad: np.ndarray) -> tuple:
        grad = channels_last(grad, data_format)
        with _ieee_quietly():
            bias_grad = None if bias is None else grad.sum(axis=tuple(range(grad.ndim - 1)))
            kernel_grads = []
            for step, value in zip(reversed(steps), reversed(values)):
                grad, kernel_grad = step.backward(value, grad)
                kernel_grads.append(kernel_grad)
        return from_channels_last(grad, data_format), kernel_grads[::-1], bias_grad

    return from_channels_last(out, data_format), pullback
