"""AIR networks (Eslami et al. 2016, sec. 3 and fig. 2): recurrent inference network, crop encoder,
window decoder, rendered objects -- one attention step as a forward/backward pair, and the loop
over the T = ``cfg.max_objects`` steps.

One step t (Pyro's AIR example layout; docs/reference.md):
    h_t = LSTM([x, z_where_{t-1}, z_what_{t-1}], h_{t-1})          (256 units; x the 50x50 image)
    [logit_t, mu_where, raw_where] = predict(h_t)                  (MLP, 200 ReLU units)
    z_where_t = mu_where + softplus(raw_where) eps                  (scale s, shift x, y)
    g_t = crop(x, z_where_t)                                       (window x window glimpse)
    [mu_what, raw_what] = enc(g_t);  z_what_t = mu_what + softplus(raw_what) eps'
    y_t = sigmoid(dec(z_what_t) + decoder_bias)                    (bias -2: objects start faint)
    o_t = render(y_t, z_where_t)                                   (the object on the canvas)
and the scene mean is sum_t z_pres_t o_t with z_pres_t = prod_{s<=t} Bernoulli(sigmoid(logit_s)).

The previous z_pres is also an input to the LSTM in the paper. A step only matters when every
earlier z_pres was 1, so that input is the constant 1 on every step that can contribute (the bias
absorbs it): the forward pass is the same for every z_pres configuration, which is what lets
:mod:`air_multimnist.objectives` score all counts (enumeration) or a sampled one (REINFORCE) from
ONE forward pass.

Parameters (namespaced): ``lstm.Wx`` (C*C, 4H), ``lstm.Wz`` (3+Z, 4H), ``lstm.Wh`` (H, 4H),
``lstm.b`` (4H,); the MLPs ``predict.*`` (H -> Hm -> 7), ``enc.*`` (n*n -> Hm -> 2Z),
``dec.*`` (Z -> Hm -> n*n) with ``W1, b1, W2, b2`` each; the NVIL baseline ``baseline.*``
(H -> Hm -> 1) lives in its own dict (its own optimiser).
Shapes: B batch, T steps, H LSTM units, Hm MLP units, Z = z_what size, n = window side, C = canvas side.
The image's input projection x W_x + b is computed once per batch for all T steps.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from air_multimnist.stn import crop_backward, crop_forward, render_backward, render_forward
from common.layers import (activation_backward, activation_forward, gaussian_kl_backward, gaussian_kl_forward,
                           gaussian_sample_backward, gaussian_sample_forward, glorot, lstm_step_backward,
                           lstm_step_forward, mlp_backward, mlp_forward, outer, softplus, softplus_backward)

__all__ = ["SD_FLOOR", "MLP", "init_params", "init_baseline", "State", "StepOut", "StepCache", "Output",
           "Cache", "initial_state", "step_forward", "step_backward", "forward", "backward",
           "baseline_forward", "baseline_backward"]

SD_FLOOR = 1e-4   # added to softplus standard deviations so log(sd) stays finite
MLP = ("relu", "identity")   # every MLP of AIR: one hidden ReLU layer, linear output


def init_params(cfg, rng: np.random.Generator, dtype=np.float32) -> dict:
    """Glorot weights, zero biases, and the initialisation that working AIRs use: forget-gate
    bias 1, z_pres logit bias ``cfg.pres_bias_init``, z_where mean bias at the prior mean
    (s = cfg.where_prior_mu[0], centred), z_where sd small (softplus(cfg.where_sd_bias_init))
    and small output weights in the predict head so every image starts near that setting.
    The Glorot draws are made in this order: lstm.Wx, lstm.Wz, lstm.Wh, predict.W1, predict.W2,
    enc.W1, enc.W2, dec.W1, dec.W2 (the order of the key list below)."""
    C, n, H, Z, Hm = cfg.canvas, cfg.window, cfg.lstm, cfg.z_what, cfg.hidden
    H4 = 4 * H
    p = {
        "lstm.Wx": glorot(rng, C * C, H4, dtype) * np.asarray(0.5, dtype),
        "lstm.Wz": glorot(rng, 3 + Z, H4, dtype),
        "lstm.Wh": glorot(rng, H, H4, dtype), "lstm.b": np.zeros(H4, dtype),
        "predict.W1": glorot(rng, H, Hm, dtype), "predict.b1": np.zeros(Hm, dtype),
        "predict.W2": glorot(rng, Hm, 7, dtype) * np.asarray(0.1, dtype), "predict.b2": np.zeros(7, dtype),
        "enc.W1": glorot(rng, n * n, Hm, dtype), "enc.b1": np.zeros(Hm, dtype),
        "enc.W2": glorot(rng, Hm, 2 * Z, dtype), "enc.b2": np.zeros(2 * Z, dtype),
        "dec.W1": glorot(rng, Z, Hm, dtype), "dec.b1": np.zeros(Hm, dtype),
        "dec.W2": glorot(rng, Hm, n * n, dtype), "dec.b2": np.zeros(n * n, dtype),
    }
    p["lstm.b"][H:2 * H] = 1.0
    p["predict.b2"][:] = [cfg.pres_bias_init, cfg.where_prior_mu[0], 0.0, 0.0] + [cfg.where_sd_bias_init] * 3
    return p


def init_baseline(cfg, rng: np.random.Generator, dtype=np.float32) -> dict:
    """NVIL baseline b_t = MLP(stop_grad(h_t)) (Mnih & Gregor 2014): H -> hidden ReLU -> 1."""
    return {"baseline.W1": glorot(rng, cfg.lstm, cfg.hidden, dtype), "baseline.b1": np.zeros(cfg.hidden, dtype),
            "baseline.W2": np.zeros((cfg.hidden, 1), dtype), "baseline.b2": np.zeros(1, dtype)}


# ----------------------------------------------------------------------------- one step

class State(NamedTuple):
    """Recurrent state between steps (and its gradient on the way back)."""
    h: np.ndarray    # (B, H) LSTM output
    c: np.ndarray    # (B, H) LSTM cell
    z: np.ndarray    # (B, 3 + Z) previous [z_where, z_what] (zeros before step 1)


class StepOut(NamedTuple):
    """What one step produces. Shapes for a batch of B images."""
    logit: np.ndarray      # (B,) z_pres logit
    kl: np.ndarray         # (B,) KL(q(z_where) || p) + KL(q(z_what) || p)
    obj: np.ndarray        # (B, C, C) rendered object
    patch: np.ndarray      # (B, n, n) decoded window
    glimpse: np.ndarray    # (B, n, n) attention crop of the image
    z_where: np.ndarray    # (B, 3) sample (or mean) of (s, x, y)
    where_mu: np.ndarray   # (B, 3)
    where_sd: np.ndarray   # (B, 3)
    state: State           # the state handed to the next step


class StepCache(NamedTuple):
    lstm: tuple            # lstm_step_forward's cache
    zprev: np.ndarray      # (B, 3 + Z) the step's z input
    predict: object        # MLPCache
    where_raw: np.ndarray  # (B, 3) pre-softplus sd
    where_eps: object      # (B, 3) noise of the z_where sample, or None (posterior mean)
    crop: object           # CropCache
    enc: object            # MLPCache
    what_raw: np.ndarray   # (B, Z) pre-softplus sd
    what_eps: object       # (B, Z) noise of the z_what sample, or None
    dec: object            # MLPCache
    out: tuple             # the decoder's sigmoid (activation cache)
    render: object         # RenderCache
    kl_where: tuple
    kl_what: tuple


def initial_state(B: int, cfg, dtype=np.float32) -> State:
    return State(np.zeros((B, cfg.lstm), dtype), np.zeros((B, cfg.lstm), dtype), np.zeros((B, 3 + cfg.z_what), dtype))


def _sample(mu, sd, eps):
    """mu + sd * eps, or the mean mu when eps is None."""
    return mu if eps is None else gaussian_sample_forward(mu, sd, eps)[0]


def step_forward(params: dict, images: np.ndarray, xw: np.ndarray, state: State, eps_where, eps_what, cfg):
    """One attention step.

    images: (B, C, C); xw: (B, 4H) the image's LSTM input projection (shared by every step);
    state: the previous State; eps_where (B, 3), eps_what (B, Z): standard normal noise of the
    reparameterised samples, or None for the posterior means. Returns (StepOut, StepCache).
    """
    B, C, n, Z = images.shape[0], cfg.canvas, cfg.window, cfg.z_what
    dt = xw.dtype
    h, c, lc = lstm_step_forward(xw + state.z @ params["lstm.Wz"], state.h, state.c, params["lstm.Wh"])
    o, pc = mlp_forward(h, params, "predict", MLP)
    logit, wmu, wraw = o[:, 0], o[:, 1:4], o[:, 4:7]
    wsd = softplus(wraw) + SD_FLOOR
    zw = _sample(wmu, wsd, eps_where)
    g, cc = crop_forward(images, zw, n)
    e, ec = mlp_forward(g.reshape(B, n * n), params, "enc", MLP)
    qmu, qraw = e[:, :Z], e[:, Z:]
    qsd = softplus(qraw) + SD_FLOOR
    zwhat = _sample(qmu, qsd, eps_what)
    d, dc = mlp_forward(zwhat, params, "dec", MLP)
    y, yc = activation_forward(d + np.asarray(cfg.decoder_bias, dt), "sigmoid")
    y = y.reshape(B, n, n)
    obj, rc = render_forward(y, zw, C)
    klw, kcw = gaussian_kl_forward(wmu, wsd, np.asarray(cfg.where_prior_mu, dt), np.asarray(cfg.where_prior_sd, dt))
    klq, kcq = gaussian_kl_forward(qmu, qsd, 0.0, 1.0)
    out = StepOut(logit, klw + klq, obj, y, g, zw, wmu, wsd, State(h, c, np.concatenate([zw, zwhat], axis=1)))
    return out, StepCache(lc, state.z, pc, wraw, eps_where, cc, ec, qraw, eps_what, dc, yc, rc, kcw, kcq)


def _latent_backward(dz, dkl, kl_cache, eps_cache):
    """Gradients (dmu, dsd) of a Gaussian latent z = mu + sd * eps (or z = mu when eps is None,
    the posterior mean) from its sample's gradient dz and its KL term's weight dkl."""
    dmu, dsd = gaussian_kl_backward(dkl, kl_cache)
    if eps_cache is None:
        return dmu + dz, dsd
    dmu_s, dsd_s = gaussian_sample_backward(dz, eps_cache)
    return dmu + dmu_s, dsd + dsd_s


def step_backward(params: dict, dlogit: np.ndarray, dkl: np.ndarray, dobj: np.ndarray, dnext: State,
                  cache: StepCache, cfg):
    """Backward of :func:`step_forward`.

    dlogit (B,), dkl (B,), dobj (B, C, C): gradients of the objective w.r.t. this step's outputs;
    dnext: gradient w.r.t. the State this step handed on (zeros after the last step).
    Returns (dxw (B, 4H), dstate: State gradient w.r.t. the previous state, grads: dict of this
    step's parameter gradients, every parameter but lstm.Wx and lstm.b, which the caller forms
    from the summed dxw).
    """
    B, n = dobj.shape[0], cfg.window
    # decoder and renderer
    dy, dzw = render_backward(dobj, cache.render)
    dd = activation_backward(dy.reshape(B, n * n), cache.out)
    dzwhat, g_dec = mlp_backward(dd, cache.dec)
    dzwhat = dzwhat + dnext.z[:, 3:]
    dqmu, dqsd = _latent_backward(dzwhat, dkl, cache.kl_what, cache.what_eps)
    de = np.concatenate([dqmu, softplus_backward(dqsd, cache.what_raw)], axis=1)
    dg, g_enc = mlp_backward(de, cache.enc)
    _, dzw_crop = crop_backward(dg.reshape(B, n, n), cache.crop, need_image=False)
    dzw = dzw + dzw_crop + dnext.z[:, :3]
    dwmu, dwsd = _latent_backward(dzw, dkl, cache.kl_where, cache.where_eps)
    do = np.concatenate([dlogit[:, None], dwmu, softplus_backward(dwsd, cache.where_raw)], axis=1)
    dh, g_pred = mlp_backward(do, cache.predict)
    dxw, dh_prev, dc_prev, dWh = lstm_step_backward(dnext.h + dh, dnext.c, cache.lstm)
    grads = {"lstm.Wz": outer(cache.zprev, dxw), "lstm.Wh": dWh, **g_pred, **g_enc, **g_dec}
    return dxw, State(dh_prev, dc_prev, dxw @ params["lstm.Wz"].T), grads


# ----------------------------------------------------------------------------- the unrolled loop

class Output(NamedTuple):
    """The T steps' outputs stacked on axis 1 (see StepOut)."""
    logit: np.ndarray      # (B, T)
    kl: np.ndarray         # (B, T)
    obj: np.ndarray        # (B, T, C, C)
    patch: np.ndarray      # (B, T, n, n)
    glimpse: np.ndarray    # (B, T, n, n)
    z_where: np.ndarray    # (B, T, 3)
    where_mu: np.ndarray   # (B, T, 3)
    where_sd: np.ndarray   # (B, T, 3)
    h: np.ndarray          # (B, T, H) LSTM outputs (the NVIL baseline's input)


class Cache(NamedTuple):
    X: np.ndarray          # (B, C*C) the flattened images
    steps: tuple           # T StepCaches


def forward(params: dict, images: np.ndarray, eps_where: np.ndarray | None, eps_what: np.ndarray | None,
            cfg, *, keep_cache: bool = True):
    """Run all T = cfg.max_objects steps.

    images: (B, C, C). eps_where (B, T, 3), eps_what (B, T, Z): standard normal noise of the
    reparameterised samples, or None for the posterior means (evaluation).
    Returns (Output, Cache or None if not keep_cache).
    """
    B, C, T = images.shape[0], cfg.canvas, cfg.max_objects
    X = images.reshape(B, C * C)
    xw = X @ params["lstm.Wx"] + params["lstm.b"]
    state = initial_state(B, cfg, params["lstm.Wx"].dtype)
    outs, caches = [], []
    for t in range(T):
        out, cache = step_forward(params, images, xw, state, None if eps_where is None else eps_where[:, t],
                                  None if eps_what is None else eps_what[:, t], cfg)
        state = out.state
        outs.append(out)
        if keep_cache:
            caches.append(cache)
    stacked = Output(*(np.stack([getattr(o, k) for o in outs], axis=1) for k in Output._fields if k != "h"),
                     h=np.stack([o.state.h for o in outs], axis=1))
    return stacked, (Cache(X, tuple(caches)) if keep_cache else None)


def backward(params: dict, cache: Cache, dlogit: np.ndarray, dkl: np.ndarray, dobj: np.ndarray, cfg) -> dict:
    """BPTT through :func:`forward`: walks reversed(range(T)), carrying the State gradient.

    dlogit (B, T), dkl (B, T), dobj (B, T, C, C): gradients of the objective w.r.t. the stacked
    outputs. Returns the parameter gradients, one per parameter, in the order of ``params``
    (the order fixes the summation order of the clip norm).
    """
    X, steps = cache
    dt = params["lstm.Wx"].dtype
    dstate = initial_state(X.shape[0], cfg, dt)
    dxw = np.zeros((X.shape[0], 4 * cfg.lstm), dt)
    total: dict = {}
    for t in reversed(range(len(steps))):
        da, dstate, g = step_backward(params, dlogit[:, t], dkl[:, t], dobj[:, t], dstate, steps[t], cfg)
        dxw += da
        for k, v in g.items():
            total[k] = total[k] + v if k in total else v
    total["lstm.Wx"] = X.T @ dxw
    total["lstm.b"] = dxw.sum(0)
    return {k: total[k] for k in params}


# ----------------------------------------------------------------------------- NVIL baseline

def baseline_forward(bparams: dict, h: np.ndarray):
    """NVIL baseline b (B, T) from the DETACHED LSTM states h (B, T, H). Returns (b, MLPCache)."""
    b, cache = mlp_forward(h, bparams, "baseline", MLP)
    return b[..., 0], cache


def baseline_backward(db: np.ndarray, cache) -> dict:
    """db (B, T) -> gradients of every baseline parameter (nothing flows into h: it is detached)."""
    return mlp_backward(db[..., None], cache, need_dx=False)[1]
