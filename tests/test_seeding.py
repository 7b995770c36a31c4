"""common.seeding: the spatial gamma_0 shared by N-EM and RC (soft Voronoi, k-means++ ink seeds)."""

import numpy as np
import pytest

from common.seeding import kmeanspp_centres, spatial_gamma, voronoi_gamma


def test_voronoi_gamma_is_normalised_and_peaks_at_each_centre():
    centres = np.array([[[2.0, 3.0], [10.0, 12.0]]])
    g = voronoi_gamma(centres, 16, 2.0)
    np.testing.assert_allclose(g.sum(1), 1, rtol=1e-12)
    assert g[0, 0, 2 * 16 + 3] > 0.99 and g[0, 1, 10 * 16 + 12] > 0.99
    with pytest.raises(ValueError, match="> 0"):
        voronoi_gamma(centres, 16, 0.0)


def test_kmeanspp_follows_squared_distance():
    # Ink at columns 0, 1 and 9 of the first row of a 10x10 canvas. Whenever the first centre is
    # at column 0, the second should land on column 9 with probability 81 / (1 + 81).
    ink = np.zeros((4000, 100), bool)
    ink[:, [0, 1, 9]] = True
    c = kmeanspp_centres(ink, 2, 10, np.random.default_rng(0))
    first0 = c[:, 0, 1] == 0
    frac9 = np.mean(c[first0, 1, 1] == 9)
    assert abs(frac9 - 81 / 82) < 0.02
    assert np.isin(c[..., 1], [0, 1, 9]).all() and (c[..., 0] == 0).all()   # always on the ink


def test_spatial_gamma_checks_its_input():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="square"):
        spatial_gamma(2, 3, 50, rng)
    with pytest.raises(ValueError, match="needs the images"):
        spatial_gamma(2, 3, 64, rng, kind="ink")
    with pytest.raises(ValueError, match="unknown"):
        spatial_gamma(2, 3, 64, rng, kind="corner")
    g = spatial_gamma(2, 3, 64, rng, kind="ink", x=np.ones((2, 8, 8)))   # (B, side, side) works
    assert g.shape == (2, 3, 64)


def test_spatial_gamma_does_not_depend_on_the_chunk_size_or_dtype_beyond_the_cast():
    x = np.random.default_rng(3).random((7, 64)) < 0.2
    a = spatial_gamma(7, 3, 64, np.random.default_rng(1), kind="ink", x=x, chunk=2)
    b = spatial_gamma(7, 3, 64, np.random.default_rng(1), kind="ink", x=x, chunk=100)
    c = spatial_gamma(7, 3, 64, np.random.default_rng(1), kind="ink", x=x, dtype=np.float32)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(c, b.astype(np.float32))


def test_initial_gamma_is_one_function_for_every_kind():
    from common.seeding import initial_gamma
    rng = np.random.default_rng(0)
    x = np.zeros((2, 36), np.float32)
    x[:, :6] = 1
    for kind in ("random", "spatial", "ink"):
        g = initial_gamma(2, 3, 36, np.random.default_rng(0), kind=kind, x=x, width=2.0)
        assert g.shape == (2, 3, 36) and g.dtype == np.float32
        np.testing.assert_allclose(g.sum(axis=1), 1, atol=1e-6)
    # random: |N(0,1)| drawn in float64 and normalised before the cast
    r = np.abs(np.random.default_rng(5).standard_normal((2, 3, 36)))
    np.testing.assert_array_equal(initial_gamma(2, 3, 36, np.random.default_rng(5)),
                                  (r / r.sum(axis=1, keepdims=True)).astype(np.float32))
    with pytest.raises(ValueError, match="gamma_0"):
        initial_gamma(2, 3, 36, rng, kind="nope")
