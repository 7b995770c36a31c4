"""The denoising autoencoder of Reconstruction Clustering (thesis Sec. 4.2.1 and 4.3.3), as
forward/backward pairs.

One hidden layer (ReLU, tanh or sigmoid), a linear layer back to the D pixels, a sigmoid giving the
Bernoulli means mu (eq. 4.1), binary cross-entropy summed over pixels, salt-and-pepper noise on the
input only. Training (early stopping on the validation loss) is in ``train.py``.

Parameters: W_enc (D, H), b_enc (H,), W_dec (H, D), b_dec (D,).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from common.layers import (activation_backward, activation_forward, bce_logits_backward, bce_logits_forward,
                           glorot, linear_backward, linear_forward, sigmoid)

__all__ = ["EncodeCache", "DAELossCache", "init_dae", "salt_and_pepper", "encode", "decode",
           "dae_loss_forward", "dae_loss_backward", "dae_loss_and_grads", "dae_loss", "PARAM_NAMES"]

PARAM_NAMES = ("W_enc", "b_enc", "W_dec", "b_dec")


class EncodeCache(NamedTuple):
    linear: Any        # common.layers.linear_forward cache
    act: Any           # common.layers.activation_forward cache


class DAELossCache(NamedTuple):
    enc: EncodeCache
    dec: Any           # linear_forward cache of the decoder
    bce: Any           # bce_logits_forward cache
    n: int             # batch size (the loss is the batch mean)


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


def encode(x: np.ndarray, p: dict, activation: str) -> tuple[np.ndarray, EncodeCache]:
    """z = act(x W_enc + b_enc). x: (..., D) -> z: (..., H), cache."""
    a, c_lin = linear_forward(x, p["W_enc"], p["b_enc"])
    z, c_act = activation_forward(a, activation)
    return z, EncodeCache(c_lin, c_act)


def decode(z: np.ndarray, p: dict):
    """Logits l = z W_dec + b_dec and mu = sigmoid(l). z: (..., H) -> ((l, mu): (..., D), cache)."""
    logits, c_lin = linear_forward(z, p["W_dec"], p["b_dec"])
    return (logits, sigmoid(logits)), c_lin


def dae_loss_forward(x_in: np.ndarray, x_target: np.ndarray, p: dict, activation: str
                     ) -> tuple[float, DAELossCache]:
    """Mean over the batch of the pixel-summed BCE of decode(encode(x_in)) against x_target.

    x_in (noisy), x_target (clean): (N, D). Returns (loss scalar, cache).
    """
    z, c_enc = encode(x_in, p, activation)
    (logits, _), c_dec = decode(z, p)
    per, c_bce = bce_logits_forward(logits, x_target)
    return float(per.mean()), DAELossCache(c_enc, c_dec, c_bce, x_in.shape[0])


def dae_loss_backward(cache: DAELossCache) -> dict[str, np.ndarray]:
    """Gradients of dae_loss_forward's loss with respect to every parameter."""
    dlogits = bce_logits_backward(np.full(cache.n, 1.0 / cache.n, dtype=cache.bce[0].dtype), cache.bce)
    dz, g_dec = linear_backward(dlogits, cache.dec)
    _, g_enc = linear_backward(activation_backward(dz, cache.enc.act), cache.enc.linear)
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
