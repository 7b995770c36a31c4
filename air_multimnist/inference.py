"""Use a trained AIR on your own images: how many digits, and where.

    from air_multimnist.inference import load_run
    model = load_run("air_multimnist/results/reinforce_seed0")
    det = model.run(images)          # one (50, 50) image or (N, 50, 50); float in [0, 1], uint8 or bool
    det.counts, det.boxes            # (N,), (N, max_objects, 4) = (top, left, height, width), NaN if absent
    det.save_png("found.png")        # image 0 with its boxes, beside the model's reconstruction

The model was trained on 50x50 images of 0-2 MNIST digits, 20-24 px tall, white ink on black.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from air_multimnist.config import AIRConfig, config_from_record
from air_multimnist.evaluate import infer
from air_multimnist.model import init_params
from common.inference import check_images
from common.runs import check_shapes, load_trained_run

__all__ = ["PAPER", "Detections", "AIRModel", "load_run"]

PAPER = "air_multimnist"


@dataclass(frozen=True)
class Detections:
    """What AIR found in N images of C x C pixels, with at most T = max_objects objects each.

    images: (N, C, C) float32, the images as scored (after ``check_images``).
    counts: (N,) int64, the number of objects found (steps with p_pres > 0.5, in order).
    boxes: (N, T, 4) float64, (top, left, height, width) in pixels of each found object's ink
        (its rendered pixels > 0.2); NaN rows for steps that found nothing (and for a found
        object that drew no pixel above 0.2).
    window_boxes: (N, T, 4) float64, the square attention windows, NaN where absent.
    p_pres: (N, T) float64, the probability that step t found an object (given the earlier ones).
    z_where: (N, T, 3) float32, the window's (scale, x shift, y shift) per step.
    objects: (N, T, C, C) float32, each step's rendered object (whether present or not).
    recon: (N, C, C) float32, the reconstruction: the sum of the present objects.
    """
    images: np.ndarray
    counts: np.ndarray
    boxes: np.ndarray
    window_boxes: np.ndarray
    p_pres: np.ndarray
    z_where: np.ndarray
    objects: np.ndarray
    recon: np.ndarray

    def __len__(self) -> int:
        return int(self.counts.shape[0])

    def save_png(self, path, index: int = 0) -> Path:
        """Image ``index`` with the boxes of its objects (colour = step), beside its reconstruction."""
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} image(s)")
        from air_multimnist.viz import save_detection_png
        return save_detection_png(path, self.images[index], self.boxes[index], self.recon[index],
                                  p_pres=self.p_pres[index])


@dataclass(frozen=True)
class AIRModel:
    """A trained AIR: its configuration and parameters (float32)."""
    cfg: AIRConfig
    params: dict
    run_dir: Path | None = None

    def run(self, images, batch: int = 100) -> Detections:
        """Detect the objects in ``images`` (see :func:`common.inference.check_images` for what is
        accepted; anything else raises ``common.inference.InputError``)."""
        x = check_images(images, (self.cfg.canvas, self.cfg.canvas))
        out = infer(self.params, x, self.cfg, batch=batch)
        return Detections(images=x, counts=out["counts"], boxes=out["object_boxes"],
                          window_boxes=out["window_boxes"], p_pres=out["p_pres"],
                          z_where=out["z_where"], objects=out["objects"], recon=out["recon"])


def load_run(run_dir) -> AIRModel:
    """The chosen checkpoint of an air_multimnist run directory (run.json + weights.npz).

    Raises FileNotFoundError (no such directory, no run.json, no weights) or
    common.runs.RunLoadError, a ValueError (another paper's run, unreadable or non-finite
    weights), each with a one-line message."""
    rec, params, out = load_trained_run(run_dir, PAPER)
    cfg = config_from_record(rec["config"])
    # the parameter names of this code's model, from its own initialisation (~0.1 s)
    check_shapes(params, {k: v.shape for k, v in init_params(cfg, np.random.default_rng(0)).items()}, out)
    return AIRModel(cfg, params, out)
