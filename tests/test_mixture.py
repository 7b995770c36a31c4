"""common.mixture: the eq. 4.7 log-likelihood and the per-image restart merge."""

import numpy as np
import pytest

from common.mixture import merge_restarts, mixture_loglik, pixel_likelihoods


def test_loglik_matches_a_direct_sum():
    rng = np.random.default_rng(0)
    psi = rng.uniform(0.01, 0.99, (4, 3, 10))
    x = (rng.random((4, 10)) > 0.5).astype(np.float64)
    want = np.array([sum(np.log(np.mean([psi[b, k, i] if x[b, i] else 1 - psi[b, k, i]
                                          for k in range(3)])) for i in range(10)) for b in range(4)])
    np.testing.assert_allclose(mixture_loglik(pixel_likelihoods(psi, x)), want, rtol=1e-12)


def test_saturated_predictions_stay_finite():
    psi = np.array([[[1.0, 0.0]]], np.float32)      # a float32 sigmoid saturated both ways
    x = np.array([[0.0, 1.0]], np.float32)           # ... and both pixels disagree with it
    ll = mixture_loglik(pixel_likelihoods(psi, x))
    assert np.isfinite(ll).all() and ll.dtype == np.float64
    assert ll[0] == pytest.approx(2 * np.log(1e-6), rel=1e-3)


def test_merge_keeps_the_more_likely_run_per_image():
    a = [np.zeros((5, 3, 2)), np.zeros(3)]           # image axis 1, then 0
    b = [np.ones((5, 3, 2)), np.ones(3)]
    merged, ll = merge_restarts(a, np.array([0.0, 1.0, 2.0]), b, np.array([1.0, 1.0, 1.0]), (1, 0))
    np.testing.assert_array_equal(merged[0][0, :, 0], [1, 0, 0])    # a tie keeps the first
    np.testing.assert_array_equal(merged[1], [1, 0, 0])
    np.testing.assert_array_equal(ll, [1.0, 1.0, 2.0])
    with pytest.raises(ValueError):
        merge_restarts(a, ll, b[:1], ll, (1, 0))
