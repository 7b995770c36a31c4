"""The 20x20 Shapes data of Tagger (thesis Sec. 6.2.1), built on ``common.shapes``.

Spec (docs/reference.md, "Tagger"): 20x20 binary images, each the union of 3 shapes drawn from the
static-shapes templates (7x7 hollow square, 7x12 up- and down-triangle) at uniform positions,
overlap allowed; labels 1..3 by shape, 0 on the background and on pixels where shapes overlap
(those are not scored). On this small canvas almost every image has overlapping shapes.

Splits: train / validation / test from three independent streams of the run's seed
(``common.shapes.make_shapes_splits``). The generalisation sets (the thesis's Fig. 6.3 cases: 2
and 4 shapes for a 4-group model, 3 shapes with 2 groups) come from further streams.
"""

from __future__ import annotations

import numpy as np

from common.shapes import make_shapes, make_shapes_splits

__all__ = ["IMAGE_SIZE", "GENERALISATION", "make_splits", "generalisation_sets", "provenance"]

IMAGE_SIZE = (20, 20)
# (shapes per image, K at test time): the thesis's generalisation cases, and the training setting.
GENERALISATION = ((2, 4), (3, 4), (4, 4), (3, 2), (3, 3))


def make_splits(cfg, seed: int) -> dict:
    """{"train", "valid", "test"}: images, labels, overlap (``common.render.GroupedImages``)."""
    return make_shapes_splits(seed, cfg.n_train, cfg.n_valid, cfg.n_test, size=IMAGE_SIZE[0], n_shapes=cfg.shapes)


def generalisation_sets(n_images: int, seed: int):
    """For each (n_shapes, K) of GENERALISATION: (n_shapes, K, images, rng), each from its own stream
    (SeedSequence([seed, 7]) spawned); rng continues that stream for the evaluation."""
    streams = np.random.SeedSequence([seed, 7]).spawn(len(GENERALISATION))
    for (n_shapes, K), ss in zip(GENERALISATION, streams):
        rng = np.random.default_rng(ss)
        yield n_shapes, K, make_shapes(n_images, rng, n_shapes=n_shapes, size=IMAGE_SIZE[0]), rng


def _in_train(train: np.ndarray, other: np.ndarray) -> int:
    seen = {im.tobytes() for im in np.packbits(train.reshape(len(train), -1).astype(bool), axis=1)}
    return int(sum(im.tobytes() in seen for im in np.packbits(other.reshape(len(other), -1).astype(bool), axis=1)))


def provenance(cfg, data: dict) -> dict:
    """The run.json ``data`` record: what the images were built from, the share of images with
    overlapping shapes, and how many validation / test images also occur in the training set
    (exact duplicates: about 1e7 distinct images exist on this canvas)."""
    return {"dataset": "shapes 20x20", "generator": "common.shapes", "mnist": None, "shapes": cfg.shapes,
            "n_train": cfg.n_train, "n_valid": cfg.n_valid, "n_test": cfg.n_test,
            "images_with_overlap": {k: float(d.overlap.reshape(len(d), -1).any(1).mean()) for k, d in data.items()},
            "foreground": float(data["test"].images.mean()),
            "valid_images_in_train": _in_train(data["train"].images, data["valid"].images),
            "test_images_in_train": _in_train(data["train"].images, data["test"].images)}
