"""Chunk-parallel inference (common.parallel): the same numbers with 1 and with 2 worker threads,
for every paper's inference path, and BLAS back at its thread count afterwards."""

import numpy as np
import pytest

from common.parallel import chunk_starts, map_chunks, set_workers, workers
from common.threads import blas_info, set_blas_threads


@pytest.fixture
def two_workers():
    set_blas_threads(2)
    set_workers(2)
    yield
    set_workers(1)
    set_blas_threads(1)


def _both(fn):
    """fn() as --threads 1 runs it (1 worker, 1 BLAS thread), then as --threads 2 does (2 workers,
    each with 1 BLAS thread inside map_chunks). OpenBLAS's results can depend on its thread count,
    which is why map_chunks holds it at one."""
    set_blas_threads(1)
    set_workers(1)
    one = fn()
    set_blas_threads(2)
    set_workers(2)
    return one, fn()


def test_map_chunks_keeps_order_and_restores_blas_threads(two_workers):
    assert workers() == 2
    assert map_chunks(lambda s: (s.start, s.stop), chunk_starts(10, 3)) == [(0, 3), (3, 6), (6, 9), (9, 10)]
    assert all(lib["num_threads"] == 2 for lib in blas_info())
    with pytest.raises(ValueError):
        set_workers(0)


def test_rnn_em_inference_is_identical_with_two_workers(two_workers):
    from neural_em_shapes.model import init_params, run_em
    rng = np.random.default_rng(0)
    p = init_params("rnn-em", 784, 16, rng)
    imgs = (rng.random((230, 784)) < 0.2).astype(np.float32)      # 3 chunks of 100, the last short
    one, two = _both(lambda: run_em("rnn-em", p, imgs, K=3, iterations=3, noise=0.1,
                                    rng=np.random.default_rng(1), restarts=2))
    for f in ("gamma0", "gamma", "psi", "loss", "loglik"):
        np.testing.assert_array_equal(getattr(one, f), getattr(two, f))


def test_rc_loop_is_identical_with_two_workers(two_workers):
    from reconstruction_clustering.dae import init_dae
    from reconstruction_clustering.model import run_rc
    rng = np.random.default_rng(0)
    p = init_dae(64, 20, rng)
    imgs = (rng.random((70, 64)) < 0.3).astype(np.float32)
    one, two = _both(lambda: run_rc(imgs, p, "tanh", K=3, iterations=4, rng=np.random.default_rng(2), chunk=16,
                                    keep=20))
    for f in ("pred", "loglik", "gamma", "psi", "gammas", "psis"):
        np.testing.assert_array_equal(getattr(one, f), getattr(two, f))


def test_air_inference_is_identical_with_two_workers(two_workers):
    from air_multimnist.config import make_config
    from air_multimnist.evaluate import infer
    from air_multimnist.model import init_params
    cfg = make_config("quick")
    rng = np.random.default_rng(0)
    p = init_params(cfg, rng)
    x = (rng.random((37, cfg.canvas, cfg.canvas)) < 0.1).astype(np.float32)
    one, two = _both(lambda: infer(p, x, cfg, batch=10))
    for k in ("counts", "z_where", "recon"):
        np.testing.assert_array_equal(one[k], two[k])


def test_adam_over_chunks_is_identical_with_two_workers(two_workers):
    from common import optim
    rng = np.random.default_rng(0)
    init = {"big": rng.standard_normal(3 * optim.CHUNK + 17).astype(np.float32),
            "small": rng.standard_normal((3, 4)).astype(np.float32)}
    grads = [{k: rng.standard_normal(v.shape).astype(np.float32) for k, v in init.items()} for _ in range(5)]

    def run():
        p = {k: v.copy() for k, v in init.items()}
        opt = optim.Adam(lr=1e-2, clip_norm=1.0)
        for g in grads:
            opt.step(p, g)
        return p
    one, two = _both(run)
    for k in init:
        np.testing.assert_array_equal(one[k], two[k])
