"""Metrics of a trained N-EM / RNN-EM on a split, and the non-learned baselines on the same images.

Scoring convention (docs/reference.md): AMI between the true shape labels and the argmax slot,
over the foreground pixels that belong to exactly one shape (background and overlap are not
scored), per image, then averaged over images. ``ami_max`` uses the max normaliser (the paper's),
``ami_arithmetic`` the arithmetic one. Per-iteration series have T + 1 entries: index 0 scores
the initial assignment gamma_0, index t the assignment after EM iteration t.
"""

from __future__ import annotations

import numpy as np

from common.baselines import ami_pair, grouping_baselines, kmeans_coords
from common.metrics import grouping_score
from common.seeding import initial_gamma
from neural_em_shapes.config import NEMConfig
from neural_em_shapes.data import generalisation_sets
from neural_em_shapes.model import loss_weights, run_em

__all__ = ["evaluate", "baselines", "generalisation"]


def evaluate(params: dict, cfg: NEMConfig, images: np.ndarray, labels: np.ndarray,
             rng: np.random.Generator, *, per_iteration: bool = False) -> dict:
    """Loss and AMI of EM on (N, 28, 28) images after the last iteration (and per iteration).

    rng draws the input noise and gamma_0 (``run_em``). Returns {"loss", "loss_last_iteration",
    "ami_max", "ami_arithmetic", "ami_per_image"} and, with per_iteration,
    "ami_max_per_iteration": T + 1 values, index 0 = gamma_0.
    """
    N = len(images)
    trace = run_em(cfg.model, params, images.reshape(N, -1), K=cfg.K, iterations=cfg.iterations,
                   noise=cfg.noise, rng=rng, gamma_init=cfg.gamma_init, keep_all=per_iteration,
                   inter_weight=cfg.inter_weight, restarts=cfg.restarts)
    loss = float(np.dot(loss_weights(cfg), trace.loss))
    lab = labels.reshape(N, -1)
    pred = trace.groups(-1)
    ami, per = grouping_score(lab, pred, normalizer="max")
    out = {"loss": loss, "loss_last_iteration": float(trace.loss[-1]), "ami_max": ami,
           "ami_arithmetic": grouping_score(lab, pred, normalizer="arithmetic")[0],
           "ami_per_image": per}
    if per_iteration:
        out["ami_max_per_iteration"] = [grouping_score(lab, trace.gamma0.argmax(axis=1))[0]] + \
            [grouping_score(lab, trace.groups(t))[0] for t in range(cfg.iterations)]
    return out


def baselines(images: np.ndarray, labels: np.ndarray, K: int, rng: np.random.Generator) -> dict:
    """Non-learned groupings of the same images, name -> {"ami_max", "ami_arithmetic"}.

    The shared ones (``common.baselines.grouping_baselines``, k-means with 3 clusters = the
    number of shapes), then ``ink_seeds_K{K}``: the k-means++ ink seeding of gamma_0 on its own
    (each pixel to its nearest seed), i.e. where EM starts with --gamma-init ink, without the model.
    rng draws k-means, the random labels, then the seeds.
    """
    out = grouping_baselines(images, labels, K, rng, kmeans_k=3)
    n = len(images)
    seeds = initial_gamma(n, K, images[0].size, rng, kind="ink", x=images.reshape(n, -1))
    out[f"ink_seeds_K{K}"] = ami_pair(labels, seeds.argmax(axis=1).reshape(images.shape))
    return out


def generalisation(cfg: NEMConfig, params: dict, n_images: int, seed: int) -> list[dict]:
    """The trained model on images with 2..5 shapes (K = number of shapes) and K=4 on 3 shapes,
    beside k-means on coordinates (k = number of shapes) on the same images."""
    rows = []
    for n_shapes, K, d, rng in generalisation_sets(n_images, seed):
        tr = run_em(cfg.model, params, d.images, K=K, iterations=cfg.iterations, noise=cfg.noise,
                    rng=rng, gamma_init=cfg.gamma_init, keep_all=False, restarts=cfg.restarts)
        km = kmeans_coords(d.images, n_shapes, rng)
        rows.append({"shapes": n_shapes, "K": K,
                     "ami_max": grouping_score(d.labels.reshape(n_images, -1), tr.groups(-1))[0],
                     "kmeans_coords_ami_max": grouping_score(d.labels, km)[0]})
    return rows
