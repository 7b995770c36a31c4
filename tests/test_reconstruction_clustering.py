"""Reconstruction Clustering: DAE gradients (float64), salt-and-pepper noise, the E-step, the RC
loop (vectorised = per-image, chunking-invariant, deterministic), the search, the CLI and figures."""

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from common.gradcheck import check_gradients
from common.seeding import initial_gamma
from reconstruction_clustering.config import (DAE_PRESETS, PRESETS, THESIS_CONFIGS, DAEConfig, RCConfig,
                                              dae_preset, make_config)
from reconstruction_clustering.dae import (dae_loss_backward, dae_loss_forward, decode, encode, init_dae,
                                           salt_and_pepper)
from reconstruction_clustering.data import DATASETS, make_rc_dataset
from reconstruction_clustering.evaluate import rc_scores
from reconstruction_clustering.model import e_step, run_rc
from reconstruction_clustering.search import ContinuationError, confirm, sample_config, search
from reconstruction_clustering.train import train_dae

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "reconstruction_clustering" / "reconstruction_clustering.py"


def _cli(args, cwd=ROOT, module=None):
    cmd = [sys.executable, "-m", module] if module else [sys.executable, str(SCRIPT)]
    return subprocess.run(cmd + list(args), cwd=cwd, capture_output=True, text=True, timeout=300)


# ----------------------------------------------------------------------------- DAE

@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
def test_dae_loss_gradients_float64(activation):
    rng = np.random.default_rng(0)
    p = init_dae(12, 7, rng, dtype=np.float64)
    p = {k: v + 0.1 * rng.normal(size=v.shape) for k, v in p.items()}  # non-zero biases too
    x = (rng.random((5, 12)) < 0.4).astype(np.float64)
    xn = salt_and_pepper(x, 0.3, rng)
    _, cache = dae_loss_forward(xn, x, p, activation)
    grads = dae_loss_backward(cache)
    check_gradients(lambda: dae_loss_forward(xn, x, p, activation)[0], p, grads).assert_ok(1e-6)


def test_salt_and_pepper_statistics():
    rng = np.random.default_rng(1)
    x = np.zeros((200, 500), np.float32)
    y = salt_and_pepper(x, 0.4, rng)
    assert y.dtype == np.float32 and set(np.unique(y)) <= {0.0, 1.0}
    assert abs(y.mean() - 0.2) < 0.01            # half of the hit pixels become 1
    assert salt_and_pepper(x, 0.0, rng) is x


def test_train_dae_learns_and_is_deterministic():
    rng = np.random.default_rng(0)
    x = np.zeros((300, 16), np.float32)
    x[np.arange(300), rng.integers(0, 16, 300)] = 1      # one-hot "objects"
    kw = dict(hidden=8, activation="relu", noise=0.1, lr=1e-2, max_epochs=30, patience=10, batch=30)
    a = train_dae(x[:270], x[270:], np.random.default_rng(3), **kw)
    b = train_dae(x[:270], x[270:], np.random.default_rng(3), **kw)
    assert a.history["valid_loss"] == b.history["valid_loss"]
    assert a.best_valid_loss < 0.5 * a.history["valid_loss"][0]
    assert all(v.dtype == np.float32 for v in a.params.values())
    with pytest.raises(ValueError, match="optimizer"):
        train_dae(x, x, rng, optimizer="rmsprop", **{k: v for k, v in kw.items()})


# ----------------------------------------------------------------------------- RC loop

def test_e_step_soft_hard_and_loglik():
    rng = np.random.default_rng(0)
    psi = rng.random((3, 4, 10)).astype(np.float32)
    x = (rng.random((3, 10)) < 0.5).astype(np.float32)
    g, ll = e_step(psi, x, "soft")
    lik = np.where(x[:, None] > 0.5, psi, 1 - psi)
    np.testing.assert_allclose(g, lik / lik.sum(1, keepdims=True), rtol=1e-5)
    np.testing.assert_allclose(ll, np.log(lik.mean(1)).sum(-1), rtol=1e-5)
    h, _ = e_step(psi, x, "hard")
    assert set(np.unique(h)) <= {0.0, 1.0} and np.all(h.sum(1) == 1)
    np.testing.assert_array_equal(h.argmax(1), g.argmax(1))
    with pytest.raises(ValueError):
        e_step(psi, x, "medium")


def test_rc_gamma_0_is_the_shared_initial_gamma():
    """RC draws its gamma_0 with common.seeding.initial_gamma (float64 |N(0,1)|, as N-EM)."""
    p = init_dae(16, 5, np.random.default_rng(0))
    x = np.ones((4, 16), np.float32)
    tr = run_rc(x, p, "relu", K=3, iterations=1, rng=np.random.default_rng(7), keep=4)
    np.testing.assert_array_equal(tr.gammas[0], initial_gamma(4, 3, 16, np.random.default_rng(7)))


def test_config_defaults_are_the_default_preset():
    assert RCConfig() == make_config("default") == RCConfig(**PRESETS["default"]) and make_config("quick").dae_config == "quick"
    assert make_config(K=4, iterations=None).K == 4
    assert RCConfig(train_on="multi").e_step_kind == "hard" and RCConfig().e_step_kind == "soft"
    with pytest.raises(ValueError, match="preset"):
        make_config("huge")
    with pytest.raises(ValueError, match="inference"):
        RCConfig(inference="magic")


def _toy_dae():
    """A hand-built DAE on 2x4 images: hidden unit 1 fires when the input has more ink in the left
    2x2 block than in the right one and then decodes the left block; unit 2 the mirror image."""
    D, H = 8, 2
    left = np.array([1, 1, 0, 0, 1, 1, 0, 0], np.float32)
    right = 1 - left
    p = {"W_enc": np.stack([left - right, right - left], 1) * 3, "b_enc": np.zeros(H, np.float32),
         "W_dec": np.stack([left, right]) * 12, "b_dec": np.full(D, -6.0, np.float32)}
    return p


def test_rc_separates_two_objects_with_a_dae_that_knows_them():
    p = _toy_dae()
    x = np.ones((20, 8), np.float32)
    labels = np.array([1, 1, 2, 2, 1, 1, 2, 2])[None].repeat(20, 0)
    tr = run_rc(x, p, "relu", K=2, iterations=5, rng=np.random.default_rng(0))
    s = rc_scores(tr, labels)
    assert s["ami_max"] > 0.99
    assert tr.loglik[-1].mean() > tr.loglik[0].mean()
    assert len(s["ami_max_per_iteration"]) == 6


def test_rc_is_vectorised_chunk_invariant_and_deterministic():
    rng = np.random.default_rng(0)
    p = init_dae(16, 5, rng)
    x = (rng.random((7, 16)) < 0.5).astype(np.float32)
    a = run_rc(x, p, "tanh", K=3, iterations=3, rng=np.random.default_rng(4), keep=3, chunk=250)
    b = run_rc(x, p, "tanh", K=3, iterations=3, rng=np.random.default_rng(4), keep=3, chunk=2)
    np.testing.assert_array_equal(a.pred, b.pred)
    np.testing.assert_allclose(a.gammas, b.gammas)
    np.testing.assert_allclose(a.loglik, b.loglik, rtol=1e-6)
    # One image at a time by hand: R-step then E-step.
    g = initial_gamma(7, 3, 16, np.random.default_rng(4))[2]
    for _ in range(3):
        z, _ = encode(g * x[2], p, "tanh")
        (_, psi), _ = decode(z, p)
        g, _ = e_step(psi[None], x[2:3])
        g = g[0]
    np.testing.assert_allclose(a.gamma[2], g, rtol=1e-5, atol=1e-6)
    assert a.gammas.shape == (4, 3, 3, 16) and a.psis.shape == (3, 3, 3, 16)


def test_rc_restarts_keep_the_most_likely_run_per_image():
    rng = np.random.default_rng(0)
    p = init_dae(16, 5, rng)
    x = (rng.random((9, 16)) < 0.5).astype(np.float32)
    one = run_rc(x, p, "tanh", K=3, iterations=3, rng=np.random.default_rng(4), keep=4)
    many = run_rc(x, p, "tanh", K=3, iterations=3, rng=np.random.default_rng(4), keep=4, restarts=5)
    # The first restart draws what a single run draws, so the kept log-likelihood can only rise,
    assert np.all(many.loglik[-1] >= one.loglik[-1]) and np.any(many.loglik[-1] > one.loglik[-1])
    # and every field of an image comes from one and the same run.
    for i in range(4):
        np.testing.assert_array_equal(many.pred[:, i], many.gammas[:, i].argmax(1))
        np.testing.assert_array_equal(many.gamma[i], many.gammas[-1, i])
    with pytest.raises(ValueError, match="restarts"):
        run_rc(x, p, "tanh", K=3, rng=rng, restarts=0)


def test_rc_ink_init_takes_its_width_as_a_fraction_of_the_image_side():
    x = np.zeros((2, 64), np.float32)
    x[0, [0, 63]] = 1                        # two ink pixels in opposite corners of an 8x8 image
    x[1, 10] = 1
    p = init_dae(64, 5, np.random.default_rng(0))
    tr = run_rc(x, p, "relu", K=2, iterations=1, rng=np.random.default_rng(0), keep=2, init="ink",
                width_frac=0.25)
    g = initial_gamma(2, 2, 64, np.random.default_rng(0), kind="ink", width=2.0, x=x)   # 0.25 x 8 px
    np.testing.assert_array_equal(tr.gammas[0], g)
    assert g[0, :, 0].argmax() != g[0, :, 63].argmax()   # one seed on each ink pixel
    with pytest.raises(ValueError, match="width_frac"):
        run_rc(x, p, "relu", K=2, rng=np.random.default_rng(0), init="ink")
    with pytest.raises(ValueError, match="gamma_0 must be"):
        run_rc(x, p, "relu", K=2, rng=np.random.default_rng(0), init="corner")


def test_select_inference_picks_the_best_validation_entry_and_keeps_the_thesis_on_ties(monkeypatch):
    import reconstruction_clustering.evaluate as ex
    assert ex.INFERENCE_GRID[0] == ex.THESIS_INFERENCE
    fake = {}
    monkeypatch.setattr(ex, "evaluate", lambda *a, inference, **k: ({"ami_max": fake[str(inference)]}, None))
    kw = dict(K=2, iterations=1, e_step_kind="soft", seed_seq=np.random.SeedSequence(0))
    for winner in (0, 3):
        fake.clear()
        fake.update({str(inf): (0.9 if i == winner else 0.5) for i, inf in enumerate(ex.INFERENCE_GRID)})
        best, table = ex.select_inference(None, "relu", None, None, **kw)
        assert best == ex.INFERENCE_GRID[winner] and len(table) == len(ex.INFERENCE_GRID)
    fake.update({str(inf): 0.7 for inf in ex.INFERENCE_GRID})   # all tied: the thesis's procedure
    assert ex.select_inference(None, "relu", None, None, **kw)[0] == ex.THESIS_INFERENCE


def test_rc_scores_against_sklearn():
    """rc_scores follows the evaluation convention, checked pixel by pixel against scikit-learn:
    per image, AMI over object pixels only (label 0 = background/overlap excluded), then the mean."""
    from sklearn.metrics import adjusted_mutual_info_score as sk_ami
    rng = np.random.default_rng(2)
    p = init_dae(16, 6, rng)
    x = (rng.random((6, 16)) < 0.7).astype(np.float32)
    labels = rng.integers(1, 4, (6, 16)) * (x > 0)
    labels[0, :3] = 0                                       # an overlap pixel on ink: excluded too
    tr = run_rc(x, p, "relu", K=3, iterations=2, rng=rng)
    s = rc_scores(tr, labels)

    def ref(pred, method):
        return np.mean([sk_ami(labels[i][labels[i] > 0], pred[i][labels[i] > 0], average_method=method)
                        for i in range(len(x))])
    assert s["ami_max"] == pytest.approx(ref(tr.pred[-1], "max"), abs=1e-9)
    assert s["ami_arithmetic"] == pytest.approx(ref(tr.pred[-1], "arithmetic"), abs=1e-9)
    assert s["ami_max_per_iteration"] == pytest.approx([ref(q, "max") for q in tr.pred], abs=1e-9)
    assert s["loglik_per_iteration_mean"] == pytest.approx(tr.loglik.mean(1).tolist())


def test_bad_rc_arguments():
    p = init_dae(4, 2, np.random.default_rng(0))
    with pytest.raises(ValueError):
        run_rc(np.zeros((1, 4)), p, "relu", K=0, rng=np.random.default_rng(0))
    with pytest.raises(ValueError):
        run_rc(np.zeros((1, 4)), p, "relu", K=2, rng=np.random.default_rng(0), e_step_kind="x")


# ----------------------------------------------------------------------------- configs and search

def test_presets_cover_every_dataset_and_validate():
    assert set(DAE_PRESETS["single"]) == set(DATASETS)
    for train_on, table in DAE_PRESETS.items():
        for name, cfg in table.items():
            assert dae_preset(name, train_on) is cfg and cfg.max_seconds is None   # reproducible budgets
    assert set(THESIS_CONFIGS["multi"]) == set(DATASETS) - {"simple_superposition"}
    with pytest.raises(ValueError):
        dae_preset("mnist")
    with pytest.raises(ValueError):
        DAEConfig().replace(activation="swish")


def test_sample_config_stays_in_the_thesis_space():
    rng = np.random.default_rng(0)
    for _ in range(50):
        c = sample_config(rng, DAEConfig())
        assert c.hidden in (100, 250, 500, 1000) and c.activation in ("relu", "tanh", "sigmoid")
        assert 0 <= c.noise <= 0.9 and 3e-4 <= c.lr <= 1e-2


def test_search_rejects_simple_superposition_and_bad_input(tmp_path):
    r = _cli(["--dataset", "simple_superposition", "--out", str(tmp_path)], module="reconstruction_clustering.search")
    assert r.returncode == 2 and "test set" in r.stderr and "Traceback" not in r.stderr
    r = _cli(["--runs", "0"], module="reconstruction_clustering.search")
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_search_never_defaults_to_the_committed_records_and_refuses_to_overwrite(tmp_path):
    from reconstruction_clustering.search import build_parser
    assert "results" not in build_parser().parse_args([]).out
    (tmp_path / "single_bars.json").write_text("{}")
    r = _cli(["--dataset", "bars", "--runs", "1", "--out", str(tmp_path)], module="reconstruction_clustering.search")
    assert r.returncode == 2 and "--force" in r.stderr and "Traceback" not in r.stderr
    assert (tmp_path / "single_bars.json").read_text() == "{}"


def test_extended_search_equals_one_longer_search():
    """8 runs then 8 more must be the same 16 configurations, scores and choice as one search of 16."""
    data = make_rc_dataset("bars", 3, n_single=300, n_multi_train=100, n_valid=40, n_test=10)
    base = DAEConfig(hidden=16, max_epochs=1, patience=1)
    kw = dict(seed=3, valid_images=20, iterations=2, base=base, log=lambda *_: None)
    full = search("bars", data, runs=3, **kw)
    part = search("bars", data, runs=2, **kw)
    more = search("bars", data, runs=1, previous=part, **kw)
    strip = lambda rec: [{k: v for k, v in r.items() if k != "train_time_s"} for r in rec["runs"]]
    assert strip(more) == strip(full) and more["budget"]["runs"] == 3
    assert more["chosen"]["run"] == full["chosen"]["run"]
    with pytest.raises(ContinuationError, match="different"):
        search("bars", data, runs=1, previous={**part, "seed": 4}, **kw)
    with pytest.raises(ContinuationError, match="different"):                 # a different budget
        search("bars", data, runs=1, previous=part, **{**kw, "valid_images": 10})
    # Confirmation: the best 2 runs retrained longer, scored on all validation images.
    conf = confirm("bars", data, full, top=2, epochs=2, log=lambda *_: None)["confirmation"]
    ranked = sorted(full["runs"], key=lambda r: r["valid_ami_max"], reverse=True)[:2]
    assert [r["run"] for r in conf["runs"]] == [r["run"] for r in ranked]
    assert all(r["config"]["max_epochs"] == 2 for r in conf["runs"])
    assert conf["chosen"]["valid_ami_max"] == max(r["valid_ami_max"] for r in conf["runs"])
    # Several budgets: each leader at each budget; at the search's budget it is the search's DAE.
    conf = confirm("bars", data, full, top=2, epochs=[1, 2], log=lambda *_: None)["confirmation"]
    assert [(r["run"], r["config"]["max_epochs"]) for r in conf["runs"]] == [
        (r["run"], e) for r in ranked for e in (1, 2)]
    full20 = search("bars", data, runs=3, **{**kw, "valid_images": 40})      # all validation images
    conf = confirm("bars", data, full20, top=1, epochs=[1, 2], log=lambda *_: None)["confirmation"]
    assert conf["runs"][0]["valid_ami_max"] == conf["runs"][0]["search_valid_ami_max"]


def test_search_runs_on_the_sweep_machinery(tmp_path):
    """Two worker processes give the search record of one process; the finished runs kept in
    record_dir are reused, so an interrupted search trains only what is missing. (One BLAS thread
    here as in the workers: OpenBLAS with two threads gives other last bits.)"""
    from common.threads import blas_threads
    with blas_threads(1):
        _check_search_on_the_machinery(tmp_path)


def _check_search_on_the_machinery(tmp_path):
    small = dict(n_single=300, n_multi_train=100, n_valid=40, n_test=10)
    data = make_rc_dataset("bars", 3, **small)
    kw = dict(seed=3, valid_images=20, iterations=2, base=DAEConfig(hidden=16, max_epochs=1, patience=1),
              log=lambda *_: None, data_kwargs=small)
    strip = lambda rec: [{k: v for k, v in r.items() if k != "train_time_s"} for r in rec["runs"]]
    one = search("bars", data, runs=3, **kw)
    two = search("bars", data, runs=3, jobs=2, record_dir=tmp_path / "runs", **kw)
    assert strip(two) == strip(one) and two["chosen"]["run"] == one["chosen"]["run"]
    files = sorted((tmp_path / "runs").glob("run_*.json"))
    assert len(files) == 3
    kept = json.loads(files[1].read_text())
    kept["result"]["valid_ami_max"] = 0.5                 # a marker: reused, not retrained
    files[1].write_text(json.dumps(kept))
    files[2].unlink()                                     # the run the interruption lost
    again = search("bars", data, runs=3, record_dir=tmp_path / "runs", **kw)
    assert again["runs"][1]["valid_ami_max"] == 0.5 and strip(again)[2] == strip(one)[2]
    conf1 = confirm("bars", data, one, top=2, epochs=[1, 2], log=lambda *_: None)["confirmation"]
    conf2 = confirm("bars", data, one, top=2, epochs=[1, 2], log=lambda *_: None, jobs=2,
                    data_kwargs=small)["confirmation"]
    assert [{k: v for k, v in r.items() if k != "train_time_s"} for r in conf1["runs"]] == \
        [{k: v for k, v in r.items() if k != "train_time_s"} for r in conf2["runs"]]


# ----------------------------------------------------------------------------- CLI and figures

@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("rc") / "run"
    r = _cli(["--quick", "--dataset", "bars", "--seed", "1", "--inference", "select", "--out", str(out)])
    assert r.returncode == 0, r.stderr
    return out, r


def test_quick_cli_writes_valid_runs_and_figures(quick_run):
    out, r = quick_run
    rec = json.loads((out / "bars" / "run.json").read_text())
    m = rec["metrics"]
    assert m["K"] == 12 and len(m["test_ami_max_per_iteration"]) == 11
    assert len(m["test_loglik_per_iteration_mean"]) == 10 and len(m["test_per_image_ami_max"]) == m["test_images"]
    assert {"kmeans_coords_K12", "connected_components_8", "random_K12"} <= set(rec["baselines"])
    assert "smoke test" in rec["notes"] and [row["K"] for row in m["ami_vs_K"]]
    # RC inference chosen on validation from the whole grid; the thesis procedure is scored too.
    from reconstruction_clustering.evaluate import INFERENCE_GRID
    assert len(m["rc_inference_selection"]) == len(INFERENCE_GRID)
    assert m["valid_ami_max"] == max(r["valid_ami_max"] for r in m["rc_inference_selection"])
    assert m["rc_inference"] in INFERENCE_GRID and "test_ami_max_thesis_inference" in m
    from reconstruction_clustering.viz import DATASET_FIGURES, GIF_NAME
    for f in DATASET_FIGURES + (GIF_NAME, "weights.npz", "trace.npz"):
        assert (out / "bars" / f).stat().st_size > 0, f
    summary = json.loads((out / "summary.json").read_text())
    assert summary["rows"][0]["dataset"] == "bars" and "| bars | 12 |" in (out / "summary.md").read_text()
    assert "| bars | 12 |" in r.stdout
    for f in ("ami_vs_K.png", "dae_loss_vs_ami.png"):           # figures across datasets
        assert (out / f).stat().st_size > 0, f
    # The examples of Figs. 4.8-4.10 come from all test images: every iteration's assignment is saved.
    with np.load(out / "bars" / "trace.npz") as tr:
        assert tr["example_preds"].shape == (11, 6, 20 * 20) and tr["gammas"].dtype == np.uint8
        per = np.asarray(m["test_per_image_ami_max"], float)
        np.testing.assert_array_equal(tr["example_scores"], per[tr["examples"]])
        assert tr["example_scores"][0] == np.nanmax(per) and tr["example_scores"][-1] == np.nanmin(per)
    # The vocabulary (docs/vocabulary.md): DAE epochs, its checkpoint, data provenance.
    assert {"best_epoch", "train_time_s", "test_images", "valid_images", "selection"} <= set(m)
    assert set(rec["history"]) == {"epoch", "train_loss", "valid_loss", "elapsed_s"}
    assert rec["data"]["dataset"] == "bars" and rec["data"]["mnist"] is None
    # The committed weights are float16 and every metric is theirs.
    with np.load(out / "bars" / "weights.npz") as w:
        assert all(w[k].dtype == np.float16 for k in w.files)
    assert "test_ami_max_float32_weights" in m


def test_quick_cli_is_deterministic_and_runs_from_its_folder(quick_run, tmp_path):
    out, _ = quick_run
    r = _cli(["--quick", "--dataset", "bars", "--seed", "1", "--inference", "select", "--out", str(tmp_path / "b"),
              "--no-figures"],
             cwd=ROOT / "reconstruction_clustering")
    assert r.returncode == 0, r.stderr
    a = json.loads((out / "bars" / "run.json").read_text())
    b = json.loads((tmp_path / "b" / "bars" / "run.json").read_text())
    assert a["metrics"]["test_ami_max"] == b["metrics"]["test_ami_max"]
    assert a["history"]["valid_loss"] == b["history"]["valid_loss"]


def test_quick_cli_defaults_to_the_thesis_inference_and_never_selects_on_test_pairs(tmp_path):
    r = _cli(["--quick", "--dataset", "bars", "--out", str(tmp_path / "q"), "--no-figures"])
    assert r.returncode == 0, r.stderr
    m = json.loads((tmp_path / "q" / "bars" / "run.json").read_text())["metrics"]
    assert m["rc_inference_selection"] == [] and m["rc_inference"]["init"] == "random"
    assert m["test_ami_max"] == m["test_ami_max_thesis_inference"]
    # simple superposition's validation pairs are test pairs: no choice is made on them.
    r = _cli(["--quick", "--dataset", "simple_superposition", "--inference", "select",
              "--out", str(tmp_path / "s"), "--no-figures"])
    assert r.returncode == 0, r.stderr
    rec = json.loads((tmp_path / "s" / "simple_superposition" / "run.json").read_text())
    assert rec["metrics"]["rc_inference_selection"] == [] and "no held-out" in rec["metrics"]["selection"]


def test_select_run_scores_the_thesis_inference_exactly_as_a_thesis_run(quick_run, tmp_path):
    out, _ = quick_run                                   # --inference select, seed 1
    r = _cli(["--quick", "--dataset", "bars", "--seed", "1", "--inference", "thesis",
              "--out", str(tmp_path / "t"), "--no-figures"])
    assert r.returncode == 0, r.stderr
    sel = json.loads((out / "bars" / "run.json").read_text())["metrics"]
    the = json.loads((tmp_path / "t" / "bars" / "run.json").read_text())["metrics"]
    assert sel["test_ami_max_thesis_inference"] == the["test_ami_max"]
    assert sel["valid_ami_max_thesis_inference"] == the["valid_ami_max"]


def test_figures_regenerate_from_the_run_directory(quick_run, tmp_path):
    import shutil
    from reconstruction_clustering.viz import make_dataset_figures, make_summary_figures
    out, _ = quick_run
    d = tmp_path / "copy"
    shutil.copytree(out, d)
    for f in d.glob("bars/*.png"):
        f.unlink()
    paths = make_dataset_figures(d / "bars", gif=False)
    assert all(p.exists() for p in paths)
    assert (make_summary_figures(d)[0]).exists()


@pytest.mark.parametrize("args, needle", [(["--K", "0"], "--K"), (["--dataset", "cifar"], "--dataset"),
                                          (["--iterations", "-1"], "--iterations"), (["--sweep-K", "2,x"], "--sweep-K"),
                                          (["--train-on", "both"], "--train-on")])
def test_cli_rejects_bad_input_with_exit_2(args, needle):
    r = _cli(args)
    assert r.returncode == 2 and needle in r.stderr and "Traceback" not in r.stderr


def test_cli_refuses_a_non_empty_out_without_force(tmp_path):
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "run.json").write_text("{}")
    r = _cli(["--quick", "--dataset", "bars", "--out", str(tmp_path / "old")])
    assert r.returncode == 2 and "--force" in r.stderr and "Traceback" not in r.stderr
    assert (tmp_path / "old" / "run.json").read_text() == "{}"


def test_python_dash_m_and_bench(tmp_path):
    r = _cli(["--help"], module="reconstruction_clustering")
    assert r.returncode == 0 and "--iterations" in r.stdout
    out = tmp_path / "bench.json"
    r = _cli(["--dataset", "bars", "--rounds", "1", "--repeats", "1", "--warmup", "1", "--threads", "1",
              "--json", str(out)], module="reconstruction_clustering.bench")
    assert r.returncode == 0, r.stderr
    assert "DAE training update" in r.stdout and "RC loop" in r.stdout and "GEMM share" in r.stdout
    rows = json.loads(out.read_text())["rows"]
    assert {r["phase"] for r in rows} == {"update", "data", "rc", "gemm_1024"}
    assert all(r["numpy_ms"] > 0 for r in rows if r["phase"] in ("update", "rc"))
    r = _cli(["--help"], cwd=ROOT / "reconstruction_clustering", module="reconstruction_clustering.bench")
    assert r.returncode == 2 and "Traceback" not in r.stderr and "repository root" in r.stderr


def test_viz_never_imports_the_cli_or_a_model():
    """No cli <-> viz cycle, and the figures are drawn from saved arrays only."""
    import ast
    tree = ast.parse((ROOT / "reconstruction_clustering" / "viz.py").read_text())
    names = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert not names & {"cli", "model", "evaluate", "train", "dae"}, names


def test_cli_unwritable_out_dir_exits_2(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    r = _cli(["--quick", "--dataset", "bars", "--out", str(f / "sub")])
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_dae_from_reuses_the_trained_dae(quick_run, tmp_path):
    """--dae-from skips training and loads the earlier DAE: RC on the same seed gives the same scores."""
    out, _ = quick_run
    again = tmp_path / "again"
    r = _cli(["--quick", "--dataset", "bars", "--seed", "1", "--inference", "select", "--dae-from", str(out),
              "--out", str(again), "--no-figures", "--sweep-K", ""])
    assert r.returncode == 0, r.stderr
    a, b = (json.loads((d / "bars" / "run.json").read_text()) for d in (out, again))
    assert b["metrics"]["ami_vs_K"] == []                      # --sweep-K '' skips the sweep
    assert b["config"]["dae_loaded_from"] == str(out)
    assert b["metrics"]["train_time_s"] == a["metrics"]["train_time_s"]   # the original training
    for k in ("test_ami_max", "test_ami_max_thesis_inference", "valid_ami_max", "rc_inference"):
        assert a["metrics"][k] == b["metrics"][k], k
    assert b["config"]["dae"] == a["config"]["dae"] and b["history"] == a["history"]


@pytest.mark.parametrize("extra, message", [
    (["--seed", "2"], "was made with"),                      # another seed: another digit split
    (["--seed", "1", "--train-on", "multi"], "was made with"),
    (["--seed", "1", "--dae-config", "thesis"], "drop --dae-config"),
])
def test_dae_from_rejects_a_mismatched_run(quick_run, tmp_path, extra, message):
    out, _ = quick_run
    r = _cli(["--quick", "--dataset", "bars", "--dae-from", str(out), "--out", str(tmp_path / "x"), *extra])
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr


def test_dae_from_missing_run_or_weights_exits_2(quick_run, tmp_path):
    import shutil
    r = _cli(["--quick", "--dataset", "bars", "--dae-from", str(tmp_path / "none"), "--out", str(tmp_path / "x")])
    assert r.returncode == 2 and "no run directory" in r.stderr and "Traceback" not in r.stderr
    out, _ = quick_run
    (tmp_path / "nw" / "bars").mkdir(parents=True)
    shutil.copy(out / "bars" / "run.json", tmp_path / "nw" / "bars")      # a committed root: no weights
    r = _cli(["--quick", "--dataset", "bars", "--seed", "1", "--dae-from", str(tmp_path / "nw"),
              "--out", str(tmp_path / "x")])
    assert r.returncode == 2 and "no weights file" in r.stderr and "Traceback" not in r.stderr
    # --dataset all checks every DAE before running any dataset
    r = _cli(["--quick", "--seed", "1", "--dae-from", str(out), "--out", str(tmp_path / "all")])
    assert r.returncode == 2 and "simple_superposition" in r.stderr and not (tmp_path / "all" / "bars").exists()


def test_loss_vs_ami_figure_uses_the_roots_search_records(tmp_path, monkeypatch):
    """A multi-object root plots the multi-object search records, a single-object root the single ones."""
    from reconstruction_clustering import viz
    for train_on in ("single", "multi"):
        (tmp_path / f"{train_on}_bars.json").write_text("{}")
    seen = []
    monkeypatch.setattr(viz, "ami_vs_k_figure", lambda root: root)
    monkeypatch.setattr(viz, "loss_vs_ami_figure", lambda d, path, train_on: seen.append(train_on) or path)
    for train_on in ("single", "multi"):
        monkeypatch.setattr(viz, "_dataset_runs", lambda root, t=train_on: {"bars": {"config": {"train_on": t}}})
        viz.make_summary_figures(tmp_path / train_on, search_dir=tmp_path)
    assert seen == ["single", "multi"]


def test_presets_are_the_committed_search_choices():
    PRESETS = DAE_PRESETS
    """Every searched preset is exactly what its committed search record chose."""
    search_dir = ROOT / "reconstruction_clustering" / "results" / "search"
    records = [json.loads(f.read_text()) for f in sorted(search_dir.glob("*_*.json"))]
    searched = {(t, d) for t, ds in PRESETS.items() for d in ds if d != "simple_superposition"}
    assert {(r["train_on"], r["dataset"]) for r in records} == searched, "one committed record per preset"
    for rec in records:
        name = f"{rec['train_on']}_{rec['dataset']}"
        assert rec["chosen"]["valid_ami_max"] == max(r["valid_ami_max"] for r in rec["runs"]), name
        # A confirmation stage (longer training, all validation images), when run, has the last word:
        # it must have retrained the search's top runs and chosen the best of them.
        conf = rec.get("confirmation")
        if conf:
            ranked = sorted(rec["runs"], key=lambda r: r["valid_ami_max"], reverse=True)[:conf["top"]]
            assert list(dict.fromkeys(r["run"] for r in conf["runs"])) == [r["run"] for r in ranked], name
            assert conf["chosen"]["valid_ami_max"] == max(r["valid_ami_max"] for r in conf["runs"]), name
        assert dataclasses.asdict(PRESETS[rec["train_on"]][rec["dataset"]]) == (conf or rec)["chosen"]["config"], name


def test_figure_scripts_redraw_from_a_run_root_and_reject_missing_runs(quick_run, tmp_path):
    import shutil
    out, _ = quick_run
    d = tmp_path / "copy"
    shutil.copytree(out, d)
    gif = d / "bars" / "rc_iterations.gif"
    gif.unlink()
    folder = ROOT / "reconstruction_clustering"
    r = subprocess.run([sys.executable, "make_reconstruction_clustering_gif.py", str(d)], cwd=folder,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert gif.exists()
    r = subprocess.run([sys.executable, str(folder / "visualize_reconstruction_clustering.py"), str(tmp_path / "none")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "no run.json" in r.stderr and "Traceback" not in r.stderr


def test_a_dataset_without_a_dae_preset_is_refused_before_anything_is_written(tmp_path):
    r = _cli(["--dataset", "simple_superposition", "--train-on", "multi", "--out", str(tmp_path / "o")])
    assert r.returncode == 2 and "no preset" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "o").exists()
