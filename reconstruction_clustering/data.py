"""The data of Reconstruction Clustering: its six binary datasets (Greff et al. 2015; thesis ch. 4)
and the novel objects (block letters, rings) of its generalisation figure (thesis Fig. 4.14).

For each dataset :func:`make_rc_dataset` returns single-object images (the denoising
autoencoder's training data, split 90/10 into "train" / "valid") and multi-object images
("train" for the multi-object-training variant, "valid", "test") with pixel group labels.

Facts come from the authors' dataset notebooks in github.com/Qwlouse/Binding
(``Datasets/<name>.ipynb``; the DAE loader is ``dae.py``). Where we depart from them it says
"our decision" below. Common to all datasets (authors' code):

- Objects are pasted in a fixed order; group g (1-based) is the g-th object. A pixel covered
  by two or more objects gets label 0 like the background and is flagged in ``overlap``;
  the image is the union of the objects. Positions are uniform over every top-left corner
  where the object's sprite array fits inside the canvas; overlap is allowed.
- The DAE is trained on single-object images with a 90/10 train/validation split
  (``dae.py``: first 90% / last 10% of the shuffled single-object set).

Per dataset (canvas, multi-object content, single-object content):

- ``simple_superposition`` 8x8 (Simple Superposition.ipynb). The 16 fixed patterns of Rao et
  al. (2008) as transcribed in the authors' notebook: :data:`SUPERPOSITION_PATTERNS`
  Test = all 120 unordered pairs (i < j) superimposed, in lexicographic order, pattern i ->
  group 1, pattern j -> group 2. Some patterns are subsets of others (e.g. pattern 5, the top
  bar, lies inside pattern 0, the box), so a few test pairs show only one group.
  The authors' single-object set is just the 16 patterns (``dae.py`` then trains on 14 and
  validates on 2). Our decision: single "train" and "valid" both cycle through all 16
  patterns (each pattern equally often, shuffled), so the DAE sees every pattern and the
  validation loss (under fresh noise) is about the same 16 patterns. The authors had no
  multi-object train/valid set; ours are uniform random pairs from the same 120 (so they
  share their images with the test set -- only 120 two-pattern images exist). ``n_test`` is
  ignored here: the test set is always the 120 pairs.
- ``shapes`` 28x28 (Shapes.ipynb): three shapes from {square, up-, down-triangle} as in
  :mod:`common.shapes` (same templates); single = one shape.
- ``bars`` 20x20 (Bars.ipynb): 6 vertical bars at distinct columns (groups 1-6) then 6
  horizontal bars at distinct rows (groups 7-12), all 1 pixel wide and full length (20 px);
  the 36 crossings are overlap, so every bar keeps exactly 14 pixels and every image has
  exactly 12 groups. Single = one full-length bar, exactly half horizontal and half
  vertical (shuffled), at a uniform row/column -- only 40 distinct single images exist
  (the authors stored 200 of them).
- ``corners`` 28x28 (Corners.ipynb): a 5x5 corner with 2-pixel-thick arms (rows 0-1 and
  columns 0-1 of the 5x5 block, 16 pixels) in 4 orientations (:data:`CORNERS`: as is,
  flipped up-down, flipped left-right, both). Multi = one 20x20 "square" (:data:`CORNER_SQUARE`:
  the four orientations at the four corners of a 20x20 box, arms along its outer edges,
  64 pixels, ONE group, label 1, top-left uniform in 0..8) plus 4 corners of uniform
  orientation anywhere (top-left uniform in 0..23), labels 2-5. Single = exactly half
  squares alone and half single corners alone, shuffled (authors: 5000 of them).
  A random corner can be fully hidden (e.g. it coincides with the same-orientation corner
  of the square), so about 1% of images show fewer than 5 groups.
- ``mnist_shape`` 28x28 (MNIST+Shape.ipynb): one MNIST digit left where it is in its own
  28x28 frame (not moved, not cropped), thresholded at 0.5, group 1; plus one shape of
  :mod:`common.shapes` at a uniform position, group 2. Single = exactly half digits alone,
  half shapes alone (shuffled).
- ``multi_mnist`` 48x48 (Multi-MNIST.ipynb): three digits, each cropped to the bounding box
  of its pixels > 0 (before thresholding, as the authors do), placed uniformly where that
  box fits, then thresholded at 0.5 (so the ink box can be a pixel or two smaller than the
  placed box); groups 1-3. Single = one such digit (authors: each training digit once).

Digits: thresholding at 0.5 means ``pixel / 255 > 0.5``, i.e. uint8 ``pixel >= 128``
(the authors use ``> 0.5`` for MNIST+Shape and ``>= 0.5`` for Multi-MNIST; no uint8 value
equals exactly 0.5, so both agree). Digit identities follow :func:`common.mnist.mnist_split`:
"train" digits for single/multi train, "valid" digits for both valid sets, "test" digits for
the test set, so test digits are never seen in training. Our decision: digits are drawn
from their part in rounds of random permutations (each digit used equally often, +-1) rather
than independently with replacement.

Randomness: ``np.random.SeedSequence(seed).spawn(5)`` gives one stream per set (single
train, single valid, multi train, multi valid, multi test), so every set is fixed by the seed
and does not change when another set's size changes.

Sizes (our decision; the authors stored 60k multi train, 10k test of which RC used 1000,
and 200 / 5k / 10k / 60k single images): by default 10,000 single-object images in total,
``round(0.1 * n_single)`` of them (at least 1) in "valid"; 5,000 multi train images; 1000
multi valid and 1000 test images. Every dataset builds in about 1 s or less (2-core machine).
"""
from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral

import numpy as np

from common.mnist import MNISTData, load_mnist, part_indices
from common.scenes import Scenes, compose_scenes
from common.render import GroupedImages, render_binary
from common.shapes import SHAPE_SPRITES, make_shapes

__all__ = ["DATASETS", "THESIS_K", "CANVAS", "SUPERPOSITION_PATTERNS", "SUPERPOSITION_PAIRS",
           "CORNER", "CORNERS", "CORNER_SQUARE", "CORNER_SPRITES", "BAR_SPRITES",
           "SHAPE_SPRITES", "MNIST_INK_MIN", "GroupedImages", "RCDataset", "make_rc_dataset",
           "n_groups", "LETTERS", "letter", "ring", "novel_sprites", "novel_object_scenes"]

DATASETS = ("simple_superposition", "shapes", "bars", "corners", "mnist_shape", "multi_mnist")
# Number of clusters that scored best in the thesis (Sec. 4.4.1).
THESIS_K = {"simple_superposition": 2, "shapes": 3, "bars": 12, "corners": 5, "mnist_shape": 2,
            "multi_mnist": 3}
CANVAS = {"simple_superposition": (8, 8), "shapes": (28, 28), "bars": (20, 20),
          "corners": (28, 28), "mnist_shape": (28, 28), "multi_mnist": (48, 48)}
OBJECTS_PER_IMAGE = {"simple_superposition": 2, "shapes": 3, "bars": 12, "corners": 5,
                     "mnist_shape": 2, "multi_mnist": 3}
_MNIST_DATASETS = ("mnist_shape", "multi_mnist")
# uint8 digit pixels >= this are ink: pixel / 255 > 0.5  <=>  pixel > 127.5.
MNIST_INK_MIN = 128
_STREAMS = ("single_train", "single_valid", "multi_train", "multi_valid", "multi_test")


def _grid(rows: list[str]) -> np.ndarray:
    return np.array([[c == "1" for c in r] for r in rows], dtype=bool)


def _readonly(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


# The 16 patterns of Rao et al. (2008), as in the authors' Simple Superposition notebook
# (index = the notebook's "Object k" minus 1).
_PATTERN_ROWS = [
    ["00000000", "01111110", "01000010", "01000010", "01000010", "01111110", "00000000", "00000000"],
    ["00000000", "00000110", "00001110", "00011010", "00110010", "01100010", "01111110", "00000000"],
    ["00010000", "00010000", "00010000", "11111111", "00010000", "00010000", "00010000", "00010000"],
    ["00011000", "00100100", "01000010", "10000001", "10000001", "01000010", "00100100", "00011000"],
    ["00000000", "01000000", "01000000", "01000000", "01000000", "01000000", "01000000", "00000000"],
    ["00000000", "01111110", "00000000", "00000000", "00000000", "00000000", "00000000", "00000000"],
    ["00000000", "00000010", "00000010", "00000010", "00000010", "00000010", "00000010", "00000000"],
    ["00000000", "00000000", "00000000", "00000000", "00000000", "00000000", "01111110", "00000000"],
    ["00000000", "01000000", "01100000", "00111000", "00001100", "00000110", "00000010", "00000000"],
    ["00000000", "00000010", "00000100", "00001000", "00010000", "00100000", "01000000", "10000000"],
    ["00010000", "00010000", "00010000", "00010000", "11110000", "00000000", "00000000", "00000000"],
    ["00000000", "00000000", "00000111", "00000100", "00000100", "00000110", "00000011", "00000000"],
    ["00000000", "00000000", "00000000", "00011000", "00100100", "01000010", "01000010", "00100100"],
    ["00001000", "00111100", "11100100", "10000111", "10000001", "10000000", "10000000", "00000000"],
    ["00000000", "00000000", "00000000", "00100000", "00100000", "01111110", "00000100", "00000000"],
    ["01000000", "01000000", "11110000", "01000000", "01000000", "00000000", "00000000", "00000000"],
]
SUPERPOSITION_PATTERNS = _readonly(np.stack([_grid(r) for r in _PATTERN_ROWS]))  # (16, 8, 8) bool
# (120, 2) int64: all (i, j) with i < j, in lexicographic order (the test set's order).
SUPERPOSITION_PAIRS = _readonly(np.array(np.triu_indices(16, k=1)).T.astype(np.int64))

# 5x5 corner with 2-pixel-thick arms along the top and the left edge.
CORNER = np.zeros((5, 5), dtype=bool)
CORNER[:2, :] = True
CORNER[:, :2] = True
_readonly(CORNER)
# (4, 5, 5): as is, flipped up-down, flipped left-right, flipped both (authors' order).
CORNERS = _readonly(np.stack([CORNER, CORNER[::-1], CORNER[:, ::-1], CORNER[::-1, ::-1]]))
# (20, 20): the four corners at the corners of a 20x20 box, arms along its outer edges.
CORNER_SQUARE = np.zeros((20, 20), dtype=bool)
CORNER_SQUARE[:5, :5] = CORNERS[0]
CORNER_SQUARE[-5:, :5] = CORNERS[1]
CORNER_SQUARE[:5, -5:] = CORNERS[2]
CORNER_SQUARE[-5:, -5:] = CORNERS[3]
_readonly(CORNER_SQUARE)
# Sprite catalogue of the corners dataset, (5, 20, 20): ids 0-3 = CORNERS (in the top-left
# 5x5 block), id 4 = CORNER_SQUARE.
CORNER_SPRITES = np.zeros((5, 20, 20), dtype=bool)
CORNER_SPRITES[:4, :5, :5] = CORNERS
CORNER_SPRITES[4] = CORNER_SQUARE
_readonly(CORNER_SPRITES)
# Sprite catalogue of the bars dataset, (2, 20, 20): id 0 = vertical bar (column 0, placed at
# (0, column)), id 1 = horizontal bar (row 0, placed at (row, 0)).
BAR_SPRITES = np.zeros((2, 20, 20), dtype=bool)
BAR_SPRITES[0, :, 0] = True
BAR_SPRITES[1, 0, :] = True
_readonly(BAR_SPRITES)


@dataclass(frozen=True, eq=False)
class RCDataset:
    """One Reconstruction Clustering dataset.

    single: {"train", "valid"} -> single-object GroupedImages (labels are 1 on all ink)
    multi:  {"train", "valid", "test"} -> multi-object GroupedImages
    K:      the number of clusters that worked best in the thesis (THESIS_K)
    shape:  (H, W) canvas
    mnist:  ``MNISTData.provenance()`` of the digits used (source, count, SHA-256), None for the
            datasets without digits; run.json records it under ``data.mnist``
    """
    name: str
    single: dict[str, GroupedImages]
    multi: dict[str, GroupedImages]
    K: int
    shape: tuple[int, int]
    mnist: dict | None = None


def n_groups(labels: np.ndarray) -> np.ndarray:
    """Number of distinct groups (labels > 0) per image. labels: (N, H, W) -> (N,) int64."""
    labels = np.asarray(labels)
    n, g = labels.shape[0], int(labels.max(initial=0)) + 1
    present = np.zeros((n, g), dtype=bool)
    present[np.repeat(np.arange(n), labels[0].size), labels.reshape(-1)] = True
    return present[:, 1:].sum(axis=1)


# --------------------------------------------------------------------------- rendering

def _grouped(sprites, positions, shape, object_ids, digit_ids=None) -> GroupedImages:
    images, labels, overlap = render_binary(sprites, positions, shape)
    return GroupedImages(images, labels, overlap, positions.astype(np.int64),
                         object_ids.astype(np.int64),
                         None if digit_ids is None else digit_ids.astype(np.int64))


def _balanced(pool: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` draws from range(pool) in rounds of random permutations (equal use +-1)."""
    rounds = -(-count // pool)
    return np.concatenate([rng.permutation(pool) for _ in range(rounds)])[:count]


def _half_split(n: int, rng: np.random.Generator) -> np.ndarray:
    """(n,) bool, exactly n // 2 True, in random order (the authors' half/half single sets)."""
    return rng.permutation(np.arange(n) < n // 2)


def _uniform_pos(rng: np.random.Generator, hi_row, hi_col) -> np.ndarray:
    """Top-left positions uniform in 0..hi (inclusive); hi arrays of one shape -> (..., 2)."""
    return np.stack([rng.integers(0, np.asarray(hi_row) + 1),
                     rng.integers(0, np.asarray(hi_col) + 1)], axis=-1)


# --------------------------------------------------------------------------- generators
# Each returns a GroupedImages of n images; kind is "single" or "multi".

def _superposition(kind: str, n: int, rng: np.random.Generator) -> GroupedImages:
    if kind == "single":
        ids = rng.permutation(np.arange(n) % len(SUPERPOSITION_PATTERNS))[:, None]
    else:
        ids = SUPERPOSITION_PAIRS[rng.integers(0, len(SUPERPOSITION_PAIRS), size=n)]
    return _superposition_from_ids(ids)


def _superposition_from_ids(ids: np.ndarray) -> GroupedImages:
    sprites = [SUPERPOSITION_PATTERNS[ids[:, s]] for s in range(ids.shape[1])]
    positions = np.zeros(ids.shape + (2,), dtype=np.int64)
    return _grouped(sprites, positions, CANVAS["simple_superposition"], ids)


def _shapes(kind: str, n: int, rng: np.random.Generator) -> GroupedImages:
    d = make_shapes(n, rng, n_shapes=1 if kind == "single" else 3, size=28)
    return d


def _bars(kind: str, n: int, rng: np.random.Generator) -> GroupedImages:
    H, W = CANVAS["bars"]
    if kind == "single":
        ids = _half_split(n, rng).astype(np.int64)[:, None]    # n // 2 horizontal (id 1)
        where = rng.integers(0, np.where(ids == 0, W, H))       # column or row
    else:
        cols = np.argsort(rng.random((n, W)), axis=1)[:, :6]   # 6 distinct, random order
        rows = np.argsort(rng.random((n, H)), axis=1)[:, :6]
        where = np.concatenate([cols, rows], axis=1)
        ids = np.repeat(np.array([[0] * 6 + [1] * 6]), n, axis=0)
    positions = np.stack([np.where(ids == 1, where, 0), np.where(ids == 0, where, 0)], axis=-1)
    sprites = [BAR_SPRITES[ids[:, s]] for s in range(ids.shape[1])]
    return _grouped(sprites, positions, (H, W), ids)


def _corners(kind: str, n: int, rng: np.random.Generator) -> GroupedImages:
    H, W = CANVAS["corners"]
    if kind == "single":
        is_square = _half_split(n, rng)
        ids = np.where(is_square, 4, rng.integers(0, 4, size=n))[:, None]
    else:
        ids = np.concatenate([np.full((n, 1), 4), rng.integers(0, 4, size=(n, 4))], axis=1)
    size = np.where(ids == 4, CORNER_SQUARE.shape[0], CORNER.shape[0])
    positions = _uniform_pos(rng, H - size, W - size)
    sprites = [CORNER_SPRITES[ids[:, s]] for s in range(ids.shape[1])]
    return _grouped(sprites, positions, (H, W), ids)


class _DigitPool:
    """The digits of one MNIST part: global indices and the two sprite forms."""

    def __init__(self, mnist: MNISTData, part: str):
        self.index = part_indices(mnist, part)
        if self.index.size == 0:
            raise ValueError(f"the MNIST data has no {part!r} digits")
        self.raw = np.asarray(mnist.images)[self.index]            # (P, 28, 28) uint8
        self.ink = self.raw >= MNIST_INK_MIN                        # thresholded full frame
        empty = ~self.ink.any(axis=(1, 2))
        if empty.any():
            raise ValueError(f"MNIST digit {int(self.index[np.argmax(empty)])} ({part} part) has "
                             f"no pixel above 0.5; cannot use it as an object")
        self._crops = None

    def __len__(self) -> int:
        return self.index.size

    def crops(self) -> tuple[np.ndarray, np.ndarray]:
        """Digits cropped to the box of their pixels > 0, thresholded, top-left aligned.

        Returns sprites (P, 28, 28) bool and box sizes (P, 2) int64 (height, width).
        """
        if self._crops is None:
            P, S = self.raw.shape[:2]
            nz = self.raw > 0
            rows, cols = nz.any(axis=2), nz.any(axis=1)                      # (P, 28)
            top, left = rows.argmax(axis=1), cols.argmax(axis=1)
            h = S - rows[:, ::-1].argmax(axis=1) - top
            w = S - cols[:, ::-1].argmax(axis=1) - left
            r = np.arange(S)
            src_r = np.minimum(top[:, None] + r, S - 1)                        # (P, 28)
            src_c = np.minimum(left[:, None] + r, S - 1)
            sprites = self.ink[np.arange(P)[:, None, None], src_r[:, :, None], src_c[:, None, :]]
            sprites &= (r[None, :] < h[:, None])[:, :, None] & (r[None, :] < w[:, None])[:, None, :]
            self._crops = (sprites, np.stack([h, w], axis=1).astype(np.int64))
        return self._crops


def _mnist_shape(kind: str, n: int, rng: np.random.Generator, pool: _DigitPool) -> GroupedImages:
    shape_draw = make_shapes(n, rng, n_shapes=1, size=28)      # template + position per image
    t, pos = shape_draw.object_ids[:, 0], shape_draw.positions[:, 0]
    d = _balanced(len(pool), n, rng)
    digit_sprite = pool.ink[d]                                 # (n, 28, 28), placed at (0, 0)
    shape_sprite = np.zeros((n, 28, 28), dtype=bool)
    shape_sprite[:, :7, :12] = SHAPE_SPRITES[t]
    if kind == "single":
        is_digit = _half_split(n, rng)
        sprites = [np.where(is_digit[:, None, None], digit_sprite, shape_sprite)]
        positions = np.where(is_digit[:, None], 0, pos)[:, None, :]
        object_ids = np.where(is_digit, -1, t)[:, None]
        digit_ids = np.where(is_digit, pool.index[d], -1)[:, None]
    else:
        sprites = [digit_sprite, shape_sprite]
        positions = np.stack([np.zeros_like(pos), pos], axis=1)
        object_ids = np.stack([np.full(n, -1), t], axis=1)
        digit_ids = np.stack([pool.index[d], np.full(n, -1)], axis=1)
    return _grouped(sprites, positions, CANVAS["mnist_shape"], object_ids, digit_ids)


def _multi_mnist(kind: str, n: int, rng: np.random.Generator, pool: _DigitPool) -> GroupedImages:
    H, W = CANVAS["multi_mnist"]
    S = 1 if kind == "single" else OBJECTS_PER_IMAGE["multi_mnist"]
    d = _balanced(len(pool), n * S, rng).reshape(n, S)
    crop_sprites, sizes = pool.crops()
    positions = _uniform_pos(rng, H - sizes[d, 0], W - sizes[d, 1])      # (n, S, 2)
    sprites = [crop_sprites[d[:, s]] for s in range(S)]
    return _grouped(sprites, positions, (H, W), np.full((n, S), -1), pool.index[d])


# --------------------------------------------------------------------------- public API

def _check_count(value, what: str, minimum: int) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Integral):
        raise ValueError(f"{what} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{what} must be >= {minimum}, got {value}")
    return int(value)


def _as_mnist(mnist) -> MNISTData:
    if mnist is None:
        mnist = load_mnist()
    try:
        images, labels = np.asarray(mnist.images), np.asarray(mnist.labels)
    except AttributeError as e:
        raise ValueError(f"mnist must be MNISTData-like (images, labels), got "
                         f"{type(mnist).__name__}") from e
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(f"mnist.images must be (N, 28, 28) uint8, got {images.shape} {images.dtype}")
    if isinstance(mnist, MNISTData):
        return mnist
    return MNISTData(images, labels, getattr(mnist, "source", "custom"),
                     getattr(mnist, "n_official_train", None))


def make_rc_dataset(name: str, seed: int, *, n_single: int = 10_000, n_multi_train: int = 5_000,
                    n_valid: int = 1000, n_test: int = 1000, mnist=None) -> RCDataset:
    """Build one of the six Reconstruction Clustering datasets (see the module docstring).

    name: one of DATASETS. seed: non-negative int; each set has its own spawned stream.
    n_single: single-object images in total, split 90/10 into single "train" / "valid"
        (valid gets round(0.1 * n_single), at least 1; so n_single >= 2).
    n_multi_train, n_valid, n_test: multi-object train / valid / test images (each >= 1).
        simple_superposition ignores n_test: its test set is always the 120 pattern pairs.
    mnist: MNISTData (or an object with uint8 ``images`` (N, 28, 28) and ``labels``) for the
        digit datasets; default ``load_mnist()``. Ignored by the other datasets.
    Returns an RCDataset; all images are binary float32.
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {DATASETS}")
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, Integral) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    n_single = _check_count(n_single, "n_single", 2)
    n_multi_train = _check_count(n_multi_train, "n_multi_train", 1)
    n_valid = _check_count(n_valid, "n_valid", 1)
    n_test = _check_count(n_test, "n_test", 1)
    n_single_valid = max(1, int(round(0.1 * n_single)))
    sizes = {"single_train": n_single - n_single_valid, "single_valid": n_single_valid,
             "multi_train": n_multi_train, "multi_valid": n_valid, "multi_test": n_test}
    rngs = {k: np.random.default_rng(ss)
            for k, ss in zip(_STREAMS, np.random.SeedSequence(int(seed)).spawn(len(_STREAMS)))}
    part_of = {"single_train": "train", "single_valid": "valid", "multi_train": "train",
               "multi_valid": "valid", "multi_test": "test"}

    provenance = None
    if name in _MNIST_DATASETS:
        data = _as_mnist(mnist)
        provenance = data.provenance()
        pools: dict[str, _DigitPool] = {}
        fn = _mnist_shape if name == "mnist_shape" else _multi_mnist

        def gen(key: str) -> GroupedImages:
            part = part_of[key]
            if part not in pools:
                pools[part] = _DigitPool(data, part)
            return fn(key.split("_")[0], sizes[key], rngs[key], pools[part])
    else:
        fn = {"simple_superposition": _superposition, "shapes": _shapes, "bars": _bars,
              "corners": _corners}[name]

        def gen(key: str) -> GroupedImages:
            if name == "simple_superposition" and key == "multi_test":
                return _superposition_from_ids(np.array(SUPERPOSITION_PAIRS))
            return fn(key.split("_")[0], sizes[key], rngs[key])

    sets = {key: gen(key) for key in _STREAMS}
    return RCDataset(name=name,
                     single={"train": sets["single_train"], "valid": sets["single_valid"]},
                     multi={"train": sets["multi_train"], "valid": sets["multi_valid"],
                            "test": sets["multi_test"]},
                     K=THESIS_K[name], shape=CANVAS[name], mnist=provenance)


# --------------------------------------------------------------------------- novel objects
# Objects no DAE here is trained on, for the generalisation figure (thesis Fig. 4.14: RC with the
# multi-MNIST DAE). Letters are a hand-drawn 5x7 block font, scaled up by an integer factor so their
# strokes are as thick as thresholded MNIST strokes (2 px at factor 2). Rings are rasterised annuli.

_FONT = {
    "A": ["01110", "10001", "10001", "11111", "10001", "10001", "10001"],
    "E": ["11111", "10000", "10000", "11110", "10000", "10000", "11111"],
    "F": ["11111", "10000", "10000", "11110", "10000", "10000", "10000"],
    "H": ["10001", "10001", "10001", "11111", "10001", "10001", "10001"],
    "K": ["10001", "10010", "10100", "11000", "10100", "10010", "10001"],
    "L": ["10000", "10000", "10000", "10000", "10000", "10000", "11111"],
    "T": ["11111", "00100", "00100", "00100", "00100", "00100", "00100"],
    "X": ["10001", "10001", "01010", "00100", "01010", "10001", "10001"],
    "Z": ["11111", "00001", "00010", "00100", "01000", "10000", "11111"],
}
LETTERS = tuple(_FONT)


def letter(ch: str, factor: int = 2) -> np.ndarray:
    """Binary (7 f, 5 f) bitmap of a block letter; ch in LETTERS."""
    if ch not in _FONT:
        raise ValueError(f"no bitmap for letter {ch!r}; choose from {''.join(LETTERS)}")
    if factor < 1:
        raise ValueError(f"factor must be >= 1, got {factor}")
    base = np.array([[c == "1" for c in row] for row in _FONT[ch]], dtype=np.float32)
    return np.kron(base, np.ones((factor, factor), np.float32))


def ring(radius: float, width: float = 2.0) -> np.ndarray:
    """Binary annulus: pixels whose centre lies within [radius - width, radius] of the centre."""
    if not radius > width > 0:
        raise ValueError(f"need radius > width > 0, got radius={radius}, width={width}")
    n = int(np.ceil(2 * radius)) + 1
    c = (n - 1) / 2
    yy, xx = np.mgrid[:n, :n]
    d = np.hypot(yy - c, xx - c)
    return ((d <= radius) & (d >= radius - width)).astype(np.float32)


def novel_sprites(factor: int = 2) -> list[np.ndarray]:
    """Every letter of LETTERS plus rings of radius 5, 7 and 9 (2-px strokes)."""
    return [letter(c, factor) for c in LETTERS] + [ring(r) for r in (5.0, 7.0, 9.0)]


def novel_object_scenes(n: int, rng: np.random.Generator, *, canvas=(48, 48), objects: int = 3,
                        allow_overlap: bool = True) -> Scenes:
    """n scenes with ``objects`` novel objects each (labels/overlap as in common.scenes)."""
    return compose_scenes(novel_sprites(), n, rng, canvas=canvas, counts=objects, crop=True,
                          threshold=0.5, allow_overlap=allow_overlap)
