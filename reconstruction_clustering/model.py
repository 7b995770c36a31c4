"""The Reconstruction Clustering loop (thesis Sec. 4.2.4-4.2.5), vectorised over images x K.

    gamma_0 = |N(0, 1)| normalised over K                      (random init of the assignments m)
    repeat:  R-step  z_k = g(gamma_k * x),  psi_k = f(z_k)     (eq. 4.19: encode the masked image)
             E-step  gamma_k ∝ psi_k^x (1 - psi_k)^(1-x)        (eq. 4.12, uniform pi_k)
                     or hard: gamma = one-hot argmax_k (the k-means-like variant of Sec. 4.4.5)

The log-likelihood reported per iteration is eq. 4.7 with pi_k = 1/K, summed over pixels, of the
R-step's psi (psi clipped to [1e-6, 1 - 1e-6]; the E-step's normaliser sum_k p(x_i | k) is the
mixture likelihood, so both come from one pass).

Beyond the thesis (off by default): gamma_0 seeded on the image's ink (``init="ink"``, a soft
Voronoi partition of width ``width_frac`` x the image side) and multiple restarts keeping the most
likely run per image (``restarts``). The CLI chooses them per run on validation AMI
(``evaluate.select_inference``). gamma_0 is ``common.seeding.initial_gamma``, shared with N-EM.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from common.mixture import merge_restarts, pixel_likelihoods, slot_argmax
from common.parallel import chunk_starts, map_chunks
from common.seeding import initial_gamma

from .config import E_STEPS
from .dae import decode, encode

__all__ = ["E_STEPS", "INITS", "e_step", "RCTrace", "run_rc"]

INITS = ("random", "ink")


def e_step(psi: np.ndarray, x: np.ndarray, kind: str = "soft"):
    """Posterior over slots per pixel and the image log-likelihood.

    psi: (n, K, D) Bernoulli means; x: (n, D) binary. Returns gamma (n, K, D) in psi's dtype,
    loglik (n,) float64 (eq. 4.7).
    """
    if kind not in E_STEPS:
        raise ValueError(f"E-step must be one of {E_STEPS}, got {kind!r}")
    lik = pixel_likelihoods(psi, x)                                    # (n, K, D), clipped psi
    total = lik.sum(axis=1, keepdims=True)                             # K p(x_i), one pass for both
    loglik = np.log(total[:, 0], dtype=np.float64).sum(axis=-1) - x.shape[-1] * np.log(lik.shape[1])
    if kind == "soft":
        lik /= total
        return lik, loglik
    gamma = np.zeros_like(lik)
    np.put_along_axis(gamma, slot_argmax(lik)[:, None, :], 1.0, axis=1)
    return gamma, loglik


@dataclass
class RCTrace:
    """What RC did on a batch of n images with K slots over T iterations.

    pred:     (T+1, n, D) int16 argmax slot per pixel after each iteration (index 0 = gamma_0;
              with restarts, every field is the kept run's)
    loglik:   (T, n) float64 log-likelihood after each R-step (eq. 4.7)
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
           chunk: int = 250, init: str = "random", width_frac: float = 0.0, restarts: int = 1) -> RCTrace:
    """Run RC on binary square images (n, D) or (n, H, W) with a trained DAE.

    keep: number of leading images whose full gamma / psi trace is stored (for figures).
    chunk: images processed at once (bounds memory at chunk * K * D floats per array).
    init: gamma_0, "random" (the thesis) or "ink" (``common.seeding.initial_gamma``); width_frac:
        the width of the "ink" partition as a FRACTION of the image side (as run.json stores it).
    restarts R > 1 runs RC R times from fresh gamma_0 and keeps, per image, the run with the
        highest final log-likelihood (eq. 4.7): multiple-restart EM, chosen without labels.
    """
    if K < 1 or iterations < 1 or restarts < 1:
        raise ValueError(f"K, iterations and restarts must be >= 1, got K={K}, "
                         f"iterations={iterations}, restarts={restarts}")
    if e_step_kind not in E_STEPS:
        raise ValueError(f"E-step must be one of {E_STEPS}, got {e_step_kind!r}")
    if init not in INITS:
        raise ValueError(f"gamma_0 must be one of {INITS}, got {init!r}")
    if init == "ink" and not width_frac > 0:
        raise ValueError(f"gamma_0 'ink' needs width_frac > 0, got {width_frac}")
    x_all = np.asarray(images, dtype=np.float32).reshape(len(images), -1)
    n, D = x_all.shape
    width = width_frac * np.sqrt(D)
    best = None
    for _ in range(restarts):
        g0 = initial_gamma(n, K, D, rng, kind=init, width=width if init == "ink" else 5.0, x=x_all)
        tr = _run_rc_once(x_all, g0, params, activation, iterations, e_step_kind, keep, chunk)
        best = tr if best is None else _merge(best, tr)
    return best


def _merge(a: RCTrace, b: RCTrace) -> RCTrace:
    """Per image, the trace with the higher final log-likelihood (``common.mixture.merge_restarts``)."""
    (pred, loglik, gamma, psi), _ = merge_restarts([a.pred, a.loglik, a.gamma, a.psi],
                                                   a.loglik[-1], [b.pred, b.loglik, b.gamma, b.psi],
                                                   b.loglik[-1], image_axes=(1, 1, 0, 0))
    gammas, psis = a.gammas, a.psis
    if a.gammas is not None:
        m = a.gammas.shape[1]
        (gammas, psis), _ = merge_restarts([a.gammas, a.psis], a.loglik[-1, :m], [b.gammas, b.psis],
                                           b.loglik[-1, :m], image_axes=(1, 1))
    return RCTrace(pred, loglik, gamma, psi, gammas, psis)


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

    def one(s: slice) -> None:       # RC on one chunk; writes only its own rows, draws nothing
        a, b = s.start, s.stop
        x, gamma = x_all[a:b], g0[a:b]
        slot_argmax(gamma, out=pred[0, a:b])
        if a < m:
            gammas[0, a:min(b, m)] = gamma[:m - a]
        for t in range(iterations):
            z, _ = encode(gamma * x[:, None, :], params, activation)          # R-step, eq. 4.19
            (_, psi), _ = decode(z, params)
            gamma, loglik[t, a:b] = e_step(psi, x, e_step_kind)
            slot_argmax(gamma, out=pred[t + 1, a:b])
            if a < m:
                gammas[t + 1, a:min(b, m)] = gamma[:m - a]
                psis[t, a:min(b, m)] = psi[:m - a]
        gamma_out[a:b], psi_out[a:b] = gamma, psi

    map_chunks(one, chunk_starts(n, chunk))      # in parallel with --threads > 1 (common.parallel)
    return RCTrace(pred, loglik, gamma_out, psi_out, gammas, psis)
