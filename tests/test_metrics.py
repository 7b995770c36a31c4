"""common.metrics against scikit-learn (the oracle the original papers' code called)."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from sklearn import metrics as skm

from common.metrics import (adjusted_mutual_info, adjusted_rand, contingency_matrix, entropy,
                            expected_mutual_info, grouping_score, mutual_info,
                            normalized_mutual_info)

TOL = 1e-9


def _sk_all(t, p):
    return {
        "ami_max": skm.adjusted_mutual_info_score(t, p, average_method="max"),
        "ami_arith": skm.adjusted_mutual_info_score(t, p, average_method="arithmetic"),
        "nmi": skm.normalized_mutual_info_score(t, p),
        "nmi_max": skm.normalized_mutual_info_score(t, p, average_method="max"),
        "ari": skm.adjusted_rand_score(t, p),
        "mi": skm.mutual_info_score(t, p),
    }


def _ours_all(t, p):
    return {
        "ami_max": adjusted_mutual_info(t, p, "max"),
        "ami_arith": adjusted_mutual_info(t, p, "arithmetic"),
        "nmi": normalized_mutual_info(t, p),
        "nmi_max": normalized_mutual_info(t, p, "max"),
        "ari": adjusted_rand(t, p),
        "mi": mutual_info(t, p),
    }


def _assert_agree(t, p):
    sk, ours = _sk_all(t, p), _ours_all(t, p)
    for k in sk:
        assert abs(sk[k] - ours[k]) <= TOL, (k, sk[k], ours[k], list(t), list(p))


labelings = st.integers(1, 60).flatmap(lambda n: st.tuples(
    st.lists(st.integers(-3, 6), min_size=n, max_size=n),
    st.lists(st.integers(0, 9), min_size=n, max_size=n)))


@settings(max_examples=400, deadline=None)
@given(labelings)
def test_agrees_with_sklearn_on_random_labelings(tp):
    t, p = map(np.array, tp)
    _assert_agree(t, p)


@settings(max_examples=100, deadline=None)
@given(st.integers(2, 300), st.integers(1, 6), st.integers(1, 6), st.integers(0, 2**31 - 1))
def test_agrees_with_sklearn_on_image_sized_labelings(n, kt, kp, seed):
    rng = np.random.default_rng(seed)
    t = rng.integers(0, kt, n)
    # Correlated predictions, as a half-trained model makes: most pixels follow the truth.
    p = np.where(rng.random(n) < 0.7, t % kp, rng.integers(0, kp, n))
    _assert_agree(t, p)


@pytest.mark.parametrize("t,p", [
    ([0, 0, 0, 0], [0, 0, 0, 0]),             # one cluster on both sides
    ([0, 0, 0, 0], [0, 1, 2, 3]),             # one cluster vs all singletons
    ([0, 1, 2, 3], [5, 5, 5, 5]),             # all singletons vs one cluster
    ([0, 1, 2, 3, 4, 5], [0, 1, 2, 3, 4, 5]), # all singletons on both sides
    ([3, 3, 7, 7, 9], [1, 1, 0, 0, 2]),       # labels not starting at 0, permuted: identical partition
    ([10, 10, 20, 20, 30, 30], [2, 1, 2, 1, 2, 1]),
    ([1], [2]),                               # one sample
    ([0, 0, 1, 1], [0, 1, 0, 1]),             # independent
    (list(range(40)), [i // 2 for i in range(40)]),
])
def test_edge_cases(t, p):
    _assert_agree(np.array(t), np.array(p))


def test_permutation_invariance():
    rng = np.random.default_rng(0)
    t = rng.integers(0, 4, 200)
    p = rng.integers(0, 3, 200)
    perm = np.array([7, 2, 5])
    base = adjusted_mutual_info(t, p)
    assert adjusted_mutual_info(t, perm[p]) == pytest.approx(base, abs=1e-12)
    assert adjusted_mutual_info(t + 100, p) == pytest.approx(base, abs=1e-12)


def test_max_normaliser_is_stricter_than_arithmetic():
    # docs/reference.md: merging two of three shapes gives ~0.58 (max) vs ~0.73 (arithmetic).
    t = np.repeat([1, 2, 3], 40)
    p = np.repeat([1, 1, 2], 40)
    assert adjusted_mutual_info(t, p, "max") < adjusted_mutual_info(t, p, "arithmetic")
    assert adjusted_mutual_info(t, p, "max") == pytest.approx(0.58, abs=0.02)
    assert adjusted_mutual_info(t, p, "arithmetic") == pytest.approx(0.73, abs=0.02)


def test_building_blocks_against_definitions():
    t = np.array([0, 0, 1, 1, 1, 2])
    p = np.array([1, 1, 1, 0, 0, 0])
    np.testing.assert_array_equal(contingency_matrix(t, p), [[0, 2], [2, 1], [1, 0]])
    assert entropy(t) == pytest.approx(-(2 / 6 * np.log(2 / 6) + 3 / 6 * np.log(3 / 6) + 1 / 6 * np.log(1 / 6)))
    # EMI of a table equals the brute-force mean MI over all permutations of one labeling.
    from itertools import permutations
    mis = [mutual_info(t, p[list(perm)]) for perm in permutations(range(6))]
    assert expected_mutual_info(contingency_matrix(t, p)) == pytest.approx(np.mean(mis), abs=1e-12)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="differ in length"):
        adjusted_mutual_info([0, 1], [0, 1, 2])
    with pytest.raises(ValueError, match="1-D"):
        adjusted_mutual_info(np.zeros((2, 2)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="normaliser"):
        adjusted_mutual_info([0, 1], [0, 1], "mean")
    with pytest.raises(ValueError, match="same shape"):
        grouping_score(np.zeros((2, 4, 4)), np.zeros((2, 4, 5)))
    with pytest.raises(ValueError, match="unknown score"):
        grouping_score(np.zeros((2, 4, 4)), np.zeros((2, 4, 4)), score="f1")


def test_grouping_score_excludes_background_and_overlap():
    true = np.array([[[0, 1, 1, 2, 2, 0]],        # background and object pixels
                     [[1, 1, 0, 2, 2, 2]]])       # the 0 in the middle is an overlap pixel
    # Predictions are wrong only on excluded pixels, so both images score 1.
    pred = np.array([[[3, 0, 0, 1, 1, 3]],
                     [[0, 0, 1, 1, 1, 1]]])
    mean, per = grouping_score(true, pred)
    assert mean == 1.0 and per.tolist() == [1.0, 1.0]
    # Same as scoring the kept pixels with sklearn, image by image.
    pred2 = np.array([[[0, 0, 1, 1, 0, 0]], [[0, 1, 0, 1, 0, 1]]])
    _, per2 = grouping_score(true, pred2)
    for i in range(2):
        k = true[i].ravel() > 0
        assert per2[i] == pytest.approx(skm.adjusted_mutual_info_score(
            true[i].ravel()[k], pred2[i].ravel()[k], average_method="max"), abs=TOL)


def test_grouping_score_images_without_two_labelled_pixels_are_nan_and_skipped():
    true = np.array([[[1, 2]], [[0, 1]], [[0, 0]]])
    pred = np.array([[[0, 1]], [[0, 0]], [[1, 1]]])
    mean, per = grouping_score(true, pred)
    assert per[0] == 1.0 and np.isnan(per[1]) and np.isnan(per[2])
    assert mean == 1.0
    mean, per = grouping_score(true[1:], pred[1:])
    assert np.isnan(mean)


def test_grouping_score_mask_and_other_scores():
    rng = np.random.default_rng(1)
    true = rng.integers(0, 4, (5, 6, 6))
    pred = rng.integers(0, 3, (5, 6, 6))
    mask = rng.random((5, 6, 6)) < 0.7
    _, per = grouping_score(true, pred, score="ari", mask=mask)
    for i in range(5):
        k = (true[i] > 0) & mask[i]
        assert per[i] == pytest.approx(skm.adjusted_rand_score(true[i][k], pred[i][k]), abs=TOL)
    _, per = grouping_score(true, pred, score="nmi", normalizer="arithmetic")
    k = true[0] > 0
    assert per[0] == pytest.approx(skm.normalized_mutual_info_score(true[0][k], pred[0][k]), abs=TOL)


@pytest.mark.parametrize("bad", [np.nan, np.inf, 0.5])
def test_grouping_score_rejects_nan_inf_and_fractional_labels(bad):
    t = np.array([[1, 1, 2, 2]], dtype=float)
    p = np.array([[0, 0, 1, 1]])
    assert grouping_score(t, p)[0] == pytest.approx(1.0)         # whole-number floats are fine
    t[0, 1] = bad
    with pytest.raises(ValueError, match="integer labels"):
        grouping_score(t, p)
    with pytest.raises(ValueError, match="integer labels"):
        grouping_score(p, t)


def test_ami_scores_match_grouping_score_for_each_normaliser():
    from common.metrics import ami_scores
    rng = np.random.default_rng(7)
    t = rng.integers(0, 4, (20, 50))
    p = rng.integers(0, 3, (20, 50))
    t[3] = 0                                          # an unscored image stays NaN
    got = ami_scores(t, p, ("max", "arithmetic", "geometric"))
    for nm, (mean, per) in got.items():
        ref_mean, ref_per = grouping_score(t, p, normalizer=nm)
        assert mean == pytest.approx(ref_mean, abs=1e-12)
        np.testing.assert_allclose(per, ref_per, atol=1e-12)
    with pytest.raises(ValueError):
        ami_scores(t.astype(float) + 0.5, p)
