"""The Ladder network (Rasmus et al. 2015) that Tagger uses as its parametric mapping, with layer
normalisation in place of batch normalisation (the thesis's "Tagger*", Table 6.1: AMI 0.97).

Shapes: every array is (R, H) with R = rows (batch x groups; the K groups are independent copies
of the same network) and H a layer width. Widths ``sizes = (H0, H1, ..., HL)``: H0 is the ladder's
input layer (Tagger's projected TAG inputs), H1..HL the encoder layers.

Encoder (clean path; Tagger adds no noise inside the ladder), for l = 1..L:
    zt_l = LN(h_{l-1} W_l)                       (normalised pre-activation, the lateral signal)
    h_l  = relu(gamma_l * (zt_l + beta_l))
with zt_0 = h_0, the input. Decoder, top-down:
    u_L = LN(h_L);  zh_L = g_L(zt_L, u_L)
    u_l = LN(zh_{l+1} V_{l+1});  zh_l = g_l(zt_l, u_l)      for l = L-1..0
The output is zh_0 (R, H0), the reconstruction of the input layer.

Combinator g (Rasmus et al. eq. (2), "vanilla"), per unit with 10 parameters a[0..9] = a1..a10:
    mu(u) = a1 sigmoid(a2 u + a3) + a4 u + a5
    v(u)  = a6 sigmoid(a7 u + a8) + a9 u + a10
    g(zt, u) = (zt - mu(u)) v(u) + mu(u)
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from common.layers import layernorm_backward, layernorm_forward, mm, outer, sigmoid

__all__ = ["combinator_init", "combinator_forward", "combinator_backward", "LadderCache", "ladder_forward",
           "ladder_backward", "ladder_param_names"]


def combinator_init(H: int, dtype=np.float32) -> np.ndarray:
    """(10, H) combinator parameters at their initial values: g = 0.5 zt + 0.5 u (a4 = 1, a10 = 0.5,
    the sigmoid slopes a2 = a7 = 1, the rest 0), so at the start each unit passes half of the lateral
    and half of the top-down signal. (Rasmus et al. start from g = 0; with no noise in the encoder
    that leaves the first updates without a path from input to output.)"""
    a = np.zeros((10, H), dtype)
    a[1] = a[6] = 1.0
    a[3] = 1.0
    a[9] = 0.5
    return a


def combinator_forward(zt: np.ndarray, u: np.ndarray, a: np.ndarray):
    """zt, u: (R, H); a: (10, H) -> (zh (R, H), cache)."""
    s1 = sigmoid(a[1] * u + a[2])
    s2 = sigmoid(a[6] * u + a[7])
    mu = a[0] * s1 + a[3] * u + a[4]
    v = a[5] * s2 + a[8] * u + a[9]
    d = zt - mu
    return d * v + mu, (u, a, s1, s2, v, d)


def combinator_backward(dzh: np.ndarray, cache):
    """dzh: (R, H) -> (dzt, du, da (10, H)). From zh = d v + mu, d = zt - mu:
    dzt = dzh v, dv = dzh d, dmu = dzh (1 - v); then through mu(u) and v(u)."""
    u, a, s1, s2, v, d = cache
    dzt = dzh * v
    dv = dzh * d
    dmu = dzh - dzt
    p1 = dmu * a[0] * s1 * (1 - s1)           # d/d(a2 u + a3)
    p2 = dv * a[5] * s2 * (1 - s2)            # d/d(a7 u + a8)
    du = p1 * a[1] + dmu * a[3] + p2 * a[6] + dv * a[8]
    da = np.stack([(dmu * s1).sum(0), (p1 * u).sum(0), p1.sum(0), (dmu * u).sum(0), dmu.sum(0),
                   (dv * s2).sum(0), (p2 * u).sum(0), p2.sum(0), (dv * u).sum(0), dv.sum(0)])
    return dzt, du, da


def ladder_param_names(L: int) -> list[str]:
    """Parameter names of a ladder with L encoder layers (W_l, gamma_l, beta_l, V_l for l = 1..L;
    comb_l for l = 0..L)."""
    names = []
    for l in range(1, L + 1):
        names += [f"W{l}", f"gamma{l}", f"beta{l}", f"V{l}"]
    return names + [f"comb{l}" for l in range(L + 1)]


class LadderCache(NamedTuple):
    enc: list          # per layer l = 1..L: (h_{l-1}, ln cache, zt_l, a_l = gamma (zt + beta) pre-relu)
    top_ln: tuple      # LN cache of u_L = LN(h_L)
    dec: list          # per layer l = L..0: (combinator cache, LN cache of u_l (None at the top), zh_{l+1})


def ladder_forward(h0: np.ndarray, params: dict, L: int):
    """h0: (R, H0) -> (zh_0 (R, H0), LadderCache)."""
    enc, zts, h = [], [h0], h0
    for l in range(1, L + 1):
        zt, ln = layernorm_forward(mm(h, params[f"W{l}"]))
        a = params[f"gamma{l}"] * (zt + params[f"beta{l}"])
        enc.append((h, ln, zt, a))
        zts.append(zt)
        h = np.maximum(a, 0)
    u, top_ln = layernorm_forward(h)
    dec = []
    zh = None
    for l in range(L, -1, -1):
        ln = None
        if l < L:
            u, ln = layernorm_forward(mm(zh, params[f"V{l + 1}"]))
        prev = zh
        zh, cc = combinator_forward(zts[l], u, params[f"comb{l}"])
        dec.append((cc, ln, prev))
    return zh, LadderCache(enc, top_ln, dec)


def ladder_backward(dzh0: np.ndarray, cache: LadderCache, params: dict, L: int):
    """dzh0: (R, H0) -> (dh0 (R, H0), grads of every ladder parameter)."""
    grads = {}
    dzt = [None] * (L + 1)
    dzh = dzh0
    for l in range(0, L + 1):                          # dec was built top-down: l = L..0
        cc, ln, prev = cache.dec[L - l]
        dzt[l], du, grads[f"comb{l}"] = combinator_backward(dzh, cc)
        if l < L:
            dpre, _ = layernorm_backward(du, ln)
            grads[f"V{l + 1}"] = outer(prev, dpre)
            dzh = mm(dpre, params[f"V{l + 1}"].T)
        else:
            dh_top, _ = layernorm_backward(du, cache.top_ln)
    # Encoder, top-down: the top h gets the top-down u's gradient; each zt gets its lateral gradient.
    dh = dh_top
    for l in range(L, 0, -1):
        h_prev, ln, zt, a = cache.enc[l - 1]
        da = dh * (a > 0)
        grads[f"gamma{l}"] = (da * (zt + params[f"beta{l}"])).sum(0)
        grads[f"beta{l}"] = (da * params[f"gamma{l}"]).sum(0)
        dzt_l = da * params[f"gamma{l}"] + dzt[l]
        dpre, _ = layernorm_backward(dzt_l, ln)
        grads[f"W{l}"] = outer(h_prev, dpre)
        dh = mm(dpre, params[f"W{l}"].T)
    return dh + dzt[0], grads
