"""Training the DAE of Reconstruction Clustering: minibatch Adam (ours) or SGD (the thesis) on
noisy single- (or multi-) object images, early stopping on the validation denoising loss."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from common.checkpoint import TrainingCheckpoint, flatten, rng_state, set_rng_state, unflatten
from common.optim import Adam

from .config import TRAIN_ON, DAEConfig
from .dae import dae_loss, dae_loss_and_grads, init_dae, salt_and_pepper

__all__ = ["TrainResult", "train_dae", "dae_data", "fit_dae"]


@dataclass
class TrainResult:
    params: dict
    history: dict          # epoch, train_loss, valid_loss, elapsed_s (epoch 0 = the initial weights)
    best_epoch: int
    best_valid_loss: float
    epochs_run: int
    train_time_s: float
    stopped_early: str | None = None   # why a non-finite loss stopped training (params: the best before it)


def _sgd_step(params: dict, grads: dict, lr: float) -> None:
    for k in params:
        params[k] -= np.asarray(lr, params[k].dtype) * grads[k]


def train_dae(x_train: np.ndarray, x_valid: np.ndarray, rng: np.random.Generator, *, hidden: int,
              activation: str, noise: float, lr: float, optimizer: str = "adam", batch: int = 100,
              max_epochs: int = 50, patience: int = 10, max_seconds: float | None = None,
              callback=None, checkpoint: TrainingCheckpoint | None = None, resume: bool = False) -> TrainResult:
    """Train a DAE on binary images (N, D) float32; keep the parameters of the best validation epoch.

    Validation loss is the denoising loss on ONE fixed noisy copy of x_valid (drawn once from rng),
    so epochs are compared on the same corruption. Stops after ``patience`` epochs without a new
    best (thesis: 10), after ``max_epochs``, or when ``max_seconds`` is exceeded.
    optimizer: "sgd" (the thesis) or "adam".
    checkpoint: written after every epoch (parameters, optimiser, the rng's state, history, best
    so far, whether training has stopped); ``resume`` continues from it exactly.
    """
    if optimizer not in ("sgd", "adam"):
        raise ValueError(f"optimizer must be 'sgd' or 'adam', got {optimizer!r}")
    t0 = time.perf_counter()
    N, D = x_train.shape
    params = init_dae(D, hidden, rng)
    opt = Adam(lr=lr) if optimizer == "adam" else None
    x_valid_noisy = salt_and_pepper(x_valid, noise, rng)
    best = {k: v.copy() for k, v in params.items()}
    best_loss = dae_loss(x_valid_noisy, x_valid, params, activation)
    best_epoch = 0
    hist = {"epoch": [0], "train_loss": [float("nan")], "valid_loss": [best_loss], "elapsed_s": [0.0]}
    epoch, first, stop, stopped = 0, 1, False, None
    if resume:
        arrays, meta = checkpoint.load()
        for k, v in unflatten(arrays, "params").items():
            params[k][...] = v
        if opt is not None:
            opt.load_state_dict(unflatten(arrays, "opt"))
        best = unflatten(arrays, "best")
        hist, best_loss, best_epoch, stop = meta["history"], meta["best_loss"], meta["best_epoch"], meta["stop"]
        stopped = meta.get("stopped_early")
        set_rng_state(rng, meta["rng"])
        epoch = meta["epoch"]
        first, t0 = epoch + 1, t0 - meta["elapsed_s"]
    for epoch in range(first, (epoch if stop else max_epochs) + 1):   # none left if it had stopped
        order = rng.permutation(N)
        tot = 0.0
        for a in range(0, N, batch):
            xb = x_train[order[a:a + batch]]
            loss, grads = dae_loss_and_grads(salt_and_pepper(xb, noise, rng), xb, params, activation)
            tot += loss * len(xb)
            if opt is not None:
                opt.step(params, grads)
            else:
                _sgd_step(params, grads, lr)
        v = dae_loss(x_valid_noisy, x_valid, params, activation)
        hist["epoch"].append(epoch)
        hist["train_loss"].append(tot / N)
        hist["valid_loss"].append(v)
        hist["elapsed_s"].append(time.perf_counter() - t0)
        if callback is not None:
            callback(epoch, tot / N, v)
        diverged = not (np.isfinite(tot) and np.isfinite(v))    # the weights of this epoch are garbage
        if not diverged and v < best_loss:
            best_loss, best_epoch = v, epoch
            best = {k: p.copy() for k, p in params.items()}
        stop = epoch - best_epoch >= patience or (max_seconds is not None and time.perf_counter() - t0 > max_seconds)
        if diverged:
            stopped, stop = f"non-finite DAE loss at epoch {epoch} (train {tot / N:.3g}, validation {v:.3g})", True
        if checkpoint is not None:
            state = {"params": params, "best": best, **({"opt": opt.state_dict()} if opt is not None else {})}
            checkpoint.save(flatten(state), {"epoch": epoch, "history": hist, "best_loss": best_loss,
                                             "best_epoch": best_epoch, "stop": stop, "rng": rng_state(rng),
                                             "stopped_early": stopped,
                                             "elapsed_s": time.perf_counter() - t0})
        if stop:
            break
    return TrainResult(best, hist, best_epoch, float(best_loss), epoch, time.perf_counter() - t0, stopped)


def _flat(images: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(images.reshape(len(images), -1), dtype=np.float32)


def dae_data(data, train_on: str) -> tuple[np.ndarray, np.ndarray]:
    """(x_train, x_valid) flattened (N, D) float32 for the DAE: single- or multi-object images.

    data: a ``data.RCDataset``.
    """
    if train_on not in TRAIN_ON:
        raise ValueError(f"train_on must be one of {TRAIN_ON}, got {train_on!r}")
    src = data.single if train_on == "single" else data.multi
    return _flat(src["train"].images), _flat(src["valid"].images)


def fit_dae(data, cfg: DAEConfig, train_on: str, rng: np.random.Generator, callback=None,
            checkpoint: TrainingCheckpoint | None = None, resume: bool = False) -> TrainResult:
    """Train the DAE of ``cfg`` on ``data``'s ``train_on``-object images."""
    x_train, x_valid = dae_data(data, train_on)
    return train_dae(x_train, x_valid, rng, hidden=cfg.hidden, activation=cfg.activation, noise=cfg.noise,
                     lr=cfg.lr, optimizer=cfg.optimizer, batch=cfg.batch, max_epochs=cfg.max_epochs,
                     patience=cfg.patience, max_seconds=cfg.max_seconds, callback=callback,
                     checkpoint=checkpoint, resume=resume)
