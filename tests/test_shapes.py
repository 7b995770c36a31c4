"""The static-shapes generator against its spec (docs/reference.md, N-EM Sec. 5.3.1)."""

import numpy as np
import pytest

from common.shapes import (DOWN_TRIANGLE, SQUARE, TEMPLATES, UP_TRIANGLE, make_shapes,
                           make_shapes_splits)

# The spec, typed in again here so a change to the module's templates cannot go unnoticed.
SPEC_UP = ["000001100000", "000011110000", "000111111000", "001110011100",
           "011100001110", "111111111111", "111111111111"]
SPEC_SQUARE = ["1111111", "1111111", "1100011", "1100011", "1100011", "1111111", "1111111"]


def _grid(rows):
    return np.array([[int(c) for c in r] for r in rows], dtype=bool)


def test_templates_pixel_for_pixel():
    np.testing.assert_array_equal(SQUARE, _grid(SPEC_SQUARE))
    np.testing.assert_array_equal(UP_TRIANGLE, _grid(SPEC_UP))
    np.testing.assert_array_equal(DOWN_TRIANGLE, _grid(SPEC_UP[::-1]))
    assert SQUARE.shape == (7, 7) and UP_TRIANGLE.shape == (7, 12)
    assert SQUARE.sum() == 40 and not SQUARE[2:5, 2:5].any()


def _naive_render(d, i, size):
    """Loop-based reference renderer: per-shape masks of image i from templates and positions."""
    masks = []
    for t, (r, c) in zip(d.object_ids[i], d.positions[i]):
        tpl = TEMPLATES[t]
        m = np.zeros((size, size), dtype=bool)
        m[r:r + tpl.shape[0], c:c + tpl.shape[1]] = tpl
        masks.append(m)
    return np.array(masks)


@pytest.mark.parametrize("n_shapes,size", [(3, 28), (2, 28), (5, 28), (3, 20)])
def test_images_labels_and_overlap_agree(n_shapes, size):
    d = make_shapes(300, np.random.default_rng(0), n_shapes=n_shapes, size=size)
    assert d.images.shape == d.labels.shape == d.overlap.shape == (300, size, size)
    assert d.images.dtype == np.float32 and set(np.unique(d.images)) <= {0.0, 1.0}
    assert d.object_ids.shape == (300, n_shapes) and d.positions.shape == (300, n_shapes, 2)
    for i in range(300):
        m = _naive_render(d, i, size)
        count = m.sum(0)
        np.testing.assert_array_equal(d.images[i] > 0, count > 0)
        np.testing.assert_array_equal(d.overlap[i], count > 1)
        expected = np.where(count == 1, m.argmax(0) + 1, 0)
        np.testing.assert_array_equal(d.labels[i], expected)
    assert d.labels.max() <= n_shapes and d.labels.min() == 0


def test_positions_cover_every_fitting_place():
    d = make_shapes(20000, np.random.default_rng(1))
    for t, tpl in enumerate(TEMPLATES):
        pos = d.positions[d.object_ids == t]
        h, w = tpl.shape
        assert pos[:, 0].min() == 0 and pos[:, 0].max() == 28 - h
        assert pos[:, 1].min() == 0 and pos[:, 1].max() == 28 - w
    # Templates uniform over the three kinds.
    freq = np.bincount(d.object_ids.ravel(), minlength=3) / d.object_ids.size
    np.testing.assert_allclose(freq, 1 / 3, atol=0.01)


def test_statistics_match_reference():
    # docs/reference.md, measured on 1000 images of this spec: ~16% foreground (~125 px),
    # 72-73% of images with some overlap.
    d = make_shapes(5000, np.random.default_rng(2))
    assert d.images.mean() == pytest.approx(0.16, abs=0.005)
    assert d.overlap.any(axis=(1, 2)).mean() == pytest.approx(0.725, abs=0.02)


def test_determinism_and_splits():
    a = make_shapes(50, np.random.default_rng(3))
    b = make_shapes(50, np.random.default_rng(3))
    c = make_shapes(50, np.random.default_rng(4))
    np.testing.assert_array_equal(a.images, b.images)
    assert not np.array_equal(a.images, c.images)
    s1 = make_shapes_splits(7, 100, 30, 40)
    s2 = make_shapes_splits(7, 10, 30, 40)       # the test set does not depend on the train size
    assert [len(s1[k]) for k in ("train", "valid", "test")] == [100, 30, 40]
    np.testing.assert_array_equal(s1["test"].labels, s2["test"].labels)
    assert not np.array_equal(s1["valid"].images, s1["test"].images[:30])


def test_chunking_does_not_change_the_data():
    a = make_shapes(25, np.random.default_rng(5), chunk=7)
    b = make_shapes(25, np.random.default_rng(5))
    np.testing.assert_array_equal(a.labels, b.labels)


@pytest.mark.parametrize("kwargs,match", [
    (dict(n_images=-1), "n_images"),
    (dict(n_images=10, n_shapes=0), "n_shapes"),
    (dict(n_images=10, size=10), "size"),
    (dict(n_images=2.5), "n_images"),
])
def test_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_shapes(rng=np.random.default_rng(0), **kwargs)
    with pytest.raises(TypeError, match="Generator"):
        make_shapes(3, rng=0)
