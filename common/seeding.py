"""Spatial initial assignments gamma_0 for the EM-style grouping models (N-EM / RNN-EM, RC).

A soft Voronoi partition of a square canvas: slot k gets weight exp(-|p - c_k|^2 / (2 width^2))
at pixel p, normalised over the K slots. The centres c_k are either uniform on the canvas or
seeded on the image's own ink by k-means++ (first centre uniform over the ink pixels, each next
one with probability proportional to its squared distance from the centres so far). Seeding uses
only the input image, never labels.
"""

from __future__ import annotations

import numpy as np

__all__ = ["GAMMA_INITS", "SPATIAL_KINDS", "kmeanspp_centres", "voronoi_gamma", "spatial_gamma",
           "initial_gamma"]

SPATIAL_KINDS = ("spatial", "ink")
GAMMA_INITS = ("random",) + SPATIAL_KINDS


def kmeanspp_centres(ink: np.ndarray, K: int, side: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ seeding over the ink pixels of each image, vectorised over the batch.

    ink: (B, side*side) bool. Returns centres (B, K, 2) as (row, col). A blank image falls back
    to uniform pixels; once every ink pixel is a centre, further centres repeat ink pixels.
    """
    B, D = ink.shape
    yy, xx = np.divmod(np.arange(D), side)
    base = np.where(ink.any(axis=1, keepdims=True), ink, True).astype(np.float64)  # blank: anywhere
    d2 = np.full((B, D), np.inf)
    centres = np.empty((B, K, 2))
    for k in range(K):
        # +1e-6: once all ink pixels are centres, further centres may repeat one of them
        w = base if k == 0 else base * (d2 + 1e-6)
        cdf = np.cumsum(w, axis=1)
        u = rng.random((B, 1)) * cdf[:, -1:]
        idx = np.minimum((cdf < u).sum(axis=1), D - 1)
        centres[:, k, 0], centres[:, k, 1] = yy[idx], xx[idx]
        d2 = np.minimum(d2, (yy - yy[idx, None]) ** 2 + (xx - xx[idx, None]) ** 2)
    return centres


def voronoi_gamma(centres: np.ndarray, side: int, width: float) -> np.ndarray:
    """Soft Voronoi assignments (B, K, side*side), float64, normalised over K. centres: (B, K, 2)."""
    if not width > 0:
        raise ValueError(f"the width of a spatial gamma_0 must be > 0, got {width}")
    yy, xx = np.divmod(np.arange(side * side), side)
    d2 = (yy - centres[..., 0, None]) ** 2 + (xx - centres[..., 1, None]) ** 2
    logit = -d2 / (2.0 * width ** 2)
    g = np.exp(logit - logit.max(axis=1, keepdims=True))
    return g / g.sum(axis=1, keepdims=True)


def spatial_gamma(B: int, K: int, D: int, rng: np.random.Generator, *, kind: str = "spatial",
                  width: float = 5.0, x: np.ndarray | None = None, dtype=np.float64,
                  chunk: int = 100) -> np.ndarray:
    """gamma_0 (B, K, D) of the given dtype for a square canvas of D pixels.

    kind "spatial": centres uniform on the canvas. kind "ink": k-means++ centres on the ink of
    x (B, D) (pixels > 0.5), which is then required. All centres are drawn first; the partition
    is then computed in float64 for ``chunk`` images at a time and cast, so memory stays at one
    output array whatever B is, and the values do not depend on the chunk size.
    """
    side = int(round(np.sqrt(D)))
    if side * side != D:
        raise ValueError(f"a spatial gamma_0 needs a square image, D={D} is not a square")
    if kind == "spatial":
        centres = rng.uniform(0, side - 1, size=(B, K, 2))
    elif kind == "ink":
        if x is None:
            raise ValueError("gamma_0 'ink' needs the images x")
        centres = kmeanspp_centres(np.asarray(x).reshape(B, D) > 0.5, K, side, rng)
    else:
        raise ValueError(f"unknown spatial gamma_0 {kind!r}; choose one of {SPATIAL_KINDS}")
    g = np.empty((B, K, D), dtype)
    for a in range(0, B, chunk):
        g[a:a + chunk] = voronoi_gamma(centres[a:a + chunk], side, width)
    return g


def initial_gamma(B: int, K: int, D: int, rng: np.random.Generator, *, kind: str = "random",
                  width: float = 5.0, x: np.ndarray | None = None, dtype=np.float32) -> np.ndarray:
    """gamma_0 (B, K, D) of ``dtype``, normalised over the K slots: the one initial assignment of
    every EM-style model (N-EM / RNN-EM, RC).

    kind "random": |N(0, 1)| per pixel, drawn in float64 and normalised before the cast (the
        authors' choice in both papers).
    kind "spatial": soft Voronoi partition of width ``width`` px around K centres uniform on the
        canvas (``spatial_gamma``).
    kind "ink": the same partition with the centres seeded on the ink of x (B, D) by k-means++;
        uses only the input image.
    """
    if kind in SPATIAL_KINDS:
        return spatial_gamma(B, K, D, rng, kind=kind, width=width, x=x, dtype=dtype)
    if kind != "random":
        raise ValueError(f"unknown gamma_0 {kind!r}; choose one of {GAMMA_INITS}")
    g = np.abs(rng.standard_normal((B, K, D)))
    return (g / g.sum(axis=1, keepdims=True)).astype(dtype)
