"""Neural EM and RNN-EM (Greff, van Steenkiste & Schmidhuber 2017; thesis ch. 5): forward pass,
hand-written backward pass through all T unrolled EM iterations, and ``run_em``, the EM trace
of a trained model on any images (the figures and ``inference.py`` build on it).

Notation (thesis ch. 5): x (B, D) binary image, D = 784; K slots; at EM step t each slot k holds a
state (RNN-EM: hidden h, N-EM: z), predicts per-pixel Bernoulli means psi (B, K, D) and the E-step
gives soft assignments gamma (B, K, D), normalised over K.

One EM step t = 1..T:
    u_t     = gamma_{t-1} * (psi_{t-1} - x_noisy_t)        input, masked prediction error (Sec. 5.1.3)
    state_t, o_t = cell(u_t, state_{t-1})                  o: output logits, psi_t = sigmoid(o_t)
    gamma_t = softmax_k(log p(x | psi_t))                  E-step on the clean x, eq. (5.4)
    L_t     = sum gamma_t * BCE(psi_t, x) + (1 - gamma_t) * KL(prior || psi_t)        eq. (5.6)

With a pixel prior of 0 the KL term is -log(1 - psi). Both terms are written with softplus of the
logits, which keeps them finite in float32: BCE(psi, x) = softplus(s * o) with s = 1 - 2x, and
-log(1 - psi) = softplus(o). The E-step is a softmax over K of -softplus(s * o).

Cells:
    RNN-EM: h_t = sigmoid(u W_in + h_{t-1} W_rec + b_h),   o_t = h_t W_out + b_out
    N-EM:   z_t = z_{t-1} + eta * sigmoid'(z_{t-1}) * (u W),  o_t = sigmoid(z_t) W^T   (tied W,
            no bias, learnable scalar eta; a gradient step on the expected log-likelihood, eq. 5.5)

Every op is a forward/backward pair: ``*_forward(...) -> (out, cache)``, ``*_backward(d, cache)``.
The backward pass follows the CS231n pattern: the unrolled forward keeps per-step caches and the
backward walks ``reversed(range(T))`` carrying the gradients of the recurrent state, of psi and
(when gamma gradients are on) of gamma into the previous step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from common.layers import glorot, mm, outer, sigmoid
from common.mixture import merge_restarts, mixture_loglik, pixel_likelihoods, slot_argmax
from common.parallel import chunk_starts, map_chunks
from common.seeding import initial_gamma
from neural_em_shapes.conv_cell import conv_cell_backward, conv_cell_forward, conv_state_size, init_conv_params

__all__ = ["init_params", "flip_noise", "loss_weights", "pixel_terms_forward", "pixel_terms_backward",
           "e_step_forward", "e_step_backward", "loss_forward", "loss_backward", "rnn_cell_forward",
           "rnn_cell_backward", "rnn_weight_grads", "nem_cell_forward", "nem_cell_backward",
           "unrolled_forward", "unrolled_backward", "loss_and_grads", "em_in_chunks", "run_em", "run_sequence_em",
           "EMTrace"]

MODELS = ("rnn-em", "n-em", "conv-rnn-em")
COMPUTE_CHUNK = 100   # images per EM chunk in run_em: (100, K, 784) float32 arrays stay in the L2 cache
                      # (measured 18% faster than 500 at once); chunks run in parallel with --threads > 1


# Shared ops live in common.layers (sigmoid as 0.5+0.5 tanh, stable softplus, one-GEMM matmuls).


# ----------------------------------------------------------------------------- parameters, noise, init

def init_params(model: str, D: int, H: int, rng: np.random.Generator, *, dtype=np.float32,
                eta: float = -1.0, channels: int = 32, mlp: int = 512) -> dict[str, np.ndarray]:
    """Glorot-uniform weights, zero biases (authors' initialisation).

    rnn-em: W_in (D, H), W_rec (H, H), b_h (H,), W_out (H, D), b_out (D,)
    n-em:   W (D, H) shared by encoder step and decoder, eta () learnable step size. With
            u = gamma * (psi - x), a negative eta makes the update a descent step on the loss.
    conv-rnn-em: the convolutional cell of thesis Table 5.1 (``conv_cell``) with H recurrent
            units, ``channels`` in the first conv layer and ``mlp`` units in the dense layers.
    """
    if model == "rnn-em":
        return {"W_in": glorot(rng, D, H, dtype), "W_rec": glorot(rng, H, H, dtype),
                "b_h": np.zeros(H, dtype), "W_out": glorot(rng, H, D, dtype), "b_out": np.zeros(D, dtype)}
    if model == "n-em":
        return {"W": glorot(rng, D, H, dtype), "eta": np.asarray(eta, dtype=dtype)}
    if model == "conv-rnn-em":
        return init_conv_params(D, H, channels, mlp, rng, dtype=dtype)
    raise ValueError(f"unknown model {model!r}; choose one of {MODELS}")


def flip_noise(x: np.ndarray, p: float, rng: np.random.Generator) -> np.ndarray:
    """Bit-flip noise: each pixel of binary x (..., D) is flipped with probability p."""
    flips = rng.random(x.shape) < p
    return np.where(flips, 1 - x, x).astype(x.dtype, copy=False)


def loss_weights(cfg) -> np.ndarray:
    """(T,) weights of the per-iteration losses (T = cfg.iterations): last iteration only
    (cfg.loss_iterations "last"), the mean over all iterations ("all"), or weights proportional to
    t = 1..T summing to 1 ("linear"), which keep a gradient at every iteration but let the late,
    well-informed ones dominate."""
    T = cfg.iterations
    if cfg.loss_iterations == "last":
        return np.eye(T, dtype=np.float64)[-1]
    if cfg.loss_iterations == "linear":
        t = np.arange(1, T + 1, dtype=np.float64)
        return t / t.sum()
    return np.full(T, 1.0 / T)


# ----------------------------------------------------------------------------- pixel terms, E-step and loss

class TermsCache(NamedTuple):
    """What the backward pass of the per-iteration head needs: psi = sigmoid(o) (B, K, D) and x (B, D)."""
    psi: np.ndarray
    x: np.ndarray


def pixel_terms_forward(o: np.ndarray, x: np.ndarray):
    """The two per-pixel terms of eq. (5.6) from the logits o (B, K, D) and the clean x (B, D):

        bce = softplus(s o) = -log p(x | psi),   kl = softplus(o) = -log(1 - psi),   s = 1 - 2x.

    Both share log1p(exp(-|o|)) (|s o| = |o|) and max(s o, 0) = max(o, 0) - x o exactly for binary x,
    so the two softplus cost one exp and one log1p (the E-step's log-likelihood is -bce: a third
    softplus is not needed either). Returns (bce, kl, psi), TermsCache; psi = sigmoid(o) is what
    every backward formula below needs.
    """
    xb = x[:, None, :]
    tail = np.abs(o)
    np.negative(tail, out=tail)
    np.exp(tail, out=tail)
    np.log1p(tail, out=tail)                 # log1p(exp(-|o|))
    kl = np.maximum(o, 0)
    bce = np.multiply(xb, o)
    np.subtract(kl, bce, out=bce)            # max(s o, 0)
    bce += tail
    kl += tail
    psi = sigmoid(o)
    return (bce, kl, psi), TermsCache(psi, x)


def pixel_terms_backward(dbce: np.ndarray, dkl: np.ndarray | None, cache: TermsCache) -> np.ndarray:
    """do (B, K, D) = dbce * (psi - x) + dkl * psi  (d softplus(s o)/do = s sigmoid(s o) = psi - x)."""
    psi, x = cache
    do = np.subtract(psi, x[:, None, :])
    do *= dbce
    if dkl is not None:
        do += dkl * psi
    return do


def e_step_forward(bce: np.ndarray):
    """gamma (B, K, D) = softmax over K of log p(x | psi) = -bce (thesis eq. 5.4)."""
    e = np.subtract(bce.min(axis=1, keepdims=True), bce)    # log p - max_k log p
    np.exp(e, out=e)
    e /= e.sum(axis=1, keepdims=True)
    return e, e                                              # the backward needs gamma only


def e_step_backward(dgamma: np.ndarray, gamma: np.ndarray) -> np.ndarray:
    """dL/dbce (B, K, D) from dL/dgamma through the softmax of -bce."""
    return gamma * ((gamma * dgamma).sum(axis=1, keepdims=True) - dgamma)


class LossCache(NamedTuple):
    gamma: np.ndarray
    bce: np.ndarray
    kl: np.ndarray
    inter_weight: float
    B: int


def loss_forward(bce: np.ndarray, kl: np.ndarray, gamma: np.ndarray, inter_weight: float = 1.0):
    """Thesis eq. (5.6), summed over K and D, averaged over the batch. bce, kl, gamma: (B, K, D).

    Term 1 (intra): gamma * BCE(psi, x);  term 2 (inter): (1 - gamma) * -log(1 - psi).
    Returns (scalar loss, LossCache).
    """
    B = bce.shape[0]
    inter = 1 - gamma
    inter *= kl
    loss = (np.sum(gamma * bce) + inter_weight * np.sum(inter)) / B
    return float(loss), LossCache(gamma, bce, kl, inter_weight, B)


def loss_backward(dloss: float, cache: LossCache, terms: TermsCache, need_dgamma: bool = True,
                  out: np.ndarray | None = None):
    """Returns (do (B, K, D), dgamma (B, K, D) or None when need_dgamma is False); do is written
    into ``out`` when given.

    With dbce = c gamma and dkl = c w (1 - gamma), pixel_terms_backward's dbce (psi - x) + dkl psi
    is c (w psi + gamma ((1 - w) psi - x)): with w = 1, c (psi - gamma x) -- three passes.
    """
    gamma, bce, kl, w, B = cache
    psi, x = terms
    # A Python float is a "weak" scalar: float32 arrays stay float32. A NumPy float64 scalar
    # (e.g. an entry of the loss-weight vector) would silently make the whole BPTT float64.
    c = float(dloss) / B
    do = np.multiply(gamma, x[:, None, :], out=out)
    if w == 1.0:
        np.subtract(psi, do, out=do)
    else:
        t = gamma * psi
        t *= 1.0 - w
        t += w * psi
        np.subtract(t, do, out=do)
    do *= c
    dgamma = None
    if need_dgamma:
        dgamma = bce - w * kl
        dgamma *= c
    return do, dgamma


# ----------------------------------------------------------------------------- cells

class RNNCache(NamedTuple):
    inp: np.ndarray    # (B, K, D + H): [u | h_prev], side by side (see rnn_cell_forward)
    h: np.ndarray      # (B, K, H)


def rnn_cell_forward(inp: np.ndarray, p: dict):
    """RNN-EM cell. inp: (B, K, D + H), the input u (B, K, D) and the previous state h_prev (B, K, H)
    side by side, so u W_in + h_prev W_rec is ONE matmul with [W_in; W_rec] and BPTT's weight
    gradient of both is one matmul over all T steps (``rnn_weight_grads``).
    Returns (h (B, K, H), o (B, K, D)), RNNCache."""
    a = mm(inp, np.concatenate([p["W_in"], p["W_rec"]]))
    a += p["b_h"]
    h = sigmoid(a, out=a)
    o = mm(h, p["W_out"])
    o += p["b_out"]
    return (h, o), RNNCache(inp, h)


def rnn_cell_backward(dh: np.ndarray, do: np.ndarray, cache: RNNCache, p: dict, need_dinp: bool = True):
    """dh: (B, K, H) from step t+1, do: (B, K, D). Returns (dinp (B, K, D + H) = [du | dh_prev],
    or None when not need_dinp (the first step: its input and state are constants), da (B, K, H)):
    the weight gradients are left to ``rnn_weight_grads``, batched over the steps."""
    dh = dh + mm(do, p["W_out"].T)
    h = cache.h
    da = dh * h
    da *= 1 - h                                       # sigmoid' = h (1 - h)
    return (mm(da, np.concatenate([p["W_in"], p["W_rec"]]).T) if need_dinp else None), da


def rnn_weight_grads(inp: np.ndarray, h: np.ndarray, da: np.ndarray, do: np.ndarray, D: int) -> dict:
    """Weight gradients of all T steps at once: inp (T, B, K, D + H), h and da (T, B, K, H),
    do (T, B, K, D). sum_t inp_t^T da_t is one (D + H) x (T B K) x H matmul instead of T small ones."""
    w_cat = outer(inp, da)
    return {"W_in": w_cat[:D], "W_rec": w_cat[D:], "b_h": da.reshape(-1, da.shape[-1]).sum(0),
            "W_out": outer(h, do), "b_out": do.reshape(-1, do.shape[-1]).sum(0)}


class NEMCache(NamedTuple):
    u: np.ndarray
    s: np.ndarray
    ds: np.ndarray
    g: np.ndarray
    theta: np.ndarray


def nem_cell_forward(u: np.ndarray, z_prev: np.ndarray, p: dict):
    """N-EM cell (thesis eq. 5.5). u: (B, K, D), z_prev: (B, K, H) -> (z, o), NEMCache.

    z = z_prev + eta * sigmoid'(z_prev) * (u W);  theta = sigmoid(z);  o = theta W^T.
    """
    W, eta = p["W"], p["eta"]
    s = sigmoid(z_prev)
    ds = s * (1 - s)
    g = mm(u, W)
    z = z_prev + eta * ds * g
    theta = sigmoid(z)
    o = mm(theta, W.T)
    return (z, o), NEMCache(u, s, ds, g, theta)


def nem_cell_backward(dz: np.ndarray, do: np.ndarray, cache: NEMCache, p: dict):
    """Returns (du, dz_prev, grads) for the N-EM cell; dW collects both uses of the tied W."""
    u, s, ds, g, theta = cache
    W, eta = p["W"], p["eta"]
    dz = dz + mm(do, W) * theta * (1 - theta)
    dg = dz * eta * ds
    dW = outer(do, theta) + outer(u, dg)
    deta = np.sum(dz * ds * g)
    # d sigmoid'(z)/dz = s (1 - s) (1 - 2 s)
    dz_prev = dz + dz * eta * g * ds * (1 - 2 * s)
    return mm(dg, W.T), dz_prev, {"W": dW, "eta": np.asarray(deta, dtype=W.dtype)}


def _state_size(model: str, p: dict) -> int:
    if model == "conv-rnn-em":
        return conv_state_size(p)
    return p["W_rec"].shape[0] if model == "rnn-em" else p["W"].shape[1]


# ----------------------------------------------------------------------------- unrolled EM

class StepCache(NamedTuple):
    gamma_in: np.ndarray     # gamma_{t-1}, the input assignment (B, K, D)
    delta: np.ndarray        # psi_{t-1} - x_noisy_t (B, K, D)
    cell: tuple              # RNNCache, NEMCache or conv_cell.ConvCellCache
    terms: TermsCache
    loss: LossCache


class BPTTCache(NamedTuple):
    """The forward pass's record for BPTT: one StepCache per EM step, and for RNN-EM the
    (T, B, K, D + H) array of every step's [u | h_prev] (the StepCaches' inputs are views of it)."""
    steps: list
    inp_all: np.ndarray | None


def unrolled_forward(model: str, p: dict, x: np.ndarray, x_noisy: np.ndarray, gamma0: np.ndarray,
                     *, loss_weights, inter_weight: float = 1.0, keep: bool = False,
                     fixed_gammas=None, keep_caches: bool = True):
    """Run T EM steps. x: (B, D) clean, or (T, B, D) one clean target per step (sequences: step t
    reads the noisy frame t in x_noisy[t] and its E-step and loss use the next frame, x[t] = frame
    t + 1: next-step prediction, thesis Sec. 5.3.2); x_noisy: (T, B, D); gamma0: (B, K, D).

    loss_weights: (T,) weight of each step's loss (e.g. last only, or all steps).
    fixed_gammas: optional list of T arrays (B, K, D) used instead of the E-step's output, so the
        loss is a function of the parameters with gamma held constant: finite differences of it
        are the stop-gradient gradients (used by the gradient-check tests).
    keep_caches=False drops the per-step backward caches (inference: T times less memory).
    Returns (total loss, BPTTCache, trace) where trace holds gamma and psi per step if keep=True.
    RNN-EM writes each step's [u | h_prev] into one (T, B, K, D + H) array, so the backward's
    weight gradients are one matmul over all steps.
    """
    T = x_noisy.shape[0]
    B, K, D = gamma0.shape
    H = _state_size(model, p)
    state = np.zeros((B, K, H), dtype=gamma0.dtype)
    psi = np.zeros((B, K, D), dtype=gamma0.dtype)
    if model == "rnn-em":
        inp_all = np.empty((T if keep_caches else 1, B, K, D + H), dtype=gamma0.dtype)
    gamma = gamma0
    total = 0.0
    caches = []
    gammas, psis, losses = [], [], []
    for t in range(T):
        delta = np.subtract(psi, x_noisy[t][:, None, :])
        if model == "rnn-em":
            inp = inp_all[t if keep_caches else 0]
            np.multiply(gamma, delta, out=inp[..., :D])
            inp[..., D:] = state
            (state, o), ccache = rnn_cell_forward(inp, p)
        elif model == "n-em":
            (state, o), ccache = nem_cell_forward(gamma * delta, state, p)
        else:
            (state, o), ccache = conv_cell_forward(gamma * delta, state, p)
        (bce, kl, psi), tcache = pixel_terms_forward(o, x[t] if x.ndim == 3 else x)
        gamma_new = e_step_forward(bce)[0] if fixed_gammas is None else fixed_gammas[t]
        lt, lcache = loss_forward(bce, kl, gamma_new, inter_weight)
        total += loss_weights[t] * lt
        if keep_caches:
            caches.append(StepCache(gamma, delta, ccache, tcache, lcache))
        gamma = gamma_new
        losses.append(lt)
        if keep:
            gammas.append(gamma)
            psis.append(psi)
    trace = {"gamma": gammas, "psi": psis, "loss": losses}
    return total, BPTTCache(caches, inp_all if model == "rnn-em" and keep_caches else None), trace


def unrolled_backward(model: str, p: dict, caches, *, loss_weights, gamma_grad: bool) -> dict:
    """BPTT through the T EM steps of ``unrolled_forward``. Returns grads keyed like p.

    Carried from step t+1 into step t: dstate (cell state), du (the input gradient: d psi_t =
    gamma_t du and d gamma_t = du delta, both entered step t+1's input u = gamma_t * (psi_t -
    x_noisy)). gamma_grad=False treats every gamma as a constant (stop-gradient), in the loss and
    in the next input alike (thesis end of Sec. 5.1.4).
    """
    steps = caches.steps
    T = len(steps)
    B, K, D = steps[0].gamma_in.shape
    H = _state_size(model, p)
    dtype = steps[0].gamma_in.dtype
    dstate = np.zeros((B, K, H), dtype=dtype)
    if model == "rnn-em":
        do_all = np.empty((T, B, K, D), dtype=dtype)
        da_all = np.empty((T, B, K, H), dtype=dtype)
        h_all = np.stack([c.cell.h for c in steps])
    else:
        grads = {k: np.zeros_like(v) for k, v in p.items()}
    du = None
    for t in reversed(range(T)):
        c = steps[t]
        do, dgamma = loss_backward(loss_weights[t], c.loss, c.terms, need_dgamma=gamma_grad,
                                   out=do_all[t] if model == "rnn-em" else None)
        gamma_out = c.loss.gamma        # gamma_t: the loss's and step t+1's input assignment
        if du is not None:
            dpsi = gamma_out * du                  # psi_t entered u_{t+1} = gamma_t (psi_t - x~)
            psi = c.terms.psi
            dpsi *= psi
            dpsi *= 1 - psi                        # sigmoid'
            do += dpsi
        if gamma_grad:
            if du is not None:
                dgamma += du * steps[t + 1].delta
            do += pixel_terms_backward(e_step_backward(dgamma, gamma_out), None, c.terms)
        if model == "rnn-em":
            dinp, da_all[t] = rnn_cell_backward(dstate, do, c.cell, p, need_dinp=t > 0)
            if t > 0:
                du, dstate = dinp[..., :D], dinp[..., D:]
        else:
            if model == "n-em":
                du, dstate, g = nem_cell_backward(dstate, do, c.cell, p)
            else:
                du, dstate, g = conv_cell_backward(dstate, do, c.cell, p, need_du=t > 0)
            for k, v in g.items():
                grads[k] += v
    if model == "rnn-em":
        return rnn_weight_grads(caches.inp_all, h_all, da_all, do_all, D)
    return grads


def loss_and_grads(model: str, p: dict, x, x_noisy, gamma0, *, loss_weights, gamma_grad: bool,
                   inter_weight: float = 1.0):
    """Total loss and its gradients for one batch: the function a training step calls."""
    loss, caches, trace = unrolled_forward(model, p, x, x_noisy, gamma0, loss_weights=loss_weights,
                                           inter_weight=inter_weight)
    grads = unrolled_backward(model, p, caches, loss_weights=loss_weights, gamma_grad=gamma_grad)
    return loss, grads, trace


# ----------------------------------------------------------------------------- trained EM on any images

@dataclass
class EMTrace:
    """EM on a batch of B images (the low-level trace the figures and the inference API read).

    gamma0: (B, K, D) the initial assignment gamma_0 of the run kept for each image.
    gamma, psi: (T, B, K, D) after iterations t = 1..T (keep_all=False: (1, B, K, D), the last).
    loss: (T,) per-iteration loss, always every iteration (with restarts: the mean over all
        restarts, not the loss of the runs kept in gamma / psi).
    loglik: (B,) float64, each image's mixture log-likelihood (eq. 4.7) under its final psi;
        with restarts, the run with the highest one is the run kept.
    """
    gamma0: np.ndarray
    gamma: np.ndarray
    psi: np.ndarray
    loss: np.ndarray
    loglik: np.ndarray

    def groups(self, t: int = -1) -> np.ndarray:
        """Predicted slot per pixel after the t-th kept iteration: (B, D) int, argmax over K."""
        return slot_argmax(self.gamma[t])

    def gammas(self) -> np.ndarray:
        """(T' + 1, B, K, D): gamma_0 followed by the kept iterations (index 0 = gamma_0)."""
        return np.concatenate([self.gamma0[None], self.gamma], axis=0)


def em_in_chunks(model: str, p: dict, x: np.ndarray, x_noisy: np.ndarray, gamma0: np.ndarray, *,
                 keep_all: bool = False, inter_weight: float = 1.0):
    """Forward-only EM on x (N, D) (or per-step targets (T, N, D), sequences) from the given noise
    (T, N, D) and gamma0 (N, K, D), in chunks
    of COMPUTE_CHUNK images (cache-sized; in parallel with --threads > 1, ``common.parallel``).
    The inputs fix the result: no random draws in here, so the chunking never changes it.

    Returns gamma, psi ((T, N, K, D), or (1, N, K, D) with keep_all=False: the last iteration),
    the per-iteration loss summed over images (T,), and each image's mixture log-likelihood (N,).
    """
    T = x_noisy.shape[0]
    sl = slice(None) if keep_all else slice(-1, None)

    def em(s: slice):
        xs = x[:, s] if x.ndim == 3 else x[s]
        _, _, trace = unrolled_forward(model, p, xs, x_noisy[:, s], gamma0[s], loss_weights=np.zeros(T),
                                       keep=True, keep_caches=False, inter_weight=inter_weight)
        return (np.stack(trace["gamma"][sl]), np.stack(trace["psi"][sl]),
                np.array(trace["loss"]) * (s.stop - s.start),
                mixture_loglik(pixel_likelihoods(trace["psi"][-1], xs[-1] if x.ndim == 3 else xs)))

    out = map_chunks(em, chunk_starts(gamma0.shape[0], COMPUTE_CHUNK))
    gamma, psi = (np.concatenate([o[i] for o in out], axis=1) for i in (0, 1))
    return gamma, psi, sum(o[2] for o in out), np.concatenate([o[3] for o in out])


def run_em(model: str, p: dict, images: np.ndarray, *, K: int, iterations: int, noise: float,
           rng: np.random.Generator, gamma_init: str = "random", batch: int = 500,
           keep_all: bool = True, inter_weight: float = 1.0, restarts: int = 1) -> EMTrace:
    """Run trained EM on any batch of binary images with any K and number of iterations.

    images: (N, D) or (N, side, side) binary. Noise is applied as in training (the authors also
    apply it at test time). keep_all=False keeps only the last iteration's gamma and psi (T=1 in
    the trace); gamma_0 and the per-iteration loss are always kept.
    restarts R > 1 runs EM R times from fresh gamma_0 and noise and keeps, per image, the run
    whose final predictions give the image the highest mixture likelihood
    (``common.mixture``): the classic multiple-restart EM, chosen by the model's own objective,
    never by labels. The loss in the trace is then the mean over the restarts.
    rng draws, per chunk of ``batch`` images and per restart: the input noise, then gamma_0.
    """
    x_all = np.asarray(images, dtype=next(iter(p.values())).dtype).reshape(len(images), -1)
    N, D = x_all.shape
    if K < 1 or iterations < 1 or restarts < 1:
        raise ValueError(f"K, iterations and restarts must be >= 1, got K={K}, iterations={iterations}, "
                         f"restarts={restarts}")
    parts, ls = [], []
    for a in range(0, N, batch):
        x = x_all[a:a + batch]
        best = best_ll = None
        loss = 0.0
        for _ in range(restarts):
            xn = flip_noise(np.broadcast_to(x, (iterations,) + x.shape), noise, rng)
            g0 = initial_gamma(len(x), K, D, rng, dtype=x.dtype, kind=gamma_init, x=x)
            gam, ps, loss_sum, ll = em_in_chunks(model, p, x, xn, g0, keep_all=keep_all,
                                                 inter_weight=inter_weight)
            loss = loss + loss_sum / restarts
            run = [g0, gam, ps]
            if best is None:
                best, best_ll = run, ll
            else:                                   # per image, keep the more likely run
                best, best_ll = merge_restarts(best, best_ll, run, ll, image_axes=(0, 1, 1))
        parts.append((*best, best_ll))
        ls.append(loss)
    g0, gam, ps, ll = (np.concatenate([q[i] for q in parts], axis=ax) for i, ax in enumerate((0, 1, 1, 0)))
    return EMTrace(g0, gam, ps, np.sum(ls, axis=0) / N, ll)


def run_sequence_em(model: str, p: dict, frames: np.ndarray, *, K: int, noise: float, rng: np.random.Generator,
                    gamma_init: str = "random", batch: int = 500, keep_all: bool = True,
                    inter_weight: float = 1.0) -> EMTrace:
    """Run trained sequential EM (thesis Sec. 5.3.2) on binary sequences frames (N, F, D) or
    (N, F, side, side): one EM iteration per frame, T = F - 1. Iteration t (0-based) reads frame t
    with bit-flip noise; its prediction psi[t], E-step gamma[t] and loss are for frame t + 1
    (next-step prediction), so ``trace.groups(t)`` groups frame t + 1.

    rng draws, per chunk of ``batch`` sequences: the input noise, then gamma_0 (``gamma_init``; the
    spatial kinds seed on frame 1, the first target). The trace's loglik is each sequence's mixture
    log-likelihood of its last frame.
    """
    x_all = np.asarray(frames, dtype=next(iter(p.values())).dtype)
    x_all = x_all.reshape(x_all.shape[0], x_all.shape[1], -1)
    N, F, D = x_all.shape
    if K < 1 or F < 2:
        raise ValueError(f"need K >= 1 and sequences of >= 2 frames, got K={K}, {F} frames")
    parts, loss = [], 0.0
    for a in range(0, N, batch):
        seq = x_all[a:a + batch].transpose(1, 0, 2)                  # (F, B, D)
        xn = flip_noise(seq[:-1], noise, rng)
        g0 = initial_gamma(seq.shape[1], K, D, rng, dtype=seq.dtype, kind=gamma_init, x=seq[1])
        gam, ps, loss_sum, ll = em_in_chunks(model, p, np.ascontiguousarray(seq[1:]), xn, g0, keep_all=keep_all,
                                             inter_weight=inter_weight)
        parts.append((g0, gam, ps, ll))
        loss = loss + loss_sum
    g0, gam, ps, ll = (np.concatenate([q[i] for q in parts], axis=ax) for i, ax in enumerate((0, 1, 1, 0)))
    return EMTrace(g0, gam, ps, loss / N, ll)
