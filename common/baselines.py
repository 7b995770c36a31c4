"""Non-learned grouping baselines, scored with the same convention as the models.

A binding model is only interesting if it beats these on the same test images:
- k-means on the (row, col) coordinates of the foreground pixels (spatial proximity alone),
- connected components of the foreground (touching pixels belong together),
- uniformly random slot labels (chance; AMI ~ 0).

All take binary images (B, H, W) and return predicted groups (B, H, W) int64 with 0 on the
background and 1..G on foreground pixels, ready for ``common.metrics.grouping_score``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["kmeans_coords", "connected_components", "random_labels", "fit_ink_thresholds", "predict_ink_count",
           "ami_pair", "grouping_baselines"]


def _check_images(images) -> np.ndarray:
    x = np.asarray(images)
    if x.ndim != 3:
        raise ValueError(f"expected binary images of shape (B, H, W), got {x.shape}")
    return x > 0.5


def _check_k(k) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"number of groups k must be a positive integer, got {k!r}")
    return int(k)


def _sq_dist(pts: np.ndarray, C: np.ndarray) -> np.ndarray:
    """Squared distances (B, P, k) between points (B, P, 2) and centres (B, k, 2)."""
    dy = pts[:, :, 0, None] - C[:, None, :, 0]
    dx = pts[:, :, 1, None] - C[:, None, :, 1]
    return dy * dy + dx * dx


def kmeans_coords(images, k: int, rng: np.random.Generator, *, n_init: int = 10,
                  iters: int = 50) -> np.ndarray:
    """k-means (k-means++ init, Lloyd iterations, best of ``n_init`` by inertia) on the pixel
    coordinates of each image's foreground, vectorised over the batch.

    images: (B, H, W) binary. Returns (B, H, W) int64 labels, 0 = background, 1..k = cluster.
    Images with fewer foreground pixels than k simply leave some clusters empty.
    """
    fg = _check_images(images)
    k = _check_k(k)
    B, H, W = fg.shape
    P = int(fg.reshape(B, -1).sum(1).max()) if B else 0
    out = np.zeros((B, H, W), dtype=np.int64)
    if P == 0:
        return out
    # Padded per-image point lists: pts (B, P, 2), valid (B, P).
    order = np.argsort(~fg.reshape(B, -1), axis=1, kind="stable")[:, :P]
    valid = np.take_along_axis(fg.reshape(B, -1), order, axis=1)
    pts = np.stack([order // W, order % W], axis=-1).astype(np.float64)
    n_valid = valid.sum(1)
    best_inertia = np.full(B, np.inf)
    best_assign = np.zeros((B, P), dtype=np.int64)
    bi = np.arange(B)
    for _ in range(n_init):
        # k-means++: first centre uniform over valid points, next ones with prob ~ D(x)^2.
        first = np.floor(rng.random(B) * np.maximum(n_valid, 1)).astype(np.int64)
        centres = [pts[bi, first]]
        d2 = np.where(valid, _sq_dist(pts, centres[0][:, None])[..., 0], 0.0)
        for _c in range(1, k):
            cum = np.cumsum(d2, axis=1)
            total = cum[:, -1]
            u = rng.random(B) * total
            idx = np.minimum((cum < u[:, None]).sum(1), P - 1)
            # An image whose points all coincide with centres (total 0) repeats its first centre.
            idx = np.where(total > 0, idx, first)
            centres.append(pts[bi, idx])
            d2 = np.minimum(d2, np.where(valid, _sq_dist(pts, centres[-1][:, None])[..., 0], 0.0))
        C = np.stack(centres, axis=1)                                   # (B, k, 2)
        for _it in range(iters):
            assign = _sq_dist(pts, C).argmin(-1)                        # (B, P)
            onehot = ((assign[..., None] == np.arange(k)) & valid[..., None]).astype(np.float64)
            counts = onehot.sum(1)                                      # (B, k)
            sums = np.matmul(onehot.transpose(0, 2, 1), pts)            # (B, k, 2)
            newC = np.where(counts[..., None] > 0, sums / np.maximum(counts, 1)[..., None], C)
            if np.array_equal(newC, C):
                break
            C = newC
        dist = _sq_dist(pts, C)
        assign = dist.argmin(-1)
        inertia = np.where(valid, dist.min(-1), 0.0).sum(1)
        better = inertia < best_inertia
        best_inertia = np.where(better, inertia, best_inertia)
        best_assign[better] = assign[better]
    rows, cols = (order // W), (order % W)
    b_idx = np.broadcast_to(bi[:, None], (B, P))
    out[b_idx[valid], rows[valid], cols[valid]] = best_assign[valid] + 1
    return out


def connected_components(images, connectivity: int = 8) -> np.ndarray:
    """Connected components of the foreground, by min-label propagation vectorised over the batch.

    images: (B, H, W) binary; connectivity 4 or 8. Returns (B, H, W) int64, 0 = background,
    components numbered 1.. in raster order of their first pixel.
    """
    fg = _check_images(images)
    if connectivity not in (4, 8):
        raise ValueError(f"connectivity must be 4 or 8, got {connectivity!r}")
    B, H, W = fg.shape
    big = H * W + 1
    lab = np.where(fg, np.arange(1, H * W + 1).reshape(1, H, W), big)
    shifts = [(-1, 0), (1, 0), (0, -1), (0, 1)]
    if connectivity == 8:
        shifts += [(-1, -1), (-1, 1), (1, -1), (1, 1)]
    while True:
        padded = np.pad(lab, ((0, 0), (1, 1), (1, 1)), constant_values=big)
        new = lab.copy()
        for dy, dx in shifts:
            np.minimum(new, padded[:, 1 + dy:1 + dy + H, 1 + dx:1 + dx + W], out=new)
        new = np.where(fg, new, big)
        if np.array_equal(new, lab):
            break
        lab = new
    out = np.zeros((B, H, W), dtype=np.int64)
    for b in range(B):  # renumber 1..n per image (a cheap pass over a few labels)
        roots, inv = np.unique(lab[b][fg[b]], return_inverse=True)
        out[b][fg[b]] = inv.ravel() + 1
    return out


def random_labels(images, k: int, rng: np.random.Generator) -> np.ndarray:
    """Uniformly random group 1..k for each foreground pixel (chance level). (B, H, W) int64."""
    fg = _check_images(images)
    k = _check_k(k)
    return np.where(fg, rng.integers(1, k + 1, size=fg.shape), 0).astype(np.int64)


def fit_ink_thresholds(images, counts) -> tuple[np.ndarray, np.ndarray]:
    """Fit an ink-count classifier on TRAINING scenes: total ink sum(pixels) per image, and one
    threshold between each pair of consecutive counts, chosen to maximise training accuracy of
    that pair (the non-learned count baseline of AIR, docs/reference.md).

    images: (N, H, W) floats; counts: (N,) ints. Returns (classes (K,) sorted, thresholds (K-1,)).
    """
    ink = np.asarray(images, dtype=np.float64).reshape(len(images), -1).sum(1)
    counts = np.asarray(counts)
    classes = np.unique(counts)
    th = []
    for a, b in zip(classes[:-1], classes[1:]):
        va, vb = np.sort(ink[counts == a]), np.sort(ink[counts == b])
        cand = np.unique(np.concatenate([va, vb]))
        cand = np.concatenate([[cand[0] - 1], (cand[:-1] + cand[1:]) / 2, [cand[-1] + 1]])
        correct = np.searchsorted(va, cand, side="right") + (len(vb) - np.searchsorted(vb, cand, side="right"))
        th.append(cand[int(np.argmax(correct))])
    return classes, np.maximum.accumulate(np.asarray(th, dtype=np.float64))


def predict_ink_count(images, classes: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Count predicted from total ink with thresholds from :func:`fit_ink_thresholds`. (N,) int64."""
    ink = np.asarray(images, dtype=np.float64).reshape(len(images), -1).sum(1)
    return np.asarray(classes)[np.searchsorted(thresholds, ink, side="right")].astype(np.int64)


def ami_pair(labels, pred) -> dict[str, float]:
    """{"ami_max", "ami_arithmetic"}: the grouping score of ``pred`` against ``labels`` with both
    normalisers (common.metrics.grouping_score), the form every baseline takes in run.json."""
    from common.metrics import grouping_score
    return {"ami_max": grouping_score(labels, pred)[0],
            "ami_arithmetic": grouping_score(labels, pred, normalizer="arithmetic")[0]}


def grouping_baselines(images, labels, K: int, rng: np.random.Generator, *,
                       kmeans_k: int | None = None) -> dict[str, dict[str, float]]:
    """The non-learned groupings every grouping paper reports beside its model, on the same images.

    images: (N, H, W) binary; labels: (N, H, W) true groups (0 = background or overlap).
    K: slots of the model (random labels use K); kmeans_k: clusters for k-means (default K).
    rng draws k-means first, then the random labels. Returns name -> ami_pair(...):
    ``kmeans_coords_K{k}``, ``connected_components_8``, ``random_K{K}``.
    """
    k = K if kmeans_k is None else kmeans_k
    km = kmeans_coords(images, k, rng)
    cc = connected_components(images, 8)
    rnd = random_labels(images, K, rng)
    return {f"kmeans_coords_K{k}": ami_pair(labels, km), "connected_components_8": ami_pair(labels, cc),
            f"random_K{K}": ami_pair(labels, rnd)}


def main(argv=None) -> int:
    """``python -m common.baselines``: the baselines' AMI on freshly generated static shapes."""
    import argparse

    from common.cli import nonneg_int, positive_int
    from common.metrics import grouping_score
    from common.shapes import make_shapes
    from common.threads import set_blas_threads

    p = argparse.ArgumentParser(prog="python -m common.baselines",
                                description="Non-learned grouping baselines on static shapes (28x28, 3 shapes).")
    p.add_argument("--n", type=positive_int, default=1000, help="number of images (default 1000)")
    p.add_argument("--seed", type=nonneg_int, default=0, help="data and k-means seed (default 0)")
    args = p.parse_args(argv)
    set_blas_threads(1)
    data = make_shapes(args.n, np.random.default_rng(args.seed))
    rng = np.random.default_rng(args.seed + 1)
    preds = {
        "k-means (K=3) on foreground coordinates": kmeans_coords(data.images, 3, rng),
        "connected components (8-connected)": connected_components(data.images, 8),
        "connected components (4-connected)": connected_components(data.images, 4),
        "random labels (K=3)": random_labels(data.images, 3, rng),
    }
    print(f"static shapes, {args.n} images, seed {args.seed}: AMI over non-overlapping foreground pixels")
    print(f"{'baseline':<42} {'AMI(max)':>9} {'median':>7} {'AMI(arith)':>10}")
    for name, pred in preds.items():
        m, per = grouping_score(data.labels, pred, normalizer="max")
        a, _ = grouping_score(data.labels, pred, normalizer="arithmetic")
        print(f"{name:<42} {m:>9.3f} {np.nanmedian(per):>7.3f} {a:>10.3f}")
    return 0


if __name__ == "__main__":
    import sys
    sys.exit(main())
