"""Float64 gradient checks of the whole AIR network + ELBO (z_pres fixed, and exact enumeration)
over EVERY parameter, of one step's backward on its own, of the NVIL baseline, agreement of the
averaged REINFORCE gradient with enumeration, and the parameter layout (names, init order)."""

import numpy as np
import pytest

from air_multimnist.config import make_config
from air_multimnist.model import (Cache, Output, State, StepCache, backward, baseline_backward, baseline_forward,
                                  forward, init_baseline, init_params, initial_state, step_backward, step_forward)
from air_multimnist.objectives import (count_log_prior, elbo_enumerate, elbo_fixed, elbo_reinforce,
                                       step_prior)
from common.gradcheck import check_gradients

CFG = make_config("quick", canvas=14, digit_size=(5, 6), window=5, lstm=6, hidden=7, z_what=3, where_prior_mu=(1.7, 0.0, 0.0),
                  pres_bias_init=0.3)


def _setup(seed=0, B=3):
    r = np.random.default_rng(seed)
    params = init_params(CFG, r, dtype=np.float64)
    for k in params:  # break symmetries of zero biases / tiny weights so every path is exercised
        params[k] = params[k] + r.normal(scale=0.05, size=params[k].shape)
    g = np.linspace(-1, 1, CFG.canvas)
    img = np.exp(-((g[None, :, None] - r.uniform(-.4, .4, (B, 1, 1))) ** 2
                   + (g[None, None, :] - r.uniform(-.4, .4, (B, 1, 1))) ** 2) * 4)
    ew = r.normal(size=(B, CFG.max_objects, 3)) * 0.3
    eq = r.normal(size=(B, CFG.max_objects, CFG.z_what))
    return params, img, ew, eq


def _check(objective, seed=0):
    params, img, ew, eq = _setup(seed)

    def loss():
        f, _ = forward(params, img, ew, eq, CFG)
        return float(objective(img, f)[0].sum())

    f, cache = forward(params, img, ew, eq, CFG)
    assert isinstance(f, Output) and isinstance(cache, Cache) and isinstance(cache.steps[0], StepCache)
    _, dl, dk, do = objective(img, f)
    grads = backward(params, cache, dl, dk, do, CFG)
    assert list(grads) == list(params)
    check_gradients(loss, params, grads, max_entries=40).assert_ok(1e-6)   # every parameter


@pytest.mark.parametrize("counts", [(0, 1, 3), (2, 3, 1)])
def test_whole_elbo_gradient_with_z_pres_fixed(counts):
    n = np.array(counts)
    _check(lambda img, f: elbo_fixed(img, f.logit, f.kl, f.obj, n, CFG.sigma, CFG.count_k))


def test_whole_enumerated_elbo_gradient():
    def obj(img, f):
        e, _, dl, dk, do = elbo_enumerate(img, f.logit, f.kl, f.obj, CFG.sigma, CFG.count_k)
        return e, dl, dk, do
    _check(obj, seed=1)


def test_posterior_mean_path_gradient():
    """eps = None (evaluation: z = mean) has its own branch in step_backward."""
    params, img, _, _ = _setup(5)
    n = np.array([1, 2, 3])

    def loss():
        f, _ = forward(params, img, None, None, CFG)
        return float(elbo_fixed(img, f.logit, f.kl, f.obj, n, CFG.sigma, CFG.count_k)[0].sum())

    f, cache = forward(params, img, None, None, CFG)
    _, dl, dk, do = elbo_fixed(img, f.logit, f.kl, f.obj, n, CFG.sigma, CFG.count_k)
    check_gradients(loss, params, backward(params, cache, dl, dk, do, CFG), max_entries=30).assert_ok(1e-6)


def test_one_step_backward_including_the_state():
    """step_backward alone: gradients w.r.t. xw, the incoming State and the step's parameters."""
    params, img, ew, eq = _setup(6)
    r = np.random.default_rng(7)
    B = img.shape[0]
    s0 = initial_state(B, CFG, np.float64)
    v = {"xw": r.normal(size=(B, 4 * CFG.lstm)), "h": r.normal(size=s0.h.shape), "c": r.normal(size=s0.c.shape),
         "z": r.normal(size=s0.z.shape) * 0.3}
    w = {k: r.normal(size=s) for k, s in (("logit", (B,)), ("kl", (B,)), ("obj", (B, CFG.canvas, CFG.canvas)),
                                            ("h", s0.h.shape), ("c", s0.c.shape), ("z", s0.z.shape))}
    step_params = {k: p for k, p in params.items() if k not in ("lstm.Wx", "lstm.b")}

    def run():
        out, cache = step_forward(params, img, v["xw"], State(v["h"], v["c"], v["z"]), ew[:, 0], eq[:, 0], CFG)
        loss = (np.sum(w["logit"] * out.logit) + np.sum(w["kl"] * out.kl) + np.sum(w["obj"] * out.obj)
                + sum(np.sum(w[k] * getattr(out.state, k)) for k in ("h", "c", "z")))
        return float(loss), cache

    _, cache = run()
    dxw, dstate, g = step_backward(params, w["logit"], w["kl"], w["obj"], State(w["h"], w["c"], w["z"]), cache, CFG)
    both = {**step_params, **v}
    ana = {**g, "xw": dxw, "h": dstate.h, "c": dstate.c, "z": dstate.z}
    check_gradients(lambda: run()[0], both, ana, max_entries=30).assert_ok(1e-6)


def test_enumeration_equals_expectation_of_fixed_elbos():
    params, img, ew, eq = _setup(2)
    f, _ = forward(params, img, ew, eq, CFG)
    e, q, *_ = elbo_enumerate(img, f.logit, f.kl, f.obj, CFG.sigma, CFG.count_k)
    np.testing.assert_allclose(q.sum(1), 1.0, rtol=1e-12)
    Fs = np.stack([elbo_fixed(img, f.logit, f.kl, f.obj, np.full(3, n), CFG.sigma, CFG.count_k)[0]
                   for n in range(CFG.max_objects + 1)], 1)
    np.testing.assert_allclose(e, (q * Fs).sum(1), rtol=1e-10)


def test_count_prior_per_step_matches_count_distribution():
    k, T = 0.01, 3
    sp = step_prior(k, T)
    pn = [np.prod(sp[:n]) * (1 - sp[n] if n < T else 1) for n in range(T + 1)]
    np.testing.assert_allclose(np.log(pn), count_log_prior(k, T), rtol=1e-10)
    assert np.allclose(np.diff(count_log_prior(k, T)), np.log(k))


def test_averaged_reinforce_gradient_agrees_with_enumeration():
    """Unbiasedness: the mean over many z_pres draws of the REINFORCE logit gradient (with any
    baseline) equals the exact enumerated gradient for the same network outputs."""
    r = np.random.default_rng(3)
    B, T, D, S = 2, 3, 16, 200_000
    img = r.random((B, 4, 4))
    logit, kl = r.normal(size=(B, T)), r.uniform(0.5, 2, (B, T))
    obj = r.random((B, T, 4, 4)) * 0.5
    _, _, dl_enum, dk_enum, do_enum = elbo_enumerate(img, logit, kl, obj, 0.5, 0.2)
    rep = lambda a: np.repeat(a, S, axis=0)  # noqa: E731
    base = rep(r.normal(size=(B, T)) * 3)
    _, _, dl, dk, do, _, _ = elbo_reinforce(rep(img), rep(logit), rep(kl), rep(obj), 0.5, 0.2,
                                            r.random((B * S, T)), base)
    mean = lambda a: a.reshape(B, S, *a.shape[1:]).mean(1)  # noqa: E731
    stderr = dl.reshape(B, S, T).std(1) / np.sqrt(S)
    assert np.all(np.abs(mean(dl) - dl_enum) < 5 * stderr + 1e-9), (mean(dl), dl_enum, stderr)
    np.testing.assert_allclose(mean(dk), dk_enum, atol=0.01)
    np.testing.assert_allclose(mean(do), do_enum, atol=0.02 * np.abs(do_enum).max())


def test_baseline_gradient():
    r = np.random.default_rng(4)
    bp = {k: v.astype(np.float64) + r.normal(scale=0.1, size=v.shape) for k, v in init_baseline(CFG, r).items()}
    h, tgt = r.normal(size=(3, 2, CFG.lstm)), r.normal(size=(3, 2))

    def loss():
        return float(np.sum((baseline_forward(bp, h)[0] - tgt) ** 2))

    b, cache = baseline_forward(bp, h)
    check_gradients(loss, bp, baseline_backward(2 * (b - tgt), cache)).assert_ok(1e-6)   # every parameter


def test_float32_forward_stays_float32():
    r = np.random.default_rng(5)
    params = init_params(CFG, r)
    img = r.random((2, CFG.canvas, CFG.canvas)).astype(np.float32)
    f, cache = forward(params, img, r.normal(size=(2, 3, 3)).astype(np.float32),
                       r.normal(size=(2, 3, CFG.z_what)).astype(np.float32), CFG)
    _, _, dl, dk, do = elbo_enumerate(img, f.logit, f.kl, f.obj, CFG.sigma, CFG.count_k)
    g = backward(params, cache, dl, dk, do, CFG)
    assert f.obj.dtype == np.float32 and all(v.dtype == np.float32 for v in g.values())


def test_parameter_names_are_namespaced_and_init_order_is_fixed():
    """Names say which network a parameter belongs to (never a gradient-like 'db1'), and the Glorot
    draws keep their order (the same seed gives the same initial network as before the rename)."""
    params = init_params(CFG, np.random.default_rng(0))
    assert list(params) == ["lstm.Wx", "lstm.Wz", "lstm.Wh", "lstm.b", "predict.W1", "predict.b1", "predict.W2",
                            "predict.b2", "enc.W1", "enc.b1", "enc.W2", "enc.b2", "dec.W1", "dec.b1", "dec.W2",
                            "dec.b2"]
    assert set(init_baseline(CFG, np.random.default_rng(0))) == {"baseline.W1", "baseline.b1", "baseline.W2",
                                                                 "baseline.b2"}
    r = np.random.default_rng(0)
    C, n, H, Z, Hm = CFG.canvas, CFG.window, CFG.lstm, CFG.z_what, CFG.hidden
    first = [r.uniform(size=(a, b)) for a, b in ((C * C, 4 * H), (3 + Z, 4 * H), (H, 4 * H))]
    lim = np.sqrt(6.0 / (C * C + 4 * H))
    np.testing.assert_allclose(params["lstm.Wx"], ((first[0] * 2 - 1) * lim).astype(np.float32) * 0.5, rtol=1e-6)
    assert params["predict.b2"][0] == CFG.pres_bias_init and params["lstm.b"][H] == 1.0
