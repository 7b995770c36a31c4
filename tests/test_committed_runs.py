"""From a clean clone: the committed headline runs hold their weights and figure arrays, load with
each paper's ``load_run``, group or count images built here, and every visualize / GIF script
redraws them without training. Weight files are small enough to commit."""

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
HEADLINES = {
    "neural_em_shapes": "neural_em_shapes/results/default_seed0",
    "air_multimnist": "air_multimnist/results/reinforce_seed0",
    "reconstruction_clustering": "reconstruction_clustering/results/single_seed0",
    "tagger_shapes": "tagger_shapes/results/default_seed0",
}
NEEDED = {
    "neural_em_shapes": ["run.json", "weights.npz", "examples.npz", "snapshots.npz"],
    "air_multimnist": ["run.json", "weights.npz", "examples.npz", "snapshots.npz"],
    "reconstruction_clustering": ["summary.json", "shapes/run.json", "shapes/weights.npz", "shapes/trace.npz"],
    "tagger_shapes": ["run.json", "weights.npz", "examples.npz", "snapshots.npz"],
}
MAX_WEIGHTS_MB = 40          # RC's and AIR's weights in float16, N-EM's and Tagger's (6 MB) in float32, plus the
                             # flying-shapes headlines' 21-frame example traces (2-3 MB each)


def _tracked(path: Path) -> bool:
    if not (ROOT / ".git").exists():
        return True                                    # an sdist or export: nothing to ask git
    out = subprocess.run(["git", "ls-files", "--error-unmatch", str(path.relative_to(ROOT))], cwd=ROOT,
                         capture_output=True, text=True)
    return out.returncode == 0


@pytest.mark.parametrize("paper", sorted(HEADLINES))
def test_headline_run_is_committed_with_its_arrays(paper):
    d = ROOT / HEADLINES[paper]
    for name in NEEDED[paper]:
        assert (d / name).is_file(), f"{d / name} is missing"
        assert _tracked(d / name), f"{d / name} exists here but is not committed"


def test_committed_weights_are_small():
    total = sum(f.stat().st_size for f in ROOT.glob("*/results/**/*.npz"))
    assert total < MAX_WEIGHTS_MB * 2 ** 20, f"committed arrays total {total / 2 ** 20:.1f} MB"


def _three_squares(size=28):
    image = np.zeros((size, size), np.uint8)
    for r, c in [(2, 3), (4, 17), (17, 9)]:
        image[r:r + 7, c:c + 7] = 255
        image[r + 2:r + 5, c + 2:c + 5] = 0
    return image


def test_neural_em_groups_three_squares_from_the_committed_weights():
    from neural_em_shapes.inference import load_run
    res = load_run(ROOT / HEADLINES["neural_em_shapes"]).run(_three_squares())
    slots = [set(np.unique(res.labels[0][r:r + 7, c:c + 7])) - {-1} for r, c in [(2, 3), (4, 17), (17, 9)]]
    assert all(len(s) == 1 for s in slots) and len(set.union(*slots)) == 3, slots


def test_rc_groups_three_squares_from_the_committed_weights():
    from reconstruction_clustering.inference import load_run
    res = load_run(ROOT / HEADLINES["reconstruction_clustering"] / "shapes").run(_three_squares())
    assert res.labels.shape == (1, 28, 28)
    slots = [set(np.unique(res.labels[0][r:r + 7, c:c + 7])) - {-1} for r, c in [(2, 3), (4, 17), (17, 9)]]
    assert len(set.union(*slots)) >= 2, slots          # RC's DAE splits well-separated objects


def test_tagger_separates_two_shapes_from_the_committed_weights():
    """A square and a triangle (the dataset's templates) on the 20x20 canvas: one group each."""
    from common.shapes import SQUARE, UP_TRIANGLE
    from tagger_shapes.inference import load_run
    image = np.zeros((20, 20), bool)
    image[1:8, 1:8] = SQUARE
    image[12:19, 7:19] = UP_TRIANGLE
    res = load_run(ROOT / HEADLINES["tagger_shapes"]).run(image)
    square, triangle = res.labels[0][1:8, 1:8][SQUARE], res.labels[0][12:19, 7:19][UP_TRIANGLE]
    a, b = np.bincount(square).argmax(), np.bincount(triangle).argmax()
    assert a != b and (square == a).mean() > 0.9 and (triangle == b).mean() > 0.9


def test_air_counts_digits_from_the_committed_weights():
    from air_multimnist.inference import load_run
    from common.mnist import load_mnist, mnist_split, to_float
    test = mnist_split(load_mnist(verbose=False), "test")
    canvas = np.zeros((3, 50, 50), np.float32)
    # the parts are in file order and the bundled subset is sorted by class: pick three classes
    digits = to_float(test.images[[int(np.argmax(test.labels == c)) for c in (3, 5, 7)]])
    canvas[1, 2:30, 2:30] = digits[0]                 # one digit
    canvas[2, 1:29, 1:29] = digits[1]                 # two digits, apart
    canvas[2, 21:49, 21:49] = np.maximum(canvas[2, 21:49, 21:49], digits[2])
    det = load_run(ROOT / HEADLINES["air_multimnist"]).run(canvas)
    assert det.counts.shape == (3,) and det.counts[0] == 0
    assert det.counts[1] >= 1 and det.counts[2] >= 1


SCRIPTS = {
    "neural_em_shapes": [["visualize_neural_em_shapes.py", "{d}"], ["make_neural_em_shapes_gif.py", "{d}"]],
    "air_multimnist": [["visualize_air_multimnist.py", "{d}"], ["make_air_multimnist_gif.py", "{d}"]],
    "reconstruction_clustering": [["visualize_reconstruction_clustering.py", "{d}", "--no-gif"],
                                  ["make_reconstruction_clustering_gif.py", "{d}/shapes"]],
    "tagger_shapes": [["visualize_tagger_shapes.py", "{d}"], ["make_tagger_shapes_gif.py", "{d}"]],
}


@pytest.mark.parametrize("paper", sorted(HEADLINES))
def test_figure_scripts_redraw_the_committed_run(paper, tmp_path):
    """On a copy (the committed figures are not touched), each script exits 0 and writes images."""
    d = tmp_path / "run"
    shutil.copytree(ROOT / HEADLINES[paper], d, ignore=shutil.ignore_patterns("*.png", "*.gif"))
    for script, *args in SCRIPTS[paper]:
        out = subprocess.run([sys.executable, str(ROOT / paper / script), *[a.format(d=d) for a in args]],
                             cwd=tmp_path, capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, f"{script}: {out.stderr[-2000:]}"
    drawn = list(d.rglob("*.png")) + list(d.rglob("*.gif"))
    assert len(drawn) >= 3, drawn


FLYING = "neural_em_shapes/results/flying3_seed0"


def test_flying_headline_is_committed_groups_a_sequence_and_redraws(tmp_path):
    """The flying-shapes headline (a second experiment of neural_em_shapes): its arrays are committed,
    its weights group a sequence built here, and the figure and GIF scripts redraw it."""
    from common.shapes import make_flying_shapes
    from neural_em_shapes.inference import load_run
    d = ROOT / FLYING
    for name in NEEDED["neural_em_shapes"]:
        assert (d / name).is_file() and _tracked(d / name), f"{d / name} is missing or not committed"
    seqs = make_flying_shapes(1, np.random.default_rng(5), n_shapes=3, frames=21)
    res = load_run(d).run_sequences(seqs.images.astype(bool))
    lab, true = res.labels[0, -1], seqs.labels[0, -1].astype(int)
    # Each shape's pixels go mostly to one slot (the model tracks blobs: it is not perfect).
    for g in (1, 2, 3):
        if (true == g).sum() > 10:
            assert np.bincount(lab[true == g]).max() / (true == g).sum() > 0.5
    run = tmp_path / "run"
    shutil.copytree(d, run, ignore=shutil.ignore_patterns("*.png", "*.gif"))
    for script in ("visualize_neural_em_shapes.py", "make_neural_em_shapes_gif.py"):
        out = subprocess.run([sys.executable, str(ROOT / "neural_em_shapes" / script), str(run)], cwd=tmp_path,
                             capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, f"{script}: {out.stderr[-2000:]}"
    assert (run / "sequence.gif").is_file() and (run / "binding_over_training.gif").is_file()
    assert len(list(run.glob("*.png"))) == 6
