"""BLAS thread control and the benchmark that motivates its default."""

import subprocess
import sys

import pytest

from common.threads import blas_info, blas_threads, set_blas_threads


def test_set_threads_takes_effect():
    libs = set_blas_threads(1)
    assert libs, "threadpoolctl should find NumPy's BLAS"
    assert all(lib["num_threads"] == 1 for lib in blas_info())
    with blas_threads(2):
        pass
    assert all(lib["num_threads"] == 1 for lib in blas_info())


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_bad_thread_counts(bad):
    with pytest.raises(ValueError, match="BLAS threads"):
        set_blas_threads(bad)


def test_bench_runs_and_prints_figures():
    out = subprocess.run([sys.executable, "-m", "common.bench", "--repeats", "2"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "1 thread" in out.stdout and "2 threads" in out.stdout and "GFLOP/s" in out.stdout
    bad = subprocess.run([sys.executable, "-m", "common.bench", "--repeats", "0"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "--repeats" in bad.stderr


def test_keep_freed_memory_is_accepted_by_glibc():
    import sys
    from common.threads import keep_freed_memory
    assert keep_freed_memory() is sys.platform.startswith("linux")
