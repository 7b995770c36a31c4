"""Figures of Reconstruction Clustering, drawn from SAVED ARRAYS only (run.json, trace.npz,
novel_objects.npz); nothing here runs a model.

Per dataset run directory (``<out>/<dataset>/``: run.json, trace.npz):
  scores_sorted.png     per-image test AMI and confidence, sorted by score (top of thesis Figs. 4.8-4.10)
  rc_iterations.png     six test images spanning the score range: input, assignments over the RC
                        iterations, ground truth (centre of Figs. 4.8-4.10)
  loglik_iterations.png log-likelihood over iterations: test mean ± s.d. and the six examples (right of 4.8)
  loglik_vs_K.png       log-likelihood over iterations for several K (Fig. 4.7b)
  ami_per_iteration.png AMI(max) after every iteration, with the baselines
  reconstructions.png   per-slot reconstructions psi_k at the last iteration
  dae_learning_curve.png
  rc_iterations.gif     the RC iterations on eight test images
Across datasets (``make_summary_figures``): ami_vs_K.png (Fig. 4.7a), single_vs_multi.png
(Fig. 4.12a), dae_loss_vs_ami.png (Fig. 4.11, from the search records), novel_objects.png (Fig. 4.14,
from ``<root>/novel_objects.npz``, written by the CLI with the multi-MNIST DAE).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from common.plotting import colourise, image_grid, save_gif, soft_colourise, truth_colours
from common.cli import positive_float, positive_int, redraw_script
from common.runs import read_run

from .config import THESIS_AMI

__all__ = ["make_dataset_figures", "make_gif", "make_summary_figures", "ami_vs_k_figure",
           "single_vs_multi_figure", "loss_vs_ami_figure", "novel_objects_figure", "DATASET_FIGURES",
           "GIF_NAME", "QUANTISED"]

QUANTISED = ("gammas", "psi_last")       # trace.npz arrays stored as round(255 p), uint8

DATASET_FIGURES = ("scores_sorted.png", "rc_iterations.png", "loglik_iterations.png", "loglik_vs_K.png",
                   "ami_per_iteration.png", "reconstructions.png", "dae_learning_curve.png")
GIF_NAME = "rc_iterations.gif"
SHOW_ITERS = (0, 1, 2, 3, 5, 10)


def _figure(w=6.4, h=4.2):
    from matplotlib.figure import Figure
    fig = Figure(figsize=(w, h), dpi=100, layout="constrained")
    return fig, fig.subplots()


def _save(fig, path: Path) -> Path:
    fig.savefig(path)
    return path


def _load(run_dir) -> tuple[dict, dict]:
    run_dir = Path(run_dir)
    rec = read_run(run_dir / "run.json")
    with np.load(run_dir / "trace.npz") as z:
        tr = {k: z[k] for k in z.files}
    for k in QUANTISED:                                  # probabilities stored as uint8 0..255
        tr[k] = tr[k].astype(np.float32) / 255.0
    return rec, tr


def _hw(tr: dict) -> tuple[int, int]:
    return tuple(tr["images"].shape[1:3])


def _title(rec: dict, what: str) -> str:
    c = rec["config"]
    q = " (--quick: not a result)" if rec.get("notes", "").startswith("--quick") else ""
    return f"RC {c['dataset']}, K={c['K']}, {c['train_on']}-object DAE: {what}{q}"


def _iters(T: int) -> list[int]:
    return [t for t in SHOW_ITERS if t < T] + ([T - 1] if T - 1 not in SHOW_ITERS else [])


def _scores_sorted(out: Path, rec: dict) -> Path:
    m = rec["metrics"]
    s = np.asarray(m["test_per_image_ami_max"], float)
    c = np.asarray(m["test_per_image_confidence"], float)
    order = np.argsort(-np.nan_to_num(s, nan=-1), kind="stable")
    fig, ax = _figure(7, 3.2)
    ax.plot(s[order], label=f"AMI(max), mean {np.nanmean(s):.3f}")
    ax.plot(c[order], label="confidence (mean max_k gamma)", alpha=0.7)
    ax.set_xlabel("test images sorted by score")
    ax.set_ylim(-0.05, 1.05)
    ax.legend(loc="lower left")
    ax.set_title(_title(rec, "score per test image"), fontsize=9)
    return _save(fig, out / "scores_sorted.png")


def _rc_iterations(out: Path, rec: dict, tr: dict) -> Path:
    H, W = _hw(tr)
    scores = tr["example_scores"]
    preds, images, labels = tr["example_preds"], tr["example_images"], tr["example_labels"]   # (T+1, 6, D), (6, H, W)
    idx = range(len(scores))
    K = int(rec["metrics"]["K"])
    iters = _iters(preds.shape[0])
    rows = [[images[i] for i in idx]]
    for t in iters:
        rows.append([colourise(preds[t, i].reshape(H, W), images[i], K) for i in idx])
    rows.append([truth_colours(labels[i], images[i], preds[-1, i].reshape(H, W), K) for i in idx])
    return image_grid(rows, titles=[f"AMI {a:.2f}" for a in scores],
                      row_labels=["input"] + [("init" if t == 0 else f"iter {t}") for t in iters] + ["truth"],
                      path=out / "rc_iterations.png", suptitle=_title(rec, "assignments over iterations"))


def _loglik_iterations(out: Path, rec: dict, tr: dict) -> Path:
    m = rec["metrics"]
    mu, sd = np.asarray(m["test_loglik_per_iteration_mean"]), np.asarray(m["test_loglik_per_iteration_std"])
    it = np.arange(1, mu.size + 1)
    fig, ax = _figure()
    ax.plot(it, mu, color="k", label="test mean")
    ax.fill_between(it, mu - sd, mu + sd, color="k", alpha=0.15, label="± s.d.")
    for i, a in enumerate(tr["example_scores"]):
        ax.plot(it, tr["example_loglik"][:, i], alpha=0.7, linewidth=1, label=f"example, AMI {a:.2f}")
    ax.set_xlabel("RC iteration")
    ax.set_ylabel("log-likelihood (nats per image)")
    ax.legend(fontsize=7)
    ax.set_title(_title(rec, "log-likelihood"), fontsize=9)
    return _save(fig, out / "loglik_iterations.png")


def _loglik_vs_K(out: Path, rec: dict) -> Path:
    fig, ax = _figure()
    for row in rec["metrics"]["ami_vs_K"]:
        mu, sd = np.asarray(row["loglik_per_iteration_mean"]), np.asarray(row["loglik_per_iteration_std"])
        it = np.arange(1, mu.size + 1)
        line, = ax.plot(it, mu, label=f"K={row['K']} (AMI {row['ami_max']:.3f})")
        ax.fill_between(it, mu - sd, mu + sd, color=line.get_color(), alpha=0.12)
    ax.set_xlabel("RC iteration")
    ax.set_ylabel("log-likelihood (nats per image)")
    ax.legend(fontsize=8)
    ax.set_title(_title(rec, "log-likelihood for several K (Fig. 4.7b)"), fontsize=9)
    return _save(fig, out / "loglik_vs_K.png")


def _ami_per_iteration(out: Path, rec: dict) -> Path:
    m = rec["metrics"]
    per = np.asarray(m["test_ami_max_per_iteration"], float)
    fig, ax = _figure()
    ax.plot(np.arange(per.size), per, marker="o", label="RC, test AMI(max)")
    for i, (name, v) in enumerate(rec.get("baselines", {}).items()):
        ax.axhline(v["ami_max"], linestyle="--", linewidth=1, color=["0.5", "#bcbd22", "#17becf"][i % 3],
                   label=f"{name}: {v['ami_max']:.3f}")
    if m.get("thesis_ami") is not None:
        ax.axhline(m["thesis_ami"], color="#d62728", linestyle=":", label=f"thesis: {m['thesis_ami']:.3f}")
    ax.set_xlabel("RC iteration (0 = gamma_0)")
    ax.set_ylabel("AMI(max)")
    ax.set_ylim(-0.05, 1.05)
    ax.legend(fontsize=8)
    ax.set_title(_title(rec, "AMI per iteration"), fontsize=9)
    return _save(fig, out / "ami_per_iteration.png")


def _reconstructions(out: Path, rec: dict, tr: dict) -> Path:
    H, W = _hw(tr)
    K = tr["psi_last"].shape[1]
    n = min(6, len(tr["images"]))
    rows = []
    for i in range(n):
        g = tr["gammas"][-1, i].reshape(K, H, W)
        row = [tr["images"][i], soft_colourise(g, tr["images"][i])]
        row += [tr["psi_last"][i, k].reshape(H, W) for k in range(min(K, 12))]
        rows.append(row)
    return image_grid(rows, titles=["input", "gamma"] + [f"psi_{k + 1}" for k in range(min(K, 12))],
                      path=out / "reconstructions.png", suptitle=_title(rec, "per-slot reconstructions, last iteration"))


def _learning_curve(out: Path, rec: dict) -> Path:
    h = rec["history"]
    fig, ax = _figure()
    ax.plot(h["epoch"][1:], h["train_loss"][1:], label="train (noisy input)")
    ax.plot(h["epoch"], h["valid_loss"], label="validation (fixed noisy copy)")
    best = rec["metrics"]["best_epoch"]
    ax.axvline(best, color="0.4", linestyle=":", label=f"kept: epoch {best}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("denoising BCE (nats per image)")
    ax.set_yscale("log")
    ax.legend()
    ax.set_title(_title(rec, "DAE training"), fontsize=9)
    return _save(fig, out / "dae_learning_curve.png")


def make_gif(run_dir, *, n: int = 8, fps: float = 2.0, upscale: int = 4) -> Path:
    """The RC iterations (soft assignments) on the first n traced test images, one frame per iteration."""
    run_dir = Path(run_dir)
    rec, tr = _load(run_dir)
    H, W = _hw(tr)
    G = tr["gammas"]
    K = G.shape[2]
    n = min(n, G.shape[1])
    frames, captions = [], []
    for t in range(G.shape[0]):
        tiles = [soft_colourise(G[t, i].reshape(K, H, W), tr["images"][i]) for i in range(n)]
        frames.append(np.concatenate([np.pad(x, ((1, 1), (1, 1), (0, 0)), constant_values=1.0) for x in tiles], 1))
        captions.append(f"{rec['config']['dataset']}: " + ("gamma_0" if t == 0 else f"RC iteration {t}"))
    return save_gif(np.stack(frames), run_dir / GIF_NAME, fps=fps, upscale=upscale, captions=captions, hold_last_s=1.5)


def make_dataset_figures(run_dir, gif: bool = True) -> list[Path]:
    run_dir = Path(run_dir)
    rec, tr = _load(run_dir)
    paths = [_scores_sorted(run_dir, rec), _rc_iterations(run_dir, rec, tr), _loglik_iterations(run_dir, rec, tr),
             _loglik_vs_K(run_dir, rec), _ami_per_iteration(run_dir, rec), _reconstructions(run_dir, rec, tr),
             _learning_curve(run_dir, rec)]
    if gif:
        paths.append(make_gif(run_dir))
    return paths


# ----------------------------------------------------------------------------- across datasets

def _dataset_runs(root: Path) -> dict[str, dict]:
    runs = {}
    for p in sorted(Path(root).glob("*/run.json")):
        rec = read_run(p)
        runs[rec["config"]["dataset"]] = rec
    return runs


def ami_vs_k_figure(root, path=None) -> Path:
    """Fig. 4.7a: test AMI(max) against K for every dataset of a run root; thesis K marked."""
    root = Path(root)
    fig, ax = _figure(7, 4.2)
    for name, rec in _dataset_runs(root).items():
        rows = rec["metrics"]["ami_vs_K"]
        line, = ax.plot([r["K"] for r in rows], [r["ami_max"] for r in rows], marker="o", label=name)
        ax.plot([rec["metrics"]["K"]], [rec["metrics"]["test_ami_max"]], marker="*", markersize=14,
                color=line.get_color())
    ax.set_xlabel("K (star: the thesis K)")
    ax.set_ylabel("test AMI(max)")
    ax.set_ylim(-0.05, 1.05)
    ax.legend(fontsize=8)
    ax.set_title("Reconstruction Clustering: AMI against K (thesis Fig. 4.7a)", fontsize=10)
    return _save(fig, Path(path or root / "ami_vs_K.png"))


def single_vs_multi_figure(single_root, multi_root, path) -> Path:
    """Fig. 4.12a: test AMI of single- vs multi-object-trained DAEs, with the thesis values."""
    s, m = _dataset_runs(single_root), _dataset_runs(multi_root)
    names = [n for n in s if n in m]
    x = np.arange(len(names))
    fig, ax = _figure(7.5, 4.2)
    ax.bar(x - 0.3, [s[n]["metrics"]["test_ami_max"] for n in names], 0.2, label="ours, single-object DAE (soft)")
    ax.bar(x - 0.1, [THESIS_AMI["single"][n] for n in names], 0.2, label="thesis, single", alpha=0.5)
    ax.bar(x + 0.1, [m[n]["metrics"]["test_ami_max"] for n in names], 0.2, label="ours, multi-object DAE (hard)")
    ax.bar(x + 0.3, [THESIS_AMI["multi"].get(n, np.nan) for n in names], 0.2, label="thesis, multi", alpha=0.5)
    ax.set_xticks(x, names, rotation=20, fontsize=8)
    ax.set_ylabel("test AMI(max)")
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=7)
    ax.set_title("Single- vs multi-object training (thesis Fig. 4.12a)", fontsize=10)
    return _save(fig, Path(path))


def loss_vs_ami_figure(search_dir, path, train_on: str = "single") -> Path:
    """Fig. 4.11: DAE validation loss against validation AMI over the random-search runs of the
    DAEs trained on ``train_on``-object images."""
    files = sorted(Path(search_dir).glob(f"{train_on}_*.json"))
    n = max(len(files), 1)
    cols = min(3, n)
    rows = (n + cols - 1) // cols
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
    fig = Figure(figsize=(3.3 * cols, 2.8 * rows), dpi=100, layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    for ax, f in zip(axes, files):
        rec = json.loads(f.read_text())
        loss = np.array([r["valid_dae_loss"] for r in rec["runs"]], float)
        ami = np.array([r["valid_ami_max"] for r in rec["runs"]], float)
        ok = np.isfinite(loss) & np.isfinite(ami)
        ax.scatter(loss[ok], ami[ok], s=14)
        # The preset's run: the confirmation stage's winner when there is one, at its search-stage point.
        chosen_run = (rec.get("confirmation") or rec)["chosen"]["run"]
        c = next(r for r in rec["runs"] if r["run"] == chosen_run)
        ax.scatter([c["valid_dae_loss"]], [c["valid_ami_max"]], marker="*", s=120, color="#d62728", label="chosen")
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())     # a narrow log range labels its minor ticks: unreadable
        if ok.any() and loss[ok].max() < 10 * loss[ok].min():  # less than a decade: label 1, 2, 5 x 10^k
            ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.set_title(rec["dataset"], fontsize=9)
        ax.set_xlabel("DAE validation loss", fontsize=8)
        ax.set_ylabel("validation AMI(max)", fontsize=8)
    for ax in axes[len(files):]:
        ax.set_visible(False)
    fig.suptitle(f"DAE loss vs RC score across the random search, {train_on}-object DAEs (thesis Fig. 4.11)",
                 fontsize=10)
    return _save(fig, Path(path))


def novel_objects_figure(arrays_path, path) -> Path:
    """Fig. 4.14: RC with the multi-MNIST DAE on objects it never saw (letters, circles, bars), from
    the arrays ``evaluate.novel_objects_trace`` saved (``<root>/novel_objects.npz``)."""
    with np.load(arrays_path) as z:
        images, labels, preds, per, K = (z["images"].astype(np.float32), z["labels"], z["preds"], z["ami_max"],
                                         int(z["K"]))
    iters = _iters(preds.shape[0])
    rows = [list(images)]
    for t in iters:
        rows.append([colourise(preds[t, i].astype(np.int64), images[i], K) for i in range(len(per))])
    rows.append([truth_colours(labels[i], images[i], preds[-1, i].astype(np.int64), K) for i in range(len(per))])
    return image_grid(rows, titles=[f"AMI {a:.2f}" for a in per],
                      row_labels=["input"] + [("init" if t == 0 else f"iter {t}") for t in iters] + ["truth"],
                      path=Path(path), suptitle="RC with the multi-MNIST DAE on novel objects (thesis Fig. 4.14)")


def make_summary_figures(root, *, multi_root=None, search_dir=None) -> list[Path]:
    root = Path(root)
    paths = [ami_vs_k_figure(root)]
    if multi_root is not None:
        paths.append(single_vs_multi_figure(root, multi_root, root / "single_vs_multi.png"))
    # The search records that match the root's DAEs (single- or multi-object training).
    train_on = {r["config"]["train_on"] for r in _dataset_runs(root).values()}
    train_on = train_on.pop() if len(train_on) == 1 else "single"
    if search_dir is not None and any(Path(search_dir).glob(f"{train_on}_*.json")):
        paths.append(loss_vs_ami_figure(search_dir, root / "dae_loss_vs_ami.png", train_on))
    if (root / "novel_objects.npz").exists():
        paths.append(novel_objects_figure(root / "novel_objects.npz", root / "novel_objects.png"))
    return paths


# ----------------------------------------------------------------------------- the two scripts

SEARCH_DIR = Path(__file__).resolve().parent / "results" / "search"      # the committed search records


def _dataset_dirs(root: Path, needs: str) -> list[Path]:
    """A dataset's run directory itself, or every dataset directory of a run root."""
    dirs = [root] if (root / needs).exists() else sorted(p.parent for p in root.glob(f"*/{needs}"))
    if not dirs:
        raise FileNotFoundError(f"no {needs} in {str(root)!r} or its dataset directories "
                                "(write a run with reconstruction_clustering.py --out)")
    return dirs


def figures_main(argv=None) -> int:
    """``visualize_reconstruction_clustering.py [ROOT] [--multi-root DIR] [--search-dir DIR]``:
    every figure of a run root (one directory per dataset) from its saved runs; --multi-root (a
    --train-on multi root) adds the single- vs multi-object figure, --search-dir (default: the
    committed search records) the DAE-loss-vs-AMI figure."""
    def args(p):
        p.add_argument("--multi-root", default=None, help="run root of a --train-on multi run")
        p.add_argument("--search-dir", default=str(SEARCH_DIR), help="directory of search records")
        p.add_argument("--no-gif", action="store_true", help="skip the GIFs")

    def draw(a):
        root = Path(a.run_dir)
        paths = [p for d in _dataset_dirs(root, "run.json") for p in make_dataset_figures(d, gif=not a.no_gif)]
        return paths + make_summary_figures(root, multi_root=a.multi_root, search_dir=a.search_dir)
    return redraw_script("visualize_reconstruction_clustering.py", "Write the PNG figures (and GIFs) of a "
                         "reconstruction_clustering run root from its saved runs.", draw,
                         default_dir="runs/reconstruction_clustering", add_args=args, argv=argv)


def gif_main(argv=None) -> int:
    """``make_reconstruction_clustering_gif.py RUN_DIR [--fps F] [--upscale N]``: rc_iterations.gif of
    a dataset's run directory, or of every dataset of a run root."""
    def args(p):
        p.add_argument("--fps", type=positive_float, default=2.0, help="frames per second (default 2)")
        p.add_argument("--upscale", type=positive_int, default=4, help="pixel magnification (default 4)")
    return redraw_script("make_reconstruction_clustering_gif.py", "Write rc_iterations.gif from saved RC "
                         "traces.", lambda a: [make_gif(d, fps=a.fps, upscale=a.upscale)
                                               for d in _dataset_dirs(Path(a.run_dir), "trace.npz")],
                         default_dir="runs/reconstruction_clustering", add_args=args, argv=argv)
