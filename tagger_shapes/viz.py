"""Figures and the grouping-over-training GIF of a tagger_shapes run, drawn from its run directory
alone (no retraining, no weights needed).

Reads, in the run directory:
    run.json       config (K, iterations, eval_iterations, sizes), history (per evaluation: update,
                   train_loss, valid_cost, valid_ami_max, valid_ami_arithmetic), metrics
                   (test_ami_max, test_ami_max_per_iteration, test_cost_per_iteration, thesis,
                   best_update), baselines, notes
    examples.npz   images, labels (n, H, W); m, mu (T+1, n, K, H*W): masks and means of n test
                   images after each iteration (index 0 = the random initial masks and mu_x)
    snapshots.npz  groups (E, T+1, S, H*W) int8: argmax group after each iteration on S
                   validation images at each of E evaluations; update (E,); images, labels (S, H, W)

Writes PNGs (``make_figures``) and ``grouping_over_training.gif`` (``make_gif``) into it. Group
colours are fixed (SLOT_COLOURS[k] for group k); the truth is coloured with the group that best
covers each shape at the last iteration; overlap pixels are grey.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from common.cli import redraw_scripts
from common.plotting import SLOT_COLOURS, colourise, image_grid, save_gif, soft_colourise, truth_colours
from common.runs import RunDataError, existing_run_dir, history_arrays, load_checked_npz, read_paper_run

__all__ = ["RunDataError", "FIGURES", "GIF_NAME", "load_examples", "load_snapshots", "make_figures", "make_gif"]

FIGURES = ("dataset_examples.png", "learning_curves.png", "iterations.png", "ami_per_iteration.png")
GIF_NAME = "grouping_over_training.gif"
HISTORY_KEYS = ("update", "train_loss", "valid_cost", "valid_ami_max", "valid_ami_arithmetic")


def _run_dir(run_dir) -> Path:
    return existing_run_dir(run_dir, "tagger_shapes.py")


def _record(run_dir: Path) -> dict:
    return read_paper_run(run_dir, "tagger_shapes")


def _load_npz(path: Path, keys: dict[str, int]) -> dict[str, np.ndarray]:
    return load_checked_npz(path, keys, "tagger_shapes.py")


def load_examples(run_dir) -> dict[str, np.ndarray]:
    """examples.npz, checked: images, labels (n, H, W); m, mu (T+1, n, K, H*W)."""
    path = _run_dir(run_dir) / "examples.npz"
    ex = _load_npz(path, {"images": 3, "labels": 3, "m": 4, "mu": 4})
    n, H, W = ex["images"].shape
    T1, n2, K, D = ex["m"].shape
    if ex["labels"].shape != (n, H, W) or (n2, D) != (n, H * W) or ex["mu"].shape != ex["m"].shape or T1 < 2:
        raise RunDataError(f"{str(path)!r}: inconsistent shapes images {ex['images'].shape}, labels "
                           f"{ex['labels'].shape}, m {ex['m'].shape}, mu {ex['mu'].shape}")
    return ex


def load_snapshots(run_dir) -> dict[str, np.ndarray]:
    """snapshots.npz, checked: groups (E, T+1, S, H*W), update (E,), images and labels (S, H, W)."""
    path = _run_dir(run_dir) / "snapshots.npz"
    sn = _load_npz(path, {"groups": 4, "update": 1, "images": 3, "labels": 3})
    E, T1, S, D = sn["groups"].shape
    S2, H, W = sn["images"].shape
    if (S, D) != (S2, H * W) or sn["update"].shape != (E,) or sn["labels"].shape != (S2, H, W) or min(E, S) < 1:
        raise RunDataError(f"{str(path)!r}: inconsistent shapes groups {sn['groups'].shape}, update "
                           f"{sn['update'].shape}, images {sn['images'].shape}")
    return sn


def _num(v) -> float:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else math.nan


def _history(rec: dict) -> dict[str, np.ndarray]:
    return history_arrays(rec, HISTORY_KEYS)


def _title(rec: dict, what: str) -> str:
    c = rec["config"]
    sizes = "-".join(str(s) for s in c.get("sizes", []))
    head = f"{what} — Tagger, ladder {sizes}, K={c.get('K', '?')}, seed {rec.get('seed', '?')}"
    notes = str(rec.get("notes") or "").lower()
    return head + ("\nSMOKE TEST (--quick): numbers are not results" if "smoke" in notes else "")


def _tint(mu: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """Means (H, W) as shades from white (0) to the group colour (1)."""
    return 1.0 - np.clip(mu, 0, 1)[..., None] * (1.0 - colour)


def _figure(ncols: int = 1):
    from matplotlib.figure import Figure
    fig = Figure(figsize=(6.4 * ncols, 4.2), dpi=100, layout="constrained")
    return fig, fig.subplots(1, ncols)


def _dataset_examples(out: Path, rec: dict, ex: dict) -> Path:
    imgs, labs = ex["images"], ex["labels"]
    return image_grid([list(imgs), list(truth_colours(labs, imgs))], titles=[f"test {i + 1}" for i in range(len(imgs))],
                      row_labels=["input", "true groups"], path=out / "dataset_examples.png",
                      suptitle=_title(rec, "20x20 shapes test images (grey = overlap of shapes)"))


def _learning_curves(out: Path, rec: dict, h: dict) -> Path:
    fig, (a, b) = _figure(2)
    a.plot(h["update"], h["train_loss"], label="train (corrupted input, T training iterations)")
    a.plot(h["update"], h["valid_cost"], label="validation (last evaluation iteration)")
    a.set_xlabel("parameter update")
    a.set_ylabel("denoising cost (BCE per pixel)")
    a.legend(fontsize=8)
    b.plot(h["update"], h["valid_ami_max"], label="AMI (max normaliser, as in the thesis)")
    b.plot(h["update"], h["valid_ami_arithmetic"], alpha=0.8, label="AMI (arithmetic normaliser)")
    best = rec["metrics"].get("best_update")
    for ax in (a, b):
        if isinstance(best, int):
            ax.axvline(best, color="0.4", linestyle=":", linewidth=1, label=f"chosen checkpoint (update {best})")
        ax.grid(alpha=0.3)
    b.set_ylim(0, 1)
    b.set_xlabel("parameter update")
    b.set_ylabel("validation AMI, clean input")
    b.legend(fontsize=8, loc="lower right")
    fig.suptitle(_title(rec, "Learning curves"), fontsize=10)
    fig.savefig(out / "learning_curves.png")
    return out / "learning_curves.png"


def _iterations(out: Path, rec: dict, ex: dict) -> Path:
    """Thesis Fig. 6.3: per example, the masks m after each iteration (soft colours), then the
    means mu_k of the last iteration tinted with their group's colour, then the truth."""
    imgs, labs, m, mu = ex["images"], ex["labels"], ex["m"].astype(np.float64), ex["mu"].astype(np.float64)
    T1, n, K, _ = m.shape
    H, W = imgs.shape[1:]
    last = m[-1].argmax(axis=1).reshape(n, H, W)
    rows = []
    for i in range(n):
        masks = [soft_colourise(m[t, i].reshape(K, H, W), np.ones((H, W))) for t in range(T1)]
        means = [_tint(mu[-1, i, k].reshape(H, W), SLOT_COLOURS[k]) for k in range(K)]
        rows.append([imgs[i], *masks, *means, truth_colours(labs[i], imgs[i], last[i], K)])
    titles = ["input", *(f"m, t={t}" for t in range(T1)), *(f"μ group {k + 1}" for k in range(K)), "truth"]
    return image_grid(rows, titles=titles, row_labels=[f"test {i + 1}" for i in range(n)], path=out / "iterations.png",
                      suptitle=_title(rec, "Masks m over the iterations (clean input) and the last means μ_k"))


def _ami_per_iteration(out: Path, rec: dict) -> Path:
    m = rec["metrics"]
    per = np.array([_num(v) for v in (m.get("test_ami_max_per_iteration") or [])], dtype=float)
    cost = np.array([_num(v) for v in (m.get("test_cost_per_iteration") or [])], dtype=float)
    thesis = m.get("thesis") or {}
    fig, (a, b) = _figure(2)
    t = np.arange(per.size)                                   # index 0 = the initial masks
    a.plot(t, per, marker="o", label=f"ours: test AMI(max), last {_num(m.get('test_ami_max')):.3f}")
    if thesis.get("ami_per_iteration"):
        tt = thesis["ami_per_iteration"]
        a.plot(np.arange(1, len(tt) + 1), tt, marker="s", linestyle="--", label="thesis Table 6.1a (LN, median of 20)")
    km = [(k, v["ami_max"]) for k, v in rec["baselines"].items() if isinstance(v, dict) and "ami_max" in v]
    for i, (name, v) in enumerate(km):
        a.axhline(v, color=["#7f7f7f", "#bcbd22", "#17becf"][i % 3], linestyle=":", label=f"{name}: {v:.3f}")
    a.set_ylim(-0.05, 1)
    a.set_xlabel("iteration (0 = the initial masks)")
    a.set_ylabel("test AMI (max normaliser)")
    a.legend(fontsize=8, loc="lower right")
    b.plot(np.arange(1, cost.size + 1), cost, marker="o", label="ours: test denoising cost (bit-flipped input)")
    if thesis.get("cost_per_iteration"):
        tc = thesis["cost_per_iteration"]
        b.plot(np.arange(1, len(tc) + 1), tc, marker="s", linestyle="--", label="thesis Table 6.1a")
    b.set_xlabel("iteration")
    b.set_ylabel("denoising cost (BCE per pixel)")
    b.legend(fontsize=8)
    for ax in (a, b):
        ax.grid(alpha=0.3)
    fig.suptitle(_title(rec, "Test AMI and denoising cost per iteration"), fontsize=10)
    fig.savefig(out / "ami_per_iteration.png")
    return out / "ami_per_iteration.png"


def make_figures(run_dir) -> list[Path]:
    """Write the PNGs of FIGURES into ``run_dir`` and return their paths."""
    from common.runs import prepare_out_dir
    out = _run_dir(run_dir)
    rec = _record(out)
    h = _history(rec)
    ex = load_examples(out)
    prepare_out_dir(out)
    return [_dataset_examples(out, rec, ex), _learning_curves(out, rec, h), _iterations(out, rec, ex),
            _ami_per_iteration(out, rec)]


def make_gif(run_dir, *, fps: float = 4.0, upscale: int = 4) -> Path:
    """Write ``grouping_over_training.gif``: one frame per evaluation, the S snapshot images
    coloured by argmax group after the last iteration (foreground only), captioned with the update."""
    from common.runs import prepare_out_dir
    out = _run_dir(run_dir)
    rec = _record(out)
    sn = load_snapshots(out)
    E, T1, S, _ = sn["groups"].shape
    imgs = sn["images"]
    K = int(rec["config"].get("K", int(sn["groups"].max()) + 1))
    groups = sn["groups"][:, -1].astype(np.int64).reshape(E, *imgs.shape)
    col = colourise(groups, np.broadcast_to(imgs, groups.shape), K)
    sep = np.full((E, imgs.shape[1], 1, 3), 0.75)
    frames = np.concatenate([p for s in range(S) for p in ((sep,) if s else ()) + (col[:, s],)], axis=2)
    best = rec["metrics"].get("best_update")
    captions = [f"update {int(u)}{' (chosen)' if u == best else ''}" for u in sn["update"]]
    prepare_out_dir(out)
    return save_gif(frames, out / GIF_NAME, fps=fps, upscale=upscale, captions=captions, hold_last_s=1.5)


# visualize_tagger_shapes.py [RUN_DIR] and make_tagger_shapes_gif.py [RUN_DIR] [--fps F] [--upscale N]
figures_main, gif_main = redraw_scripts("tagger_shapes", make_figures, make_gif, fps=4.0, upscale=4, gif_name=GIF_NAME)
