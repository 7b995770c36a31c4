"""Figures and the training GIF of an AIR run, drawn from the arrays a run saved (run.json,
examples.npz, snapshots.npz): this module never runs a model.

FIGURES: inferred windows on test images, per-step objects and decoded windows, confusion matrix,
training curves, 3-digit generalisation examples; GIF: windows and reconstructions of validation
images at every evaluation during training. :func:`save_detection_png` draws one image with its
boxes (the inference API's ``Detections.save_png``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from common.plotting import SLOT_COLOURS, save_gif
from common.cli import redraw_scripts
from common.runs import load_weights, prepare_out_dir, read_run

__all__ = ["FIGURES", "GIF_NAME", "EXAMPLES", "SNAPSHOTS", "make_figures", "make_gif", "save_detection_png"]

FIGURES = ("test_boxes.png", "per_step.png", "confusion.png", "training_curves.png", "three_digits.png")
GIF_NAME = "training.gif"
EXAMPLES = "examples.npz"     # test / 3-digit examples and what the chosen checkpoint inferred on them
SNAPSHOTS = "snapshots.npz"   # validation examples inferred at every evaluation during training


def _read(run_dir, npz: str):
    out = Path(run_dir)
    if not out.is_dir():
        raise FileNotFoundError(f"no run directory at {str(out)!r}")
    rec = read_run(out)
    if rec.get("paper") != "air_multimnist":
        raise ValueError(f"{str(out)!r} holds a {rec.get('paper')!r} run, not an air_multimnist run")
    if not (out / npz).is_file():
        raise FileNotFoundError(f"{str(out)!r} has no {npz}: the figures are drawn from the arrays a run saves "
                                f"(runs made before they were saved keep only run.json and their figures)")
    return out, rec, load_weights(out / npz)


def _T(rec) -> int:
    c = rec["config"]
    T = c.get("max_objects", c.get("steps"))        # "steps": records of the earlier code
    if not isinstance(T, int):
        raise ValueError("run.json config lacks max_objects")
    return T


def _title(rec, what: str) -> str:
    smoke = "  [--quick smoke test: not a result]" if "smoke" in (rec.get("notes") or "") else ""
    return f"{what} (seed {rec['seed']}, {rec['config']['estimator']}){smoke}"


def _draw_boxes(ax, boxes, z):
    from matplotlib.patches import Rectangle
    for t in range(boxes.shape[0]):
        if z[t] > 0 and np.all(np.isfinite(boxes[t])):
            top, left, h, w = boxes[t]
            ax.add_patch(Rectangle((left - 0.5, top - 0.5), w, h, fill=False, lw=1.5, ec=SLOT_COLOURS[t]))


def _scene_grid(path, rec, images, true_boxes, recon, window_boxes, z_pres, counts, title):
    from matplotlib.figure import Figure
    n = len(images)
    fig = Figure(figsize=(1.5 * n, 3.4), dpi=100, layout="constrained")
    axes = fig.subplots(2, n, squeeze=False)
    for i in range(n):
        for r, img in enumerate((images[i], np.clip(recon[i], 0, 1))):
            ax = axes[r, i]
            ax.imshow(img, cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            _draw_boxes(ax, window_boxes[i], z_pres[i])
        tb = true_boxes[i]
        k = int(np.sum(np.all(np.isfinite(tb), axis=1)))
        axes[0, i].set_title(f"true {k}, inferred {counts[i]}", fontsize=8,
                             color="k" if k == counts[i] else "#d62728")
    axes[0, 0].set_ylabel("input + windows", fontsize=8)
    axes[1, 0].set_ylabel("reconstruction", fontsize=8)
    fig.suptitle(_title(rec, title), fontsize=9)
    fig.savefig(path)
    return path


def _per_step(path, rec, images, objects, patches, z_pres, p_pres):
    from matplotlib.figure import Figure
    T, n = objects.shape[1], len(images)
    fig = Figure(figsize=(1.3 * (1 + 2 * T), 1.35 * n + 0.4), dpi=100, layout="constrained")
    axes = fig.subplots(n, 1 + 2 * T, squeeze=False)
    for i in range(n):
        cells = [images[i]] + [objects[i, t] * z_pres[i, t] for t in range(T)] \
            + [patches[i, t] for t in range(T)]
        for j, img in enumerate(cells):
            ax = axes[i, j]
            ax.imshow(np.clip(img, 0, 1), cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if 1 <= j <= T:
                t = j - 1
                for s in ax.spines.values():
                    s.set_color(SLOT_COLOURS[t] if z_pres[i, t] else "0.85")
                    s.set_linewidth(2)
        if i == 0:
            names = ["input"] + [f"step {t + 1} object" for t in range(T)] + [f"step {t + 1} window" for t in range(T)]
            for j, nm in enumerate(names):
                axes[0, j].set_title(nm, fontsize=8)
    for i in range(n):
        axes[i, 0].set_ylabel(" ".join(f"{p:.2f}" for p in p_pres[i]), fontsize=7)
    fig.suptitle(_title(rec, "Per-step objects (blank = z_pres off; label = p(z_pres) per step) and decoded windows"),
                 fontsize=9)
    fig.savefig(path)
    return path


def _confusion(path, rec):
    from matplotlib.figure import Figure
    m = rec["metrics"]
    conf = np.asarray(m["test_confusion"])
    conf = conf[conf.sum(1) > 0]
    fig = Figure(figsize=(4.6, 3.6), dpi=100, layout="constrained")
    ax = fig.subplots()
    ax.imshow(conf / np.maximum(conf.sum(1, keepdims=True), 1), cmap="Blues", vmin=0, vmax=1)
    for i in range(conf.shape[0]):
        for j in range(conf.shape[1]):
            ax.text(j, i, str(conf[i, j]), ha="center", va="center", fontsize=9,
                    color="white" if conf[i, j] > 0.6 * conf[i].sum() else "black")
    ax.set_xlabel("inferred count")
    ax.set_ylabel("true count")
    ax.set_xticks(range(conf.shape[1]))
    ax.set_yticks(range(conf.shape[0]))
    ax.set_title(f"test accuracy {m['test_count_accuracy']:.3f} "
                 f"(ink baseline {rec['baselines']['ink_thresholds']['count_accuracy']:.3f})", fontsize=9)
    fig.suptitle(_title(rec, "Count confusion"), fontsize=9)
    fig.savefig(path)
    return path


def _curves(path, rec):
    from matplotlib.figure import Figure
    h = rec["history"]
    fig = Figure(figsize=(10, 3.6), dpi=100, layout="constrained")
    a1, a2 = fig.subplots(1, 2)
    a1.plot(h["update"], h["train_elbo"], label="train ELBO (mean since last evaluation)")
    a1.plot(h["update"], h["valid_elbo"], label="validation ELBO")
    a1.set_xlabel("update")
    a1.set_ylabel("ELBO (nats per image)")
    a1.legend(fontsize=8)
    a1.grid(alpha=0.3)
    a2.plot(h["update"], h["valid_count_accuracy"], label="validation count accuracy", marker="o", ms=3)
    a2.plot(h["update"], h["valid_share_all_steps"], label=f"share of images using all {_T(rec)} steps")
    ink = rec["baselines"]["ink_thresholds"]["count_accuracy"]
    a2.axhline(ink, color="0.5", ls="--", label=f"ink-threshold baseline (test) {ink:.3f}")
    best = rec["metrics"].get("best_update")
    if best:
        a2.axvline(best, color="0.4", ls=":", label=f"chosen checkpoint ({best})")
    a2.set_ylim(0, 1.02)
    a2.set_xlabel("update")
    a2.legend(fontsize=8)
    a2.grid(alpha=0.3)
    fig.suptitle(_title(rec, "Training curves"), fontsize=9)
    fig.savefig(path)
    return path


def make_figures(run_dir) -> list[Path]:
    """Write FIGURES into ``run_dir`` from its run.json and examples.npz."""
    out, rec, ex = _read(run_dir, EXAMPLES)
    prepare_out_dir(out)
    three = rec["metrics"]["three_digit"]
    n = min(6, len(ex["images"]))
    return [
        _scene_grid(out / FIGURES[0], rec, ex["images"], ex["boxes"], ex["recon"], ex["window_boxes"],
                    ex["z_pres"], ex["pred_counts"], "Test images: inferred windows (colour = step)"),
        _per_step(out / FIGURES[1], rec, ex["images"][:n], ex["objects"][:n], ex["patches"][:n],
                  ex["z_pres"][:n], ex["p_pres"][:n]),
        _confusion(out / FIGURES[2], rec),
        _curves(out / FIGURES[3], rec),
        _scene_grid(out / FIGURES[4], rec, ex["three_images"], ex["three_boxes"], ex["three_recon"],
                    ex["three_window_boxes"], ex["three_z_pres"], ex["three_pred_counts"],
                    f"3-digit images (never trained on): count accuracy {three['count_accuracy']:.3f}"),
    ]


def save_detection_png(path, image, boxes, recon, *, p_pres=None, scale: float = 0.06) -> Path:
    """One image with its found objects' boxes (top, left, height, width; NaN rows = nothing found;
    colour = step) beside the reconstruction. Returns the path written."""
    from matplotlib.figure import Figure
    img = np.asarray(image, dtype=np.float64)
    boxes = np.asarray(boxes, dtype=np.float64)
    found = np.all(np.isfinite(boxes), axis=1)
    C = img.shape[-1]
    fig = Figure(figsize=(2 * C * scale + 0.4, C * scale + 0.6), dpi=100, layout="constrained")
    a1, a2 = fig.subplots(1, 2)
    for ax, im, title in ((a1, img, f"{int(found.sum())} object(s) found"),
                          (a2, np.clip(np.asarray(recon, dtype=np.float64), 0, 1), "reconstruction")):
        ax.imshow(im, cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(title, fontsize=8)
    _draw_boxes(a1, boxes, found.astype(float))
    if p_pres is not None:
        a1.set_xlabel("p(present) " + " ".join(f"{p:.2f}" for p in np.asarray(p_pres)), fontsize=7)
    path = Path(path)
    fig.savefig(path)
    return path


def _rect(img: np.ndarray, box, colour) -> None:
    """Draw the outline of box (top, left, h, w) into an (C, C, 3) image, clipped to the canvas."""
    C = img.shape[0]
    r0, c0 = int(round(box[0])), int(round(box[1]))
    r1, c1 = r0 + int(round(box[2])) - 1, c0 + int(round(box[3])) - 1
    rr0, rr1, cc0, cc1 = max(r0, 0), min(r1, C - 1), max(c0, 0), min(c1, C - 1)
    if rr0 > rr1 or cc0 > cc1:
        return
    for r in (r0, r1):
        if 0 <= r < C:
            img[r, cc0:cc1 + 1] = colour
    for c in (c0, c1):
        if 0 <= c < C:
            img[rr0:rr1 + 1, c] = colour


def make_gif(run_dir, *, fps: float = 3.0, upscale: int = 2) -> Path:
    """``training.gif``: for each evaluation, the snapshot validation images (top) with the inferred
    windows drawn in step colours and their reconstructions (bottom)."""
    out, rec, sn = _read(run_dir, SNAPSHOTS)
    T = _T(rec)
    imgs, rec_s, boxes = sn["images"], sn["recon"].astype(np.float32), sn["window_boxes"]
    E, S = rec_s.shape[0], imgs.shape[0]
    cols = np.asarray(SLOT_COLOURS, dtype=float)[:T, :3]
    frames = []
    for e in range(E):
        top = np.repeat(1 - imgs[..., None], 3, -1).copy()                  # (S, C, C, 3)
        for s in range(S):
            for t in range(T):
                b = boxes[e, s, t]
                if np.all(np.isfinite(b)):
                    _rect(top[s], b, cols[t])
        bot = np.repeat(1 - np.clip(rec_s[e], 0, 1)[..., None], 3, -1)
        row = lambda a: np.concatenate([np.pad(x, ((1, 1), (1, 1), (0, 0)), constant_values=0.8) for x in a], 1)  # noqa: E731
        frames.append(np.concatenate([row(top), row(bot)], 0))
    best = rec["metrics"].get("best_update")
    caps = [f"update {int(u)}{' (chosen)' if u == best else ''}" for u in sn["update"]]
    prepare_out_dir(out)
    return save_gif(np.stack(frames), out / GIF_NAME, fps=fps, upscale=upscale, captions=caps, hold_last_s=1.5)


# ----------------------------------------------------------------------------- the two scripts

# visualize_air_multimnist.py [RUN_DIR] and make_air_multimnist_gif.py [RUN_DIR] [--fps F] [--upscale N]
figures_main, gif_main = redraw_scripts("air_multimnist", make_figures, make_gif, fps=3.0, upscale=2, gif_name="training.gif")
