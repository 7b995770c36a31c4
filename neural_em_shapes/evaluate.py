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
from common.metrics import ami_scores, grouping_score
from common.seeding import initial_gamma
from common.shapes import make_shapes
from neural_em_shapes.config import NEMConfig
from neural_em_shapes.data import flying_generalisation_sets, generalisation_sets
from neural_em_shapes.model import loss_weights, run_em, run_sequence_em

__all__ = ["evaluate", "evaluate_sequences", "baselines", "sequence_baselines", "generalisation",
           "flying_generalisation", "static_transfer"]

# Flying shapes generalisation rows score k-means on these frames only (k-means costs ~4 ms a frame).
KMEANS_FRAMES = (5, 10, 15, 20)


def evaluate(params: dict, cfg: NEMConfig, images: np.ndarray, labels: np.ndarray,
             rng: np.random.Generator, *, per_iteration: bool = False) -> dict:
    """Loss and AMI of EM on (N, 28, 28) images after the last iteration (and per iteration).

    rng draws the input noise and gamma_0 (``run_em``). Returns {"loss", "loss_last_iteration",
    "ami_max", "ami_arithmetic", "ami_per_image"} and, with per_iteration,
    "ami_max_per_iteration": T + 1 values, index 0 = gamma_0.
    Flying shapes (cfg.dataset "flying"): images and labels are (N, T + 1, 28, 28) sequences and
    ``evaluate_sequences`` scores them.
    """
    if cfg.dataset == "flying":
        return evaluate_sequences(params, cfg, images, labels, rng, K=cfg.K)
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


def frame_scores(labels: np.ndarray, pred: np.ndarray, normalizers=("max",)) -> dict[str, np.ndarray]:
    """AMI per frame: labels (N, F, ...) and pred (N, F, ...) -> normaliser -> (F,) each frame's AMI
    averaged over the N sequences (non-background, non-overlap pixels only, ``common.metrics``)."""
    N, F = labels.shape[:2]
    scores = ami_scores(labels.reshape(N * F, -1), pred.reshape(N * F, -1), normalizers)
    return {nm: per.reshape(N, F).mean(axis=0) for nm, (_, per) in scores.items()}


def evaluate_sequences(params: dict, cfg: NEMConfig, frames: np.ndarray, labels: np.ndarray,
                       rng: np.random.Generator, *, K: int) -> dict:
    """Flying shapes, scored as the authors' code does (docs/reference.md): at each of the T steps the
    argmax slot of gamma_t against the groups of the frame it predicts (t + 1), AMI per frame and
    sequence over non-background, non-overlap pixels; then averaged over sequences.

    frames, labels: (N, T + 1, 28, 28). Returns {"ami_max": mean over the T frames (the authors'
    sequence score), "ami_max_last_frame" (their "last AMI"), the same two with the arithmetic
    normaliser, "ami_max_per_iteration": T + 1 values (index 0 = gamma_0 against frame 1), "loss"
    (mean over steps, as trained), "loss_last_iteration"}.
    """
    N, F = frames.shape[:2]
    tr = run_sequence_em(cfg.model, params, frames, K=K, noise=cfg.noise, rng=rng, gamma_init=cfg.gamma_init,
                         inter_weight=cfg.inter_weight)
    pred = tr.gamma.argmax(axis=2).transpose(1, 0, 2)                # (N, T, D): groups of frames 1..T
    lab = labels[:, 1:]
    sc = frame_scores(lab, pred, ("max", "arithmetic"))
    per_max, per_ari = sc["max"], sc["arithmetic"]
    g0 = frame_scores(lab[:, :1], tr.gamma0.argmax(axis=1)[:, None])["max"][0]
    return {"loss": float(np.mean(tr.loss)), "loss_last_iteration": float(tr.loss[-1]),
            "ami_max": float(per_max.mean()), "ami_max_last_frame": float(per_max[-1]),
            "ami_arithmetic": float(per_ari.mean()), "ami_arithmetic_last_frame": float(per_ari[-1]),
            "ami_max_per_iteration": [float(g0)] + per_max.tolist()}


def sequence_baselines(frames: np.ndarray, labels: np.ndarray, K: int, shapes: int, rng: np.random.Generator) -> dict:
    """Non-learned groupings of every scored frame (1..T) of the same sequences, averaged over frames
    like the model: name -> {"ami_max", "ami_arithmetic"} (k-means with k = the number of shapes,
    connected components, random labels with K groups)."""
    shape = (-1, *frames.shape[2:])
    return grouping_baselines(frames[:, 1:].reshape(shape).astype(np.float32), labels[:, 1:].reshape(shape), K, rng,
                              kmeans_k=shapes)


def flying_generalisation(cfg: NEMConfig, params: dict, n_sequences: int, seed: int) -> list[dict]:
    """Table 5.3's cells: the trained sequential model on 3 and on 5 flying shapes with K = 3 and 5
    (``data.FLYING_GENERALISATION``), mean-over-frames and last-frame AMI, beside k-means on
    coordinates (k = shapes) on frames ``KMEANS_FRAMES`` of the same sequences."""
    rows = []
    for n_shapes, K, d, rng in flying_generalisation_sets(n_sequences, cfg.iterations + 1, seed):
        ev = evaluate_sequences(params, cfg, d.images, d.labels, rng, K=K)
        idx = [f for f in KMEANS_FRAMES if f < d.frames]
        km = kmeans_coords(d.images[:, idx].reshape(-1, *d.images.shape[2:]).astype(np.float32), n_shapes, rng)
        rows.append({"shapes": n_shapes, "K": K, "ami_max": ev["ami_max"], "ami_max_last_frame": ev["ami_max_last_frame"],
                     "kmeans_coords_ami_max": grouping_score(d.labels[:, idx].reshape(km.shape), km)[0]})
    return rows


def static_transfer(cfg: NEMConfig, params: dict, n_images: int, seed: int, *, iterations: int = 50) -> dict:
    """The trained sequential model on static shapes: each static test image (3 shapes, the static
    experiment's generator) held still for ``iterations`` + 1 frames (one EM iteration per frame); AMI(max) at the last frame and per
    frame, beside k-means on coordinates (k = 3)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 17]))
    d = make_shapes(n_images, rng, n_shapes=3)
    seq = np.repeat(d.images[:, None], iterations + 1, axis=1)
    lab = np.repeat(d.labels[:, None], iterations + 1, axis=1)
    ev = evaluate_sequences(params, cfg, seq, lab, rng, K=3)
    km = kmeans_coords(d.images, 3, rng)
    return {"images": n_images, "iterations": iterations, "K": 3, "ami_max_last_frame": ev["ami_max_last_frame"],
            "ami_max_mean_over_frames": ev["ami_max"], "ami_max_per_iteration": ev["ami_max_per_iteration"],
            "kmeans_coords_ami_max": grouping_score(d.labels, km)[0]}
