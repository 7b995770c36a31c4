"""The PyTorch twin of Reconstruction Clustering (``reconstruction_clustering/twin_torch.py``)
computes what the NumPy code computes, in float64: the DAE loss and every gradient, one training
update, and the RC loop from the same gamma_0. Skipped when torch (the ``[compare]`` extra) is
not installed."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from common.optim import Adam  # noqa: E402
from common.seeding import initial_gamma  # noqa: E402
from reconstruction_clustering import twin_torch  # noqa: E402
from reconstruction_clustering.config import (DAE_PRESETS, E_STEPS, QUICK_DAE, THESIS_CONFIGS,  # noqa: E402
                                              DAEConfig)
from reconstruction_clustering.dae import (PARAM_NAMES, dae_loss_and_grads, decode, encode, init_dae,  # noqa: E402
                                           salt_and_pepper)
from reconstruction_clustering.model import run_rc  # noqa: E402

# Every activation a DAE configuration uses (relu, tanh, sigmoid).
PRESET_ACTIVATIONS = sorted({c.activation for table in (DAE_PRESETS, THESIS_CONFIGS)
                             for by_dataset in table.values() for c in by_dataset.values()}
                            | {QUICK_DAE.activation})
D, H, N = 36, 12, 8          # a 6 x 6 canvas (square, as RC images are)


def _params(seed: int = 0) -> dict:
    """float64 DAE parameters with non-zero biases."""
    rng = np.random.default_rng(seed)
    p = init_dae(D, H, rng, dtype=np.float64)
    return {k: v + 0.1 * rng.normal(size=v.shape) for k, v in p.items()}


def _images(n: int, seed: int) -> np.ndarray:
    """Binary images (n, D) float64."""
    return (np.random.default_rng(seed).random((n, D)) < 0.3).astype(np.float64)


def _assert_same(actual: dict, desired: dict, rtol: float) -> None:
    assert sorted(actual) == sorted(desired) == sorted(PARAM_NAMES)
    for k in PARAM_NAMES:
        assert actual[k].shape == desired[k].shape, k
        np.testing.assert_allclose(actual[k], desired[k], rtol=rtol, atol=1e-14, err_msg=k)


def test_presets_use_the_three_activations():
    assert PRESET_ACTIVATIONS == ["relu", "sigmoid", "tanh"]


@pytest.mark.parametrize("activation", PRESET_ACTIVATIONS)
def test_loss_and_every_gradient_match_numpy_float64(activation):
    p = _params()
    x = _images(N, 1)
    x_in = salt_and_pepper(x, 0.3, np.random.default_rng(2))
    model = twin_torch.build(p, activation, dtype=torch.float64)
    _assert_same(twin_torch.params_numpy(model), p, rtol=0)
    (logits, mu), _ = decode(encode(x_in, p, activation)[0], p)
    t_logits, t_mu = model(torch.from_numpy(x_in))
    np.testing.assert_allclose(t_logits.detach().numpy(), logits, rtol=1e-12)
    np.testing.assert_allclose(t_mu.detach().numpy(), mu, rtol=1e-12)

    loss, grads = twin_torch.loss_and_grads(model, x_in, x)
    ref_loss, ref_grads = dae_loss_and_grads(x_in, x, p, activation)
    assert loss == pytest.approx(ref_loss, rel=1e-12)
    _assert_same(grads, ref_grads, rtol=1e-10)


def test_the_gradient_comparison_fails_on_a_perturbed_parameter():
    p = _params()
    x = _images(N, 1)
    model = twin_torch.build(p, "tanh", dtype=torch.float64)
    p["W_enc"][3, 5] += 1e-6                      # the numpy side only
    _, grads = twin_torch.loss_and_grads(model, x, x)
    _, ref_grads = dae_loss_and_grads(x, x, p, "tanh")
    with pytest.raises(AssertionError):
        _assert_same(grads, ref_grads, rtol=1e-10)


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_make_update_matches_numpy_loss_and_grads_then_step(optimizer):
    cfg = DAEConfig(hidden=H, activation="tanh", noise=0.3, lr=1e-2, optimizer=optimizer)
    p = _params()
    model = twin_torch.build(p, cfg.activation, dtype=torch.float64)
    step = twin_torch.make_update(cfg, model)
    opt = Adam(lr=cfg.lr)
    rng = np.random.default_rng(3)
    for i in range(3):                            # Adam's bias corrections change every step
        x = _images(N, 10 + i)
        x_noisy = salt_and_pepper(x, cfg.noise, rng)
        ref_loss, grads = dae_loss_and_grads(x_noisy, x, p, cfg.activation)
        if optimizer == "adam":
            opt.step(p, grads)
        else:                                     # train._sgd_step
            for k in p:
                p[k] -= cfg.lr * grads[k]
        assert step(x_noisy, x) == pytest.approx(ref_loss, rel=1e-12)
        _assert_same(twin_torch.params_numpy(model), p, rtol=1e-9)


@pytest.mark.parametrize("e_step_kind", E_STEPS)
@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_make_rc_matches_run_rc_from_the_same_gamma0(e_step_kind, activation):
    n, K, T, chunk, seed = 10, 3, 4, 4, 5         # chunk 4: three chunks, the last one short
    p, images = _params(), _images(n, 6)
    trace = run_rc(images, p, activation, K=K, iterations=T, rng=np.random.default_rng(seed),
                   e_step_kind=e_step_kind, chunk=chunk)
    # run_rc draws its gamma_0 as initial_gamma from its rng; the same seed gives the same gamma_0
    gamma0 = initial_gamma(n, K, D, np.random.default_rng(seed))
    np.testing.assert_array_equal(trace.pred[0], gamma0.argmax(axis=1))
    run = twin_torch.make_rc(twin_torch.build(p, activation, dtype=torch.float64), activation,
                             e_step_kind=e_step_kind, chunk=chunk)
    gamma, pred, loglik = run(images, gamma0, T)
    assert gamma.shape == (n, K, D) and gamma.dtype == np.float64
    np.testing.assert_array_equal(trace.pred, pred)
    np.testing.assert_allclose(trace.loglik, loglik, rtol=1e-6)
    # run_rc computes in float64 but stores gamma in float32: agreement to float32 rounding
    np.testing.assert_allclose(trace.gamma, gamma, rtol=1e-7, atol=0)
    assert not np.allclose(gamma, gamma0, atol=1e-3)  # RC moved away from gamma_0
