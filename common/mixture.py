"""The Bernoulli spatial mixture shared by the EM-style grouping models (N-EM / RNN-EM, RC).

An image x (D,) is explained by K slots, slot k predicting pixel i on with probability psi_k,i;
with uniform mixing weights 1/K the image log-likelihood is (thesis eq. 4.7)

    log p(x) = sum_i log( (1/K) sum_k psi_k,i^x_i (1 - psi_k,i)^(1 - x_i) ).

Multiple-restart EM runs inference R times and keeps, per image, the run under which the image is
most likely: chosen by the model's own objective, never by labels.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["PSI_EPS", "pixel_likelihoods", "mixture_loglik", "merge_restarts", "slot_argmax"]

PSI_EPS = 1e-6   # keeps log(psi) finite when a sigmoid saturates to exactly 0 or 1 in float32


def pixel_likelihoods(psi: np.ndarray, x: np.ndarray, eps: float = PSI_EPS) -> np.ndarray:
    """p(x_i | slot k) = psi^x (1 - psi)^(1 - x) for binary x.

    psi: (B, K, D) Bernoulli means; x: (B, D) binary (> 0.5 counts as on).
    Returns (B, K, D) in psi's dtype, psi clipped to [eps, 1 - eps] first.
    """
    psi = np.clip(psi, eps, 1 - eps)
    return np.where(x[:, None, :] > 0.5, psi, 1 - psi)


def mixture_loglik(lik: np.ndarray) -> np.ndarray:
    """log p(x) (B,) float64 from per-slot pixel likelihoods lik (B, K, D) (``pixel_likelihoods``):
    sum over pixels of log of the mean over slots (eq. 4.7), accumulated in float64."""
    return np.log(lik.mean(axis=1, dtype=np.float64)).sum(axis=-1)


def merge_restarts(best: Sequence[np.ndarray], best_ll: np.ndarray, new: Sequence[np.ndarray],
                   new_ll: np.ndarray, image_axes: Sequence[int]) -> tuple[list[np.ndarray], np.ndarray]:
    """Per image, keep the run with the higher log-likelihood (ties keep ``best``).

    best, new: matching sequences of arrays; array j has the image axis at ``image_axes[j]``.
    best_ll, new_ll: (B,) log-likelihoods. Returns (merged arrays, merged log-likelihoods).
    """
    if not (len(best) == len(new) == len(image_axes)):
        raise ValueError("best, new and image_axes must have the same length")
    win = np.asarray(new_ll) > np.asarray(best_ll)                     # (B,)
    out = []
    for a, b, ax in zip(best, new, image_axes):
        shape = [1] * a.ndim
        shape[ax] = win.size
        out.append(np.where(win.reshape(shape), b, a))
    return out, np.where(win, new_ll, best_ll)


def slot_argmax(g: np.ndarray, axis: int = 1, out: np.ndarray | None = None) -> np.ndarray:
    """``g.argmax(axis)`` for a small slot axis (K = 2..12): the same indices (the first maximum
    wins; NaNs are never chosen), by K - 1 comparisons of contiguous rows instead of NumPy's
    strided reduction over the slot axis (about 2x faster on (250, 3, 784) float32, measured by
    reconstruction_clustering/bench.py). out: optional integer array to write into.
    """
    g = np.moveaxis(np.asarray(g), axis, 0)
    best = g[0].copy()
    idx = np.zeros(best.shape, np.int64) if out is None else out
    idx[...] = 0
    better = np.empty(best.shape, bool)
    for k in range(1, g.shape[0]):
        np.greater(g[k], best, out=better)
        np.copyto(idx, k, where=better)
        np.maximum(best, g[k], out=best)
    return idx
