"""N-EM / RNN-EM: float64 gradient checks of the whole unrolled loss, op-level checks, determinism,
restarts, and the CLI (quick run, vocabulary, bad input). The inference API: test_neural_em_inference.py."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from common.gradcheck import check_gradients
from neural_em_shapes.config import make_config
from common.mixture import mixture_loglik as _mixture_loglik, pixel_likelihoods
from common.seeding import initial_gamma as init_gamma
from neural_em_shapes.model import (e_step_backward, e_step_forward, flip_noise, init_params,
                                    loss_and_grads, loss_backward, loss_forward, loss_weights,
                                    nem_cell_backward, pixel_terms_backward, pixel_terms_forward,
                                    rnn_cell_backward, run_em, unrolled_forward)

ROOT = Path(__file__).resolve().parents[1]
B, K, D, H, T = 3, 3, 16, 5, 4


def _problem(model, seed=0):
    rng = np.random.default_rng(seed)
    x = (rng.random((B, D)) < 0.4).astype(np.float64)
    xn = flip_noise(np.broadcast_to(x, (T, B, D)), 0.2, rng)
    g0 = init_gamma(B, K, D, rng, dtype=np.float64)
    p = init_params(model, D, H, rng, dtype=np.float64)
    # Non-zero biases and a generic eta, so no gradient is trivially zero.
    p = {k: np.asarray(v + 0.3 * rng.standard_normal(v.shape)) for k, v in p.items()}
    return p, x, xn, g0


@pytest.mark.parametrize("model", ["rnn-em", "n-em"])
@pytest.mark.parametrize("loss_iterations", ["last", "all", "linear"])
@pytest.mark.parametrize("gamma_grad", [True, False])
def test_unrolled_loss_gradients(model, loss_iterations, gamma_grad):
    p, x, xn, g0 = _problem(model)
    w = loss_weights(make_config("default", iterations=T, loss_iterations=loss_iterations))
    _, grads, _ = loss_and_grads(model, p, x, xn, g0, loss_weights=w, gamma_grad=gamma_grad)
    # With stop-gradient, the reference is the loss with every gamma frozen at its current value.
    fixed = None if gamma_grad else unrolled_forward(model, p, x, xn, g0, loss_weights=w, keep=True)[2]["gamma"]
    report = check_gradients(lambda: unrolled_forward(model, p, x, xn, g0, loss_weights=w,
                                                      fixed_gammas=fixed)[0], p, grads)
    report.assert_ok(1e-6)


@pytest.mark.parametrize("gamma_grad", [True, False])
def test_unrolled_loss_gradients_with_a_weighted_kl_term(gamma_grad):
    # inter_weight scales term 2 of eq. (5.6); it enters loss_backward's do and dgamma.
    p, x, xn, g0 = _problem("rnn-em")
    w = np.full(T, 1.0 / T)
    _, grads, _ = loss_and_grads("rnn-em", p, x, xn, g0, loss_weights=w, gamma_grad=gamma_grad, inter_weight=0.5)
    fixed = None if gamma_grad else unrolled_forward("rnn-em", p, x, xn, g0, loss_weights=w, keep=True,
                                                     inter_weight=0.5)[2]["gamma"]
    report = check_gradients(lambda: unrolled_forward("rnn-em", p, x, xn, g0, loss_weights=w, inter_weight=0.5,
                                                      fixed_gammas=fixed)[0], p, grads)
    report.assert_ok(1e-6)


def test_gamma_gradient_switch_matters():
    # If the stop-gradient were a no-op, the check above could pass trivially: the two differ.
    p, x, xn, g0 = _problem("rnn-em")
    w = np.full(T, 1.0 / T)
    _, g_on, _ = loss_and_grads("rnn-em", p, x, xn, g0, loss_weights=w, gamma_grad=True)
    _, g_off, _ = loss_and_grads("rnn-em", p, x, xn, g0, loss_weights=w, gamma_grad=False)
    assert np.abs(g_on["W_in"] - g_off["W_in"]).max() > 1e-3 * np.abs(g_on["W_in"]).max()


def test_pixel_terms_e_step_and_loss_ops():
    rng = np.random.default_rng(1)
    o = 4 * rng.standard_normal((2, 3, 5))
    x = (rng.random((2, 5)) < 0.5).astype(np.float64)
    psi = 1 / (1 + np.exp(-o))
    (bce, kl, psi_out), tc = pixel_terms_forward(o, x)
    # The shared-tail forms equal the textbook -log p(x | psi) and -log(1 - psi).
    np.testing.assert_allclose(bce, -(x[:, None] * np.log(psi) + (1 - x[:, None]) * np.log(1 - psi)), rtol=1e-9)
    np.testing.assert_allclose(kl, -np.log(1 - psi), rtol=1e-9)   # the reference loses digits near psi = 1
    np.testing.assert_allclose(psi_out, psi, rtol=1e-10)
    Rb, Rk = rng.standard_normal(o.shape), rng.standard_normal(o.shape)
    check_gradients(lambda: float(np.sum(pixel_terms_forward(o, x)[0][0] * Rb + pixel_terms_forward(o, x)[0][1] * Rk)),
                    {"o": o}, {"o": pixel_terms_backward(Rb, Rk, tc)}).assert_ok(1e-7)
    # gamma is the normalised Bernoulli likelihood x psi + (1 - x)(1 - psi).
    gamma, cache = e_step_forward(bce)
    lik = x[:, None] * psi + (1 - x[:, None]) * (1 - psi)
    np.testing.assert_allclose(gamma, lik / lik.sum(1, keepdims=True), rtol=1e-12)
    R = rng.standard_normal(gamma.shape)
    check_gradients(lambda: float(np.sum(e_step_forward(bce)[0] * R)), {"bce": bce},
                    {"bce": e_step_backward(R, cache)}).assert_ok(1e-7)
    # Loss: eq. (5.6) written with psi directly; its do (through bce and kl) and dgamma.
    g = rng.random((2, 3, 5))
    for w in (1.0, 0.3):
        L, lc = loss_forward(bce, kl, g, w)
        assert L == pytest.approx(np.sum(g * bce + w * (1 - g) * kl) / 2, rel=1e-12)
        do, dg = loss_backward(1.0, lc, tc)

        def loss_of(o_, g_):
            (b_, k_, _), _ = pixel_terms_forward(o_, x)
            return loss_forward(b_, k_, g_, w)[0]
        check_gradients(lambda: loss_of(o, g), {"o": o, "g": g}, {"o": do, "g": dg}).assert_ok(1e-7)
        assert loss_backward(1.0, lc, tc, need_dgamma=False)[1] is None


def test_spatial_gamma_init_is_normalised_and_smooth():
    g = init_gamma(4, 3, 784, np.random.default_rng(0), kind="spatial")
    np.testing.assert_allclose(g.sum(1), 1, atol=1e-6)
    img = g[0].reshape(3, 28, 28)
    assert np.abs(np.diff(img, axis=1)).max() < 0.5  # neighbouring pixels have similar weights


def test_ink_gamma_init_seeds_centres_on_distinct_ink_pixels():
    # Three isolated ink pixels and K=3: k-means++ must put one centre on each of them.
    x = np.zeros((2, 784), np.float32)
    dots = [(3, 4), (20, 25), (14, 2)]
    for r, c in dots:
        x[0, r * 28 + c] = 1
    x[1, 400] = 1  # a single ink pixel: every centre must sit on it
    g = init_gamma(2, 3, 784, np.random.default_rng(0), kind="ink", x=x)
    np.testing.assert_allclose(g.sum(1), 1, atol=1e-6)
    owners = {int(g[0, :, r * 28 + c].argmax()) for r, c in dots}
    assert owners == {0, 1, 2}, "each dot should be the centre of its own slot"
    np.testing.assert_allclose(g[1], 1 / 3, atol=1e-6)  # all centres coincide: no preference
    blank = init_gamma(2, 3, 784, np.random.default_rng(0), kind="ink", x=np.zeros((2, 784)))
    assert np.isfinite(blank).all() and np.allclose(blank.sum(1), 1, atol=1e-6)
    with pytest.raises(ValueError, match="needs the images"):
        init_gamma(2, 3, 784, np.random.default_rng(0), kind="ink")


def mixture_loglik(psi, x):
    """The restart criterion run_em uses (common.mixture, psi clipped to [1e-6, 1 - 1e-6])."""
    return _mixture_loglik(pixel_likelihoods(psi, x))


def test_run_em_loglik_is_the_shared_mixture_loglik_of_the_kept_psi():
    rng = np.random.default_rng(1)
    p = init_params("rnn-em", 784, 16, rng)
    imgs = (rng.random((4, 784)) < 0.2).astype(np.float32)
    tr = run_em("rnn-em", p, imgs, K=3, iterations=2, noise=0.1, rng=rng, restarts=2)
    np.testing.assert_allclose(tr.loglik, mixture_loglik(tr.psi[-1], imgs), rtol=1e-12)
    assert tr.loglik.dtype == np.float64 and tr.loglik.shape == (4,)


def test_restarts_keep_the_most_likely_run_per_image():
    rng = np.random.default_rng(0)
    p = init_params("rnn-em", 784, 16, rng)
    imgs = (rng.random((6, 784)) < 0.2).astype(np.float32)
    kw = dict(K=3, iterations=3, noise=0.1, gamma_init="ink", keep_all=False)
    one = run_em("rnn-em", p, imgs, rng=np.random.default_rng(3), **kw)
    many = run_em("rnn-em", p, imgs, rng=np.random.default_rng(3), restarts=4, **kw)
    # The first restart draws exactly what a single run draws, so keeping the best can only help.
    ll1, ll4 = mixture_loglik(one.psi[-1], imgs), mixture_loglik(many.psi[-1], imgs)
    assert np.all(ll4 >= ll1 - 1e-9) and np.any(ll4 > ll1)
    # ... and each image's result is one real run: its gamma is the E-step of its own psi.
    logits = np.log(many.psi[-1]) - np.log1p(-many.psi[-1])
    g, _ = e_step_forward(pixel_terms_forward(logits, imgs)[0][0])
    np.testing.assert_allclose(many.gamma[-1], g, atol=1e-4)
    assert many.loss.shape == (3,)
    with pytest.raises(ValueError, match="restarts"):
        run_em("rnn-em", p, imgs, rng=rng, restarts=0, **kw)


def test_restarts_return_whole_trajectories_of_the_per_image_best_run():
    rng = np.random.default_rng(1)
    p = init_params("rnn-em", 784, 16, rng)
    imgs = (rng.random((7, 784)) < 0.15).astype(np.float32)
    kw = dict(K=3, iterations=3, noise=0.1, gamma_init="ink", keep_all=True, batch=7)
    # Three single runs on one stream draw exactly what one 3-restart run draws (one chunk).
    shared = np.random.default_rng(9)
    runs = [run_em("rnn-em", p, imgs, rng=shared, **kw) for _ in range(3)]
    many = run_em("rnn-em", p, imgs, rng=np.random.default_rng(9), restarts=3, **kw)
    ll = np.stack([mixture_loglik(r.psi[-1], imgs) for r in runs])      # (R, N)
    for i, best in enumerate(ll.argmax(0)):
        np.testing.assert_array_equal(many.gamma[:, i], runs[best].gamma[:, i])
        np.testing.assert_array_equal(many.psi[:, i], runs[best].psi[:, i])
        np.testing.assert_array_equal(many.gamma0[i], runs[best].gamma0[i])   # gamma_0 of the same run
    np.testing.assert_allclose(many.loss, np.mean([r.loss for r in runs], axis=0), rtol=1e-6)


def test_run_em_determinism_and_shapes():
    rng = np.random.default_rng(0)
    p = init_params("rnn-em", 784, 16, rng)
    imgs = (rng.random((5, 28, 28)) < 0.2).astype(np.float32)
    a = run_em("rnn-em", p, imgs, K=5, iterations=3, noise=0.1, rng=np.random.default_rng(3))
    b = run_em("rnn-em", p, imgs, K=5, iterations=3, noise=0.1, rng=np.random.default_rng(3))
    assert a.gamma.shape == (3, 5, 5, 784) and a.psi.shape == (3, 5, 5, 784)
    assert a.gamma0.shape == (5, 5, 784) and a.gammas().shape == (4, 5, 5, 784)
    np.testing.assert_array_equal(a.gamma, b.gamma)
    np.testing.assert_allclose(a.gamma.sum(2), 1, atol=1e-5)


def _cli(args, cwd=ROOT, script="neural_em_shapes/neural_em_shapes.py"):
    return subprocess.run([sys.executable, script, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def test_quick_cli_writes_a_valid_run_and_is_deterministic(tmp_path):
    out1, out2 = tmp_path / "a", tmp_path / "b"
    r = _cli(["--quick", "--seed", "1", "--out", str(out1)])
    assert r.returncode == 0, r.stderr
    rec = json.loads((out1 / "run.json").read_text())
    m = rec["metrics"]
    # docs/vocabulary.md: iterations + 1 entries, index 0 = gamma_0; the last = the headline metric.
    assert "steps" not in rec["config"] and "test_ami_max_per_step" not in m
    assert len(m["test_ami_max_per_iteration"]) == rec["config"]["iterations"] + 1
    assert m["test_ami_max_per_iteration"][-1] == m["test_ami_max"]
    assert m["test_images"] == rec["config"]["n_test"] and m["valid_images"] == rec["config"]["n_valid"]
    assert {"update", "elapsed_s"} <= set(rec["history"])
    assert rec["data"] == {"dataset": "static shapes", "generator": "common.shapes", "mnist": None,
                           "n_train": 500, "n_valid": 100, "n_test": 100}
    assert rec["command"].startswith("python3 neural_em_shapes/neural_em_shapes.py --quick")
    assert {"kmeans_coords_K3", "connected_components_8", "random_K3", "ink_seeds_K3"} <= set(rec["baselines"])
    assert "smoke test" in rec["notes"]
    for f in ("weights.npz", "examples.npz", "snapshots.npz"):
        assert (out1 / f).exists()
    with np.load(out1 / "examples.npz") as ex:
        assert ex["gamma"].shape[0] == rec["config"]["iterations"] + 1      # gamma_0 first
        assert ex["psi"].shape[0] == rec["config"]["iterations"]
    assert list(out1.glob("*.png")) and list(out1.glob("*.gif"))
    # Same seed, same numbers (from inside the folder this time: the script-name trap).
    r2 = _cli(["--quick", "--seed", "1", "--out", str(out2), "--no-figures"], cwd=ROOT / "neural_em_shapes",
              script="neural_em_shapes.py")
    assert r2.returncode == 0, r2.stderr
    rec2 = json.loads((out2 / "run.json").read_text())
    assert rec2["metrics"]["test_ami_max"] == m["test_ami_max"]
    assert rec2["history"]["train_loss"] == rec["history"]["train_loss"]
    # A second run into a non-empty --out is refused (exit 2) unless --force.
    r3 = _cli(["--quick", "--seed", "1", "--out", str(out2), "--no-figures"])
    assert r3.returncode == 2 and "--force" in r3.stderr and "Traceback" not in r3.stderr


def test_old_steps_flag_stops_with_a_hint(tmp_path):
    for args in (["--steps", "3"], ["--steps=3"], ["--steps"]):
        r = _cli([*args, "--quick", "--out", str(tmp_path / "x")])
        assert r.returncode == 2, r.stderr
        assert "--steps was renamed --iterations (EM iterations)" in r.stderr and "Traceback" not in r.stderr
    # No prefix matching: an abbreviation is an unknown flag, not --iterations.
    r = _cli(["--iter", "3", "--quick", "--out", str(tmp_path / "x")])
    assert r.returncode == 2 and "unrecognized arguments" in r.stderr
    assert not (tmp_path / "x").exists()


def test_python_m_package_and_bench_from_root_and_folder():
    r = subprocess.run([sys.executable, "-m", "neural_em_shapes", "--help"], cwd=ROOT, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0 and "--iterations" in r.stdout, r.stderr
    r = subprocess.run([sys.executable, "-m", "neural_em_shapes.bench", "--help"], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "--compare" in r.stdout, r.stderr
    # Inside the folder the script shadows the package: one line, exit 2, no traceback.
    r = subprocess.run([sys.executable, "-m", "neural_em_shapes.bench", "--help"], cwd=ROOT / "neural_em_shapes",
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr and r.stderr.count("\n") == 1, r.stderr
    assert "repository root" in r.stderr


def test_config_defaults_are_the_default_preset():
    import dataclasses
    from neural_em_shapes.config import NEMConfig
    assert dataclasses.asdict(NEMConfig()) == dataclasses.asdict(make_config("default"))


@pytest.mark.parametrize("args,needle", [
    (["--K", "0"], "--K"),
    (["--preset", "nope"], "unknown preset"),
    (["--noise", "2"], "--noise"),
    (["--out", "/proc/version/x"], "output"),
])
def test_cli_rejects_bad_input(args, needle, tmp_path):
    r = _cli(args if "--out" in args else [*args, "--out", str(tmp_path)])
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert needle in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("model", ["rnn-em", "n-em"])
def test_float32_training_stays_float32(model):
    # A float64 scalar anywhere in the backward pass would upcast the whole BPTT to float64
    # (measured 1.7x slower): every intermediate gradient must keep the parameters' dtype.
    rng = np.random.default_rng(0)
    x = (rng.random((4, 784)) < 0.2).astype(np.float32)
    p = init_params(model, 784, 8, rng)
    xn = flip_noise(np.broadcast_to(x, (3, 4, 784)), 0.1, rng)
    g0 = init_gamma(4, 3, 784, rng)
    w = np.full(3, 1 / 3)  # float64 weights, as train.loss_weights returns
    _, caches, _ = unrolled_forward(model, p, x, xn, g0, loss_weights=w)
    step = caches.steps[0]
    do, dgamma = loss_backward(w[0], step.loss, step.terms)
    assert do.dtype == np.float32 and dgamma.dtype == np.float32
    # The accumulated grads would be cast back by +=, so check the cell backward's own outputs.
    dstate = np.zeros((4, 3, 8), np.float32)
    if model == "rnn-em":
        dinp, da = rnn_cell_backward(dstate, do, step.cell, p)
        assert dinp.dtype == da.dtype == np.float32
    else:
        du, dz, g = nem_cell_backward(dstate, do, step.cell, p)
        assert du.dtype == dz.dtype == np.float32 and all(v.dtype == np.float32 for v in g.values())
    _, grads, _ = loss_and_grads(model, p, x, xn, g0, loss_weights=w, gamma_grad=True)
    assert all(g.dtype == np.float32 for g in grads.values())
