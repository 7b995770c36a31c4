"""Inference API: load a trained AIR from a run directory and, for any batch of 50x50 images,
return counts, boxes and per-step reconstructions.

    from air_multimnist.inference import load_model
    model = load_model("results/seed0")
    out = model.infer(images)   # images: (N, 50, 50) floats in [0, 1]
    out["counts"], out["boxes"], out["objects"], out["recon"]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from air_multimnist.evaluate import infer
from air_multimnist.viz import load_run

__all__ = ["AIRModel", "load_model"]


@dataclass
class AIRModel:
    params: dict
    cfg: object

    def infer(self, images) -> dict:
        """images (N, C, C) in [0, 1] -> dict with
        counts (N,) int; p_pres (N, T); z_where (N, T, 3) (scale, x, y);
        boxes (N, T, 4) object ink boxes (top, left, h, w), NaN for absent steps;
        window_boxes (N, T, 4) attention windows; objects (N, T, C, C) per-step rendered objects
        (present or not); patches (N, T, n, n) decoded windows; recon (N, C, C) = sum of present objects."""
        x = np.asarray(images, dtype=np.float32)
        C = self.cfg.canvas
        if x.ndim != 3 or x.shape[1:] != (C, C):
            raise ValueError(f"images must be (N, {C}, {C}), got shape {x.shape}")
        if not np.all(np.isfinite(x)) or x.min() < 0 or x.max() > 1:
            raise ValueError("images must be finite floats in [0, 1]")
        out = infer(self.params, x, self.cfg)
        out["boxes"] = out.pop("object_boxes")
        return out


def load_model(run_dir) -> AIRModel:
    """The chosen checkpoint of a saved run (run.json + weights.npz)."""
    _, _, cfg, params = load_run(run_dir)
    return AIRModel(params, cfg)
