"""Training loop and checkpoint choice for Tagger on 20x20 shapes.

Each update: a batch of training images, one bit-flip corruption, random initial masks, the
denoising cost averaged over ``cfg.iterations`` unrolled iterations, its gradient by
backpropagation through them, Adam. Checkpoints are candidates every ``eval_every`` updates; the
one kept has the best validation AMI(max) (clean input, ``eval_iterations``), never a test score.
"""

from __future__ import annotations

import math
import time

import numpy as np
from tqdm import tqdm

from common.checkpoint import TrainingCheckpoint, flatten, rng_state, set_rng_state, unflatten
from common.optim import Adam, cosine_lr

from .config import TaggerConfig
from .evaluate import evaluate, run_groupings
from .model import corrupt, init_params, initial_state, loss_and_grads

__all__ = ["train"]


def train(cfg: TaggerConfig, data: dict, rng: np.random.Generator, *, progress: bool = True,
          snapshot_images: np.ndarray | None = None, checkpoint: TrainingCheckpoint | None = None,
          resume: bool = False) -> dict:
    """Train from scratch (or, with ``resume``, from ``checkpoint``); returns {"params" (the chosen
    checkpoint), "history", "best", "snapshots", "train_time_s", "stopped_early"}.

    data: {"train", "valid"} splits (data.make_splits). rng drives init, batches, noise and masks.
    snapshot_images: (S, 20, 20) validation images whose masks after each iteration are stored at
        every evaluation, for the grouping-over-training GIF.
    checkpoint: written at every evaluation (parameters, Adam, the rng's state, history, best so
        far); a resumed run ends with exactly the numbers of an uninterrupted one.
    A non-finite loss stops training: "stopped_early" says where, and the best checkpoint found
    so far is returned (None when training ran to the end).
    """
    L = len(cfg.sizes) - 1
    x_train = data["train"].images.reshape(len(data["train"]), -1).astype(np.float32)
    D = x_train.shape[1]
    params = init_params(D, cfg.sizes, rng)
    opt = Adam(lr=cfg.lr, clip_norm=cfg.clip or None)
    val_x, val_y = data["valid"].images, data["valid"].labels
    eval_seed = int(rng.integers(2**31))         # the same initial masks for every validation pass
    hist = {"update": [], "train_loss": [], "valid_cost": [], "valid_ami_max": [], "valid_ami_arithmetic": [],
            "lr": [], "grad_norm": [], "elapsed_s": []}
    best = {"score": -math.inf, "update": None}
    best_params = {k: v.copy() for k, v in params.items()}
    snapshots, recent = [], []
    start, stopped = 1, None
    t0 = time.perf_counter()
    if resume:
        arrays, meta = checkpoint.load()
        for k, v in unflatten(arrays, "params").items():
            params[k][...] = v
        opt.load_state_dict(unflatten(arrays, "opt"))
        best_params = unflatten(arrays, "best")
        snapshots = list(arrays["snapshots"]) if "snapshots" in arrays else []
        hist, best = meta["history"], meta["best"]
        set_rng_state(rng, meta["rng"])
        start, t0 = meta["update"] + 1, t0 - meta["elapsed_s"]
    bar = tqdm(range(start, cfg.updates + 1), disable=not progress, desc=f"Tagger K={cfg.K}", unit="upd",
               mininterval=1.0, initial=start - 1, total=cfg.updates)
    for update in bar:
        x = x_train[rng.integers(0, len(x_train), cfg.batch)]
        xn = corrupt(x, cfg.beta, rng)
        state0 = initial_state(cfg.batch, cfg.K, D, cfg.mu_init, rng, kind=cfg.mask_init, x=x, width=cfg.mask_width)
        loss, grads, _ = loss_and_grads(params, L, cfg.beta, x, xn, state0, cfg.iterations, residual=cfg.residual)
        if not (np.isfinite(loss) and all(np.all(np.isfinite(g)) for g in grads.values())):
            stopped = f"the loss or its gradient became non-finite ({loss}) at update {update}"
            break
        opt.lr = cosine_lr(cfg.lr, cfg.lr_final, update - 1, cfg.updates)
        gnorm = opt.step(params, grads)
        recent.append(loss)
        if update % cfg.eval_every == 0 or update == cfg.updates:
            ev = evaluate(params, cfg, val_x, val_y, np.random.default_rng(eval_seed))
            if ev["ami_max"] > best["score"]:
                best = {"score": ev["ami_max"], "update": update, "valid_ami_max": ev["ami_max"],
                        "valid_cost": ev["cost"]}
                best_params = {k: v.copy() for k, v in params.items()}
            for k, v in (("update", update), ("train_loss", float(np.mean(recent))), ("valid_cost", ev["cost"]),
                         ("valid_ami_max", ev["ami_max"]), ("valid_ami_arithmetic", ev["ami_arithmetic"]),
                         ("lr", opt.lr), ("grad_norm", gnorm), ("elapsed_s", time.perf_counter() - t0)):
                hist[k].append(v)
            recent = []
            if snapshot_images is not None:
                g = run_groupings(params, cfg, snapshot_images, np.random.default_rng(eval_seed))
                snapshots.append(g.groups)
            bar.set_postfix(loss=f"{hist['train_loss'][-1]:.4f}", val_ami=f"{ev['ami_max']:.3f}",
                            best=f"{best['valid_ami_max']:.3f}@{best['update']}")
            if checkpoint is not None:
                state = {"params": params, "opt": opt.state_dict(), "best": best_params}
                checkpoint.save({**flatten(state), **({"snapshots": np.stack(snapshots)} if snapshots else {})},
                                {"update": update, "history": hist, "best": best, "rng": rng_state(rng),
                                 "elapsed_s": time.perf_counter() - t0})
    return {"params": best_params, "history": hist, "best": best,
            "snapshots": np.stack(snapshots) if snapshots else None,
            "train_time_s": time.perf_counter() - t0, "stopped_early": stopped}
