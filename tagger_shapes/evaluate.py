"""Metrics of a trained Tagger on a split, and the non-learned baselines on the same images.

Scoring convention (docs/reference.md): AMI between the true shape labels and the group of
largest mask, argmax_k m_k, over the pixels that belong to exactly one shape (background and
overlap are not scored), per image, then averaged. As in the thesis (Sec. 6.2.2) the grouping is
evaluated on the clean (uncorrupted) input, with ``eval_iterations`` iterations; the denoising
cost per iteration (thesis Table 6.1a) is the training objective on bit-flipped input.
``ami_max`` uses the max normaliser (the paper's), ``ami_arithmetic`` the arithmetic one.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from common.baselines import grouping_baselines
from common.metrics import grouping_score
from common.mixture import slot_argmax

from .data import generalisation_sets
from .model import corrupt, initial_state, run_iterations

__all__ = ["CHUNK", "Groupings", "run_groupings", "evaluate", "baselines", "generalisation"]

CHUNK = 250          # images per forward pass: bounds the memory of K x iterations masks


class Groupings(NamedTuple):
    groups: np.ndarray   # (T + 1, N, D) int8: argmax_k m_k after each iteration (0 = the random init)
    cost: np.ndarray     # (T,) mean denoising cost per iteration (nan when not computed)
    m: np.ndarray | None   # (T + 1, N, K, D) float16 masks, with keep_arrays
    mu: np.ndarray | None  # (T + 1, N, K, D) float16 means, with keep_arrays


def run_groupings(params: dict, cfg, images: np.ndarray, rng: np.random.Generator, *, K: int | None = None,
                  iterations: int | None = None, corrupted: bool = False, keep_arrays: bool = False) -> Groupings:
    """Run Tagger on (N, 20, 20) images in chunks. rng draws the initial masks (and the bit flips
    when ``corrupted``). K, iterations: default the config's K and eval_iterations."""
    K = K or cfg.K
    T = iterations or cfg.eval_iterations
    L = len(cfg.sizes) - 1
    N = len(images)
    x = images.reshape(N, -1).astype(np.float32)
    D = x.shape[1]
    groups = np.empty((T + 1, N, D), np.int8)
    ms = np.empty((T + 1, N, K, D), np.float16) if keep_arrays else None
    mus = np.empty((T + 1, N, K, D), np.float16) if keep_arrays else None
    cost = np.zeros(T)
    for a in range(0, N, CHUNK):
        xb = x[a:a + CHUNK]
        xin = corrupt(xb, cfg.beta, rng) if corrupted else xb
        state0 = initial_state(len(xb), K, D, cfg.mu_init, rng, kind=cfg.mask_init, x=xb, width=cfg.mask_width)
        tr = run_iterations(params, L, cfg.beta, xin, state0, T, x=xb, residual=cfg.residual)
        for t in range(T + 1):
            groups[t, a:a + CHUNK] = slot_argmax(tr.m[t], axis=1)
        cost += tr.cost * len(xb)
        if keep_arrays:
            ms[:, a:a + CHUNK] = tr.m
            mus[:, a:a + CHUNK] = tr.mu
    return Groupings(groups, cost / N, ms, mus)


def evaluate(params: dict, cfg, images: np.ndarray, labels: np.ndarray, rng: np.random.Generator, *,
             per_iteration: bool = False, K: int | None = None, with_cost: bool = True) -> dict:
    """AMI of the grouping after the last iteration on the clean images, and the denoising cost.

    Returns {"ami_max", "ami_arithmetic", "ami_per_image", "cost"} and, with per_iteration,
    "ami_max_per_iteration" / "ami_arithmetic_per_iteration" (T + 1 values: index 0 = the initial
    masks, index t = after iteration t; the catalog's convention) and "cost_per_iteration" (T
    values, iterations 1..T). rng draws the initial masks, then the corruption of the cost pass.
    """
    N = len(images)
    lab = labels.reshape(N, -1)
    g = run_groupings(params, cfg, images, rng, K=K)
    ami, per = grouping_score(lab, g.groups[-1], normalizer="max")
    out = {"ami_max": ami, "ami_arithmetic": grouping_score(lab, g.groups[-1], normalizer="arithmetic")[0],
           "ami_per_image": per}
    if with_cost:
        c = run_groupings(params, cfg, images, rng, K=K, corrupted=True).cost
        out["cost"] = float(c[-1])
        if per_iteration:
            out["cost_per_iteration"] = [float(v) for v in c]
    if per_iteration:
        T = g.groups.shape[0] - 1
        out["ami_max_per_iteration"] = [grouping_score(lab, g.groups[t])[0] for t in range(T + 1)]
        out["ami_arithmetic_per_iteration"] = [grouping_score(lab, g.groups[t], normalizer="arithmetic")[0]
                                               for t in range(T + 1)]
    return out


def baselines(images: np.ndarray, labels: np.ndarray, K: int, rng: np.random.Generator, shapes: int = 3) -> dict:
    """Non-learned groupings of the same images (``common.baselines.grouping_baselines``): k-means
    on foreground coordinates with k = the number of shapes, connected components, random groups."""
    return grouping_baselines(images, labels, K, rng, kmeans_k=shapes)


def generalisation(cfg, params: dict, n_images: int, seed: int) -> list[dict]:
    """The trained model on other numbers of shapes and groups (thesis Fig. 6.3: a 4-group model
    on 2 and 4 shapes, 2 groups on 3 shapes), beside k-means on coordinates (k = shapes)."""
    from common.baselines import kmeans_coords
    rows = []
    for n_shapes, K, d, rng in generalisation_sets(n_images, seed):
        g = run_groupings(params, cfg, d.images, rng, K=K)
        km = kmeans_coords(d.images, n_shapes, rng)
        rows.append({"shapes": n_shapes, "K": K,
                     "ami_max": grouping_score(d.labels.reshape(n_images, -1), g.groups[-1])[0],
                     "kmeans_coords_ami_max": grouping_score(d.labels, km)[0]})
    return rows
