"""AIR's ELBO and its two gradient estimators for the discrete z_pres (Eslami et al. 2016, sec. 2.2
and 3): REINFORCE with an NVIL neural baseline, and exact enumeration over the count.

All functions take the stacked step outputs of :func:`air_multimnist.model.forward` (logit (B, T),
kl (B, T), obj (B, T, C, C)) and return the objective per image plus its gradient w.r.t. those
outputs (of the SUM over the batch; the caller scales), so :func:`model.backward` finishes the job.

ELBO of one configuration with n objects (z_pres = 1 for the first n steps, then 0):
    F(n) = log N(x | sum_{t<n} o_t, sigma^2 I) - sum_{t<n} KL_t + log p(n) - log q(n)
    log q(n) = sum_{t<n} log p_t + [n < T] log(1 - p_n),   p_t = sigmoid(logit_t)
Count prior (Pyro's "geometric-like" prior): p(n) proportional to k^n, n = 0..T, so every extra
object costs log(1/k) nats (k = 0.01: 4.6 nats); per step it is a Bernoulli with success
P(n > t | n >= t).
"""

from __future__ import annotations

import numpy as np

from common.layers import sigmoid, softplus

__all__ = ["count_log_prior", "step_prior", "log_likelihood", "elbo_fixed", "elbo_enumerate",
           "elbo_reinforce", "RunningNorm"]

LOG_2PI = float(np.log(2 * np.pi))


def count_log_prior(k: float, T: int) -> np.ndarray:
    """log p(n), n = 0..T, for p(n) proportional to k^n. (T+1,) float64."""
    w = np.arange(T + 1) * np.log(k)
    return w - np.logaddexp.reduce(w)


def step_prior(k: float, T: int) -> np.ndarray:
    """(T,) per-step success probabilities P(n > t | n >= t) of the same prior."""
    lp = count_log_prior(k, T)
    tail = np.array([np.logaddexp.reduce(lp[t:]) for t in range(T + 1)])
    return np.exp(tail[1:] - tail[:-1])


def log_likelihood(x: np.ndarray, mean: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian log N(x | mean, sigma^2 I) summed over pixels: x (B, D), mean (..., B, D) -> (..., B)."""
    D = x.shape[-1]
    r = x - mean
    return -0.5 * np.einsum("...bd,...bd->...b", r, r) / sigma ** 2 - D * (np.log(sigma) + 0.5 * LOG_2PI)


def _log_p(logit):
    """(log sigmoid(l), log(1 - sigmoid(l)))."""
    return -softplus(-logit), -softplus(logit)


def _recons(obj):
    """Cumulative canvases: (B, T, D) -> (T+1, B, D) with r_n = sum_{t<n} o_t."""
    B, T, D = obj.shape
    r = np.zeros((T + 1, B, D), obj.dtype)
    for t in range(T):  # explicit adds: cumsum over a strided leading axis was 4x slower
        np.add(r[t], obj[:, t], out=r[t + 1])
    return r


def elbo_fixed(images, logit, kl, obj, n_objects, sigma: float, k: float):
    """F(n) for a GIVEN count per scene (z_pres fixed), and dF/d(logit, kl, obj).

    n_objects: (B,) ints in 0..T. Returns (F (B,), dlogit (B, T), dkl (B, T), dobj (B, T, C, C)).
    The logit gradient is d(-log q(n))/dlogit, the only way z_pres enters F for fixed z_pres.
    """
    B, T = logit.shape
    x = images.reshape(B, -1)
    o = obj.reshape(B, T, -1)
    n = np.asarray(n_objects)
    on = (np.arange(T)[None, :] < n[:, None]).astype(logit.dtype)      # z_pres
    active = (np.arange(T)[None, :] <= n[:, None]).astype(logit.dtype)  # steps whose z_pres was drawn
    recon = np.einsum("bt,btd->bd", on, o)
    lp1, lp0 = _log_p(logit)
    logq = (on * lp1 + (active - on) * lp0).sum(1)
    logp = count_log_prior(k, T)[n]
    F = log_likelihood(x, recon, sigma) - (on * kl).sum(1) + logp - logq
    dlogit = -active * (on - sigmoid(logit))                   # -d log q / dlogit
    dobj = (on[:, :, None] * ((x - recon) / sigma ** 2)[:, None, :]).reshape(obj.shape)
    return F, dlogit.astype(logit.dtype), (-on).astype(kl.dtype), dobj.astype(obj.dtype)


def elbo_enumerate(images, logit, kl, obj, sigma: float, k: float):
    """Exact ELBO summed over the T+1 counts: sum_n q(n) F(n), and its exact gradient.

    Returns (elbo (B,), q (B, T+1), dlogit, dkl, dobj). Zero-variance alternative to REINFORCE:
    dE/dlogit_t = sum_n q(n) F(n) dlog q(n)/dlogit_t (the entropy's -1 sums to zero), and the
    continuous parts get q(n)-weighted pathwise gradients.
    """
    B, T = logit.shape
    x = images.reshape(B, -1)
    o = obj.reshape(B, T, -1)
    lp1, lp0 = _log_p(logit.astype(np.float64))
    cum1 = np.concatenate([np.zeros((B, 1)), np.cumsum(lp1, 1)], 1)          # sum_{t<n} log p_t
    logq = cum1 + np.concatenate([lp0, np.zeros((B, 1))], 1)                 # (B, T+1)
    q = np.exp(logq)
    r = _recons(o)                                                           # (T+1, B, D)
    ll = log_likelihood(x, r, sigma).T.astype(np.float64)                    # (B, T+1)
    cumkl = np.concatenate([np.zeros((B, 1)), np.cumsum(kl.astype(np.float64), 1)], 1)
    F = ll - cumkl + count_log_prior(k, T)[None, :] - logq
    elbo = (q * F).sum(1)
    # dlog q(n)/dlogit_t = (1 - p_t) [t < n] - p_t [t == n]
    p = np.exp(lp1)
    t_idx, n_idx = np.arange(T)[:, None], np.arange(T + 1)[None, :]
    lt, eq = (t_idx < n_idx).astype(float), (t_idx == n_idx).astype(float)  # (T, T+1)
    qF = q * F
    dlogit = (1 - p) * (qF @ lt.T) - p * (qF @ eq.T)
    tail = q[:, ::-1].cumsum(1)[:, ::-1]                                     # sum_{n >= m} q(n)
    dkl = -tail[:, 1:]                                                       # sum_{n > t} q(n)
    # dobj_t = sum_{n > t} q(n) (x - r_n) / sigma^2: suffix sums over n
    res = (x[None] - r) * (q.T[:, :, None] / sigma ** 2).astype(o.dtype)     # (T+1, B, D)
    dobj = np.empty_like(o)                                                  # (B, T, D)
    acc = res[T]
    for t in reversed(range(T)):                                             # sum_{n > t}
        dobj[:, t] = acc
        acc = acc + res[t]
    dobj = dobj.reshape(obj.shape)
    return elbo, q, dlogit.astype(logit.dtype), dkl.astype(kl.dtype), dobj.astype(obj.dtype)


class RunningNorm:
    """NVIL's input-independent centring and variance normalisation of the learning signal:
    exponential moving mean c and variance v (decay ``alpha``); signal -> (A - c) / max(1, sqrt(v))."""

    def __init__(self, alpha: float = 0.95):
        self.alpha, self.mean, self.var, self.n = alpha, 0.0, 1.0, 0

    def __call__(self, A: np.ndarray, mask: np.ndarray) -> np.ndarray:
        vals = A[mask > 0]
        if vals.size:
            m, v = float(vals.mean()), float(vals.var())
            if self.n == 0:
                self.mean, self.var = m, v
            else:
                a = self.alpha
                self.mean, self.var = a * self.mean + (1 - a) * m, a * self.var + (1 - a) * v
            self.n += 1
        return (A - self.mean) / max(1.0, float(np.sqrt(self.var)))


def elbo_reinforce(images, logit, kl, obj, sigma: float, k: float, u: np.ndarray,
                   baseline: np.ndarray | None, norm: RunningNorm | None = None):
    """Single-sample ELBO with sampled z_pres and the REINFORCE gradient (Williams 1992) with an
    NVIL baseline (Mnih & Gregor 2014), as in AIR (Eslami et al. 2016, sec. 3 and appendix).

    u: (B, T) uniforms; z_pres_t = [u_t < p_t] while every earlier z_pres is 1, else 0.
    baseline: (B, T) b_t(x, z_<t) (computed from detached inputs) or None for no baseline.
    Gradient w.r.t. logit_t for every drawn step t:
        d F / dlogit_t (direct, -dlog q(z_t)) + A_t dlog q(z_t)/dlogit_t,  A_t = F_{>=t} - b_t
    where F_{>=t} is the part of F downstream of z_t (likelihood, KL and z_pres terms of steps
    >= t), optionally normalised by ``norm``.
    Returns (F (B,), n (B,), dlogit, dkl, dobj, target F_{>=t} (B, T), active (B, T)).
    """
    B, T = logit.shape
    p = sigmoid(logit.astype(np.float64))
    draw = (u < p).astype(np.float64)
    on = np.cumprod(draw, axis=1)                                           # z_pres
    n = on.sum(1).astype(np.int64)
    active = np.concatenate([np.ones((B, 1)), on[:, :-1]], 1)               # z_t was drawn
    F, _, dkl, dobj = elbo_fixed(images, logit, kl, obj, n, sigma, k)
    lp1, lp0 = _log_p(logit.astype(np.float64))
    logq_t = active * (on * lp1 + (1 - on) * lp0)
    sp = step_prior(k, T)[None, :]
    logp_t = active * (on * np.log(sp) + (1 - on) * np.log1p(-sp))
    ll = F + (on * kl).sum(1) - (logp_t - logq_t).sum(1)                    # log-likelihood part
    later = lambda a: a[:, ::-1].cumsum(1)[:, ::-1]                          # noqa: E731 sum_{s >= t}
    target = ll[:, None] + later(-on * kl + logp_t - logq_t)
    target = target * active
    A = target - (0 if baseline is None else baseline)
    A = A * active
    if norm is not None:
        A = norm(A, active) * active
    score = active * (on - p)                                               # dlog q(z_t)/dlogit_t
    dlogit = -score + A * score
    return F, n, dlogit.astype(logit.dtype), dkl, dobj, target, active
