"""The data of the N-EM / RNN-EM static-shapes runs, built on ``common.shapes``.

Static shapes (thesis Sec. 5.3.1; spec in docs/reference.md): 28x28 binary images, each the union
of 3 shapes (square, up- or down-triangle) at uniform positions; labels 1..3 by shape, 0 on the
background and on pixels where shapes overlap (those are not scored).

Splits: train / validation / test from three independent streams of the run's seed
(``common.shapes.make_shapes_splits``), so a split is fixed by the seed whatever the other splits'
sizes. The generalisation sets (2..5 shapes per image) come from further streams of the seed.
"""

from __future__ import annotations

import numpy as np

from common.shapes import make_flying_shapes, make_shapes, make_shapes_splits

__all__ = ["IMAGE_SIZE", "GENERALISATION", "FLYING_GENERALISATION", "FLYING_SPEED", "make_splits",
           "generalisation_sets", "flying_generalisation_sets", "provenance"]

IMAGE_SIZE = (28, 28)
# (shapes per image, K at test time): the trained model on more or fewer objects, and a spare slot.
GENERALISATION = ((2, 2), (3, 3), (4, 4), (5, 5), (3, 4))
# Flying shapes: Table 5.3's four (shapes, K) cells, whatever the model was trained on.
FLYING_GENERALISATION = ((3, 3), (3, 5), (5, 5), (5, 3))
# Pixels per frame, uniform (the authors' generator is not published: docs/reference.md).
FLYING_SPEED = (1.0, 2.0)


def make_splits(cfg, seed: int) -> dict:
    """{"train", "valid", "test"}: images, labels and overlap (``common.shapes``) of cfg.n_train / cfg.n_valid / cfg.n_test images.

    Flying shapes (cfg.dataset "flying"): GroupedSequences of cfg.iterations + 1 frames with
    cfg.shapes shapes, from three independent streams of the seed like the static splits (the
    training split keeps no labels)."""
    if cfg.dataset == "flying":
        streams = np.random.SeedSequence([seed, 11]).spawn(3)
        sizes = {"train": cfg.n_train, "valid": cfg.n_valid, "test": cfg.n_test}
        return {name: make_flying_shapes(n, np.random.default_rng(ss), n_shapes=cfg.shapes, frames=cfg.iterations + 1,
                                         speed=FLYING_SPEED, labels=name != "train")
                for (name, n), ss in zip(sizes.items(), streams)}
    return make_shapes_splits(seed, cfg.n_train, cfg.n_valid, cfg.n_test, n_shapes=cfg.shapes)


def generalisation_sets(n_images: int, seed: int):
    """For each (n_shapes, K) of GENERALISATION: (n_shapes, K, images with labels, rng).

    Each set has its own stream (SeedSequence([seed, 7]) spawned); the returned rng is that
    stream after drawing the images, for the evaluation that follows (EM noise, gamma_0, k-means).
    """
    streams = np.random.SeedSequence([seed, 7]).spawn(len(GENERALISATION))
    for (n_shapes, K), ss in zip(GENERALISATION, streams):
        rng = np.random.default_rng(ss)
        yield n_shapes, K, make_shapes(n_images, rng, n_shapes=n_shapes), rng


def flying_generalisation_sets(n_sequences: int, frames: int, seed: int):
    """For each (n_shapes, K) of FLYING_GENERALISATION: (n_shapes, K, sequences with labels, rng),
    each from its own stream (SeedSequence([seed, 13]) spawned), like ``generalisation_sets``."""
    streams = np.random.SeedSequence([seed, 13]).spawn(len(FLYING_GENERALISATION))
    for (n_shapes, K), ss in zip(FLYING_GENERALISATION, streams):
        rng = np.random.default_rng(ss)
        yield n_shapes, K, make_flying_shapes(n_sequences, rng, n_shapes=n_shapes, frames=frames,
                                              speed=FLYING_SPEED), rng


def provenance(cfg) -> dict:
    """The run.json ``data`` record: what the images were built from (no MNIST here)."""
    if cfg.dataset == "flying":
        return {"dataset": "flying shapes", "generator": "common.shapes.make_flying_shapes", "mnist": None,
                "shapes": cfg.shapes, "frames": cfg.iterations + 1, "speed_px_per_frame": list(FLYING_SPEED),
                "n_train": cfg.n_train, "n_valid": cfg.n_valid, "n_test": cfg.n_test}
    return {"dataset": "static shapes", "generator": "common.shapes", "mnist": None,
            "n_train": cfg.n_train, "n_valid": cfg.n_valid, "n_test": cfg.n_test}
