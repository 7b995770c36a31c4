"""One RC experiment on one dataset: train the DAE, run RC, score it. Shared by the CLI and the search."""

from __future__ import annotations

import numpy as np

from .config import DAEConfig
from .dae import TrainResult, train_dae
from .rc import RCTrace, rc_scores, run_rc

__all__ = ["TRAIN_ON", "default_e_step", "dae_data", "fit_dae", "evaluate"]

TRAIN_ON = ("single", "multi")


def default_e_step(train_on: str) -> str:
    """The thesis pairs single-object DAEs with the soft E-step, multi-object DAEs with the hard one."""
    return "soft" if train_on == "single" else "hard"


def _flat(images: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(images.reshape(len(images), -1), dtype=np.float32)


def dae_data(data, train_on: str) -> tuple[np.ndarray, np.ndarray]:
    """(x_train, x_valid) flattened (N, D) float32 for the DAE: single- or multi-object images.

    data: a common.rc_datasets.RCDataset.
    """
    if train_on not in TRAIN_ON:
        raise ValueError(f"train_on must be one of {TRAIN_ON}, got {train_on!r}")
    src = data.single if train_on == "single" else data.multi
    return _flat(src["train"].images), _flat(src["valid"].images)


def fit_dae(data, cfg: DAEConfig, train_on: str, rng: np.random.Generator, callback=None) -> TrainResult:
    x_train, x_valid = dae_data(data, train_on)
    return train_dae(x_train, x_valid, rng, hidden=cfg.hidden, activation=cfg.activation, noise=cfg.noise,
                     lr=cfg.lr, optimizer=cfg.optimizer, batch=cfg.batch, max_epochs=cfg.max_epochs,
                     patience=cfg.patience, max_seconds=cfg.max_seconds, callback=callback)


def evaluate(params: dict, activation: str, images: np.ndarray, labels: np.ndarray, *, K: int,
             iterations: int, e_step_kind: str, rng: np.random.Generator, keep: int = 0) -> tuple[dict, RCTrace]:
    """RC on (n, H, W) images with the given DAE; returns (scores dict, trace)."""
    trace = run_rc(images, params, activation, K=K, iterations=iterations, rng=rng,
                   e_step_kind=e_step_kind, keep=keep)
    return rc_scores(trace, labels), trace
