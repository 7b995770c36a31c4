"""The convolutional RNN-EM cell of the flying-shapes experiments (thesis Table 5.1): forward and
backward pass of one EM step, for every slot of every sequence at once (N = B K slot images).

    encoder   conv 4x4 stride 2 -> (S/2, S/2, C1), LN, ELU
              conv 4x4 stride 2 -> (S/4, S/4, C2), LN, ELU
              fully connected   -> M, LN, ELU
    recurrent h = sigmoid(LN([e, h_prev] W))            LN on the output, none on the recurrence alone
    decoder   fully connected   -> M, LN, ReLU
              fully connected   -> (S/4, S/4, C2), LN, ReLU
              nearest x2, conv 4x4 -> (S/2, S/2, C1), LN, ReLU
              nearest x2, conv 4x4 -> (S, S, 1): the logits o (psi = sigmoid(o))

Table 5.1: S = 28, C1 = 32, C2 = 64, M = 512, 100 recurrent units (``hidden``). Each layer is
linear map -> layer norm -> activation (the authors' order); a layer followed by layer norm has no
bias (the norm's own bias replaces it, as in the authors' TensorFlow layers). Layer norm of a
feature map normalises over all of (H, W, C) per slot image, with a gain and bias per channel.
The stride-1 convolutions pad like TensorFlow's "SAME" for an even kernel: 1 before, 2 after;
each with the upsampling before it is one op (``common.layers.upsample_conv2d_forward``), computed
on the small input.

Every layer is a forward/backward pair from ``common.layers``; the cell keeps one named tuple of
their caches. Parameters are namespaced (``enc.conv1.W``, ``rnn.ln.g``, ``dec.conv2.b``).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from common.layers import (conv2d_backward, conv2d_forward, elu_backward, elu_forward, glorot, layernorm_backward,
                           layernorm_forward, mm, outer, sigmoid, upsample_conv2d_backward, upsample_conv2d_forward)

__all__ = ["init_conv_params", "conv_cell_forward", "conv_cell_backward", "conv_state_size", "conv_macs"]

def _conv_init(rng, kh, kw, c_in, c_out, dtype):
    """Glorot-uniform over the fan-in kh kw c_in and fan-out kh kw c_out, shape (kh, kw, c_in, c_out)."""
    lim = np.sqrt(6.0 / (kh * kw * (c_in + c_out)))
    return rng.uniform(-lim, lim, size=(kh, kw, c_in, c_out)).astype(dtype)


def init_conv_params(D: int, hidden: int, channels: int, mlp: int, rng: np.random.Generator, *,
                     dtype=np.float32) -> dict[str, np.ndarray]:
    """Parameters of the cell for S x S images (D = S^2, S divisible by 4); C1 = channels,
    C2 = 2 channels (Table 5.1's ratio), M = mlp, R = hidden. Glorot-uniform weights, layer-norm
    gains 1 and biases 0."""
    S = int(round(D ** 0.5))
    if S * S != D or S % 4:
        raise ValueError(f"the conv cell needs square images with a side divisible by 4, got D={D}")
    C1, C2, M, R, F = channels, 2 * channels, mlp, hidden, (S // 4) ** 2 * 2 * channels
    p = {"enc.conv1.W": _conv_init(rng, 4, 4, 1, C1, dtype), "enc.conv2.W": _conv_init(rng, 4, 4, C1, C2, dtype),
         "enc.fc.W": glorot(rng, F, M, dtype), "rnn.W": glorot(rng, M + R, R, dtype),
         "dec.fc1.W": glorot(rng, R, M, dtype), "dec.fc2.W": glorot(rng, M, F, dtype),
         "dec.conv1.W": _conv_init(rng, 4, 4, C2, C1, dtype), "dec.conv2.W": _conv_init(rng, 4, 4, C1, 1, dtype),
         "dec.conv2.b": np.zeros(1, dtype)}
    for name, n in (("enc.ln1", C1), ("enc.ln2", C2), ("enc.ln3", M), ("rnn.ln", R), ("dec.ln1", M),
                    ("dec.ln2", F), ("dec.ln3", C1)):
        p[name + ".g"] = np.ones(n, dtype)
        p[name + ".b"] = np.zeros(n, dtype)
    return p


def conv_state_size(p: dict) -> int:
    return p["rnn.W"].shape[1]


def conv_macs(D: int, hidden: int, channels: int, mlp: int) -> int:
    """Multiply-adds of one forward step for one slot image (the GEMMs only)."""
    S = int(round(D ** 0.5))
    C1, C2, M, R = channels, 2 * channels, mlp, hidden
    F = (S // 4) ** 2 * C2
    return ((S // 2) ** 2 * 16 * C1 + (S // 4) ** 2 * 16 * C1 * C2 + F * M + (M + R) * R + R * M + M * F
            + (S // 2) ** 2 * 16 * C2 * C1 + S * S * 16 * C1)


# ----------------------------------------------------------------------------- norm + activation

class NormActCache(NamedTuple):
    ln: tuple            # layernorm_forward's cache (over the flattened non-batch axes)
    xhat: np.ndarray     # normalised input, shaped like the layer's output
    gain: np.ndarray
    act: str
    act_cache: object


def norm_act_forward(z: np.ndarray, gain: np.ndarray, bias: np.ndarray, act: str):
    """y = act(gain * LN(z) + bias). z: (N, ..., C), normalised over all non-batch axes per row;
    gain, bias: (C,) broadcast over the last axis. act: "elu", "relu" or "sigmoid"."""
    N = z.shape[0]
    xhat, ln = layernorm_forward(z.reshape(N, -1))
    xhat = xhat.reshape(z.shape)
    a = xhat * gain + bias
    if act == "elu":
        y, ac = elu_forward(a)
    elif act == "relu":
        y, ac = np.maximum(a, 0), a > 0
    else:
        y = ac = sigmoid(a)
    return y, NormActCache(ln, xhat, gain, act, ac)


def norm_act_backward(dy: np.ndarray, c: NormActCache):
    """dy: like y -> (dz, dgain (C,), dbias (C,))."""
    if c.act == "elu":
        da = elu_backward(dy, c.act_cache)
    elif c.act == "relu":
        da = dy * c.act_cache
    else:
        da = dy * c.act_cache * (1 - c.act_cache)
    axes = tuple(range(da.ndim - 1))
    dg, db = (da * c.xhat).sum(axis=axes), da.sum(axis=axes)
    N = da.shape[0]
    dz, _ = layernorm_backward((da * c.gain).reshape(N, -1), c.ln)
    return dz.reshape(da.shape), dg, db


# ----------------------------------------------------------------------------- the cell

class ConvCellCache(NamedTuple):
    shape: tuple         # (B, K, S)
    conv1: tuple
    na1: NormActCache
    conv2: tuple
    na2: NormActCache
    y2: np.ndarray       # (N, S/4, S/4, C2) encoder features, flattened into the fc layer
    na3: NormActCache
    inp: np.ndarray      # (N, M + R) [e | h_prev]
    na4: NormActCache    # its act_cache is h
    y5: np.ndarray       # (N, M)
    na5: NormActCache
    na6: NormActCache
    conv3: tuple         # upsample_conv2d caches (nearest x2 + 4x4 "SAME" conv as one op)
    na7: NormActCache
    conv4: tuple


def conv_cell_forward(u: np.ndarray, h_prev: np.ndarray, p: dict):
    """One step. u: (B, K, D) input gamma (psi - x~); h_prev: (B, K, R).
    Returns (h (B, K, R), o (B, K, D) logits), ConvCellCache."""
    B, K, D = u.shape
    S, N = int(round(D ** 0.5)), B * K
    zero = lambda n: np.zeros(n, u.dtype)                                        # noqa: E731
    z1, c1 = conv2d_forward(u.reshape(N, S, S, 1), p["enc.conv1.W"], zero(p["enc.conv1.W"].shape[-1]), 2, 1)
    y1, n1 = norm_act_forward(z1, p["enc.ln1.g"], p["enc.ln1.b"], "elu")
    z2, c2 = conv2d_forward(y1, p["enc.conv2.W"], zero(p["enc.conv2.W"].shape[-1]), 2, 1)
    y2, n2 = norm_act_forward(z2, p["enc.ln2.g"], p["enc.ln2.b"], "elu")
    y3, n3 = norm_act_forward(mm(y2.reshape(N, -1), p["enc.fc.W"]), p["enc.ln3.g"], p["enc.ln3.b"], "elu")
    inp = np.concatenate([y3, h_prev.reshape(N, -1)], axis=1)
    h, n4 = norm_act_forward(mm(inp, p["rnn.W"]), p["rnn.ln.g"], p["rnn.ln.b"], "sigmoid")
    y5, n5 = norm_act_forward(mm(h, p["dec.fc1.W"]), p["dec.ln1.g"], p["dec.ln1.b"], "relu")
    y6, n6 = norm_act_forward(mm(y5, p["dec.fc2.W"]), p["dec.ln2.g"], p["dec.ln2.b"], "relu")
    z7, c3 = upsample_conv2d_forward(y6.reshape(y2.shape), p["dec.conv1.W"], zero(p["dec.conv1.W"].shape[-1]))
    y7, n7 = norm_act_forward(z7, p["dec.ln3.g"], p["dec.ln3.b"], "relu")
    o, c4 = upsample_conv2d_forward(y7, p["dec.conv2.W"], p["dec.conv2.b"])
    cache = ConvCellCache((B, K, S), c1, n1, c2, n2, y2, n3, inp, n4, y5, n5, n6, c3, n7, c4)
    return (h.reshape(B, K, -1), o.reshape(B, K, D)), cache


def conv_cell_backward(dh: np.ndarray, do: np.ndarray, c: ConvCellCache, p: dict, need_du: bool = True):
    """dh: (B, K, R) from step t+1, do: (B, K, D). Returns (du (B, K, D) or None, dh_prev (B, K, R),
    grads keyed like p). need_du=False skips the encoder's input gradient (the first step)."""
    B, K, S = c.shape
    N = B * K
    g = {}
    dy7, gr = upsample_conv2d_backward(do.reshape(N, S, S, 1), c.conv4)
    g["dec.conv2.W"], g["dec.conv2.b"] = gr["W"], gr["b"]
    dz7, g["dec.ln3.g"], g["dec.ln3.b"] = norm_act_backward(dy7, c.na7)
    dy6, gr = upsample_conv2d_backward(dz7, c.conv3)
    g["dec.conv1.W"] = gr["W"]
    dz6, g["dec.ln2.g"], g["dec.ln2.b"] = norm_act_backward(dy6.reshape(N, -1), c.na6)
    g["dec.fc2.W"] = outer(c.y5, dz6)
    dz5, g["dec.ln1.g"], g["dec.ln1.b"] = norm_act_backward(mm(dz6, p["dec.fc2.W"].T), c.na5)
    h = c.na4.act_cache
    g["dec.fc1.W"] = outer(h, dz5)
    dh_total = dh.reshape(N, -1) + mm(dz5, p["dec.fc1.W"].T)
    dz4, g["rnn.ln.g"], g["rnn.ln.b"] = norm_act_backward(dh_total, c.na4)
    g["rnn.W"] = outer(c.inp, dz4)
    dinp = mm(dz4, p["rnn.W"].T)
    M = c.na3.xhat.shape[-1]
    dh_prev = dinp[:, M:].reshape(B, K, -1)
    dz3, g["enc.ln3.g"], g["enc.ln3.b"] = norm_act_backward(dinp[:, :M], c.na3)
    g["enc.fc.W"] = outer(c.y2.reshape(N, -1), dz3)
    dz2, g["enc.ln2.g"], g["enc.ln2.b"] = norm_act_backward(mm(dz3, p["enc.fc.W"].T).reshape(c.y2.shape), c.na2)
    dy1, gr = conv2d_backward(dz2, c.conv2)
    g["enc.conv2.W"] = gr["W"]
    dz1, g["enc.ln1.g"], g["enc.ln1.b"] = norm_act_backward(dy1, c.na1)
    du, gr = conv2d_backward(dz1, c.conv1, need_dx=need_du)      # the first step's input is a constant
    g["enc.conv1.W"] = gr["W"]
    return (du.reshape(B, K, S * S) if need_du else None), dh_prev, g
