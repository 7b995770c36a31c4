"""The inference API of Reconstruction Clustering: load_run(run_dir).run(images) on images built
here, its input checks, its errors, and the committed headline run."""

import json
from pathlib import Path

import numpy as np
import pytest

from common.inference import Grouping, InputError
from common.runs import write_run
from common.seeding import initial_gamma
from reconstruction_clustering.inference import RunLoadError, load_run

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "reconstruction_clustering" / "results" / "single_seed0" / "shapes"


def _halves_dae():
    """A hand-built DAE on 8x8 images: hidden unit 1 fires when the (masked) input has more ink in
    the left half than in the right and then decodes the left half; unit 2 the mirror image."""
    left = np.zeros((8, 8), np.float32)
    left[:, :4] = 1
    left = left.ravel()
    right = 1 - left
    return {"W_enc": np.stack([left - right, right - left], 1) * 3, "b_enc": np.zeros(2, np.float32),
            "W_dec": np.stack([left, right]) * 12, "b_dec": np.full(64, -6.0, np.float32)}


@pytest.fixture
def run_dir(tmp_path):
    """A run directory as the CLI writes it (simple superposition: 8x8 images, K=2)."""
    d = tmp_path / "simple_superposition"
    write_run(d, paper="reconstruction_clustering", seed=0,
              config={"dataset": "simple_superposition", "dae": {"activation": "relu"}, "K": 2,
                      "iterations": 5, "e_step": "soft", "train_on": "single"},
              history={}, metrics={"K": 2, "iterations": 5, "e_step": "soft",
                                   "rc_inference": {"init": "random", "width_frac": 0.0, "restarts": 1}},
              baselines={}, wall_time_s=0.0, weights={k: v.astype(np.float16) for k, v in _halves_dae().items()})
    return d


def _two_bars(n=3):
    x = np.zeros((n, 8, 8), np.float32)
    x[:, 1:7, 1] = 1          # a bar in the left half
    x[:, 2:6, 6] = 1          # a bar in the right half
    return x


def test_run_separates_two_objects_and_returns_a_grouping(run_dir):
    model = load_run(run_dir)
    res = model.run(_two_bars(), restarts=4)      # the most likely of 4 runs per image
    assert isinstance(res, Grouping)
    assert res.labels.shape == (3, 8, 8) and res.gamma.shape == (3, 2, 8, 8) and res.loglik.shape == (3,)
    assert res.labels_per_iteration.shape == (6, 3, 8, 8)          # index 0 = gamma_0, then 5 iterations
    assert np.all(res.labels[:, _two_bars()[0] == 0] == -1)         # background
    left, right = res.labels[:, 1:7, 1], res.labels[:, 2:6, 6]
    assert np.all(left == left[:, :1]) and np.all(right == right[:, :1]) and np.all(left[:, 0] != right[:, 0])
    np.testing.assert_array_equal(res.labels_per_iteration[-1], res.labels)


def test_one_image_uint8_and_bool_give_the_same_answer_as_floats(run_dir):
    model = load_run(run_dir)
    x = _two_bars(1)
    a = model.run(x[0])                                           # one (H, W) image
    b = model.run((x[0] * 255).astype(np.uint8))
    c = model.run(x[0] > 0.5)
    assert a.labels.shape == (1, 8, 8)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.labels, c.labels)
    np.testing.assert_array_equal(a.labels, model.run(x[0], rng=0).labels)   # default rng = seed 0


@pytest.mark.parametrize("bad, needle", [
    (np.full((8, 8), np.nan, np.float32), "NaN"),
    (np.full((8, 8), 255.0), "[0, 1]"),                 # 0..255 floats: refused, never scored
    (np.zeros((28, 28), np.float32), "shape"),
    (np.zeros((8, 8), np.int64), "int64"),
])
def test_bad_images_are_refused(run_dir, bad, needle):
    with pytest.raises(InputError, match=None) as e:
        load_run(run_dir).run(bad)
    assert needle in str(e.value)


def test_width_is_a_fraction_of_the_image_side(run_dir):
    model = load_run(run_dir)
    x = _two_bars(2)
    res = model.run(x, init="ink", width_frac=0.25, iterations=1, rng=np.random.default_rng(3))
    g0 = initial_gamma(2, 2, 64, np.random.default_rng(3), kind="ink", width=2.0, x=x.reshape(2, -1))
    np.testing.assert_array_equal(res.labels_per_iteration[0], np.where(x > 0.5, g0.argmax(1).reshape(2, 8, 8), -1))
    with pytest.raises(InputError, match="fraction"):
        model.run(x, init="ink", width_frac=2.0)          # pixels are not a fraction
    with pytest.raises(InputError, match="init"):
        model.run(x, init="corner")


def test_save_png(run_dir, tmp_path):
    path = load_run(run_dir).run(_two_bars(1)).save_png(tmp_path / "g.png")
    assert path.stat().st_size > 0


def test_load_run_errors_are_one_line(run_dir, tmp_path):
    with pytest.raises(FileNotFoundError, match="no run directory"):
        load_run(tmp_path / "missing")
    with pytest.raises(RunLoadError, match="pick one dataset: simple_superposition"):
        load_run(run_dir.parent)                           # a run root, not a dataset's run
    other = tmp_path / "nem"
    write_run(other, paper="neural_em_shapes", seed=0, config={}, history={}, metrics={}, baselines={},
              wall_time_s=0.0)
    with pytest.raises(RunLoadError, match="not of 'reconstruction_clustering'"):
        load_run(other)
    (run_dir / "weights.npz").unlink()
    with pytest.raises(FileNotFoundError, match="weights") as e:
        load_run(run_dir)
    assert "\n" not in str(e.value)


def test_committed_headline_run_reproduces_its_record():
    """From a clean clone: load the committed shapes DAE and reproduce the record's test AMI exactly
    (same test images, same random stream)."""
    assert (COMMITTED / "weights.npz").is_file(), "the committed headline weights are missing"
    from common.metrics import grouping_score
    from common.threads import blas_threads
    from reconstruction_clustering.data import make_rc_dataset
    rec = json.loads((COMMITTED / "run.json").read_text())
    model = load_run(COMMITTED)
    assert model.size == (28, 28) and model.K == rec["metrics"]["K"] == 3
    assert model.inference == rec["metrics"]["rc_inference"]
    test = make_rc_dataset("shapes", rec["seed"], **rec["data"]["sizes"]).multi["test"]
    with blas_threads(1):                     # the record was made with one BLAS thread (summation order)
        res = model.run(test.images, rng=np.random.default_rng(np.random.SeedSequence([rec["seed"], 1])))
    n = len(test)
    ami = grouping_score(test.labels.reshape(n, -1), res.labels.reshape(n, -1))[0]
    assert ami == pytest.approx(rec["metrics"]["test_ami_max"], abs=1e-9)
