"""Configurations of the Tagger runs on 20x20 shapes, as a dataclass with named presets.

The dataclass defaults are the `default` preset (a test checks it). Words follow docs/vocabulary.md:
`iterations` = Tagger iterations T, `updates` = optimiser updates, `K` = groups."""

from __future__ import annotations

from dataclasses import dataclass

from common.config import build_config

__all__ = ["TaggerConfig", "PRESETS", "QUICK_SIZES", "MAX_SLOTS", "make_config", "memory_bytes"]


@dataclass(frozen=True)
class TaggerConfig:
    K: int = 4                         # groups at training (the thesis: 4 for 3 shapes, a spare one)
    iterations: int = 3                # Tagger iterations unrolled in training (thesis: 3)
    eval_iterations: int = 5           # iterations at evaluation, on the clean input (thesis: 5)
    sizes: tuple = (500, 250, 100)     # projection width H0, then the ladder's encoder widths
    beta: float = 0.2                  # bit-flip corruption of the training input (thesis: 0.2)
    mu_init: float = 0.26              # mu of iteration 0 = the data's mean (thesis: 0.26 for Shapes)
    mask_init: str = "spatial"         # initial masks: "random" softmax(N(0,1)) (thesis), "spatial" or "ink"
    mask_width: float = 4.0            # width in px of the soft Voronoi masks of "spatial" / "ink"
    residual: bool = False             # the network outputs updates of the logits, not new logits
    batch: int = 100                   # thesis: 100
    updates: int = 5500
    lr: float = 1e-3
    lr_final: float = 0.1              # learning rate at the end as a fraction of lr (cosine decay)
    clip: float = 0.0                  # global gradient-norm clip (0 = off)
    n_train: int = 50_000
    n_valid: int = 1_000
    n_test: int = 1_000
    shapes: int = 3                    # shapes per image
    eval_every: int = 250              # updates between validation passes (= checkpoint candidates)
    snapshot_images: int = 6           # validation images whose masks are stored at every evaluation (GIF)


PRESETS: dict[str, dict] = {
    # Ours: a ladder sized for 20 CPU minutes; the folder README has the ablation behind each choice.
    "default": dict(),
    # The authors' Shapes runner: 2000-1000-500 ladder, Adam 4e-4 (constant), batch 100, 100 epochs
    # of 50k images (50,000 updates; ~3 GPU hours in 2016; days on this CPU).
    "paper": dict(sizes=(2000, 1000, 500), lr=4e-4, lr_final=1.0, updates=50_000, mask_init="random"),
    # Smoke test: seconds, numbers are not results.
    "quick": dict(sizes=(48, 32, 16), updates=30, batch=16, n_train=500, n_valid=100, n_test=100,
                  eval_every=10, lr_final=1.0),
}

# The fields --quick shrinks when combined with another preset (the method fields stay that preset's).
QUICK_SIZES = ("sizes", "updates", "batch", "n_train", "n_valid", "n_test", "eval_every")

MAX_SLOTS = 18          # the figures draw one colour per group (common.plotting.SLOT_COLOURS)


def make_config(preset: str = "default", **overrides) -> TaggerConfig:
    """A preset with overrides applied (None values are ignored); validates every field."""
    if overrides.get("sizes") is not None:
        overrides["sizes"] = tuple(int(s) for s in overrides["sizes"])
    return build_config(TaggerConfig, PRESETS, _validate, preset, overrides)


def memory_bytes(c: TaggerConfig, D: int = 400) -> float:
    """A generous estimate of a run's peak memory: parameters (float32) with gradients, Adam moments
    and the best copy; the caches of the unrolled iterations of one batch; the evaluation's masks
    and means per iteration on the larger held-out split; the data. Refuses impossible sizes up front."""
    s = c.sizes
    P = 4 * D * s[0] + sum(2 * a * b for a, b in zip(s, s[1:])) + 2 * D * s[0] + 12 * sum(s)
    rows = c.batch * c.K
    cache = c.iterations * rows * (12 * D + 8 * sum(s))
    evalm = 2 * (c.eval_iterations + 1) * max(c.n_valid, c.n_test) * c.K * D + 500 * c.K * 20 * sum(s)
    return 4.0 * (6 * P + cache + evalm) + 3.0 * D * (c.n_train + c.n_valid + c.n_test)


def _validate(c: TaggerConfig) -> None:
    for name in ("K", "iterations", "eval_iterations", "batch", "updates", "n_train", "n_valid", "n_test",
                 "eval_every", "shapes"):
        if getattr(c, name) < 1:
            raise ValueError(f"{name} must be >= 1, got {getattr(c, name)}")
    if c.K < 2:
        raise ValueError(f"K must be >= 2 (one group cannot separate anything), got {c.K}")
    if c.K > MAX_SLOTS:
        raise ValueError(f"K must be <= {MAX_SLOTS} (the figures draw one colour per group), got {c.K}")
    if len(c.sizes) < 2 or min(c.sizes) < 1:
        raise ValueError(f"sizes must be at least two positive widths (projection, encoder...), got {c.sizes}")
    if not 0.0 < c.beta < 0.5:
        raise ValueError(f"beta must be a flip probability in (0, 0.5), got {c.beta}")
    if c.mask_init not in ("random", "spatial", "ink"):
        raise ValueError(f"mask_init must be 'random', 'spatial' or 'ink', got {c.mask_init!r}")
    if not 0.0 < c.mask_width < float("inf"):
        raise ValueError(f"mask_width must be a positive number of pixels, got {c.mask_width}")
    if not 0.0 < c.mu_init < 1.0:
        raise ValueError(f"mu_init must be a probability in (0, 1), got {c.mu_init}")
    if not c.lr > 0 or not 0 < c.lr_final <= 1:
        raise ValueError(f"need lr > 0 and 0 < lr_final <= 1, got {c.lr}, {c.lr_final}")
    if not 0 <= c.clip < float("inf"):
        raise ValueError(f"clip must be a finite number >= 0 (0 = off), got {c.clip}")
    if not 1 <= c.shapes <= 6:
        raise ValueError(f"shapes must be between 1 and 6 on a 20x20 canvas, got {c.shapes}")
