"""Every algorithm of the engine, forced, computes what the others compute; the choice is valid.

Three levels:
- engine calls with `algorithm=` forced, on random problems each algorithm supports, against
  `shift_add` (the first algorithm, itself held to the reference and PyTorch by
  test_against_oracles.py) and, through the public ops, against PyTorch with gradients;
- the automatic choice: valid for every configuration, and exact-semantics `gemm` whenever an
  operand holds NaN or Inf;
- the float32 error of Winograd and the FFT, measured against float64.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import convzoo
import torch_oracle
from cases import KINDS, Case, cases
from convzoo import engine
from convzoo.arithmetic import ConvGeometry
from convzoo.engine import direct, phases, select, shift_add, winograd
from convzoo.engine.direct import dense, depthwise, simd, tasks

FAST = ("gemm", "winograd", "fft", "direct")


@st.composite
def problems(
    draw,
    algorithm: str | None = None,
    depthwise: bool = False,
    wide: bool = False,
    dense: bool = False,
    packed=False,
    pixels=False,
    windowed=False,
):
    """A random engine call: geometry (crops included), groups, float64 operands. `depthwise`:
    one channel per group each way, with channel counts on both sides of a vector's width and of
    a block of channels (engine/direct/depthwise.py: 32 float32 or 16 float64 on AVX-512, half
    that on AVX2), and rows long enough for several tiles;
    `wide`: groups of up to 17 channels and rows long enough for several tiles of 8 columns;
    `dense`: one group, wide rows, and output channels on both sides of a dense tile's lanes
    (the input channels too: they are the input gradient's output channels);
    `packed`: groups whose output channels fill a wide vector 4, 2 or 1 at a time, or several
    vectors each (engine/direct/grouped.py packed_forward), and a few that fit none of those;
    `pixels`: 1, 2 or 4 groups of 1 to 16 output channels (tiles of 4 and 8 rows over a
    zero-padded kernel below 8, storing transposed where every row is an output channel), stride
    1 and 20 to 70 output columns along the last axis, short other axes (engine/direct/dense.py
    pixel_forward); `windowed`: a depthwise layer (as `depthwise`, whole vectors of channels)
    with 3 taps, stride 1 and dilation 1 along the last axis, 1 to 5 kernel rows (engine/direct/
    depthwise.py window_kernel_grad)."""
    if algorithm == "winograd":  # planes of 1 to 3 taps per axis (ceil(K / s) when strided); in 3-D any depth
        rank, groups = draw(st.integers(1, 3)), 1
        plane_strides = [draw(st.sampled_from([1, 1, 2])) for _ in range(min(rank, 2))]
        plane = [draw(st.integers(1, 3 * s)) for s in plane_strides]
        kernel_sizes = (*[draw(st.integers(1, 3)) for _ in range(rank - 2)], *plane)
        strides = (*[draw(st.integers(1, 2)) for _ in range(rank - 2)], *plane_strides)
    else:
        rank = draw(st.integers(1, 3))
        kernel_sizes = tuple(draw(st.lists(st.integers(1, 4), min_size=rank, max_size=rank)))
        strides = (
            (1,) * rank
            if algorithm == "fft"
            else tuple(draw(st.lists(st.integers(1, 3), min_size=rank, max_size=rank)))
        )
        groups = 1 if algorithm == "fft" or dense else draw(st.sampled_from([1, 2, 3]))
    dilation = tuple(draw(st.lists(st.integers(1, 3), min_size=rank, max_size=rank)))
    padding = tuple(draw(st.tuples(st.integers(-1, 3), st.integers(-1, 3))) for _ in range(rank))
    if pixels:
        strides, groups = (*strides[:-1], 1), draw(st.sampled_from([1, 1, 2, 4]))
    if windowed:
        kernel_sizes = (*[draw(st.integers(1, 5)) for _ in range(rank - 1)], 3)
        strides, dilation = (*strides[:-1], 1), (*dilation[:-1], 1)
    spans = [(k - 1) * d + 1 for k, d in zip(kernel_sizes, dilation)]
    longest = 30 if wide or dense or depthwise or packed else 8  # columns past the kernel's span
    longest = [longest] * rank
    if algorithm == "winograd" and rank == 3:
        longest[0] = 3  # a few depth slices: shift_add's 3-D sums are slow
    in_sizes = tuple(
        draw(st.integers(max(1, span - p - q, 1 + max(-p, 0) + max(-q, 0)), span + most))
        for span, (p, q), most in zip(spans, padding, longest)
    )
    if pixels:  # rows of 20 to 70 output columns: shorter than a tile (32 float32) or not
        (p, q), span = padding[-1], spans[-1]
        in_sizes = (*in_sizes[:-1], draw(st.integers(20, 70)) + span - 1 - p - q)
    geometry = ConvGeometry(in_sizes, kernel_sizes, strides, dilation, padding)
    assume(all(o >= 1 for o in geometry.out_sizes))
    if algorithm == "winograd":
        assume(any(winograd.applies(geometry, 1, face) is None for face in select.FACES))
    per_group_in = draw(st.integers(1, 4))
    out_channels = groups * draw(st.integers(1, 4))
    if depthwise:
        groups = out_channels = draw(st.sampled_from([1, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 40, 64, 70]))
        per_group_in = 1
    if windowed:  # whole vectors of 16 (float32 on AVX-512) or 8 lanes
        groups = out_channels = draw(st.sampled_from([16, 32, 48, 64]))
        per_group_in = 1
    if wide:
        per_group_in = draw(st.sampled_from([1, 3, 8, 9]))
        out_channels = groups * draw(st.sampled_from([1, 2, 5, 8, 9, 17]))
    if packed:
        groups = draw(st.sampled_from([2, 4, 8]))
        per_group_in = draw(st.sampled_from([1, 3, 8]))
        out_channels = groups * draw(st.sampled_from([1, 2, 3, 4, 8, 16, 32]))
    if dense:
        per_group_in = draw(st.sampled_from([1, 2, 5, 16, 40]))  # input gradients have these as outputs
        out_channels = draw(st.sampled_from([1, 7, 16, 32, 33, 64, 70]))
    if pixels:  # input rows transposed in blocks of a vector's lanes, and the channels past them
        per_group_in = draw(st.sampled_from([1, 3, 16, 17]))
        out_channels = groups * draw(st.sampled_from([1, 3, 4, 5, 8, 12, 16]))
    batch = draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    x = rng.standard_normal((batch, *in_sizes, per_group_in * groups))
    kernel = rng.standard_normal((*kernel_sizes, per_group_in, out_channels))
    grad = rng.standard_normal((batch, *geometry.out_sizes, out_channels))
    return geometry, groups, x, kernel, grad


@st.composite
def winograd_cases(draw):
    """2-D 3x3 stride-1 dense layers (rare among `cases()`): conv in every padding form and mode,
    and the stride-1 transpose, whose forward is the flipped-kernel convolution; and the 4x4
    stride-2 transpose, whose forward is an input gradient of 2x2 phases."""
    kind = draw(st.sampled_from(["conv", "transpose", "transpose_4x4"]))
    if kind == "transpose_4x4":
        sizes = tuple(draw(st.lists(st.integers(2, 9), min_size=2, max_size=2)))
        c_in, c_out = draw(st.integers(1, 3)), draw(st.integers(1, 3))
        options = {"strides": 2, "padding": draw(st.sampled_from(["valid", "same"]))}
        rng = np.random.default_rng(draw(st.integers(0, 2**16)))
        arrays = (rng.standard_normal((2, *sizes, c_in)), rng.standard_normal((4, 4, c_out, c_in)))
        return Case("transpose", (*arrays, rng.standard_normal(c_out)), options)
    dilation = draw(st.integers(1, 2))
    sizes = tuple(draw(st.lists(st.integers(2 * dilation + 1 + 2, 12), min_size=2, max_size=2)))
    c_in, c_out = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    data_format = draw(st.sampled_from(["channels_last", "channels_first"]))
    options = {"dilation_rate": dilation, "data_format": data_format}
    if kind == "conv":
        options["padding"] = draw(st.sampled_from(["valid", "same", ((1, 2), (0, 2))]))
        if options["padding"] != "valid":
            options["padding_mode"] = draw(st.sampled_from(["zeros", "reflect", "replicate", "circular"]))
    else:
        options["padding"] = draw(st.sampled_from(["valid", "same"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    x_shape = (2, *sizes, c_in) if data_format == "channels_last" else (2, c_in, *sizes)
    kernel_shape = (3, 3, c_in, c_out) if kind == "conv" else (3, 3, c_out, c_in)
    arrays = (rng.standard_normal(x_shape), rng.standard_normal(kernel_shape), rng.standard_normal(c_out))
    return Case(kind, arrays, options)


def _close(actual, expected, what):
    scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
    np.testing.assert_allclose(actual, expected, rtol=0, atol=1e-11 * scale, err_msg=what)


def _forced_equals_shift_add(algorithm, problem, dtype=np.float64):
    geometry, groups, x, kernel, grad = problem
    what = f"{algorithm} on {geometry}, groups={groups}, {np.dtype(dtype).name}"
    close = _close
    if dtype != np.float64:  # computed in dtype, held to the float64 result within its rounding

        def close(actual, expected, what):
            scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
            np.testing.assert_allclose(actual, expected, rtol=0, atol=1e-5 * scale, err_msg=what)

    low = tuple(a.astype(dtype) for a in (x, kernel, grad))
    face_problem = select.Problem(geometry, groups, x.shape[-1], kernel.shape[-1])
    if select.why_not(algorithm, "conv", face_problem) is None:
        close(
            engine.conv(low[0], low[1], geometry, groups, algorithm), shift_add.conv(x, kernel, geometry, groups), what
        )
    if select.why_not(algorithm, "input_grad", face_problem) is None:
        close(
            engine.conv_input_grad(low[2], low[1], geometry, groups, algorithm),
            shift_add.conv_input_grad(grad, kernel, geometry, groups),
            what,
        )
    if select.why_not(algorithm, "kernel_grad", face_problem) is None:
        close(
            engine.conv_kernel_grad(low[0], low[2], geometry, groups, algorithm),
            shift_add.conv_kernel_grad(x, grad, geometry, groups),
            what,
        )


@pytest.mark.parametrize("algorithm", FAST)
def test_each_algorithm_forced_equals_shift_add_on_every_face(algorithm):
    @settings(max_examples=60)
    @given(problem=problems(algorithm))
    def check(problem):
        _forced_equals_shift_add(algorithm, problem)

    check()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_direct_depthwise_tiles_equal_shift_add_on_every_face(dtype):
    """`direct` on one channel per group (engine/direct/depthwise.py): long, short and one-pixel
    tiles with an overlapping last one over the padded row cache, kernel rows skipped at the
    edges, 3-tap and 1-tap kernel-gradient tiles over two halves of a row, an overlapping last
    block of channels, and few_channels.py's row passes for fewer channels than a block."""

    @settings(max_examples=60)
    @given(problem=problems("direct", depthwise=True))
    def check(problem):
        _forced_equals_shift_add("direct", problem, dtype)

    check()


@numba.njit(parallel=True)
def _claimed_runs(jobs, chunks, counts, owner):
    # the loop of engine/direct/tasks.py: counts[job] += 1 for every job computed, owner[job] its task
    runs, state = tasks.runs_of(jobs, chunks), tasks.new_state()
    for chunk in numba.prange(chunks):
        claimed = tasks.claim(state)
        while claimed < runs:
            from_job, to_job = tasks.jobs_of(claimed, runs, jobs)
            for job in range(from_job, to_job):
                counts[job] += 1
                owner[job] = chunk
            tasks.done(state)
            claimed = tasks.claim(state)
        tasks.leave(state, chunk, runs)
    return state


@pytest.mark.parametrize("chunks", [1, 2, 3, 8])
def test_tasks_compute_every_job_once_and_count_every_run(chunks):
    """engine/direct/tasks.py: the runs that the tasks claim cover every job exactly once, for
    fewer jobs than runs, more tasks than threads and any schedule; the counters end at runs
    claimed (plus one failed claim per task) and runs done."""
    for jobs in (1, 2, 7, 8 * chunks, 8 * chunks + 1, 1000):
        counts, owner = np.zeros(jobs, np.int64), np.full(jobs, -1, np.int64)
        state = _claimed_runs(jobs, chunks, counts, owner)
        runs = min(jobs, tasks.RUNS_PER_TASK * chunks)
        assert (counts == 1).all(), (jobs, chunks)
        assert ((owner >= 0) & (owner < chunks)).all()
        assert state.tolist() == [runs + chunks, runs]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_direct_depthwise_windows_equal_shift_add(dtype):
    """Depthwise layers of 3 taps along rows of stride 1 (engine/direct/depthwise.py
    window_forward, window_kernel_grad; the input gradient is window_forward too): 1, 2 or 3
    kernel rows per tile, more kernel rows in pieces (the forward adding the later pieces),
    kernel rows skipped at the edges, the padding's columns as zeros in registers (before and
    after the row, wider than the kernel, crops included), rows shorter than the window, pairs
    of vectors and a last single one (48 channels)."""

    @settings(max_examples=50)
    @given(problem=problems("direct", windowed=True))
    def check(problem):
        channels = problem[1]
        assert depthwise.windowed(3, 1, 1, channels, np.dtype(dtype).itemsize) or channels < depthwise.block_lanes(
            np.dtype(dtype).itemsize
        )
        _forced_equals_shift_add("direct", problem, dtype)

    check()


@settings(max_examples=40)
@given(problem=problems("direct"))
def test_direct_general_loops_equal_shift_add_exactly_on_integers(problem):
    """engine/direct/general.py, the loops for dtypes without tiles: on int64 operands both
    algorithms sum the same integers, so they agree exactly."""
    geometry, groups, *arrays = problem
    x, kernel, grad = (np.rint(4 * a).astype(np.int64) for a in arrays)
    np.testing.assert_array_equal(direct.conv(x, kernel, geometry, groups), shift_add.conv(x, kernel, geometry, groups))
    np.testing.assert_array_equal(
        direct.conv_kernel_grad(x, grad, geometry, groups), shift_add.conv_kernel_grad(x, grad, geometry, groups)
    )


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_direct_grouped_tiles_equal_shift_add_on_every_face(dtype):
    """`direct`'s register tiles (engine/simd.py): lanes past a group's channels, several blocks
    of lanes per group, tiles of 8 columns with an overlapping last one, border columns alone."""

    @settings(max_examples=50)
    @given(problem=problems("direct", wide=True))
    def check(problem):
        _forced_equals_shift_add("direct", problem, dtype)

    check()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_direct_packed_groups_equal_shift_add_on_every_face(dtype):
    """`direct` on groups packed into wide vectors (engine/direct/grouped.py packed_forward): 4,
    2 or 1 groups per vector, several vectors per group, the blocked row cache with its
    channel-major packs, kernel rows as one run of terms (no dilation) or one run per tap."""

    @settings(max_examples=50)
    @given(problem=problems("direct", packed=True))
    def check(problem):
        _forced_equals_shift_add("direct", problem, dtype)

    check()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_direct_dense_tiles_equal_shift_add_on_every_face(dtype):
    """`direct` on one group (engine/direct/dense.py): long, short and one-pixel tiles, an
    overlapping last tile, blocks of output lanes with a remainder, the per-thread cache of
    padded rows (crops, dilation, strides, rows skipped above and below the input), and the
    input gradient's phases as parts of one call, each storing into its positions of dx."""

    @settings(max_examples=50)
    @given(problem=problems("direct", dense=True))
    def check(problem):
        _forced_equals_shift_add("direct", problem, dtype)

    check()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_winograd_fused_runs_equal_shift_add(dtype, monkeypatch):
    """engine/winograd.py's fused loop in its nine forms (F(4, 3), F(4, 2) or none along each
    axis of the plane: 3x3, 2x2, 3x2, 3x1, 2x1, 1x1, ... planes, and 1-D layers of 2 or 3 taps):
    runs of tiles across tile rows, depth slices and batch items (a run of 14 tiles here, so
    most calls have several and a partial last one); in 3-D the depth taps summed directly,
    strided or dilated, slices outside the input skipped as zeros; strided axes as sums of
    phase terms (their taps zero-padded to ceil(K / s)); inner tiles read in place (channels in
    whole vectors) or gathered with the padding's zeros (borders, crops, and every tile where the
    channels do not fill whole vectors), output tiles stored in place or clipped at the edges,
    blocks of output lanes with a remainder, dilation's phases of unequal sizes; the input
    gradient's phases as the parts of one call, each with its own form, taps and (for
    dilation sharing factors with the stride) phases of its own, phases with no taps zero; and
    the kernel gradient, per phase term, its output-gradient tiles in place or gathered, its sums
    added per task over whole tiles of input channels and one-row tiles for the rest."""
    monkeypatch.setattr(winograd, "RUN_BYTES", 1)

    @settings(max_examples=50)
    @given(problem=problems("winograd", dense=True))
    def check(problem):
        _forced_equals_shift_add("winograd", problem, dtype)

    check()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("taps", [(3, 3), (2, 2), (3, 2), (1, 3), (2, 1)])
def test_winograd_kernel_transform_equals_g_g_gt_and_zero_past_the_channels(taps, dtype):
    """winograd.kernel_transform, staged through groups of STAGED input channels: every
    (term, channel pair) is G g G^T in float64 up to the dtype's rounding, and the lanes of the
    last block past the (vector-padded) output channels are zero, for channel counts on both
    sides of a group and of the blocks of output lanes."""
    width = simd.dense_lanes(np.dtype(dtype).itemsize, 64)
    lanes = simd.WIDE_BYTES // np.dtype(dtype).itemsize  # FP is in whole wide vectors
    rng = np.random.default_rng(7)
    left, right = winograd._matrices(taps)
    for channels in (1, winograd.STAGED - 1, winograd.STAGED + 1, 4 * winograd.STAGED):
        for padded in (lanes, width, width + lanes, 2 * width):
            stack = rng.standard_normal((2, *taps, channels, padded)).astype(dtype)
            packed = winograd.kernel_transform(stack, width)  # (FB, K, E, C, width)
            got = packed.transpose(1, 2, 3, 0, 4).reshape(2, -1, channels, packed.shape[0] * width)
            want = np.einsum("ia,kabcf,jb->kijcf", left, stack.astype(np.float64), right).reshape(
                2, -1, channels, padded
            )
            np.testing.assert_allclose(
                got[..., :padded], want, rtol=0, atol=8 * np.finfo(dtype).eps * np.abs(want).max()
            )
            assert not got[..., padded:].any()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_direct_dense_kernel_gradient_in_pieces_of_a_row_equals_shift_add(dtype, monkeypatch):
    """dense.kernel_grad with pieces of a few columns (rows too long for L1 on real layers):
    the taps' column ranges clipped to each piece, every column summed once."""
    monkeypatch.setattr(dense, "PIECE_BYTES", 600)

    @settings(max_examples=30)
    @given(problem=problems("direct", dense=True))
    def check(problem):
        geometry, groups, x, kernel, grad = problem
        expected = shift_add.conv_kernel_grad(x, grad, geometry, groups)
        actual = engine.conv_kernel_grad(x.astype(dtype), grad.astype(dtype), geometry, groups, "direct")
        scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
        atol = (1e-11 if dtype == np.float64 else 1e-5) * scale
        np.testing.assert_allclose(actual, expected, rtol=0, atol=atol, err_msg=str(geometry))

    check()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_direct_pixel_tiles_equal_shift_add_on_every_face(dtype):
    """`direct` on groups of few output channels and long stride-1 rows (dense.py
    pixel_forward: tiles of output channels x output columns, the row cache channel-major):
    filter tiles that overlap, the last column tile overlapping, crops, dilation, strides
    along the other axes; the input gradient of such a layer takes the same path."""

    @settings(max_examples=40)
    @given(problem=problems("direct", pixels=True))
    def check(problem):
        _forced_equals_shift_add("direct", problem, dtype)

    check()


@settings(max_examples=100)
@given(problem=problems())
def test_the_input_gradient_by_phases_equals_shift_add(problem):
    """engine.phases: stride^rank stride-1 convolutions, one per input phase (crops, dilations
    that share factors with the stride, phases with no taps)."""
    geometry, groups, _, kernel, grad = problem
    expected = shift_add.conv_input_grad(grad, kernel, geometry, groups)
    _close(phases.conv_input_grad(grad, kernel, geometry, groups, shift_add.conv), expected, str(geometry))


def _leaves(tree):
    out = []
    for item in tree if isinstance(tree, (tuple, list)) else [tree]:
        if isinstance(item, (tuple, list)):
            out.extend(_leaves(item))
        elif item is not None:
            out.append(item)
    return out


@pytest.mark.parametrize("algorithm", FAST)
def test_each_algorithm_preferred_through_the_public_ops_equals_pytorch(algorithm, monkeypatch):
    """Every kind, forward and all gradients, with `algorithm` used wherever it applies."""
    used = []
    for table in (engine._CONV, engine._INPUT_GRAD, engine._KERNEL_GRAD):
        if algorithm in table:
            original = table[algorithm]
            monkeypatch.setitem(table, algorithm, lambda *a, _f=original: used.append(1) or _f(*a))

    @settings(max_examples=40)
    @given(case=winograd_cases() if algorithm == "winograd" else cases(kinds=KINDS))
    def check(case):
        with convzoo.use_algorithm(algorithm):
            out, pullback = convzoo.vjp(case.op, *case.arrays, **case.options)
            cotangent = np.random.default_rng(0).standard_normal(out.shape)
            grads = pullback(cotangent)
        torch_out, torch_grads = torch_oracle.run(case, cotangent)
        _close(out, torch_out, f"{algorithm}: output of {case!r}")
        for grad, expected in zip(_leaves(grads), _leaves(torch_grads)):
            _close(grad, expected, f"{algorithm}: gradient of {case!r}")

    check()
    assert used, f"{algorithm} never ran"


@settings(max_examples=200)
@given(problem=problems())
def test_the_automatic_choice_applies_to_every_face(problem):
    geometry, groups, x, kernel, grad = problem
    face_problem = select.Problem(geometry, groups, x.shape[-1], kernel.shape[-1])
    for face in select.FACES:
        name = engine.chosen(face, face_problem, operands=(x, kernel))
        assert name in select.ALGORITHMS
        if face == "input_grad" and all(s == 1 for s in geometry.strides):
            assert select.why_not(name, "conv", select.as_conv_problem(face_problem)) is None
        else:
            assert select.why_not(name, face, face_problem) is None, (face, name)


@pytest.mark.parametrize("poison", [np.nan, np.inf, -np.inf])
def test_a_non_finite_operand_sends_the_call_to_gemm(poison):
    geometry = ConvGeometry((12, 12), (3, 3), (1, 1), (1, 1), ((1, 1), (1, 1)))
    face_problem = select.Problem(geometry, 1, 16, 16, batch=8)
    x, kernel = np.ones((8, 12, 12, 16)), np.ones((3, 3, 16, 16))
    assert engine.chosen("conv", face_problem, operands=(x, kernel)) == "winograd"
    kernel[1, 1, 0, 0] = poison
    assert engine.chosen("conv", face_problem, operands=(x, kernel)) == "gemm"


def test_winograd_checked_after_the_call_gives_the_direct_sums_nan_and_inf():
    """Winograd's results are checked instead of its big operands (engine._checked): a NaN or an
    Inf in x or in the output gradient must still give gemm's results, NaN and Inf included,
    on every face; finite operands stay in winograd."""

    @settings(max_examples=40)
    @given(problem=problems("winograd", dense=True), data=st.data())
    def check(problem, data):
        geometry, groups, x, kernel, grad = problem
        poison = data.draw(st.sampled_from([np.nan, np.inf, -np.inf]))
        x, grad = x.copy(), grad.copy()
        if data.draw(st.booleans()):
            x.flat[data.draw(st.integers(0, x.size - 1))] = poison
        if data.draw(st.booleans()):
            grad.flat[data.draw(st.integers(0, grad.size - 1))] = poison
        faces = [
            (lambda a: engine.conv(x, kernel, geometry, groups, a)),
            (lambda a: engine.conv_input_grad(grad, kernel, geometry, groups, a)),
            (lambda a: engine.conv_kernel_grad(x, grad, geometry, groups, a)),
        ]
        with convzoo.use_algorithm("winograd"):
            results = [run(None) for run in faces]
        for face, result in zip(faces, results):
            np.testing.assert_allclose(result, face("gemm"), rtol=1e-9, atol=1e-9)

    check()


@pytest.mark.parametrize("family", ["depthwise", "dense"])
def test_direct_keeps_nan_and_inf_where_only_its_first_operand_holds_them(family):
    """`direct` skips padded zeros, which only ever multiply its second operand (the kernel, or
    the output-gradient entries whose window reaches the padding): with those finite it stays
    chosen, and its NaN and Inf land where gemm's direct sums put them."""

    @settings(max_examples=40)
    @given(problem=problems("direct", **{family: True}), data=st.data())
    def check(problem, data):
        _nan_and_inf_as_gemm(problem, data)

    check()


def _nan_and_inf_as_gemm(problem, data):
    geometry, groups, x, kernel, grad = problem
    poison = data.draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    x, grad = x.copy(), grad.copy()
    x.flat[data.draw(st.integers(0, x.size - 1))] = poison
    grad.flat[data.draw(st.integers(0, grad.size - 1))] = poison
    face_problem = select.Problem(geometry, groups, x.shape[-1], kernel.shape[-1])
    for face, operands, run in [
        ("conv", (x, kernel), lambda a: engine.conv(x, kernel, geometry, groups, a)),
        ("input_grad", (grad, kernel), lambda a: engine.conv_input_grad(grad, kernel, geometry, groups, a)),
    ]:
        if engine.chosen(face, face_problem) == "direct":
            assert engine.chosen(face, face_problem, operands=operands) == "direct"
            np.testing.assert_allclose(run(None), run("gemm"), rtol=1e-9, atol=1e-9, err_msg=face)
    assert engine.chosen("conv", face_problem, operands=(x, np.full_like(kernel, poison))) == "gemm"
    if engine.chosen("kernel_grad", face_problem) != "direct":  # dense, or one channel: gemm
        return
    x_only = (x, np.ones_like(grad))
    assert engine.chosen("kernel_grad", face_problem, operands=x_only) == "direct"
    np.testing.assert_allclose(
        engine.conv_kernel_grad(*x_only, geometry, groups),
        engine.conv_kernel_grad(*x_only, geometry, groups, "gemm"),
        rtol=1e-9,
        atol=1e-9,
    )
    # a poisoned output gradient matters only where its window reaches the padding
    at = np.unravel_index(np.flatnonzero(~np.isfinite(grad))[0], grad.shape)[1:-1]
    reaches_padding = not all(lo <= o < hi for o, (lo, hi) in zip(at, geometry.interior))
    if reaches_padding:
        assert engine.chosen("kernel_grad", face_problem, operands=(x, grad)) == "gemm"
    else:
        assert engine.chosen("kernel_grad", face_problem, operands=(x, grad)) == "direct"
        np.testing.assert_allclose(
            engine.conv_kernel_grad(x, grad, geometry, groups),
            engine.conv_kernel_grad(x, grad, geometry, groups, "gemm"),
            rtol=1e-9,
            atol=1e-9,
        )


def test_the_choice_follows_the_shapes():
    """The rules of engine.select, one configuration each (docs/performance.md measures them)."""

    def pick(face, rank_sizes, kernel, strides=None, groups=1, c_in=64, c_out=64, batch=8):
        rank = len(rank_sizes)
        geometry = ConvGeometry(rank_sizes, kernel, strides or (1,) * rank, (1,) * rank, ((1, 1),) * rank)
        return engine.chosen(face, select.Problem(geometry, groups, c_in, c_out, batch))

    big_kernel = "direct" if select.WIDE_HOST else "fft"
    assert pick("conv", (56, 56), (3, 3)) == "winograd"
    assert pick("input_grad", (56, 56), (3, 3)) == "winograd"  # as the flipped-kernel convolution
    assert pick("conv", (16, 32, 32), (3, 3, 3), c_in=32, c_out=32, batch=2) == "winograd"  # over 3x3 planes
    assert pick("conv", (56, 56), (3, 1)) == "winograd"  # F(4, 3) along rows, from 64 channels
    assert pick("kernel_grad", (4096,), (3,)) == "winograd"
    assert pick("conv", (56, 56), (1, 3), c_in=32, c_out=32) == "direct"  # ... not from 32
    assert pick("conv", (28, 28), (3, 3), batch=1) == "direct"  # Winograd does not pay: 784 outputs
    assert pick("conv", (56, 56), (3, 3), c_in=3, c_out=32) == "direct"  # ... nor 3 input channels
    assert pick("input_grad", (56, 56), (3, 3), c_in=3, c_out=32) == "direct"  # ... nor 3 output channels
    assert pick("kernel_grad", (56, 56), (3, 3)) == "winograd"
    assert pick("kernel_grad", (56, 56), (3, 3), c_in=8) == ("direct" if select.WIDE_HOST else "gemm")
    assert pick("conv", (56, 56), (3, 3), groups=32, c_in=32, c_out=32) == "direct"  # depthwise
    assert pick("conv", (28, 28), (3, 3), groups=32, c_in=256, c_out=256) == "direct"  # 8 channels per group
    assert pick("conv", (64, 64), (11, 11), c_in=16, c_out=16) == big_kernel
    assert pick("kernel_grad", (64, 64), (11, 11), c_in=16, c_out=16) == big_kernel
    assert pick("conv", (56, 56), (3, 3), strides=(2, 2)) == "direct"
    assert pick("input_grad", (56, 56), (3, 3), strides=(2, 2)) == ("direct" if select.WIDE_HOST else "gemm")
    assert pick("input_grad", (32, 32), (4, 4), strides=(2, 2)) == "winograd"  # its phases are 2x2: 2.56x
    assert pick("conv", (32, 32), (4, 4), strides=(2, 2)) != "winograd"  # its phase terms lost
    assert pick("conv", (56, 56), (2, 2)) == "winograd"  # F(4x4, 2x2)
    assert pick("conv", (56, 56), (2, 1)) != "winograd"  # F(4, 2) along one axis saves 1.6x
    assert pick("conv", (28, 28), (1, 1), c_in=256, c_out=128) == "gemm"  # one matrix product
    assert pick("kernel_grad", (28, 28), (1, 1), c_in=256, c_out=128) == "gemm"
    thin_pointwise = "direct" if select.WIDE_HOST else "gemm"  # 64 channels on one side, long rows
    for face in select.FACES:
        assert pick(face, (56, 56), (1, 1), c_in=64, c_out=128) == thin_pointwise, face
        assert pick(face, (14, 14), (1, 1), c_in=64, c_out=128) == "gemm", face
    assert pick("conv", (28, 28), (3, 3), groups=2, c_in=256, c_out=256) == "gemm"  # 128 x 128 per group
    assert pick("conv", (9, 9, 9, 9), (3, 3, 3, 3), groups=4, c_in=4, c_out=4) == "gemm"  # rank 4


def test_forcing_an_algorithm_that_cannot_compute_the_call_names_the_reason():
    geometry = ConvGeometry((9, 9), (5, 5), (1, 1), (1, 1), ((0, 0), (0, 0)))
    x, kernel = np.ones((1, 9, 9, 2)), np.ones((5, 5, 2, 2))
    with pytest.raises(convzoo.ConvZooError, match=r"algorithm='winograd' cannot compute this call: .*3x3"):
        engine.conv(x, kernel, geometry, 1, "winograd")
    with pytest.raises(convzoo.ConvZooError, match=r"algorithm must be one of .*Received: algorithm='fast'"):
        with convzoo.use_algorithm("fast"):
            pass


def _relative_error(algorithm, x, kernel, geometry):
    exact = shift_add.conv(x.astype(np.float64), kernel.astype(np.float64), geometry, 1)
    approx = engine.conv(x, kernel, geometry, 1, algorithm)
    assert approx.dtype == np.float32
    return float(np.max(np.abs(approx - exact)) / np.max(np.abs(exact)))


@pytest.mark.parametrize(
    ("algorithm", "kernel_size", "bound"),
    # bounds: about 4x the largest error seen over 20 seeds (docs/performance.md, "Accuracy")
    [
        ("gemm", 3, 4e-6),
        ("direct", 3, 4e-6),
        ("winograd", 3, 3e-5),
        ("winograd", 2, 1.4e-5),
        ("fft", 3, 1.2e-6),
        ("fft", 11, 1.2e-6),
    ],
)
def test_float32_error_against_float64(algorithm, kernel_size, bound):
    rng = np.random.default_rng(7)
    geometry = ConvGeometry((40, 40), (kernel_size,) * 2, (1, 1), (1, 1), ((kernel_size // 2,) * 2,) * 2)
    x = rng.standard_normal((2, 40, 40, 32)).astype(np.float32)
    kernel = (rng.standard_normal((kernel_size, kernel_size, 32, 32)) / math.sqrt(32 * kernel_size**2)).astype(
        np.float32
    )
    assert _relative_error(algorithm, x, kernel, geometry) < bound


@pytest.mark.parametrize(("algorithm", "bound"), [("gemm", 2.3e-6), ("direct", 1.2e-6), ("winograd", 1.7e-5)])
def test_float32_kernel_gradient_error_against_float64(algorithm, bound):
    """Bounds: about 4x the largest error seen over 20 seeds (docs/performance.md, "Accuracy")."""
    rng = np.random.default_rng(7)
    geometry = ConvGeometry((40, 40), (3, 3), (1, 1), (1, 1), ((1, 1), (1, 1)))
    x, grad = (rng.standard_normal((2, 40, 40, 32)).astype(np.float32) for _ in range(2))
    exact = shift_add.conv_kernel_grad(x.astype(np.float64), grad.astype(np.float64), geometry, 1)
    approx = engine.conv_kernel_grad(x, grad, geometry, 1, algorithm)
    assert approx.dtype == np.float32
    assert float(np.max(np.abs(approx - exact)) / np.max(np.abs(exact))) < bound


@pytest.mark.parametrize(("algorithm", "bound"), [("direct", 2.3e-6), ("winograd", 1.3e-5)])
def test_float32_strided_input_gradient_error_against_float64(algorithm, bound):
    """A 4x4 stride-2 layer's input gradient (a transpose convolution's forward), whose phases
    Winograd computes in F(4x4, 2x2). Bounds: about 4x the largest error seen over 20 seeds."""
    rng = np.random.default_rng(7)
    geometry = ConvGeometry((40, 40), (4, 4), (2, 2), (1, 1), ((1, 1), (1, 1)))
    grad = rng.standard_normal((2, *geometry.out_sizes, 32)).astype(np.float32)
    kernel = (rng.standard_normal((4, 4, 32, 32)) / math.sqrt(32 * 16)).astype(np.float32)
    exact = shift_add.conv_input_grad(grad.astype(np.float64), kernel.astype(np.float64), geometry, 1)
    approx = engine.conv_input_grad(grad, kernel, geometry, 1, algorithm)
    assert approx.dtype == np.float32
    assert float(np.max(np.abs(approx - exact)) / np.max(np.abs(exact))) < bound
