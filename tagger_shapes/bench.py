"""Benchmark of Tagger (not a test): one training update including the optimiser, the data of one
update, and one evaluation pass, at 1 and 2 threads, with the share of the single-thread GEMM
roofline the update reaches.

    python3 -m tagger_shapes.bench [--preset default] [--sizes 500,250,100] [--threads 1,2]
                                   [--rounds 5] [--repeats 5] [--json results/bench.json]

Tagger has no PyTorch twin yet (``--compare torch`` says so). Run it from the repository root.
"""

from __future__ import annotations

import sys

import numpy as np

from common.bench import Workload, bench_main, headline_estimate
from common.cli import UsageError, positive_int_list, run_main
from common.optim import Adam
from common.shapes import make_shapes
from tagger_shapes.config import PRESETS, make_config
from tagger_shapes.evaluate import CHUNK
from tagger_shapes.model import corrupt, init_params, initial_state, loss_and_grads, run_iterations

D = 400
N_BATCHES = 4
PHASES = {"update": "training update (T unrolled iterations forward and backward, Adam)",
          "data": "data of one update (batch, bit flips, random initial masks)",
          "eval": f"evaluation pass ({CHUNK} images, eval_iterations, clean input, no gradients)"}


def _cfg(args):
    return make_config(args.preset, sizes=args.sizes)


def update_flops(args) -> float:
    """Matmul FLOPs of one update: per iteration and row (rows = B*K) the forward does
    2 (4D H0 + sum_l 2 H_{l-1} H_l + 2 H0 D); the backward two matmuls per forward one."""
    cfg = _cfg(args)
    s = cfg.sizes
    per_row = 2 * (4 * D * s[0] + sum(2 * a * b for a, b in zip(s, s[1:])) + 2 * s[0] * D)
    return 3.0 * per_row * cfg.batch * cfg.K * cfg.iterations


def numpy_steps(args) -> dict:
    cfg = _cfg(args)
    rng = np.random.default_rng(0)
    L = len(cfg.sizes) - 1
    x_all = make_shapes(2 * max(cfg.batch, CHUNK), rng, size=20).images.reshape(-1, D).astype(np.float32)

    def draw(B):
        x = x_all[rng.integers(0, len(x_all), B)]
        return x, corrupt(x, cfg.beta, rng), initial_state(B, cfg.K, D, cfg.mu_init, rng, kind=cfg.mask_init, x=x,
                                                           width=cfg.mask_width)
    batches = [draw(cfg.batch) for _ in range(N_BATCHES)]
    params = init_params(D, cfg.sizes, rng)
    opt = Adam(lr=cfg.lr)
    it = iter(range(10 ** 9))
    xe, _, s0 = draw(CHUNK)

    def update():
        x, xn, state0 = batches[next(it) % N_BATCHES]
        _, grads, _ = loss_and_grads(params, L, cfg.beta, x, xn, state0, cfg.iterations, residual=cfg.residual)
        opt.step(params, grads)

    return {"update": update, "data": lambda: draw(cfg.batch),
            "eval": lambda: run_iterations(params, L, cfg.beta, xe, s0, cfg.eval_iterations, x=xe, keep=False,
                                           residual=cfg.residual)}


def torch_steps(args) -> dict:
    raise UsageError("Tagger has no PyTorch twin yet: run without --compare")


def headline(args, rows) -> list[str]:
    cfg = _cfg(args)
    # every evaluation: the grouping pass and the cost pass over the validation images
    passes = -(-cfg.updates // cfg.eval_every) * 2 * -(-cfg.n_valid // CHUNK)
    return headline_estimate(rows, updates=cfg.updates, passes=passes)


def _arguments(p) -> None:
    p.add_argument("--preset", default="default", choices=sorted(PRESETS))
    p.add_argument("--sizes", type=positive_int_list, default=None,
                   help="projection and ladder widths, e.g. 500,250,100 (default: the preset's)")


WORK = Workload(module="tagger_shapes.bench", description=__doc__, phases=PHASES, numpy_steps=numpy_steps,
                torch_steps=torch_steps, update_flops=update_flops, add_arguments=_arguments, headline=headline)


def main(argv=None) -> int:
    return bench_main(WORK, argv)


if __name__ == "__main__":
    sys.exit(run_main(main, prog="tagger_shapes.bench"))
