"""Use a trained Tagger on your own 20x20 images.

    from tagger_shapes.inference import load_run
    model = load_run("tagger_shapes/results/default_seed0")
    result = model.run(images)            # (20, 20) or (N, 20, 20); float in [0, 1], uint8 or bool
    result.labels                         # (N, 20, 20) group per ink pixel, -1 on background
    result.gamma                          # (N, K, 20, 20) the masks m of the last iteration
    result.save_png("groups.png")         # image 0 beside its groups

Images are binarised at 0.5. Tagger runs on the clean image with the evaluation setting of the
training configuration (K groups, ``eval_iterations`` iterations) unless told otherwise; the
initial masks are random, so pass ``rng`` to vary them (the default, ``np.random.default_rng(0)``,
gives the same answer for the same images).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.inference import Grouping, InputError, check_images, grouping_from_gamma
from common.runs import RunLoadError, check_shapes, load_trained_run

from .config import TaggerConfig
from .data import IMAGE_SIZE
from .model import COST_EPS, init_params, initial_state, run_iterations

__all__ = ["PAPER", "RunLoadError", "TrainedTagger", "load_run"]

PAPER = "tagger_shapes"


@dataclass(frozen=True)
class TrainedTagger:
    """A trained model: its configuration and the chosen checkpoint's parameters."""
    cfg: TaggerConfig
    params: dict
    run_dir: Path

    def run(self, images, *, K: int | None = None, iterations: int | None = None,
            rng: np.random.Generator | int | None = None) -> Grouping:
        """Group the ink of ``images`` into K groups.

        images: one image (20, 20) or a batch (N, 20, 20) (or flattened to 400), float in [0, 1],
            uint8 0..255 or bool; anything else raises common.inference.InputError.
        K, iterations: default to the training K and the evaluation iterations.
        Returns a common.inference.Grouping: labels (N, 20, 20) with -1 on background,
        labels_per_iteration (iterations + 1, N, 20, 20) with index 0 = the random initial masks,
        gamma = the last masks m (N, K, 20, 20), loglik = log q(x) of each image under the last
        mixture sum_k m_k mu_k.
        """
        x = check_images(images, IMAGE_SIZE, binary=True)
        K = self.cfg.K if K is None else int(K)
        T = self.cfg.eval_iterations if iterations is None else int(iterations)
        if K < 2 or T < 1:
            raise InputError(f"K must be >= 2 and iterations >= 1, got {K}, {T}")
        rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(0 if rng is None else rng)
        N = len(x)
        xf = x.reshape(N, -1)
        tr = run_iterations(self.params, len(self.cfg.sizes) - 1, self.cfg.beta, xf,
                            initial_state(N, K, xf.shape[1], self.cfg.mu_init, rng, kind=self.cfg.mask_init, x=xf,
                                          width=self.cfg.mask_width), T, residual=self.cfg.residual)
        xh = (tr.m[-1] * tr.mu[-1]).sum(1) * (1 - 2 * COST_EPS) + COST_EPS
        loglik = (xf * np.log(xh) + (1 - xf) * np.log(1 - xh)).sum(1)
        return grouping_from_gamma(x, tr.m, loglik)


def _config(record: dict, where: str) -> TaggerConfig:
    c = dict(record.get("config") or {})
    names = {f.name for f in dataclasses.fields(TaggerConfig)}
    unknown = sorted(set(c) - names)
    if unknown:
        raise RunLoadError(f"{where}: run.json config has fields this code does not know: {unknown}")
    if "sizes" in c:
        c["sizes"] = tuple(c["sizes"])
    return TaggerConfig(**c)


def load_run(run_dir) -> TrainedTagger:
    """Load the config from ``run_dir/run.json`` and the chosen checkpoint from its weights file.

    Raises FileNotFoundError (no directory, run.json or weights) or common.runs.RunLoadError, a
    ValueError (unreadable record or weights, the run of another paper, missing parameters).
    """
    record, params, d = load_trained_run(run_dir, PAPER)
    cfg = _config(record, str(d))
    D = IMAGE_SIZE[0] * IMAGE_SIZE[1]
    shapes = {k: v.shape for k, v in init_params(D, cfg.sizes, np.random.default_rng(0)).items()}
    check_shapes(params, shapes, d)
    return TrainedTagger(cfg, {k: v.astype(np.float32) for k, v in params.items()}, d)
