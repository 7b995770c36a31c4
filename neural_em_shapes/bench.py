"""Benchmark of RNN-EM (not a test): one training update including the optimiser, the data of one
update, and one evaluation pass, at 1 and 2 threads, optionally side by side with the PyTorch twin
(``twin_torch.py``) run in separate processes, interleaved.

    python3 -m neural_em_shapes.bench [--preset default] [--compare torch] [--threads 1,2]
                                      [--rounds 5] [--repeats 5] [--json results/bench.json]

The README's benchmark table is this command's output with ``--compare torch``. Run it from the
repository root: inside the folder the script neural_em_shapes.py shadows the package, and says so
in one line (exit 2).
"""

from __future__ import annotations

import sys

import numpy as np

from common.bench import Workload, bench_main, headline_estimate
from common.cli import run_main
from common.optim import Adam
from common.seeding import initial_gamma
from common.shapes import make_shapes
from neural_em_shapes.config import PRESETS, make_config
from neural_em_shapes.model import em_in_chunks, flip_noise, init_params, loss_and_grads, loss_weights

EVAL_IMAGES = 500          # run_em's batch: one evaluation pass = EM on 500 images, one restart
N_BATCHES = 4              # pre-drawn batches the update cycles through (data is its own phase)
PHASES = {"update": "training update (forward, BPTT, clip, Adam)",
          "data": "data of one update (batch, bit-flip noise, ink-seeded gamma_0)",
          "eval": f"evaluation pass ({EVAL_IMAGES} images, T iterations, one restart, no gradients)"}


def update_flops(args) -> float:
    """Matmul FLOPs of one update: forward 2*rows*(D*H + H*H + H*D) per EM iteration (rows = B*K);
    the backward pass does two matmuls per forward one (input and weight gradients)."""
    cfg = make_config(args.preset)
    D, H, rows = 784, cfg.hidden, cfg.batch * cfg.K
    per_step = 2 * rows * (D * H + H * H + H * D) if cfg.model == "rnn-em" else 2 * rows * 2 * D * H
    return 3.0 * per_step * cfg.iterations


def _problem(cfg, n: int, rng: np.random.Generator):
    """n draws of (x (B, D), x_noisy (T, B, D), gamma0 (B, K, D)) from static shapes, as train.py
    draws them."""
    x_all = make_shapes(max(cfg.batch, EVAL_IMAGES) * 2, rng).images.reshape(-1, 784).astype(np.float32)

    def draw(B):
        x = x_all[rng.integers(0, len(x_all), B)]
        xn = flip_noise(np.broadcast_to(x, (cfg.iterations,) + x.shape), cfg.noise, rng)
        return x, xn, initial_gamma(B, cfg.K, 784, rng, kind=cfg.gamma_init, x=x)
    return [draw(cfg.batch) for _ in range(n)], draw(EVAL_IMAGES), draw


def numpy_steps(args) -> dict:
    cfg = make_config(args.preset)
    rng = np.random.default_rng(0)
    batches, ev, draw = _problem(cfg, N_BATCHES, rng)
    params = init_params(cfg.model, 784, cfg.hidden, rng, eta=cfg.eta_init)
    opt = Adam(lr=cfg.lr, clip_norm=cfg.clip or None)
    w = loss_weights(cfg)
    it = iter(range(10 ** 9))

    def update():
        x, xn, g0 = batches[next(it) % N_BATCHES]
        _, grads, _ = loss_and_grads(cfg.model, params, x, xn, g0, loss_weights=w, gamma_grad=cfg.gamma_grad,
                                     inter_weight=cfg.inter_weight)
        opt.step(params, grads)

    return {"update": update, "data": lambda: draw(cfg.batch),
            "eval": lambda: em_in_chunks(cfg.model, params, *ev, inter_weight=cfg.inter_weight)}


def torch_steps(args) -> dict:
    from neural_em_shapes import twin_torch
    cfg = make_config(args.preset)
    rng = np.random.default_rng(0)
    batches, ev, _ = _problem(cfg, N_BATCHES, rng)
    model = twin_torch.build(cfg, init_params(cfg.model, 784, cfg.hidden, rng, eta=cfg.eta_init))
    step, run = twin_torch.make_update(cfg, model), twin_torch.make_eval(cfg, model)
    batches = [tuple(np.ascontiguousarray(a) for a in b) for b in batches]
    ev = tuple(np.ascontiguousarray(a) for a in ev)
    it = iter(range(10 ** 9))
    return {"update": lambda: step(*batches[next(it) % N_BATCHES]), "eval": lambda: run(*ev)}


def headline(args, rows) -> list[str]:
    """The headline run's training phase estimated from the measured phases."""
    cfg = make_config(args.preset)
    passes = -(-cfg.updates // cfg.eval_every) * cfg.restarts * -(-cfg.n_valid // EVAL_IMAGES)
    return headline_estimate(rows, updates=cfg.updates, passes=passes)


def _arguments(p) -> None:
    p.add_argument("--preset", default="default", choices=sorted(PRESETS))


WORK = Workload(module="neural_em_shapes.bench", description=__doc__, phases=PHASES, numpy_steps=numpy_steps,
                torch_steps=torch_steps, update_flops=update_flops, add_arguments=_arguments, headline=headline)


def main(argv=None) -> int:
    return bench_main(WORK, argv)


if __name__ == "__main__":
    sys.exit(run_main(main, prog="neural_em_shapes.bench"))
