"""Use a trained Reconstruction Clustering DAE on your own images.

    from reconstruction_clustering.inference import load_run
    model = load_run("reconstruction_clustering/results/single_seed0/shapes")
    result = model.run(images)            # (H, W) or (N, H, W); float in [0, 1], uint8 or bool
    result.labels                         # (N, H, W) slot per ink pixel, -1 on background
    result.save_png("groups.png")

``load_run`` reads one dataset's run directory (run.json + weights.npz, as written by
``reconstruction_clustering.py``). ``.run`` defaults to what that run used on its test images:
its K, its number of RC iterations, its E-step and the RC inference (gamma_0, restarts) chosen on
validation; each can be overridden. The width of an ink-seeded gamma_0 is a FRACTION of the image
side (``width_frac``), as run.json stores it. On the run's test images, with the run's random
stream and one BLAS thread (``common.threads.blas_threads(1)``), it reproduces the record exactly;
more threads sum in another order and move the AMI in the 5th decimal.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.inference import Grouping, InputError, check_images
from common.runs import RunLoadError, check_shapes, load_trained_run

from .data import CANVAS
from .evaluate import THESIS_INFERENCE
from .dae import PARAM_NAMES
from .model import INITS, run_rc

__all__ = ["RCModel", "load_run", "InputError"]

PAPER = "reconstruction_clustering"


@dataclass(frozen=True)
class RCModel:
    """A trained DAE and the RC settings of its run.

    params: DAE weights (float32); activation: its hidden activation; size: (H, W) of its images;
    K, iterations, e_step: the run's; inference: {"init", "width_frac", "restarts"}, the run's RC
    inference (chosen on validation); dataset, run_dir: where it came from.
    """
    params: dict
    activation: str
    size: tuple[int, int]
    K: int
    iterations: int
    e_step: str
    inference: dict
    dataset: str
    run_dir: Path

    def run(self, images, *, K: int | None = None, iterations: int | None = None, init: str | None = None,
            width_frac: float | None = None, restarts: int | None = None,
            rng: np.random.Generator | int | None = None) -> Grouping:
        """Group the ink pixels of ``images`` with RC.

        images: one (H, W) image or a batch (N, H, W) of this run's size; float in [0, 1], uint8
            0..255 or bool; binarised at 0.5 (the DAE models binary pixels).
        K, iterations: default the run's. init ("random" | "ink"), width_frac (ink gamma_0 width as a
            fraction of the image side), restarts: default the run's selected RC inference.
        rng: a Generator or a seed (default 0: the same call gives the same answer).
        Returns ``common.inference.Grouping`` (labels_per_iteration index 0 = gamma_0).
        """
        x = check_images(images, self.size, binary=True)
        inf = dict(self.inference)
        if init is not None:
            if init not in INITS:
                raise InputError(f"init must be one of {INITS}, got {init!r}")
            if init != inf["init"] and width_frac is None:
                width_frac = 0.25 if init == "ink" else 0.0
            inf["init"] = init
        if width_frac is not None:
            if not (0.0 <= float(width_frac) <= 1.0):
                raise InputError(f"width_frac is a fraction of the image side in (0, 1], got {width_frac}")
            inf["width_frac"] = float(width_frac)
        if restarts is not None:
            inf["restarts"] = int(restarts)
        if inf["init"] == "ink" and not inf["width_frac"] > 0:
            raise InputError("init='ink' needs width_frac > 0 (a fraction of the image side, e.g. 0.25)")
        K = self.K if K is None else int(K)
        T = self.iterations if iterations is None else int(iterations)
        if K < 1 or T < 1 or inf["restarts"] < 1:
            raise InputError(f"K, iterations and restarts must be >= 1, got {K}, {T}, {inf['restarts']}")
        gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(0 if rng is None else rng)
        tr = run_rc(x, self.params, self.activation, K=K, iterations=T, rng=gen, e_step_kind=self.e_step,
                    init=inf["init"], width_frac=inf["width_frac"], restarts=inf["restarts"])
        # The trace's per-iteration argmax (pred) is all the labels need: no full gamma/psi trace
        # is kept (for 1,000 multi-MNIST images that would be ~0.6 GB).
        N, H, W = x.shape
        labels = np.where(x[None] > 0.5, tr.pred.reshape(T + 1, N, H, W), -1).astype(np.int64)
        return Grouping(x, labels[-1], tr.gamma.reshape(N, K, H, W), labels, tr.loglik[-1])


def load_run(run_dir) -> RCModel:
    """The trained DAE of one dataset's run directory, e.g.
    ``reconstruction_clustering/results/single_seed0/shapes``. Raises RunLoadError (one line) for
    another paper's run, a run root, unreadable or non-finite weights, FileNotFoundError for a
    missing directory or weights file."""
    d = Path(run_dir)
    if d.is_dir() and not (d / "run.json").exists():
        subs = sorted(p.parent.name for p in d.glob("*/run.json"))
        hint = f" (a run root; pick one dataset: {', '.join(subs)})" if subs else ""
        raise RunLoadError(f"{str(d)!r} holds no run.json{hint}")
    rec, params, d = load_trained_run(d, PAPER, required=PARAM_NAMES)
    c, m = rec["config"], rec["metrics"]
    dataset = c["dataset"]
    D = CANVAS[dataset][0] * CANVAS[dataset][1]
    H = int(c["dae"].get("hidden") or params["b_enc"].shape[0]) if isinstance(c.get("dae"), dict) else params["b_enc"].shape[0]
    check_shapes(params, {"W_enc": (D, H), "b_enc": (H,), "W_dec": (H, D), "b_dec": (D,)}, d)
    return RCModel(params=params, activation=c["dae"]["activation"], size=tuple(CANVAS[dataset]),
                   K=int(m["K"]), iterations=int(m["iterations"]), e_step=m["e_step"],
                   inference=dict(m.get("rc_inference") or THESIS_INFERENCE), dataset=dataset, run_dir=d)
