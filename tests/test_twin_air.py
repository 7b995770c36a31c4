"""The PyTorch twin of AIR (air_multimnist.twin_torch) is the same model as the numpy one: in float64,
on the same noise draws and running-normaliser state, its ELBO and EVERY model and baseline
gradient equal numpy's train_step (rtol 1e-9); the comparison fails when one parameter or the
noise differs; one training update (clip + two Adams + schedules) lands on the same parameters;
deterministic inference gives numpy infer's counts. Skipped without torch (extra ``[compare]``)."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from air_multimnist import twin_torch  # noqa: E402
from air_multimnist.config import make_config  # noqa: E402
from air_multimnist.evaluate import infer  # noqa: E402
from air_multimnist.model import baseline_backward, baseline_forward, forward, init_baseline, init_params  # noqa: E402
from air_multimnist.objectives import RunningNorm, elbo_reinforce  # noqa: E402
from air_multimnist.train import count_k_at, train_step  # noqa: E402
from common.optim import Adam, cosine_lr  # noqa: E402

CFG = make_config("quick", canvas=20, digit_size=(6, 8), window=8, lstm=16, hidden=12, z_what=4, batch=4,
                  count_k=0.01, updates=4)
RTOL = 1e-9


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _setup(seed=0, B=4):
    """float64 params/bparams with every zero bias and the zero baseline output layer perturbed
    (so every path carries gradient), and B images of one or two Gaussian blobs in [0, 1]."""
    r = np.random.default_rng(seed)
    params = init_params(CFG, r, dtype=np.float64)
    bparams = init_baseline(CFG, r, dtype=np.float64)
    for d in (params, bparams):
        for k in d:
            d[k] = d[k] + r.normal(scale=0.05, size=d[k].shape)
    g = np.linspace(-1, 1, CFG.canvas)
    img = np.zeros((B, CFG.canvas, CFG.canvas))
    for _ in range(2):
        cy, cx = r.uniform(-.5, .5, (2, B, 1, 1))
        img += r.random((B, 1, 1)) * np.exp(-((g[None, :, None] - cy) ** 2 + (g[None, None, :] - cx) ** 2) * 12)
    return params, bparams, np.clip(img, 0, 1)


def _draws_from(rng, B, cfg):
    """The noise (eps_where, eps_what, u or None) numpy train_step draws from rng, in its order."""
    ew = rng.standard_normal((B, cfg.max_objects, 3), dtype=np.float32)
    eq = rng.standard_normal((B, cfg.max_objects, cfg.z_what), dtype=np.float32)
    return ew, eq, rng.random((B, cfg.max_objects)) if cfg.estimator == "reinforce" else None


def _draws(seed, B, cfg):
    return _draws_from(np.random.default_rng(seed), B, cfg)


def _assert_same(twin: dict, ref: dict, rtol=RTOL):
    """Every array of ref equals twin's to rtol (atol: rtol times the array's largest entry)."""
    assert set(twin) == set(ref)
    for k in ref:
        assert twin[k].shape == ref[k].shape, k
        np.testing.assert_allclose(twin[k], ref[k], rtol=rtol, atol=rtol * np.abs(ref[k]).max(), err_msg=k)


def _warm_norm():
    n = RunningNorm()
    n.mean, n.var, n.n = -40.0, 900.0, 5
    return n


def _compare(cfg, norm, count_k, seed=3):
    """numpy train_step vs twin loss_and_grads in float64 on the same draws; raises on mismatch."""
    params, bparams, x = _setup()
    model = twin_torch.build(cfg, params, bparams, dtype=torch.float64)
    state = None if norm is None else dict(vars(norm))
    stats, grads, bgrads = train_step(params, bparams, x, cfg, np.random.default_rng(seed), norm, count_k)
    tstats, tgrads, tbgrads = twin_torch.loss_and_grads(model, cfg, x, *_draws(seed, len(x), cfg),
                                                        state, count_k)
    for k in ("elbo", "n_mean"):
        np.testing.assert_allclose(tstats[k], stats[k], rtol=RTOL, err_msg=k)
    assert list(tgrads) == list(grads) == list(params)    # numpy's order (the clip norm sums in it)
    _assert_same(tgrads, grads)
    if cfg.estimator == "enumerate":
        assert bgrads is None and tbgrads is None
        return tstats
    np.testing.assert_allclose(tstats["baseline_loss"], stats["baseline_loss"], rtol=RTOL)
    # train_step casts the baseline's output gradient to float32 (its training dtype): in float64
    # its bgrads carry float32 rounding, so they are compared at 1e-6 and the exact float64
    # baseline gradient at RTOL.
    _assert_same(tbgrads, bgrads, rtol=1e-6)
    ew, eq, u = _draws(seed, len(x), cfg)
    f, _ = forward(params, x, ew, eq, cfg)
    b, bc = baseline_forward(bparams, f.h)
    *_, target, active = elbo_reinforce(x, f.logit, f.kl, f.obj, cfg.sigma, count_k, u, b, None)
    _assert_same(tbgrads, baseline_backward(2 * (b - target) * active / len(x), bc))
    if norm is not None:
        assert state["n"] == norm.n
        np.testing.assert_allclose([state["mean"], state["var"]], [norm.mean, norm.var], rtol=RTOL)
    return tstats


@pytest.mark.parametrize("norm", [RunningNorm, _warm_norm, None], ids=["fresh_norm", "warm_norm", "no_norm"])
@pytest.mark.parametrize("count_k", [0.01, 1e-4])
def test_reinforce_elbo_and_every_gradient_match_numpy(norm, count_k):
    stats = _compare(CFG, None if norm is None else norm(), count_k)
    assert 0 < stats["n_mean"] < CFG.max_objects    # the draws mix counts: every z_pres path is used


def test_enumerate_elbo_and_every_gradient_match_numpy():
    _compare(make_config("enumerate", **{f: getattr(CFG, f) for f in (
        "canvas", "digit_size", "window", "lstm", "hidden", "z_what", "batch", "chunk")}), None, 0.01)


def test_round_trip_of_the_parameters():
    params, bparams, _ = _setup()
    p, b = twin_torch.params_numpy(twin_torch.build(CFG, params, bparams, dtype=torch.float64))
    _assert_same(p, params, rtol=0)
    _assert_same(b, bparams, rtol=0)


def test_comparison_fails_on_a_perturbed_parameter_or_other_noise():
    """A 1e-6 change of one twin weight, or the twin on other draws, breaks the gradient match."""
    params, bparams, x = _setup()
    _, grads, _ = train_step(params, bparams, x, CFG, np.random.default_rng(3), None, 0.01)
    other = {k: v.copy() for k, v in params.items()}
    other["enc.W1"][3, 2] += 1e-6
    for p, seed in ((other, 3), (params, 4)):
        model = twin_torch.build(CFG, p, bparams, dtype=torch.float64)
        _, tgrads, _ = twin_torch.loss_and_grads(model, CFG, x, *_draws(seed, len(x), CFG), None, 0.01)
        with pytest.raises(AssertionError):
            _assert_same(tgrads, grads)


def test_two_training_updates_match_numpy_train_loop():
    cfg = make_config("quick", **{f: getattr(CFG, f) for f in (
        "canvas", "digit_size", "window", "lstm", "hidden", "z_what", "batch", "updates")},
        count_k=1e-4, count_k_start=0.1, clip=1.0)
    params, bparams, x = _setup()
    model = twin_torch.build(cfg, params, bparams, dtype=torch.float64)
    twin_rng = np.random.default_rng(7)
    step = twin_torch.make_update(cfg, model, noise=lambda B: _draws_from(twin_rng, B, cfg))
    rng, norm = np.random.default_rng(7), RunningNorm()
    opt, bopt = Adam(lr=cfg.lr, clip_norm=cfg.clip), Adam(lr=cfg.lr * cfg.baseline_lr_mult)
    for i, xb in enumerate((x, x[::-1].copy())):
        stats, grads, bgrads = train_step(params, bparams, xb, cfg, rng, norm, count_k_at(cfg, i))
        opt.lr = cosine_lr(cfg.lr, cfg.lr_final, i, cfg.updates)
        gnorm = opt.step(params, grads)
        bopt.lr = opt.lr * cfg.baseline_lr_mult
        bopt.step(bparams, bgrads)
        np.testing.assert_allclose(step(xb), stats["elbo"], rtol=RTOL)
        assert gnorm > cfg.clip                        # the clip is active
    p, b = twin_torch.params_numpy(model)
    _assert_same(p, params)
    _assert_same(b, bparams)


@pytest.mark.parametrize("estimator", ["reinforce", "enumerate"])
def test_update_with_torch_noise_trains_in_float32(estimator):
    cfg = make_config("quick", **{f: getattr(CFG, f) for f in (
        "canvas", "digit_size", "window", "lstm", "hidden", "z_what", "batch", "updates")}, estimator=estimator)
    params, bparams, x = _setup()
    model = twin_torch.build(cfg, params, bparams)
    assert model.dtype == torch.float32
    torch.manual_seed(0)
    step = twin_torch.make_update(cfg, model)
    elbos = [step(x.astype(np.float32)) for _ in range(3)]
    assert np.all(np.isfinite(elbos))
    p, b = twin_torch.params_numpy(model)
    assert all(p[k].dtype == np.float32 and not np.allclose(p[k], params[k], rtol=0, atol=1e-6) for k in p)
    assert np.allclose(b["baseline.W2"], bparams["baseline.W2"], rtol=0, atol=1e-6) == (estimator == "enumerate")


def test_eval_counts_match_numpy_infer():
    params, bparams, _ = _setup(seed=1)
    _, _, x = _setup(seed=2, B=24)
    counts = []
    for bias in (-0.3, 0.3, 1.0):      # z_pres logit bias: scenes with 0..T objects
        params["predict.b2"][0] = bias
        run = twin_torch.make_eval(CFG, twin_torch.build(CFG, params, bparams, dtype=torch.float64))
        ref = infer(params, x, CFG)["counts"]
        np.testing.assert_array_equal(run(x), ref)
        counts.append(ref)
    assert len(np.unique(np.concatenate(counts))) > 1
