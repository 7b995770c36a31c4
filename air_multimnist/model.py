"""AIR networks (Eslami et al. 2016, sec. 3 and fig. 2): recurrent inference network, crop encoder,
window decoder, rendered and summed objects -- forward and hand-written backward.

One inference step t (Pyro's AIR example layout, REFERENCE.md):
    gates = [x, z_where_{t-1}, z_what_{t-1}] W + h_{t-1} W_h     (LSTM, 256 units; x the 50x50 image)
    [logit_t, mu_where, raw_where] = MLP_predict(h_t)            (200 ReLU units)
    z_where_t = mu_where + softplus(raw_where) eps               (scale s, shift x, y)
    g_t = crop(x, z_where_t)                                     (window x window glimpse)
    [mu_what, raw_what] = MLP_enc(g_t);  z_what_t = mu_what + softplus(raw_what) eps'
    y_t = sigmoid(MLP_dec(z_what_t) + output_bias)               (output bias -2: objects start faint)
    o_t = render(y_t, z_where_t)                                 (the object on the canvas)
and the scene mean is sum_t z_pres_t o_t with z_pres_t = prod_{s<=t} Bernoulli(sigmoid(logit_s)).

The previous z_pres is also an input to the LSTM in the paper. A step only matters when every
earlier z_pres was 1, so that input is the constant 1 on every step that can contribute (and
the bias absorbs it): the networks' forward pass is therefore the same for every z_pres
configuration, which is what lets :mod:`air_multimnist.objectives` evaluate the ELBO of all
four counts (enumeration) or of a sampled one (REINFORCE) from ONE forward pass.

Shapes: B batch, T steps, H LSTM units, Z = z_what size, n = window side, C = canvas side.
The image's input projection x W_x + b is computed once per batch for all T steps.
"""

from __future__ import annotations

import numpy as np

from air_multimnist.stn import crop_backward, crop_forward, render_backward, render_forward
from common.layers import (gaussian_kl_backward, gaussian_kl_forward, glorot, lstm_step_backward,
                           lstm_step_forward, sigmoid, softplus, softplus_backward)

__all__ = ["init_params", "init_baseline", "forward", "backward", "baseline_forward",
           "baseline_backward", "SD_FLOOR"]

SD_FLOOR = 1e-4   # added to softplus standard deviations so log(sd) stays finite


def init_params(cfg, rng: np.random.Generator, dtype=np.float32) -> dict:
    """Glorot weights, zero biases, and the initialisation that working AIRs use: forget-gate
    bias 1, z_pres logit bias ``cfg.pres_bias_init``, z_where mean bias at the prior mean
    (s = cfg.where_prior_mu[0], centred), z_where sd small (softplus(cfg.where_sd_bias_init))
    and small output weights in the predict head so every image starts near that setting."""
    C, n, H, Z, Hm = cfg.canvas, cfg.window, cfg.lstm, cfg.z_what, cfg.hidden
    H4 = 4 * H
    p = {
        "Wx": glorot(rng, C * C, H4, dtype) * np.asarray(0.5, dtype), "Wz": glorot(rng, 3 + Z, H4, dtype),
        "Wh": glorot(rng, H, H4, dtype), "b": np.zeros(H4, dtype),
        "P1": glorot(rng, H, Hm, dtype), "pb1": np.zeros(Hm, dtype),
        "P2": glorot(rng, Hm, 7, dtype) * np.asarray(0.1, dtype), "pb2": np.zeros(7, dtype),
        "E1": glorot(rng, n * n, Hm, dtype), "eb1": np.zeros(Hm, dtype),
        "E2": glorot(rng, Hm, 2 * Z, dtype), "eb2": np.zeros(2 * Z, dtype),
        "D1": glorot(rng, Z, Hm, dtype), "db1": np.zeros(Hm, dtype),
        "D2": glorot(rng, Hm, n * n, dtype), "db2": np.zeros(n * n, dtype),
    }
    p["b"][H:2 * H] = 1.0
    p["pb2"][:] = [cfg.pres_bias_init, cfg.where_prior_mu[0], 0.0, 0.0] + [cfg.where_sd_bias_init] * 3
    return p


def init_baseline(cfg, rng: np.random.Generator, dtype=np.float32) -> dict:
    """NVIL baseline b_t = MLP(stop_grad(h_t)) (Mnih & Gregor 2014): H -> hidden ReLU -> 1."""
    return {"B1": glorot(rng, cfg.lstm, cfg.hidden, dtype), "bb1": np.zeros(cfg.hidden, dtype),
            "B2": np.zeros((cfg.hidden, 1), dtype), "bb2": np.zeros(1, dtype)}


def _relu_linear(x, W, b):
    a = x @ W + b
    return np.maximum(a, 0), a


def forward(params: dict, images: np.ndarray, eps_where: np.ndarray | None, eps_what: np.ndarray | None,
            cfg, *, keep_cache: bool = True) -> dict:
    """Run all T inference/generation steps.

    images: (B, C, C). eps_where (B, T, 3), eps_what (B, T, Z): standard normal noise of the
    reparameterised samples, or None for the posterior means (evaluation).
    Returns a dict of per-step arrays: logit (B, T), kl (B, T) = KL_where + KL_what,
    obj (B, T, C, C) rendered objects, patch (B, T, n, n) decoded windows, glimpse (B, T, n, n),
    z_where (B, T, 3), where_mu, where_sd (B, T, 3), h (B, T, H), and "cache" (for backward).
    """
    B, C = images.shape[0], cfg.canvas
    T, Z, n, H = cfg.steps, cfg.z_what, cfg.window, cfg.lstm
    dt = params["Wx"].dtype
    X = images.reshape(B, C * C)
    xw = X @ params["Wx"] + params["b"]
    h = np.zeros((B, H), dt)
    c = np.zeros((B, H), dt)
    zprev = np.zeros((B, 3 + Z), dt)
    out = {k: [] for k in ("logit", "kl", "obj", "patch", "glimpse", "z_where", "where_mu", "where_sd", "h")}
    caches = []
    wmu0, wsd0 = np.asarray(cfg.where_prior_mu, dt), np.asarray(cfg.where_prior_sd, dt)
    for t in range(T):
        h, c, lc = lstm_step_forward(xw + zprev @ params["Wz"], h, c, params["Wh"])
        p1, pa1 = _relu_linear(h, params["P1"], params["pb1"])
        o = p1 @ params["P2"] + params["pb2"]
        logit, wmu, wraw = o[:, 0], o[:, 1:4], o[:, 4:7]
        wsd = softplus(wraw) + SD_FLOOR
        zw = wmu if eps_where is None else wmu + wsd * eps_where[:, t]
        g, cc = crop_forward(images, zw, n)
        e1, ea1 = _relu_linear(g.reshape(B, n * n), params["E1"], params["eb1"])
        e2 = e1 @ params["E2"] + params["eb2"]
        qmu, qraw = e2[:, :Z], e2[:, Z:]
        qsd = softplus(qraw) + SD_FLOOR
        zwhat = qmu if eps_what is None else qmu + qsd * eps_what[:, t]
        d1, da1 = _relu_linear(zwhat, params["D1"], params["db1"])
        y = sigmoid(d1 @ params["D2"] + params["db2"] + np.asarray(cfg.decoder_bias, dt)).reshape(B, n, n)
        obj, rc = render_forward(y, zw, C)
        klw, kcw = gaussian_kl_forward(wmu, wsd, wmu0, wsd0)
        klq, kcq = gaussian_kl_forward(qmu, qsd, 0.0, 1.0)
        for k, v in (("logit", logit), ("kl", klw + klq), ("obj", obj), ("patch", y), ("glimpse", g),
                     ("z_where", zw), ("where_mu", wmu), ("where_sd", wsd), ("h", h)):
            out[k].append(v)
        if keep_cache:
            caches.append((lc, h, p1, pa1, wraw, cc, g, e1, ea1, qraw, zprev, zwhat, d1, da1, y, rc, kcw, kcq))
        zprev = np.concatenate([zw, zwhat], axis=1)
    res = {k: np.stack(v, axis=1) for k, v in out.items()}
    res["cache"] = (X, caches, eps_where, eps_what) if keep_cache else None
    return res


def backward(params: dict, fwd: dict, dlogit: np.ndarray, dkl: np.ndarray, dobj: np.ndarray, cfg) -> dict:
    """BPTT through :func:`forward` (walks reversed(range(T))).

    dlogit (B, T), dkl (B, T), dobj (B, T, C, C): gradients of the objective w.r.t. the per-step
    outputs. Returns a dict of parameter gradients with the same keys as ``params``.
    """
    X, caches, eps_where, eps_what = fwd["cache"]
    B, T, Z, n, H = X.shape[0], cfg.steps, cfg.z_what, cfg.window, cfg.lstm
    # Wx and b are set once after the loop; None keeps the key order (and so the clip norm's sum).
    g = {k: (None if k in ("Wx", "b") else np.zeros_like(v)) for k, v in params.items()}
    dxw = np.zeros((B, 4 * H), params["Wx"].dtype)
    dh = np.zeros((B, H), dxw.dtype)
    dc = np.zeros((B, H), dxw.dtype)
    dznext = np.zeros((B, 3 + Z), dxw.dtype)     # gradient reaching z_where_t, z_what_t from step t+1
    for t in reversed(range(T)):
        lc, h, p1, pa1, wraw, cc, gl, e1, ea1, qraw, zprev, zwhat, d1, da1, y, rc, kcw, kcq = caches[t]
        # decoder and renderer
        dy, dzw = render_backward(dobj[:, t], rc)
        dy = dy.reshape(B, n * n) * y.reshape(B, n * n) * (1 - y.reshape(B, n * n))
        g["D2"] += d1.T @ dy
        g["db2"] += dy.sum(0)
        dda1 = (dy @ params["D2"].T) * (da1 > 0)
        g["D1"] += zwhat.T @ dda1
        g["db1"] += dda1.sum(0)
        dzwhat = dda1 @ params["D1"].T + dznext[:, 3:]
        # z_what sample and KL
        dqmu, dqsd = gaussian_kl_backward(dkl[:, t], kcq)
        dqmu = dqmu + dzwhat
        if eps_what is not None:
            dqsd = dqsd + dzwhat * eps_what[:, t]
        de2 = np.concatenate([dqmu, softplus_backward(dqsd, qraw)], axis=1)
        g["E2"] += e1.T @ de2
        g["eb2"] += de2.sum(0)
        dea1 = (de2 @ params["E2"].T) * (ea1 > 0)
        g["E1"] += gl.reshape(B, n * n).T @ dea1
        g["eb1"] += dea1.sum(0)
        dgl = (dea1 @ params["E1"].T).reshape(B, n, n)
        _, dzw_crop = crop_backward(dgl, cc, need_image=False)
        dzw = dzw + dzw_crop + dznext[:, :3]
        # z_where sample and KL
        dwmu, dwsd = gaussian_kl_backward(dkl[:, t], kcw)
        dwmu = dwmu + dzw
        if eps_where is not None:
            dwsd = dwsd + dzw * eps_where[:, t]
        do = np.concatenate([dlogit[:, t:t + 1], dwmu, softplus_backward(dwsd, wraw)], axis=1)
        g["P2"] += p1.T @ do
        g["pb2"] += do.sum(0)
        dpa1 = (do @ params["P2"].T) * (pa1 > 0)
        g["P1"] += h.T @ dpa1
        g["pb1"] += dpa1.sum(0)
        dh = dh + dpa1 @ params["P1"].T
        da, dh, dc, dWh = lstm_step_backward(dh, dc, lc)
        g["Wh"] += dWh
        dxw += da
        g["Wz"] += zprev.T @ da
        dznext = da @ params["Wz"].T
    g["Wx"] = X.T @ dxw
    g["b"] = dxw.sum(0)
    return g


def baseline_forward(bparams: dict, h: np.ndarray):
    """NVIL baseline b (B, T) from the DETACHED LSTM states h (B, T, H). Returns (b, cache)."""
    hid, a = _relu_linear(h.reshape(-1, h.shape[-1]), bparams["B1"], bparams["bb1"])
    b = (hid @ bparams["B2"] + bparams["bb2"]).reshape(h.shape[:2])
    return b, (h, hid, a)


def baseline_backward(db: np.ndarray, bparams: dict, cache) -> dict:
    """db (B, T) -> gradients of the baseline parameters (nothing flows into h: it is detached)."""
    h, hid, a = cache
    d = db.reshape(-1, 1)
    dhid = (d @ bparams["B2"].T) * (a > 0)
    return {"B2": hid.T @ d, "bb2": d.sum(0), "B1": h.reshape(-1, h.shape[-1]).T @ dhid, "bb1": dhid.sum(0)}
