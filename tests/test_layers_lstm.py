"""Float64 gradient checks of the LSTM cell (BPTT over several steps) and the Gaussian pairs
appended to common.layers for AIR."""

import numpy as np

from common.gradcheck import check_gradients
from common.layers import (gaussian_kl_backward, gaussian_kl_forward, gaussian_sample_backward,
                           gaussian_sample_forward, lstm_step_backward, lstm_step_forward, softplus,
                           softplus_backward)


def test_lstm_bptt_gradients_with_shared_input_projection():
    """loss = sum_t <r_t, h_t> + <s, c_T>; x is projected once and shared by all T steps."""
    r = np.random.default_rng(0)
    B, D, H, T = 3, 5, 4, 4
    p = {"x": r.normal(size=(B, D)), "Wx": r.normal(size=(D, 4 * H)) * 0.5,
         "b": r.normal(size=4 * H) * 0.1, "Wh": r.normal(size=(H, 4 * H)) * 0.5,
         "h0": r.normal(size=(B, H)), "c0": r.normal(size=(B, H))}
    rs, s = r.normal(size=(T, B, H)), r.normal(size=(B, H))

    def run():
        xw = p["x"] @ p["Wx"] + p["b"]
        h, c, caches, loss = p["h0"], p["c0"], [], 0.0
        for t in range(T):
            h, c, cache = lstm_step_forward(xw, h, c, p["Wh"])
            caches.append(cache)
            loss += np.sum(rs[t] * h)
        return loss + np.sum(s * c), caches

    _, caches = run()
    dh, dc = np.zeros((B, H)), s.copy()
    dxw, dWh = np.zeros((B, 4 * H)), np.zeros_like(p["Wh"])
    for t in reversed(range(T)):
        da, dh, dc, dW = lstm_step_backward(dh + rs[t], dc, caches[t])
        dxw += da
        dWh += dW
    grads = {"x": dxw @ p["Wx"].T, "Wx": p["x"].T @ dxw, "b": dxw.sum(0), "Wh": dWh, "h0": dh, "c0": dc}
    check_gradients(lambda: run()[0], p, grads).assert_ok(1e-6)


def test_lstm_matches_direct_formula():
    r = np.random.default_rng(1)
    B, H = 2, 3
    xw, h0, c0, Wh = r.normal(size=(B, 4 * H)), r.normal(size=(B, H)), r.normal(size=(B, H)), r.normal(size=(H, 4 * H))
    h, c, _ = lstm_step_forward(xw, h0, c0, Wh)
    a = xw + h0 @ Wh
    sg = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    i, f, o, g = sg(a[:, :H]), sg(a[:, H:2 * H]), sg(a[:, 2 * H:3 * H]), np.tanh(a[:, 3 * H:])
    np.testing.assert_allclose(c, f * c0 + i * g, rtol=1e-12)
    np.testing.assert_allclose(h, sg(a[:, 2 * H:3 * H]) * np.tanh(c), rtol=1e-12)


def test_gaussian_kl_and_sample_gradients():
    """loss = sum w KL(N(mu, softplus(raw)^2) || N(m0, s0^2)) + <v, mu + sd eps>."""
    r = np.random.default_rng(2)
    p = {"mu": r.normal(size=(4, 3)), "raw": r.normal(size=(4, 3))}
    m0, s0 = np.array([3.0, 0.0, 0.0]), np.array([0.2, 1.0, 1.0])
    eps, w, v = r.normal(size=(4, 3)), r.normal(size=4), r.normal(size=(4, 3))

    def loss():
        sd = softplus(p["raw"])
        kl, _ = gaussian_kl_forward(p["mu"], sd, m0, s0)
        z, _ = gaussian_sample_forward(p["mu"], sd, eps)
        return np.sum(w * kl) + np.sum(v * z)

    sd = softplus(p["raw"])
    _, ck = gaussian_kl_forward(p["mu"], sd, m0, s0)
    _, cs = gaussian_sample_forward(p["mu"], sd, eps)
    dmu, dsd = gaussian_kl_backward(w, ck)
    dmu2, dsd2 = gaussian_sample_backward(v, cs)
    grads = {"mu": dmu + dmu2, "raw": softplus_backward(dsd + dsd2, p["raw"])}
    check_gradients(loss, p, grads).assert_ok(1e-6)


def test_gaussian_kl_is_zero_at_the_prior_and_matches_closed_form():
    kl, _ = gaussian_kl_forward(np.array([[3.0, 0.0]]), np.array([[0.2, 1.0]]), [3.0, 0.0], [0.2, 1.0])
    assert abs(kl[0]) < 1e-12
    kl, _ = gaussian_kl_forward(np.array([[1.0]]), np.array([[2.0]]), 0.0, 1.0)
    np.testing.assert_allclose(kl, [np.log(0.5) + (4 + 1) / 2 - 0.5], rtol=1e-12)
