"""pytest-benchmark: every case of cases.md, forward and forward + backward, convzoo and PyTorch.

    pytest benchmarks --benchmark-only            time them (pytest-benchmark's table)
    pytest benchmarks --benchmark-disable         run each once and check it (what CI does)
    python benchmarks/report.py                   the interleaved, one-process-per-peer report
                                                  of docs/performance.md (ratios, GFLOP/s, memory)

Each run also checks that convzoo and PyTorch agree, so a benchmark cannot time a wrong answer.
"""

from __future__ import annotations

import numpy as np
import pytest
from bench_cases import SPECS, arrays, convzoo_calls, torch_calls, torch_layouts

torch = pytest.importorskip("torch")
MODES = ("forward", "forward_backward")


def _first(result):
    return result[0] if isinstance(result, tuple) else result


@pytest.fixture(scope="module", autouse=True)
def _two_threads():
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(previous)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", list(SPECS))
def test_convzoo(benchmark, name, mode):
    spec = SPECS[name]
    values = arrays(spec)
    result = benchmark(convzoo_calls(spec, values)[mode])
    expected = torch_calls(spec, values, "nchw")[mode]()
    out = np.asarray(_first(result))
    reference = np.moveaxis(_first(expected).detach().numpy(), 1, -1)
    np.testing.assert_allclose(out, reference, rtol=0, atol=1e-4 * max(1.0, np.abs(reference).max()))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", list(SPECS))
def test_pytorch(benchmark, name, mode):
    spec = SPECS[name]
    values = arrays(spec)
    calls = {layout: torch_calls(spec, values, layout)[mode] for layout in torch_layouts(spec)}
    layout = "channels_last" if "channels_last" in calls else "nchw"
    benchmark.extra_info["layout"] = layout
    benchmark(calls[layout])
