"""Tests of the `convzoo` command line through its real entry point.

click's CliRunner calls the same `main` the console script calls; one subprocess runs
`python -m convzoo tour` as a user would. Figures are checked against `convzoo.arithmetic`
(which test_arithmetic.py checks against the core, PyTorch and Keras); here the questions are
whether every command answers, whether --json parses and says the same as the table, and
whether a bad option gives a message and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from convzoo import arithmetic
from convzoo.cli import main
from convzoo.kinds import KINDS


def run(*args: str):
    result = CliRunner().invoke(main, list(args))
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def run_json(*args: str):
    result = run(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


# --------------------------------------------------------------------------------------------
# tour
# --------------------------------------------------------------------------------------------


def test_tour_prints_one_row_per_kind():
    result = run("tour", "--batch", "2", "--repeat", "1")
    assert result.exit_code == 0, result.output
    for name in KINDS:
        assert name in result.output
    assert "no Keras API" in result.output  # spatially separable
    assert "SeparableConv2D(32, (3, 3))" in result.output


def test_tour_json_matches_the_arithmetic():
    data = run_json("tour", "--input", "12x10x2", "--filters", "8", "--kernel", "3", "--batch", "2", "--repeat", "1")
    rows = {row["kind"]: row for row in data["rows"]}
    assert list(rows) == list(KINDS)
    layer = KINDS["separable"].layer(in_sizes=(12, 10), in_channels=2, filters=8, kernel_size=3, batch=2)
    assert rows["separable"]["output_shape"] == list(layer.output_shape)
    assert rows["separable"]["macs"] == arithmetic.macs(layer)
    assert rows["conv"]["parameters_ratio"] == 1.0
    assert all(row["seconds"] > 0 for row in rows.values() if "error" not in row)


def test_tour_shows_a_kind_it_cannot_run_and_goes_on():
    # 4 groups cannot split 3 input channels: the grouped row says so, the others run
    result = run("tour", "--input", "8x8x3", "--batch", "1", "--repeat", "1")
    assert result.exit_code == 0
    assert "cannot run" in result.output and "groups" in result.output


def test_python_dash_m_convzoo_tour_at_the_default_size():
    start = time.perf_counter()
    env = dict(os.environ, COLUMNS="200")  # a wide pipe, so that no cell wraps
    completed = subprocess.run(
        [sys.executable, "-m", "convzoo", "tour"], capture_output=True, text=True, timeout=60, env=env
    )
    elapsed = time.perf_counter() - start
    assert completed.returncode == 0, completed.stderr
    assert "convzoo tour: (32, 28, 28, 3) float32" in completed.stdout
    assert "(32, 57, 57, 32)" in completed.stdout  # the stride-2 transpose
    print(f"python -m convzoo tour: {elapsed:.2f} s")


# --------------------------------------------------------------------------------------------
# calc, one layer
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(KINDS))
def test_calc_answers_for_every_kind(kind):
    result = run("calc", kind)
    assert result.exit_code == 0, result.output
    for label in ("output size, axis 0", "parameters", "MACs", "bias adds", "memory (float32)", "receptive field"):
        assert label in result.output
    data = run_json("calc", kind)
    layer = KINDS[kind].layer()
    assert data["output_shape"] == list(layer.output_shape)
    assert data["parameters"]["total"] == arithmetic.parameters(layer).total
    assert data["flops"] == 2 * data["macs"] == 2 * arithmetic.macs(layer)


def test_calc_writes_the_formula_with_the_numbers():
    result = run("calc", "dilated", "--input", "28x28x3")
    assert "floor((28 + 0 + 0 - 2*(3-1) - 1) / 1) + 1 = 24" in result.output
    transpose = run_json("calc", "transpose", "--input", "5x5x1", "--filters", "1", "--padding", "same")
    assert transpose["output_size_formulas"][0] == "(5-1)*2 + 1*(3-1) + 1 - 0 - 1 = 10"
    assert transpose["padding"] == [[0, 1], [0, 1]] and transpose["padding_is_crop"]


def test_calc_takes_every_option():
    data = run_json(
        "calc",
        "conv",
        "--input",
        "20x18x4",
        "--batch",
        "3",
        "--filters",
        "6",
        "--kernel",
        "3x2",
        "--strides",
        "2x1",
        "--padding",
        "1:0x0:1",
        "--dilation",
        "2",
        "--groups",
        "2",
        "--dtype",
        "float64",
        "--data-format",
        "channels_first",
        "--padding-mode",
        "reflect",
        "--no-bias",
    )
    layer = arithmetic.Layer(
        "conv",
        (20, 18),
        4,
        filters=6,
        kernel_size=(3, 2),
        strides=(2, 1),
        padding=((1, 0), (0, 1)),
        dilation_rate=2,
        groups=2,
        batch=3,
        itemsize=8,
        data_format="channels_first",
        padding_mode="reflect",
        use_bias=False,
    )
    assert data["output_shape"] == list(layer.output_shape)
    assert data["memory_bytes"]["inputs"] == 3 * 4 * 20 * 18 * 8
    assert data["keras"] is None  # explicit padding: no Keras layer takes it
    spread = run_json("calc", "separable", "--depth-multiplier", "2", "--filters", "5")
    assert spread["parameters"] == dict(kernel=3 * 3 * 3 * 2 + 6 * 5, bias=5, total=3 * 3 * 3 * 2 + 6 * 5 + 5)
    transpose = run_json(
        "calc", "transpose", "--input", "5x1", "--kernel", "3", "--strides", "2", "--output-padding", "1"
    )
    assert transpose["output_shape"] == [32, 12, 32]
    spatial = run_json("calc", "spatially-separable", "--intermediate-filters", "8")
    assert spatial["convzoo"].startswith("convzoo.spatially_separable_conv(x, kernels [(3, 1, 3, 8), (1, 3, 8, 32)]")


def test_calc_of_a_huge_input_answers_at_once():
    start = time.perf_counter()
    data = run_json("calc", "conv", "--input", "100000x100000x3", "--batch", "1")
    assert time.perf_counter() - start < 2
    assert data["output_shape"] == [1, 99998, 99998, 32]
    assert data["macs"] == 99998**2 * 32 * 27


def test_calc_json_gives_fractional_fields_as_numbers():
    data = run_json("calc", "transpose", "--input", "9x1", "--filters", "1")
    assert data["receptive_field"] == [dict(size=2, jump=0.5, start=-1)]


# --------------------------------------------------------------------------------------------
# calc, a stack
# --------------------------------------------------------------------------------------------

STACK_YAML = """\
# A small encoder-decoder
input: 32x32x3
batch: 8
layers:
  - conv filters=16 kernel=3 padding=same
  - kind: depthwise
    kernel: 3
    strides: 2
    padding: same
  - {kind: dilated, filters: 32, kernel: [3, 3], dilation: 2, padding: same}
  - transpose filters=8 kernel=4 strides=2 padding=1
"""


def test_calc_stack_from_a_yaml_file(tmp_path):
    path = tmp_path / "net.yaml"
    path.write_text(STACK_YAML)
    result = run("calc", "--stack", str(path))
    assert result.exit_code == 0, result.output
    assert "stack of 4 layers on (8, 32, 32, 3)" in result.output
    data = run_json("calc", "--stack", str(path))
    assert [row["output_shape"] for row in data["layers"]] == [
        [8, 32, 32, 16],
        [8, 16, 16, 16],
        [8, 16, 16, 32],
        [8, 32, 32, 8],
    ]
    assert data["totals"]["parameters"] == sum(row["parameters"]["total"] for row in data["layers"])
    # growth: 3, then 3 + 2*1, then 5 + 2*2*2 (dilated, jump 2), then through the transpose
    assert [row["receptive_field_so_far"][0]["size"] for row in data["layers"]] == [3, 5, 13, 16]
    assert data["receptive_field"] == data["layers"][-1]["receptive_field_so_far"]


def test_calc_stack_from_a_json_file_and_repeated_layer_options(tmp_path):
    path = tmp_path / "net.json"
    path.write_text(json.dumps({"input": "16x16x3", "layers": [{"kind": "conv", "filters": 8, "kernel": 3}]}))
    data = run_json(
        "calc", "--stack", str(path), "--layer", "separable filters=16 kernel=3x1 strides=2", "--batch", "4"
    )
    assert [row["output_shape"] for row in data["layers"]] == [[4, 14, 14, 8], [4, 6, 7, 16]]
    only_layers = run_json(
        "calc", "--layer", "pointwise filters=4", "--layer", "transpose filters=2 kernel=2 strides=2", "--input", "5x3"
    )
    assert only_layers["layers"][-1]["output_shape"] == [32, 10, 2]
    # k=2, s=2: output 0 sees [-1/2, 1/2], output 1 sees [0, 1/2]: each one input pixel
    assert only_layers["receptive_field"] == [dict(size=1.5, jump=0.5, start=-0.5)]


# --------------------------------------------------------------------------------------------
# Bad options: a message and a non-zero exit, never a traceback
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, message",
    [
        (["calc", "conv", "--kernel", "0"], "`kernel_size` must be >= 1"),
        (["calc", "grouped", "--input", "28x28x3"], "`groups` must divide both the input channels and the filters"),
        (
            ["calc", "conv", "--input", "2x2x1", "--kernel", "5"],
            "The dilated kernel spans 5 but the padded input has only 2",
        ),
        (["calc", "pointwise", "--strides", "2"], "`strides` does not apply to a pointwise layer"),
        (["calc", "transpose", "--padding", "full"], "`padding` must be one of 'valid', 'same'"),
        (["calc", "conv", "--padding", "sideways"], "--padding must be"),
        (["calc", "conv", "--input", "28"], "--input gives the spatial sizes then the channels"),
        (["calc", "conv", "--kernel", "3xa"], "must be integers joined by 'x'"),
        (["calc", "hexagonal"], "'hexagonal' is not one of"),
        (["calc"], "Give a KIND"),
        (["calc", "conv", "--layer", "conv filters=2"], "not both"),
        (["calc", "--layer", "conv filters"], "OPTION=VALUE pairs"),
        (["calc", "--layer", "conv colour=red"], "'colour' is not a layer option"),
        (["calc", "--layer", "conv filters=2 kernel=3", "--filters", "4"], "layer options go with each layer"),
        (
            ["calc", "--layer", "conv filters=2 kernel=3", "--layer", "conv filters=2 kernel=40"],
            "layer 2 (conv): The dilated kernel spans 40",
        ),
        (["tour", "--dtype", "int8"], "'int8' is not one of"),
    ],
)
def test_bad_options_exit_non_zero_with_a_message(args, message):
    result = run(*args)
    assert result.exit_code != 0
    assert message in result.output


def test_bad_stack_files_exit_non_zero_with_a_message(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("layers: [conv filters=2\n")
    assert "not valid YAML or JSON" in run("calc", "--stack", str(broken)).output
    shapeless = tmp_path / "shapeless.yaml"
    shapeless.write_text("layers: 3\n")
    assert "must hold a list of layers" in run("calc", "--stack", str(shapeless)).output
    assert run("calc", "--stack", str(tmp_path / "missing.yaml")).exit_code != 0


# --------------------------------------------------------------------------------------------
# animate, diagram, tour --gallery
# --------------------------------------------------------------------------------------------


def test_animate_takes_calcs_options_and_writes_the_frames(tmp_path):
    from PIL import Image

    path = tmp_path / "conv.gif"
    result = run(
        "animate", "conv", "--input", "5x5x1", "--kernel", "3", "--strides", "2", "--padding", "1", "-o", str(path)
    )
    assert result.exit_code == 0, result.output
    assert "9 frames of 9 steps" in result.output  # a 3x3 output
    with Image.open(path) as image:
        assert image.n_frames == 9


def test_animate_views_frames_and_caps(tmp_path):
    result = run("animate", "transpose", "--view", "zero-insertion", "-o", str(tmp_path / "t.svg"))
    assert result.exit_code == 0 and "25 frames" in result.output  # 2x2 -> 5x5
    result = run("animate", "grouped", "--max-frames", "5", "-o", str(tmp_path / "g.html"))
    assert result.exit_code == 0 and "5 frames of 18 steps, 4 steps per frame" in result.output
    result = run("animate", "separable", "--frame", "-1", "--no-numbers", "-o", str(tmp_path / "s.png"))
    assert result.exit_code == 0 and (tmp_path / "s.png").stat().st_size > 1000


def test_diagram_writes_the_tour_layer(tmp_path):
    result = run("diagram", "separable", "-o", str(tmp_path / "d.svg"))
    assert result.exit_code == 0, result.output
    layer = KINDS["separable"].layer()
    assert f"MACs {arithmetic.macs(layer):,}" in (tmp_path / "d.svg").read_text()


@pytest.mark.parametrize(
    "args, message",
    [
        (["animate", "conv", "--view", "scatter"], "view(s) gather"),
        (["animate", "depthwise", "--filters", "3"], "leave `filters` out"),
        (["animate", "conv", "-o", "a.bmp"], "one of .gif, .png, .svg, .html"),
        (["animate", "conv", "--frame", "99"], "`frame` must be in"),
        (["diagram", "conv", "-o", "a.gif"], "one of .png, .svg, .html"),
        (["animate", "conv", "--max-frames", "0"], "0 is not in the range x>=1"),
    ],
)
def test_bad_picture_options_exit_with_a_message(args, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run(*args)
    assert result.exit_code != 0 and message in result.output


def test_tour_gallery_writes_every_kind(tmp_path):
    result = run("tour", "--batch", "1", "--repeat", "1", "--gallery", str(tmp_path))
    assert result.exit_code == 0, result.output
    index = (tmp_path / "index.md").read_text()
    for name in KINDS:
        assert (tmp_path / f"{name}.gif").exists() and (tmp_path / f"{name}-diagram.svg").exists()
        assert f"![{name}: {name}.gif]({name}.gif)" in index
    assert (tmp_path / "transpose-zero-insertion.gif").exists()
