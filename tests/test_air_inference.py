"""AIR's inference API: load_run(run_dir).run(images) -> Detections, on images built here; input
validation (one image, uint8, NaN refused); clear one-line errors for a missing or foreign run
directory; and the COMMITTED headline run loaded from a clean clone."""

import json
from pathlib import Path

import numpy as np
import pytest

from air_multimnist.cli import cli
from air_multimnist.config import make_config
from air_multimnist.data import compose
from air_multimnist.inference import Detections, load_run
from common.inference import InputError
from common.mnist import load_mnist, mnist_split

ROOT = Path(__file__).resolve().parents[1]
HEADLINE = ROOT / "air_multimnist" / "results" / "reinforce_seed0"


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("air_inf") / "run"
    assert cli(["--quick", "--seed", "1", "--out", str(out), "--threads", "1", "--no-figures"]) == 0
    return out


def _images(n=3):
    """A blank image, one square 'object' and a two-stroke image, as floats in [0, 1]."""
    x = np.zeros((n, 50, 50), np.float32)
    x[1, 10:30, 10:20] = 1.0
    x[2, 5:25, 8:12] = 0.8
    x[2, 28:46, 30:44] = 0.6
    return x


def test_run_returns_typed_detections(quick_run, tmp_path):
    model = load_run(quick_run)
    T = model.cfg.max_objects
    det = model.run(_images())
    assert isinstance(det, Detections) and len(det) == 3
    assert det.counts.shape == (3,) and det.counts.dtype == np.int64
    assert det.boxes.shape == (3, T, 4) and det.window_boxes.shape == (3, T, 4)
    assert det.p_pres.shape == (3, T) and det.z_where.shape == (3, T, 3)
    assert det.objects.shape == (3, T, 50, 50) and det.recon.shape == (3, 50, 50)
    for i in range(3):   # steps after the count are absent: NaN boxes
        assert np.all(np.isnan(det.window_boxes[i, det.counts[i]:]))
        assert np.all(np.isnan(det.boxes[i, det.counts[i]:]))
    with pytest.raises(Exception):
        det.counts = None                                     # frozen
    png = det.save_png(tmp_path / "d.png", index=1)
    assert png.stat().st_size > 0 and png.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(IndexError):
        det.save_png(tmp_path / "x.png", index=5)


def test_one_image_uint8_and_bool_are_accepted(quick_run):
    model = load_run(quick_run)
    x = _images()
    batch = model.run(x)
    one = model.run(x[1])
    assert one.counts.shape == (1,)
    np.testing.assert_allclose(one.recon[0], batch.recon[1], atol=1e-5)
    u8 = model.run((x * 255).round().astype(np.uint8))
    assert u8.images.dtype == np.float32 and u8.images.max() <= 1.0
    assert model.run(x > 0.5).counts.shape == (3,)


@pytest.mark.parametrize("bad", [np.full((50, 50), np.nan, np.float32), np.full((50, 50), 255.0),
                                 np.zeros((2, 28, 28)), np.zeros((50, 50), np.int64)])
def test_bad_images_are_refused(quick_run, bad):
    with pytest.raises(InputError):
        load_run(quick_run).run(bad)


def test_missing_or_foreign_run_dir_is_a_one_line_error(tmp_path, quick_run):
    with pytest.raises(FileNotFoundError, match="no run directory"):
        load_run(tmp_path / "absent")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError):
        load_run(empty)
    other = tmp_path / "other"
    other.mkdir()
    rec = json.loads((quick_run / "run.json").read_text())
    rec["paper"] = "neural_em_shapes"
    (other / "run.json").write_text(json.dumps(rec))
    with pytest.raises(ValueError, match="not of .air_multimnist.") as e:
        load_run(other)
    assert "\n" not in str(e.value)
    noweights = tmp_path / "noweights"
    noweights.mkdir()
    (noweights / "run.json").write_text((quick_run / "run.json").read_text())
    with pytest.raises(FileNotFoundError, match="no weights"):
        load_run(noweights)


def test_committed_headline_run_loads_and_counts():
    """From a clean clone: the committed headline weights load and count digits on images built
    here (held-out MNIST test digits composed as in training: 0, 1 and 2 digits)."""
    assert (HEADLINE / "weights.npz").is_file(), "the committed headline weights are missing"
    model = load_run(HEADLINE)
    cfg = make_config("default")
    digits = mnist_split(load_mnist(verbose=False), "test").images
    rng = np.random.default_rng(123)
    imgs, truth = [], []
    for k in (0, 1, 2):
        s = compose(digits, 10, rng, cfg, counts=(k,))
        imgs.append(s.images)
        truth.append(s.counts)
    det = model.run(np.concatenate(imgs))
    acc = float(np.mean(det.counts == np.concatenate(truth)))
    assert acc >= 0.9, (acc, det.counts)
    assert model.run(np.zeros((50, 50), np.uint8)).counts[0] == 0


def test_committed_headline_run_reproduces_its_record():
    """The committed float16 weights are the ones the record was scored with: the test count
    accuracy of the loaded model equals run.json's exactly (same fixed test images)."""
    from air_multimnist.data import eval_sets
    from air_multimnist.evaluate import evaluate
    rec = json.loads((HEADLINE / "run.json").read_text())
    model = load_run(HEADLINE)
    ev = evaluate(model.params, eval_sets(model.cfg)["test"], model.cfg, elbo_seed=rec["seed"] + 1)
    assert ev["count_accuracy"] == rec["metrics"]["test_count_accuracy"]
    assert ev["iou_object"] == pytest.approx(rec["metrics"]["test_iou_object"], abs=1e-12)


def test_weights_missing_a_parameter_are_refused_at_load(tmp_path):
    import shutil
    from common.runs import RunLoadError
    d = tmp_path / "run"
    shutil.copytree(HEADLINE, d, ignore=shutil.ignore_patterns("*.png", "*.gif"))
    with np.load(d / "weights.npz") as z:
        kept = {k: z[k] for k in z.files if k != "dec.W2"}
    np.savez(d / "weights.npz", **kept)
    with pytest.raises(RunLoadError, match="dec.W2"):
        load_run(d)
