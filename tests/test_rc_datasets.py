"""The six Reconstruction Clustering datasets (reconstruction_clustering.data) against their spec.

Digits come from a small synthetic MNIST (blobs with a faint rim, so cropping at > 0 and
thresholding at 0.5 give different boxes); one smoke test uses the real bundled digits.
Reference renderings are rebuilt here with plain loops from the per-object record.
"""
import numpy as np
import pytest

from common.mnist import MNISTData, MNISTError, load_mnist, part_indices
from reconstruction_clustering.data import (CANVAS, CORNER_SQUARE, CORNERS, DATASETS, SUPERPOSITION_PAIRS,
                                SUPERPOSITION_PATTERNS, THESIS_K, GroupedImages, RCDataset,
                                make_rc_dataset, n_groups)
from common.scenes import crop_to_ink
from common.shapes import TEMPLATES

SMALL = dict(n_single=200, n_multi_train=100, n_valid=50, n_test=100)
OBJECTS = {"simple_superposition": 2, "shapes": 3, "bars": 12, "corners": 5, "mnist_shape": 2,
           "multi_mnist": 3}


def fake_mnist(n=300, seed=7) -> MNISTData:
    """uint8 (n, 28, 28) rectangles: core 200..255, a 1-px rim of 1/60/127/128, random place."""
    rng = np.random.default_rng(seed)
    images = np.zeros((n, 28, 28), dtype=np.uint8)
    for i in range(n):
        h, w = rng.integers(6, 21, size=2)
        r, c = rng.integers(1, 28 - h, size=1)[0], rng.integers(1, 28 - w, size=1)[0]
        # faint rim, with values either side of the 0.5 threshold (127 -> off, 128 -> ink)
        images[i, r - 1:r + h + 1, c - 1:c + w + 1] = rng.choice([1, 60, 127, 128],
                                                                  size=(h + 2, w + 2))
        images[i, r:r + h, c:c + w] = rng.integers(200, 256, size=(h, w))
        images[i, r + h // 2, c:c + w // 2] = 0                     # a notch, so shapes vary
    return MNISTData(images, rng.integers(0, 10, size=n), "fake")


MNIST = fake_mnist()


@pytest.fixture(scope="module")
def datasets():
    return {name: make_rc_dataset(name, 3, mnist=MNIST, **SMALL) for name in DATASETS}


def all_sets(ds: RCDataset):
    return [("single", k, v) for k, v in ds.single.items()] + \
           [("multi", k, v) for k, v in ds.multi.items()]


# --------------------------------------------------------------------------- reference renderer

def _corner_spec():
    c = np.zeros((5, 5), dtype=bool)
    c[:2, :] = True
    c[:, :2] = True
    return [c, c[::-1], c[:, ::-1], c[::-1, ::-1]]


def sprite_of(name, gi, i, s):
    """The object's sprite, built independently of the module's sprite catalogues."""
    oid = int(gi.object_ids[i, s])
    if name == "simple_superposition":
        return SUPERPOSITION_PATTERNS[oid]
    if name == "bars":
        H, W = CANVAS["bars"]
        return np.ones((H, 1), bool) if oid == 0 else np.ones((1, W), bool)
    if name == "corners":
        corners = _corner_spec()
        if oid < 4:
            return corners[oid]
        sq = np.zeros((20, 20), dtype=bool)
        sq[:5, :5], sq[15:, :5], sq[:5, 15:], sq[15:, 15:] = corners
        return sq
    if name in ("shapes", "mnist_shape") and oid >= 0:
        return TEMPLATES[oid]
    digit = MNIST.images[gi.digit_ids[i, s]]
    if name == "mnist_shape":
        return digit / 255.0 > 0.5
    return crop_to_ink(digit) > 0.5                                     # multi_mnist


def naive(name, gi, i):
    H, W = CANVAS[name]
    count = np.zeros((H, W), dtype=int)
    owner = np.zeros((H, W), dtype=int)
    for s in range(gi.positions.shape[1]):
        spr = sprite_of(name, gi, i, s)
        r0, c0 = gi.positions[i, s]
        for y, x in zip(*np.nonzero(spr)):
            count[r0 + y, c0 + x] += 1
            owner[r0 + y, c0 + x] = s + 1
    return count > 0, np.where(count == 1, owner, 0), count > 1


# --------------------------------------------------------------------------- structure, invariants

@pytest.mark.parametrize("name", DATASETS)
def test_structure_and_dtypes(datasets, name):
    ds = datasets[name]
    assert isinstance(ds, RCDataset) and ds.name == name and ds.K == THESIS_K[name]
    assert ds.shape == CANVAS[name]
    assert set(ds.single) == {"train", "valid"} and set(ds.multi) == {"train", "valid", "test"}
    n_test = 120 if name == "simple_superposition" else SMALL["n_test"]
    expected = {("single", "train"): 180, ("single", "valid"): 20, ("multi", "train"): 100,
                ("multi", "valid"): 50, ("multi", "test"): n_test}
    for kind, split, gi in all_sets(ds):
        assert isinstance(gi, GroupedImages)
        n = expected[(kind, split)]
        assert len(gi) == n and gi.images.shape == (n,) + ds.shape
        assert gi.images.dtype == np.float32 and gi.labels.dtype == np.int16
        assert gi.overlap.dtype == bool and gi.labels.shape == gi.overlap.shape == gi.images.shape
        S = 1 if kind == "single" else OBJECTS[name]
        assert gi.positions.shape == (n, S, 2) and gi.object_ids.shape == (n, S)
        assert (gi.digit_ids is None) == (name not in ("mnist_shape", "multi_mnist"))


@pytest.mark.parametrize("name", DATASETS)
def test_labels_consistent_with_images(datasets, name):
    for kind, split, gi in all_sets(datasets[name]):
        ink = gi.images == 1
        assert np.all((gi.images == 0) | ink), "images must be binary"
        assert not np.any((gi.labels > 0) & ~ink), "label > 0 only on ink"
        assert not np.any(gi.overlap & ~ink), "overlap only on ink"
        assert not np.any(gi.overlap & (gi.labels != 0)), "overlap pixels have label 0"
        assert np.all(gi.labels[ink & ~gi.overlap] > 0), "ink outside overlap has a group"
        S = 1 if kind == "single" else OBJECTS[name]
        assert gi.labels.min() >= 0 and gi.labels.max() <= S
        assert np.all(ink.any(axis=(1, 2))), "no empty images"


@pytest.mark.parametrize("name", DATASETS)
def test_single_object_sets_have_one_group(datasets, name):
    for split, gi in datasets[name].single.items():
        assert not gi.overlap.any()
        np.testing.assert_array_equal(gi.labels, gi.images.astype(np.int16))
        assert np.all(n_groups(gi.labels) == 1)


@pytest.mark.parametrize("name", DATASETS)
def test_matches_naive_rebuild(datasets, name):
    """Background / overlap exclusion and labels, rebuilt image by image with plain loops."""
    for kind, split, gi in all_sets(datasets[name]):
        for i in range(0, len(gi), max(1, len(gi) // 8)):
            ink, labels, overlap = naive(name, gi, i)
            np.testing.assert_array_equal(gi.images[i], ink.astype(np.float32))
            np.testing.assert_array_equal(gi.labels[i], labels)
            np.testing.assert_array_equal(gi.overlap[i], overlap)


def test_n_groups_helper():
    labels = np.zeros((3, 4, 4), dtype=np.int16)
    labels[0, 0, :3] = [1, 2, 5]
    labels[2, 1, 1] = 3
    np.testing.assert_array_equal(n_groups(labels), [3, 0, 1])


@pytest.mark.parametrize("name", ["shapes", "corners", "mnist_shape", "multi_mnist"])
def test_groups_per_multi_image(datasets, name):
    """All objects visible in most images; fewer only when one is entirely overlapped."""
    for split, gi in datasets[name].multi.items():
        g = n_groups(gi.labels)
        assert g.max() == OBJECTS[name] and g.min() >= 1
        assert np.mean(g == OBJECTS[name]) >= 0.9


# --------------------------------------------------------------------------- per dataset

def test_superposition_patterns():
    P = SUPERPOSITION_PATTERNS
    assert P.shape == (16, 8, 8) and P.dtype == bool and not P.flags.writeable
    flat = P.reshape(16, -1)
    assert len({row.tobytes() for row in flat}) == 16, "patterns pairwise distinct"
    assert flat.sum(axis=1).min() >= 6
    # spot checks against the authors' notebook: the box, the cross, the diamond
    box = np.zeros((8, 8), bool)
    box[1, 1:7] = box[5, 1:7] = box[1:6, 1] = box[1:6, 6] = True
    np.testing.assert_array_equal(P[0], box)
    cross = np.zeros((8, 8), bool)
    cross[3, :] = cross[:, 3] = True
    np.testing.assert_array_equal(P[2], cross)
    assert P[3].sum() == 16 and np.array_equal(P[3], P[3][::-1]) and np.array_equal(P[3], P[3][:, ::-1])


def test_superposition_test_set_is_the_120_pairs(datasets):
    te = datasets["simple_superposition"].multi["test"]
    assert len(te) == 120 and len(SUPERPOSITION_PAIRS) == 120
    P = SUPERPOSITION_PATTERNS
    k = 0
    for i in range(16):
        for j in range(i + 1, 16):
            np.testing.assert_array_equal(te.object_ids[k], [i, j])
            np.testing.assert_array_equal(te.images[k], (P[i] | P[j]).astype(np.float32))
            np.testing.assert_array_equal(te.overlap[k], P[i] & P[j])
            expected = np.where(P[i] & ~P[j], 1, np.where(P[j] & ~P[i], 2, 0))
            np.testing.assert_array_equal(te.labels[k], expected)
            k += 1
    # A pattern contained in its partner has no group of its own.
    hidden = [(P[a] & ~P[b]).sum() == 0 for a, b in SUPERPOSITION_PAIRS] + \
             [(P[b] & ~P[a]).sum() == 0 for a, b in SUPERPOSITION_PAIRS]
    hidden = np.array(hidden).reshape(2, 120).sum(axis=0)
    np.testing.assert_array_equal(n_groups(te.labels), 2 - hidden)
    # the test set does not depend on the seed or n_test
    other = make_rc_dataset("simple_superposition", 99, n_test=5, n_single=20, n_multi_train=3,
                            n_valid=3).multi["test"]
    np.testing.assert_array_equal(other.images, te.images)


def test_superposition_single_sets_cycle_through_all_patterns(datasets):
    ds = datasets["simple_superposition"]
    for gi in ds.single.values():
        counts = np.bincount(gi.object_ids[:, 0], minlength=16)
        assert counts.min() >= 1 and counts.max() - counts.min() <= 1
    for gi in ds.multi.values():
        assert np.all(gi.object_ids[:, 0] < gi.object_ids[:, 1])


def test_bars(datasets):
    ds = datasets["bars"]
    for split, gi in ds.multi.items():
        assert np.all(n_groups(gi.labels) == 12)
        for g in range(1, 13):
            assert np.all((gi.labels == g).sum(axis=(1, 2)) == 14)
        assert np.all(gi.overlap.sum(axis=(1, 2)) == 36)
        np.testing.assert_array_equal(gi.object_ids, np.repeat([[0] * 6 + [1] * 6], len(gi), 0))
        cols, rows = gi.positions[:, :6, 1], gi.positions[:, 6:, 0]
        for a in (cols, rows):
            assert np.all(np.diff(np.sort(a, axis=1), axis=1) > 0), "distinct rows / columns"
        ink = gi.images == 1
        np.testing.assert_array_equal(ink.all(axis=1).sum(axis=1), 6)   # 6 full columns
        np.testing.assert_array_equal(ink.all(axis=2).sum(axis=1), 6)   # 6 full rows
    single = np.concatenate([ds.single["train"].object_ids, ds.single["valid"].object_ids])
    assert ds.single["train"].object_ids.sum() == 90                     # exactly half horizontal
    assert set(np.unique(single)) == {0, 1}
    for gi in ds.single.values():
        assert np.all(gi.images.sum(axis=(1, 2)) == 20)


def test_corner_templates():
    spec = _corner_spec()
    assert CORNERS.shape == (4, 5, 5)
    for k in range(4):
        np.testing.assert_array_equal(CORNERS[k], spec[k])
        assert CORNERS[k].sum() == 16
    assert len({c.tobytes() for c in CORNERS}) == 4
    # the square: 64 pixels, all inside the four 5x5 corner blocks of a 20x20 box
    assert CORNER_SQUARE.shape == (20, 20) and CORNER_SQUARE.sum() == 64
    blocks = np.zeros((20, 20), bool)
    for r in (0, 15):
        for c in (0, 15):
            blocks[r:r + 5, c:c + 5] = True
    assert not np.any(CORNER_SQUARE & ~blocks)
    # arms 2 px thick along the outer edges: the box's border rows / columns of each block
    assert CORNER_SQUARE[[0, 1, 18, 19]][:, [0, 1, 2, 3, 4, 15, 16, 17, 18, 19]].all()
    assert CORNER_SQUARE[:, [0, 1, 18, 19]][[0, 1, 2, 3, 4, 15, 16, 17, 18, 19]].all()
    assert not CORNER_SQUARE[2:18, 2:18].any()


def test_corners_square_geometry(datasets):
    ds = datasets["corners"]
    for gi in ds.multi.values():
        np.testing.assert_array_equal(gi.object_ids[:, 0], 4)
        assert np.all(np.isin(gi.object_ids[:, 1:], [0, 1, 2, 3]))
        assert gi.positions[:, 0].min() >= 0 and gi.positions[:, 0].max() <= 8
        assert gi.positions[:, 1:].min() >= 0 and gi.positions[:, 1:].max() <= 23
        for i in range(len(gi)):
            r, c = gi.positions[i, 0]
            placed = np.zeros((28, 28), bool)
            placed[r:r + 20, c:c + 20] = CORNER_SQUARE
            assert np.all(gi.images[i][placed] == 1)
            g1 = gi.labels[i] == 1
            assert not np.any(g1 & ~placed), "group 1 is exactly the square's pixels"
            assert np.all(g1 | gi.overlap[i] | ~placed)
    single = ds.single["train"]
    assert (single.object_ids == 4).sum() == 90                       # half squares
    np.testing.assert_array_equal(single.images.sum(axis=(1, 2)),
                                  np.where(single.object_ids[:, 0] == 4, 64, 16))


@pytest.mark.parametrize("name", ["mnist_shape", "multi_mnist"])
def test_digits_come_from_the_right_mnist_part(datasets, name):
    ds = datasets[name]
    parts = {("single", "train"): "train", ("multi", "train"): "train",
             ("single", "valid"): "valid", ("multi", "valid"): "valid", ("multi", "test"): "test"}
    for kind, split, gi in all_sets(ds):
        d = gi.digit_ids[gi.digit_ids >= 0]
        assert d.size > 0
        assert np.all(np.isin(d, part_indices(MNIST, parts[(kind, split)])))
    test_digits = ds.multi["test"].digit_ids
    train_digits = np.concatenate([ds.single["train"].digit_ids.ravel(),
                                   ds.multi["train"].digit_ids.ravel()])
    assert not np.intersect1d(test_digits[test_digits >= 0], train_digits[train_digits >= 0]).size


def test_mnist_shape_layout(datasets):
    ds = datasets["mnist_shape"]
    for gi in ds.multi.values():
        np.testing.assert_array_equal(gi.positions[:, 0], 0)               # digit not moved
        assert np.all(gi.digit_ids[:, 0] >= 0) and np.all(gi.digit_ids[:, 1] == -1)
        assert np.all(np.isin(gi.object_ids[:, 1], [0, 1, 2]))
    single = ds.single["train"]
    is_digit = single.digit_ids[:, 0] >= 0
    assert is_digit.sum() == 90 and np.all(single.object_ids[is_digit, 0] == -1)
    assert np.all(single.digit_ids[~is_digit, 0] == -1)


def test_multi_mnist_positions_fit_the_crop_box(datasets):
    for kind, split, gi in all_sets(datasets["multi_mnist"]):
        for i in range(len(gi)):
            for s in range(gi.positions.shape[1]):
                h, w = crop_to_ink(MNIST.images[gi.digit_ids[i, s]]).shape
                r, c = gi.positions[i, s]
                assert 0 <= r <= 48 - h and 0 <= c <= 48 - w


def test_multi_mnist_with_real_digits():
    try:
        mnist = load_mnist(verbose=False)
    except (MNISTError, FileNotFoundError) as e:
        pytest.skip(f"no MNIST: {e}")
    ds = make_rc_dataset("multi_mnist", 0, mnist=mnist, n_single=20, n_multi_train=5,
                         n_valid=5, n_test=30)
    te = ds.multi["test"]
    assert np.all(np.isin(te.digit_ids, part_indices(mnist, "test")))
    i = 0
    H, W = CANVAS["multi_mnist"]
    count = np.zeros((H, W), int)
    for s in range(3):
        spr = crop_to_ink(mnist.images[te.digit_ids[i, s]]) > 0.5
        r, c = te.positions[i, s]
        count[r:r + spr.shape[0], c:c + spr.shape[1]] += spr
    np.testing.assert_array_equal(te.images[i], (count > 0).astype(np.float32))
    np.testing.assert_array_equal(te.overlap[i], count > 1)


# --------------------------------------------------------------------------- seeds and splits

def _sets_equal(a: GroupedImages, b: GroupedImages) -> bool:
    return all(np.array_equal(getattr(a, f), getattr(b, f))
               for f in ("images", "labels", "overlap", "positions", "object_ids"))


@pytest.mark.parametrize("name", DATASETS)
def test_deterministic_given_seed(datasets, name):
    again = make_rc_dataset(name, 3, mnist=MNIST, **SMALL)
    other = make_rc_dataset(name, 4, mnist=MNIST, **SMALL)
    for (kind, split, a), (_, _, b), (_, _, c) in zip(all_sets(datasets[name]), all_sets(again),
                                                      all_sets(other)):
        assert _sets_equal(a, b), f"{kind} {split} changed with the same seed"
        if a.digit_ids is not None:
            np.testing.assert_array_equal(a.digit_ids, b.digit_ids)
        if not (name == "simple_superposition" and split == "test"):
            assert not np.array_equal(a.images, c.images), f"{kind} {split} ignores the seed"


@pytest.mark.parametrize("name", ["corners", "multi_mnist"])
def test_sets_are_independent_streams(datasets, name):
    base = datasets[name]
    bigger = make_rc_dataset(name, 3, mnist=MNIST, **{**SMALL, "n_multi_train": 37,
                                                      "n_single": 300})
    for split in ("valid", "test"):
        assert _sets_equal(base.multi[split], bigger.multi[split])
    # the streams differ from each other (not one stream reused)
    assert not np.array_equal(base.multi["valid"].images[:50], base.multi["test"].images[:50])
    fewer_tests = make_rc_dataset(name, 3, mnist=MNIST, **{**SMALL, "n_test": 10})
    assert _sets_equal(base.single["train"], fewer_tests.single["train"])
    assert _sets_equal(base.multi["train"], fewer_tests.multi["train"])


def test_valid_fraction():
    ds = make_rc_dataset("bars", 0, n_single=1001, n_multi_train=1, n_valid=1, n_test=1)
    assert len(ds.single["valid"]) == 100 and len(ds.single["train"]) == 901
    ds = make_rc_dataset("bars", 0, n_single=2, n_multi_train=1, n_valid=1, n_test=1)
    assert len(ds.single["valid"]) == 1 and len(ds.single["train"]) == 1


# --------------------------------------------------------------------------- errors

@pytest.mark.parametrize("kwargs", [
    dict(name="bars2"), dict(name="Bars"), dict(seed=-1), dict(seed=True), dict(seed=1.0),
    dict(n_single=1), dict(n_single=0), dict(n_single=10.0), dict(n_single=True),
    dict(n_multi_train=0), dict(n_valid=0), dict(n_test=-5), dict(n_test="10"),
])
def test_bad_arguments(kwargs):
    args = {"name": "bars", "seed": 0, **SMALL, **kwargs}
    with pytest.raises(ValueError):
        make_rc_dataset(args.pop("name"), args.pop("seed"), **args)


def test_bad_mnist():
    with pytest.raises(ValueError, match="uint8"):
        make_rc_dataset("multi_mnist", 0, mnist=MNISTData(MNIST.images / 255.0, MNIST.labels,
                                                           "float"), **SMALL)
    with pytest.raises(ValueError, match="MNISTData-like"):
        make_rc_dataset("mnist_shape", 0, mnist=np.zeros((10, 28, 28), np.uint8), **SMALL)
    faint = MNIST.images.copy()
    faint[part_indices(MNIST, "test")[0]] = 100                     # no pixel above 0.5
    with pytest.raises(ValueError, match="no pixel above 0.5"):
        make_rc_dataset("multi_mnist", 0, mnist=MNISTData(faint, MNIST.labels, "faint"), **SMALL)
