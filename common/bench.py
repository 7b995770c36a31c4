"""Why the CLIs default to one BLAS thread: ``python -m common.bench``.

Prints the time of a (64x2500)x(2500x256) float32 matmul (the size of an AIR / N-EM layer on a
batch) with 1 and with 2 BLAS threads, and the single-thread float32 GEMM GFLOP/s that the paper
benchmarks use as their roofline.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from typing import Callable

import numpy as np

from common.threads import blas_info, blas_threads

__all__ = ["time_matmul", "gemm_gflops", "time_grouping_score", "median_seconds", "roofline_report"]


def time_matmul(m: int, k: int, n: int, *, threads: int = 1, repeats: int = 20,
                dtype=np.float32, seed: int = 0) -> float:
    """Median wall time (s) of an (m x k) @ (k x n) matmul with ``threads`` BLAS threads."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((k, n)).astype(dtype)
    times = []
    with blas_threads(threads):
        a @ b  # warm-up: first call pays thread start-up and page faults
        for _ in range(repeats):
            t0 = time.perf_counter()
            a @ b
            times.append(time.perf_counter() - t0)
    return float(np.median(times))


def gemm_gflops(n: int = 1024, *, threads: int = 1, repeats: int = 5) -> float:
    """Achieved float32 GFLOP/s of an n x n x n GEMM (2 n^3 flops) with ``threads`` threads."""
    return 2.0 * n ** 3 / time_matmul(n, n, n, threads=threads, repeats=repeats) / 1e9


def median_seconds(step: Callable[[int], object], repeats: int, warmup: int = 2) -> float:
    """Median wall time of step(i) over ``repeats`` calls, after ``warmup`` untimed calls (the
    first updates pay for page faults and thread start-up)."""
    times = []
    for i in range(repeats + warmup):
        t0 = time.perf_counter()
        step(i)
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return float(np.median(times))


def roofline_report(flops_per_update: float, seconds: float) -> str:
    """Achieved matmul GFLOP/s of a training update as a fraction of the single-thread float32
    GEMM measured now, plus the process's peak resident memory, as printable lines."""
    gemm = gemm_gflops(1024, threads=1)
    achieved = flops_per_update / seconds / 1e9
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return (f"achieved {achieved:.1f} GFLOP/s of matmul work ({flops_per_update / 1e9:.2f} GFLOP/update); "
            f"single-thread float32 GEMM {gemm:.1f} GFLOP/s -> {achieved / gemm:.0%} of roofline\n"
            f"peak resident memory {peak_mb:.0f} MB")


def time_grouping_score(n_images: int = 1000, n_pixels: int = 150, seed: int = 0) -> float:
    """Wall time (s) of ``grouping_score`` on n_images random 3-object labelings vs 4 slots."""
    from common.metrics import grouping_score
    rng = np.random.default_rng(seed)
    true = rng.integers(1, 4, size=(n_images, n_pixels))
    pred = np.where(rng.random((n_images, n_pixels)) < 0.8, true, rng.integers(0, 4, (n_images, n_pixels)))
    t0 = time.perf_counter()
    grouping_score(true, pred)
    return time.perf_counter() - t0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m common.bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=20, help="timed repetitions (median reported)")
    args = p.parse_args(argv)
    if args.repeats < 1:
        p.error("--repeats must be >= 1")
    libs = blas_info()
    for lib in libs:
        print(f"BLAS: {lib.get('internal_api')} {lib.get('version')} "
              f"({lib.get('threading_layer', '?')} threading, default {lib.get('num_threads')} threads)")
    if not libs:
        print("BLAS: threadpoolctl found no BLAS library; thread limits have no effect")
    t1 = time_matmul(64, 2500, 256, threads=1, repeats=args.repeats)
    t2 = time_matmul(64, 2500, 256, threads=2, repeats=args.repeats)
    print(f"(64x2500)x(2500x256) float32 matmul: 1 thread {t1 * 1e3:8.3f} ms | "
          f"2 threads {t2 * 1e3:8.3f} ms | 2 threads / 1 thread = {t2 / t1:.1f}x")
    g1 = gemm_gflops(1024, threads=1)
    print(f"1024^3 float32 GEMM, 1 thread: {g1:.1f} GFLOP/s (roofline for the paper benchmarks)")
    t_ami = time_grouping_score(1000, 150)
    print(f"grouping score (AMI, max), 1000 images x 150 labelled pixels, 4 slots: {t_ami:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
