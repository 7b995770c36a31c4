"""Benchmark of AIR (not a test): one training update including both optimisers, the streamed
data of one update, and one inference pass, at 1 and 2 threads, optionally side by side with the
PyTorch twin (``twin_torch.py``) run in separate processes, interleaved.

    python3 -m air_multimnist.bench [--preset default] [--compare torch] [--threads 1,2]
                                    [--rounds 5] [--repeats 5] [--json results/bench.json]

The README's benchmark table is this command's output with ``--compare torch``. Run it from the
repository root: inside air_multimnist/ the script air_multimnist.py shadows the package (you get
a one-line error).
"""

from __future__ import annotations

import sys

import numpy as np

from air_multimnist.config import PRESETS, make_config
from air_multimnist.data import compose, eval_sets
from air_multimnist.evaluate import forward_chunks
from air_multimnist.model import init_baseline, init_params
from air_multimnist.objectives import RunningNorm
from air_multimnist.train import count_k_at, train_step
from common.bench import Workload, bench_main, headline_estimate
from common.cli import run_main
from common.optim import Adam, cosine_lr

EVAL_IMAGES = 500          # evaluate.infer's batch
N_BATCHES = 4
PHASES = {"update": "training update (forward, ELBO, REINFORCE + NVIL, BPTT, clip, 2x Adam)",
          "data": "composing one streamed chunk of training scenes (serves chunk x reuse / batch updates)",
          "eval": f"inference forward pass ({EVAL_IMAGES} scenes, posterior means)"}


def update_flops(args) -> float:
    """Matmul FLOPs of one update (forward + backward = 3x forward for weight GEMMs, 2x for the
    image projection whose input gradient is not needed), counting the LSTM, the three MLPs and the
    separable spatial transformer (crop and render: two batched matmuls each)."""
    cfg = make_config(args.preset)
    B, T, H, Hm, Z, n, C = cfg.batch, cfg.max_objects, cfg.lstm, cfg.hidden, cfg.z_what, cfg.window, cfg.canvas
    image = 2 * B * C * C * 4 * H * 2
    per_step = 2 * B * ((3 + Z) * 4 * H + H * 4 * H + H * Hm + Hm * 7 + n * n * Hm + Hm * 2 * Z
                        + Z * Hm + Hm * n * n)
    stn = 2 * B * (n * C * C + n * n * C) + 2 * B * (C * n * n + C * n * C)
    return image + 3.0 * T * (per_step + stn)


def _scenes(cfg):
    """Pre-drawn training batches (from validation scenes: composition is its own phase), the
    inference batch, and the training digits the data phase composes scenes from."""
    sets = eval_sets(cfg)
    rng = np.random.default_rng(0)
    x = sets["valid"].images
    batches = [x[rng.integers(0, len(x), cfg.batch)] for _ in range(N_BATCHES)]
    return batches, x[:EVAL_IMAGES], sets["train_digits"]


def numpy_steps(args) -> dict:
    cfg = make_config(args.preset)
    batches, ev, digits = _scenes(cfg)
    rng = np.random.default_rng(1)
    params, bparams = init_params(cfg, rng), init_baseline(cfg, rng)
    opt, bopt = Adam(lr=cfg.lr, clip_norm=cfg.clip or None), Adam(lr=cfg.lr * cfg.baseline_lr_mult)
    norm = RunningNorm() if cfg.signal_norm else None
    done = [0]

    def update():     # as train.train's loop body
        i = done[0]
        _, grads, bgrads = train_step(params, bparams, batches[i % N_BATCHES], cfg, rng, norm, count_k_at(cfg, i))
        opt.lr = cosine_lr(cfg.lr, cfg.lr_final, i, cfg.updates)
        opt.step(params, grads)
        if bgrads is not None:
            bopt.lr = opt.lr * cfg.baseline_lr_mult
            bopt.step(bparams, bgrads)
        done[0] += 1

    return {"update": update, "data": lambda: compose(digits, cfg.chunk, rng, cfg),
            "eval": lambda: forward_chunks(params, ev, cfg)}


def torch_steps(args) -> dict:
    from air_multimnist import twin_torch
    cfg = make_config(args.preset)
    batches, ev, _ = _scenes(cfg)
    rng = np.random.default_rng(1)
    model = twin_torch.build(cfg, init_params(cfg, rng), init_baseline(cfg, rng))
    step, run = twin_torch.make_update(cfg, model), twin_torch.make_eval(cfg, model)
    it = iter(range(10 ** 9))
    return {"update": lambda: step(batches[next(it) % N_BATCHES]), "eval": lambda: run(ev)}


def headline(args, rows) -> list[str]:
    """The headline run's training phase estimated from the measured phases (a composed chunk
    serves chunk x scene_reuse / batch updates)."""
    cfg = make_config(args.preset)
    passes = -(-cfg.updates // cfg.eval_every) * -(-cfg.n_valid // EVAL_IMAGES)
    per_chunk = max(1, cfg.chunk * cfg.scene_reuse // cfg.batch)
    return headline_estimate(rows, updates=cfg.updates, passes=passes, data_per_update=1 / per_chunk)


def _arguments(p) -> None:
    p.add_argument("--preset", default="default", choices=sorted(PRESETS))


WORK = Workload(module="air_multimnist.bench", description=__doc__, phases=PHASES, numpy_steps=numpy_steps,
                torch_steps=torch_steps, update_flops=update_flops, add_arguments=_arguments, headline=headline)


def main(argv=None) -> int:
    return bench_main(WORK, argv)


if __name__ == "__main__":
    sys.exit(run_main(main, prog="air_multimnist.bench"))
