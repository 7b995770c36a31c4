"""Benchmark of Reconstruction Clustering (not a test): one DAE training update including Adam, the
salt-and-pepper data of one update, and the RC loop (1,000 images, K slots, 10 iterations, with
the per-iteration argmax and log-likelihood RC records), at 1 and 2 threads, optionally side by
side with the PyTorch twin (``twin_torch.py``) run in separate processes, interleaved.

    python3 -m reconstruction_clustering.bench [--dataset shapes] [--train-on single] [--compare torch]
                                               [--threads 1,2] [--rounds 5] [--repeats 5] [--json PATH]

The README's benchmark table is this command's output with ``--compare torch``. Run it from the
repository root: inside the folder the script reconstruction_clustering.py shadows the package,
and Python says so in one line.
"""

from __future__ import annotations

import sys

import numpy as np

from common.bench import Workload, bench_main
from common.cli import run_main
from common.optim import Adam
from common.seeding import initial_gamma
from reconstruction_clustering.config import TRAIN_ON, dae_preset
from reconstruction_clustering.dae import dae_loss_and_grads, init_dae, salt_and_pepper
from reconstruction_clustering.data import CANVAS, DATASETS, THESIS_K
from reconstruction_clustering.model import _run_rc_once

RC_IMAGES, RC_ITERATIONS, RC_CHUNK = 1000, 10, 250     # run_rc's defaults: 10 iterations, chunks of 250
N_BATCHES = 4
PHASES = {"update": "DAE training update (forward, backward, Adam)",
          "data": "data of one update (salt-and-pepper noise)",
          "rc": f"RC loop ({RC_IMAGES} images, {RC_ITERATIONS} iterations, argmax + log-likelihood)"}


def _sizes(args):
    cfg = dae_preset(args.dataset, args.train_on)
    h, w = CANVAS[args.dataset]
    return cfg, h * w, cfg.hidden, THESIS_K[args.dataset]


def update_flops(args) -> float:
    """Matmul FLOPs of one DAE update: forward 2*B*(D*H + H*D); the backward pass does two matmuls
    per forward one (input and weight gradients)."""
    cfg, D, H, _ = _sizes(args)
    return 3.0 * 2 * cfg.batch * 2 * D * H


def _problem(args):
    """Random binary images at the dataset's ink density (15%), clean/noisy training batches and
    the RC loop's images and gamma_0."""
    cfg, D, H, K = _sizes(args)
    rng = np.random.default_rng(0)
    x = [(rng.random((cfg.batch, D)) < 0.15).astype(np.float32) for _ in range(N_BATCHES)]
    batches = [(salt_and_pepper(b, cfg.noise, rng), b) for b in x]
    imgs = (rng.random((RC_IMAGES, D)) < 0.15).astype(np.float32)
    return cfg, init_dae(D, H, rng), batches, imgs, initial_gamma(RC_IMAGES, K, D, rng), rng


def numpy_steps(args) -> dict:
    cfg, params, batches, imgs, g0, rng = _problem(args)
    opt = Adam(lr=cfg.lr)
    it = iter(range(10 ** 9))

    def update():
        x_in, x = batches[next(it) % N_BATCHES]
        _, grads = dae_loss_and_grads(x_in, x, params, cfg.activation)
        opt.step(params, grads)

    return {"update": update, "data": lambda: salt_and_pepper(batches[0][1], cfg.noise, rng),
            "rc": lambda: _run_rc_once(imgs, g0, params, cfg.activation, RC_ITERATIONS, "soft", 0, RC_CHUNK)}


def torch_steps(args) -> dict:
    from reconstruction_clustering import twin_torch
    cfg, params, batches, imgs, g0, _ = _problem(args)
    model = twin_torch.build(params, cfg.activation)
    step = twin_torch.make_update(cfg, model)
    run = twin_torch.make_rc(model, cfg.activation, chunk=RC_CHUNK)
    it = iter(range(10 ** 9))
    return {"update": lambda: step(*batches[next(it) % N_BATCHES]), "rc": lambda: run(imgs, g0, RC_ITERATIONS)}


def _arguments(p) -> None:
    p.add_argument("--dataset", default="shapes", choices=DATASETS)
    p.add_argument("--train-on", default="single", choices=TRAIN_ON)


WORK = Workload(module="reconstruction_clustering.bench", description=__doc__, phases=PHASES,
                numpy_steps=numpy_steps, torch_steps=torch_steps, update_flops=update_flops,
                add_arguments=_arguments)


def main(argv=None) -> int:
    return bench_main(WORK, argv)


if __name__ == "__main__":
    sys.exit(run_main(main, prog="reconstruction_clustering.bench"))
