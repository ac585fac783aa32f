"""NumPy's BLAS thread count, set for a block: one controller of the loaded BLAS libraries (threadpoolctl's),
made once, because building it scans every loaded library (milliseconds: more than a small fit costs).

Why a metric limits threads: on the 2-core machines this project measures on, OpenBLAS with two threads
makes small products and eigendecompositions several times slower than one thread (each call waits at a
barrier; on shared cores a descheduled thread turns it into a time slice), while independent pieces of work
(cross-validation folds) split perfectly over cores."""
from __future__ import annotations

from contextlib import contextmanager

_CONTROLLER = None  # None: not made yet; False: threadpoolctl unavailable


def controller():
    """threadpoolctl's controller of the loaded BLAS libraries (made on first use), or False without one."""
    global _CONTROLLER
    if _CONTROLLER is None:
        try:
            from threadpoolctl import ThreadpoolController

            _CONTROLLER = ThreadpoolController().select(user_api="blas")
        except Exception:  # noqa: BLE001 - threadpoolctl missing or failing: the BLAS keeps its threads
            _CONTROLLER = False
    return _CONTROLLER


@contextmanager
def blas_threads(n: int):
    """Run the block with NumPy's BLAS on ``n`` threads (nothing changes when it already has ``n``, or when the
    threads cannot be controlled)."""
    blas = controller()
    if not blas or all(lib.num_threads == n for lib in blas.lib_controllers):
        yield
        return
    with blas.limit(limits=n):
        yield
