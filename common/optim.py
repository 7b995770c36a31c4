"""Adam (Kingma & Ba 2015, Algorithm 1) with bias correction and global L2-norm gradient clipping.

Parameters and gradients are dicts name -> array; the optimiser keeps its moments by the same
names and updates the parameter arrays in place (their dtype is kept, so float32 training stays
float32).
"""

from __future__ import annotations

import math
import threading
from typing import Mapping, MutableMapping

import numpy as np

from common.parallel import map_chunks

__all__ = ["global_norm", "cosine_lr", "Adam"]


# Elementwise work runs over chunks of this many elements: the chunk of a parameter, its gradient,
# both moments and two scratch buffers (6 x 256 KiB in float32) stay in the L2 cache while all
# the passes of an update run over them, instead of streaming multi-MB arrays from memory once per
# pass (bench.py in each paper folder shows what it bought).
CHUNK = 1 << 16


def _chunks(n: int):
    return (slice(a, min(a + CHUNK, n)) for a in range(0, n, CHUNK))


_LOCAL = threading.local()


def _scratch(dtype) -> np.ndarray:
    """A CHUNK-sized scratch buffer per thread and dtype, kept between steps."""
    bufs = _LOCAL.__dict__.setdefault("buffers", {})
    key = np.dtype(dtype)
    if key not in bufs:
        bufs[key] = np.empty(CHUNK, key)
    return bufs[key]


def global_norm(grads: Mapping[str, np.ndarray]) -> float:
    """sqrt(sum over all arrays of sum(g**2)): each chunk's sum of squares is one BLAS dot in the
    gradient's dtype (no squared copy), the chunks are summed in float64 (relative error ~1e-8
    in float32, measured; a clip threshold and a logged norm need no more)."""
    total = 0.0
    for g in grads.values():
        flat = np.ravel(g)
        for sl in _chunks(flat.size):
            total += float(np.dot(flat[sl], flat[sl]))
    return math.sqrt(total)


def _clip_scale(grads: Mapping[str, np.ndarray], max_norm: float) -> tuple[float, float]:
    """(scale, norm before clipping) of global-norm clipping; a non-finite norm raises."""
    if not max_norm > 0:
        raise ValueError(f"max_norm must be > 0, got {max_norm}")
    norm = global_norm(grads)
    if not math.isfinite(norm):
        bad = [k for k, g in grads.items() if not np.all(np.isfinite(g))]
        raise FloatingPointError(f"non-finite gradient in {bad}")
    return min(1.0, max_norm / (norm + 1e-12)), norm


def cosine_lr(lr: float, lr_final: float, update: int, updates: int) -> float:
    """Learning rate for update ``update`` (0-based) of ``updates``: cosine decay from ``lr`` at
    the first update to ``lr * lr_final`` at the last (lr_final is a fraction of the initial
    rate, 1 = constant; Loshchilov & Hutter 2017, without restarts)."""
    if updates < 1:
        raise ValueError(f"updates must be >= 1, got {updates}")
    frac = update / max(updates - 1, 1)
    return lr * (lr_final + (1 - lr_final) * 0.5 * (1 + math.cos(math.pi * frac)))


# Adam keeps its moments with lazy decay scales (below); a stored moment is rescaled once its
# scale has decayed below this (about every 87 updates for beta1 = 0.9, 9,200 for beta2 = 0.999).
RESCALE_BELOW = 1e-4


class Adam:
    """Adam with per-parameter state keyed by name.

    step(params, grads): m <- b1 m + (1-b1) g;  v <- b2 v + (1-b2) g^2;
        p <- p - lr * m_hat / (sqrt(v_hat) + eps),  m_hat = m/(1-b1^t), v_hat = v/(1-b2^t).
    clip_norm: if set, gradients are first clipped to this global L2 norm.
    ``lr`` is a plain attribute, so a schedule can change it between steps.

    The update runs in place over chunks of CHUNK elements (cache-resident, no temporaries) with
    ten elementwise passes per chunk instead of thirteen: the moments are stored as m = S_m m~ and
    v = S_v v~ with scalar scales S shared by all parameters, so the decays b1 m and b2 v are two
    scalar multiplications (S <- b S) instead of two passes over every parameter, and the bias
    corrections and the clip scale fold into scalars too. When a scale falls below RESCALE_BELOW
    the stored moments absorb it (one extra pass, then S = 1), which keeps them far from float32
    overflow. ``moments(name)`` gives the true (m, v). The chunks are independent, so with
    --threads > 1 they run on ``common.parallel``'s worker threads (same numbers).
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
        self.m: dict[str, np.ndarray] = {}     # stored m~ (true m = m_scale * m~)
        self.v: dict[str, np.ndarray] = {}     # stored v~ (true v = v_scale * v~)
        self.m_scale = self.v_scale = 1.0

    def step(self, params: MutableMapping[str, np.ndarray], grads: Mapping[str, np.ndarray]) -> float:
        """Update ``params`` in place from ``grads``; returns the gradient norm before clipping."""
        unknown = set(grads) - set(params)
        if unknown:
            raise KeyError(f"gradients for unknown parameters: {sorted(unknown)}")
        # A parameter without a gradient would silently never train: refuse it.
        missing = set(params) - set(grads)
        if missing:
            raise KeyError(f"no gradient for parameters {sorted(missing)} (a backward forgot them?)")
        for name, g in grads.items():
            if g.shape != params[name].shape:
                raise ValueError(f"gradient of {name!r} has shape {g.shape}, parameter has {params[name].shape}")
            if not params[name].flags.c_contiguous:
                raise ValueError(f"parameter {name!r} is not C-contiguous; Adam updates it in place")
        if self.clip_norm is not None:
            clip, norm = _clip_scale(grads, self.clip_norm)
        else:
            clip, norm = 1.0, global_norm(grads)
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        c1, c2 = 1.0 - b1 ** self.t, 1.0 - b2 ** self.t  # bias corrections
        # Decay the scales; a scale below RESCALE_BELOW is absorbed into the stored moment now.
        sm, sv = self.m_scale * b1, self.v_scale * b2
        rescale_m, sm = (sm, 1.0) if sm < RESCALE_BELOW else (None, sm)
        rescale_v, sv = (sv, 1.0) if sv < RESCALE_BELOW else (None, sv)
        self.m_scale, self.v_scale = sm, sv
        # m~ += a g_c and v~ += a g_c^2 * cv (g_c = clip * g), so that S_m m~ and S_v v~ are the
        # new moments; then p -= step * m~ / (sqrt(v~) + eps_v), which is lr m_hat / (sqrt(v_hat) + eps).
        a = clip * (1.0 - b1) / sm
        cv = clip * clip * (1.0 - b2) / sv / a
        root = math.sqrt(sv / c2)
        step_size, eps_v = self.lr * sm / c1 / root, self.eps / root
        work = []
        for name, g in grads.items():
            p = params[name]
            if name not in self.m:
                self.m[name] = np.zeros_like(p)
                self.v[name] = np.zeros_like(p)
            pf, gf = p.reshape(-1), np.ravel(g).astype(p.dtype, copy=False)
            mf, vf = self.m[name].reshape(-1), self.v[name].reshape(-1)
            work += [(pf[sl], gf[sl], mf[sl], vf[sl]) for sl in _chunks(pf.size)]

        def update(chunk) -> None:
            p, gs, m, v = chunk
            t = _scratch(p.dtype)[:p.size]
            if rescale_m is not None:
                m *= rescale_m
            if rescale_v is not None:
                v *= rescale_v
            # Python floats are weak scalars: float32 state stays float32.
            np.multiply(gs, a, out=t)
            m += t
            t *= gs
            t *= cv
            v += t
            np.sqrt(v, out=t)
            t += eps_v
            np.divide(m, t, out=t)
            t *= step_size
            p -= t

        # Chunks are independent: with --threads > 1 they run on the worker threads.
        map_chunks(update, work)
        return norm

    def moments(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """The true first and second moments (m, v) of parameter ``name`` (new arrays)."""
        return self.m[name] * self.m_scale, self.v[name] * self.v_scale

    def state_dict(self) -> dict[str, np.ndarray]:
        """Flat dict of arrays (for an .npz checkpoint): t, the scales, m/<name>, v/<name> (stored)."""
        out = {"t": np.asarray(self.t), "m_scale": np.asarray(self.m_scale), "v_scale": np.asarray(self.v_scale)}
        out.update({f"m/{k}": a for k, a in self.m.items()})
        out.update({f"v/{k}": a for k, a in self.v.items()})
        return out

    def load_state_dict(self, state: Mapping[str, np.ndarray]) -> None:
        self.t = int(state["t"])
        self.m_scale = float(state.get("m_scale", 1.0))
        self.v_scale = float(state.get("v_scale", 1.0))
        self.m = {k[2:]: np.array(a) for k, a in state.items() if k.startswith("m/")}
        self.v = {k[2:]: np.array(a) for k, a in state.items() if k.startswith("v/")}
