"""The benchmark report of docs/performance.md: convzoo against PyTorch, case by case, same run.

    python benchmarks/report.py                      every case, 2 interleaved rounds, markdown out
    python benchmarks/report.py --cases std3x3,depthwise --rounds 3
    python benchmarks/report.py --write docs/performance.md   replace the results block there

Method (../shared/research/perf-anchors.md explains both pitfalls it avoids):
- every (case, peer, mode) is timed in its own process, so NumPy's BLAS threads, numba's and
  PyTorch's never spin against one another; each worker first frees a 31 MiB block so that
  glibc serves the call's large arrays from the heap, not from fresh page-faulted mmaps;
- peers interleave: for each round, for each mode, convzoo then PyTorch NCHW then PyTorch
  channels_last; a time is the median of >= 5 calls after 2 warm-up calls, and a peer's
  figure the best median over the rounds; PyTorch counts as its faster layout, on 2 threads;
- an SGEMM (2048^3 float32, NumPy, 2 threads) is timed before each case and a copy bandwidth
  once per run, so every figure can be read against what the machine gave at that moment;
- convzoo's workers also report peak temporary memory (tracemalloc, which sees NumPy's
  allocations) and the first call after `import convzoo` (numba cache warm after round 1).
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
MARK_BEGIN, MARK_END = "<!-- results: begin -->", "<!-- results: end -->"


def _warm_malloc():
    block = bytearray(31 << 20)  # freeing one large block lifts glibc's mmap threshold
    del block


def _median_time(call, min_time: float = 0.5, min_reps: int = 5) -> tuple[float, int]:
    call()
    call()
    times, start = [], time.perf_counter()
    while len(times) < min_reps or time.perf_counter() - start < min_time:
        t = time.perf_counter()
        call()
        times.append(time.perf_counter() - t)
        if len(times) >= 50:
            break
    times.sort()
    return times[len(times) // 2], len(times)


def worker(case: str, peer: str, mode: str) -> dict:
    _warm_malloc()
    if peer == "sgemm":
        import numpy as np

        a = np.random.default_rng(0).standard_normal((2048, 2048), dtype=np.float32)
        seconds, _ = _median_time(lambda: a @ a, 0.5)
        return {"gflops": 2 * 2048**3 / seconds / 1e9}
    if peer == "copy":
        import numpy as np

        a, b = np.ones(64 << 20, np.float32), np.empty(64 << 20, np.float32)
        seconds, _ = _median_time(lambda: np.copyto(b, a), 0.5)
        return {"gb_per_s": 2 * a.nbytes / seconds / 1e9}
    sys.path.insert(0, str(HERE))
    if peer == "convzoo":
        start = time.perf_counter()
        import convzoo  # noqa: F401

        import_s = time.perf_counter() - start
        import bench_cases as cases

        spec = cases.SPECS[case]
        values = cases.arrays(spec)
        call = cases.convzoo_calls(spec, values)[mode]
        start = time.perf_counter()
        result = call()
        first_s = time.perf_counter() - start
        import tracemalloc

        tracemalloc.start()
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        call()
        peak = tracemalloc.get_traced_memory()[1] - base
        tracemalloc.stop()
        seconds, reps = _median_time(call)
        out = result[0] if isinstance(result, tuple) else result
        return {
            "seconds": seconds,
            "reps": reps,
            "import_s": import_s,
            "first_s": first_s,
            "peak_bytes": peak,
            "in_bytes": values[0].nbytes,
            "out_bytes": out.nbytes,
        }
    import torch

    torch.set_num_threads(2)
    import bench_cases as cases

    spec = cases.SPECS[case]
    call = cases.torch_calls(spec, cases.arrays(spec), peer.removeprefix("torch-"))[mode]
    seconds, reps = _median_time(call)
    return {"seconds": seconds, "reps": reps}


def _run_worker(case: str, peer: str, mode: str) -> dict:
    command = [sys.executable, __file__, "--worker", case, peer, mode]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"worker {case} {peer} {mode} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _fmt_ms(seconds: float) -> str:
    ms = seconds * 1e3
    return f"{ms:.2f}" if ms < 10 else f"{ms:.1f}"


def measure(names: list[str], rounds: int, log) -> dict:
    sys.path.insert(0, str(HERE))
    import bench_cases as cases

    results = {"copy_gb_per_s": _run_worker("-", "copy", "-")["gb_per_s"], "cases": {}}
    for name in names:
        spec = cases.SPECS[name]
        peers = ["convzoo", *(f"torch-{layout}" for layout in cases.torch_layouts(spec))]
        entry = {"sgemm_gflops": _run_worker(name, "sgemm", "-")["gflops"], "flops": cases.flops(spec), "modes": {}}
        for mode in ("forward", "forward_backward"):
            entry["modes"][mode] = {peer: [] for peer in peers}
        for _ in range(rounds):
            for mode in ("forward", "forward_backward"):
                for peer in peers:
                    entry["modes"][mode][peer].append(_run_worker(name, peer, mode))
        results["cases"][name] = entry
        log(f"{name}: done")
    return results


def table(results: dict) -> str:
    rows = [
        "| case | mode | convzoo ms | GFLOP/s | % SGEMM | PyTorch ms (layout) | PyTorch / convzoo | "
        "peak temp MiB (bound) | first call s |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    ratios = {"forward": [], "forward_backward": []}
    for name, entry in results["cases"].items():
        for mode, peers in entry["modes"].items():
            ours = min(peers["convzoo"], key=lambda r: r["seconds"])
            torch_best = min(
                ((peer, r) for peer, runs in peers.items() if peer != "convzoo" for r in runs),
                key=lambda pr: pr[1]["seconds"],
            )
            flops = entry["flops"] * (3 if mode == "forward_backward" else 1)
            gflops = flops / ours["seconds"] / 1e9
            ratio = torch_best[1]["seconds"] / ours["seconds"]
            ratios[mode].append(ratio)
            peak = max(r["peak_bytes"] for r in peers["convzoo"]) / 2**20
            bound = (4 * ours["out_bytes"] + ours["in_bytes"]) / 2**20
            first = peers["convzoo"][-1]["first_s"] + peers["convzoo"][-1]["import_s"]
            rows.append(
                f"| {name} | {'fwd' if mode == 'forward' else 'fwd+bwd'} | {_fmt_ms(ours['seconds'])} | {gflops:.1f} | "
                f"{100 * gflops / entry['sgemm_gflops']:.0f}% | {_fmt_ms(torch_best[1]['seconds'])} "
                f"({torch_best[0].removeprefix('torch-')}) | **{ratio:.2f}** | {peak:.1f} ({bound:.1f}) | {first:.2f} |"
            )
    geo = {mode: math.exp(sum(map(math.log, r)) / len(r)) for mode, r in ratios.items() if r}
    summary = (
        f"Geometric mean of PyTorch time / convzoo time: forward **{geo.get('forward', float('nan')):.2f}**, "
        f"forward+backward **{geo.get('forward_backward', float('nan')):.2f}** "
        f"({sum(r >= 1 for rs in ratios.values() for r in rs)} of {sum(map(len, ratios.values()))} rows >= 1)."
    )
    probes = ", ".join(f"{name} {entry['sgemm_gflops']:.0f}" for name, entry in results["cases"].items())
    return "\n".join(
        [
            "\n".join(rows),
            "",
            summary,
            "",
            f"SGEMM probe before each case (GFLOP/s): {probes}. Copy bandwidth: {results['copy_gb_per_s']:.1f} GB/s.",
        ]
    )


def header() -> str:
    import numba
    import numpy
    import torch

    return (
        f"Run {datetime.date.today().isoformat()} on {platform.machine()}, {os.cpu_count()} cores "
        f"({platform.processor() or platform.platform()}); numpy {numpy.__version__}, numba {numba.__version__}, "
        f"torch {torch.__version__} (2 threads)."
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", nargs=3, metavar=("CASE", "PEER", "MODE"), help=argparse.SUPPRESS)
    parser.add_argument("--cases", help="comma-separated case names (default: all)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", type=Path, help="also save the raw measurements here")
    parser.add_argument("--write", type=Path, help="replace the results block of this markdown file")
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(*args.worker)))
        return 0
    sys.path.insert(0, str(HERE))
    import bench_cases as cases

    names = args.cases.split(",") if args.cases else list(cases.SPECS)
    results = measure(names, args.rounds, lambda line: print(line, file=sys.stderr))
    text = f"{header()}\n\n{table(results)}"
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    if args.write:
        document = args.write.read_text()
        begin, end = document.index(MARK_BEGIN) + len(MARK_BEGIN), document.index(MARK_END)
        args.write.write_text(document[:begin] + "\n" + text + "\n" + document[end:])
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
