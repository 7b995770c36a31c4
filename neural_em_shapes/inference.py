"""Use a trained N-EM / RNN-EM on your own images.

    from neural_em_shapes.inference import load_run
    model = load_run("neural_em_shapes/results/default_seed0")
    result = model.run(images)            # (28, 28) or (N, 28, 28); float in [0, 1], uint8 or bool
    result.labels                         # (N, 28, 28) slot per ink pixel, -1 on background
    result.save_png("groups.png")         # image 0 beside its groups

A model trained on flying shapes (``--preset flying3`` / ``flying5``) groups sequences:

    model = load_run("neural_em_shapes/results/flying3_seed0")
    seq = model.run_sequences(frames)     # (F, 28, 28) or (N, F, 28, 28): one EM step per frame
    seq.labels                            # (N, F - 1, 28, 28): frames 1..F-1, each grouped by the
                                          # step that predicted it; -1 on background
    seq.save_png("sequence.png")

Images are binarised at 0.5 (the model is a Bernoulli mixture over binary pixels). EM runs with
the training configuration (K, iterations, noise, gamma_0, restarts) unless told otherwise; the
input noise is applied at inference too, as in the paper, so pass ``rng`` to vary the draw (the
default, ``np.random.default_rng(0)``, gives the same answer for the same images).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.inference import Grouping, InputError, check_images, grouping_from_gamma, save_segmentation_png
from common.runs import RunLoadError, check_shapes, load_trained_run
from neural_em_shapes.config import NEMConfig
from neural_em_shapes.data import IMAGE_SIZE
from neural_em_shapes.model import init_params, run_em, run_sequence_em

__all__ = ["PAPER", "RunLoadError", "TrainedEM", "SequenceGrouping", "load_run"]


@dataclass(frozen=True)
class SequenceGrouping:
    """What sequential EM says about N sequences of F frames (flying shapes).

    frames: (N, F, H, W) float32 binary, the input sequences.
    labels: (N, F - 1, H, W) int64, the slot of each ink pixel of frames 1..F-1, each grouped by
        the EM step that predicted it (argmax gamma); -1 on background.
    gamma: (N, F - 1, K, H, W) float32 soft assignments; psi: the same shape, each slot's
        prediction of the frame.
    """
    frames: np.ndarray
    labels: np.ndarray
    gamma: np.ndarray
    psi: np.ndarray

    @property
    def K(self) -> int:
        return int(self.gamma.shape[2])

    def save_png(self, path, index: int = 0) -> Path:
        """The last frame of sequence ``index`` beside its groups (``save_segmentation_png``)."""
        return save_segmentation_png(path, self.frames[index, -1], self.labels[index, -1], K=self.K,
                                     title=f"last frame's groups (K={self.K})")

PAPER = "neural_em_shapes"


@dataclass(frozen=True)
class TrainedEM:
    """A trained model: its configuration and the chosen checkpoint's parameters."""
    cfg: NEMConfig
    params: dict
    run_dir: Path

    def run(self, images, *, K: int | None = None, iterations: int | None = None,
            restarts: int | None = None, rng: np.random.Generator | int | None = None) -> Grouping:
        """Group the ink of ``images`` into K slots with EM.

        images: one image (28, 28) or a batch (N, 28, 28) (or flattened to 784), float in [0, 1],
            uint8 0..255 or bool; anything else raises common.inference.InputError.
        K, iterations, restarts: default to the training configuration.
        rng: a Generator or an integer seed (default 0: the same images give the same answer).
        Returns a common.inference.Grouping: labels (N, 28, 28) with -1 on background,
        labels_per_iteration (iterations + 1, N, 28, 28) with index 0 = gamma_0, gamma, loglik.
        """
        x = check_images(images, IMAGE_SIZE, binary=True)
        K = self.cfg.K if K is None else int(K)
        iterations = self.cfg.iterations if iterations is None else int(iterations)
        restarts = self.cfg.restarts if restarts is None else int(restarts)
        if K < 1 or iterations < 1 or restarts < 1:
            raise InputError(f"K, iterations and restarts must be >= 1, got {K}, {iterations}, {restarts}")
        rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(0 if rng is None else rng)
        trace = run_em(self.cfg.model, self.params, x, K=K, iterations=iterations, noise=self.cfg.noise,
                       rng=rng, gamma_init=self.cfg.gamma_init, keep_all=True,
                       inter_weight=self.cfg.inter_weight, restarts=restarts)
        return grouping_from_gamma(x, trace.gammas(), trace.loglik)


    def run_sequences(self, frames, *, K: int | None = None,
                      rng: np.random.Generator | int | None = None) -> SequenceGrouping:
        """Group each frame of binary sequences with sequential EM (one step per frame, next-step
        prediction; thesis Sec. 5.3.2). frames: (F, 28, 28) one sequence or (N, F, 28, 28), F >= 2,
        values as for ``run``. K defaults to the training configuration; rng as for ``run``."""
        a = np.asarray(frames) if not isinstance(frames, np.ndarray) else frames
        if a.ndim == 3:
            a = a[None]
        if a.ndim != 4 or a.shape[1] < 2:
            raise InputError(f"frames must be (F, 28, 28) or (N, F, 28, 28) with F >= 2, got shape {a.shape}")
        N, F = a.shape[:2]
        x = check_images(a.reshape(N * F, *a.shape[2:]), IMAGE_SIZE, binary=True).reshape(N, F, *IMAGE_SIZE)
        K = self.cfg.K if K is None else int(K)
        if K < 1:
            raise InputError(f"K must be >= 1, got {K}")
        rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(0 if rng is None else rng)
        tr = run_sequence_em(self.cfg.model, self.params, x, K=K, noise=self.cfg.noise, rng=rng,
                             gamma_init=self.cfg.gamma_init, inter_weight=self.cfg.inter_weight)
        T = F - 1
        gamma = tr.gamma.transpose(1, 0, 2, 3).reshape(N, T, K, *IMAGE_SIZE)
        labels = np.where(x[:, 1:] > 0.5, gamma.argmax(axis=2), -1).astype(np.int64)
        return SequenceGrouping(x, labels, gamma.astype(np.float32),
                                tr.psi.transpose(1, 0, 2, 3).reshape(N, T, K, *IMAGE_SIZE).astype(np.float32))


def _config(record: dict, where: str) -> NEMConfig:
    c = dict(record.get("config") or {})
    for old, new in (("steps", "iterations"), ("loss_steps", "loss_iterations")):
        if old in c and new not in c:                   # records written before the rename
            c[new] = c.pop(old)
    names = {f.name for f in dataclasses.fields(NEMConfig)}
    unknown = sorted(set(c) - names)
    if unknown:
        raise RunLoadError(f"{where}: run.json config has fields this code does not know: {unknown}")
    return NEMConfig(**c)


def load_run(run_dir) -> TrainedEM:
    """Load the config from ``run_dir/run.json`` and the chosen checkpoint from its weights file.

    Raises FileNotFoundError (no directory, run.json or weights) or common.runs.RunLoadError, a
    ValueError (unreadable record or weights, the run of another paper, missing parameters).
    """
    record, params, d = load_trained_run(run_dir, PAPER)
    cfg = _config(record, str(d))
    D = IMAGE_SIZE[0] * IMAGE_SIZE[1]
    shapes = {k: v.shape for k, v in init_params(cfg.model, D, cfg.hidden, np.random.default_rng(0),
                                                 channels=cfg.channels, mlp=cfg.mlp).items()}
    check_shapes(params, shapes, d)
    return TrainedEM(cfg, params, d)
