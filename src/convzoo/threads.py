"""How many threads convzoo's engine uses: numba's parallel loops and the BLAS under NumPy.

By default both use every core. `num_threads(n)` limits both for a block of code; for a whole
process, set the environment variables NUMBA_NUM_THREADS and OMP_NUM_THREADS (or
OPENBLAS_NUM_THREADS) before Python starts.
"""

from __future__ import annotations

import contextlib

import numba
from threadpoolctl import threadpool_limits

from .errors import ConvZooError
from .spec import as_int


@contextlib.contextmanager
def num_threads(n: int):
    """Run the engine on `n` threads (1 to the number numba started with) inside the block.

    >>> import numpy as np, convzoo
    >>> with convzoo.num_threads(1):
    ...     convzoo.depthwise_conv(np.ones((1, 8, 8, 4)), np.ones((3, 3, 4, 1))).shape
    (1, 6, 6, 4)
    """
    n = as_int(n, "n")
    most = numba.config.NUMBA_NUM_THREADS
    if not 1 <= n <= most:
        raise ConvZooError(f"n must be between 1 and {most} (the threads numba started with). Received: n={n}.")
    previous = numba.get_num_threads()
    numba.set_num_threads(n)
    try:
        with threadpool_limits(limits=n):
            yield
    finally:
        numba.set_num_threads(previous)
