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

from .. import engine, spec
from ..arithmetic import ConvGeometry, check_padding_mode, conv_geometry
from ..engine.padding import pad_with_mode, pad_with_mode_adjoint
from ._arrays import channels_last, from_channels_last


@dataclass(frozen=True)
class Step:
    """One engine call: x -> conv(x, kernel), or its transpose, on channels-last arrays.

    `kernel` is in the engine's layout `(*K, C_in/G, C_out)` of the convolution `geometry`
    describes. A transposed step computes the input gradient of that convolution (a transpose
    convolution, from `out_sizes` to `in_sizes`). A padding mode other than "zeros" is applied
    as a separate gather before the engine, which then pads nothing.
    """

    kernel: np.ndarray
    geometry: ConvGeometry
    groups: int = 1
    padding_mode: str = "zeros"
    transposed: bool = False

    @property
    def _engine_geometry(self) -> ConvGeometry:
        if self.padding_mode == "zeros":
            return self.geometry
        unpadded = ((0, 0),) * self.geometry.rank
        return replace(self.geometry, in_sizes=self.geometry.padded_sizes, padding=unpadded)

    def _pad(self, x: np.ndarray) -> np.ndarray:
        return x if self.padding_mode == "zeros" else pad_with_mode(x, self.geometry.padding, self.padding_mode)

    def forward(self, x: np.ndarray) -> np.ndarray:
        if self.transposed:
            return engine.conv_input_grad(x, self.kernel, self.geometry, self.groups)
        return engine.conv(self._pad(x), self.kernel, self._engine_geometry, self.groups)

    def backward(self, x: np.ndarray, grad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(input gradient, kernel gradient) at input `x` for output gradient `grad`."""
        if self.transposed:  # forward is conv_input_grad: its adjoints are conv and the kernel face
            input_grad = engine.conv(grad, self.kernel, self.geometry, self.groups)
            return input_grad, engine.conv_kernel_grad(grad, x, self.geometry, self.groups)
        geometry = self._engine_geometry
        padded_grad = engine.conv_input_grad(grad, self.kernel, geometry, self.groups)
        kernel_grad = engine.conv_kernel_grad(self._pad(x), grad, geometry, self.groups)
        if self.padding_mode != "zeros":
            padded_grad = pad_with_mode_adjoint(
                padded_grad, self.geometry.padding, self.padding_mode, self.geometry.in_sizes
            )
        return padded_grad, kernel_grad


@dataclass(frozen=True)
class ConvOptions:
    """A convolution's hyper-parameters, normalised once from what the user wrote."""

    strides: tuple[int, ...]
    dilation: tuple[int, ...]
    padding: str | tuple  # a string for every axis, or one string or (before, after) pair per axis
    padding_mode: str = "zeros"

    @classmethod
    def normalise(cls, rank: int, strides=1, padding="valid", dilation_rate=1, padding_mode="zeros") -> ConvOptions:
        return cls(
            spec.per_axis(strides, rank, "strides"),
            spec.per_axis(dilation_rate, rank, "dilation_rate"),
            spec.padding(padding, rank),
            spec.choice(padding_mode, "padding_mode", spec.PADDING_MODES),
        )

    def step(self, kernel: np.ndarray, in_sizes: tuple[int, ...], groups: int = 1) -> Step:
        """The step of a convolution by `kernel` `(*K, C_in/G, C_out)` over inputs of `in_sizes`."""
        geometry = conv_geometry(in_sizes, kernel.shape[: len(in_sizes)], self.strides, self.dilation, self.padding)
        check_padding_mode(self.padding_mode, geometry)
        return Step(kernel, geometry, groups, self.padding_mode)

    def along(self, axis: int) -> ConvOptions:
        """These options on `axis` only; the other axes unstrided, undilated and unpadded."""
        rank = len(self.strides)
        padding = self.padding if isinstance(self.padding, str) else self.padding[axis]
        return ConvOptions(
            tuple(s if a == axis else 1 for a, s in enumerate(self.strides)),
            tuple(d if a == axis else 1 for a, d in enumerate(self.dilation)),
            tuple(padding if a == axis else (0, 0) for a in range(rank)),
            self.padding_mode,
        )


Pullback = Callable[[np.ndarray], tuple]


def _ieee_quietly():
    """NaN and Inf propagate through the sums as IEEE arithmetic says, without NumPy's warnings
    (a NaN in, NaN out is the result asked for, not an accident; frameworks do not warn)."""
    return np.errstate(invalid="ignore", over="ignore")


def run(x: np.ndarray, steps: list[Step], bias: np.ndarray | None, data_format: str):
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
