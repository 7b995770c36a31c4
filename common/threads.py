"""BLAS thread control.

Every CLI's ``--threads N`` (default 2, at most the machine's cores) sets N BLAS threads and N
worker threads for the chunk-parallel parts (``common.parallel``). On the 2-core machine of the
benchmarks, 2 threads made every headline run faster than 1 (each paper's ``bench.py`` measures
1 vs 2 threads; ``python -m common.bench`` times one matmul: 0.6x the 1-thread time with the
OpenBLAS bundled with NumPy 2.4, where an older build was 60x slower with 2).

Exactness: OpenBLAS sums some matmuls in a different order with 2 threads than with 1, so a
training run reproduces bit for bit only with the same --threads (the seed sweeps use 1 thread
per process; their commands are in each run.json). Inference does not depend on N.
"""

from __future__ import annotations

import os

from threadpoolctl import threadpool_info, threadpool_limits

__all__ = ["DEFAULT_THREADS", "set_blas_threads", "blas_info", "blas_threads", "keep_freed_memory"]

DEFAULT_THREADS = min(2, os.cpu_count() or 1)
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


def keep_freed_memory() -> bool:
    """Ask glibc's malloc to keep freed memory for reuse instead of handing it back to the system.

    A training update allocates and frees tens of MB of arrays (BPTT caches); by default glibc
    serves the big ones with mmap and unmaps them on free, so every update page-faults them in
    again. Keeping them (no trimming, the mmap threshold at its 32 MB maximum, a 64 MB top pad)
    made the RNN-EM update 20-30 % faster, measured interleaved (136 -> 110 ms); what is computed
    does not change. Returns False where this is not glibc (nothing done).
    """
    import ctypes
    import sys
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3
    return bool(libc.mallopt(M_TRIM_THRESHOLD, 1 << 30) and libc.mallopt(M_MMAP_THRESHOLD, 32 << 20)
                and libc.mallopt(M_TOP_PAD, 64 << 20))


def blas_threads(n: int):
    """Context manager limiting BLAS to ``n`` threads inside a ``with`` block (benchmarks)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"number of BLAS threads must be an integer >= 1, got {n!r}")
    return threadpool_limits(limits=n, user_api="blas")


def blas_info() -> list[dict]:
    """The loaded BLAS libraries: [{'internal_api', 'version', 'num_threads', 'filepath', ...}]."""
    import numpy  # noqa: F401
    return [dict(d) for d in threadpool_info() if d.get("user_api") == "blas"]
