"""Evaluation of a trained AIR on a split of images: counts (p(z_pres) thresholded at 0.5), boxes,
IoU, reconstruction error, and the ELBO; all on the posterior means (no sampling) except the ELBO.
The count baselines on the same test images are :func:`count_baselines`.

Inferred boxes are reported two ways: the attention WINDOW (the square the crop/render uses) and
the ink box of the step's rendered OBJECT (pixels > ``INK_LEVEL``), which is comparable to the
true tight ink box of a digit (a square window can never match a narrow '1').
"""

from __future__ import annotations

import itertools

import numpy as np

from air_multimnist.model import forward
from air_multimnist.objectives import elbo_enumerate
from air_multimnist.stn import window_box
from common.baselines import fit_ink_thresholds, predict_ink_count
from common.layers import sigmoid
from common.parallel import chunk_starts, map_chunks

__all__ = ["forward_chunks", "infer", "evaluate", "box_iou", "count_baselines", "INK_LEVEL"]

INK_LEVEL = 0.2


def forward_chunks(params: dict, images: np.ndarray, cfg, batch: int = 100) -> dict:
    """The deterministic forward pass (posterior means) on (N, C, C) images in chunks of ``batch``,
    in parallel with --threads > 1 (``common.parallel``): {"logit", "obj", "patch", "z_where"}."""
    def one(s: slice) -> dict:
        f, _ = forward(params, images[s].astype(params["lstm.Wx"].dtype), None, None, cfg, keep_cache=False)
        return {k: getattr(f, k) for k in ("logit", "obj", "patch", "z_where")}

    outs = map_chunks(one, chunk_starts(len(images), batch))
    return {k: np.concatenate([o[k] for o in outs]) for k in outs[0]}


def infer(params: dict, images: np.ndarray, cfg, batch: int = 100) -> dict:
    """Deterministic inference on (N, C, C) images, batched.

    Returns counts (N,), z_pres (N, T), p_pres (N, T), z_where (N, T, 3), window_boxes (N, T, 4),
    object_boxes (N, T, 4) (NaN where absent or empty), objects (N, T, C, C), patches (N, T, n, n),
    recon (N, C, C) = sum of the present objects.
    """
    f = forward_chunks(params, images, cfg, batch)
    p = sigmoid(f["logit"].astype(np.float64))
    z = np.cumprod(p > 0.5, axis=1).astype(np.float32)
    recon = np.einsum("nt,nthw->nhw", z, f["obj"])
    wb = window_box(f["z_where"].astype(np.float64), cfg.canvas)
    ob = np.full(wb.shape, np.nan)
    ink = f["obj"] > INK_LEVEL
    rows, cols = ink.any(3), ink.any(2)                         # (N, T, C)
    has = rows.any(2)
    C = cfg.canvas
    idx = np.arange(C)
    top = np.where(rows, idx, C).min(2)
    bot = np.where(rows, idx, -1).max(2)
    left = np.where(cols, idx, C).min(2)
    right = np.where(cols, idx, -1).max(2)
    ob[has] = np.stack([top, left, bot - top + 1, right - left + 1], -1)[has]
    wb[z == 0] = np.nan
    ob[z == 0] = np.nan
    return {"counts": z.sum(1).astype(np.int64), "z_pres": z, "p_pres": p, "z_where": f["z_where"],
            "window_boxes": wb, "object_boxes": ob, "objects": f["obj"], "patches": f["patch"],
            "recon": recon}


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of (top, left, h, w) boxes, broadcasting over leading dims."""
    t = np.maximum(a[..., 0], b[..., 0])
    l_ = np.maximum(a[..., 1], b[..., 1])
    bt = np.minimum(a[..., 0] + a[..., 2], b[..., 0] + b[..., 2])
    r = np.minimum(a[..., 1] + a[..., 3], b[..., 1] + b[..., 3])
    inter = np.clip(bt - t, 0, None) * np.clip(r - l_, 0, None)
    return inter / (a[..., 2] * a[..., 3] + b[..., 2] * b[..., 3] - inter)


def _matched_iou(pred: np.ndarray, true: np.ndarray) -> float:
    """Mean IoU under the best one-to-one matching of k predicted and k true boxes."""
    k = len(true)
    best = -1.0
    for perm in itertools.permutations(range(k)):
        v = float(np.mean([box_iou(pred[perm[j]], true[j]) for j in range(k)]))
        best = max(best, v if np.isfinite(v) else 0.0)
    return best


def evaluate(params: dict, scenes, cfg, *, elbo_seed: int | None = None) -> dict:
    """Count accuracy, per-count accuracy, confusion matrix, mean box IoU on correctly counted
    images (window and object boxes), share of images using all T steps, reconstruction MSE,
    and (if elbo_seed is given) the exact-over-counts ELBO per image with one z_where/z_what draw.
    scenes: a common.scenes.Scenes (images (N, C, C), counts (N,), boxes (N, >=T, 4))."""
    T = cfg.max_objects
    inf = infer(params, scenes.images, cfg)
    true = scenes.counts
    pred = inf["counts"]
    top = int(max(true.max(), T))
    conf = np.zeros((top + 1, T + 1), np.int64)
    np.add.at(conf, (true, pred), 1)
    ok = pred == true
    ious_w, ious_o = [], []
    for i in np.where(ok & (true > 0))[0]:
        k = true[i]
        tb = scenes.boxes[i, :k].astype(np.float64)
        ious_w.append(_matched_iou(inf["window_boxes"][i, :k], tb))
        ious_o.append(_matched_iou(inf["object_boxes"][i, :k], tb))
    out = {
        "count_accuracy": float(ok.mean()),
        "per_count_accuracy": {int(c): float(ok[true == c].mean()) for c in np.unique(true)},
        "confusion": conf.tolist(),
        "share_all_steps": float(np.mean(pred == T)),
        "iou_object": float(np.mean(ious_o)) if ious_o else float("nan"),
        "iou_window": float(np.mean(ious_w)) if ious_w else float("nan"),
        "recon_mse": float(np.mean((inf["recon"] - scenes.images) ** 2)),
        "n_images": int(len(true)),
    }
    if elbo_seed is not None:
        r = np.random.default_rng(elbo_seed)
        dt = params["lstm.Wx"].dtype
        vals = []
        for i in range(0, len(true), 500):
            x = scenes.images[i:i + 500].astype(dt)
            ew = r.standard_normal((len(x), T, 3), dtype=np.float32).astype(dt)
            eq = r.standard_normal((len(x), T, cfg.z_what), dtype=np.float32).astype(dt)
            f, _ = forward(params, x, ew, eq, cfg, keep_cache=False)
            vals.append(elbo_enumerate(x, f.logit, f.kl, f.obj, cfg.sigma, cfg.count_k)[0])
        out["elbo"] = float(np.mean(np.concatenate(vals)))
    return out


def count_baselines(fit, test) -> dict:
    """Non-learned count baselines on the ``test`` images (Scenes), fit on the ``fit`` Scenes:
    ink-sum thresholds (common.baselines) and always predicting the most frequent count."""
    classes, th = fit_ink_thresholds(fit.images, fit.counts)
    pred = predict_ink_count(test.images, classes, th)
    maj = int(np.bincount(fit.counts).argmax())
    return {"ink_thresholds": {"count_accuracy": float(np.mean(pred == test.counts)),
                               "thresholds": th.tolist(), "fit_images": int(len(fit.counts)),
                               "per_count_accuracy": {int(c): float(np.mean(pred[test.counts == c] == c))
                                                      for c in np.unique(test.counts)}},
            "majority_count": {"count_accuracy": float(np.mean(test.counts == maj)), "predicts": maj}}
