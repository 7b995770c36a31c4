"""The novel-object generator: letter bitmaps, rings, and labelled scenes."""

import numpy as np
import pytest

from reconstruction_clustering.data import LETTERS, letter, novel_object_scenes, novel_sprites, ring


def test_letters_are_distinct_scaled_bitmaps():
    bitmaps = [letter(c) for c in LETTERS]
    assert all(b.shape == (14, 10) for b in bitmaps)
    flat = {b.tobytes() for b in bitmaps}
    assert len(flat) == len(LETTERS)
    np.testing.assert_array_equal(letter("L", 1)[:, 0], 1)      # the L's stem
    np.testing.assert_array_equal(letter("T", 3)[:3].min(), 1)   # a 3-px-thick top bar at factor 3
    with pytest.raises(ValueError):
        letter("?")


def test_ring_is_a_symmetric_annulus():
    r = ring(7.0)
    assert r.shape == (15, 15) and r[7, 7] == 0 and r[7, 0] == 1
    np.testing.assert_array_equal(r, r[::-1])
    np.testing.assert_array_equal(r, r.T)
    with pytest.raises(ValueError):
        ring(1.0, 2.0)


def test_scenes_have_three_labelled_objects_and_are_deterministic():
    a = novel_object_scenes(20, np.random.default_rng(0))
    b = novel_object_scenes(20, np.random.default_rng(0))
    np.testing.assert_array_equal(a.images, b.images)
    assert a.images.shape == (20, 48, 48) and set(np.unique(a.images)) <= {0.0, 1.0}
    assert np.all((a.labels > 0) <= (a.images > 0)) and np.all(a.overlap <= (a.images > 0))
    assert np.all(a.counts == 3) and len(novel_sprites()) == len(LETTERS) + 3
