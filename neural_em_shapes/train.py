"""Training loop and checkpoint choice for N-EM / RNN-EM on static shapes.

Checkpoints are candidates every ``eval_every`` updates; the one kept is chosen on the validation
split only (``cfg.select``, scored by ``evaluate.evaluate``), never on test.
"""

from __future__ import annotations

import math
import time

import numpy as np
from tqdm import tqdm

from common.checkpoint import TrainingCheckpoint, flatten, rng_state, set_rng_state, unflatten
from common.optim import Adam, cosine_lr
from common.seeding import initial_gamma
from neural_em_shapes.config import NEMConfig
from neural_em_shapes.evaluate import evaluate
from neural_em_shapes.model import flip_noise, init_params, loss_and_grads, loss_weights, run_em, run_sequence_em

__all__ = ["train"]


def train(cfg: NEMConfig, data: dict, rng: np.random.Generator, *, progress: bool = True,
          snapshot_images: np.ndarray | None = None, checkpoint: TrainingCheckpoint | None = None,
          resume: bool = False) -> dict:
    """Train from scratch (or, with ``resume``, from ``checkpoint``); returns {"params" (the chosen
    checkpoint), "history", "best", "snapshots", "train_time_s", "stopped_early"}.

    data: {"train", "valid"} splits (data.make_splits). rng drives init, batches, noise and gamma_0.
    snapshot_images: (S, 28, 28) validation images (flying: (S, T + 1, 28, 28) sequences, the last
        frame's grouping is kept) whose EM trace is stored at every evaluation, for the
        binding-over-training GIF.
    checkpoint: written at every evaluation (parameters, Adam, the rng's state, history, best so
        far); a resumed run ends with exactly the numbers of an uninterrupted one.
    A non-finite loss stops training: "stopped_early" says where, and the best checkpoint found
    so far is returned as usual (None when training ran to the end).
    """
    flying = cfg.dataset == "flying"
    D = data["train"].images[0, 0].size if flying else data["train"].images[0].size
    params = init_params(cfg.model, D, cfg.hidden, rng, eta=cfg.eta_init, channels=cfg.channels, mlp=cfg.mlp)
    opt = Adam(lr=cfg.lr, clip_norm=cfg.clip or None)
    w = loss_weights(cfg)
    # Static: (N, D) float32. Flying: (N, T + 1, D) uint8 sequences, a batch is cast when drawn.
    x_train = data["train"].images.reshape(len(data["train"]), -1, D) if flying else \
        data["train"].images.reshape(len(data["train"]), -1)
    val_x, val_y = data["valid"].images, data["valid"].labels
    eval_rng_seed = int(rng.integers(2**31))  # the same noise / gamma_0 for every validation pass
    hist = {"update": [], "train_loss": [], "valid_loss": [], "valid_ami_max": [],
            "valid_ami_arithmetic": [], "lr": [], "grad_norm": [], "elapsed_s": []}
    best = {"score": -math.inf, "update": None}
    best_params = {k: v.copy() for k, v in params.items()}
    snapshots = []
    recent = []
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
    bar = tqdm(range(start, cfg.updates + 1), disable=not progress, desc=f"{cfg.model} K={cfg.K}",
               unit="upd", mininterval=1.0, initial=start - 1, total=cfg.updates)
    for update in bar:
        idx = rng.integers(0, len(x_train), cfg.batch)
        if flying:      # input: noisy frames 0..T-1; E-step and loss targets: clean frames 1..T
            seq = x_train[idx].transpose(1, 0, 2).astype(np.float32)
            x, xn = seq[1:], flip_noise(seq[:-1], cfg.noise, rng)
            g0 = initial_gamma(cfg.batch, cfg.K, D, rng, kind=cfg.gamma_init, x=x[0])
        else:
            x = x_train[idx]
            xn = flip_noise(np.broadcast_to(x, (cfg.iterations,) + x.shape), cfg.noise, rng)
            g0 = initial_gamma(cfg.batch, cfg.K, D, rng, kind=cfg.gamma_init, x=x)
        loss, grads, _ = loss_and_grads(cfg.model, params, x, xn, g0, loss_weights=w,
                                        gamma_grad=cfg.gamma_grad, inter_weight=cfg.inter_weight)
        if not (np.isfinite(loss) and all(np.all(np.isfinite(g)) for g in grads.values())):
            stopped = f"the loss or its gradient became non-finite ({loss}) at update {update}"
            break
        opt.lr = cosine_lr(cfg.lr, cfg.lr_final, update - 1, cfg.updates)
        gnorm = opt.step(params, grads)
        recent.append(loss)
        if update % cfg.eval_every == 0 or update == cfg.updates:
            ev = evaluate(params, cfg, val_x, val_y, np.random.default_rng(eval_rng_seed))
            score = ev["ami_max"] if cfg.select == "valid_ami" else -ev["loss"]
            if score > best["score"]:
                best = {"score": score, "update": update, "valid_ami_max": ev["ami_max"],
                        "valid_loss": ev["loss"]}
                best_params = {k: v.copy() for k, v in params.items()}
            for k, v in (("update", update), ("train_loss", float(np.mean(recent))),
                         ("valid_loss", ev["loss"]), ("valid_ami_max", ev["ami_max"]),
                         ("valid_ami_arithmetic", ev["ami_arithmetic"]), ("lr", opt.lr),
                         ("grad_norm", gnorm), ("elapsed_s", time.perf_counter() - t0)):
                hist[k].append(v)
            recent = []
            if snapshot_images is not None and flying:    # the last frame's grouping
                tr = run_sequence_em(cfg.model, params, snapshot_images, K=cfg.K, noise=cfg.noise,
                                     rng=np.random.default_rng(eval_rng_seed), gamma_init=cfg.gamma_init,
                                     keep_all=False)
                snapshots.append(tr.gamma[-1].astype(np.float16))
            elif snapshot_images is not None:
                tr = run_em(cfg.model, params, snapshot_images.reshape(len(snapshot_images), -1),
                            K=cfg.K, iterations=cfg.iterations, noise=cfg.noise,
                            rng=np.random.default_rng(eval_rng_seed), gamma_init=cfg.gamma_init,
                            keep_all=False, restarts=cfg.restarts)
                snapshots.append(tr.gamma[-1].astype(np.float16))
            bar.set_postfix(loss=f"{hist['train_loss'][-1]:.1f}", val_ami=f"{ev['ami_max']:.3f}",
                            best=f"{best['valid_ami_max']:.3f}@{best['update']}")
            if checkpoint is not None:
                state = {"params": params, "opt": opt.state_dict(), "best": best_params}
                checkpoint.save({**flatten(state), **({"snapshots": np.stack(snapshots)} if snapshots else {})},
                                {"update": update, "history": hist, "best": best, "rng": rng_state(rng),
                                 "elapsed_s": time.perf_counter() - t0})
    return {"params": best_params, "history": hist, "best": best,
            "snapshots": np.stack(snapshots) if snapshots else None,
            "train_time_s": time.perf_counter() - t0, "stopped_early": stopped}
