"""Clustering scores for unsupervised grouping: AMI, NMI, ARI and the per-image grouping score.

Everything is computed from the contingency table of two labelings, in float64, with no
dependency beyond NumPy. The formulas follow scikit-learn's conventions (which the original
N-EM / RC code called), so the tests can use scikit-learn as an oracle:

- Mutual information  MI = sum_ij n_ij/N log(N n_ij / (a_i b_j)).
- Expected MI under the permutation (hypergeometric) model, Vinh, Epps & Bailey (2010), eq. 24a:
  EMI = sum_ij sum_{n=max(1, a_i+b_j-N)}^{min(a_i,b_j)} n/N log(N n/(a_i b_j))
        * a_i! b_j! (N-a_i)! (N-b_j)! / (N! n! (a_i-n)! (b_j-n)! (N-a_i-b_j+n)!)
- AMI = (MI - EMI) / (norm(H_true, H_pred) - EMI).

The normaliser matters for comparing with the papers: scikit-learn of 2016-2017 used
``max(H_true, H_pred)``, today's default is the arithmetic mean, which scores higher.
N-EM and RC numbers are AMI with ``"max"``; report ``"arithmetic"`` beside it, labelled.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "NORMALIZERS",
    "ami_scores",
    "contingency_matrix",
    "entropy",
    "mutual_info",
    "expected_mutual_info",
    "adjusted_mutual_info",
    "normalized_mutual_info",
    "adjusted_rand",
    "grouping_score",
]

NORMALIZERS = ("max", "arithmetic", "geometric", "min")
_EPS = np.finfo(np.float64).eps


def _as_labels(labels_true, labels_pred) -> tuple[np.ndarray, np.ndarray]:
    """Validate two labelings: 1-D, same length, integer-like (any hashable numpy dtype)."""
    t = np.asarray(labels_true)
    p = np.asarray(labels_pred)
    if t.ndim != 1 or p.ndim != 1:
        raise ValueError(
            f"labelings must be 1-D arrays, got shapes {t.shape} and {p.shape} "
            "(flatten images first, or use grouping_score for batches of images)"
        )
    if t.shape[0] != p.shape[0]:
        raise ValueError(f"labelings differ in length: {t.shape[0]} true vs {p.shape[0]} predicted")
    return t, p


def contingency_matrix(labels_true, labels_pred) -> np.ndarray:
    """Contingency table of two labelings.

    labels_true, labels_pred: (N,) any labels (need not start at 0 or be contiguous).
    Returns n: (R, C) int64, n[i, j] = #samples with the i-th true and j-th predicted label
    (labels in sorted order).
    """
    t, p = _as_labels(labels_true, labels_pred)
    _, ti = np.unique(t, return_inverse=True)
    _, pi = np.unique(p, return_inverse=True)
    r = int(ti.max()) + 1 if ti.size else 0
    c = int(pi.max()) + 1 if pi.size else 0
    return np.bincount(ti.ravel() * c + pi.ravel(), minlength=r * c).reshape(r, c).astype(np.int64)


def _entropy_from_counts(counts: np.ndarray) -> float:
    counts = counts[counts > 0].astype(np.float64)
    if counts.size <= 1:
        return 0.0
    total = counts.sum()
    return float(-np.sum((counts / total) * (np.log(counts) - math.log(total))))


def entropy(labels) -> float:
    """Shannon entropy (nats) of a labeling: labels (N,) -> float. Empty input -> 1.0 (sklearn)."""
    labels = np.asarray(labels)
    if labels.size == 0:
        return 1.0
    return _entropy_from_counts(np.unique(labels, return_counts=True)[1])


def _mi_from_contingency(n: np.ndarray) -> float:
    a = n.sum(axis=1)
    b = n.sum(axis=0)
    if a.size == 1 or b.size == 1:
        return 0.0
    total = float(n.sum())
    i, j = np.nonzero(n)
    nij = n[i, j].astype(np.float64)
    outer = a[i].astype(np.float64) * b[j].astype(np.float64)
    terms = (nij / total) * (np.log(nij) + math.log(total) - np.log(outer))
    # Tiny terms are rounding noise around 0 (independent cells); dropping them keeps MI >= 0.
    terms = np.where(np.abs(terms) < _EPS, 0.0, terms)
    return float(max(terms.sum(), 0.0))


def mutual_info(labels_true, labels_pred) -> float:
    """Mutual information (nats) between two labelings of (N,) samples."""
    return _mi_from_contingency(contingency_matrix(labels_true, labels_pred))


_LOG_FACT = np.zeros(1)  # log(k!) for k = 0..len-1, grown on demand


def _log_factorial(upto: int) -> np.ndarray:
    """Table of log(k!) for k = 0..upto, from math.lgamma (1-ulp accurate, unlike a cumsum of logs)."""
    global _LOG_FACT
    if _LOG_FACT.size <= upto:
        size = max(upto + 1, 2 * _LOG_FACT.size)
        _LOG_FACT = np.array([math.lgamma(k + 1.0) for k in range(size)], dtype=np.float64)
    return _LOG_FACT


def expected_mutual_info(n: np.ndarray) -> float:
    """Expected mutual information of a contingency table under random permutation.

    n: (R, C) nonnegative integer contingency table. Vectorised over all (i, j, n_ij) triples;
    for a per-image table of ~150 pixels and ~4 groups that is a few thousand terms.
    """
    n = np.asarray(n, dtype=np.int64)
    a = n.sum(axis=1)
    b = n.sum(axis=0)
    if a.size == 1 or b.size == 1:
        return 0.0
    N = int(n.sum())
    lf = _log_factorial(N)
    A = a[:, None, None]
    B = b[None, :, None]
    nij = np.arange(1, int(min(a.max(), b.max())) + 1)[None, None, :]
    valid = (nij >= A + B - N) & (nij <= np.minimum(A, B))
    A, B, nij = np.broadcast_arrays(A, B, nij)
    A, B, nij = A[valid], B[valid], nij[valid]
    term1 = nij / N
    term2 = np.log(N) + np.log(nij) - np.log(A) - np.log(B)
    log_term3 = (lf[A] + lf[B] + lf[N - A] + lf[N - B]
                 - lf[N] - lf[nij] - lf[A - nij] - lf[B - nij] - lf[N - A - B + nij])
    return float(np.sum(term1 * term2 * np.exp(log_term3)))


def _generalized_mean(h_true: float, h_pred: float, method: str) -> float:
    if method == "max":
        return max(h_true, h_pred)
    if method == "arithmetic":
        return (h_true + h_pred) / 2.0
    if method == "geometric":
        return math.sqrt(h_true * h_pred)
    if method == "min":
        return min(h_true, h_pred)
    raise ValueError(f"unknown normaliser {method!r}; choose one of {NORMALIZERS}")


def _ami_from_contingency(n: np.ndarray, normalizers: tuple[str, ...]) -> list[float]:
    """AMI of one contingency table under each normaliser (the shared work -- MI, EMI, entropies --
    done once)."""
    R, C = n.shape
    if (R == C == 1) or (R == C == 0):
        return [1.0] * len(normalizers)
    if R == C and np.all(np.count_nonzero(n, axis=0) == 1) and np.all(np.count_nonzero(n, axis=1) == 1):
        # Same partition up to renaming: AMI is exactly 1. Computing it would give 0/0 when every
        # sample is its own cluster (MI = H = EMI = log N).
        return [1.0] * len(normalizers)
    mi = _mi_from_contingency(n)
    emi = expected_mutual_info(n)
    h_true = _entropy_from_counts(n.sum(axis=1))
    h_pred = _entropy_from_counts(n.sum(axis=0))
    out = []
    for normalizer in normalizers:
        denominator = _generalized_mean(h_true, h_pred, normalizer) - emi
        # Keep the sign but avoid dividing by an exact 0 (the normaliser can round to just below EMI).
        denominator = min(denominator, -_EPS) if denominator < 0 else max(denominator, _EPS)
        out.append(float((mi - emi) / denominator))
    return out


def adjusted_mutual_info(labels_true, labels_pred, normalizer: str = "max") -> float:
    """Adjusted mutual information of two labelings (N,), chance-corrected, 1.0 = identical.

    normalizer: "max" (the N-EM / RC papers' convention, sklearn <= 0.21), "arithmetic"
    (sklearn's default today), "geometric" or "min".
    Edge cases as in scikit-learn: both labelings a single cluster (or both empty) -> 1.0;
    exactly one side a single cluster -> 0.0.
    """
    _generalized_mean(0.0, 0.0, normalizer)  # validate the name before doing any work
    return _ami_from_contingency(contingency_matrix(labels_true, labels_pred), (normalizer,))[0]


def normalized_mutual_info(labels_true, labels_pred, normalizer: str = "arithmetic") -> float:
    """Normalised mutual information MI / norm(H_true, H_pred); sklearn's edge-case conventions."""
    _generalized_mean(0.0, 0.0, normalizer)
    n = contingency_matrix(labels_true, labels_pred)
    R, C = n.shape
    if (R == C == 1) or (R == C == 0):
        return 1.0
    mi = _mi_from_contingency(n)
    if mi == 0.0:
        return 0.0
    h_true = _entropy_from_counts(n.sum(axis=1))
    h_pred = _entropy_from_counts(n.sum(axis=0))
    return float(mi / _generalized_mean(h_true, h_pred, normalizer))


def adjusted_rand(labels_true, labels_pred) -> float:
    """Adjusted Rand index (Hubert & Arabie 1985) of two labelings (N,); 1.0 = identical.

    Computed from the pair-confusion counts in exact Python integers (no overflow).
    """
    n = contingency_matrix(labels_true, labels_pred)
    N = int(n.sum())
    sum_sq = int((n * n).sum())
    a = n.sum(axis=1)
    b = n.sum(axis=0)
    tp = sum_sq - N                      # pairs together in both
    fp = int((b * b).sum()) - sum_sq     # together in pred only  (sum_j b_j^2 counts ordered pairs)
    fn = int((a * a).sum()) - sum_sq     # together in true only
    tn = N * N - tp - fp - fn - N        # ordered pairs apart in both (excluding i == i)
    if fn == 0 and fp == 0:
        return 1.0
    return 2.0 * (tp * tn - fn * fp) / ((tp + fn) * (fn + tn) + (tp + fp) * (fp + tn))


_SCORES = {
    "ami": adjusted_mutual_info,
    "nmi": normalized_mutual_info,
}


def _checked_groups(true_groups, pred_groups) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(true_groups)
    p = np.asarray(pred_groups)
    if t.shape != p.shape:
        raise ValueError(f"true_groups {t.shape} and pred_groups {p.shape} must have the same shape")
    if t.ndim < 2:
        raise ValueError(f"expected a batch of images (B, ...), got shape {t.shape}")
    for name, a in (("true_groups", t), ("pred_groups", p)):
        # Float labels are accepted only when they are whole numbers: a NaN would otherwise be
        # scored silently as one more group.
        if a.dtype.kind == "f" and not (np.all(np.isfinite(a)) and np.all(a == np.round(a))):
            raise ValueError(f"{name} must be integer labels; got non-finite or fractional values")
        if a.dtype.kind not in "biuf":
            raise ValueError(f"{name} must be integer labels, got dtype {a.dtype}")
    return t, p


def grouping_score(true_groups, pred_groups, *, score: str = "ami", normalizer: str = "max",
                   mask=None) -> tuple[float, np.ndarray]:
    """Per-image grouping score, the N-EM / RC / Tagger evaluation convention.

    true_groups: (B, ...) int, 0 = background or overlap, 1..G = object id (as the dataset
        generators in ``common`` produce them).
    pred_groups: (B, ...) int, predicted slot per pixel (e.g. argmax of gamma over K at the last
        EM iteration).
    mask: optional (B, ...) bool, further pixels to exclude (False = excluded).
    score: "ami" (default), "nmi" or "ari"; normalizer: for ami / nmi ("max" = papers' AMI).

    Each image is scored over the pixels whose true label is an object (> 0), then images are
    averaged. An image with fewer than two scored pixels carries no grouping information (sklearn
    would call it a perfect 1.0); it gets NaN in ``per_image`` and is left out of the mean.
    Returns (mean over scored images, per_image: (B,) float64). mean is NaN if no image is scored.
    """
    t, p = _checked_groups(true_groups, pred_groups)
    if score == "ari":
        fn = adjusted_rand
    elif score in _SCORES:
        _generalized_mean(0.0, 0.0, normalizer)
        fn = lambda x, y: _SCORES[score](x, y, normalizer)  # noqa: E731
    else:
        raise ValueError(f"unknown score {score!r}; choose 'ami', 'nmi' or 'ari'")
    keep = t > 0
    if mask is not None:
        m = np.asarray(mask, dtype=bool)
        if m.shape != t.shape:
            raise ValueError(f"mask {m.shape} must match the labels' shape {t.shape}")
        keep &= m
    B = t.shape[0]
    t2, p2, k2 = t.reshape(B, -1), p.reshape(B, -1), keep.reshape(B, -1)
    per_image = np.full(B, np.nan)
    for i in range(B):
        if k2[i].sum() >= 2:
            per_image[i] = fn(t2[i][k2[i]], p2[i][k2[i]])
    scored = per_image[~np.isnan(per_image)]
    mean = float(scored.mean()) if scored.size else float("nan")
    return mean, per_image


def ami_scores(true_groups, pred_groups, normalizers=("max", "arithmetic")) -> dict[str, tuple[float, np.ndarray]]:
    """``grouping_score`` with score "ami" under several normalisers at the cost of one: each image's
    contingency table, MI, expected MI and entropies are computed once.
    Returns normaliser -> (mean over scored images, per_image (B,) float64), as grouping_score."""
    for nm in normalizers:
        _generalized_mean(0.0, 0.0, nm)
    t, p = _checked_groups(true_groups, pred_groups)
    B = t.shape[0]
    t2, p2 = t.reshape(B, -1), p.reshape(B, -1)
    keep = t2 > 0
    per = np.full((len(normalizers), B), np.nan)
    for i in range(B):
        if keep[i].sum() >= 2:
            per[:, i] = _ami_from_contingency(contingency_matrix(t2[i][keep[i]], p2[i][keep[i]]), tuple(normalizers))
    out = {}
    for j, nm in enumerate(normalizers):
        scored = per[j][~np.isnan(per[j])]
        out[nm] = (float(scored.mean()) if scored.size else float("nan"), per[j])
    return out
