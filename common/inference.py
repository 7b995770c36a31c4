"""What every paper's inference API shares: input validation and writing a segmentation PNG.

Each paper folder has ``inference.py`` with ``load_run(run_dir)`` returning an object whose
``.run(images, ...)`` validates its input with :func:`check_images` and returns a typed result
(per-pixel group labels for the grouping models, counts and boxes for AIR).
:func:`save_segmentation_png` writes what a user wants to look at: the image beside its groups.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["InputError", "check_images", "save_segmentation_png", "Grouping", "grouping_from_gamma"]


class InputError(ValueError):
    """Images an inference API cannot score (wrong shape, dtype or values), said in one line."""


def check_images(images, size: tuple[int, int], *, binary: bool = False) -> np.ndarray:
    """Validate images for a model trained on ``size`` = (H, W) images in [0, 1].

    images: one image (H, W) or (H*W,), or a batch (N, H, W) or (N, H*W).
        bool -> 0/1; uint8 -> divided by 255 (0..255 pixel values); floats must be finite and in
        [0, 1]; any other dtype (int64 0..255, complex, objects) is refused rather than guessed.
    binary: the model was trained on binary images (N-EM, RC): values are thresholded at 0.5
        after the checks above, since a grey pixel has no Bernoulli likelihood.
    Returns float32 (N, H, W), a new array. Raises InputError with a one-line message.
    """
    H, W = size
    x = np.asarray(images)
    if x.dtype == object or x.size == 0:
        raise InputError(f"images must be a non-empty numeric array, got {x.dtype} of shape {x.shape}")
    if x.dtype == np.bool_:
        x = x.astype(np.float32)
    elif x.dtype == np.uint8:
        x = x.astype(np.float32) / np.float32(255.0)
    elif np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float32)
        if not np.all(np.isfinite(x)):
            raise InputError("images contain NaN or infinite values")
        if x.min() < 0.0 or x.max() > 1.0:
            raise InputError(f"float images must be in [0, 1], got values in "
                             f"[{float(x.min()):.3g}, {float(x.max()):.3g}] (0..255 images: pass "
                             "them as uint8, or divide by 255)")
    else:
        raise InputError(f"images must be float in [0, 1], uint8 in 0..255 or bool, got {x.dtype}")
    if x.shape in ((H, W), (H * W,)):
        x = x.reshape(1, H, W)
    elif x.ndim == 3 and x.shape[1:] == (H, W):
        pass
    elif x.ndim == 2 and x.shape[1] == H * W:
        x = x.reshape(-1, H, W)
    else:
        raise InputError(f"images must be ({H}, {W}), (N, {H}, {W}) or (N, {H * W}); "
                         f"got shape {x.shape}")
    if binary:
        x = (x > 0.5).astype(np.float32)
    return x


def save_segmentation_png(path, image, labels, *, K: int | None = None, scale: int = 8,
                          title: str | None = None) -> Path:
    """Write ``image`` beside its groups as one PNG.

    image: (H, W) in [0, 1]; labels: (H, W) int, group per pixel, -1 = no group (background).
    Groups are drawn in the catalog's slot colours (``common.plotting.SLOT_COLOURS``).
    Returns the path written.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from common.plotting import colourise

    img = np.asarray(image, dtype=np.float64)
    lab = np.asarray(labels)
    if img.ndim != 2 or lab.shape != img.shape:
        raise InputError(f"image (H, W) and labels (H, W) must match, got {img.shape} and {lab.shape}")
    colours = colourise(lab.astype(np.int64), K=K)
    colours[lab < 0] = 1.0                                            # background: white
    H, W = img.shape
    fig, axes = plt.subplots(1, 2, figsize=(2 * W * scale / 100 + 0.4, H * scale / 100 + 0.5), dpi=100)
    axes[0].imshow(img, cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
    axes[0].set_title("image", fontsize=8)
    axes[1].imshow(colours, interpolation="nearest")
    axes[1].set_title(title or "groups", fontsize=8)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    path = Path(path)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return path


@dataclass(frozen=True)
class Grouping:
    """What a grouping model (N-EM / RNN-EM, RC) says about N images of H x W pixels with K slots.

    images: (N, H, W) float32, the binary images that were grouped (after ``check_images``).
    labels: (N, H, W) int64, the slot (0..K-1) of each ink pixel at the last iteration
        (argmax of gamma), -1 on background pixels (value <= 0.5).
    gamma: (N, K, H, W) float32, the soft assignments at the last iteration.
    labels_per_iteration: (T + 1, N, H, W) int64, the same labels after each iteration; index 0
        is the initial assignment gamma_0, index t is after iteration t.
    loglik: (N,) float64, each image's log-likelihood under the final mixture (eq. 4.7).
    """
    images: np.ndarray
    labels: np.ndarray
    gamma: np.ndarray
    labels_per_iteration: np.ndarray
    loglik: np.ndarray

    @property
    def K(self) -> int:
        return int(self.gamma.shape[1])

    def save_png(self, path, index: int = 0) -> Path:
        """Image ``index`` beside its groups, as a PNG (see ``save_segmentation_png``)."""
        return save_segmentation_png(path, self.images[index], self.labels[index], K=self.K,
                                     title=f"groups (K={self.K})")


def grouping_from_gamma(images: np.ndarray, gammas: np.ndarray, loglik: np.ndarray) -> Grouping:
    """Build a Grouping from the per-iteration assignments of a model.

    images: (N, H, W) binary float32; gammas: (T + 1, N, K, D) with index 0 = gamma_0, D = H * W;
    loglik: (N,). Background pixels (<= 0.5) get label -1.
    """
    N, H, W = images.shape
    T1, _, K, D = gammas.shape
    if D != H * W or gammas.shape[1] != N:
        raise ValueError(f"gammas {gammas.shape} do not match images {images.shape}")
    ink = (images > 0.5).reshape(1, N, H, W)
    per_it = np.where(ink, gammas.argmax(axis=2).reshape(T1, N, H, W), -1).astype(np.int64)
    return Grouping(images, per_it[-1], gammas[-1].reshape(N, K, H, W).astype(np.float32),
                    per_it, np.asarray(loglik, dtype=np.float64))
