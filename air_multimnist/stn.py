"""Spatial transformer of AIR (Jaderberg et al. 2015; Eslami et al. 2016, sec. 3.1) for the
scale-and-shift transforms AIR uses, with hand-written backward passes.

z_where = (s, x, y) maps a window of normalised coordinates w in [-1, 1]^2 to the canvas by
    w = s * u + (x, y)        (u: canvas coordinate in [-1, 1]^2, as PyTorch's affine_grid with
                               theta = [[s, 0, x], [0, s, y]] and align_corners=False, like Pyro)
so s = 3 puts a window a third of the canvas wide centred at u = -(x, y) / s.

Bilinear sampling with zero padding of a scale-and-shift transform is SEPARABLE: sampling an
(h, w) source at an (H, W) grid is out = Ky @ src @ Kx^T, where Ky (H, h) and Kx (W, w) hold the
"tent" weights max(0, 1 - |src_coord(i) - j|) of output row/column i on source row/column j.
Everything below is batched matmuls over (N,) leading transforms: no gathers, no Python loop over
the batch. The tent has kinks where a sample coordinate is an integer (the sampler's
subgradient there is one-sided), so gradient checks use non-integer offsets.

render: window (N, h, h) -> canvas (N, H, H) at z_where      (decoder output onto the canvas)
crop:   canvas (N, H, H) -> window (N, h, h) at z_where^-1   (attention glimpse for the encoder)
Both backward passes return gradients w.r.t. the source image AND z_where.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["tent_forward", "tent_backward", "render_forward", "render_backward", "crop_forward",
           "crop_backward", "window_box", "RenderCache", "CropCache"]


class RenderCache(NamedTuple):
    patch: np.ndarray      # (N, h, h) the rendered window
    Ky: np.ndarray         # (N, H, h) row tent weights
    Kx: np.ndarray         # (N, H, h) column tent weights
    A: np.ndarray          # (N, h, H) patch Kx^T
    dy: np.ndarray         # tent offsets of the rows (tent_forward's cache)
    dx: np.ndarray         # tent offsets of the columns
    u: np.ndarray          # (H,) normalised canvas pixel centres
    h: int                 # window side


class CropCache(NamedTuple):
    image: np.ndarray      # (N, H, H) the canvas that was cropped
    Ky: np.ndarray         # (N, window, H)
    Kx: np.ndarray         # (N, window, H)
    A: np.ndarray          # (N, H, window) image Kx^T
    dy: np.ndarray
    dx: np.ndarray
    uy: np.ndarray         # (N, window) canvas coordinates sampled by the window rows
    ux: np.ndarray         # (N, window) ... and columns
    s: np.ndarray          # (N, 1) scale
    H: int                 # canvas side


def _centres(n: int, dtype) -> np.ndarray:
    """Normalised coordinates (2 i + 1) / n - 1 of the n pixel centres (align_corners=False)."""
    return ((2 * np.arange(n) + 1) / n - 1).astype(dtype)


def tent_forward(src: np.ndarray, n_src: int):
    """Tent weights K[..., i, j] = max(0, 1 - |src[..., i] - j|), j = 0..n_src-1.

    src: (..., n_out) sample coordinates in source pixel units. Returns (K (..., n_out, n_src), cache).
    """
    d = src[..., None] - np.arange(n_src, dtype=src.dtype)
    K = np.abs(d)
    np.subtract(1, K, out=K)
    np.maximum(K, 0, out=K)                     # in place: the same values, no temporaries
    return K, d


def tent_backward(dK: np.ndarray, d: np.ndarray) -> np.ndarray:
    """dK (..., n_out, n_src) -> dsrc (..., n_out); dK/dsrc = -sign(d) where |d| < 1 (0 at d = 0)."""
    return -(dK * (np.sign(d) * (np.abs(d) < 1))).sum(-1)


def render_forward(patch: np.ndarray, z_where: np.ndarray, canvas: int):
    """Place windows on the canvas: out = Ky patch Kx^T.

    patch: (N, h, h); z_where: (N, 3) = (s, x, y); canvas: H. Canvas pixel (r, c) samples the
    window at w = s u + shift, i.e. at window pixel ((w + 1) h - 1) / 2 along each axis.
    Returns (out (N, H, H), RenderCache).
    """
    h = patch.shape[-1]
    u = _centres(canvas, patch.dtype)
    s, x, y = z_where[:, 0:1], z_where[:, 1:2], z_where[:, 2:3]
    sy = ((s * u + y + 1) * h - 1) / 2          # (N, H) source rows
    sx = ((s * u + x + 1) * h - 1) / 2          # (N, H) source cols
    Ky, dy = tent_forward(sy, h)                # (N, H, h)
    Kx, dx = tent_forward(sx, h)
    A = patch @ Kx.transpose(0, 2, 1)           # (N, h, H)
    out = Ky @ A
    return out, RenderCache(patch, Ky, Kx, A, dy, dx, u, h)


def render_backward(dout: np.ndarray, cache):
    """dout (N, H, H) -> (dpatch (N, h, h), dz_where (N, 3))."""
    patch, Ky, Kx, A, dy, dx, u, h = cache
    dKy = dout @ A.transpose(0, 2, 1)           # (N, H, h)
    dA = Ky.transpose(0, 2, 1) @ dout           # (N, h, H)
    dpatch = dA @ Kx
    dKx = dA.transpose(0, 2, 1) @ patch         # (N, H, h)
    dsy, dsx = tent_backward(dKy, dy) * (h / 2), tent_backward(dKx, dx) * (h / 2)
    dz = np.stack([(dsy * u).sum(1) + (dsx * u).sum(1), dsx.sum(1), dsy.sum(1)], axis=1)
    return dpatch, dz


def crop_forward(image: np.ndarray, z_where: np.ndarray, window: int):
    """Attention glimpse: out = Ky image Kx^T with the inverse transform u = (w - shift) / s.

    image: (N, H, H); z_where: (N, 3). Window pixel (r, c) at normalised w samples the canvas at
    canvas pixel ((u + 1) H - 1) / 2. Returns (out (N, window, window), CropCache).
    """
    H = image.shape[-1]
    w = _centres(window, image.dtype)
    s, x, y = z_where[:, 0:1], z_where[:, 1:2], z_where[:, 2:3]
    uy, ux = (w - y) / s, (w - x) / s           # (N, window)
    Ky, dy = tent_forward(((uy + 1) * H - 1) / 2, H)    # (N, window, H)
    Kx, dx = tent_forward(((ux + 1) * H - 1) / 2, H)
    A = image @ Kx.transpose(0, 2, 1)           # (N, H, window)
    out = Ky @ A
    return out, CropCache(image, Ky, Kx, A, dy, dx, uy, ux, s, H)


def crop_backward(dout: np.ndarray, cache, need_image: bool = True):
    """dout (N, window, window) -> (dimage (N, H, H) or None, dz_where (N, 3))."""
    image, Ky, Kx, A, dy, dx, uy, ux, s, H = cache
    dKy = dout @ A.transpose(0, 2, 1)           # (N, window, H)
    dA = Ky.transpose(0, 2, 1) @ dout           # (N, H, window)
    dKx = dA.transpose(0, 2, 1) @ image         # (N, window, H)
    duy = tent_backward(dKy, dy) * (H / 2)      # d/d uy
    dux = tent_backward(dKx, dx) * (H / 2)
    # uy = (w - y) / s: duy/dy = -1/s, duy/ds = -uy/s
    dz = np.stack([-((duy * uy).sum(1) + (dux * ux).sum(1)) / s[:, 0],
                   -dux.sum(1) / s[:, 0], -duy.sum(1) / s[:, 0]], axis=1)
    dimage = dA @ Kx if need_image else None
    return dimage, dz


def window_box(z_where: np.ndarray, canvas: int) -> np.ndarray:
    """Canvas box (top, left, height, width) in pixel-edge units covered by the window at z_where.

    z_where: (..., 3) -> (..., 4). The window spans u in [(-1 - shift) / s, (1 - shift) / s].
    """
    s, x, y = z_where[..., 0], z_where[..., 1], z_where[..., 2]
    size = canvas / s
    top = ((-1 - y) / s + 1) * canvas / 2
    left = ((-1 - x) / s + 1) * canvas / 2
    return np.stack([top, left, size, size], axis=-1)
