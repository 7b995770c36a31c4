"""neural_em_shapes.viz and its two CLIs on a tiny fake run directory (random arrays of the shapes
the training CLI writes): every figure and the GIF are valid images, bad run dirs exit 2."""

import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

from common.runs import write_run
from common.plotting import iteration_columns, match_truth_to_slots
from neural_em_shapes.viz import FIGURES, GIF_NAME, RunDataError, make_figures, make_gif

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ["visualize_neural_em_shapes.py", "make_neural_em_shapes_gif.py"]
T, K, N, E, S, D = 3, 4, 3, 4, 3, 784


def fake_run(out: Path, notes: str = "--quick: numbers are a smoke test, not results") -> Path:
    """run.json + examples.npz + snapshots.npz with the keys and shapes of a real run
    (examples gamma: T + 1 entries, index 0 = gamma_0; psi: T)."""
    rng = np.random.default_rng(0)

    def gamma(*shape):
        g = rng.random(shape).astype(np.float32)
        return g / g.sum(axis=-2, keepdims=True)               # normalised over K

    images = (rng.random((N, 28, 28)) > 0.7).astype(np.float32)
    labels = rng.integers(0, 4, (N, 28, 28)) * (images > 0)
    write_run(out, paper="neural_em_shapes", seed=0, config={"model": "rnn-em", "K": K, "iterations": T},
              history={"update": [10, 20, 30], "train_loss": [500.0, 200.0, None],  # None = NaN
                       "valid_loss": [510.0, 210.0, 150.0], "valid_ami_max": [0.1, 0.3, 0.5],
                       "valid_ami_arithmetic": [0.12, 0.33, 0.55], "lr": [1e-3] * 3,
                       "grad_norm": [1.0] * 3, "elapsed_s": [1.0, 2.0, 3.0]},
              metrics={"test_ami_max": 0.5, "test_ami_arithmetic": 0.55,
                       "test_ami_max_per_iteration": [0.05, 0.1, 0.3, 0.5], "best_update": 30},
              baselines={"kmeans": {"ami_max": 0.2, "ami_arithmetic": 0.25}, "none": {"ami_max": None}},
              wall_time_s=1.0, notes=notes)
    np.savez(out / "examples.npz", images=images, labels=labels, gamma=gamma(T + 1, N, K, D),
             psi=rng.random((T, N, K, D)).astype(np.float32))
    s_images = (rng.random((S, 28, 28)) > 0.7).astype(np.float32)
    np.savez(out / "snapshots.npz", gamma=gamma(E, S, K, D).astype(np.float16),
             update=np.array([10, 20, 30, 40]), images=s_images,
             labels=rng.integers(0, 4, (S, 28, 28)) * (s_images > 0))
    return out


@pytest.fixture
def run_dir(tmp_path):
    return fake_run(tmp_path / "run")


def _check_gif(path: Path, upscale: int = 3):
    frames = iio.imread(path, index=None)
    assert frames.shape[0] == E and frames.shape[-1] == 3
    assert frames.shape[2] == (S * 28 + S - 1) * upscale       # S images and 1-pixel separators
    assert frames.shape[1] > 28 * upscale                      # plus the caption strip


def test_make_figures_and_gif_write_valid_images(run_dir):
    paths = make_figures(run_dir)
    assert [p.name for p in paths] == list(FIGURES)
    for p in paths:
        assert p.parent == run_dir
        img = iio.imread(p)
        assert img.ndim == 3 and img.shape[-1] in (3, 4) and min(img.shape[:2]) > 100, p.name
        assert img.std() > 0, p.name                           # not a blank canvas
    gif = make_gif(run_dir)
    assert gif == run_dir / GIF_NAME
    _check_gif(gif)
    assert iio.immeta(gif).get("loop") == 0


def test_iteration_columns_subsample_and_keep_the_last():
    np.testing.assert_array_equal(iteration_columns(3), [0, 1, 2])
    cols = iteration_columns(15)
    assert len(cols) == 8 and cols[0] == 0 and cols[-1] == 14 and np.all(np.diff(cols) > 0)
    assert iteration_columns(100, 5)[-1] == 99


def test_truth_is_coloured_by_the_best_matching_slot():
    labels = np.array([[1, 1, 2, 0], [3, 3, 3, 0]])
    slots = np.array([[2, 2, 0, 1], [1, 1, 0, 1]])
    m = match_truth_to_slots(labels, slots, K=3)
    assert m[0] == -1 and m[1] == 2 and m[3] == 1 and m[2] == 0   # one-to-one
    m2 = match_truth_to_slots(labels, np.zeros_like(slots), K=1)  # more groups than slots
    assert len(set(m2[1:])) == 3


def test_missing_or_inconsistent_files_give_clear_errors(run_dir, tmp_path):
    with pytest.raises(FileNotFoundError, match="no run directory"):
        make_figures(tmp_path / "nope")
    (run_dir / "snapshots.npz").unlink()
    with pytest.raises(FileNotFoundError, match="snapshots.npz"):
        make_gif(run_dir)
    np.savez(run_dir / "examples.npz", images=np.zeros((2, 28, 28)), labels=np.zeros((2, 28, 28)),
             gamma=np.zeros((4, 2, 4, 100)), psi=np.zeros((3, 2, 4, 100)))
    with pytest.raises(RunDataError, match="gamma"):
        make_figures(run_dir)
    np.savez(run_dir / "examples.npz", images=np.zeros((2, 28, 28)), labels=np.zeros((2, 28, 28)),
             gamma=np.zeros((3, 2, 4, 784)), psi=np.zeros((3, 2, 4, 784)))   # gamma_0 missing
    with pytest.raises(RunDataError, match="gamma"):
        make_figures(run_dir)
    (run_dir / "run.json").write_text("{not json")
    with pytest.raises(RunDataError, match="not valid JSON"):
        make_figures(run_dir)


def _run(args, cwd):
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("where", ["root", "folder"])
@pytest.mark.parametrize("script", SCRIPTS)
def test_cli_runs_from_root_and_from_its_folder(script, where, run_dir):
    cwd = ROOT if where == "root" else ROOT / "neural_em_shapes"
    path = f"neural_em_shapes/{script}" if where == "root" else script
    out = _run([path, str(run_dir)], cwd)
    assert out.returncode == 0, out.stderr
    if script.startswith("visualize"):
        for name in FIGURES:
            assert iio.imread(run_dir / name).ndim == 3
    else:
        _check_gif(run_dir / GIF_NAME)


@pytest.mark.parametrize("script", SCRIPTS)
def test_cli_bad_run_dir_exits_2_without_traceback(script, tmp_path):
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "run.json").write_text("[]")
    for bad in (tmp_path / "missing", tmp_path / "broken"):
        out = _run([f"neural_em_shapes/{script}", str(bad)], ROOT)
        assert out.returncode == 2, out.stderr
        assert "Traceback" not in out.stderr and out.stderr.count("\n") == 1
        assert out.stderr.startswith(f"{script}: error:")


def test_committed_headline_arrays_redraw_every_figure_and_the_gif(tmp_path):
    """From a clean clone: the committed run.json and figure arrays are enough to redraw everything
    (copied to a scratch directory, so the committed PNGs are not rewritten)."""
    import shutil
    headline = ROOT / "neural_em_shapes" / "results" / "default_seed0"
    assert (headline / "weights.npz").is_file(), "the committed headline weights are missing"
    for name in ("run.json", "examples.npz", "snapshots.npz"):
        shutil.copy(headline / name, tmp_path / name)
        assert (headline / name).stat().st_size < 5_000_000, f"{name} should stay small"
    assert [p.name for p in make_figures(tmp_path)] == list(FIGURES)
    assert make_gif(tmp_path).is_file()
