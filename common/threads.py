"""BLAS thread control.

On the 2-core machines this project targets, OpenBLAS with its default 2 threads was measured
about 60x slower than 1 thread on a (64x2500)x(2500x256) float32 matmul (thread hand-off
dominates a matmul that small). Every CLI therefore calls ``set_blas_threads`` with a default of
1 and exposes ``--threads N``. ``python -m common.bench`` shows the measurement on your machine.
"""

from __future__ import annotations

from threadpoolctl import threadpool_info, threadpool_limits

__all__ = ["DEFAULT_THREADS", "set_blas_threads", "blas_info", "blas_threads"]

DEFAULT_THREADS = 1
_LIMITER = None  # keeps the process-wide limit alive


def set_blas_threads(n: int = DEFAULT_THREADS) -> list[dict]:
    """Limit every loaded BLAS library to ``n`` threads for the rest of the process.

    Returns the BLAS libraries found (threadpoolctl's records) after the change.
    """
    global _LIMITER
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"number of BLAS threads must be an integer >= 1, got {n!r}")
    import numpy  # noqa: F401  (BLAS must be loaded before threadpoolctl can see it)
    _LIMITER = threadpool_limits(limits=n, user_api="blas")
    return blas_info()


def blas_threads(n: int):
    """Context manager limiting BLAS to ``n`` threads inside a ``with`` block (benchmarks)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"number of BLAS threads must be an integer >= 1, got {n!r}")
    return threadpool_limits(limits=n, user_api="blas")


def blas_info() -> list[dict]:
    """The loaded BLAS libraries: [{'internal_api', 'version', 'num_threads', 'filepath', ...}]."""
    import numpy  # noqa: F401
    return [dict(d) for d in threadpool_info() if d.get("user_api") == "blas"]
