"""Inference API: load a trained run and run EM on any batch of binary images, any K and any
number of iterations.

    em = load_trained("runs/neural_em_shapes")
    trace = em.run(images, K=5, steps=20, rng=np.random.default_rng(0))
    trace.gamma  # (T, N, K, D) assignments per iteration;  trace.psi  # (T, N, K, D) predictions
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.runs import load_weights, read_run
from neural_em_shapes.config import NEMConfig
from neural_em_shapes.model import EMTrace, run_em

__all__ = ["TrainedEM", "load_trained"]


@dataclass
class TrainedEM:
    cfg: NEMConfig
    params: dict

    def run(self, images: np.ndarray, rng: np.random.Generator, *, K: int | None = None,
            steps: int | None = None, noise: float | None = None, keep_all: bool = True,
            restarts: int | None = None) -> EMTrace:
        """EM on images (N, 28, 28) or (N, 784); K / steps / noise / restarts default to the
        training config."""
        return run_em(self.cfg.model, self.params, images,
                      K=self.cfg.K if K is None else K, steps=self.cfg.steps if steps is None else steps,
                      noise=self.cfg.noise if noise is None else noise, rng=rng,
                      gamma_init=self.cfg.gamma_init, keep_all=keep_all,
                      restarts=self.cfg.restarts if restarts is None else restarts)


def load_trained(run_dir) -> TrainedEM:
    """Load the config from run.json and the chosen checkpoint's weights from weights.npz."""
    record = read_run(run_dir)
    if not record.get("weights"):
        raise FileNotFoundError(f"run in {str(run_dir)!r} saved no weights")
    params = load_weights(Path(run_dir) / record["weights"])
    return TrainedEM(NEMConfig(**record["config"]), params)
