"""The static-shapes dataset of Neural EM (Greff et al. 2017, Sec. 5.3.1) and Reconstruction
Clustering ("shapes"): binary images holding the union of a few shapes drawn from three templates.

Spec (docs/reference.md): 28x28 canvas; 3 shapes per image, each template drawn uniformly from
{square, up-triangle, down-triangle} (templates may repeat); top-left corner uniform over every
position where the template fits. Group labels 1..S by shape in drawing order; pixels covered by
two or more shapes get label 0 like the background and are flagged in a separate overlap mask.
No noise in the stored data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from common.render import GroupedImages, render_binary

__all__ = ["SQUARE", "UP_TRIANGLE", "DOWN_TRIANGLE", "TEMPLATES", "TEMPLATE_NAMES", "SHAPE_SPRITES",
           "make_shapes", "make_shapes_splits", "GroupedSequences", "flying_trajectories",
           "make_flying_shapes"]


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


# ----------------------------------------------------------------------------- flying shapes

@dataclass(frozen=True, eq=False)  # eq=False: == on arrays is elementwise, not a bool
class GroupedSequences:
    """Sequences of binary frames with pixel groups (flying shapes, thesis Sec. 5.3.2).

    images:    (N, F, H, W) uint8 in {0, 1} (uint8 keeps 50,000 sequences of 21 frames at 0.8 GB)
    labels:    (N, F, H, W) int16 or None (None: not kept, e.g. for the training split);
               0 = background or overlap, s + 1 = covered by shape s only
    overlap:   (N, F, H, W) bool or None, covered by two or more shapes
    positions: (N, F, S, 2) int64 top-left (row, col) of each shape's sprite in each frame
    object_ids:(N, S) int64 template index of each shape (``TEMPLATES``)
    """
    images: np.ndarray
    labels: np.ndarray | None
    overlap: np.ndarray | None
    positions: np.ndarray
    object_ids: np.ndarray

    def __post_init__(self):
        if self.images.ndim != 4:
            raise ValueError(f"images must be (N, F, H, W), got shape {self.images.shape}")
        for name in ("labels", "overlap"):
            a = getattr(self, name)
            if a is not None and a.shape != self.images.shape:
                raise ValueError(f"{name} must have the images' shape {self.images.shape}, got {a.shape}")

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def frames(self) -> int:
        return self.images.shape[1]


def flying_trajectories(n_sequences: int, rng: np.random.Generator, *, n_shapes: int, frames: int,
                        size: int = 28, speed: tuple[float, float] = (1.0, 2.0)):
    """Templates and integer top-left positions of shapes flying on straight lines and bouncing
    off the walls (elastic reflection of the continuous position).

    Each shape: template uniform over ``TEMPLATES``; start uniform over every position where it fits
    (continuous); velocity of uniform direction and speed uniform in ``speed`` (pixels per frame).
    Returns templates (N, S) int64 and positions (N, F, S, 2) int64 (the rounded positions).
    """
    heights = np.array([t.shape[0] for t in TEMPLATES])
    widths = np.array([t.shape[1] for t in TEMPLATES])
    templates = rng.integers(0, len(TEMPLATES), size=(n_sequences, n_shapes))
    hi = np.stack([size - heights[templates], size - widths[templates]], axis=-1).astype(np.float64)
    pos = rng.random((n_sequences, n_shapes, 2)) * hi
    angle = rng.random((n_sequences, n_shapes)) * 2 * np.pi
    v = rng.uniform(*speed, size=(n_sequences, n_shapes))[..., None] * np.stack([np.sin(angle), np.cos(angle)], -1)
    out = np.empty((n_sequences, frames, n_shapes, 2), dtype=np.int64)
    for f in range(frames):
        out[:, f] = np.clip(np.rint(pos), 0, hi).astype(np.int64)
        pos = pos + v
        low, high = pos < 0, pos > hi                 # reflect off the walls: speed kept, direction flipped
        pos = np.where(low, -pos, np.where(high, 2 * hi - pos, pos))
        v = np.where(low | high, -v, v)
    return templates.astype(np.int64), out


def make_flying_shapes(n_sequences: int, rng: np.random.Generator, *, n_shapes: int = 3, frames: int = 21,
                       size: int = 28, speed: tuple[float, float] = (1.0, 2.0), labels: bool = True,
                       chunk: int = 1000) -> GroupedSequences:
    """``n_sequences`` flying-shapes sequences of ``frames`` binary size x size frames
    (``flying_trajectories``), each frame rendered by the static-shapes renderer.

    labels=False skips the group labels and overlap masks (the training split needs neither).
    chunk: sequences rendered at a time (memory).
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    for name, v in (("n_sequences", n_sequences), ("n_shapes", n_shapes), ("frames", frames), ("chunk", chunk)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < (0 if name == "n_sequences" else 1):
            raise ValueError(f"{name} must be a {'non-negative' if name == 'n_sequences' else 'positive'} "
                             f"integer, got {v!r}")
    if not 0 < speed[0] <= speed[1]:
        raise ValueError(f"speed must be a range (low, high) with 0 < low <= high, got {speed!r}")
    templates, positions = flying_trajectories(n_sequences, rng, n_shapes=n_shapes, frames=frames, size=size,
                                               speed=speed)
    shape = (n_sequences, frames, size, size)
    images = np.empty(shape, dtype=np.uint8)
    lab = np.empty(shape, dtype=np.int16) if labels else None
    ovl = np.empty(shape, dtype=bool) if labels else None
    for a in range(0, n_sequences, chunk):
        b = min(a + chunk, n_sequences)
        sprites = [np.repeat(SHAPE_SPRITES[templates[a:b, s]], frames, axis=0) for s in range(n_shapes)]
        im, lb, ov = render_binary(sprites, positions[a:b].reshape(-1, n_shapes, 2), (size, size))
        images[a:b] = im.reshape(b - a, frames, size, size)
        if labels:
            lab[a:b] = lb.reshape(b - a, frames, size, size)
            ovl[a:b] = ov.reshape(b - a, frames, size, size)
    return GroupedSequences(images, lab, ovl, positions, templates)
