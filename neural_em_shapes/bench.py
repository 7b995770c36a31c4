"""Benchmark of one RNN-EM / N-EM training update (not a test): updates/s, images/s, peak memory,
and achieved GFLOP/s as a fraction of the single-thread float32 GEMM measured in the same run.

    python3 -m neural_em_shapes.bench [--preset default] [--updates 20] [--threads 1]

Run it from the repository root: inside the folder the script neural_em_shapes.py shadows the
package, and says so in one line (exit 2).
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from common.bench import median_seconds, roofline_report
from common.cli import positive_int, run_main, setup_threads
from common.shapes import make_shapes
from neural_em_shapes.config import PRESETS, make_config
from common.seeding import initial_gamma
from neural_em_shapes.model import flip_noise, init_params, loss_and_grads, loss_weights


def update_flops(cfg) -> float:
    """Matmul FLOPs of one update: forward 2*rows*(D*H + H*H + H*D) per EM iteration (rows = B*K);
    the backward pass does two matmuls per forward one (input and weight gradients)."""
    D, H, rows = 784, cfg.hidden, cfg.batch * cfg.K
    per_step = 2 * rows * (D * H + H * H + H * D) if cfg.model == "rnn-em" else 2 * rows * 2 * D * H
    return 3.0 * per_step * cfg.iterations


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python3 -m neural_em_shapes.bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="default", choices=sorted(PRESETS))
    p.add_argument("--updates", type=positive_int, default=20)
    p.add_argument("--threads", type=positive_int, default=1)
    args = p.parse_args(argv)
    setup_threads(args.threads)
    cfg = make_config(args.preset)
    rng = np.random.default_rng(0)
    x_all = make_shapes(cfg.batch * 4, rng).images.reshape(-1, 784)
    params = init_params(cfg.model, 784, cfg.hidden, rng)
    w = loss_weights(cfg)
    def step(_):
        x = x_all[rng.integers(0, len(x_all), cfg.batch)]
        xn = flip_noise(np.broadcast_to(x, (cfg.iterations,) + x.shape), cfg.noise, rng)
        g0 = initial_gamma(cfg.batch, cfg.K, 784, rng, kind=cfg.gamma_init, x=x)
        loss_and_grads(cfg.model, params, x, xn, g0, loss_weights=w, gamma_grad=cfg.gamma_grad)

    t = median_seconds(step, args.updates, warmup=2)
    print(f"preset {args.preset}: {cfg.model}, B={cfg.batch}, K={cfg.K}, T={cfg.iterations}, H={cfg.hidden}, "
          f"{args.threads} BLAS thread(s)")
    print(f"update (forward + BPTT, no optimiser): {t * 1e3:.1f} ms median of {args.updates} "
          f"-> {1 / t:.2f} updates/s, {cfg.batch / t:.0f} images/s")
    print(roofline_report(update_flops(cfg), t))
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main, prog="neural_em_shapes.bench"))
