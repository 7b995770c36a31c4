"""Figures and the binding-over-training GIF of a neural_em_shapes run, drawn from its run directory
alone (no retraining, no weights needed).

Reads, in the run directory:
    run.json       config (model, K, iterations), history (per evaluation: update, train_loss,
                   valid_loss, valid_ami_max, valid_ami_arithmetic), metrics (test_ami_max,
                   test_ami_arithmetic, test_ami_max_per_iteration with index 0 = gamma_0,
                   best_update), baselines, notes
    examples.npz   images (n, H, W), labels (n, H, W), gamma (T+1, n, K, H*W) with index 0 =
                   gamma_0 and psi (T, n, K, H*W) after iterations 1..T: the EM trace of the
                   chosen checkpoint on n test images
    snapshots.npz  gamma (E, S, K, H*W), update (E,), images (S, H, W), labels (S, H, W): the
                   last-iteration gamma on S validation images at each of E evaluations

Writes PNGs (``make_figures``) and ``binding_over_training.gif`` (``make_gif``) into it.

Slot colours are fixed (SLOT_COLOURS[k] for slot k) across iterations, figures and the GIF. Slots
are unordered, so the ground truth is coloured with the slot that best covers each shape at the
last iteration (greedy one-to-one matching); overlap pixels (label 0 on the foreground) are grey.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from common.plotting import (SLOT_COLOURS, colourise, image_grid, iteration_columns,
                             save_gif, soft_colourise, truth_colours)
from common.cli import redraw_scripts
from common.runs import RunDataError, existing_run_dir, history_arrays, load_checked_npz, read_paper_run

__all__ = ["RunDataError", "FIGURES", "GIF_NAME", "SEQUENCE_GIF", "load_examples", "load_snapshots",
           "make_figures", "make_gif", "make_sequence_gif"]

FIGURES = ("dataset_examples.png", "learning_curves.png", "valid_ami.png", "em_iterations.png",
           "reconstructions.png", "ami_per_iteration.png")
GIF_NAME = "binding_over_training.gif"
SEQUENCE_GIF = "sequence.gif"      # flying shapes only (thesis Fig. 5.5 as an animation)
HISTORY_KEYS = ("update", "train_loss", "valid_loss", "valid_ami_max", "valid_ami_arithmetic")


def _run_dir(run_dir) -> Path:
    return existing_run_dir(run_dir, "neural_em_shapes.py")


def _record(run_dir: Path) -> dict:
    return read_paper_run(run_dir, "neural_em_shapes")


def _load_npz(path: Path, keys: dict[str, int]) -> dict[str, np.ndarray]:
    return load_checked_npz(path, keys, "neural_em_shapes.py")


def load_examples(run_dir, *, sequences: bool = False) -> dict[str, np.ndarray]:
    """examples.npz, checked: images, labels (n, H, W); gamma (T+1, n, K, H*W) (index 0 =
    gamma_0), psi (T, n, K, H*W). sequences=True (flying shapes): images and labels are
    (n, T+1, H, W) and gamma[t] / psi[t - 1] belong to frame t (t >= 1)."""
    path = _run_dir(run_dir) / "examples.npz"
    nd = 4 if sequences else 3
    ex = _load_npz(path, {"images": nd, "labels": nd, "gamma": 4, "psi": 4})
    n, H, W = ex["images"].shape[0], *ex["images"].shape[-2:]
    T1, n2, K, D = ex["gamma"].shape
    if ex["labels"].shape != ex["images"].shape or (sequences and ex["images"].shape[1] != T1):
        raise RunDataError(f"{str(path)!r}: labels {ex['labels'].shape} do not match images {ex['images'].shape}"
                           f"{f' or gamma has not one entry per frame ({T1})' if sequences else ''}")
    if (n2, D) != (n, H * W) or ex["psi"].shape != (T1 - 1, n, K, D) or min(T1 - 1, n, K) < 1:
        raise RunDataError(f"{str(path)!r}: gamma {ex['gamma'].shape} and psi {ex['psi'].shape} should "
                           f"be (T+1, {n}, K, {H * W}) and (T, {n}, K, {H * W}) with T, K >= 1")
    return ex


def load_snapshots(run_dir) -> dict[str, np.ndarray]:
    """snapshots.npz, checked: gamma (E, S, K, H*W), update (E,), images and labels (S, H, W)."""
    path = _run_dir(run_dir) / "snapshots.npz"
    sn = _load_npz(path, {"gamma": 4, "update": 1, "images": 3, "labels": 3})
    E, S, K, D = sn["gamma"].shape
    S2, H, W = sn["images"].shape
    if (S, D) != (S2, H * W) or sn["update"].shape != (E,) or sn["labels"].shape != (S2, H, W) \
            or min(E, S, K) < 1:
        raise RunDataError(f"{str(path)!r}: inconsistent shapes gamma {sn['gamma'].shape}, update "
                           f"{sn['update'].shape}, images {sn['images'].shape}, labels {sn['labels'].shape}")
    return sn


def _history(rec: dict) -> dict[str, np.ndarray]:
    return history_arrays(rec, HISTORY_KEYS)


def _num(v) -> float:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else math.nan


def _baselines(rec: dict) -> list[tuple[str, float]]:
    """(name, AMI(max)) of each baseline that has one; a plain number counts as its AMI(max)."""
    out = []
    for name, b in rec["baselines"].items():
        v = _num(b.get("ami_max")) if isinstance(b, dict) else _num(b)
        if math.isfinite(v):
            out.append((str(name), v))
    return out


def _is_flying(rec: dict) -> bool:
    return rec["config"].get("dataset") == "flying"


def _is_smoke(rec: dict) -> bool:
    notes = str(rec.get("notes") or "").lower()
    return "smoke" in notes or "--quick" in notes


def _title(rec: dict, what: str) -> str:
    c = rec["config"]
    head = f"{what} — {str(c.get('model', '?')).upper()}, K={c.get('K', '?')}, T={c.get('iterations', '?')}, " \
           f"seed {rec.get('seed', '?')}"
    return head + ("\nSMOKE TEST (--quick): numbers are not results" if _is_smoke(rec) else "")


# ----------------------------------------------------------------------------- helpers

def _tint(psi: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """Bernoulli means (H, W) as shades from white (0) to the slot colour (1)."""
    return 1.0 - np.clip(psi, 0, 1)[..., None] * (1.0 - colour)


def _line_figure():
    from matplotlib.figure import Figure
    fig = Figure(figsize=(6.4, 4.2), dpi=100, layout="constrained")
    return fig, fig.subplots()


def _marker(n: int) -> dict:
    return {"marker": "o", "markersize": 3} if n <= 40 else {}


def _mark_best(ax, best) -> None:
    if isinstance(best, (int, float)) and not isinstance(best, bool):
        ax.axvline(best, color="0.4", linestyle=":", linewidth=1, label=f"chosen checkpoint (update {best})")


def _baseline_lines(ax, baselines: list[tuple[str, float]]) -> None:
    colours = ["#7f7f7f", "#bcbd22", "#17becf", "#8c564b", "#e377c2", "#9467bd"]
    for i, (name, v) in enumerate(baselines):
        ax.axhline(v, color=colours[i % len(colours)], linestyle="--", linewidth=1.2,
                   label=f"baseline {name}: {v:.3f}")


# ----------------------------------------------------------------------------- figures

def _dataset_examples(out: Path, rec: dict, ex: dict) -> Path:
    imgs, labs = ex["images"], ex["labels"]
    return image_grid([list(imgs), list(truth_colours(labs, imgs))], titles=[f"test {i + 1}" for i in range(len(imgs))],
                      row_labels=["input", "true groups"], path=out / "dataset_examples.png",
                      suptitle=_title(rec, "Static-shapes test images (grey = overlap of shapes)"))


def _learning_curves(out: Path, rec: dict, h: dict) -> Path:
    fig, ax = _line_figure()
    n = len(h["update"])
    ax.plot(h["update"], h["train_loss"], label="train (mean over the updates since the last evaluation)",
            **_marker(n))
    ax.plot(h["update"], h["valid_loss"], label="validation", **_marker(n))
    _mark_best(ax, rec["metrics"].get("best_update"))
    losses = np.concatenate([h["train_loss"], h["valid_loss"]])
    losses = losses[np.isfinite(losses)]
    # Early losses can be orders of magnitude above the plateau: log scale keeps both readable.
    if losses.size and losses.min() > 0 and losses.max() / losses.min() > 20:
        ax.set_yscale("log")
    if n == 0:
        ax.text(0.5, 0.5, "no evaluations recorded", ha="center", transform=ax.transAxes)
    ax.set_xlabel("parameter update")
    ax.set_ylabel("loss (eq. 5.6)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.suptitle(_title(rec, "Learning curves"), fontsize=10)
    fig.savefig(out / "learning_curves.png")
    return out / "learning_curves.png"


def _valid_ami(out: Path, rec: dict, h: dict) -> Path:
    fig, ax = _line_figure()
    n = len(h["update"])
    ax.plot(h["update"], h["valid_ami_max"], color="C0", label="AMI (max normaliser, as in the paper)",
            **_marker(n))
    ax.plot(h["update"], h["valid_ami_arithmetic"], color="C1", alpha=0.8,
            label="AMI (arithmetic normaliser)", **_marker(n))
    _mark_best(ax, rec["metrics"].get("best_update"))
    _baseline_lines(ax, _baselines(rec))
    vals = h["valid_ami_max"][np.isfinite(h["valid_ami_max"])]
    ax.set_ylim(min(-0.05, float(vals.min()) - 0.05) if vals.size else -0.05, 1.0)
    ax.set_xlabel("parameter update")
    ax.set_ylabel("validation AMI, mean over frames" if _is_flying(rec) else "validation AMI, last EM iteration")
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3)
    fig.suptitle(_title(rec, "Validation AMI (baselines: AMI(max) on the test set)"), fontsize=10)
    fig.savefig(out / "valid_ami.png")
    return out / "valid_ami.png"


def _em_iterations(out: Path, rec: dict, ex: dict) -> Path:
    imgs, labs, gamma = ex["images"], ex["labels"], ex["gamma"]
    T1, n, K, _ = gamma.shape                             # T1 = T + 1: gamma_0 and T iterations
    slots = gamma.argmax(axis=2).reshape(T1, *imgs.shape)  # (T + 1, n, H, W)
    cols = iteration_columns(T1, 9)
    rows = [[imgs[i], *(colourise(slots[t, i], imgs[i], K) for t in cols),
             truth_colours(labs[i], imgs[i], slots[-1, i], K)] for i in range(n)]
    titles = ["input", *(f"t={t}" + (" (γ₀)" if t == 0 else "") for t in cols), "truth"]
    return image_grid(rows, titles=titles, row_labels=[f"test {i + 1}" for i in range(n)],
                      path=out / "em_iterations.png",
                      suptitle=_title(rec, "Argmax slot per pixel over EM iterations (truth: best-matching slot colour)"))


def _reconstructions(out: Path, rec: dict, ex: dict) -> Path:
    imgs, gamma, psi = ex["images"], ex["gamma"], ex["psi"]
    T, n, K, _ = psi.shape
    H, W = imgs.shape[1:]
    g = gamma[-1].reshape(n, K, H, W).astype(np.float64)
    p = psi[-1].reshape(n, K, H, W).astype(np.float64)
    rows = [[imgs[i], soft_colourise(g[i], imgs[i]), *(_tint(p[i, k], SLOT_COLOURS[k]) for k in range(K))]
            for i in range(n)]
    titles = ["input", "soft γ", *(f"ψ slot {k + 1}" for k in range(K))]
    colours = ["black", "black", *(tuple(SLOT_COLOURS[k]) for k in range(K))]
    return image_grid(rows, titles=titles, title_colours=colours, row_labels=[f"test {i + 1}" for i in range(n)],
                      path=out / "reconstructions.png",
                      suptitle=_title(rec, f"Per-slot reconstructions ψ at the last EM iteration (t={T})"))


def _ami_per_iteration(out: Path, rec: dict) -> Path:
    m = rec["metrics"]
    per = np.array([_num(v) for v in (m.get("test_ami_max_per_iteration") or [])], dtype=float)
    fig, ax = _line_figure()
    if per.size:                                            # index 0 = gamma_0
        what = (f"mean over frames {_num(m.get('test_ami_max')):.3f}" if _is_flying(rec)
                else f"last iteration {_num(m.get('test_ami_max')):.3f}")
        ax.plot(np.arange(per.size), per, color="C0", marker="o", markersize=3, label=f"model: test AMI(max), {what}")
    else:
        ax.text(0.5, 0.5, "no test_ami_max_per_iteration in run.json", ha="center", transform=ax.transAxes)
    _baseline_lines(ax, _baselines(rec))
    ax.set_xlabel("frame t, grouped by the EM step that predicted it (t = 0: γ₀ scored on frame 1)" if _is_flying(rec)
                  else "EM iteration t (t = 0: the initial assignment γ₀)")
    ax.set_ylabel("test AMI (max normaliser)")
    finite = per[np.isfinite(per)]
    ax.set_ylim(min(-0.05, float(finite.min()) - 0.05) if finite.size else -0.05, 1.0)
    if per.size:
        ax.set_xticks(iteration_columns(per.size, 16))
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3)
    arith = _num(m.get("test_ami_arithmetic"))
    fig.suptitle(_title(rec, f"Test AMI per frame (AMI arithmetic, mean: {arith:.3f})" if _is_flying(rec)
                        else f"Test AMI per EM iteration (AMI arithmetic at the end: {arith:.3f})"), fontsize=10)
    fig.savefig(out / "ami_per_iteration.png")
    return out / "ami_per_iteration.png"


# ----------------------------------------------------------------------------- flying shapes (sequences)

def _sequence_examples(out: Path, rec: dict, ex: dict) -> Path:
    imgs, labs = ex["images"][:4], ex["labels"][:4]                 # (n, F, H, W)
    cols = iteration_columns(imgs.shape[1], 11)
    rows = [[imgs[i, f] for f in cols] for i in range(len(imgs))]
    rows += [[truth_colours(labs[i, f], imgs[i, f]) for f in cols] for i in range(min(2, len(imgs)))]
    return image_grid(rows, titles=[f"frame {f}" for f in cols],
                      row_labels=[f"test {i + 1}" for i in range(len(imgs))] + [f"groups {i + 1}" for i in range(min(2, len(imgs)))],
                      path=out / "dataset_examples.png",
                      suptitle=_title(rec, "Flying-shapes test sequences (grey = overlap of shapes)"))


def _sequence_grouping(out: Path, rec: dict, ex: dict) -> Path:
    """Thesis Fig. 5.5: per frame, the input, the argmax slot of the frame each step predicts, the truth."""
    imgs, labs, gamma = ex["images"], ex["labels"], ex["gamma"]
    T1, n, K, _ = gamma.shape
    slots = gamma.argmax(axis=2).reshape(T1, n, *imgs.shape[2:])      # slots[t] groups frame t (t >= 1)
    cols = iteration_columns(T1 - 1, 10) + 1
    rows = []
    for i in range(min(3, n)):
        rows += [[imgs[i, t] for t in cols], [colourise(slots[t, i], imgs[i, t], K) for t in cols],
                 [truth_colours(labs[i, t], imgs[i, t], slots[t, i], K) for t in cols]]
    labels = [f"{w} {i + 1}" for i in range(min(3, n)) for w in ("frame", "slots", "truth")]
    return image_grid(rows, titles=[f"t={t}" for t in cols], row_labels=labels, path=out / "em_iterations.png",
                      suptitle=_title(rec, "Grouping of each frame by the step that predicts it (argmax γ)"))


def _sequence_predictions(out: Path, rec: dict, ex: dict) -> Path:
    imgs, gamma, psi = ex["images"], ex["gamma"], ex["psi"]
    T, n, K, _ = psi.shape
    H, W = imgs.shape[2:]
    cols = iteration_columns(T, 10)                                  # psi[t] predicts frame t + 1
    rows = [[imgs[0, t + 1] for t in cols], [soft_colourise(gamma[t + 1, 0].reshape(K, H, W).astype(np.float64),
                                                            imgs[0, t + 1]) for t in cols]]
    rows += [[_tint(psi[t, 0, k].reshape(H, W).astype(np.float64), SLOT_COLOURS[k]) for t in cols] for k in range(K)]
    return image_grid(rows, titles=[f"t={t + 1}" for t in cols],
                      row_labels=["frame", "soft γ", *(f"ψ slot {k + 1}" for k in range(K))],
                      path=out / "reconstructions.png",
                      suptitle=_title(rec, "Per-slot next-frame predictions ψ over a test sequence"))


def make_sequence_gif(run_dir, *, fps: float = 3.0, upscale: int = 4) -> Path:
    """Write ``sequence.gif`` (flying shapes): per frame, side by side, the frame, the argmax-slot
    grouping and each slot's prediction ψ_k, for the first test sequence of examples.npz."""
    from common.runs import prepare_out_dir
    out = _run_dir(run_dir)
    rec = _record(out)
    ex = load_examples(out, sequences=True)
    imgs, gamma, psi = ex["images"][0].astype(np.float64), ex["gamma"][:, 0], ex["psi"][:, 0]
    T, K, _ = psi.shape
    H, W = imgs.shape[1:]
    frames = []
    for t in range(1, T + 1):
        slot = gamma[t].argmax(axis=0).reshape(H, W)
        panels = [np.repeat(1 - imgs[t][..., None], 3, axis=-1), colourise(slot, imgs[t], K),
                  *(_tint(psi[t - 1, k].reshape(H, W).astype(np.float64), SLOT_COLOURS[k]) for k in range(K))]
        sep = np.full((H, 1, 3), 0.75)
        frames.append(np.concatenate([q for j, p in enumerate(panels) for q in ((sep,) if j else ()) + (p,)], axis=1))
    captions = [f"frame {t}: input | slots | ψ per slot" + (" (smoke test)" if _is_smoke(rec) else "")
                for t in range(1, T + 1)]
    prepare_out_dir(out)
    return save_gif(np.stack(frames), out / SEQUENCE_GIF, fps=fps, upscale=upscale, captions=captions,
                    hold_last_s=1.0)


def make_figures(run_dir) -> list[Path]:
    """Write the six PNGs of FIGURES into ``run_dir`` and return their paths.

    Raises FileNotFoundError (no run dir / run.json / examples.npz), RunDataError (bad content)
    or common.runs.RunDirError (directory not writable).
    """
    from common.runs import prepare_out_dir
    out = _run_dir(run_dir)
    rec = _record(out)
    h = _history(rec)
    flying = _is_flying(rec)
    ex = load_examples(out, sequences=flying)
    prepare_out_dir(out)  # writable? (a clear error rather than one from deep inside savefig)
    if flying:
        return [_sequence_examples(out, rec, ex), _learning_curves(out, rec, h), _valid_ami(out, rec, h),
                _sequence_grouping(out, rec, ex), _sequence_predictions(out, rec, ex), _ami_per_iteration(out, rec)]
    return [_dataset_examples(out, rec, ex), _learning_curves(out, rec, h), _valid_ami(out, rec, h),
            _em_iterations(out, rec, ex), _reconstructions(out, rec, ex), _ami_per_iteration(out, rec)]


def make_gif(run_dir, *, fps: float = 4.0, upscale: int = 3) -> Path:
    """Write ``binding_over_training.gif`` into ``run_dir``: one frame per evaluation, each a row of
    the S snapshot images coloured by argmax slot (foreground only), captioned with the update.
    For a flying-shapes run (snapshots: the last frame of S validation sequences) also
    ``sequence.gif`` (``make_sequence_gif``)."""
    from common.runs import prepare_out_dir
    out = _run_dir(run_dir)
    rec = _record(out)
    sn = load_snapshots(out)
    E, S, K, _ = sn["gamma"].shape
    imgs = sn["images"]
    slots = sn["gamma"].argmax(axis=2).reshape(E, *imgs.shape)  # (E, S, H, W)
    col = colourise(slots, np.broadcast_to(imgs, slots.shape), K)  # (E, S, H, W, 3)
    sep = np.full((E, imgs.shape[1], 1, 3), 0.75)  # 1-pixel grey line between images
    parts = [p for s in range(S) for p in ((sep,) if s else ()) + (col[:, s],)]
    frames = np.concatenate(parts, axis=2)  # (E, H, S*W + S-1, 3)
    best = rec["metrics"].get("best_update")
    smoke = " (smoke test)" if _is_smoke(rec) else ""
    captions = [f"update {int(u)}{' (chosen checkpoint)' if u == best else ''}{smoke}" for u in sn["update"]]
    prepare_out_dir(out)
    path = save_gif(frames, out / GIF_NAME, fps=fps, upscale=upscale, captions=captions, hold_last_s=1.5)
    if _is_flying(rec):         # a flying-shapes run also gets its test sequence animated (thesis Fig. 5.5)
        make_sequence_gif(out)
    return path


# ----------------------------------------------------------------------------- the two scripts

# visualize_neural_em_shapes.py [RUN_DIR] and make_neural_em_shapes_gif.py [RUN_DIR] [--fps F] [--upscale N]
figures_main, gif_main = redraw_scripts("neural_em_shapes", make_figures, make_gif, fps=4.0, upscale=3, gif_name="binding_over_training.gif")
