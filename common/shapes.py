"""The static-shapes dataset of Neural EM (Greff et al. 2017, Sec. 5.3.1) and Reconstruction
Clustering ("shapes"): binary images holding the union of a few shapes drawn from three templates.

Spec (docs/reference.md): 28x28 canvas; 3 shapes per image, each template drawn uniformly from
{square, up-triangle, down-triangle} (templates may repeat); top-left corner uniform over every
position where the template fits. Group labels 1..S by shape in drawing order; pixels covered by
two or more shapes get label 0 like the background and are flagged in a separate overlap mask.
No noise in the stored data.
"""

from __future__ import annotations

import numpy as np

from common.render import GroupedImages, render_binary

__all__ = ["SQUARE", "UP_TRIANGLE", "DOWN_TRIANGLE", "TEMPLATES", "TEMPLATE_NAMES", "SHAPE_SPRITES",
           "make_shapes", "make_shapes_splits"]


def _from_rows(rows: list[str]) -> np.ndarray:
    return np.array([[c == "1" for c in r] for r in rows], dtype=bool)


# 7x7 hollow frame with a 2-pixel border (3x3 hole).
SQUARE = np.ones((7, 7), dtype=bool)
SQUARE[2:5, 2:5] = False
# 7 rows x 12 columns, exactly as in the authors' data.
UP_TRIANGLE = _from_rows([
    "000001100000",
    "000011110000",
    "000111111000",
    "001110011100",
    "011100001110",
    "111111111111",
    "111111111111",
])
DOWN_TRIANGLE = UP_TRIANGLE[::-1].copy()
TEMPLATES = (SQUARE, UP_TRIANGLE, DOWN_TRIANGLE)
TEMPLATE_NAMES = ("square", "up-triangle", "down-triangle")
for _t in TEMPLATES:
    _t.flags.writeable = False


# The templates padded to one (7, 12) array, so a batch of shapes is one fancy-indexing away.
SHAPE_SPRITES = np.zeros((len(TEMPLATES), 7, 12), dtype=bool)
for _i, _t in enumerate(TEMPLATES):
    SHAPE_SPRITES[_i, :_t.shape[0], :_t.shape[1]] = _t
SHAPE_SPRITES.flags.writeable = False


def make_shapes(n_images: int, rng: np.random.Generator, *, n_shapes: int = 3, size: int = 28,
                chunk: int = 10_000) -> GroupedImages:
    """Generate ``n_images`` static-shapes images with ``n_shapes`` shapes on a size x size canvas.

    rng: the only source of randomness; chunk: images rendered at a time (memory).
    Returns a GroupedImages whose object_ids are the template indices (0 square, 1 up-, 2 down-triangle).
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    for name, v in (("n_images", n_images), ("n_shapes", n_shapes), ("chunk", chunk)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < (0 if name == "n_images" else 1):
            raise ValueError(f"{name} must be a {'non-negative' if name == 'n_images' else 'positive'} "
                             f"integer, got {v!r}")
    min_size = max(max(t.shape) for t in TEMPLATES)
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < min_size:
        raise ValueError(f"size must be an integer >= {min_size} (the widest template), got {size!r}")
    heights = np.array([t.shape[0] for t in TEMPLATES])
    widths = np.array([t.shape[1] for t in TEMPLATES])

    templates = rng.integers(0, len(TEMPLATES), size=(n_images, n_shapes))
    # Uniform over every top-left position where the template fits: 0..size-h inclusive.
    top = rng.integers(0, size - heights[templates] + 1)
    left = rng.integers(0, size - widths[templates] + 1)
    positions = np.stack([top, left], axis=-1).astype(np.int64)

    sprites = [SHAPE_SPRITES[templates[:, s]] for s in range(n_shapes)]
    images, labels, overlap = render_binary(sprites, positions, (size, size), chunk=chunk)
    return GroupedImages(images, labels, overlap, positions, templates.astype(np.int64))


def make_shapes_splits(seed: int, n_train: int = 50_000, n_valid: int = 10_000, n_test: int = 10_000,
                       **kwargs) -> dict[str, GroupedImages]:
    """Train / validation / test sets from independent streams of one seed (paper: 50k/10k/10k).

    The three streams are spawned from ``np.random.SeedSequence(seed)``, so each split is fixed by
    the seed and does not change when another split's size changes. (Exact duplicate images across
    splits are possible but rare: about 1e8 distinct 3-shape images exist.)
    kwargs go to ``make_shapes`` (n_shapes, size).
    """
    streams = np.random.SeedSequence(seed).spawn(3)
    sizes = {"train": n_train, "valid": n_valid, "test": n_test}
    return {name: make_shapes(n, np.random.default_rng(ss), **kwargs)
            for (name, n), ss in zip(sizes.items(), streams)}
