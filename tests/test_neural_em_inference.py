"""The N-EM / RNN-EM inference API (neural_em_shapes.inference): load_run(run_dir).run(images) on
images built here, input validation, the PNG helper, clear errors for a wrong run directory, and
the committed headline run applied to freshly generated test images."""

from pathlib import Path

import numpy as np
import pytest

from common.baselines import random_labels
from common.inference import Grouping, InputError
from common.metrics import grouping_score
from common.runs import write_run
from common.shapes import make_shapes
from neural_em_shapes.config import make_config
from neural_em_shapes.inference import RunLoadError, load_run
from neural_em_shapes.model import init_params

ROOT = Path(__file__).resolve().parents[1]
HEADLINE = ROOT / "neural_em_shapes" / "results" / "default_seed0"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A run directory as the CLI writes it, with untrained (random) weights: fast, and enough to
    test shapes, types and validation."""
    out = tmp_path_factory.mktemp("nem_run")
    cfg = make_config("quick")
    params = init_params(cfg.model, 784, cfg.hidden, np.random.default_rng(0))
    write_run(out, paper="neural_em_shapes", seed=0, config=cfg, history={}, metrics={}, baselines={},
              wall_time_s=0.0, weights=params)
    return out


def _two_squares() -> np.ndarray:
    """One (28, 28) float image: two hollow squares far apart."""
    img = np.zeros((28, 28), np.float32)
    for r, c in ((2, 2), (16, 15)):
        img[r:r + 7, c:c + 7] = 1
        img[r + 2:r + 5, c + 2:c + 5] = 0
    return img


def test_single_image_gives_labels_on_the_ink_only(run_dir):
    model = load_run(run_dir)
    img = _two_squares()
    res = model.run(img)
    K, T = model.cfg.K, model.cfg.iterations
    assert isinstance(res, Grouping)
    assert res.labels.shape == (1, 28, 28) and res.labels.dtype == np.int64
    assert res.gamma.shape == (1, K, 28, 28) and res.loglik.shape == (1,)
    assert res.labels_per_iteration.shape == (T + 1, 1, 28, 28)
    np.testing.assert_array_equal(res.labels_per_iteration[-1], res.labels)
    assert np.all(res.labels[0][img == 0] == -1)
    assert np.all((res.labels[0][img == 1] >= 0) & (res.labels[0][img == 1] < K))
    assert np.isfinite(res.loglik).all()
    # Deterministic by default (rng = default_rng(0)).
    np.testing.assert_array_equal(model.run(img).labels, res.labels)


def test_batch_overrides_and_uint8_input(run_dir):
    model = load_run(run_dir)
    batch = np.stack([_two_squares(), _two_squares()[::-1], np.zeros((28, 28), np.float32)])
    res = model.run(batch, K=4, iterations=2, restarts=1, rng=np.random.default_rng(5))
    assert res.labels.shape == (3, 28, 28) and res.gamma.shape == (3, 4, 28, 28)
    assert res.labels_per_iteration.shape == (3, 3, 28, 28)
    assert np.all(res.labels[2] == -1)                                   # a blank image has no groups
    as_uint8 = model.run((batch * 255).astype(np.uint8), K=4, iterations=2, restarts=1,
                         rng=np.random.default_rng(5))
    np.testing.assert_array_equal(as_uint8.labels, res.labels)           # 0..255 converted, not /1
    flat = model.run(batch.reshape(3, 784), K=4, iterations=2, restarts=1, rng=np.random.default_rng(5))
    np.testing.assert_array_equal(flat.labels, res.labels)


@pytest.mark.parametrize("bad,needle", [
    (np.full((28, 28), np.nan, np.float32), "NaN"),
    (-_two_squares(), "in \\[0, 1\\]"),
    (_two_squares() * 255, "uint8"),                                      # 0..255 as floats: refused
    (np.zeros((32, 32), np.float32), "shape"),
    (np.zeros((2, 28, 27), np.float32), "shape"),
    (np.zeros((28, 28), np.int64), "int64"),
])
def test_bad_images_are_refused(run_dir, bad, needle):
    with pytest.raises(InputError, match=needle):
        load_run(run_dir).run(bad)


def test_save_png_writes_a_png(run_dir, tmp_path):
    res = load_run(run_dir).run(_two_squares())
    path = res.save_png(tmp_path / "groups.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_load_run_errors_are_one_line(run_dir, tmp_path):
    with pytest.raises(FileNotFoundError, match="no run directory"):
        load_run(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="run.json"):
        load_run(tmp_path / "empty")
    other = tmp_path / "other"
    write_run(other, paper="air_multimnist", seed=0, config={}, history={}, metrics={}, baselines={},
              wall_time_s=0.0)
    with pytest.raises(RunLoadError, match="air_multimnist"):
        load_run(other)
    no_weights = tmp_path / "no_weights"
    write_run(no_weights, paper="neural_em_shapes", seed=0, config=make_config("quick"), history={},
              metrics={}, baselines={}, wall_time_s=0.0)
    with pytest.raises(FileNotFoundError, match="no weights"):
        load_run(no_weights)
    assert issubclass(RunLoadError, ValueError)


def test_committed_headline_run_groups_new_images_better_than_chance():
    """From a clean clone: the committed weights load and group freshly generated static shapes."""
    assert (HEADLINE / "weights.npz").is_file(), "the committed headline weights are missing"
    model = load_run(HEADLINE)
    rng = np.random.default_rng(12345)
    data = make_shapes(40, rng)
    res = model.run(data.images, rng=np.random.default_rng(0))
    ami, _ = grouping_score(data.labels, res.labels)
    chance, _ = grouping_score(data.labels, random_labels(data.images, model.cfg.K, rng))
    assert ami > chance + 0.5, (ami, chance)
    assert ami > 0.8, ami          # the headline model scores about 0.9 on test images


def test_rng_may_be_a_seed_and_bad_k_is_an_input_error():
    from common.inference import InputError
    model = load_run(HEADLINE)
    img = np.zeros((28, 28), np.uint8)
    img[2:9, 2:9] = 255
    a, b = model.run(img, rng=3), model.run(img, rng=np.random.default_rng(3))
    np.testing.assert_array_equal(a.labels, b.labels)
    with pytest.raises(InputError, match="K, iterations and restarts"):
        model.run(img, K=0)
