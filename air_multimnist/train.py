"""Training loop of AIR: streamed scenes, REINFORCE+NVIL or enumeration for z_pres, Adam with a
cosine learning-rate decay, validation every ``eval_every`` updates and checkpoint choice on the
VALIDATION count accuracy only (ties: higher validation ELBO)."""

from __future__ import annotations

import math
import time

import numpy as np
from tqdm import tqdm

from air_multimnist.data import SceneStream
from air_multimnist.evaluate import evaluate, infer
from air_multimnist.model import backward, baseline_backward, baseline_forward, forward, init_baseline, init_params
from air_multimnist.objectives import RunningNorm, elbo_enumerate, elbo_reinforce
from common.checkpoint import TrainingCheckpoint, flatten, rng_state, set_rng_state, unflatten
from common.optim import Adam, cosine_lr

__all__ = ["count_k_at", "train_step", "train"]


def count_k_at(cfg, step: int) -> float:
    """Count-prior parameter k at update ``step`` (0-based).

    With count_k_start > 0, log k falls linearly from log(count_k_start) to log(count_k) over the
    first ``count_anneal`` fraction of the updates and then stays at count_k. The AIR paper anneals
    its geometric prior the same way: a weak penalty while the model learns to reconstruct, a
    strong one later so that no step is spent on nothing.
    """
    if cfg.count_k_start <= 0:
        return cfg.count_k
    frac = min(step / max(cfg.count_anneal * (cfg.updates - 1), 1), 1.0)
    return float(np.exp((1 - frac) * np.log(cfg.count_k_start) + frac * np.log(cfg.count_k)))


def train_step(params, bparams, x, cfg, rng, norm=None, count_k: float | None = None):
    """One gradient evaluation on a batch x (B, C, C); count_k overrides cfg.count_k (annealing).

    Returns (stats dict, model grads (of the NEGATIVE mean ELBO), baseline grads or None)."""
    B, T = x.shape[0], cfg.max_objects
    k = cfg.count_k if count_k is None else count_k
    ew = rng.standard_normal((B, T, 3), dtype=np.float32)
    eq = rng.standard_normal((B, T, cfg.z_what), dtype=np.float32)
    f, cache = forward(params, x, ew, eq, cfg)
    bgrads = None
    if cfg.estimator == "enumerate":
        elbo, q, dl, dk, do = elbo_enumerate(x, f.logit, f.kl, f.obj, cfg.sigma, k)
        n_mean = float((q * np.arange(T + 1)).sum(1).mean())
        bl_loss = float("nan")
    else:
        u = rng.random((B, T))
        b, bc = baseline_forward(bparams, f.h)
        elbo, n, dl, dk, do, target, active = elbo_reinforce(x, f.logit, f.kl, f.obj, cfg.sigma, k, u, b, norm)
        err = (b - target) * active
        bl_loss = float((err ** 2).sum() / B)
        bgrads = baseline_backward((2 * err / B).astype(np.float32), bc)
        n_mean = float(n.mean())
    s = np.float32(-1.0 / B)
    grads = backward(params, cache, dl * s, dk * s, do * s, cfg)
    return {"elbo": float(np.mean(elbo)), "n_mean": n_mean, "baseline_loss": bl_loss}, grads, bgrads


def train(cfg, data: dict, rng: np.random.Generator, *, progress: bool = True,
          snapshot_images: np.ndarray | None = None, checkpoint: TrainingCheckpoint | None = None,
          resume: bool = False) -> dict:
    """Train from scratch (or, with ``resume``, from ``checkpoint``); returns {"params" (chosen
    checkpoint), "history", "best", "snapshots", "train_time_s", "chunks", "stopped_early"}.
    data: {"train_digits", "valid"} from :func:`data.eval_sets`.

    checkpoint: written at every evaluation (both networks and optimisers, the running
    normaliser, the scene stream, the rng's state, history, best so far); a resumed run ends with
    exactly the numbers of an uninterrupted one. A non-finite ELBO or gradient stops training:
    "stopped_early" says where, and the best checkpoint found so far is returned as usual.
    """
    params = init_params(cfg, rng)
    bparams = init_baseline(cfg, rng)
    opt = Adam(lr=cfg.lr, clip_norm=cfg.clip or None)
    bopt = Adam(lr=cfg.lr * cfg.baseline_lr_mult)
    norm = RunningNorm() if cfg.signal_norm else None
    stream = SceneStream(data["train_digits"], cfg, rng)
    eval_seed = int(rng.integers(2 ** 31))
    hist = {k: [] for k in ("update", "train_elbo", "train_n_mean", "baseline_loss", "valid_elbo",
                            "valid_count_accuracy", "valid_share_all_steps", "valid_iou_object", "lr",
                            "grad_norm", "elapsed_s")}
    best = {"score": (-math.inf, -math.inf), "update": 0}
    best_params = {k: v.copy() for k, v in params.items()}
    snapshots, recent = [], []
    start, stopped = 1, None
    t0 = time.perf_counter()
    if resume:
        arrays, meta = checkpoint.load()
        for name, p in (("params", params), ("bparams", bparams)):
            for k, v in unflatten(arrays, name).items():
                p[k][...] = v
        opt.load_state_dict(unflatten(arrays, "opt"))
        bopt.load_state_dict(unflatten(arrays, "bopt"))
        best_params = unflatten(arrays, "best")
        snapshots = [{"recon": r, "window_boxes": w} for r, w in
                     zip(arrays.get("snap_recon", []), arrays.get("snap_boxes", []))]
        if norm is not None:
            vars(norm).update(meta["norm"])
        hist, best = meta["history"], {**meta["best"], "score": tuple(meta["best"]["score"])}
        stream.restore(meta["stream"])
        set_rng_state(rng, meta["rng"])
        start, t0 = meta["update"] + 1, t0 - meta["elapsed_s"]
    bar = tqdm(range(start, cfg.updates + 1), disable=not progress, desc=f"AIR {cfg.estimator}", unit="upd",
               mininterval=2.0, initial=start - 1, total=cfg.updates)
    gnorm = float("nan")
    for step in bar:
        x = stream.next()
        stats, grads, bgrads = train_step(params, bparams, x, cfg, rng, norm, count_k_at(cfg, step - 1))
        if not (np.isfinite(stats["elbo"]) and all(np.all(np.isfinite(g)) for g in grads.values())):
            stopped = f"the ELBO or its gradient became non-finite ({stats['elbo']}) at update {step}"
            break
        opt.lr = cosine_lr(cfg.lr, cfg.lr_final, step - 1, cfg.updates)
        gnorm = opt.step(params, grads)
        if bgrads is not None:
            bopt.lr = opt.lr * cfg.baseline_lr_mult
            bopt.step(bparams, bgrads)
        recent.append(stats)
        if step % cfg.eval_every == 0 or step == cfg.updates:
            ev = evaluate(params, data["valid"], cfg, elbo_seed=eval_seed)
            score = (ev["count_accuracy"], ev["elbo"])
            if score > best["score"]:
                best = {"score": score, "update": step, "valid_count_accuracy": ev["count_accuracy"],
                        "valid_elbo": ev["elbo"]}
                best_params = {k: v.copy() for k, v in params.items()}
            for k, v in (("update", step), ("train_elbo", float(np.mean([r["elbo"] for r in recent]))),
                         ("train_n_mean", float(np.mean([r["n_mean"] for r in recent]))),
                         ("baseline_loss", float(np.mean([r["baseline_loss"] for r in recent]))),
                         ("valid_elbo", ev["elbo"]), ("valid_count_accuracy", ev["count_accuracy"]),
                         ("valid_share_all_steps", ev["share_all_steps"]),
                         ("valid_iou_object", ev["iou_object"]), ("lr", opt.lr), ("grad_norm", gnorm),
                         ("elapsed_s", time.perf_counter() - t0)):
                hist[k].append(v)
            recent = []
            if snapshot_images is not None:
                inf = infer(params, snapshot_images, cfg)
                snapshots.append({"recon": inf["recon"].astype(np.float16),
                                  "window_boxes": inf["window_boxes"].astype(np.float32)})
            bar.set_postfix(elbo=f"{hist['train_elbo'][-1]:.0f}", val_acc=f"{ev['count_accuracy']:.3f}",
                            all3=f"{ev['share_all_steps']:.2f}",
                            best=f"{best['valid_count_accuracy']:.3f}@{best['update']}")
            if checkpoint is not None:
                arrays = flatten({"params": params, "bparams": bparams, "opt": opt.state_dict(),
                                  "bopt": bopt.state_dict(), "best": best_params})
                if snapshots:
                    arrays["snap_recon"] = np.stack([sn["recon"] for sn in snapshots])
                    arrays["snap_boxes"] = np.stack([sn["window_boxes"] for sn in snapshots])
                checkpoint.save(arrays, {"update": step, "history": hist, "best": best, "rng": rng_state(rng),
                                         "stream": stream.state(), "elapsed_s": time.perf_counter() - t0,
                                         "norm": None if norm is None else vars(norm)})
    best.pop("score")
    snaps = None
    if snapshots:
        snaps = {"recon": np.stack([s["recon"] for s in snapshots]),
                 "window_boxes": np.stack([s["window_boxes"] for s in snapshots])}
    return {"params": best_params, "history": hist, "best": best, "snapshots": snaps,
            "train_time_s": time.perf_counter() - t0, "chunks": stream.chunks, "stopped_early": stopped}
