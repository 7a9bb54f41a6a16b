"""What a layer sees: receptive fields, after Araujo, Norris & Sim, "Computing Receptive
Fields of Convolutional Neural Networks", Distill 2019, extended to transpose layers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from .layer import Layer, Stage
from .shapes import dilated_kernel_size


@dataclass(frozen=True)
class ReceptiveField:
    """What an output position sees of the input, on one axis.

    Output n sees input positions start + n*jump to start + n*jump + size - 1: `size` is
    Distill's r_0, `jump` its effective stride S_0 and `start` its u_0 = -P_0 (minus the
    effective padding; negative when the field reaches into the padding). Through a transpose
    layer, jump and size are fractions (see `stage_field`); otherwise they are ints.

    What is guaranteed (and tested by brute force on the core ops): every input pixel that
    influences output n lies in that interval. Without transpose layers the interval is exact
    (an output whose interval lies inside the input sees both its ends; dilation and strides
    may leave holes between). Through a transpose it is the field of the continuous model: for
    one undilated transpose, alone or after stride-1 convolutions, an output sees the first and
    last integer of its interval (or nothing, where k < s leaves gaps); elsewhere the pixels an
    output sees depend on its phase n mod s and may stop short of the interval's ends.
    """

    size: int | Fraction
    jump: int | Fraction
    start: int | Fraction

    def then(self, layer: ReceptiveField) -> ReceptiveField:
        """This field followed by a layer whose field on its own input is `layer`.

        Distill's recurrences run from the output back; read forward, with r, j, u the field
        so far: r' = r + (r_layer - 1)*j, j' = j*j_layer, u' = u + u_layer*j.

        >>> ReceptiveField(3, 3, -1).then(ReceptiveField(2, 1, 0))   # Distill's figure: u0 = -1, v0 = 4
        ReceptiveField(size=6, jump=3, start=-1)
        """
        return _field(
            self.size + (layer.size - 1) * self.jump, self.jump * layer.jump, self.start + layer.start * self.jump
        )


def _field(size, jump, start) -> ReceptiveField:
    """A ReceptiveField with ints where the fractions are whole."""
    whole = lambda x: int(x) if Fraction(x).denominator == 1 else Fraction(x)
    return ReceptiveField(whole(size), whole(jump), whole(start))


IDENTITY_FIELD = ReceptiveField(1, 1, 0)


def stage_field(stage: Stage, axis: int) -> ReceptiveField:
    """The receptive field of one stage on its own input, on `axis`.

    A convolution: size k_eff = d*(k-1) + 1, jump s, start -p_before (Distill's k, s, -p, with
    the dilated span for k). A transpose convolution is a stride-1 convolution (flipped kernel)
    of its input stretched s times (s-1 zeros between pixels) and padded k_eff-1-crop_before
    in front; in stretched units its field is k_eff wide with jump 1, and one stretched unit is
    1/s input pixel, hence size (k_eff-1)/s + 1, jump 1/s and start (crop_before-k_eff+1)/s:
    the input pixels an output sees lie in that interval, a fraction of a pixel wide at times.

    >>> stage_field(Layer("transpose", (5,), 1, filters=1, kernel_size=3, strides=2).stages[0], 0)
    ReceptiveField(size=2, jump=Fraction(1, 2), start=-1)
    """
    g = stage.geometry
    span = dilated_kernel_size(g.kernel_sizes[axis], g.dilation[axis])
    stride, before = g.strides[axis], g.padding[axis][0]
    if stage.transposed:
        return _field(Fraction(span - 1, stride) + 1, Fraction(1, stride), Fraction(before - span + 1, stride))
    return ReceptiveField(span, stride, -before)


def receptive_field(layer: Layer) -> tuple[ReceptiveField, ...]:
    """The receptive field of one layer on its input, per axis, its stages composed.

    >>> receptive_field(Layer("dilated", (28, 28), 3, filters=32, kernel_size=3, dilation_rate=2))
    (ReceptiveField(size=5, jump=1, start=0), ReceptiveField(size=5, jump=1, start=0))
    """
    fields = []
    for axis in range(layer.rank):
        field = IDENTITY_FIELD
        for stage in layer.stages:
            field = field.then(stage_field(stage, axis))
        fields.append(field)
    return tuple(fields)


def stack_receptive_fields(layers: Sequence[Layer]) -> tuple[tuple[ReceptiveField, ...], ...]:
    """The receptive field on the stack's input of each layer's output, per axis: its growth.

    >>> conv = lambda size: Layer("conv", (size,), 1, filters=1, kernel_size=3)
    >>> [fields[0].size for fields in stack_receptive_fields([conv(9), conv(7), conv(5)])]
    [3, 5, 7]
    """
    growth, fields = [], (IDENTITY_FIELD,) * (layers[0].rank if layers else 0)
    for layer in layers:
        fields = tuple(field.then(own) for field, own in zip(fields, receptive_field(layer)))
        growth.append(fields)
    return tuple(growth)
