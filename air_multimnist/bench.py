"""Benchmark of one AIR training update (not a test): updates/s, images/s, peak memory, and achieved
GFLOP/s as a fraction of the single-thread float32 GEMM measured in the same run.

    python3 -m air_multimnist.bench [--preset default] [--updates 30] [--threads 1]

Run it from the repository root: inside air_multimnist/ the script air_multimnist.py shadows the
package (you get a one-line error).
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from air_multimnist.config import PRESETS, make_config
from air_multimnist.data import compose, eval_sets
from air_multimnist.model import init_baseline, init_params
from air_multimnist.objectives import RunningNorm
from air_multimnist.train import train_step
from common.bench import median_seconds, roofline_report
from common.cli import positive_int, run_main, setup_threads


def update_flops(cfg) -> float:
    """Matmul FLOPs of one update (forward + backward = 3x forward for weight GEMMs, 2x for the
    image projection whose input gradient is not needed), counting the LSTM, the three MLPs and the
    separable spatial transformer (crop and render: two batched matmuls each)."""
    B, T, H, Hm, Z, n, C = cfg.batch, cfg.max_objects, cfg.lstm, cfg.hidden, cfg.z_what, cfg.window, cfg.canvas
    image = 2 * B * C * C * 4 * H * 2
    per_step = 2 * B * ((3 + Z) * 4 * H + H * 4 * H + H * Hm + Hm * 7 + n * n * Hm + Hm * 2 * Z
                        + Z * Hm + Hm * n * n)
    stn = 2 * B * (n * C * C + n * n * C) + 2 * B * (C * n * n + C * n * C)
    return image + 3.0 * T * (per_step + stn)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python3 -m air_multimnist.bench", description=__doc__, allow_abbrev=False,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="default", choices=sorted(PRESETS))
    p.add_argument("--updates", type=positive_int, default=30)
    p.add_argument("--threads", type=positive_int, default=1)
    args = p.parse_args(argv)
    setup_threads(args.threads)
    cfg = make_config(args.preset)
    rng = np.random.default_rng(0)
    sets = eval_sets(cfg)
    x_all = sets["valid"].images
    params, bparams = init_params(cfg, rng), init_baseline(cfg, rng)
    norm = RunningNorm()

    def step(_):
        train_step(params, bparams, x_all[rng.integers(0, len(x_all), cfg.batch)], cfg, rng, norm)

    t = median_seconds(step, args.updates, warmup=3)
    t0 = time.perf_counter()
    compose(sets["train_digits"], cfg.chunk, rng, cfg)
    chunk_s = time.perf_counter() - t0
    print(f"preset {args.preset}: AIR ({cfg.estimator}), B={cfg.batch}, T={cfg.max_objects}, LSTM {cfg.lstm}, "
          f"window {cfg.window}, {args.threads} BLAS thread(s)")
    print(f"update (forward + ELBO + BPTT, no optimiser): {t * 1e3:.1f} ms median of {args.updates} "
          f"-> {1 / t:.1f} updates/s, {cfg.batch / t:.0f} images/s")
    print(f"composing a streamed chunk of {cfg.chunk} scenes: {chunk_s:.2f} s "
          f"(= {1e3 * chunk_s / (cfg.chunk * cfg.scene_reuse / cfg.batch):.1f} ms per update amortised)")
    print(roofline_report(update_flops(cfg), t))
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main, prog="air_multimnist.bench"))
