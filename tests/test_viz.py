"""Tests of convzoo.viz: the frames as data, checked against the core; the pictures as files.

The frames are the claim: which input cells each output reads (or, in the scatter view,
which outputs each input cell feeds), which cells are padding and what they mirror, and the
numbers. Each is checked against the core itself: a dependency probe (the input gradient of
one output through `convzoo.vjp`, or the outputs a one-hot input changes) for the cells, and
the kind's op for the numbers. The renderers get every kind in every format on the edge
cases, and a few pixel and structure checks.
"""

from __future__ import annotations

import builtins
import math
import xml.etree.ElementTree as ElementTree

import numpy as np
import pytest
from PIL import Image

import convzoo
from convzoo import viz
from convzoo.arithmetic import Layer
from convzoo.errors import ConvZooError
from convzoo.kinds import KINDS
from convzoo.viz import raster
from convzoo.viz.layout import animation_scene
from convzoo.viz.scene import PALETTE, Rect

# Configurations of every kind: the edge cases (1x1 input with padding, a kernel as
# large as the input, a stride larger than the kernel, dilation with stride, transpose with
# output_padding), 1-D and 3-D, asymmetric and "same" padding, every padding mode, groups.
EDGES = {
    "conv": [
        dict(in_sizes=(1, 1), padding=1),
        dict(in_sizes=(3, 3), padding="valid"),
        dict(in_sizes=(7, 6), kernel_size=2, strides=3, padding=0),
        dict(in_sizes=(7, 7), strides=2, dilation_rate=2, padding="same"),
        dict(in_sizes=(4, 5), padding=((2, 0), (1, 2)), padding_mode="reflect"),
        dict(in_sizes=(6,), in_channels=2, filters=2, padding="causal", dilation_rate=2),
        dict(in_sizes=(3, 3, 3), kernel_size=2, padding=(0, 1, 1), padding_mode="circular"),
    ],
    "pointwise": [dict(in_sizes=(1, 1)), dict(in_sizes=(4,), in_channels=2, filters=3), dict(in_sizes=(2, 2, 2))],
    "transpose": [
        dict(in_sizes=(1, 1), padding=1),
        dict(in_sizes=(3, 3), strides=2, padding=1, output_padding=1),
        dict(in_sizes=(2, 3), strides=(2, 3), padding="valid", output_padding=(1, 2)),
        dict(in_sizes=(3, 3), strides=2, padding="same", dilation_rate=2),
        dict(in_sizes=(3,), in_channels=4, filters=2, groups=2, kernel_size=2, strides=3),
        dict(in_sizes=(2, 2), kernel_size=3, strides=1, padding=((3, 0), (2, 0))),  # crops more than k-1
    ],
    "dilated": [dict(in_sizes=(1, 1), padding=2), dict(in_sizes=(5, 5)), dict(in_sizes=(8, 7), strides=2)],
    "depthwise": [
        dict(in_sizes=(1, 1), padding=1, padding_mode="replicate"),
        dict(in_sizes=(3, 3)),
        dict(in_sizes=(7, 7), kernel_size=2, strides=3),
        dict(in_sizes=(5,), strides=2, dilation_rate=2, padding="same"),
    ],
    "separable": [
        dict(in_sizes=(1, 1), padding=1),
        dict(in_sizes=(3, 3), depth_multiplier=2),
        dict(in_sizes=(6, 5), strides=2, dilation_rate=2, padding="same", padding_mode="reflect"),
    ],
    "spatially-separable": [
        dict(in_sizes=(1, 1), padding=1),
        dict(in_sizes=(3, 3), in_channels=2, filters=2, intermediate_filters=3),
        dict(in_sizes=(7, 6), kernel_size=(3, 2), strides=(2, 3), dilation_rate=(2, 1), padding="same"),
        dict(in_sizes=(4, 4), padding=((1, 2), (2, 1)), padding_mode="circular"),
        dict(in_sizes=(3, 3, 4), kernel_size=2),
    ],
    "grouped": [
        dict(in_sizes=(1, 1), padding=1),
        dict(in_sizes=(3, 3), in_channels=4, filters=4, groups=4),
        dict(in_sizes=(6, 6), kernel_size=2, strides=3, in_channels=6, filters=3, groups=3),
    ],
}
CONFIGS = [
    pytest.param(kind, options, view, id=f"{kind}-{view}-{number}")
    for kind, options_list in EDGES.items()
    for number, options in enumerate(options_list)
    for view in viz.views(kind)
]


def core_call(layer: Layer, fill=np.ones):
    """The kind's core op and options (from the kinds table), on arrays of `fill`."""
    call = KINDS[layer.kind].build(layer, np.random.default_rng(0), "float64")
    arrays = [[fill(k.shape) for k in a] if isinstance(a, list) else fill(a.shape) for a in call.arrays]
    return call.op, arrays, call.options


def small(kind, **options) -> Layer:
    return viz.example_layer(kind, use_bias=False, **options)


# --------------------------------------------------------------------------------------------
# Frames as data
# --------------------------------------------------------------------------------------------


def _expected_steps(layer: Layer, view: str) -> int:
    """Gather: one step per output element of every stage; scatter: one per input element."""
    if view == "scatter":
        return math.prod(layer.in_sizes) * layer.in_channels
    if layer.kind == "transpose":
        return math.prod(layer.out_sizes) * layer.out_channels
    return sum(math.prod(stage.geometry.out_sizes) * stage.out_channels for stage in layer.stages)


@pytest.mark.parametrize("kind, options, view", CONFIGS)
def test_one_frame_per_step_each_step_once(kind, options, view):
    layer = small(kind, **options)
    movie = viz.animation(layer, view=view)
    steps = movie.steps
    assert len(steps) == _expected_steps(layer, view)
    assert len(movie.frames) == len(steps) and movie.steps_per_frame == 1  # all small: under the cap
    keys = [(step.stage, step.channel, step.cell) for step in steps]
    assert len(set(keys)) == len(keys)


@pytest.mark.parametrize("max_frames", [1, 4, 7, 25, 1000])
def test_beyond_max_frames_consecutive_steps_share_a_frame(max_frames):
    layer = small("conv", padding=1)  # 25 steps
    movie = viz.animation(layer, max_frames=max_frames)
    per_frame = max(1, math.ceil(25 / max_frames))
    assert movie.steps_per_frame == per_frame
    assert len(movie.frames) == math.ceil(25 / per_frame) <= max_frames
    assert all(len(frame.steps) == per_frame for frame in movie.frames[:-1])
    assert [step.cell for step in movie.steps] == [step.cell for step in viz.animation(layer).steps]


def _dependencies(movie) -> dict:
    """For each cell of the last grid: the input tensor cells (channel, *index) it depends on,
    composed through the stages from the frames alone."""
    grids = movie.grids
    depends = {}

    def of(number, channel, cell):
        source = grids[number].source(cell)
        if source is None:
            return set()  # a zero: zero padding, an inserted zero
        if number == 0:
            return {(channel, *source)}
        real = tuple(o + s for o, s in zip(grids[number].origin, source))
        return depends.get((number, channel, real), set())

    for step in movie.steps:
        stage = movie.stages[step.stage]
        if stage.view == "gather":
            cells = set().union(*(of(stage.source, c, cell) for c in step.fan_channels for cell in step.cells))
            depends[(stage.target, step.channel, step.cell)] = cells
        else:
            for f in step.fan_channels:
                for cell in step.cells:
                    depends.setdefault((stage.target, f, cell), set()).update(of(stage.source, step.channel, step.cell))
    return depends


@pytest.mark.parametrize("kind, options, view", CONFIGS)
def test_footprints_are_the_cells_the_core_uses(kind, options, view):
    """Every output's dependencies, read off the frames, equal the input cells whose gradient
    (convzoo.vjp, all-ones arrays so nothing cancels) is non-zero for that output alone."""
    layer = small(kind, **options)
    movie = viz.animation(layer, view=view)
    depends = _dependencies(movie)
    op, arrays, options = core_call(layer)
    out, pullback = convzoo.vjp(op, *arrays, **options)
    last = len(movie.grids) - 1
    target = movie.grids[last]
    checked = 0
    for f in range(layer.out_channels):
        for o in np.ndindex(*layer.out_sizes):
            cotangent = np.zeros_like(out)
            cotangent[(0, *o, f)] = 1
            grad = pullback(cotangent)[0][0]
            probe = {(c, *index) for *index, c in zip(*np.nonzero(grad))}
            cell = tuple(g + i for g, i in zip(target.origin, o))
            assert depends.get((last, f, cell), set()) == probe, (f, o)
            checked += 1
    assert checked == out.size


@pytest.mark.parametrize("kind, options, view", CONFIGS)
def test_printed_numbers_are_the_cores(kind, options, view):
    layer = small(kind, **options)
    movie = viz.animation(layer, view=view, seed=3)
    rng = np.random.default_rng(3)
    x = rng.integers(0, 4, layer.input_shape).astype(float)
    kernels = [rng.integers(0, 3, shape).astype(float) for shape in convzoo.arithmetic.kernel_shapes(layer)]
    op, _, options = core_call(layer)
    out = op(x, *([kernels] if kind == "spatially-separable" else kernels), **options)[0]
    target = movie.grids[-1]
    real = tuple(slice(o, o + n) for o, n in zip(target.origin, layer.out_sizes))
    np.testing.assert_array_equal(np.moveaxis(target.values[(slice(None), *real)], 0, -1), out)
    for step in movie.steps:
        if movie.stages[step.stage].view == "gather":
            assert (
                step.products.sum()
                == step.value
                == movie.grids[movie.stages[step.stage].target].values[(step.channel, *step.cell)]
            )
    if view == "scatter":
        # The partial sums after the last frame are the full output; its products sum to it too.
        sums = np.zeros_like(target.values)
        for step in movie.steps:
            for j, f in enumerate(step.fan_channels):
                for t, cell in enumerate(step.cells):
                    sums[(f, *cell)] += step.products[j, t]
        np.testing.assert_array_equal(movie.frames[-1].partial, sums)
        np.testing.assert_array_equal(sums[(slice(None), *real)], np.moveaxis(out, -1, 0))


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
def test_padding_cells_are_apart_and_mirror_the_mode(mode):
    layer = small("conv", in_sizes=(4, 3), padding=((2, 1), (1, 2)), padding_mode=mode)
    grid = viz.animation(layer).grids[0]
    x = grid.values[0][2:6, 1:4]  # the real cells
    assert grid.sizes == (7, 6)
    assert (grid.cells[2:6, 1:4] == "real").all()
    assert (grid.cells == "padding").sum() == 7 * 6 - 4 * 3
    padded = np.pad(x, ((2, 1), (1, 2)), mode=dict(zeros="constant", replicate="edge", circular="wrap").get(mode, mode))
    np.testing.assert_array_equal(grid.values[0], padded)
    for index in zip(*np.nonzero(grid.cells == "padding")):
        source = grid.source(index)
        assert (source is None) == (mode == "zeros")
        if source is not None:
            assert grid.values[(0, *index)] == x[source]


def test_transpose_views_draw_inserted_zeros_and_cropped_cells():
    layer = small("transpose", in_sizes=(3,), strides=2, padding=1, output_padding=1)
    zeros = viz.animation(layer, view="zero-insertion").grids[0]
    # k_eff - 1 - crop: 1 before, 2 after (output_padding shortens the crop after).
    assert list(zeros.cells) == ["padding", "real", "inserted", "real", "inserted", "real", "padding", "padding"]
    canvas = viz.animation(layer, view="scatter").grids[1]
    assert list(canvas.cells) == ["cropped"] + ["real"] * 6  # full output 7, crop (1, 0), output 6
    valid = small("transpose", in_sizes=(2,), strides=3, kernel_size=2, padding="valid", output_padding=2)
    assert list(viz.animation(valid).grids[1].cells) == ["real"] * 5 + ["appended"] * 2


def test_three_d_and_one_d_frames_have_their_rank():
    movie = viz.animation(small("conv", in_sizes=(3, 4, 4), kernel_size=2, padding=0))
    assert movie.grids[0].sizes == (3, 4, 4) and len(movie.steps[0].cells[0]) == 3
    assert len(movie.frames) == 2 * 3 * 3
    assert viz.animation(small("conv", in_sizes=(6,), padding=0)).grids[0].sizes == (6,)


def test_bad_arguments_are_refused_by_name():
    layer = small("conv")
    with pytest.raises(ConvZooError, match=r"view\(s\) gather. Received: view='scatter'"):
        viz.animation(layer, view="scatter")
    with pytest.raises(ConvZooError, match=r"max_frames` must be an int >= 1. Received: max_frames=0"):
        viz.animation(layer, max_frames=0)
    with pytest.raises(ConvZooError, match=r"Received: kind='conv2d'"):
        viz.example_layer("conv2d")


# --------------------------------------------------------------------------------------------
# Pictures
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind, options, view", CONFIGS)
def test_every_kind_renders_in_every_format(kind, options, view, tmp_path):
    movie = viz.animation(small(kind, **options), view=view, max_frames=3)
    gif = viz.save_animation(movie, tmp_path / "a.gif", seconds=0.1)
    with Image.open(gif) as image:
        assert getattr(image, "n_frames", 1) == len(movie.frames)
    with Image.open(viz.save_animation(movie, tmp_path / "a.png", frame=-1)) as image:
        assert image.format == "PNG" and image.width > 200
    svg = ElementTree.parse(viz.save_animation(movie, tmp_path / "a.svg")).getroot()
    frames = [g for g in svg.iter("{http://www.w3.org/2000/svg}g") if g.get("class") == "frame"]
    assert len(frames) == (len(movie.frames) if len(movie.frames) > 1 else 0)
    page = viz.save_animation(movie, tmp_path / "a.html").read_text()
    assert page.count("<svg") == 1 and "<script>" in page
    for suffix in ("svg", "png", "html"):
        assert viz.save_diagram(movie.layer, tmp_path / f"d.{suffix}").stat().st_size > 500


def hex_colour(rgb) -> str:
    return "#" + "".join(f"{channel:02x}" for channel in rgb)


def test_png_pixels_show_padding_input_and_the_output_being_written(tmp_path):
    movie = viz.animation(small("conv", padding=1))
    scene = animation_scene(movie)
    path = viz.save_animation(movie, tmp_path / "frame.png", frame=6)
    image = Image.open(path).convert("RGB")

    def colour_at(rect: Rect, inset=3):
        x, y = (rect.x + inset) * raster.SCALE, (rect.y + inset) * raster.SCALE  # a corner, clear of the digits
        return hex_colour(image.getpixel((int(x), int(y))))

    fills = [item for item in scene.base if isinstance(item, Rect) and item.fill]
    assert colour_at(next(r for r in fills if r.fill == PALETTE["padding"])) == PALETTE["padding"]
    assert colour_at(next(r for r in fills if r.fill == PALETTE["input"])) == PALETTE["input"]
    now = [item for item in scene.frames[6] if isinstance(item, Rect) and item.fill == PALETTE["output_now"]]
    assert len(now) == 1 and colour_at(now[0], inset=1) == PALETTE["output_edge"]  # its thick edge
    centre = (int((now[0].x + 8) * raster.SCALE), int((now[0].y + now[0].height / 2) * raster.SCALE))
    assert hex_colour(image.getpixel(centre)) == PALETTE["output_now"]


def test_svg_frame_writes_the_equation_with_the_cores_sum(tmp_path):
    movie = viz.animation(small("conv", strides=2, padding=1))
    step = movie.steps[4]
    text = viz.save_animation(movie, tmp_path / "f.svg", frame=4).read_text()
    assert f"= {int(step.value)}</text>" in text and 'class="frame"' not in text


def test_diagram_caption_is_the_arithmetic(tmp_path):
    layer = KINDS["separable"].layer()
    text = viz.save_diagram(layer, tmp_path / "d.svg").read_text()
    parameters = convzoo.arithmetic.parameters(layer)
    assert f"parameters {parameters.total:,}" in text and f"MACs {convzoo.arithmetic.macs(layer):,}" in text
    assert "28x28x3" in text and "26x26x32" in text and "3 x 3x3x1" in text and "32 x 1x1x3" in text


def test_bad_files_and_frames_are_refused(tmp_path):
    movie = viz.animation(small("conv", padding=0))
    with pytest.raises(ConvZooError, match=r"one of .gif, .png, .svg, .html. Received: path='.*a.bmp'"):
        viz.save_animation(movie, tmp_path / "a.bmp")
    with pytest.raises(ConvZooError, match=r"`frame` must be in \[-9, 9\). Received: frame=9"):
        viz.save_animation(movie, tmp_path / "a.png", frame=9)
    with pytest.raises(ConvZooError, match=r"one of .png, .svg, .html"):
        viz.save_diagram(movie.layer, tmp_path / "a.gif")


def test_without_pillow_the_error_says_how_to_install_it(tmp_path, monkeypatch):
    real_import = builtins.__import__

    def no_pillow(name, *args, **kwargs):
        if name == "PIL" or name.startswith("PIL."):
            raise ImportError("No module named 'PIL'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pillow)
    raster._font.cache_clear()
    movie = viz.animation(small("conv"))
    with pytest.raises(ConvZooError, match=r"pip install convzoo\[viz\]"):
        viz.save_animation(movie, tmp_path / "a.gif")
    assert viz.save_animation(movie, tmp_path / "a.svg").exists()  # SVG needs nothing
