"""Tagger (Greff et al. 2016; thesis ch. 6): iterative amortised grouping with a Ladder network.

Shapes: B images of D = 400 pixels (20x20), K groups. Per group and iteration the state is the
mean logits ``logit`` (B, K, D) with mu = sigmoid(logit) = q(x_i = 1 | C = k), and the masks
``m`` (B, K, D) = q(C_i = k), a softmax over the groups (eq. 6.1).

One iteration (thesis Algorithm 1, binary case of the Tagger paper's appendix and the authors'
code), with bit-flip corruption x~ = x XOR Bernoulli(beta):
    q_k   = mu_k (1 - 2 beta) + beta                  p(x~_i = 1 | C = k): the group's mean seen through the noise
    lik_k = x~ q_k + (1 - x~)(1 - q_k)
    L(m)_k = lik_k / sum_h lik_h                      assignment likelihood ratio (eq. 6.7)
    xi    = sum_k m_k q_k                             p(x~_i = 1) under the mixture
    dmu_k = m_k (1 - 2 beta) / (xi - 1 + x~)          modelling error = d log p(x~) / d mu_k (eq. 6.6, binary)
    h0    = relu(LN([logit_k, dmu_k, m_k, L(m)_k] W_h) + b_h)
    zh0   = Ladder(h0)                                (``ladder.py``)
    [logit', mhat] = zh0 W_out + b_out;  m' = softmax_k(mhat)
Initial state (eqs. 6.3-6.4): m = softmax_k(N(0, 1)), mu = mu_x = 0.26 (the data's mean).
Denoising cost of an iteration: the binary cross-entropy of the clean x under the mixture mean
x^ = sum_k m_k mu_k, averaged over pixels and images (as the authors' code); the training cost is
its mean over the T iterations (eq. 6.8, averaged). Gradients flow through everything, including
the TAG inputs of the next iteration (full backpropagation through the unrolled iterations).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from common.layers import layernorm_backward, layernorm_forward, mm, outer, sigmoid, softmax, softmax_backward
from common.seeding import initial_gamma

from .ladder import combinator_init, ladder_backward, ladder_forward, ladder_param_names

__all__ = ["COST_EPS", "init_params", "param_names", "initial_state", "corrupt", "tag_inputs_forward",
           "tag_inputs_backward", "StepCache", "step_forward", "step_backward", "cost_forward", "cost_backward",
           "loss_and_grads", "Trace", "run_iterations"]

COST_EPS = 1e-4      # x^ is squeezed into [eps, 1 - eps] before the log (the authors' "soft" BCE)


def param_names(L: int) -> list[str]:
    return ["W_h", "b_h", *ladder_param_names(L), "W_out", "b_out"]


def init_params(D: int, sizes: tuple[int, ...], rng: np.random.Generator, dtype=np.float32) -> dict:
    """Weights N(0, 1/fan_in) (the authors' initialisation), biases 0, LN gains 1, combinators
    ``combinator_init``. sizes = (H0, H1, ..., HL): the projection width and the encoder widths."""
    def w(n_in, n_out):
        return (rng.standard_normal((n_in, n_out)) / np.sqrt(n_in)).astype(dtype)
    L = len(sizes) - 1
    p = {"W_h": w(4 * D, sizes[0]), "b_h": np.zeros(sizes[0], dtype)}
    for l in range(1, L + 1):
        p[f"W{l}"] = w(sizes[l - 1], sizes[l])
        p[f"gamma{l}"] = np.ones(sizes[l], dtype)
        p[f"beta{l}"] = np.zeros(sizes[l], dtype)
        p[f"V{l}"] = w(sizes[l], sizes[l - 1])
    for l in range(L + 1):
        p[f"comb{l}"] = combinator_init(sizes[l], dtype)
    p["W_out"] = w(sizes[0], 2 * D)
    p["b_out"] = np.zeros(2 * D, dtype)
    return p


def initial_state(B: int, K: int, D: int, mu_init: float, rng: np.random.Generator, dtype=np.float32, *,
                  kind: str = "random", x: np.ndarray | None = None, width: float = 4.0):
    """The state of iteration 0, (logit0, mu0, ml0, m0), each (B, K, D): mu = mu_init everywhere
    (logit0 its logit); the masks m0 = softmax_k(ml0) by ``kind``: "random" ml0 ~ N(0, 1) per pixel
    (thesis eq. 6.3), "spatial" a soft Voronoi partition of width ``width`` px around K random
    centres, "ink" the same with k-means++ centres on the ink of the input x (B, D)
    (``common.seeding``; the input only, never labels); their mask logits are log max(m0, 1e-6)."""
    mu0 = np.full((B, K, D), mu_init, dtype)
    logit0 = np.full((B, K, D), np.log(mu_init / (1 - mu_init)), dtype)
    if kind == "random":
        ml0 = rng.standard_normal((B, K, D)).astype(dtype)
    else:
        ml0 = np.log(np.maximum(initial_gamma(B, K, D, rng, kind=kind, x=x, width=width, dtype=dtype),
                                np.asarray(1e-6, dtype)))
    return logit0, mu0, ml0, softmax(ml0, axis=1)


def corrupt(x: np.ndarray, beta: float, rng: np.random.Generator) -> np.ndarray:
    """Bit-flip noise: each pixel of the binary x (B, D) flipped with probability beta."""
    flip = rng.random(x.shape, dtype=np.float32) < beta
    return np.where(flip, 1 - x, x).astype(x.dtype)


# ----------------------------------------------------------------------------- TAG inputs

def tag_inputs_forward(xn: np.ndarray, mu: np.ndarray, m: np.ndarray, beta: float):
    """xn: (B, D) corrupted (or clean) input; mu, m: (B, K, D) -> (dmu, Lm) each (B, K, D), cache."""
    s = np.asarray(1 - 2 * beta, mu.dtype)
    x = xn[:, None, :]
    q = mu * s + np.asarray(beta, mu.dtype)
    lik = (1 - x) + (2 * x - 1) * q
    tot = lik.sum(1, keepdims=True)
    Lm = lik / tot
    xi = (m * q).sum(1, keepdims=True)
    r = 1 / (xi - 1 + x)
    dmu = m * s * r
    return (dmu, Lm), (x, q, tot, Lm, r, m, s)


def tag_inputs_backward(ddmu: np.ndarray, dLm: np.ndarray, cache):
    """Gradients of the TAG inputs w.r.t. the previous iteration's mu (probabilities) and m."""
    x, q, tot, Lm, r, m, s = cache
    dm = ddmu * s * r
    dr = (ddmu * m).sum(1, keepdims=True) * s
    dxi = -dr * r * r
    dm += dxi * q
    dq = dxi * m
    dlik = (dLm - (dLm * Lm).sum(1, keepdims=True)) / tot
    dq += dlik * (2 * x - 1)
    return dq * s, dm


# ----------------------------------------------------------------------------- one iteration

class StepCache(NamedTuple):
    tag: tuple           # TAG-input cache
    mu_prev: np.ndarray  # (B, K, D)
    m_prev: np.ndarray   # (B, K, D)
    U: np.ndarray        # (R, 4D) the concatenated inputs, R = B K
    ln0: tuple
    z0: np.ndarray       # (R, H0) before the ReLU
    ladder: object
    zh0: np.ndarray      # (R, H0)
    m: np.ndarray        # (B, K, D) output masks


def step_forward(params: dict, L: int, beta: float, xn: np.ndarray, logit: np.ndarray, mu: np.ndarray,
                 ml: np.ndarray, m: np.ndarray, residual: bool = False):
    """One Tagger iteration. xn: (B, D); (logit, mu, ml, m): the previous state, each (B, K, D),
    with mu = sigmoid(logit) and m = softmax_k(ml). The network's two outputs are the new mean
    logits and mask logits (thesis), or with ``residual`` what is added to the previous ones.
    Returns ((logit', mu', ml', m'), StepCache)."""
    B, K, D = mu.shape
    (dmu, Lm), tag = tag_inputs_forward(xn, mu, m, beta)
    U = np.concatenate([logit, dmu, m, Lm], axis=-1).reshape(B * K, 4 * D)
    n0, ln0 = layernorm_forward(mm(U, params["W_h"]))
    z0 = n0 + params["b_h"]
    zh0, lc = ladder_forward(np.maximum(z0, 0), params, L)
    out = mm(zh0, params["W_out"]) + params["b_out"]
    logit_new = np.ascontiguousarray(out[:, :D]).reshape(B, K, D)
    ml_new = np.ascontiguousarray(out[:, D:]).reshape(B, K, D)
    if residual:
        logit_new += logit
        ml_new += ml
    m_new = softmax(ml_new, axis=1)
    return (logit_new, sigmoid(logit_new), ml_new, m_new), StepCache(tag, mu, m, U, ln0, z0, lc, zh0, m_new)


def step_backward(dlogit: np.ndarray, dml: np.ndarray, cache: StepCache, params: dict, L: int,
                  residual: bool = False, need_prev: bool = True):
    """dlogit, dml: (B, K, D) total gradients of this iteration's output mean logits and mask
    logits -> ((dlogit_prev, dml_prev) or None, grads)."""
    B, K, D = dml.shape
    dout = np.concatenate([dlogit, dml], axis=-1).reshape(B * K, 2 * D)
    grads = {"W_out": outer(cache.zh0, dout), "b_out": dout.sum(0)}
    dh0, lg = ladder_backward(mm(dout, params["W_out"].T), cache.ladder, params, L)
    grads.update(lg)
    dz0 = dh0 * (cache.z0 > 0)
    grads["b_h"] = dz0.sum(0)
    da0, _ = layernorm_backward(dz0, cache.ln0)
    grads["W_h"] = outer(cache.U, da0)
    if not need_prev:
        return None, grads
    dU = mm(da0, params["W_h"].T).reshape(B, K, 4 * D)
    dmu_prob, dm_tag = tag_inputs_backward(dU[..., D:2 * D], dU[..., 3 * D:], cache.tag)
    mu = cache.mu_prev
    dlogit_prev = dU[..., :D] + dmu_prob * mu * (1 - mu)
    dml_prev = softmax_backward(dU[..., 2 * D:3 * D] + dm_tag, cache.m_prev, axis=1)
    if residual:
        dlogit_prev += dlogit
        dml_prev += dml
    return (dlogit_prev, dml_prev), grads


# ----------------------------------------------------------------------------- cost

def cost_forward(mu: np.ndarray, m: np.ndarray, x: np.ndarray):
    """Mean over images and pixels of BCE(x, x^), x^ = sum_k m_k mu_k squeezed into [eps, 1-eps].
    mu, m: (B, K, D); x: (B, D) clean. Returns (cost, cache)."""
    e = np.asarray(COST_EPS, mu.dtype)
    xh = (m * mu).sum(1) * (1 - 2 * e) + e
    cost = -float(np.mean(x * np.log(xh) + (1 - x) * np.log(1 - xh)))
    return cost, (mu, m, x, xh, e)


def cost_backward(dcost: float, cache):
    """-> (dmu, dm) each (B, K, D)."""
    mu, m, x, xh, e = cache
    dxh = (np.asarray(-dcost / x.size, mu.dtype) * (1 - 2 * e)) * (x / xh - (1 - x) / (1 - xh))
    dxh = dxh[:, None, :]
    return dxh * m, dxh * mu


# ----------------------------------------------------------------------------- unrolled

def loss_and_grads(params: dict, L: int, beta: float, x: np.ndarray, xn: np.ndarray, state0, T: int,
                   residual: bool = False):
    """The training cost (the denoising cost averaged over T iterations) and its gradient by
    backpropagation through the T unrolled iterations.

    x: (B, D) clean images; xn: (B, D) corrupted input; state0 = (logit0, mu0, ml0, m0) (B, K, D)
    (``initial_state``). Returns (loss, grads, costs per iteration (T,)).
    """
    state, caches, ccaches, costs = state0, [], [], []
    for _ in range(T):
        state, c = step_forward(params, L, beta, xn, *state, residual=residual)
        caches.append(c)
        cost, cc = cost_forward(state[1], state[3], x)
        ccaches.append(cc)
        costs.append(cost)
    grads = {k: np.zeros_like(v) for k, v in params.items()}
    dlogit_next = dml_next = 0.0
    for t in reversed(range(T)):
        dmu, dm = cost_backward(1.0 / T, ccaches[t])
        mu, m = ccaches[t][0], ccaches[t][1]
        prev, g = step_backward(dmu * mu * (1 - mu) + dlogit_next, softmax_backward(dm, m, axis=1) + dml_next,
                                caches[t], params, L, residual=residual, need_prev=t > 0)
        for k, v in g.items():
            grads[k] += v
        if prev is not None:
            dlogit_next, dml_next = prev
    return float(np.mean(costs)), grads, np.array(costs)


class Trace(NamedTuple):
    m: np.ndarray        # (T + 1, B, K, D) masks, index 0 = the random initial masks
    mu: np.ndarray       # (T + 1, B, K, D) means
    cost: np.ndarray     # (T,) denoising cost of each iteration (nan without the clean images)


def run_iterations(params: dict, L: int, beta: float, xn: np.ndarray, state0, T: int,
                   x: np.ndarray | None = None, keep: bool = True, residual: bool = False) -> Trace:
    """T iterations without gradients on input xn (B, D) (clean at evaluation), from state0
    (``initial_state``). keep=False keeps only the first and last states (2 entries)."""
    state = state0
    ms, mus, costs = [state[3]], [state[1]], []
    for t in range(T):
        state, _ = step_forward(params, L, beta, xn, *state, residual=residual)
        if keep or t == T - 1:
            ms.append(state[3])
            mus.append(state[1])
        costs.append(cost_forward(state[1], state[3], x)[0] if x is not None else np.nan)
    return Trace(np.stack(ms), np.stack(mus), np.array(costs))
