"""The denoising autoencoder of Reconstruction Clustering (thesis Sec. 4.2.1 and 4.3.3).

One hidden layer (ReLU, tanh or sigmoid), a linear layer back to the D pixels, a sigmoid giving the
Bernoulli means mu (eq. 4.1), binary cross-entropy summed over pixels, salt-and-pepper noise on the
input only. Trained to remove the noise from single-object images, with early stopping on the
validation loss.

Parameters: W_enc (D, H), b_enc (H,), W_dec (H, D), b_dec (D,).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from common.layers import (activation_backward, activation_forward, bce_logits_backward, bce_logits_forward,
                           glorot, linear_backward, linear_forward, sigmoid)
from common.optim import Adam

__all__ = ["init_dae", "salt_and_pepper", "encode", "decode", "dae_loss_forward", "dae_loss_backward",
           "dae_loss_and_grads", "TrainResult", "train_dae", "dae_loss"]


def init_dae(D: int, H: int, rng: np.random.Generator, dtype=np.float32) -> dict[str, np.ndarray]:
    """Glorot-uniform weights, zero biases."""
    return {"W_enc": glorot(rng, D, H, dtype), "b_enc": np.zeros(H, dtype),
            "W_dec": glorot(rng, H, D, dtype), "b_dec": np.zeros(D, dtype)}


def salt_and_pepper(x: np.ndarray, p: float, rng: np.random.Generator) -> np.ndarray:
    """With probability p each pixel of x (..., D) is replaced by 0 or 1 with equal odds."""
    if p <= 0:
        return x
    hit = rng.random(x.shape, dtype=np.float32) < p
    salt = rng.random(x.shape, dtype=np.float32) < 0.5
    return np.where(hit, salt.astype(x.dtype), x)


def encode(x: np.ndarray, p: dict, activation: str):
    """z = act(x W_enc + b_enc). x: (..., D) -> z: (..., H), cache."""
    a, c_lin = linear_forward(x, p["W_enc"], p["b_enc"])
    z, c_act = activation_forward(a, activation)
    return z, (c_lin, c_act)


def decode(z: np.ndarray, p: dict):
    """Logits l = z W_dec + b_dec and mu = sigmoid(l). z: (..., H) -> (l, mu): (..., D), cache."""
    logits, c_lin = linear_forward(z, p["W_dec"], p["b_dec"])
    return (logits, sigmoid(logits)), c_lin


def dae_loss_forward(x_in: np.ndarray, x_target: np.ndarray, p: dict, activation: str):
    """Mean over the batch of the pixel-summed BCE of decode(encode(x_in)) against x_target.

    x_in (noisy), x_target (clean): (N, D). Returns (loss scalar, cache).
    """
    z, c_enc = encode(x_in, p, activation)
    (logits, _), c_dec = decode(z, p)
    per, c_bce = bce_logits_forward(logits, x_target)
    return float(per.mean()), (c_enc, c_dec, c_bce, x_in.shape[0])


def dae_loss_backward(cache) -> dict[str, np.ndarray]:
    """Gradients of dae_loss_forward's loss with respect to every parameter."""
    (c_lin1, c_act), c_dec, c_bce, n = cache
    dlogits = bce_logits_backward(np.full(n, 1.0 / n, dtype=c_bce[0].dtype), c_bce)
    dz, g_dec = linear_backward(dlogits, c_dec)
    _, g_enc = linear_backward(activation_backward(dz, c_act), c_lin1)
    return {"W_enc": g_enc["W"], "b_enc": g_enc["b"], "W_dec": g_dec["W"], "b_dec": g_dec["b"]}


def dae_loss_and_grads(x_in, x_target, p, activation):
    loss, cache = dae_loss_forward(x_in, x_target, p, activation)
    return loss, dae_loss_backward(cache)


def dae_loss(x_in: np.ndarray, x_target: np.ndarray, p: dict, activation: str, chunk: int = 2000) -> float:
    """Mean BCE over a whole set, in chunks (no caches kept)."""
    total = 0.0
    for a in range(0, len(x_in), chunk):
        loss, _ = dae_loss_forward(x_in[a:a + chunk], x_target[a:a + chunk], p, activation)
        total += loss * len(x_in[a:a + chunk])
    return total / max(len(x_in), 1)


@dataclass
class TrainResult:
    params: dict
    history: dict          # epoch, train_loss, valid_loss, seconds
    best_epoch: int
    best_valid_loss: float
    epochs_run: int
    seconds: float


def _sgd_step(params: dict, grads: dict, lr: float) -> None:
    for k in params:
        params[k] -= np.asarray(lr, params[k].dtype) * grads[k]


def train_dae(x_train: np.ndarray, x_valid: np.ndarray, rng: np.random.Generator, *, hidden: int,
              activation: str, noise: float, lr: float, optimizer: str = "adam", batch: int = 100,
              max_epochs: int = 50, patience: int = 10, max_seconds: float | None = None,
              callback=None) -> TrainResult:
    """Train a DAE on binary images (N, D) float32; keep the parameters of the best validation epoch.

    Validation loss is the denoising loss on ONE fixed noisy copy of x_valid (drawn once from rng),
    so epochs are compared on the same corruption. Stops after ``patience`` epochs without a new
    best (thesis: 10), after ``max_epochs``, or when ``max_seconds`` is exceeded.
    optimizer: "sgd" (the thesis) or "adam".
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
    hist = {"epoch": [0], "train_loss": [float("nan")], "valid_loss": [best_loss], "seconds": [0.0]}
    epoch = 0
    for epoch in range(1, max_epochs + 1):
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
        hist["seconds"].append(time.perf_counter() - t0)
        if callback is not None:
            callback(epoch, tot / N, v)
        if np.isfinite(v) and v < best_loss:
            best_loss, best_epoch = v, epoch
            best = {k: p.copy() for k, p in params.items()}
        if epoch - best_epoch >= patience:
            break
        if max_seconds is not None and time.perf_counter() - t0 > max_seconds:
            break
    return TrainResult(best, hist, best_epoch, float(best_loss), epoch, time.perf_counter() - t0)
