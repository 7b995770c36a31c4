"""Benchmark of Reconstruction Clustering (not a test): one DAE training update and one RC
iteration, each as achieved matmul GFLOP/s against the single-thread float32 GEMM measured in the
same run (common.bench), plus peak memory.

    python -m reconstruction_clustering.bench [--dataset shapes] [--train-on single] [--repeats 20] [--threads 1]

Run it from the repository root: inside the folder the script reconstruction_clustering.py shadows
the package, and Python says so in one line.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from common.bench import median_seconds, roofline_report
from common.cli import positive_int, run_main, setup_threads
from common.optim import Adam
from reconstruction_clustering.config import TRAIN_ON, dae_preset
from reconstruction_clustering.dae import dae_loss_and_grads, init_dae, salt_and_pepper
from reconstruction_clustering.data import CANVAS, DATASETS, THESIS_K
from reconstruction_clustering.model import run_rc


def dae_update_flops(B: int, D: int, H: int) -> float:
    """Matmul FLOPs of one DAE update: forward 2*B*(D*H + H*D); the backward pass does two matmuls
    per forward one (input and weight gradients)."""
    return 3.0 * 2 * B * 2 * D * H


def rc_iteration_flops(n: int, K: int, D: int, H: int) -> float:
    """Matmul FLOPs of one RC iteration on n images x K slots: the DAE forward on n*K masked images."""
    return 2.0 * n * K * 2 * D * H


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m reconstruction_clustering.bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="shapes", choices=DATASETS)
    p.add_argument("--train-on", default="single", choices=TRAIN_ON)
    p.add_argument("--repeats", type=positive_int, default=20)
    p.add_argument("--threads", type=positive_int, default=1)
    args = p.parse_args(argv)
    setup_threads(args.threads)
    cfg = dae_preset(args.dataset, args.train_on)
    H_img, W_img = CANVAS[args.dataset]
    D, H, B, K = H_img * W_img, cfg.hidden, cfg.batch, THESIS_K[args.dataset]
    rng = np.random.default_rng(0)
    params = init_dae(D, H, rng)
    x = (rng.random((B, D)) < 0.15).astype(np.float32)
    opt = Adam(lr=cfg.lr)

    def update(_):
        _, grads = dae_loss_and_grads(salt_and_pepper(x, cfg.noise, rng), x, params, cfg.activation)
        opt.step(params, grads)

    print(f"{args.dataset}, {args.train_on}-object DAE: D={D}, H={H} {cfg.activation}, batch {B}, "
          f"{args.threads} BLAS thread(s)")
    t = median_seconds(update, args.repeats, warmup=2)
    print(f"DAE update (forward + backward + Adam): {t * 1e3:.2f} ms median of {args.repeats} "
          f"-> {B / t:.0f} images/s")
    print(roofline_report(dae_update_flops(B, D, H), t))
    n = 250                                     # run_rc's chunk: one chunk of images at a time
    imgs = (rng.random((n, D)) < 0.15).astype(np.float32)
    T = 3
    t = median_seconds(lambda _: run_rc(imgs, params, cfg.activation, K=K, iterations=T, rng=rng),
                       max(3, args.repeats // 4), warmup=1) / T
    print(f"RC iteration on {n} images x K={K}: {t * 1e3:.1f} ms (R-step + E-step, {n / t:.0f} images/s)")
    print(roofline_report(rc_iteration_flops(n, K, D, H), t))
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main, prog="reconstruction_clustering.bench"))
