"""Configurations of the N-EM / RNN-EM static-shapes runs, as a dataclass with named presets.

The dataclass defaults are the `default` preset (a test checks it). Words follow docs/vocabulary.md:
`iterations` = EM iterations T, `updates` = optimiser updates."""

from __future__ import annotations

from dataclasses import dataclass

from common.config import build_config

__all__ = ["NEMConfig", "PRESETS", "QUICK_SIZES", "make_config"]


@dataclass(frozen=True)
class NEMConfig:
    dataset: str = "static"        # "static" shapes (Sec. 5.3.1) or "flying" shapes sequences (Sec. 5.3.2:
                                   # one EM iteration per frame, next-step prediction)
    shapes: int = 3                # shapes per image / sequence
    model: str = "rnn-em"          # "rnn-em", "n-em" or "conv-rnn-em" (flying shapes: thesis Table 5.1's cell)
    K: int = 3                     # slots (thesis text; the authors' command uses 4)
    iterations: int = 15           # EM iterations T (flying: frames fed, sequences hold T + 1 frames)
    hidden: int = 250              # RNN hidden units / N-EM latent size
    channels: int = 32             # conv-rnn-em: channels of the first conv layer (the second has twice)
    mlp: int = 512                 # conv-rnn-em: units of the dense encoder / decoder layers
    noise: float = 0.1             # bit-flip probability of the network input (train and test)
    loss_iterations: str = "all"   # "last" (paper's static config), "all" (mean over iterations) or
                                   # "linear" (weights proportional to t: later iterations count more)
    gamma_grad: bool = False       # back-propagate through the E-step's gamma
    gamma_init: str = "ink"        # "random" |N(0,1)| (authors), "spatial" (soft random Voronoi)
                                   # or "ink" (Voronoi with k-means++ centres on the ink)
    restarts: int = 4              # EM restarts at evaluation, best kept per image by likelihood
    inter_weight: float = 1.0      # weight of the KL term of eq. (5.6)
    eta_init: float = -1.0         # N-EM step size at initialisation (negative = descent on loss)
    batch: int = 64
    updates: int = 3000            # training length in optimiser updates
    lr: float = 1e-3
    lr_final: float = 0.1          # learning rate at the end as a fraction of lr (cosine decay)
    clip: float = 5.0              # global gradient-norm clip (0 = off)
    n_train: int = 50_000
    n_valid: int = 1_000
    n_test: int = 1_000
    eval_every: int = 250          # updates between validation passes (= checkpoint candidates)
    select: str = "valid_ami"      # checkpoint criterion on the validation split: valid_ami | valid_loss
    snapshot_images: int = 6       # validation images whose EM trace is stored at every evaluation (GIF)


PRESETS: dict[str, dict] = {
    # The authors' static-shapes command (docs/reference.md): K=4, 15 iterations, loss on the last one with
    # gradients through gamma, Adam 1e-3, batch 64, random gamma init, no clipping or decay.
    "paper": dict(model="rnn-em", K=4, iterations=15, hidden=250, noise=0.1, loss_iterations="last",
                  gamma_grad=True, gamma_init="random", restarts=1, updates=1500, lr=1e-3,
                  lr_final=1.0, clip=0.0),
    # The faithful N-EM cell in the same setting.
    "paper-nem": dict(model="n-em", K=4, iterations=15, hidden=250, noise=0.1, loss_iterations="last",
                      gamma_grad=True, gamma_init="random", restarts=1, updates=1500, lr=1e-3,
                      lr_final=1.0, clip=0.0),
    # Ours: see the folder README for the ablation behind every change.
    "default": dict(model="rnn-em", K=3, iterations=15, hidden=250, noise=0.1, loss_iterations="all",
                    gamma_grad=False, gamma_init="ink", restarts=4, updates=3000, lr=1e-3,
                    lr_final=0.1, clip=5.0),
    # Flying shapes (thesis Sec. 5.3.2, the authors' sequential config): one RNN-EM step per frame for 20
    # frames, next-step prediction, bit-flip 0.2, loss at every step, no gradient through gamma. The
    # fully connected RNN-EM cell with 100 units (Table 5.1's recurrent size) stands in for Table 5.1's
    # conv network, and gamma_0 is ink-seeded (k-means++ on frame 1): the best validation AMI of the
    # development runs (results/flying_ablations.json; the folder README says what each choice costs).
    "flying3": dict(dataset="flying", shapes=3, model="rnn-em", K=3, iterations=20, hidden=100, noise=0.2,
                    loss_iterations="all", gamma_grad=False, gamma_init="ink", restarts=1, updates=3000,
                    lr=1e-3, lr_final=0.1, clip=5.0, n_train=50_000, n_valid=1_000, n_test=1_000, eval_every=250),
    "flying5": dict(dataset="flying", shapes=5, model="rnn-em", K=5, iterations=20, hidden=100, noise=0.2,
                    loss_iterations="all", gamma_grad=False, gamma_init="ink", restarts=1, updates=3000,
                    lr=1e-3, lr_final=0.1, clip=5.0, n_train=50_000, n_valid=1_000, n_test=1_000, eval_every=250),
    # Smoke test: seconds, numbers are not results.
    "quick": dict(model="rnn-em", iterations=5, hidden=32, updates=30, batch=16, n_train=500,
                  n_valid=100, n_test=100, eval_every=10, gamma_init="ink", K=3, restarts=2,
                  loss_iterations="all", gamma_grad=False, lr_final=1.0, clip=0.0),
}


# The fields --quick shrinks when combined with another preset (the method fields stay that preset's).
QUICK_SIZES = ("iterations", "hidden", "updates", "batch", "n_train", "n_valid", "n_test", "eval_every")


def make_config(preset: str = "default", **overrides) -> NEMConfig:
    """A preset with overrides applied (None values are ignored); validates every field."""
    return build_config(NEMConfig, PRESETS, _validate, preset, overrides)


MAX_SLOTS = 18          # the figures draw one colour per slot (common.plotting.SLOT_COLOURS)


def memory_bytes(c: NEMConfig, D: int = 784) -> float:
    """A generous estimate of a run's peak memory: parameters with their float64 initial draws,
    gradients, Adam moments and the best copy; the BPTT caches of one batch; the test evaluation's
    per-iteration trace. Used to refuse impossible sizes up front."""
    H, T, K = c.hidden, c.iterations, c.K
    P = (D + H) * H + H + H * D + D if c.model == "rnn-em" else D * H
    bptt = T * c.batch * K * (10 * D + 4 * H)
    if c.model == "conv-rnn-em":       # im2col matrices of the four convs dominate the BPTT caches
        C1, M, F = c.channels, c.mlp, (D // 16) * 2 * c.channels
        P = 16 * (C1 + 3 * C1 * C1 + C1) + 2 * F * M + (M + H) * H + H * M
        bptt = T * c.batch * K * (D // 4 * 16 + D // 16 * 16 * C1 + D // 4 * 32 * C1 + D * 16 * C1 + 12 * D + 8 * F)
    trace = 4 * (T + 1) * max(c.n_test, c.n_valid) * K * D
    # Flying shapes keep every split's T + 1 frames: uint8 images, int16 labels + bool overlap (valid, test).
    frames = (T + 1) * D * (c.n_train + 4 * (c.n_valid + c.n_test)) if c.dataset == "flying" else 0
    return 8.0 * P + 4.0 * 6 * P + 4.0 * bptt + 4.0 * trace + frames


def _validate(c: NEMConfig) -> None:
    if c.dataset not in ("static", "flying"):
        raise ValueError(f"dataset must be 'static' or 'flying', got {c.dataset!r}")
    if c.shapes < 1:
        raise ValueError(f"shapes must be >= 1, got {c.shapes}")
    if c.dataset == "flying" and c.restarts != 1:
        raise ValueError(f"restarts must be 1 with flying shapes (sequential EM runs once), got {c.restarts}")
    if c.model not in ("rnn-em", "n-em", "conv-rnn-em"):
        raise ValueError(f"model must be 'rnn-em', 'n-em' or 'conv-rnn-em', got {c.model!r}")
    for name in ("K", "iterations", "restarts", "hidden", "channels", "mlp", "batch", "updates", "n_train", "n_valid", "n_test", "eval_every"):
        if getattr(c, name) < 1:
            raise ValueError(f"{name} must be >= 1, got {getattr(c, name)}")
    if not 0.0 <= c.noise < 0.5:
        raise ValueError(f"noise must be a flip probability in [0, 0.5), got {c.noise}")
    if c.loss_iterations not in ("all", "last", "linear"):
        raise ValueError(f"loss_iterations must be 'all', 'last' or 'linear', got {c.loss_iterations!r}")
    if c.gamma_init not in ("random", "spatial", "ink"):
        raise ValueError(f"gamma_init must be 'random', 'spatial' or 'ink', got {c.gamma_init!r}")
    if c.select not in ("valid_ami", "valid_loss"):
        raise ValueError(f"select must be 'valid_ami' or 'valid_loss', got {c.select!r}")
    if not c.lr > 0 or not 0 < c.lr_final <= 1:
        raise ValueError(f"need lr > 0 and 0 < lr_final <= 1, got {c.lr}, {c.lr_final}")
    if not 0 <= c.clip < float("inf"):
        raise ValueError(f"clip must be a finite number >= 0 (0 = off), got {c.clip}")
    if c.K > MAX_SLOTS:
        raise ValueError(f"K must be <= {MAX_SLOTS} (the figures draw one colour per slot), got {c.K}")
