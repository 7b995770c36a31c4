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

from common.shapes import make_shapes, make_shapes_splits

__all__ = ["IMAGE_SIZE", "GENERALISATION", "make_splits", "generalisation_sets", "provenance"]

IMAGE_SIZE = (28, 28)
# (shapes per image, K at test time): the trained model on more or fewer objects, and a spare slot.
GENERALISATION = ((2, 2), (3, 3), (4, 4), (5, 5), (3, 4))


def make_splits(cfg, seed: int) -> dict:
    """{"train", "valid", "test"}: images, labels and overlap (``common.shapes``) of cfg.n_train / cfg.n_valid / cfg.n_test images."""
    return make_shapes_splits(seed, cfg.n_train, cfg.n_valid, cfg.n_test)


def generalisation_sets(n_images: int, seed: int):
    """For each (n_shapes, K) of GENERALISATION: (n_shapes, K, images with labels, rng).

    Each set has its own stream (SeedSequence([seed, 7]) spawned); the returned rng is that
    stream after drawing the images, for the evaluation that follows (EM noise, gamma_0, k-means).
    """
    streams = np.random.SeedSequence([seed, 7]).spawn(len(GENERALISATION))
    for (n_shapes, K), ss in zip(GENERALISATION, streams):
        rng = np.random.default_rng(ss)
        yield n_shapes, K, make_shapes(n_images, rng, n_shapes=n_shapes), rng


def provenance(cfg) -> dict:
    """The run.json ``data`` record: what the images were built from (no MNIST here)."""
    return {"dataset": "static shapes", "generator": "common.shapes", "mnist": None,
            "n_train": cfg.n_train, "n_valid": cfg.n_valid, "n_test": cfg.n_test}
