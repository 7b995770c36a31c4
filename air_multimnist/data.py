"""Multi-MNIST images for AIR from common's composer: a 50x50 canvas with 0, 1 or 2 digits (equal
probability), each rescaled to a longest side of 20..24 px, whose tight ink boxes never overlap.

Training scenes are streamed: composed fresh from the TRAINING digits in chunks, each chunk used
for about ``scene_reuse`` passes. Validation and test sets are fixed (a constant data seed, the
same for every experiment seed) and built from the held-out "valid" and "test" digit identities.
True counts and boxes are kept for evaluation only. The MNIST parts are stored sorted by class;
every scene draws its digits at random from its part.
"""

from __future__ import annotations

import numpy as np

from common.mnist import load_mnist, mnist_split
from common.scenes import Scenes, compose_scenes

__all__ = ["DATA_SEED", "N_INK_FIT", "compose", "SceneStream", "eval_sets", "ink_fit_set", "describe"]

DATA_SEED = 20160805   # constant: validation/test scenes never change with the experiment seed
N_INK_FIT = 10_000     # training scenes the ink-threshold baseline is fit on (500 for small test sets)


def compose(digits: np.ndarray, n: int, rng: np.random.Generator, cfg, counts=(0, 1, 2)) -> Scenes:
    """n scenes of ``digits`` (uint8 (S, 28, 28)) with non-overlapping ink boxes."""
    many = np.ndim(counts) == 0 and counts >= 3
    return compose_scenes(digits, n, rng, canvas=(cfg.canvas, cfg.canvas), counts=counts,
                          scale=cfg.digit_size, crop=True, allow_overlap=False,
                          overlap_on="ink" if many else "box", max_tries=20_000 if many else 1000)


class SceneStream:
    """Batches of fresh training scenes: a chunk of ``cfg.chunk`` scenes is composed, served for
    chunk * scene_reuse / batch random batches, then replaced by a new chunk."""

    def __init__(self, digits: np.ndarray, cfg, rng: np.random.Generator):
        self.digits, self.cfg, self.rng = digits, cfg, rng
        self.per_chunk = max(1, cfg.chunk * cfg.scene_reuse // cfg.batch)
        self.served, self.chunks, self.images = 0, 0, None
        self._chunk_rng = None          # the rng's state when the current chunk was composed

    def next(self) -> np.ndarray:
        if self.images is None or self.served >= self.per_chunk:
            self._chunk_rng = self.rng.bit_generator.state
            self.images = compose(self.digits, self.cfg.chunk, self.rng, self.cfg).images
            self.served, self.chunks = 0, self.chunks + 1
        self.served += 1
        return self.images[self.rng.integers(0, len(self.images), self.cfg.batch)]

    def state(self) -> dict:
        """What a checkpoint needs to rebuild the stream (JSON-able; the chunk itself is recomposed
        from the rng state it was drawn with, instead of storing its 64 MB)."""
        return {"served": self.served, "chunks": self.chunks, "chunk_rng": self._chunk_rng}

    def restore(self, state: dict) -> None:
        """Rebuild the stream from ``state()``; the caller restores the rng's current state after."""
        self.served, self.chunks, self._chunk_rng = state["served"], state["chunks"], state["chunk_rng"]
        self.images = None
        if self._chunk_rng is not None:
            self.rng.bit_generator.state = dict(self._chunk_rng)
            self.images = compose(self.digits, self.cfg.chunk, self.rng, self.cfg).images


def eval_sets(cfg) -> dict:
    """{"train_digits", "valid", "test", "three", "mnist"}: fixed validation/test scenes from
    held-out digits, 3-digit test scenes (the paper's generalisation test), and the provenance of
    the MNIST digits they were built from (``MNISTData.provenance()``)."""
    data = load_mnist(verbose=False)
    ss = np.random.SeedSequence(DATA_SEED).spawn(3)
    test_digits = mnist_split(data, "test").images
    return {"mnist": data.provenance(), "train_digits": mnist_split(data, "train").images,
            "valid": compose(mnist_split(data, "valid").images, cfg.n_valid, np.random.default_rng(ss[0]), cfg),
            "test": compose(test_digits, cfg.n_test, np.random.default_rng(ss[1]), cfg),
            "three": compose(test_digits, cfg.n_three, np.random.default_rng(ss[2]), cfg, counts=3)}


def ink_fit_set(train_digits: np.ndarray, cfg, seed: int) -> Scenes:
    """Training scenes the ink-threshold baseline is fit on (drawn from their own seeded stream)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 2]))
    return compose(train_digits, N_INK_FIT if cfg.n_test >= 1000 else 500, rng, cfg)


def describe(cfg, mnist: dict) -> dict:
    """The run.json ``data`` entry: the MNIST source and what the images were built from."""
    return {"mnist": mnist, "canvas": cfg.canvas, "digits_per_image": [0, 1, 2],
            "digit_size": list(cfg.digit_size), "train": "streamed from the MNIST 'train' part",
            "valid_images": cfg.n_valid, "test_images": cfg.n_test, "three_digit_images": cfg.n_three,
            "valid_test_seed": DATA_SEED}
