"""The PyTorch twin of RNN-EM (neural_em_shapes/twin_torch.py) against the NumPy model, in float64:
loss and every gradient, a comparison that must fail when something differs, Adam updates and the
evaluation pass. Skipped when torch (the optional extra [compare]) is not installed."""

import dataclasses

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from common.optim import Adam  # noqa: E402
from common.seeding import initial_gamma  # noqa: E402
from common.shapes import make_shapes  # noqa: E402
from neural_em_shapes import model as npm  # noqa: E402
from neural_em_shapes import twin_torch as tw  # noqa: E402
from neural_em_shapes.config import make_config  # noqa: E402

B, K, T, H, D = 4, 3, 4, 16, 784


def _cfg(**kw):
    return make_config("default", batch=B, K=K, iterations=T, hidden=H, **kw)


def _batch(rng, cfg):
    """x (B, D), x_noisy (T, B, D), gamma0 (B, K, D), float64, real shapes images."""
    x = make_shapes(B, rng).images.reshape(B, D).astype(np.float64)
    xn = npm.flip_noise(np.broadcast_to(x, (T, B, D)), cfg.noise, rng)
    g0 = initial_gamma(B, K, D, rng, kind=cfg.gamma_init, x=x, dtype=np.float64)
    return x, xn, g0


def _problem(cfg, seed=0):
    """float64 NumPy params (with non-zero biases, so no gradient is trivially zero) and a batch."""
    rng = np.random.default_rng(seed)
    p = npm.init_params("rnn-em", D, H, rng, dtype=np.float64)
    p["b_h"] = 0.3 * rng.standard_normal(H)
    p["b_out"] = 0.3 * rng.standard_normal(D)
    return p, *_batch(rng, cfg)


def _numpy_loss_and_grads(cfg, p, x, xn, g0):
    loss, grads, _ = npm.loss_and_grads("rnn-em", p, x, xn, g0, loss_weights=npm.loss_weights(cfg),
                                        gamma_grad=cfg.gamma_grad, inter_weight=cfg.inter_weight)
    return loss, grads


def _assert_close(a: dict, b: dict, rtol: float):
    """Every array of a equals b's to rtol relative to that array's largest entry."""
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].shape == b[k].shape, k
        scale = np.abs(b[k]).max()
        np.testing.assert_allclose(a[k], b[k], rtol=0, atol=rtol * scale, err_msg=k)


@pytest.mark.parametrize("loss_iterations", ["all", "last"])
@pytest.mark.parametrize("gamma_grad", [False, True])
def test_loss_and_every_gradient_equal_numpy(loss_iterations, gamma_grad):
    cfg = _cfg(loss_iterations=loss_iterations, gamma_grad=gamma_grad, inter_weight=0.7)
    p, x, xn, g0 = _problem(cfg)
    loss, grads = _numpy_loss_and_grads(cfg, p, x, xn, g0)
    twin = tw.build(cfg, p, dtype=torch.float64)
    t_loss, t_grads = tw.loss_and_grads(twin, cfg, x, xn, g0)
    assert t_loss == pytest.approx(loss, rel=1e-12)
    _assert_close(t_grads, grads, 1e-10)
    _assert_close(tw.params_numpy(twin), p, 0.0)  # build copied the parameters exactly


@pytest.mark.parametrize("change", ["perturbed W_rec", "no stop-gradient"])
def test_the_gradient_comparison_detects_a_difference(change):
    cfg = _cfg(loss_iterations="last", gamma_grad=False)
    p, x, xn, g0 = _problem(cfg)
    _, grads = _numpy_loss_and_grads(cfg, p, x, xn, g0)
    twin_cfg, twin_p = cfg, p
    if change == "perturbed W_rec":
        twin_p = dict(p, W_rec=p["W_rec"] + 1e-6 * np.eye(H))
    else:
        twin_cfg = dataclasses.replace(cfg, gamma_grad=True)
    _, t_grads = tw.loss_and_grads(tw.build(twin_cfg, twin_p, dtype=torch.float64), twin_cfg, x, xn, g0)
    with pytest.raises(AssertionError):
        _assert_close(t_grads, grads, 1e-10)


@pytest.mark.parametrize("clip", [0.0, 1.0])
def test_make_update_matches_numpy_adam(clip):
    # clip_grad_norm_ scales by clip / (norm + 1e-6), common.optim by clip / (norm + 1e-12): the
    # clipped gradients differ by a factor 1 - O(1e-6 / norm). Adam's step m_hat / sqrt(v_hat) is
    # invariant to a gradient scale up to eps, so the parameters still agree to ~lr * 1e-8 / norm
    # (clip=1.0 triggers clipping here; the test checks that it does).
    cfg = _cfg(clip=clip)
    p, x, xn, g0 = _problem(cfg)
    twin = tw.build(cfg, p, dtype=torch.float64)
    step = tw.make_update(cfg, twin)
    opt = Adam(lr=cfg.lr, clip_norm=cfg.clip or None)
    rng = np.random.default_rng(1)
    for batch in [(x, xn, g0), _batch(rng, cfg)]:              # two updates: moments accumulate
        loss, grads = _numpy_loss_and_grads(cfg, p, *batch)
        norm = opt.step(p, grads)
        assert step(*batch) == pytest.approx(loss, rel=1e-12)
        assert clip == 0 or norm > clip
        _assert_close(tw.params_numpy(twin), p, 1e-9)


@pytest.mark.parametrize("gamma_grad", [False, True])
def test_make_eval_gamma_equals_numpy(gamma_grad):
    cfg = _cfg(gamma_grad=gamma_grad)
    p, x, xn, g0 = _problem(cfg)
    _, _, trace = npm.unrolled_forward("rnn-em", p, x, xn, g0, loss_weights=npm.loss_weights(cfg), keep=True)
    gamma = tw.make_eval(cfg, tw.build(cfg, p, dtype=torch.float64))(x, xn, g0)
    assert gamma.shape == (B, K, D)
    np.testing.assert_allclose(gamma, trace["gamma"][-1], rtol=0, atol=1e-12)


def test_twin_refuses_n_em_and_a_foreign_config():
    with pytest.raises(NotImplementedError, match="rnn-em"):
        tw.RNNEMTwin(make_config("paper-nem"), D)
    cfg = _cfg()
    p, x, xn, g0 = _problem(cfg)
    twin = tw.build(cfg, p, dtype=torch.float64)
    with pytest.raises(ValueError, match="gamma_grad"):
        tw.loss_and_grads(twin, dataclasses.replace(cfg, gamma_grad=True), x, xn, g0)
    with pytest.raises(ValueError, match="W_rec"):
        tw.build(_cfg(), dict(p, W_rec=np.zeros((H + 1, H + 1))))
