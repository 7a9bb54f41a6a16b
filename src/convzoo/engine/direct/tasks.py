"""How a parallel call shares its jobs between its tasks: runs claimed from a counter, and the
calling thread the last to leave.

convzoo's threads sleep between calls (OMP_WAIT_POLICY=PASSIVE, convzoo/__init__.py: spinning
ones slow the BLAS product that follows a numba call). On this 2-core VM a sleeping thread takes
25-40 us to start (a halted vCPU), and numba's OpenMP region ends at a barrier where the calling
thread sleeps too, if it arrives first, and is woken as late again. With one fixed range of
jobs per task, it nearly always arrives first: the other task started late. Measured with
timestamps (a 150 us loop split in two): the calling thread started 13 us into the call, the
other 23 us after it, and the call returned 36 us after the last task ended.

So a call's jobs go in runs (`runs`: a few per task), each task claims the next run from a
shared counter (an atomic add) until none is left, and counts each run done; task 0, which the
calling thread runs, then waits in a short spin until every run is done, so it reaches the
barrier last and never sleeps there. A task that starts late finds fewer runs left instead of
holding up the call. Any schedule is safe: a claimed run is being computed by a running task.
Measured on the same loop, 0.6 ms of work: 387 -> 340 us (the ideal 318).

Where it is used: the depthwise window kernels (depthwise.window_forward, window_kernel_grad),
whose rows are independent and read in place: the depthwise case's forward 0.68-0.70 -> 0.63-0.65
ms, fwd+bwd 2.34 -> 2.25-2.33 (each in its own process, alternating with the code before).
Tried in every parallel kernel and not kept there: with 8 runs per task, transpose's forward
(Winograd, 37 jobs of 32 us) rose 1.96 -> 2.12 ms, the calling thread waiting out the other's
last run; with 32, the kernels with a row cache lost more than they gained (grouped's forward
1.31 -> 1.38 ms: runs of 3-4 rows refetch most of their rows).

    runs, state = tasks.runs_of(jobs, chunks), tasks.new_state()  # before the prange
    for task in numba.prange(chunks):
        claimed = tasks.claim(state)
        while claimed < runs:
            from_job, to_job = tasks.jobs_of(claimed, runs, jobs)
            for job in range(from_job, to_job):
                ...
            tasks.done(state)
            claimed = tasks.claim(state)
        tasks.leave(state, task, runs)
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from .loops import JIT

RUNS_PER_TASK = 8  # enough for a late task to find work, few enough that claims cost nothing


def _pointer(context, builder, array_type, array, index):
    data = cgutils.create_struct_proxy(array_type)(context, builder, value=array).data
    return builder.gep(data, [index])


@intrinsic
def _fetch_add(typingctx, array, index, value):
    # array[index] += value atomically (sequentially consistent); the value before
    def codegen(context, builder, sig, args):
        return builder.atomic_rmw("add", _pointer(context, builder, sig.args[0], args[0], args[1]), args[2], "seq_cst")

    return types.int64(array, index, value), codegen


@intrinsic
def _load_acquire(typingctx, array, index):
    # array[index], read from memory every time (an acquire load: later reads see what the
    # writer wrote before its release)
    def codegen(context, builder, sig, args):
        return builder.load_atomic(_pointer(context, builder, sig.args[0], args[0], args[1]), "acquire", 8)

    return types.int64(array, index), codegen


@intrinsic
def _pause(typingctx):
    # x86's spin-wait hint (PAUSE): frees the core's resources while spinning
    def codegen(context, builder, sig, args):
        function = builder.module.declare_intrinsic("llvm.x86.sse2.pause", fnty=ir.FunctionType(ir.VoidType(), []))
        builder.call(function, [])
        return context.get_dummy_value()

    return types.void(), codegen


@numba.njit(inline="always", **JIT)
def runs_of(jobs, tasks):
    # runs a call of `jobs` jobs goes in: RUNS_PER_TASK per task, at most one per job
    return min(jobs, RUNS_PER_TASK * tasks)


@numba.njit(inline="always", **JIT)
def new_state():
    # [next run to claim, runs done], zero. Not np.zeros: in a parallel function that is a
    # parallel loop of its own (one more wake-up)
    state = np.empty(2, np.int64)
    state[0] = 0
    state[1] = 0
    return state


@numba.njit(inline="always", **JIT)
def claim(state):
    # the next run nobody has claimed (>= runs when none is left)
    return _fetch_add(state, 0, 1)


@numba.njit(inline="always", **JIT)
def jobs_of(run, runs, jobs):
    # (first, stop) of run `run` of `runs` over `jobs` jobs
    return run * jobs // runs, (run + 1) * jobs // runs


@numba.njit(inline="always", **JIT)
def done(state):
    # one more run computed: after its writes (the add releases them)
    _fetch_add(state, 1, 1)


@numba.njit(inline="always", **JIT)
def leave(state, task, runs):
    # after a task's last claim: task 0 (the calling thread's) waits until every run is done
    if task == 0:
        while _load_acquire(state, 1) < runs:
            _pause()
