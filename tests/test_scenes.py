"""Tests for common.scenes: exact hand-built composites, invariants of random scenes,
determinism and input errors. Sprites are synthetic blobs, so nothing here needs MNIST
(except one optional test that runs only when common.mnist can load digits)."""
import numpy as np
import pytest

from common.scenes import (Scenes, compose_scenes, crop_to_ink, place_sprites, resize)


def make_blobs(rng, n, size=28, ink=(2.5, 5.0)):
    """(n, size, size) float32 Gaussian blobs, zero below 0.1, off-centre so cropping matters."""
    yy, xx = np.mgrid[:size, :size]
    out = np.zeros((n, size, size), dtype=np.float32)
    for i in range(n):
        cy, cx = rng.uniform(0.3 * size, 0.7 * size, 2)
        sy, sx = rng.uniform(*ink, 2)
        g = np.exp(-((yy - cy) ** 2 / (2 * sy ** 2) + (xx - cx) ** 2 / (2 * sx ** 2)))
        g[g < 0.1] = 0.0
        out[i] = g
    return out


@pytest.fixture(scope="module")
def blobs():
    return make_blobs(np.random.default_rng(123), 64)


def placed_sprite(sprite, box, *, scale, threshold=None):
    """Re-derive the pasted array of one object from the public helpers (crop=True)."""
    s = crop_to_ink(sprite)
    if scale is not None:
        s = resize(s, int(max(box[2], box[3])))
    if threshold is not None:
        s = crop_to_ink((s > threshold).astype(np.float32))
    return s


def rebuild(scenes, sprites, i, *, scale=None, threshold=None, combine="max"):
    """Independent re-composition of scene i: per-object cover masks and the image."""
    H, W = scenes.images.shape[1:]
    covers, image = [], np.zeros((H, W), dtype=np.float32)
    for k in range(scenes.counts[i]):
        box = scenes.boxes[i, k]
        s = placed_sprite(sprites[scenes.sprite_ids[i, k]], box, scale=scale, threshold=threshold)
        assert s.shape == (box[2], box[3])  # crop=True: the pasted array is the ink box
        t, l = int(box[0]), int(box[1])
        placed = np.zeros((H, W), dtype=np.float32)
        placed[t:t + s.shape[0], l:l + s.shape[1]] = s
        covers.append(placed > 0)
        image = np.maximum(image, placed) if combine == "max" else np.minimum(image + placed, 1)
    return np.array(covers, dtype=bool).reshape(-1, H, W), image


# --------------------------------------------------------------------------- hand-built

def test_place_sprites_exact_example():
    a = np.array([[0.2, 0.4, 0.0],
                  [0.6, 0.8, 0.0],
                  [0.0, 0.0, 0.0]], dtype=np.float32)  # ink box is its top-left 2x2
    b = np.array([[0.0, 0.0, 0.0],
                  [0.0, 0.5, 1.0],
                  [0.0, 0.3, 0.0]], dtype=np.float32)  # ink box is rows 1-2, cols 1-2
    # a's ink at canvas rows 1-2, cols 1-2; b's ink at rows 2-3, cols 2-3: they share (2, 2).
    out = place_sprites((5, 6), [a, b], [(1, 1), (1, 1)])
    expected = np.zeros((5, 6), dtype=np.float32)
    expected[1, 1:3] = [0.2, 0.4]
    expected[2, 1:4] = [0.6, 0.8, 1.0]   # (2, 2) = max(0.8, 0.5)
    expected[3, 2] = 0.3
    np.testing.assert_array_equal(out.image, expected)
    labels = np.zeros((5, 6), dtype=np.int16)
    labels[1, 1:3] = 1
    labels[2, 1] = 1
    labels[2, 3] = 2
    labels[3, 2] = 2                     # (2, 2) is covered twice: label 0
    np.testing.assert_array_equal(out.labels, labels)
    assert out.labels.dtype == np.int16 and out.image.dtype == np.float32
    overlap = np.zeros((5, 6), dtype=bool)
    overlap[2, 2] = True
    np.testing.assert_array_equal(out.overlap, overlap)
    np.testing.assert_array_equal(out.boxes, [[1, 1, 2, 2], [2, 2, 2, 2]])
    assert out.boxes.dtype == np.float32

    summed = place_sprites((5, 6), [a, b], np.array([(1, 1), (1, 1)]), combine="sum_clip")
    np.testing.assert_allclose(summed.image[2, 2], 1.0)  # 0.8 + 0.5 clipped
    np.testing.assert_allclose(summed.image[2, 1], 0.6)
    np.testing.assert_array_equal(summed.labels, labels)


def test_place_sprites_dtypes_and_no_objects():
    ink = np.array([[255, 0], [0, 51]], dtype=np.uint8)
    out = place_sprites((3, 3), [ink, np.ones((1, 1), dtype=bool)], [(0, 0), (2, 2)])
    np.testing.assert_allclose(out.image, [[1, 0, 0], [0, 0.2, 0], [0, 0, 1]], rtol=1e-6)
    np.testing.assert_array_equal(out.labels, [[1, 0, 0], [0, 1, 0], [0, 0, 2]])
    empty = place_sprites((2, 4), [], [])
    assert empty.image.shape == (2, 4) and not empty.image.any() and empty.boxes.shape == (0, 4)


@pytest.mark.parametrize("sprites, positions, match", [
    ([np.ones((2, 2))], [(2, 0)], "does not fit"),
    ([np.ones((2, 2))], [(0, -1)], "does not fit"),
    ([np.ones((4, 2))], [(0, 0)], "larger than"),
    ([np.ones((2, 2))], [(0, 0), (1, 1)], "1 sprites but 2 positions"),
    ([np.zeros((2, 2))], [(0, 0)], "no ink"),
    ([np.ones((2, 2, 1))], [(0, 0)], "2-D"),
    ([np.full((2, 2), 2.0)], [(0, 0)], r"\[0, 1\]"),
    ([np.ones((2, 2))], [(0.5, 0)], "integers"),
])
def test_place_sprites_errors(sprites, positions, match):
    with pytest.raises(ValueError, match=match):
        place_sprites((3, 3), sprites, positions)


# --------------------------------------------------------------------------- crop / resize

def test_crop_to_ink():
    s = np.zeros((6, 7), dtype=np.uint8)
    s[2, 3], s[4, 1], s[3, 2] = 255, 51, 102
    np.testing.assert_allclose(crop_to_ink(s), [[0, 0, 1], [0, 0.4, 0], [0.2, 0, 0]], rtol=1e-6)
    np.testing.assert_allclose(crop_to_ink(s, threshold=0.3), [[0, 1], [0.4, 0]], rtol=1e-6)
    with pytest.raises(ValueError, match="no ink"):
        crop_to_ink(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="no ink"):
        crop_to_ink(s, threshold=1.0)


def test_resize_exact_cases():
    rng = np.random.default_rng(0)
    s = rng.random((5, 7)).astype(np.float32)
    np.testing.assert_allclose(resize(s, (5, 7)), s, rtol=1e-6)   # same size: identity
    np.testing.assert_allclose(resize(np.full((9, 4), 0.7), (5, 11)), 0.7, rtol=1e-6)
    # Upscaling is bilinear with aligned pixel centres and edge clamping.
    np.testing.assert_allclose(resize(np.array([[0.0, 1.0]]), (1, 4)), [[0, 0.25, 0.75, 1]])
    # Factor-2 shrink: tent of radius 2, weights 1/8, 3/8, 3/8, 1/8 (edge taps renormalised).
    row = np.array([[0, 0, 1, 1, 0, 0, 0, 0]], dtype=np.float32)
    np.testing.assert_allclose(resize(row, (1, 4)), [[1 / 7, 6 / 8, 1 / 8, 0]], rtol=1e-6)


def test_resize_shapes_and_range():
    rng = np.random.default_rng(1)
    s = rng.random((10, 4))
    assert resize(s, 20).shape == (20, 8)       # longest side 20, aspect kept
    assert resize(s, 5).shape == (5, 2)
    assert resize(s.T, 7).shape == (3, 7)       # 4 * 7 / 10 = 2.8 -> 3
    assert resize(np.ones((1, 40)), 10).shape == (1, 10)
    assert resize(np.ones((40, 1)), 3).shape == (3, 1)  # short side never below 1
    big = resize(s, (23, 17))
    assert big.dtype == np.float32 and big.min() >= 0 and big.max() <= 1
    assert abs(resize(s, (5, 2)).mean() - s.mean()) < 0.05   # shrinking roughly keeps the mean
    for bad in (0, -3, (4, 0), (2, 3, 4), 2.5):
        with pytest.raises(ValueError, match="size|height|width"):
            resize(s, bad)


# --------------------------------------------------------------------------- random scenes

def check_invariants(scenes: Scenes, sprites, **rebuild_kwargs):
    n, H, W = scenes.images.shape
    m = scenes.boxes.shape[1]
    assert scenes.images.dtype == np.float32 and scenes.labels.dtype == np.int16
    assert scenes.overlap.dtype == np.bool_ and scenes.counts.dtype == np.int64
    assert scenes.boxes.dtype == np.float32 and scenes.sprite_ids.dtype == np.int64
    assert scenes.labels.shape == scenes.overlap.shape == (n, H, W)
    assert scenes.sprite_ids.shape == (n, m) and len(scenes) == n
    assert scenes.images.min() >= 0 and scenes.images.max() <= 1
    present = ~np.isnan(scenes.boxes).any(axis=2)
    assert np.all(np.isnan(scenes.boxes).all(axis=2) == ~present)   # rows all-NaN or none
    np.testing.assert_array_equal(present.sum(axis=1), scenes.counts)
    np.testing.assert_array_equal(present, np.arange(m) < scenes.counts[:, None])
    np.testing.assert_array_equal(scenes.sprite_ids >= 0, present)
    b = scenes.boxes[present]
    assert np.all(b[:, :2] >= 0) and np.all(b[:, 2:] >= 1)
    assert np.all(b[:, 0] + b[:, 2] <= H) and np.all(b[:, 1] + b[:, 3] <= W)
    for i in range(n):
        covers, image = rebuild(scenes, sprites, i, **rebuild_kwargs)
        n_cover = covers.sum(axis=0)
        np.testing.assert_array_equal(scenes.overlap[i], n_cover >= 2)
        np.testing.assert_array_equal(scenes.labels[i] > 0, n_cover == 1)
        which = np.argmax(covers, axis=0) + 1 if len(covers) else 0
        np.testing.assert_array_equal(scenes.labels[i], np.where(n_cover == 1, which, 0))
        np.testing.assert_array_equal(scenes.images[i] > 0, n_cover >= 1)
        np.testing.assert_allclose(scenes.images[i], image, atol=1e-6)


def test_random_scenes_with_overlap(blobs):
    scenes = compose_scenes(blobs, 300, np.random.default_rng(7), canvas=(30, 30),
                            counts=(0, 1, 2, 3, 4))
    assert scenes.boxes.shape == (300, 4, 4)
    assert scenes.overlap.any()          # dense enough that overlaps really happen
    check_invariants(scenes, blobs, scale=None)


def test_random_scenes_scaled_thresholded_sum(blobs):
    """RC-style: binarised at 0.5 after resizing, clipped sum; uint8 input works too."""
    u8 = (blobs * 255).astype(np.uint8)
    scenes = compose_scenes(u8, 200, np.random.default_rng(8), canvas=(48, 48), counts=3,
                            scale=(10, 18), threshold=0.5, combine="sum_clip")
    assert np.all(scenes.counts == 3)
    assert set(np.unique(scenes.images)) <= {0.0, 1.0}
    # Thresholding can only shrink the ink box below the drawn size (for these Gaussian
    # blobs a lot: their > 0.5 core is about half their > 0.1 extent).
    assert np.max(scenes.boxes[..., 2:]) <= 18
    # rebuild() infers the drawn size from the box, which thresholding may shrink, so check
    # the label/overlap/image consistency through the image itself instead.
    cover = scenes.images > 0
    np.testing.assert_array_equal(cover, (scenes.labels > 0) | scenes.overlap)


def test_no_overlap_ink():
    small = make_blobs(np.random.default_rng(3), 32, size=20, ink=(1.5, 3.0))
    scenes = compose_scenes(small, 300, np.random.default_rng(9), canvas=(32, 32),
                            counts=(2, 3), allow_overlap=False, overlap_on="ink")
    assert not scenes.overlap.any()
    # "ink" is laxer than "box": the blobs' empty corners let some ink boxes intersect.
    assert any(boxes_intersect(scenes.boxes[i, 0], scenes.boxes[i, 1]) for i in range(300))
    check_invariants(scenes, small, scale=None)


def boxes_intersect(a, b):
    return (a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and
            a[1] < b[1] + b[3] and b[1] < a[1] + a[3])


def test_air_style_scenes(blobs):
    """50x50, {0, 1, 2} uniform, longest side 20..24, ink boxes disjoint."""
    scenes = compose_scenes(blobs, 3000, np.random.default_rng(10), canvas=(50, 50),
                            counts=(0, 1, 2), scale=(20, 24), allow_overlap=False,
                            overlap_on="box")
    freq = np.bincount(scenes.counts, minlength=3) / 3000
    np.testing.assert_allclose(freq, 1 / 3, atol=0.03)
    assert not scenes.overlap.any()
    present = scenes.sprite_ids >= 0
    longest = np.max(scenes.boxes[..., 2:], axis=-1)[present]
    # Without thresholding the ink box's longest side is exactly the drawn integer size.
    assert set(np.unique(longest)) == {20, 21, 22, 23, 24}
    for i in np.flatnonzero(scenes.counts == 2):
        assert not boxes_intersect(scenes.boxes[i, 0], scenes.boxes[i, 1])
    check_invariants(_subset(scenes, 200), blobs, scale=(20, 24))


def _subset(scenes, n):
    return Scenes(*(getattr(scenes, f)[:n] for f in
                    ("images", "labels", "overlap", "counts", "boxes", "sprite_ids")))


def test_count_probs_and_fixed_count(blobs):
    tiny = [np.ones((1, 1))]
    scenes = compose_scenes(tiny, 4000, np.random.default_rng(11), canvas=(8, 8),
                            counts=[1, 5], count_probs=[0.2, 0.8])
    assert abs(np.mean(scenes.counts == 5) - 0.8) < 0.03
    assert scenes.boxes.shape == (4000, 5, 4)
    zero = compose_scenes(blobs, 5, np.random.default_rng(0), canvas=(30, 30), counts=0)
    assert zero.boxes.shape == (5, 0, 4) and not zero.images.any() and not zero.labels.any()


def test_crop_false_keeps_array_and_reports_ink_box():
    sprite = np.zeros((6, 6), dtype=np.float32)
    sprite[1:3, 2:5] = 1.0
    scenes = compose_scenes([sprite], 50, np.random.default_rng(12), canvas=(10, 12),
                            counts=1, crop=False)
    tops, lefts = scenes.boxes[:, 0, 0] - 1, scenes.boxes[:, 0, 1] - 2   # array top-left
    assert np.all(scenes.boxes[:, 0, 2:] == [2, 3])
    # The whole 6x6 array fits: array positions span 0..4 and 0..6, and reach the ends.
    assert tops.min() == 0 and tops.max() == 4 and lefts.min() == 0 and lefts.max() == 6


def test_positions_cover_whole_range():
    # A 1x1 sprite on a 3x4 canvas: each of the 12 positions should appear about equally.
    scenes = compose_scenes([np.ones((1, 1))], 2400, np.random.default_rng(13), canvas=(3, 4),
                            counts=1)
    cells = (scenes.boxes[:, 0, 0] * 4 + scenes.boxes[:, 0, 1]).astype(int)
    freq = np.bincount(cells, minlength=12) / 2400
    np.testing.assert_allclose(freq, 1 / 12, atol=0.025)


# --------------------------------------------------------------------------- determinism

def test_determinism(blobs):
    kwargs = dict(canvas=(40, 40), counts=(0, 1, 2, 3), scale=(12, 20), allow_overlap=False)
    a = compose_scenes(blobs, 100, np.random.default_rng(5), **kwargs)
    b = compose_scenes(blobs, 100, np.random.default_rng(5), **kwargs)
    c = compose_scenes(blobs, 100, np.random.default_rng(6), **kwargs)
    for field in ("images", "labels", "overlap", "counts", "boxes", "sprite_ids"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert not np.array_equal(a.images, c.images)
    assert not np.array_equal(a.sprite_ids, c.sprite_ids)


# --------------------------------------------------------------------------- errors

@pytest.mark.parametrize("kwargs, match", [
    (dict(counts=(0, 1), count_probs=(0.5, 0.4)), "sum to 1"),
    (dict(counts=(0, 1), count_probs=(1.5, -0.5)), "non-negative"),
    (dict(counts=(0, 1), count_probs=(1.0,)), "one entry per allowed count"),
    (dict(counts=-1), "non-negative"),
    (dict(counts=(1, -2)), "non-negative"),
    (dict(counts=()), "counts is empty"),
    (dict(counts=(1, 1)), "repeated"),
    (dict(counts=1.5), "integers"),
    (dict(counts=1, canvas=(0, 10)), "canvas height"),
    (dict(counts=1, canvas=(10, -1)), "canvas width"),
    (dict(counts=1, canvas=(10,)), "canvas"),
    (dict(counts=1, scale=(5, 3)), "lo must be <= hi"),
    (dict(counts=1, scale=(0, 3)), "scale lo"),
    (dict(counts=1, threshold=1.0), "threshold"),
    (dict(counts=1, combine="mean"), "combine"),
    (dict(counts=1, overlap_on="circle"), "overlap_on"),
    (dict(counts=1, max_tries=0), "max_tries"),
])
def test_compose_argument_errors(blobs, kwargs, match):
    kwargs = {"canvas": (30, 30), **kwargs}
    with pytest.raises(ValueError, match=match):
        compose_scenes(blobs, 3, np.random.default_rng(0), **kwargs)


def test_compose_input_errors(blobs):
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="n_scenes"):
        compose_scenes(blobs, 0, rng, canvas=(30, 30), counts=1)
    with pytest.raises(TypeError, match="Generator"):
        compose_scenes(blobs, 3, 0, canvas=(30, 30), counts=1)
    with pytest.raises(ValueError, match=r"\(N, h, w\)"):
        compose_scenes(blobs[0], 3, rng, canvas=(30, 30), counts=1)
    with pytest.raises(ValueError, match=r"sprites\[1\] must be a 2-D"):
        compose_scenes([blobs[0], blobs[:2]], 3, rng, canvas=(30, 30), counts=1)
    with pytest.raises(ValueError, match="empty"):
        compose_scenes([], 3, rng, canvas=(30, 30), counts=1)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        compose_scenes(blobs * 255, 3, rng, canvas=(30, 30), counts=1)
    with pytest.raises(ValueError, match="no ink"):
        compose_scenes(np.zeros((2, 5, 5)), 3, rng, canvas=(30, 30), counts=1)


def test_sprite_larger_than_canvas():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="larger than the 20x20 canvas"):
        compose_scenes([np.ones((25, 10))], 3, rng, canvas=(20, 20), counts=1)
    with pytest.raises(ValueError, match="larger than the 20x20 canvas"):
        compose_scenes([np.ones((5, 5))], 3, rng, canvas=(20, 20), counts=1, scale=(21, 22))
    # Cropping to ink first makes a padded sprite fit.
    padded = np.zeros((28, 28))
    padded[10:15, 10:15] = 1
    ok = compose_scenes([padded], 3, rng, canvas=(20, 20), counts=1)
    assert np.all(ok.boxes[:, 0, 2:] == 5)


def test_impossible_non_overlap():
    rng = np.random.default_rng(0)
    square = np.ones((10, 10))
    # Five 10x10 squares need 500 px on a 400 px canvas: provably impossible.
    with pytest.raises(ValueError, match="without overlap"):
        compose_scenes([square], 2, rng, canvas=(20, 20), counts=5, allow_overlap=False)
    # Two 11x11 squares fit by area on 20x20 but never geometrically: bounded retries.
    with pytest.raises(RuntimeError, match="no non-overlapping .* in 100 tries"):
        compose_scenes([np.ones((11, 11))], 2, rng, canvas=(20, 20), counts=2,
                       allow_overlap=False, overlap_on="box", max_tries=100)
    # The same squares with overlap allowed are fine.
    compose_scenes([np.ones((11, 11))], 2, rng, canvas=(20, 20), counts=2)


# --------------------------------------------------------------------------- optional MNIST

def test_mnist_digits_if_available():
    mnist = pytest.importorskip("common.mnist")
    try:
        data = mnist.load_mnist(verbose=False)
    except Exception as err:  # no data on this machine: not this module's concern
        pytest.skip(f"MNIST not loadable: {err}")
    digits = data.images[:500]
    scenes = compose_scenes(digits, 200, np.random.default_rng(0), canvas=(50, 50),
                            counts=(0, 1, 2), scale=(20, 24), allow_overlap=False,
                            overlap_on="box")
    assert not scenes.overlap.any()
    check_invariants(scenes, digits, scale=(20, 24))
