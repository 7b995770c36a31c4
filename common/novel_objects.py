"""Objects no model here is trained on: block letters and rings, for generalisation figures
(e.g. Reconstruction Clustering with the multi-MNIST DAE, thesis Fig. 4.14).

Letters are a hand-drawn 5x7 block font, scaled up by an integer factor so their strokes are as
thick as thresholded MNIST strokes (2 px at factor 2). Rings are rasterised annuli.
"""

from __future__ import annotations

import numpy as np

from .scenes import Scenes, compose_scenes

__all__ = ["LETTERS", "letter", "ring", "novel_sprites", "novel_object_scenes"]

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
