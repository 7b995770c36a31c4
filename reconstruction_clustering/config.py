"""Configurations of Reconstruction Clustering.

Two levels, each a frozen dataclass:

- ``RCConfig``: one run of the CLI (which images the DAE learns from, K, RC iterations, E-step,
  how RC's gamma_0 is chosen, data sizes). ``PRESETS`` = {"default", "quick"}; the dataclass
  defaults equal ``PRESETS["default"]``; ``make_config(preset, **overrides)``.
- ``DAEConfig``: the denoising autoencoder of one dataset. ``DAE_PRESETS[train_on][dataset]``
  holds the configuration chosen by the random search (``python -m reconstruction_clustering.search``)
  on VALIDATION AMI; the search records are committed in ``results/search/``. ``THESIS_CONFIGS``
  are the thesis's Table 4.1 / 4.2 settings (selected on test, trained with SGD), kept for
  comparison; ``QUICK_DAE`` is the smoke-test DAE.

``THESIS_AMI`` holds the thesis's test AMI per dataset (docs/reference.md).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from common.layers import ACTIVATIONS

from common.config import build_config

__all__ = ["DAEConfig", "DAE_PRESETS", "THESIS_CONFIGS", "QUICK_DAE", "dae_preset", "validate", "RCConfig",
           "PRESETS", "make_config", "THESIS_AMI", "TRAIN_ON", "E_STEPS", "INFERENCE_CHOICES"]


MAX_SLOTS = 18          # the figures draw one colour per slot (common.plotting.SLOT_COLOURS)


def memory_bytes(D: int, hidden: int, K: int, iterations: int, n_images: int, sweep_K=()) -> float:
    """A generous estimate of one dataset's peak memory: the DAE with gradients, Adam moments and
    the best copy; RC's per-iteration argmax (int16) and log-likelihood for the evaluated images;
    one chunk's working arrays. Used to refuse impossible sizes up front."""
    k = max([K, *sweep_K])
    dae = 4.0 * 7 * 2 * D * hidden
    trace = (iterations + 1) * n_images * D * 2.0 + iterations * n_images * 8.0 + 3 * n_images * k * D * 4.0
    chunk = 250 * k * D * 4.0 * 12
    return dae + trace + chunk


@dataclass(frozen=True)
class DAEConfig:
    hidden: int = 250                # hidden units (thesis search: 100, 250, 500, 1000)
    activation: str = "relu"         # relu | tanh | sigmoid
    noise: float = 0.1               # salt-and-pepper probability on the input
    lr: float = 1e-3                 # learning rate
    optimizer: str = "adam"          # adam (ours) | sgd (thesis)
    batch: int = 100                 # thesis: 100
    max_epochs: int = 25             # epoch budget (not a wall-clock cap: runs must be reproducible)
    patience: int = 10               # thesis: stop after 10 epochs without a better validation loss
    max_seconds: float | None = None  # optional wall-clock cap; makes the run depend on machine speed

    def replace(self, **kw) -> "DAEConfig":
        return validate(dataclasses.replace(self, **{k: v for k, v in kw.items() if v is not None}))


def validate(c: DAEConfig) -> DAEConfig:
    if c.activation not in ACTIVATIONS[:3]:
        raise ValueError(f"activation must be one of {ACTIVATIONS[:3]}, got {c.activation!r}")
    if c.optimizer not in ("adam", "sgd"):
        raise ValueError(f"optimizer must be 'adam' or 'sgd', got {c.optimizer!r}")
    for name in ("hidden", "batch", "max_epochs", "patience"):
        if getattr(c, name) < 1:
            raise ValueError(f"{name} must be >= 1, got {getattr(c, name)}")
    if not 0.0 <= c.noise < 1.0:
        raise ValueError(f"noise must be a probability in [0, 1), got {c.noise}")
    if not c.lr > 0 or (c.max_seconds is not None and not c.max_seconds > 0):
        raise ValueError("lr and max_seconds must be > 0")
    return c


# Thesis Table 4.1 (single-object DAEs) and 4.2 (multi-object DAEs, hard E-step): SGD, batch 100.
THESIS_CONFIGS = {
    "single": {
        "bars": DAEConfig(100, "relu", 0.0, 0.768015, "sgd"),
        "corners": DAEConfig(100, "relu", 0.0, 0.001920, "sgd"),
        "multi_mnist": DAEConfig(1000, "relu", 0.6, 0.011362, "sgd"),
        "mnist_shape": DAEConfig(250, "sigmoid", 0.6, 0.031685, "sgd"),
        "shapes": DAEConfig(500, "tanh", 0.4, 0.083147, "sgd"),
        "simple_superposition": DAEConfig(100, "relu", 0.1, 0.366627, "sgd"),
    },
    "multi": {
        "bars": DAEConfig(100, "sigmoid", 0.8, 0.012192, "sgd"),
        "corners": DAEConfig(100, "relu", 0.7, 0.026035, "sgd"),
        "mnist_shape": DAEConfig(1000, "relu", 0.6, 0.033200, "sgd"),
        "multi_mnist": DAEConfig(250, "sigmoid", 0.9, 0.001786, "sgd"),
        "shapes": DAEConfig(100, "sigmoid", 0.9, 0.049402, "sgd"),
    },
}

# Chosen on validation AMI by the random search (results/search/<train_on>_<dataset>.json; at most
# 25 epochs per run). Single-object DAEs: 16 runs for bars and corners, 24 for shapes, MNIST+shape
# and multi-MNIST. Single-object shapes went through the search's confirmation stage
# (``--confirm-top 4 --confirm-epochs 80``): its leaders were within 0.02 of each other on 500
# validation images at 25 epochs and still improving; at 80 epochs on all 1,000 validation images
# the thesis architecture wins, 0.927 vs 0.911-0.914.
# Multi-object DAEs: 100 runs each (the thesis's budget), then the confirmation stage with
# ``--confirm-top 4 --confirm-epochs 25,80``: each of the 4 leaders at 25 and at 80 epochs, on all
# 1,000 validation images. Longer training mostly hurts binding there (the DAE learns whole scenes);
# only MNIST+shape's winner trains for 80 epochs.
# simple_superposition has no held-out multi-object images to select on: the thesis architecture.
DAE_PRESETS: dict[str, dict[str, DAEConfig]] = {
    "single": {
        "bars": DAEConfig(250, "sigmoid", 0.0, 0.0005375223274217196),
        "corners": DAEConfig(250, "tanh", 0.0, 0.0008488692156004065),
        "multi_mnist": DAEConfig(250, "sigmoid", 0.0, 0.0005375223274217196),
        "mnist_shape": DAEConfig(500, "relu", 0.3, 0.0030113122116048477),
        "shapes": DAEConfig(500, "tanh", 0.4, 0.001, max_epochs=80),
        "simple_superposition": DAEConfig(100, "relu", 0.1, 0.001),
    },
    "multi": {
        "bars": DAEConfig(100, "tanh", 0.7, 0.008141611316385225),
        "corners": DAEConfig(250, "relu", 0.6, 0.0057045118214240475),
        "mnist_shape": DAEConfig(250, "relu", 0.6, 0.0057045118214240475, max_epochs=80),
        "multi_mnist": DAEConfig(500, "sigmoid", 0.8, 0.0006799621707620411),
        "shapes": DAEConfig(100, "sigmoid", 0.2, 0.0005959056813818669),
    },
}

# Smoke-test DAE: seconds, its numbers are not results.
QUICK_DAE = DAEConfig(hidden=64, activation="relu", noise=0.1, lr=3e-3, max_epochs=3, patience=3)


def dae_preset(dataset: str, train_on: str = "single") -> DAEConfig:
    """The searched DAE configuration of ``dataset`` trained on ``train_on``-object images."""
    if train_on not in DAE_PRESETS:
        raise ValueError(f"train_on must be one of {sorted(DAE_PRESETS)}, got {train_on!r}")
    if dataset not in DAE_PRESETS[train_on]:
        raise ValueError(f"no preset for dataset {dataset!r}; choose one of {sorted(DAE_PRESETS[train_on])}")
    return DAE_PRESETS[train_on][dataset]


# Thesis AMI at its K (Fig. 4.7a / Table 4.1; multi-object DAEs: Sec. 4.4.5), selected on test.
THESIS_AMI = {
    "single": {"bars": 0.952, "corners": 0.854, "shapes": 0.929, "multi_mnist": 0.652,
               "mnist_shape": 0.546, "simple_superposition": 0.890},
    "multi": {"bars": 0.852, "corners": 0.704, "shapes": 0.777, "multi_mnist": 0.614, "mnist_shape": 0.260},
}

TRAIN_ON = ("single", "multi")
E_STEPS = ("soft", "hard")
INFERENCE_CHOICES = ("select", "thesis")


@dataclass(frozen=True)
class RCConfig:
    """One run: for each dataset, DAE -> RC on the test images -> baselines -> K sweep.

    train_on: the DAE learns single-object images (the thesis's main result) or multi-object ones.
    K: slots (None = the thesis K of each dataset). iterations: RC iterations (thesis 10).
    e_step: "soft" | "hard" | None (None = soft for single-object DAEs, hard for multi-object ones,
        as in the thesis). dae_config: "preset" (searched on validation) | "thesis" | "quick".
    inference: "select" (gamma_0 and restarts chosen on validation from ``evaluate.INFERENCE_GRID``)
        or "thesis" (random gamma_0, one run).
    n_single, n_multi_train, n_valid, n_test: data sizes (``data.make_rc_dataset``).
    """
    train_on: str = "single"
    K: int | None = None
    iterations: int = 10
    e_step: str | None = None
    dae_config: str = "preset"
    inference: str = "select"
    n_single: int = 10_000
    n_multi_train: int = 5_000
    n_valid: int = 1000
    n_test: int = 1000

    def __post_init__(self):
        if self.train_on not in TRAIN_ON:
            raise ValueError(f"train_on must be one of {TRAIN_ON}, got {self.train_on!r}")
        if self.e_step is not None and self.e_step not in E_STEPS:
            raise ValueError(f"e_step must be one of {E_STEPS}, got {self.e_step!r}")
        if self.dae_config not in ("preset", "thesis", "quick"):
            raise ValueError(f"dae_config must be preset, thesis or quick, got {self.dae_config!r}")
        if self.inference not in INFERENCE_CHOICES:
            raise ValueError(f"inference must be one of {INFERENCE_CHOICES}, got {self.inference!r}")
        for name in ("iterations", "n_multi_train", "n_valid", "n_test"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.K is not None and not 1 <= self.K <= MAX_SLOTS:
            raise ValueError(f"K must be in 1..{MAX_SLOTS} (the figures draw one colour per slot), got {self.K}")
        if self.n_single < 2:
            raise ValueError(f"n_single must be >= 2, got {self.n_single}")

    @property
    def e_step_kind(self) -> str:
        """The E-step used: the thesis pairs single-object DAEs with soft, multi-object with hard."""
        return self.e_step or ("soft" if self.train_on == "single" else "hard")

    @property
    def data_sizes(self) -> dict:
        return {"n_single": self.n_single, "n_multi_train": self.n_multi_train, "n_valid": self.n_valid,
                "n_test": self.n_test}


PRESETS: dict[str, dict] = {
    "default": {},
    # Smoke test: tiny DAE (QUICK_DAE) and data, the thesis's inference; seconds, not results.
    "quick": dict(dae_config="quick", inference="thesis", n_single=1000, n_multi_train=300, n_valid=100,
                  n_test=100),
}


def make_config(preset: str = "default", **overrides) -> RCConfig:
    """``PRESETS[preset]`` with the given fields replaced (None values are ignored); the dataclass
    checks every field."""
    return build_config(RCConfig, PRESETS, lambda cfg: None, preset, overrides)
