"""AIR command line: --quick smoke run (valid run.json + figures + GIF), bad input -> exit 2,
determinism, figures regenerate from the run directory, inference API on saved weights."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from air_multimnist.cli import cli
from air_multimnist.inference import load_model
from air_multimnist.viz import FIGURES, GIF_NAME, make_figures, make_gif
from common.runs import read_run

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("air") / "run"
    assert cli(["--quick", "--seed", "3", "--out", str(out), "--threads", "1"]) == 0
    return out


def test_quick_run_writes_a_valid_record_and_figures(quick_run):
    rec = read_run(quick_run)
    m = rec["metrics"]
    assert 0 <= m["test_count_accuracy"] <= 1 and np.array(m["test_confusion"]).sum() == m["test_scenes"]
    assert set(rec["baselines"]) == {"ink_thresholds", "majority_count"}
    for k in ("train_elbo", "valid_count_accuracy", "valid_share_all_steps"):
        assert len(rec["history"][k]) == 3
    assert "smoke" in rec["notes"]
    for f in FIGURES + (GIF_NAME, "weights.npz"):
        assert (quick_run / f).stat().st_size > 0


def test_figures_regenerate_from_the_run_dir(quick_run):
    before = (quick_run / "confusion.png").stat().st_mtime_ns
    paths = make_figures(quick_run)
    assert len(paths) == len(FIGURES) and (quick_run / "confusion.png").stat().st_mtime_ns >= before
    assert make_gif(quick_run).exists()


def test_quick_run_is_deterministic(quick_run, tmp_path):
    assert cli(["--quick", "--seed", "3", "--out", str(tmp_path), "--no-figures"]) == 0
    a, b = read_run(quick_run), read_run(tmp_path)
    assert a["history"]["train_elbo"] == b["history"]["train_elbo"]
    assert a["metrics"]["test_count_accuracy"] == b["metrics"]["test_count_accuracy"]


def test_inference_api_on_saved_weights(quick_run):
    model = load_model(quick_run)
    imgs = np.zeros((3, 50, 50), np.float32)
    imgs[1, 10:30, 10:20] = 1
    res = model.infer(imgs)
    assert res["counts"].shape == (3,) and res["boxes"].shape == (3, 3, 4)
    assert res["objects"].shape == (3, 3, 50, 50) and res["recon"].shape == (3, 50, 50)
    with pytest.raises(ValueError):
        model.infer(np.zeros((2, 28, 28)))


@pytest.mark.parametrize("args", [["--steps", "0"], ["--lr", "-1"], ["--preset", "nope"], ["--batch", "x"],
                                  ["--estimator", "gumbel"]])
def test_bad_input_exits_2_without_traceback(args, tmp_path):
    p = subprocess.run([sys.executable, str(ROOT / "air_multimnist" / "air_multimnist.py"), *args,
                        "--out", str(tmp_path)], capture_output=True, text=True, cwd=ROOT / "air_multimnist")
    assert p.returncode == 2 and "Traceback" not in p.stderr and "error" in p.stderr


def test_missing_run_dir_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        make_figures(tmp_path / "absent")


def test_count_prior_anneal_schedule():
    """k falls geometrically from count_k_start to count_k over count_anneal of training, then stays."""
    from air_multimnist.config import make_config
    from air_multimnist.train import count_k_at
    const = make_config("default", updates=100)
    assert count_k_at(const, 0) == count_k_at(const, 99) == const.count_k == 1e-4
    cfg = make_config("default", updates=100, count_k_start=0.5, count_k=1e-5, count_anneal=0.5)
    ks = [count_k_at(cfg, s) for s in range(100)]
    half = 0.5 * 99                                               # the anneal ends at step (U-1)/2
    assert ks[0] == pytest.approx(0.5) and ks[50] == pytest.approx(1e-5) and ks[99] == pytest.approx(1e-5)
    assert count_k_at(cfg, half / 2) == pytest.approx(np.sqrt(0.5 * 1e-5))   # geometric midpoint
    full = make_config("default", updates=100, count_k_start=0.5, count_k=1e-5, count_anneal=1.0)
    assert count_k_at(full, 99) == pytest.approx(1e-5)            # reached on the last update
    assert all(a >= b for a, b in zip(ks, ks[1:]))
    assert make_config("enumerate").count_k == 0.01               # its committed runs' prior
    with pytest.raises(ValueError):
        make_config("default", count_k_start=2.0)
    with pytest.raises(ValueError, match="weak prior"):
        make_config("default", count_k_start=1e-6)                # would anneal upwards
