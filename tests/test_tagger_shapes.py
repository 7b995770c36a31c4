"""Tagger on 20x20 shapes: float64 gradient checks of every op and of the whole unrolled cost, the
data against its spec, determinism, the CLI's smoke run with figures, bad input, inference."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from common.gradcheck import check_gradients
from tagger_shapes.config import PRESETS, TaggerConfig, make_config
from tagger_shapes.data import make_splits
from tagger_shapes.ladder import (combinator_backward, combinator_forward, combinator_init, ladder_backward,
                                  ladder_forward)
from tagger_shapes.model import (corrupt, cost_backward, cost_forward, init_params, initial_state, loss_and_grads,
                                 tag_inputs_backward, tag_inputs_forward)

ROOT = Path(__file__).resolve().parents[1]


def _rng(seed=0):
    return np.random.default_rng(seed)


def _jitter(p, rng, scale=0.3):
    """Move the vectors off their initial values (1s and 0s would hide a wrong gradient)."""
    for k in p:
        if p[k].ndim == 1 or k.startswith("comb"):
            p[k] = p[k] + scale * rng.standard_normal(p[k].shape)
    return p


# ----------------------------------------------------------------------------- gradient checks

def test_combinator_gradient():
    r = _rng()
    p = {"zt": r.normal(size=(5, 6)), "u": r.normal(size=(5, 6)), "a": combinator_init(6, np.float64)
         + 0.5 * r.normal(size=(10, 6))}
    dl = r.normal(size=(5, 6))
    loss = lambda: float(np.sum(combinator_forward(p["zt"], p["u"], p["a"])[0] * dl))
    dzt, du, da = combinator_backward(dl, combinator_forward(p["zt"], p["u"], p["a"])[1])
    check_gradients(loss, p, {"zt": dzt, "u": du, "a": da}).assert_ok(1e-6)


def test_ladder_gradient():
    r = _rng(1)
    sizes, L = (9, 7, 4), 2
    p = _jitter({k: v for k, v in init_params(5, sizes, r, np.float64).items()
                 if k not in ("W_h", "b_h", "W_out", "b_out")}, r)
    p["h0"] = np.abs(r.normal(size=(6, 9)))
    dl = r.normal(size=(6, 9))
    loss = lambda: float(np.sum(ladder_forward(p["h0"], p, L)[0] * dl))
    dh0, g = ladder_backward(dl, ladder_forward(p["h0"], p, L)[1], p, L)
    check_gradients(loss, p, {"h0": dh0, **g}).assert_ok(1e-6)


def test_tag_inputs_gradient():
    """The modelling error (eq. 6.6, binary) and the assignment likelihood (eq. 6.7) w.r.t. the
    previous mu and m; L sums to 1 over the groups and dmu is d log p(x~)/d mu."""
    r = _rng(2)
    B, K, D = 3, 4, 7
    xn = (r.random((B, D)) < 0.4).astype(float)
    p = {"mu": r.uniform(0.05, 0.95, (B, K, D)), "m": r.dirichlet(np.ones(K), (B, D)).transpose(0, 2, 1).copy()}
    w1, w2 = r.normal(size=(B, K, D)), r.normal(size=(B, K, D))

    def loss():
        (dmu, Lm), _ = tag_inputs_forward(xn, p["mu"], p["m"], 0.2)
        return float(np.sum(dmu * w1 + Lm * w2))
    (dmu, Lm), c = tag_inputs_forward(xn, p["mu"], p["m"], 0.2)
    gmu, gm = tag_inputs_backward(w1, w2, c)
    check_gradients(loss, p, {"mu": gmu, "m": gm}).assert_ok(1e-6)
    np.testing.assert_allclose(Lm.sum(1), 1.0)
    # dmu_k = d/dmu_k log p(x~) with p(x~ = 1) = sum_k m_k (mu_k (1 - 2 beta) + beta)
    logp = lambda mu: np.log(np.where(xn == 1, *(lambda q: (q, 1 - q))((p["m"] * (mu * 0.6 + 0.2)).sum(1)))).sum()
    e = np.zeros_like(p["mu"])
    e[1, 2, 3] = 1e-6
    assert (logp(p["mu"] + e) - logp(p["mu"] - e)) / 2e-6 == pytest.approx(dmu[1, 2, 3], rel=1e-5)


def test_cost_gradient():
    r = _rng(3)
    x = (r.random((3, 8)) < 0.3).astype(float)
    p = {"mu": r.uniform(0.01, 0.99, (3, 4, 8)), "m": r.dirichlet(np.ones(4), (3, 8)).transpose(0, 2, 1).copy()}
    loss = lambda: cost_forward(p["mu"], p["m"], x)[0]
    dmu, dm = cost_backward(1.0, cost_forward(p["mu"], p["m"], x)[1])
    check_gradients(loss, p, {"mu": dmu, "m": dm}).assert_ok(1e-6)


def _unrolled_problem(seed=4, T=3, kind="random"):
    r = _rng(seed)
    B, K, D, sizes = 3, 3, 16, (12, 8, 5)
    p = _jitter(init_params(D, sizes, r, np.float64), r)
    x = (r.random((B, D)) < 0.3).astype(np.float64)
    xn = corrupt(x, 0.2, r)
    s0 = initial_state(B, K, D, 0.26, r, np.float64, kind=kind, x=x)
    return p, (len(sizes) - 1, 0.2, x, xn, s0, T)


@pytest.mark.parametrize("residual, kind", [(False, "random"), (True, "spatial")])
def test_the_whole_unrolled_cost_gradient_checks_for_every_parameter(residual, kind):
    """The training cost (mean over 3 iterations) by backpropagation through the iterations,
    including the TAG inputs of each next iteration, against central differences; the thesis's
    mapping and the residual one."""
    p, args = _unrolled_problem(kind=kind)
    loss, g, costs = loss_and_grads(p, *args, residual=residual)
    assert costs.shape == (3,) and loss == pytest.approx(costs.mean())
    check_gradients(lambda: loss_and_grads(p, *args, residual=residual)[0], p, g, max_entries=40).assert_ok(1e-6)


def test_the_check_fails_on_a_wrong_or_missing_gradient():
    p, args = _unrolled_problem()
    _, g, _ = loss_and_grads(p, *args)
    wrong = dict(g, comb1=g["comb1"] * 1.05)
    with pytest.raises(AssertionError):
        check_gradients(lambda: loss_and_grads(p, *args)[0], p, wrong, max_entries=40).assert_ok(1e-6)
    with pytest.raises(KeyError):
        check_gradients(lambda: loss_and_grads(p, *args)[0], p, {k: v for k, v in g.items() if k != "V2"})


# ----------------------------------------------------------------------------- data, config

def test_data_matches_the_spec():
    cfg = make_config("default", n_train=300, n_valid=200, n_test=200)
    d = make_splits(cfg, 0)
    t = d["test"]
    assert t.images.shape == (200, 20, 20) and set(np.unique(t.images)) <= {0.0, 1.0}
    assert t.labels.max() == 3 and np.all(t.labels[t.images == 0] == 0)
    assert np.all(t.labels[t.overlap] == 0)
    overlap_share = t.overlap.reshape(200, -1).any(1).mean()
    assert overlap_share > 0.9                            # reference: 98% of images have overlap
    assert 0.24 < t.images.mean() < 0.32                  # reference: 28% foreground
    assert not np.array_equal(d["train"].images[:200], d["valid"].images)
    np.testing.assert_array_equal(make_splits(cfg, 0)["test"].images, t.images)   # seeded


def test_config_defaults_are_the_default_preset_and_bad_values_are_refused():
    assert make_config("default") == TaggerConfig()
    assert set(PRESETS) >= {"default", "paper", "quick"}
    for bad in (dict(K=1), dict(sizes=(10,)), dict(beta=0.6), dict(lr_final=2.0), dict(K=40)):
        with pytest.raises(ValueError):
            make_config("default", **bad)


# ----------------------------------------------------------------------------- training, CLI

def test_training_is_deterministic_and_learns():
    from tagger_shapes.train import train
    cfg = make_config("quick", updates=20, eval_every=10)
    data = make_splits(cfg, 1)
    a = train(cfg, data, _rng(1), progress=False)
    b = train(cfg, data, _rng(1), progress=False)
    assert a["history"]["train_loss"] == b["history"]["train_loss"]
    for k in a["params"]:
        np.testing.assert_array_equal(a["params"][k], b["params"][k])
    assert a["history"]["train_loss"][-1] < a["history"]["train_loss"][0]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("tagger") / "run"
    r = subprocess.run([sys.executable, str(ROOT / "tagger_shapes" / "tagger_shapes.py"), "--quick", "--threads", "1",
                        "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return out


def test_quick_run_writes_the_record_figures_and_gif(quick_run):
    from tagger_shapes.viz import FIGURES, GIF_NAME
    rec = json.loads((quick_run / "run.json").read_text())
    m = rec["metrics"]
    assert len(m["test_ami_max_per_iteration"]) == 6 and len(m["test_cost_per_iteration"]) == 5
    assert m["test_ami_max"] == m["test_ami_max_per_iteration"][-1]
    assert {"kmeans_coords_K3", "connected_components_8", "random_K4"} <= set(rec["baselines"])
    assert [g["shapes"] for g in m["generalisation"]] == [2, 3, 4, 3, 3]
    assert rec["data"]["dataset"] == "shapes 20x20" and "smoke" in rec["notes"]
    for f in (*FIGURES, GIF_NAME, "weights.npz", "examples.npz", "snapshots.npz"):
        assert (quick_run / f).is_file(), f


def test_figures_redraw_from_the_run_alone(quick_run, tmp_path):
    import shutil
    from tagger_shapes.viz import make_figures, make_gif
    d = tmp_path / "copy"
    shutil.copytree(quick_run, d)
    for f in d.glob("*.png"):
        f.unlink()
    assert all(p.is_file() for p in make_figures(d)) and make_gif(d).is_file()


def test_inference_loads_the_run_and_validates_images(quick_run):
    from common.inference import InputError
    from tagger_shapes.inference import load_run
    model = load_run(quick_run)
    img = np.zeros((20, 20), np.uint8)
    img[2:9, 2:9] = 255
    res = model.run(img)
    assert res.labels.shape == (1, 20, 20) and res.gamma.shape == (1, 4, 20, 20)
    assert np.all(res.labels[0][img == 0] == -1)
    np.testing.assert_array_equal(model.run(img).labels, res.labels)              # default rng: repeatable
    for bad in (np.full((20, 20), np.nan), np.zeros((28, 28)), np.full((20, 20), 2.0)):
        with pytest.raises(InputError):
            model.run(bad)


@pytest.mark.parametrize("args, needle", [(["--K", "1"], "K"), (["--sizes", "10"], "sizes"),
                                          (["--beta", "0.7"], "beta"), (["--lr", "-1"], "--lr"),
                                          (["--sizes", "100000,100000"], "memory")])
def test_mistakes_are_one_line_and_exit_2(args, needle, tmp_path):
    r = subprocess.run([sys.executable, str(ROOT / "tagger_shapes" / "tagger_shapes.py"), "--quick",
                        "--out", str(tmp_path / "x"), *args], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and needle in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert not (tmp_path / "x").exists()
