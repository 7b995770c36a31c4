"""AIR command line: --quick smoke run (valid run.json + figures + GIF), the vocabulary (--updates,
--max-objects; the old --steps refused with a hint), bad input -> exit 2, a non-empty --out
refused without --force, determinism, figures regenerate from the saved arrays alone,
`python -m air_multimnist` and the bench entry point."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from air_multimnist.cli import cli
from air_multimnist.viz import EXAMPLES, FIGURES, GIF_NAME, SNAPSHOTS, make_figures, make_gif
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
    assert 0 <= m["test_count_accuracy"] <= 1 and np.array(m["test_confusion"]).sum() == m["test_images"]
    assert m["test_images"] == rec["config"]["n_test"] and m["valid_images"] == rec["config"]["n_valid"]
    assert {"best_update", "selection", "train_time_s"} <= set(m) and "test_scenes" not in m
    assert set(rec["baselines"]) == {"ink_thresholds", "majority_count"}
    for k in ("update", "elapsed_s", "train_elbo", "valid_count_accuracy", "valid_share_all_steps"):
        assert len(rec["history"][k]) == 3
    assert rec["config"]["max_objects"] == 3 and "steps" not in rec["config"]
    mnist = rec["data"]["mnist"]
    assert mnist["source"] and mnist["n_digits"] > 0 and len(mnist["sha256"]) == 64
    assert "smoke" in rec["notes"]
    for f in FIGURES + (GIF_NAME, "weights.npz", EXAMPLES, SNAPSHOTS):
        assert (quick_run / f).stat().st_size > 0


def test_figures_regenerate_from_the_saved_arrays_alone(quick_run, tmp_path):
    """viz draws from run.json + examples.npz + snapshots.npz: no weights, no model."""
    import shutil
    run = tmp_path / "no_weights"
    shutil.copytree(quick_run, run)
    (run / "weights.npz").unlink()
    for f in FIGURES + (GIF_NAME,):
        (run / f).unlink()
    paths = make_figures(run)
    assert len(paths) == len(FIGURES) and all(p.stat().st_size > 0 for p in paths)
    assert make_gif(run).exists()


def test_quick_run_is_deterministic(quick_run, tmp_path):
    assert cli(["--quick", "--seed", "3", "--out", str(tmp_path), "--no-figures", "--threads", "1"]) == 0
    a, b = read_run(quick_run), read_run(tmp_path)
    assert a["history"]["train_elbo"] == b["history"]["train_elbo"]
    assert a["metrics"]["test_count_accuracy"] == b["metrics"]["test_count_accuracy"]


def test_non_empty_out_is_refused_without_force(quick_run):
    assert cli(["--quick", "--out", str(quick_run), "--threads", "1"]) == 2


def _script(args, cwd):
    return subprocess.run([sys.executable, str(ROOT / "air_multimnist" / "air_multimnist.py"), *args],
                          capture_output=True, text=True, cwd=cwd)


@pytest.mark.parametrize("args", [["--steps", "3"], ["--steps"], ["--step", "3"], ["--max-obj", "2"]])
def test_old_steps_flag_and_prefixes_exit_2(args, tmp_path):
    """--steps meant training updates here and the object count in the config: it stops with a
    hint, and no prefix of a flag is accepted (allow_abbrev=False)."""
    p = _script([*args, "--out", str(tmp_path / "run")], ROOT)
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
    if args[0] == "--steps":
        assert "--updates" in p.stderr and "--max-objects" in p.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("args", [["--updates", "0"], ["--max-objects", "0"], ["--lr", "-1"], ["--preset", "nope"],
                                  ["--batch", "x"], ["--estimator", "gumbel"]])
def test_bad_input_exits_2_without_traceback(args, tmp_path):
    p = _script([*args, "--out", str(tmp_path)], ROOT / "air_multimnist")
    assert p.returncode == 2 and "Traceback" not in p.stderr and "error" in p.stderr


def test_missing_run_dir_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        make_figures(tmp_path / "absent")


def test_python_dash_m_and_bench_entry_points():
    """`python -m air_multimnist --help` works from the root; `python -m air_multimnist.bench` from
    inside the folder (where the script shadows the package) is a one-line error, not a traceback."""
    p = subprocess.run([sys.executable, "-m", "air_multimnist", "--help"], capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 0 and "--max-objects" in p.stdout and "--updates" in p.stdout
    p = subprocess.run([sys.executable, "-m", "air_multimnist.bench", "--help"], capture_output=True, text=True,
                       cwd=ROOT)
    assert p.returncode == 0 and "--compare" in p.stdout, p.stderr
    p = subprocess.run([sys.executable, "-m", "air_multimnist.bench", "--help"], capture_output=True, text=True,
                       cwd=ROOT / "air_multimnist")
    assert p.returncode == 2 and "Traceback" not in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr


def test_no_import_cycle_between_cli_viz_and_inference():
    """viz draws from saved arrays: it imports neither the model, the CLI nor the inference API."""
    import ast
    for name, banned in (("viz", {"cli", "inference", "model", "train", "evaluate"}), ("inference", {"cli"}),
                         ("model", {"cli", "viz", "inference", "train"})):
        tree = ast.parse((ROOT / "air_multimnist" / f"{name}.py").read_text())
        mods = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        assert not {f"air_multimnist.{b}" for b in banned} & mods, (name, mods)


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
