"""The Reconstruction Clustering loop (thesis Sec. 4.2.4-4.2.5), vectorised over images x K.

    gamma_0 = |N(0, 1)| normalised over K                      (random init of the assignments m)
    repeat:  R-step  z_k = g(gamma_k * x),  psi_k = f(z_k)     (eq. 4.19: encode the masked image)
             E-step  gamma_k ∝ psi_k^x (1 - psi_k)^(1-x)        (eq. 4.12, uniform pi_k)
                     or hard: gamma = one-hot argmax_k (the k-means-like variant of Sec. 4.4.5)

The log-likelihood reported per iteration is eq. 4.7 with pi_k = 1/K, summed over pixels, of the
R-step's psi:  L = sum_i log (1/K) sum_k B(x_i; psi_ik).

Beyond the thesis (off by default): gamma_0 seeded on the image's ink (``init="ink"``) and
multiple restarts keeping the most likely run per image (``restarts``). The CLI chooses them per
run on validation AMI (``select_inference``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from common.metrics import grouping_score
from common.seeding import spatial_gamma
from .dae import decode, encode

__all__ = ["E_STEPS", "INITS", "init_gamma", "e_step", "RCTrace", "run_rc", "rc_scores"]

E_STEPS = ("soft", "hard")
INITS = ("random", "ink")
_EPS = 1e-6   # keeps log(psi) finite when the decoder saturates in float32


def init_gamma(n: int, K: int, D: int, rng: np.random.Generator, dtype=np.float32, *,
               kind: str = "random", width: float = 5.0, x: np.ndarray | None = None) -> np.ndarray:
    """Initial assignments (n, K, D), normalised over the K slots.

    kind "random": |N(0,1)| per pixel (the thesis). kind "ink": a soft Voronoi partition of
    width ``width`` px around K centres seeded by k-means++ on the ink of x (n, D)
    (``common.seeding``; uses only the input image).
    """
    if kind == "random":
        g = np.abs(rng.standard_normal((n, K, D), dtype=np.float32)).astype(dtype)
        return g / g.sum(axis=1, keepdims=True)
    if kind == "ink":
        return spatial_gamma(n, K, D, rng, kind="ink", width=width, x=x, dtype=dtype)
    raise ValueError(f"gamma_0 must be one of {INITS}, got {kind!r}")


def e_step(psi: np.ndarray, x: np.ndarray, kind: str = "soft"):
    """Posterior over slots per pixel and the image log-likelihood.

    psi: (n, K, D) Bernoulli means; x: (n, D) binary. Returns gamma (n, K, D), loglik (n,).
    """
    psi = np.clip(psi, _EPS, 1 - _EPS)
    lik = np.where(x[:, None, :] > 0.5, psi, 1 - psi)                  # (n, K, D)
    total = lik.sum(axis=1, keepdims=True)                             # (n, 1, D)
    loglik = np.log(total[:, 0, :] / psi.shape[1]).sum(-1)
    if kind == "soft":
        gamma = lik / total
    elif kind == "hard":
        gamma = np.zeros_like(lik)
        np.put_along_axis(gamma, lik.argmax(axis=1)[:, None, :], 1.0, axis=1)
    else:
        raise ValueError(f"E-step must be one of {E_STEPS}, got {kind!r}")
    return gamma, loglik


@dataclass
class RCTrace:
    """What RC did on a batch of n images with K slots over T iterations.

    pred:     (T+1, n, D) int16 argmax slot per pixel after each iteration (index 0 = gamma_0;
              with restarts, every field is the kept run's)
    loglik:   (T, n) log-likelihood after each R-step (eq. 4.7)
    gamma:    (n, K, D) final assignments
    psi:      (n, K, D) final reconstructions
    gammas, psis: (T+1, m, K, D), (T, m, K, D) full traces of the first m = keep images (or None)
    """
    pred: np.ndarray
    loglik: np.ndarray
    gamma: np.ndarray
    psi: np.ndarray
    gammas: np.ndarray | None = None
    psis: np.ndarray | None = None


def run_rc(images: np.ndarray, params: dict, activation: str, *, K: int, iterations: int = 10,
           rng: np.random.Generator, e_step_kind: str = "soft", keep: int = 0,
           chunk: int = 250, init: str = "random", width: float = 5.0, restarts: int = 1) -> RCTrace:
    """Run RC on binary images (n, D) (or (n, H, W), flattened) with a trained DAE.

    keep: number of leading images whose full gamma / psi trace is stored (for figures).
    chunk: images processed at once (bounds memory at chunk * K * D floats per array).
    init, width: gamma_0 (``init_gamma``); the thesis uses "random".
    restarts R > 1 runs RC R times from fresh gamma_0 and keeps, per image, the run with the
        highest final log-likelihood (eq. 4.7): multiple-restart EM, chosen without labels.
    """
    if K < 1 or iterations < 1 or restarts < 1:
        raise ValueError(f"K, iterations and restarts must be >= 1, got K={K}, "
                         f"iterations={iterations}, restarts={restarts}")
    if e_step_kind not in E_STEPS:
        raise ValueError(f"E-step must be one of {E_STEPS}, got {e_step_kind!r}")
    x_all = np.asarray(images, dtype=np.float32).reshape(len(images), -1)
    best = None
    for _ in range(restarts):
        g0 = init_gamma(len(x_all), K, x_all.shape[1], rng, kind=init, width=width, x=x_all)
        tr = _run_rc_once(x_all, g0, params, activation, iterations, e_step_kind, keep, chunk)
        best = tr if best is None else _keep_better(best, tr)
    return best


def _keep_better(a: RCTrace, b: RCTrace) -> RCTrace:
    """Per image, the trace with the higher final log-likelihood."""
    win = b.loglik[-1] > a.loglik[-1]                                   # (n,)
    img = win[:, None, None]                                            # per image, (n, K, D)
    m = 0 if a.gammas is None else a.gammas.shape[1]
    kept = win[None, :m, None, None]                                    # the first m images
    return RCTrace(np.where(win[None, :, None], b.pred, a.pred), np.where(win, b.loglik, a.loglik),
                   np.where(img, b.gamma, a.gamma), np.where(img, b.psi, a.psi),
                   None if a.gammas is None else np.where(kept, b.gammas, a.gammas),
                   None if a.psis is None else np.where(kept, b.psis, a.psis))


def _run_rc_once(x_all, g0, params, activation, iterations, e_step_kind, keep, chunk) -> RCTrace:
    """One RC run from gamma_0 g0 (n, K, D) on x_all (n, D), chunk images at a time."""
    n, D = x_all.shape
    K = g0.shape[1]
    pred = np.empty((iterations + 1, n, D), np.int16)
    loglik = np.empty((iterations, n), np.float64)
    gamma_out = np.empty((n, K, D), np.float32)
    psi_out = np.empty((n, K, D), np.float32)
    m = min(keep, n)
    gammas = np.empty((iterations + 1, m, K, D), np.float32) if m else None
    psis = np.empty((iterations, m, K, D), np.float32) if m else None
    for a in range(0, n, chunk):
        b = min(a + chunk, n)
        x, gamma = x_all[a:b], g0[a:b]
        pred[0, a:b] = gamma.argmax(axis=1)
        if a < m:
            gammas[0, a:min(b, m)] = gamma[:m - a]
        for t in range(iterations):
            z, _ = encode(gamma * x[:, None, :], params, activation)          # R-step, eq. 4.19
            (_, psi), _ = decode(z, params)
            gamma, ll = e_step(psi, x, e_step_kind)
            pred[t + 1, a:b] = gamma.argmax(axis=1)
            loglik[t, a:b] = ll
            if a < m:
                gammas[t + 1, a:min(b, m)] = gamma[:m - a]
                psis[t, a:min(b, m)] = psi[:m - a]
        gamma_out[a:b], psi_out[a:b] = gamma, psi
    return RCTrace(pred, loglik, gamma_out, psi_out, gammas, psis)


def rc_scores(trace: RCTrace, labels: np.ndarray) -> dict:
    """AMI (max and arithmetic) of the last iteration, per image, and AMI(max) per iteration.

    labels: (n, H, W) or (n, D) int, 0 = background / overlap (excluded).
    """
    true = np.asarray(labels).reshape(len(labels), -1)
    last = trace.pred[-1]
    mean_max, per_max = grouping_score(true, last, normalizer="max")
    mean_ar, per_ar = grouping_score(true, last, normalizer="arithmetic")
    per_iter = [grouping_score(true, p, normalizer="max")[0] for p in trace.pred]
    return {"ami_max": mean_max, "ami_arithmetic": mean_ar, "per_image_max": per_max,
            "per_image_arithmetic": per_ar, "ami_max_per_iteration": per_iter,
            "loglik_per_iteration_mean": trace.loglik.mean(axis=1).tolist(),
            "loglik_per_iteration_std": trace.loglik.std(axis=1).tolist()}
