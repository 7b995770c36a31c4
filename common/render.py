"""The one binary sprite renderer and the one container of grouped binary images.

Every binary dataset of the catalog (static shapes; RC's bars, corners, MNIST+shape, multi-MNIST,
simple superposition) is S binary sprites pasted onto an empty canvas. A pixel covered by exactly
one sprite belongs to that sprite's group; a pixel covered by two or more is overlap, labelled 0
like the background and flagged separately (the evaluation convention excludes both).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["GroupedImages", "render_binary"]


@dataclass(frozen=True, eq=False)  # eq=False: == on arrays is elementwise, not a bool
class GroupedImages:
    """A set of binary images with pixel groups.

    images:  (N, H, W) float32 in {0, 1}, the union of the objects
    labels:  (N, H, W) int16, 0 = background or overlap, g = covered by object g only (1-based)
    overlap: (N, H, W) bool, covered by two or more objects

    How each image was made (S = objects per image; object s has label s + 1), where known:
    positions:  (N, S, 2) int64 (row, col) on the canvas of the top-left of the object's sprite
    object_ids: (N, S) int64 which sprite, in the dataset's own numbering (static shapes: the
                index into ``common.shapes.TEMPLATES``); -1 for MNIST digits
    digit_ids:  (N, S) int64 index into the MNIST images for digit objects, -1 for others;
                None for datasets without digits
    """
    images: np.ndarray
    labels: np.ndarray
    overlap: np.ndarray
    positions: np.ndarray | None = None
    object_ids: np.ndarray | None = None
    digit_ids: np.ndarray | None = None

    def __post_init__(self):
        if self.images.ndim != 3 or self.labels.shape != self.images.shape \
                or self.overlap.shape != self.images.shape:
            raise ValueError(f"images, labels and overlap must share one (N, H, W) shape, got "
                             f"{self.images.shape}, {self.labels.shape}, {self.overlap.shape}")

    def __len__(self) -> int:
        return self.images.shape[0]


def render_binary(sprites: list[np.ndarray], positions: np.ndarray, shape: tuple[int, int],
                  chunk: int = 4096) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Paste S binary objects into N images at once, without a Python loop over images.

    sprites: S arrays (N, h_s, w_s) bool (may be broadcast views), object s of image n;
    positions: (N, S, 2) int top-left (row, col). Only the sprites' True pixels are pasted,
    so zero padding may hang over the canvas edge; ink outside the canvas is a bug (raises).
    Returns images (N, H, W) float32, labels (N, H, W) int16, overlap (N, H, W) bool.
    """
    H, W = shape
    N = positions.shape[0]
    images = np.empty((N, H, W), dtype=np.float32)
    labels = np.empty((N, H, W), dtype=np.int16)
    overlap = np.empty((N, H, W), dtype=bool)
    for a in range(0, N, chunk):
        b = min(a + chunk, N)
        flat, owner = [np.zeros(0, np.int64)], [np.zeros(0, np.int16)]
        for s, spr in enumerate(sprites):
            n, r, c = np.nonzero(spr[a:b])
            rr = positions[a + n, s, 0] + r
            cc = positions[a + n, s, 1] + c
            if rr.size and (rr.min() < 0 or rr.max() >= H or cc.min() < 0 or cc.max() >= W):
                raise RuntimeError(f"object {s} has ink outside the {H}x{W} canvas")
            flat.append((n * H + rr) * W + cc)
            owner.append(np.full(n.size, s + 1, dtype=np.int16))
        flat_all = np.concatenate(flat)
        count = np.bincount(flat_all, minlength=(b - a) * H * W).reshape(b - a, H, W)
        own = np.zeros((b - a) * H * W, dtype=np.int16)
        own[flat_all] = np.concatenate(owner)  # where count == 1 the only writer is the owner
        images[a:b] = count > 0
        overlap[a:b] = count > 1
        labels[a:b] = np.where(count == 1, own.reshape(b - a, H, W), 0)
    return images, labels, overlap
