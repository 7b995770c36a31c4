"""Flying shapes (thesis Sec. 5.3.2): the sequence generator against its spec, the sequential
(next-step) unrolled loss's gradients in float64, the per-frame scoring, and the CLI preset."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from common.gradcheck import check_gradients
from common.metrics import grouping_score
from common.render import render_binary
from common.seeding import initial_gamma
from common.shapes import SHAPE_SPRITES, TEMPLATES, make_flying_shapes
from neural_em_shapes.config import make_config
from neural_em_shapes.data import make_splits
from neural_em_shapes.evaluate import evaluate_sequences, frame_scores
from neural_em_shapes.model import flip_noise, init_params, loss_and_grads, loss_weights, run_sequence_em, unrolled_forward

ROOT = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------- data

def test_flying_shapes_follow_the_spec():
    d = make_flying_shapes(300, np.random.default_rng(0), n_shapes=3, frames=21)
    assert d.images.shape == (300, 21, 28, 28) and d.images.dtype == np.uint8
    assert d.positions.shape == (300, 21, 3, 2) and d.object_ids.shape == (300, 3)
    assert set(np.unique(d.images)) <= {0, 1}
    h = np.array([t.shape[0] for t in TEMPLATES])[d.object_ids]
    w = np.array([t.shape[1] for t in TEMPLATES])[d.object_ids]
    # Every shape stays on the canvas in every frame (bouncing), and moves by at most 2 px (+1 rounding) per axis.
    assert (d.positions >= 0).all()
    assert (d.positions[..., 0] <= 28 - h[:, None]).all() and (d.positions[..., 1] <= 28 - w[:, None]).all()
    step = np.abs(np.diff(d.positions, axis=1))
    assert step.max() <= 3 and (step.sum(axis=(1, 3)) > 0).all()     # every shape moves
    # Some shapes bounce: a velocity component changes sign within the sequence.
    assert (np.diff(np.sign(np.diff(d.positions[..., 0], axis=1)), axis=1) != 0).any()
    # Frames are the static renderer's output for the recorded positions.
    n = 5
    spr = [np.repeat(SHAPE_SPRITES[d.object_ids[:n, s]], 21, axis=0) for s in range(3)]
    im, lab, ov = render_binary(spr, d.positions[:n].reshape(-1, 3, 2), (28, 28))
    np.testing.assert_array_equal(d.images[:n].reshape(-1, 28, 28), im)
    np.testing.assert_array_equal(d.labels[:n].reshape(-1, 28, 28), lab)
    np.testing.assert_array_equal(d.overlap[:n].reshape(-1, 28, 28), ov)


def test_flying_splits_are_seeded_and_disjoint():
    cfg = make_config("flying3", n_train=200, n_valid=50, n_test=50, iterations=6)
    a, b = make_splits(cfg, 3), make_splits(cfg, 3)
    for k in ("train", "valid", "test"):
        np.testing.assert_array_equal(a[k].images, b[k].images)
    assert a["train"].labels is None and a["test"].labels is not None
    assert a["test"].images.shape == (50, 7, 28, 28)
    # No test sequence's first frame appears among the training sequences' first frames.
    train0 = {r.tobytes() for r in a["train"].images[:, 0]}
    assert not any(r.tobytes() in train0 for r in a["test"].images[:, 0])
    assert not np.array_equal(make_splits(cfg, 4)["test"].images, a["test"].images)


def test_flying_shapes_refuse_bad_arguments():
    with pytest.raises(ValueError):
        make_flying_shapes(3, np.random.default_rng(0), frames=0)
    with pytest.raises(ValueError):
        make_flying_shapes(3, np.random.default_rng(0), speed=(2.0, 1.0))


# ----------------------------------------------------------------------------- model

B, K, D, H, T = 3, 3, 16, 5, 4


@pytest.mark.parametrize("gamma_grad", [False, True])
def test_next_step_unrolled_loss_gradients(gamma_grad):
    # Per-step targets x (T, B, D): step t reads frame t and is scored (E-step and loss) on frame t + 1.
    rng = np.random.default_rng(0)
    frames = (rng.random((T + 1, B, D)) < 0.4).astype(np.float64)
    x, xn = frames[1:], flip_noise(frames[:-1], 0.2, rng)
    g0 = initial_gamma(B, K, D, rng, dtype=np.float64)
    p = {k: v + 0.3 * rng.standard_normal(v.shape) for k, v in init_params("rnn-em", D, H, rng, dtype=np.float64).items()}
    w = loss_weights(make_config("flying3", iterations=T))
    loss, grads, _ = loss_and_grads("rnn-em", p, x, xn, g0, loss_weights=w, gamma_grad=gamma_grad)
    fixed = None if gamma_grad else unrolled_forward("rnn-em", p, x, xn, g0, loss_weights=w, keep=True)[2]["gamma"]
    check_gradients(lambda: unrolled_forward("rnn-em", p, x, xn, g0, loss_weights=w, fixed_gammas=fixed)[0],
                    p, grads).assert_ok(1e-6)
    # The per-step targets matter: the loss against the first target only is another function.
    assert abs(unrolled_forward("rnn-em", p, x[0], xn, g0, loss_weights=w)[0] - loss) > 1e-3


def test_run_sequence_em_groups_frame_t_plus_1_and_is_deterministic():
    rng = np.random.default_rng(1)
    p = init_params("rnn-em", 784, 8, rng)
    seqs = make_flying_shapes(4, rng, frames=6)
    a = run_sequence_em("rnn-em", p, seqs.images, K=3, noise=0.2, rng=np.random.default_rng(5))
    b = run_sequence_em("rnn-em", p, seqs.images, K=3, noise=0.2, rng=np.random.default_rng(5))
    c = run_sequence_em("rnn-em", p, seqs.images, K=3, noise=0.2, rng=np.random.default_rng(6))
    assert a.gamma.shape == (5, 4, 3, 784) and a.psi.shape == (5, 4, 3, 784) and a.loss.shape == (5,)
    np.testing.assert_array_equal(a.gamma, b.gamma)
    assert not np.array_equal(a.gamma, c.gamma)
    np.testing.assert_allclose(a.gamma.sum(axis=2), 1, atol=1e-5)


def test_sequence_scores_are_the_per_frame_ami_averaged_over_frames():
    rng = np.random.default_rng(2)
    seqs = make_flying_shapes(6, rng, frames=5)
    cfg = make_config("flying3", iterations=4, hidden=8)
    p = init_params("rnn-em", 784, 8, rng)
    ev = evaluate_sequences(p, cfg, seqs.images, seqs.labels, np.random.default_rng(3), K=3)
    tr = run_sequence_em("rnn-em", p, seqs.images, K=3, noise=cfg.noise, rng=np.random.default_rng(3),
                         gamma_init=cfg.gamma_init)
    lab = seqs.labels.reshape(6, 5, -1)
    per = [np.mean(grouping_score(lab[:, t + 1], tr.gamma[t].argmax(axis=1))[1]) for t in range(4)]
    assert ev["ami_max"] == pytest.approx(np.mean(per)) and ev["ami_max_last_frame"] == pytest.approx(per[-1])
    assert ev["ami_max_per_iteration"][1:] == pytest.approx(per) and len(ev["ami_max_per_iteration"]) == 5
    # A perfect grouping scores 1 on every frame.
    assert frame_scores(lab, lab)["max"] == pytest.approx(np.ones(5))


# ----------------------------------------------------------------------------- CLI

def test_flying_quick_cli_writes_a_valid_run(tmp_path):
    out = tmp_path / "f"
    r = subprocess.run([sys.executable, "neural_em_shapes/neural_em_shapes.py", "--preset", "flying3", "--quick",
                        "--seed", "0", "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    rec = json.loads((out / "run.json").read_text())
    m, c = rec["metrics"], rec["config"]
    assert c["dataset"] == "flying" and rec["data"]["dataset"] == "flying shapes"
    assert len(m["test_ami_max_per_iteration"]) == c["iterations"] + 1
    assert m["test_ami_max_last_frame"] == m["test_ami_max_per_iteration"][-1]
    assert m["test_ami_max"] == pytest.approx(np.mean(m["test_ami_max_per_iteration"][1:]))
    assert {(g["shapes"], g["K"]) for g in m["generalisation"]} == {(3, 3), (3, 5), (5, 5), (5, 3)}
    assert "kmeans_coords_K3" in rec["baselines"] and "static_transfer" in m
    assert list(out.glob("*.png")) and list(out.glob("*.gif"))


# ----------------------------------------------------------------------------- the conv cell (Table 5.1)

def _conv_problem(seed=0, S=8, B=2, Kc=2, T=3):
    rng = np.random.default_rng(seed)
    Dc = S * S
    frames = (rng.random((T + 1, B, Dc)) < 0.4).astype(np.float64)
    p = init_params("conv-rnn-em", Dc, 3, rng, dtype=np.float64, channels=2, mlp=5)
    # Generic layer-norm gains and biases, so no gradient is trivially symmetric or zero.
    p = {k: v + 0.3 * rng.standard_normal(v.shape) for k, v in p.items()}
    return p, frames[1:], flip_noise(frames[:-1], 0.2, rng), initial_gamma(B, Kc, Dc, rng, dtype=np.float64)


def test_conv_cell_step_gradients():
    from neural_em_shapes.conv_cell import conv_cell_backward, conv_cell_forward
    p, x, xn, g0 = _conv_problem()
    rng = np.random.default_rng(1)
    u, h0 = rng.standard_normal(g0.shape), rng.random((2, 2, 3))
    wh, wo = rng.standard_normal((2, 2, 3)), rng.standard_normal(g0.shape)
    f = lambda: float(np.sum(conv_cell_forward(u, h0, p)[0][0] * wh) + np.sum(conv_cell_forward(u, h0, p)[0][1] * wo))  # noqa: E731
    _, cache = conv_cell_forward(u, h0, p)
    du, dh0, grads = conv_cell_backward(wh, wo, cache, p)
    check_gradients(f, p, grads).assert_ok(1e-6)
    check_gradients(f, {"u": u, "h0": h0}, {"u": du, "h0": dh0}).assert_ok(1e-6)
    # The first step's shortcut (no input gradient) gives the same weight gradients.
    _, _, g_first = conv_cell_backward(wh, wo, cache, p, need_du=False)
    for k in grads:
        np.testing.assert_allclose(g_first[k], grads[k], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("gamma_grad", [False, True])
def test_conv_rnn_em_unrolled_next_step_loss_gradients(gamma_grad):
    p, x, xn, g0 = _conv_problem()
    w = np.full(len(x), 1.0 / len(x))
    _, grads, _ = loss_and_grads("conv-rnn-em", p, x, xn, g0, loss_weights=w, gamma_grad=gamma_grad)
    fixed = None if gamma_grad else unrolled_forward("conv-rnn-em", p, x, xn, g0, loss_weights=w, keep=True)[2]["gamma"]
    report = check_gradients(lambda: unrolled_forward("conv-rnn-em", p, x, xn, g0, loss_weights=w,
                                                      fixed_gammas=fixed)[0], p, grads)
    report.assert_ok(1e-6)
    # The check can fail: a 5 % error in one gradient, or a missing one, is caught.
    bad = dict(grads, **{"dec.conv1.W": grads["dec.conv1.W"] * 1.05})
    with pytest.raises(AssertionError):
        check_gradients(lambda: unrolled_forward("conv-rnn-em", p, x, xn, g0, loss_weights=w,
                                                 fixed_gammas=fixed)[0], p, bad).assert_ok(1e-6)


def test_inference_groups_sequences_of_a_flying_run(tmp_path):
    from common.inference import InputError
    from neural_em_shapes.inference import load_run
    out = tmp_path / "f"
    r = subprocess.run([sys.executable, "neural_em_shapes/neural_em_shapes.py", "--preset", "flying5", "--quick",
                        "--model", "conv-rnn-em", "--channels", "2", "--mlp", "8", "--hidden", "4", "--updates", "2",
                        "--eval-every", "1", "--n-test", "20", "--no-figures", "--out", str(out)],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    model = load_run(out)
    assert model.cfg.model == "conv-rnn-em" and model.cfg.K == 5
    seqs = make_flying_shapes(2, np.random.default_rng(0), frames=4)
    g = model.run_sequences(seqs.images.astype(np.float32))     # uint8 would mean 0..255
    assert g.labels.shape == (2, 3, 28, 28) and g.gamma.shape == (2, 3, 5, 28, 28)
    assert ((g.labels >= 0) == (seqs.images[:, 1:] > 0)).all()
    assert model.run_sequences(seqs.images[0].astype(bool)).labels.shape == (1, 3, 28, 28)
    assert g.save_png(tmp_path / "s.png").exists()
    with pytest.raises(InputError):
        model.run_sequences(np.zeros((1, 28, 28)))
    with pytest.raises(InputError):
        model.run_sequences(np.full((3, 28, 28), np.nan))
