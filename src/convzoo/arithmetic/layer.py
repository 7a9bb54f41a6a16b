"""One layer of any kind, by integers, and the stages (engine calls) its op runs.

`Layer` is the core's arguments without the arrays, checked by `convzoo.spec` and resolved
through `conv_geometry` / `transpose_geometry` on construction; its `stages` are what the
ops run, so the ops build their engine steps from them, and the costs and receptive fields
are read off them.
"""

from __future__ import annotations

import dataclasses
import functools
import numbers
from collections.abc import Sequence
from dataclasses import dataclass

from .. import spec
from ..errors import ConvZooError, with_context
from .shapes import ConvGeometry, Pair, check_padding_mode, conv_geometry, transpose_geometry

KINDS = ("conv", "pointwise", "transpose", "dilated", "depthwise", "separable", "spatially-separable", "grouped")

# The hyper-parameters each kind takes besides its input, `filters` and `kernel_size`, as the
# core's ops take them; any other must keep its default (`_DEFAULTS`).
_SLIDING = frozenset({"strides", "padding", "dilation_rate", "padding_mode"})
KIND_OPTIONS = {
    "conv": _SLIDING | {"groups"},
    "dilated": _SLIDING | {"groups"},
    "grouped": _SLIDING | {"groups"},
    "pointwise": frozenset(),
    "transpose": frozenset({"strides", "padding", "dilation_rate", "groups", "output_padding"}),
    "depthwise": _SLIDING | {"depth_multiplier"},
    "separable": _SLIDING | {"depth_multiplier"},
    "spatially-separable": _SLIDING | {"intermediate_filters"},
}
_DEFAULTS = dict(
    strides=1,
    padding="valid",
    dilation_rate=1,
    padding_mode="zeros",
    groups=1,
    depth_multiplier=1,
    output_padding=None,
    intermediate_filters=None,
)


@dataclass(frozen=True)
class Stage:
    """One engine call of a layer, seen as a convolution from `in_channels` to `out_channels`.

    A transposed stage is described, as `transpose_geometry` describes it, by the convolution
    whose input gradient it is: its channels are that convolution's, swapped.
    """

    geometry: ConvGeometry
    in_channels: int
    out_channels: int
    groups: int = 1
    transposed: bool = False


@dataclass(frozen=True)
class Layer:
    """One convolution layer of any kind, by integers: the core's arguments without the arrays.

    Arguments are those of the core's ops (Keras's words), checked and normalised by
    `convzoo.spec` on construction, so a `Layer` that exists is one the core accepts: every
    field below holds its canonical form afterwards (tuples per axis, (before, after) pairs).
    `in_sizes` are the input's spatial sizes; `filters` is None for a depthwise layer (it is
    C_in * depth_multiplier); `kernel_size` defaults to 1 for a pointwise layer;
    `intermediate_filters` are the channels between the stages of a spatially separable layer
    (one int, or one per intermediate stage; `in_channels` if None, as Inception-v3 factors a
    7x7 into 1x7 from 128 to 128 channels, then 7x1 to 192); `itemsize` is the bytes per
    number of the dtype.

    Raises:
        ConvZooError: naming the argument, for any value or combination the core refuses.

    >>> layer = Layer("conv", (28, 28), 3, filters=32, kernel_size=3, strides=2, padding="same")
    >>> layer.output_shape, layer.strides, layer.padding
    ((1, 14, 14, 32), (2, 2), 'same')
    """

    kind: str
    in_sizes: tuple[int, ...]
    in_channels: int
    filters: int | None = None
    kernel_size: tuple[int, ...] | None = None
    strides: tuple[int, ...] = 1
    padding: str | tuple[Pair, ...] = "valid"
    dilation_rate: tuple[int, ...] = 1
    groups: int = 1
    depth_multiplier: int = 1
    output_padding: tuple[int, ...] | None = None
    intermediate_filters: tuple[int, ...] | None = None
    padding_mode: str = "zeros"
    data_format: str = "channels_last"
    batch: int = 1
    itemsize: int = 4
    use_bias: bool = True
    stages: tuple[Stage, ...] = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self):
        for name, value in _normalised(self).items():
            object.__setattr__(self, name, value)
        # Resolve the geometry now: an impossible shape fails here, and every figure reuses it.
        object.__setattr__(self, "stages", _STAGES[self.kind](self))

    @property
    def rank(self) -> int:
        return len(self.in_sizes)

    @property
    def out_sizes(self) -> tuple[int, ...]:
        last = self.stages[-1]
        return last.geometry.in_sizes if last.transposed else last.geometry.out_sizes

    @property
    def out_channels(self) -> int:
        return self.filters

    @property
    def input_shape(self) -> tuple[int, ...]:
        return _batch_shape(self.batch, self.in_sizes, self.in_channels, self.data_format)

    @property
    def output_shape(self) -> tuple[int, ...]:
        return _batch_shape(self.batch, self.out_sizes, self.out_channels, self.data_format)


def shared_layer(*args, **kwargs) -> Layer:
    """`Layer(*args, **kwargs)`, one object for every call with the same arguments (a Layer is
    immutable): the ops build one per call, and checking and resolving the arguments again costs
    tens of microseconds a call. Arguments match by type and value, inside tuples and lists too
    (1, 1.0 and True are different keys: only some of them are valid); unhashable ones (arrays)
    build a new Layer every time. An argument the Layer refuses raises every time."""
    try:
        key = (_typed(args), _typed(tuple(sorted(kwargs.items()))))
        hash(key)
    except TypeError:  # an array, or another argument without a key
        return Layer(*args, **kwargs)
    return _layer_of(key)


def _typed(value: object) -> tuple:
    """`value` with the type of every part beside it (ints, floats and bools hash alike); a
    TypeError for sequences other than tuples and lists (their parts would go unseen)."""
    if type(value) in (tuple, list):
        return (type(value), tuple(_typed(item) for item in value))
    if isinstance(value, (tuple, list)):
        raise TypeError(type(value).__name__)
    return (type(value), value)


def _untyped(key: tuple) -> object:
    kind, value = key
    return kind(_untyped(item) for item in value) if kind in (tuple, list) else value


@functools.lru_cache(maxsize=512)
def _layer_of(key: tuple) -> Layer:
    args, kwargs = key
    return Layer(*_untyped(args), **dict(_untyped(kwargs)))


def _batch_shape(batch: int, sizes: tuple[int, ...], channels: int, data_format: str) -> tuple[int, ...]:
    return (batch, *sizes, channels) if data_format == "channels_last" else (batch, channels, *sizes)


def _normalised(layer: Layer) -> dict:
    """The canonical value of every field of `layer`, or a ConvZooError naming the argument."""
    kind = spec.choice(layer.kind, "kind", KINDS)
    rank = _rank(layer.in_sizes)
    strings = spec.TRANSPOSE_PADDING_STRINGS if kind == "transpose" else spec.PADDING_STRINGS
    kernel_size = 1 if layer.kernel_size is None and kind == "pointwise" else layer.kernel_size
    fields = dict(
        kind=kind,
        in_sizes=spec.per_axis(layer.in_sizes, rank, "in_sizes"),
        in_channels=_positive(layer.in_channels, "in_channels"),
        kernel_size=spec.per_axis(kernel_size, rank, "kernel_size"),
        strides=spec.per_axis(layer.strides, rank, "strides"),
        padding=spec.padding(layer.padding, rank, strings),
        dilation_rate=spec.per_axis(layer.dilation_rate, rank, "dilation_rate"),
        groups=_positive(layer.groups, "groups"),
        depth_multiplier=_positive(layer.depth_multiplier, "depth_multiplier"),
        output_padding=spec.output_padding(layer.output_padding, rank),
        intermediate_filters=layer.intermediate_filters,
        padding_mode=spec.choice(layer.padding_mode, "padding_mode", spec.PADDING_MODES),
        data_format=spec.choice(layer.data_format, "data_format", spec.DATA_FORMATS),
        batch=_positive(layer.batch, "batch", minimum=0),  # an empty batch is a valid input
        itemsize=_positive(layer.itemsize, "itemsize"),
        use_bias=_boolean(layer.use_bias, "use_bias"),
    )
    _check_options_apply(kind, fields)
    if kind == "pointwise" and fields["kernel_size"] != (1,) * rank:
        raise ConvZooError(
            f"A pointwise layer's kernel is 1 on every axis. Received: kernel_size={layer.kernel_size!r}."
        )
    fields["filters"] = _filters(layer, kind, fields["in_channels"] * fields["depth_multiplier"])
    fields["intermediate_filters"] = _intermediate_filters(layer, rank, fields["in_channels"])
    _check_groups(fields["groups"], fields["in_channels"], fields["filters"])
    return fields


def _rank(in_sizes: object) -> int:
    """The spatial rank: 1 for one int, else the length of a non-empty sequence."""
    if isinstance(in_sizes, numbers.Integral):
        return 1
    if isinstance(in_sizes, (str, bytes)) or not isinstance(in_sizes, Sequence) or not in_sizes:
        raise ConvZooError(
            f"`in_sizes` must be one spatial size or a sequence of them. Received: in_sizes={in_sizes!r}."
        )
    return len(in_sizes)


def _check_options_apply(kind: str, fields: dict) -> None:
    """Refuse a hyper-parameter the kind's op does not take, unless it is left at its default."""
    rank = len(fields["in_sizes"])
    defaults = dict(_DEFAULTS, strides=(1,) * rank, dilation_rate=(1,) * rank)
    for name in sorted(set(defaults) - KIND_OPTIONS[kind]):
        if fields[name] != defaults[name]:
            takes = ", ".join(sorted(KIND_OPTIONS[kind])) or "none"
            raise ConvZooError(
                f"`{name}` does not apply to a {kind} layer, which takes {takes}. Received: {name}={fields[name]!r}."
            )


def _boolean(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise ConvZooError(f"`{name}` must be True or False. Received: {name}={value!r}.")
    return value


def _positive(value: object, name: str, minimum: int = 1) -> int:
    value = spec.as_int(value, name)
    if value < minimum:
        raise ConvZooError(f"`{name}` must be >= {minimum}. Received: {name}={value}.")
    return value


def _filters(layer: Layer, kind: str, depthwise_channels: int) -> int:
    if kind != "depthwise":
        if layer.filters is None:
            raise ConvZooError(
                f"A {kind} layer needs `filters`, its number of output channels. Received: filters=None."
            )
        return _positive(layer.filters, "filters")
    if layer.filters not in (None, depthwise_channels):
        raise ConvZooError(
            f"A depthwise layer has in_channels * depth_multiplier filters; leave `filters` out. Received: "
            f"filters={layer.filters!r}, in_channels={layer.in_channels}, depth_multiplier={layer.depth_multiplier}."
        )
    return depthwise_channels


def _intermediate_filters(layer: Layer, rank: int, in_channels: int) -> tuple[int, ...] | None:
    """One channel count per intermediate stage of a spatially separable layer (rank - 1 of them).

    The default keeps the input's channels until the last stage, which maps them to `filters`:
    k*C*C + k*C*F weights against k*k*C*F for the full kernel, a saving whenever F >= C/(k-1).
    """
    if layer.kind != "spatially-separable":
        return None
    if layer.intermediate_filters is None:
        return (in_channels,) * (rank - 1)
    if rank == 1:
        raise ConvZooError(
            f"A 1-D spatially separable layer has one stage, so no intermediate filters. "
            f"Received: intermediate_filters={layer.intermediate_filters!r}."
        )
    return spec.per_axis(layer.intermediate_filters, rank - 1, "intermediate_filters")


def _check_groups(groups: int, in_channels: int, filters: int) -> None:
    if in_channels % groups or filters % groups:
        raise ConvZooError(
            f"`groups` must divide both the input channels and the filters. "
            f"Received: groups={groups}, in_channels={in_channels}, filters={filters}."
        )


# Each kind as the stages its op runs, in order, each resolved by conv_geometry / transpose_geometry.
def _sliding_stage(layer: Layer, in_channels: int, out_channels: int, groups: int) -> Stage:
    geometry = conv_geometry(layer.in_sizes, layer.kernel_size, layer.strides, layer.dilation_rate, layer.padding)
    check_padding_mode(layer.padding_mode, geometry)
    return Stage(geometry, in_channels, out_channels, groups)


def _pointwise_stage(in_sizes: tuple[int, ...], in_channels: int, out_channels: int) -> Stage:
    ones = (1,) * len(in_sizes)
    return Stage(conv_geometry(in_sizes, ones, ones, ones, "valid"), in_channels, out_channels)


def _transpose_stages(layer: Layer) -> tuple[Stage, ...]:
    geometry = transpose_geometry(
        layer.in_sizes, layer.kernel_size, layer.strides, layer.dilation_rate, layer.padding, layer.output_padding
    )
    return (Stage(geometry, layer.filters, layer.in_channels, layer.groups, transposed=True),)


def _separable_stages(layer: Layer) -> tuple[Stage, ...]:
    depthwise = _sliding_stage(layer, layer.in_channels, layer.in_channels * layer.depth_multiplier, layer.in_channels)
    return depthwise, _pointwise_stage(depthwise.geometry.out_sizes, depthwise.out_channels, layer.filters)


def _spatially_separable_stages(layer: Layer) -> tuple[Stage, ...]:
    """Kernel a spans axis a only and takes that axis's stride, dilation and padding, as the op does."""
    channels = (layer.in_channels, *layer.intermediate_filters, layer.filters)
    stages, sizes = [], layer.in_sizes
    padding = (layer.padding,) * layer.rank if isinstance(layer.padding, str) else layer.padding
    for axis in range(layer.rank):
        geometry = conv_geometry(
            sizes,
            _on_axis(layer.kernel_size, axis, 1),
            _on_axis(layer.strides, axis, 1),
            _on_axis(layer.dilation_rate, axis, 1),
            _on_axis(padding, axis, (0, 0)),
        )
        check_padding_mode(layer.padding_mode, geometry)
        stages.append(Stage(geometry, channels[axis], channels[axis + 1]))
        sizes = geometry.out_sizes
    return tuple(stages)


def _on_axis(values: tuple, axis: int, neutral) -> tuple:
    """`values` on `axis`, `neutral` (no kernel, stride, dilation or padding) on the others."""
    return tuple(value if a == axis else neutral for a, value in enumerate(values))


_STAGES = {
    "conv": lambda layer: (_sliding_stage(layer, layer.in_channels, layer.filters, layer.groups),),
    "pointwise": lambda layer: (_pointwise_stage(layer.in_sizes, layer.in_channels, layer.filters),),
    "transpose": _transpose_stages,
    "depthwise": lambda layer: (_sliding_stage(layer, layer.in_channels, layer.filters, layer.in_channels),),
    "separable": _separable_stages,
    "spatially-separable": _spatially_separable_stages,
}
_STAGES["dilated"] = _STAGES["grouped"] = _STAGES["conv"]


def stack(in_sizes, in_channels: int, specs: Sequence[tuple[str, dict]], **shared) -> tuple[Layer, ...]:
    """Chain layers: each `(kind, options)` in `specs` takes the previous layer's output.

    `shared` holds the fields every layer shares (`batch`, `data_format`, `itemsize`). An error
    names the layer it came from (counted from 1).

    >>> specs = [("conv", dict(filters=8, kernel_size=3)), ("depthwise", dict(kernel_size=3, strides=2))]
    >>> layers = stack((28, 28), 3, specs)
    >>> [layer.output_shape for layer in layers]
    [(1, 26, 26, 8), (1, 12, 12, 8)]
    """
    layers = []
    for number, (kind, options) in enumerate(specs, start=1):
        try:
            layers.append(Layer(kind, in_sizes, in_channels, **options, **shared))
        except ConvZooError as error:
            raise with_context(error, f"layer {number} ({kind})") from None
        in_sizes, in_channels = layers[-1].out_sizes, layers[-1].out_channels
    return tuple(layers)
