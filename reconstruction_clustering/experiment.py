"""One RC experiment on one dataset: train the DAE, run RC, score it. Shared by the CLI and the search."""

from __future__ import annotations

import numpy as np

from .config import DAEConfig
from .dae import TrainResult, train_dae
from .rc import RCTrace, rc_scores, run_rc

__all__ = ["TRAIN_ON", "THESIS_INFERENCE", "INFERENCE_GRID", "default_e_step", "dae_data", "fit_dae",
           "evaluate", "select_inference"]

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
             iterations: int, e_step_kind: str, rng: np.random.Generator, keep: int = 0,
             inference: dict | None = None) -> tuple[dict, RCTrace]:
    """RC on (n, H, W) images with the given DAE; returns (scores dict, trace).

    inference: {"init", "width_frac", "restarts"} (see ``INFERENCE_GRID``); None = the thesis's
    procedure (random gamma_0, one run).
    """
    inf = THESIS_INFERENCE if inference is None else inference
    side = int(round(np.sqrt(np.asarray(images[0]).size)))
    trace = run_rc(images, params, activation, K=K, iterations=iterations, rng=rng,
                   e_step_kind=e_step_kind, keep=keep, init=inf["init"],
                   width=inf["width_frac"] * side, restarts=inf["restarts"])
    return rc_scores(trace, labels), trace


# RC inference settings searched on validation (beyond the thesis): gamma_0 random (thesis) or a
# soft Voronoi partition around k-means++ seeds on the ink, of width width_frac * image side;
# one run or the most likely of 4 restarts per image. The thesis's procedure comes first, so a
# tie keeps it.
THESIS_INFERENCE = {"init": "random", "width_frac": 0.0, "restarts": 1}
INFERENCE_GRID = [THESIS_INFERENCE, {"init": "random", "width_frac": 0.0, "restarts": 4}] + [
    {"init": "ink", "width_frac": f, "restarts": r} for f in (0.125, 0.25, 0.5) for r in (1, 4)]


def select_inference(params: dict, activation: str, images: np.ndarray, labels: np.ndarray, *,
                     K: int, iterations: int, e_step_kind: str, seed_seq) -> tuple[dict, list[dict]]:
    """The ``INFERENCE_GRID`` entry with the best AMI(max) on the given (validation) images.

    Every entry sees the same random streams (seed_seq). Returns (best entry, table of all).
    """
    table = []
    for inf in INFERENCE_GRID:
        s, _ = evaluate(params, activation, images, labels, K=K, iterations=iterations,
                        e_step_kind=e_step_kind, rng=np.random.default_rng(seed_seq), inference=inf)
        table.append({**inf, "valid_ami_max": s["ami_max"]})
    best = max(range(len(table)), key=lambda i: (table[i]["valid_ami_max"], -i))
    return dict(INFERENCE_GRID[best]), table
