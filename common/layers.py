"""Forward/backward pairs shared by the papers (the CS231n pattern).

Every op is ``x_forward(inputs, params) -> (out, cache)`` and ``x_backward(dout, cache) ->
(dinputs, grads)``. Arrays may have any leading batch dimensions; matrix products are done as
one 2-D GEMM over all leading rows (a 3-D @ 2-D matmul makes NumPy loop over small products,
measured 5x slower on these machines). dtype follows the inputs: float32 for training, float64
for gradient checks.
"""

from __future__ import annotations

import numpy as np

__all__ = ["ACTIVATIONS", "sigmoid", "softplus", "glorot", "mm", "outer",
           "linear_forward", "linear_backward", "activation_forward", "activation_backward",
           "bce_logits_forward", "bce_logits_backward"]

ACTIVATIONS = ("relu", "tanh", "sigmoid", "identity")


# ----------------------------------------------------------------------------- elementwise helpers

def sigmoid(a: np.ndarray) -> np.ndarray:
    """Logistic function as 0.5 + 0.5 tanh(a / 2): stable for any |a| and one transcendental
    instead of exp + where + divide (measured 2.4x faster on (64, 4, 784) float32)."""
    return 0.5 + 0.5 * np.tanh(0.5 * a)


def softplus(a: np.ndarray) -> np.ndarray:
    """log(1 + exp(a)), stable for large |a|."""
    return np.maximum(a, 0) + np.log1p(np.exp(-np.abs(a)))


def glorot(rng: np.random.Generator, fan_in: int, fan_out: int, dtype=np.float32) -> np.ndarray:
    """Glorot-uniform (fan_in, fan_out) weight matrix."""
    lim = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-lim, lim, size=(fan_in, fan_out)).astype(dtype)


def mm(a: np.ndarray, W: np.ndarray) -> np.ndarray:
    """(..., n) @ (n, m) -> (..., m) as ONE 2-D GEMM over all leading rows."""
    return (a.reshape(-1, a.shape[-1]) @ W).reshape(a.shape[:-1] + (W.shape[1],))


def outer(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Sum over all leading dims of a^T b: a (..., n), b (..., m) -> (n, m)."""
    return a.reshape(-1, a.shape[-1]).T @ b.reshape(-1, b.shape[-1])


# ----------------------------------------------------------------------------- affine

def linear_forward(x: np.ndarray, W: np.ndarray, b: np.ndarray):
    """y = x W + b.  x: (..., Din), W: (Din, Dout), b: (Dout,) -> y: (..., Dout)."""
    return mm(x, W) + b, (x, W)


def linear_backward(dy: np.ndarray, cache):
    """dy: (..., Dout) -> (dx (..., Din), {"W": (Din, Dout), "b": (Dout,)})."""
    x, W = cache
    return mm(dy, W.T), {"W": outer(x, dy), "b": dy.reshape(-1, dy.shape[-1]).sum(0)}


# ----------------------------------------------------------------------------- activations

def activation_forward(a: np.ndarray, kind: str):
    """Elementwise nonlinearity ``kind`` in ACTIVATIONS. Returns (h, cache)."""
    if kind == "relu":
        h = np.maximum(a, 0)
    elif kind == "tanh":
        h = np.tanh(a)
    elif kind == "sigmoid":
        h = sigmoid(a)
    elif kind == "identity":
        h = a
    else:
        raise ValueError(f"unknown activation {kind!r}; choose one of {ACTIVATIONS}")
    return h, (kind, a, h)


def activation_backward(dh: np.ndarray, cache) -> np.ndarray:
    """Gradient through the nonlinearity; derivatives written in terms of the output h where
    possible so no transcendental is recomputed. ReLU uses the subgradient 0 at a = 0."""
    kind, a, h = cache
    if kind == "relu":
        return dh * (a > 0)
    if kind == "tanh":
        return dh * (1 - h * h)
    if kind == "sigmoid":
        return dh * h * (1 - h)
    return dh


# ----------------------------------------------------------------------------- losses

def bce_logits_forward(logits: np.ndarray, target: np.ndarray, weight: np.ndarray | None = None):
    """Binary cross-entropy of sigmoid(logits) against target, summed over the last axis.

    logits, target: (..., D); weight: optional (..., D) per-pixel weights (e.g. an RC mask).
    Computed as softplus(l) - t l, which is exact and never takes log(0).
    Returns (loss (...,), cache).
    """
    per = softplus(logits) - target * logits
    if weight is not None:
        per = per * weight
    return per.sum(-1), (logits, target, weight)


def bce_logits_backward(dloss: np.ndarray, cache) -> np.ndarray:
    """dloss: (...,) or a scalar -> dlogits (..., D) = dloss (sigmoid(l) - t) [* weight]."""
    logits, target, weight = cache
    d = sigmoid(logits) - target
    if weight is not None:
        d = d * weight
    return d * np.asarray(dloss, dtype=logits.dtype)[..., None]
