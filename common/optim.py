"""Adam (Kingma & Ba 2015, Algorithm 1) with bias correction and global L2-norm gradient clipping.

Parameters and gradients are dicts name -> array; the optimiser keeps its moments by the same
names and updates the parameter arrays in place (their dtype is kept, so float32 training stays
float32).
"""

from __future__ import annotations

import math
from typing import Mapping, MutableMapping

import numpy as np

__all__ = ["global_norm", "clip_by_global_norm", "cosine_lr", "Adam"]


def global_norm(grads: Mapping[str, np.ndarray]) -> float:
    """sqrt(sum over all arrays of sum(g**2)), accumulated in float64."""
    return math.sqrt(sum(float(np.sum(np.square(g, dtype=np.float64))) for g in grads.values()))


def clip_by_global_norm(grads: Mapping[str, np.ndarray], max_norm: float
                        ) -> tuple[dict[str, np.ndarray], float]:
    """Scale all gradients by min(1, max_norm / ||g||) (Pascanu et al. 2013).

    Returns (clipped grads as new arrays, the norm before clipping). A non-finite norm raises,
    because an update from it would silently destroy the parameters.
    """
    if not max_norm > 0:
        raise ValueError(f"max_norm must be > 0, got {max_norm}")
    norm = global_norm(grads)
    if not math.isfinite(norm):
        bad = [k for k, g in grads.items() if not np.all(np.isfinite(g))]
        raise FloatingPointError(f"non-finite gradient in {bad}")
    scale = min(1.0, max_norm / (norm + 1e-12))
    return {k: (g * np.asarray(scale, dtype=g.dtype)) for k, g in grads.items()}, norm


def cosine_lr(lr: float, lr_final: float, update: int, updates: int) -> float:
    """Learning rate for update ``update`` (0-based) of ``updates``: cosine decay from ``lr`` at
    the first update to ``lr * lr_final`` at the last (lr_final is a fraction of the initial
    rate, 1 = constant; Loshchilov & Hutter 2017, without restarts)."""
    if updates < 1:
        raise ValueError(f"updates must be >= 1, got {updates}")
    frac = update / max(updates - 1, 1)
    return lr * (lr_final + (1 - lr_final) * 0.5 * (1 + math.cos(math.pi * frac)))


class Adam:
    """Adam with per-parameter state keyed by name.

    step(params, grads): m <- b1 m + (1-b1) g;  v <- b2 v + (1-b2) g^2;
        p <- p - lr * m_hat / (sqrt(v_hat) + eps),  m_hat = m/(1-b1^t), v_hat = v/(1-b2^t).
    clip_norm: if set, gradients are first clipped to this global L2 norm.
    ``lr`` is a plain attribute, so a schedule can change it between steps.
    """

    def __init__(self, lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8, clip_norm: float | None = None):
        if not lr > 0:
            raise ValueError(f"learning rate must be > 0, got {lr}")
        if not (0.0 <= beta1 < 1.0 and 0.0 <= beta2 < 1.0):
            raise ValueError(f"betas must be in [0, 1), got {beta1}, {beta2}")
        if not eps > 0:
            raise ValueError(f"eps must be > 0, got {eps}")
        if clip_norm is not None and not clip_norm > 0:
            raise ValueError(f"clip_norm must be > 0 or None, got {clip_norm}")
        self.lr, self.beta1, self.beta2, self.eps, self.clip_norm = lr, beta1, beta2, eps, clip_norm
        self.t = 0
        self.m: dict[str, np.ndarray] = {}
        self.v: dict[str, np.ndarray] = {}

    def step(self, params: MutableMapping[str, np.ndarray], grads: Mapping[str, np.ndarray]) -> float:
        """Update ``params`` in place from ``grads``; returns the gradient norm before clipping."""
        unknown = set(grads) - set(params)
        if unknown:
            raise KeyError(f"gradients for unknown parameters: {sorted(unknown)}")
        # A parameter without a gradient would silently never train: refuse it.
        missing = set(params) - set(grads)
        if missing:
            raise KeyError(f"no gradient for parameters {sorted(missing)} (a backward forgot them?)")
        if self.clip_norm is not None:
            grads, norm = clip_by_global_norm(grads, self.clip_norm)
        else:
            norm = global_norm(grads)
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        c1, c2 = 1.0 - b1 ** self.t, 1.0 - b2 ** self.t  # bias corrections
        for name, g in grads.items():
            p = params[name]
            if g.shape != p.shape:
                raise ValueError(f"gradient of {name!r} has shape {g.shape}, parameter has {p.shape}")
            if name not in self.m:
                self.m[name] = np.zeros_like(p)
                self.v[name] = np.zeros_like(p)
            m, v = self.m[name], self.v[name]
            m *= b1
            m += (1.0 - b1) * g
            v *= b2
            v += (1.0 - b2) * np.square(g)
            p -= (self.lr * (m / c1) / (np.sqrt(v / c2) + self.eps)).astype(p.dtype, copy=False)
        return norm

    def state_dict(self) -> dict[str, np.ndarray]:
        """Flat dict of arrays (for an .npz checkpoint): t, m/<name>, v/<name>."""
        out = {"t": np.asarray(self.t)}
        out.update({f"m/{k}": a for k, a in self.m.items()})
        out.update({f"v/{k}": a for k, a in self.v.items()})
        return out

    def load_state_dict(self, state: Mapping[str, np.ndarray]) -> None:
        self.t = int(state["t"])
        self.m = {k[2:]: np.array(a) for k, a in state.items() if k.startswith("m/")}
        self.v = {k[2:]: np.array(a) for k, a in state.items() if k.startswith("v/")}
