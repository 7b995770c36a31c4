"""Scoring Reconstruction Clustering: RC on a split with a trained DAE, the choice of RC's
inference (gamma_0, restarts) on validation, the baselines on the same images, the novel-object
scenes of thesis Fig. 4.14. Shared by the CLI, the search and the inference API."""

from __future__ import annotations

import numpy as np

from common.baselines import grouping_baselines
from common.metrics import grouping_score

from .data import novel_object_scenes
from .model import RCTrace, run_rc

__all__ = ["THESIS_INFERENCE", "INFERENCE_GRID", "rc_scores", "evaluate", "select_inference", "confidence",
           "baselines", "pick_examples", "novel_objects_trace"]

# RC inference settings searched on validation (beyond the thesis): gamma_0 random (thesis) or a
# soft Voronoi partition around k-means++ seeds on the ink, of width width_frac * image side;
# one run or the most likely of 4 restarts per image. The thesis's procedure comes first, so a
# tie keeps it.
THESIS_INFERENCE = {"init": "random", "width_frac": 0.0, "restarts": 1}
INFERENCE_GRID = [THESIS_INFERENCE, {"init": "random", "width_frac": 0.0, "restarts": 4}] + [
    {"init": "ink", "width_frac": f, "restarts": r} for f in (0.125, 0.25, 0.5) for r in (1, 4)]


def rc_scores(trace: RCTrace, labels: np.ndarray) -> dict:
    """AMI (max and arithmetic) of the last iteration, per image, and AMI(max) per iteration
    (``iterations + 1`` values, index 0 = gamma_0).

    labels: (n, H, W) or (n, D) int, 0 = background / overlap (excluded).
    """
    true = np.asarray(labels).reshape(len(labels), -1)
    last = trace.pred[-1]
    mean_max, per_max = grouping_score(true, last, normalizer="max")
    mean_ar, per_ar = grouping_score(true, last, normalizer="arithmetic")
    per_iter = [grouping_score(true, p, normalizer="max")[0] for p in trace.pred]
    return {"ami_max": mean_max, "ami_arithmetic": mean_ar, "per_image_max": per_max,
            "per_image_arithmetic": per_ar, "ami_max_per_iteration": per_iter,
            "loglik_per_iteration_mean": trace.loglik.mean(axis=1).tolist(),
            "loglik_per_iteration_std": trace.loglik.std(axis=1).tolist()}


def evaluate(params: dict, activation: str, images: np.ndarray, labels: np.ndarray, *, K: int,
             iterations: int, e_step_kind: str, rng: np.random.Generator, keep: int = 0,
             inference: dict | None = None) -> tuple[dict, RCTrace]:
    """RC on (n, H, W) images with the given DAE; returns (scores dict, trace).

    inference: {"init", "width_frac", "restarts"} (see ``INFERENCE_GRID``); None = the thesis's
    procedure (random gamma_0, one run).
    """
    inf = THESIS_INFERENCE if inference is None else inference
    trace = run_rc(images, params, activation, K=K, iterations=iterations, rng=rng,
                   e_step_kind=e_step_kind, keep=keep, init=inf["init"], width_frac=inf["width_frac"],
                   restarts=inf["restarts"])
    return rc_scores(trace, labels), trace


def select_inference(params: dict, activation: str, images: np.ndarray, labels: np.ndarray, *,
                     K: int, iterations: int, e_step_kind: str, seed_seq) -> tuple[dict, list[dict]]:
    """The ``INFERENCE_GRID`` entry with the best AMI(max) on the given (validation) images.

    Every entry sees the same random streams (seed_seq). Returns (best entry, table of all).
    """
    table = []
    for inf in INFERENCE_GRID:
        s, _ = evaluate(params, activation, images, labels, K=K, iterations=iterations,
                        e_step_kind=e_step_kind, rng=np.random.default_rng(seed_seq), inference=inf)
        table.append({**inf, "valid_ami_max": s["ami_max"]})
    best = max(range(len(table)), key=lambda i: (table[i]["valid_ami_max"], -i))
    return dict(INFERENCE_GRID[best]), table


def confidence(gamma: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Thesis Fig. 4.8: mean over evaluated pixels of max_k gamma, per image. gamma: (n, K, D)."""
    m = labels.reshape(len(labels), -1) > 0
    g = gamma.max(axis=1)
    return np.where(m.any(1), (g * m).sum(1) / np.maximum(m.sum(1), 1), np.nan)


def baselines(images: np.ndarray, labels: np.ndarray, K: int, seed: int) -> dict:
    """k-means on coordinates, connected components and random labels on the same test images."""
    return grouping_baselines(images, labels, K, np.random.default_rng(np.random.SeedSequence([seed, 2])))


def pick_examples(scores: np.ndarray, n: int = 6) -> np.ndarray:
    """Indices of n images spanning the score range (best to worst), NaN scores skipped: the
    examples of thesis Figs. 4.8-4.10, chosen among ALL test images."""
    ok = np.flatnonzero(np.isfinite(scores))
    if ok.size == 0:
        return np.arange(min(n, scores.size))
    order = ok[np.argsort(-scores[ok], kind="stable")]
    return order[np.unique(np.round(np.linspace(0, order.size - 1, min(n, order.size))).astype(int))]


def novel_objects_trace(params: dict, activation: str, *, e_step_kind: str, inference: dict | None,
                        seed: int = 0, n: int = 6, iterations: int = 10) -> dict[str, np.ndarray]:
    """RC with a (multi-MNIST) DAE on n scenes of objects it never saw (letters, rings): thesis
    Fig. 4.14. Returns the arrays ``viz.novel_objects_figure`` draws: images (n, 48, 48) uint8,
    labels (n, 48, 48) int16, preds (T+1, n, 48, 48) int8 (index 0 = gamma_0), ami_max (n,), K."""
    scenes = novel_object_scenes(n, np.random.default_rng(seed), canvas=(48, 48))
    labels = np.asarray(scenes.labels)
    K = int(labels.reshape(n, -1).max(1).max())
    scores, tr = evaluate(params, activation, scenes.images, labels, K=K, iterations=iterations,
                          e_step_kind=e_step_kind, rng=np.random.default_rng(seed), inference=inference)
    return {"images": (scenes.images > 0.5).astype(np.uint8), "labels": labels.astype(np.int16),
            "preds": tr.pred.reshape((iterations + 1,) + scenes.images.shape).astype(np.int8),
            "ami_max": np.asarray(scores["per_image_max"], np.float64), "K": np.int64(K)}
