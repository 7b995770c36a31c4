"""Command line of Reconstruction Clustering: for each dataset, data -> DAE (preset chosen on
validation) -> RC on the test images -> baselines on the same images -> K sweep -> run.json,
weights, trace, figures; then a summary table over the datasets."""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from common.baselines import connected_components, kmeans_coords, random_labels
from common.cli import UsageError, add_common_args, positive_int, positive_int_list, run_main, setup_threads
from common.metrics import grouping_score
from common.rc_datasets import DATASETS, THESIS_K, make_rc_dataset
from common.runs import atomic_write_json, load_weights, prepare_out_dir, read_run, write_run

from .config import QUICK, THESIS_CONFIGS, DAEConfig, preset
from .dae import TrainResult
from .experiment import THESIS_INFERENCE, TRAIN_ON, default_e_step, evaluate, fit_dae, select_inference
from .rc import E_STEPS

PROG = "reconstruction_clustering.py"
SEARCH_DIR = Path(__file__).resolve().parent / "results" / "search"   # the committed search records
N_TRACE = 64                                    # test images whose full gamma/psi trace is saved
SWEEP_K = (2, 3, 4, 5, 6, 8, 12)                # Fig. 4.7a

# Thesis AMI at its K (Fig. 4.7a / Table 4.1; multi-object DAEs: Sec. 4.4.5), selected on test.
THESIS_AMI = {
    "single": {"bars": 0.952, "corners": 0.854, "shapes": 0.929, "multi_mnist": 0.652,
               "mnist_shape": 0.546, "simple_superposition": 0.890},
    "multi": {"bars": 0.852, "corners": 0.704, "shapes": 0.777, "multi_mnist": 0.614, "mnist_shape": 0.260},
}
NO_HELD_OUT = ("simple_superposition",)          # its validation pairs are test pairs
QUICK_SIZES = dict(n_single=1000, n_multi_train=300, n_valid=100, n_test=100)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG, description="Reconstruction Clustering (Greff et al. 2015) on its six binary datasets, in NumPy.",
        epilog="DAE configurations come from the presets chosen by `python -m reconstruction_clustering.search` "
               "on validation AMI; flags below override parts of them.")
    add_common_args(p, default_out="runs/reconstruction_clustering")
    p.add_argument("--dataset", default="all", choices=("all",) + DATASETS)
    p.add_argument("--K", type=positive_int, default=None, help="slots (default: the thesis K of each dataset)")
    p.add_argument("--iterations", type=positive_int, default=10, help="RC iterations (thesis: 10)")
    p.add_argument("--train-on", choices=TRAIN_ON, default="single",
                   help="DAE training images: single objects (thesis main result) or multi-object images")
    p.add_argument("--e-step", choices=E_STEPS, default=None,
                   help="soft (default with --train-on single) or hard (default with --train-on multi)")
    p.add_argument("--dae-config", choices=("preset", "thesis"), default="preset",
                   help="our validation-chosen presets, or the thesis's Table 4.1/4.2 settings (SGD)")
    p.add_argument("--inference", choices=("select", "thesis"), default=None,
                   help="RC's gamma_0 and restarts: chosen per run on validation AMI from a small grid "
                        "(default), or the thesis's procedure (random gamma_0, one run; default with "
                        "--quick, to keep the smoke test short)")
    p.add_argument("--sweep-K", type=positive_int_list, default=None,
                   help=f"K values for the AMI-vs-K figure (default {','.join(map(str, SWEEP_K))}; '' skips)")
    p.add_argument("--dae-from", default=None, metavar="ROOT",
                   help="load each dataset's DAE from an earlier run root (ROOT/<dataset>/weights.npz and "
                        "run.json, same --seed, --train-on and --quick) instead of training it")
    p.add_argument("--no-figures", action="store_true", help="skip the PNGs and the GIF")
    return p


def load_dae(root, name: str, args) -> tuple[DAEConfig, TrainResult, str]:
    """The DAE of an earlier run of ``name`` under ``root``: (its config, a TrainResult with its
    weights, history and early-stopping figures (seconds = 0: nothing was trained), where its
    config came from).

    The earlier run must share the seed (the MNIST digit split, and so which digits are unseen at
    test time, depends on it), the training images (--train-on) and the data sizes (--quick).
    """
    run_dir = Path(root) / name
    try:
        rec = read_run(run_dir)
    except (ValueError, FileNotFoundError) as e:
        raise UsageError(f"--dae-from: {e}") from None
    if rec.get("paper") != "reconstruction_clustering":
        raise UsageError(f"--dae-from: {run_dir} is not a reconstruction_clustering run")
    c, m = rec["config"], rec["metrics"]
    mine = {"seed": args.seed, "train_on": args.train_on, "quick": args.quick}
    theirs = {"seed": rec["seed"], "train_on": c["train_on"], "quick": c["dae_config_source"] == "quick"}
    if mine != theirs:
        raise UsageError(f"--dae-from: {run_dir} was made with {theirs}, this run is {mine}")
    try:
        params = load_weights(run_dir / "weights.npz")
    except FileNotFoundError as e:
        raise UsageError(f"--dae-from: {e} (weights are not committed; use a root you ran yourself)") from None
    # A loaded run keeps its original training time and source, so a record loaded from itself
    # (--out equal to --dae-from) still says how its DAE was made.
    return DAEConfig(**c["dae"]), TrainResult(
        params=params, history=rec["history"], best_epoch=m["dae_best_epoch"],
        best_valid_loss=m["dae_valid_loss"], epochs_run=m["dae_epochs_run"],
        seconds=m["dae_train_time_s"]), c["dae_config_source"]


def _baselines(images, labels, K: int, seed: int) -> dict:
    rng = np.random.default_rng(np.random.SeedSequence([seed, 2]))
    out = {}
    for name, pred in ((f"kmeans_coords_K{K}", kmeans_coords(images, K, rng)),
                       ("connected_components_8", connected_components(images, 8)),
                       (f"random_K{K}", random_labels(images, K, rng))):
        out[name] = {"ami_max": grouping_score(labels, pred)[0],
                     "ami_arithmetic": grouping_score(labels, pred, normalizer="arithmetic")[0]}
    return out


def _confidence(gamma: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Thesis Fig. 4.8: mean over evaluated pixels of max_k gamma, per image. gamma: (n, K, D)."""
    m = labels.reshape(len(labels), -1) > 0
    g = gamma.max(axis=1)
    return np.where(m.any(1), (g * m).sum(1) / np.maximum(m.sum(1), 1), np.nan)


def run_dataset(name: str, args, out_root: Path, argv: Sequence[str]) -> dict:
    start = time.perf_counter()
    out = prepare_out_dir(out_root / name)
    data = make_rc_dataset(name, args.seed, **(QUICK_SIZES if args.quick else {}))
    K = args.K or THESIS_K[name]
    e_kind = args.e_step or default_e_step(args.train_on)
    source = "quick" if args.quick else args.dae_config
    if args.dae_from:
        cfg, res, source = load_dae(args.dae_from, name, args)
    elif args.quick:
        cfg = QUICK
    elif args.dae_config == "thesis":
        cfg = THESIS_CONFIGS[args.train_on].get(name)
        if cfg is None:
            raise UsageError(f"the thesis has no multi-object DAE for {name}")
    else:
        cfg = preset(name, args.train_on)
    n_train = len(data.single["train"] if args.train_on == "single" else data.multi["train"])
    print(f"[{name}] DAE {cfg.hidden} {cfg.activation}, noise {cfg.noise}, {cfg.optimizer} lr {cfg.lr:g}, "
          f"trained on {args.train_on}-object images ({n_train})"
          + (f", loaded from {args.dae_from}" if args.dae_from else ""), file=sys.stderr)
    if not args.dae_from:
        res = fit_dae(data, cfg, args.train_on, np.random.default_rng(np.random.SeedSequence([args.seed, 0])))
    test, valid = data.multi["test"], data.multi["valid"]
    val_seq, test_seq = np.random.SeedSequence([args.seed, 3]), np.random.SeedSequence([args.seed, 1])
    # gamma_0 and restarts chosen on validation AMI. Not for simple superposition: its "validation"
    # pairs are drawn from the 120 test pairs, so choosing on them would be choosing on test.
    select = args.inference == "select" and name not in NO_HELD_OUT
    if select:
        inf, inf_table = select_inference(res.params, cfg.activation, valid.images, valid.labels, K=K,
                                          iterations=args.iterations, e_step_kind=e_kind, seed_seq=val_seq)
        valid_ami = max(r["valid_ami_max"] for r in inf_table)
        valid_ami_thesis = inf_table[0]["valid_ami_max"]
    else:
        inf, inf_table = dict(THESIS_INFERENCE), []
        valid_ami = valid_ami_thesis = evaluate(res.params, cfg.activation, valid.images, valid.labels,
                                                K=K, iterations=args.iterations, e_step_kind=e_kind,
                                                rng=np.random.default_rng(val_seq))[0]["ami_max"]
    scores, trace = evaluate(res.params, cfg.activation, test.images, test.labels, K=K,
                             iterations=args.iterations, e_step_kind=e_kind,
                             rng=np.random.default_rng(test_seq), keep=N_TRACE, inference=inf)
    thesis_scores = scores if inf == THESIS_INFERENCE else evaluate(
        res.params, cfg.activation, test.images, test.labels, K=K, iterations=args.iterations,
        e_step_kind=e_kind, rng=np.random.default_rng(test_seq))[0]
    base = _baselines(test.images, test.labels, K, args.seed)
    sweep = []
    ks = args.sweep_K if args.sweep_K is not None else (tuple(sorted({2, K})) if args.quick else SWEEP_K)
    for k in ks:
        s, _ = evaluate(res.params, cfg.activation, test.images, test.labels, K=k, iterations=args.iterations,
                        e_step_kind=e_kind, rng=np.random.default_rng(np.random.SeedSequence([args.seed, 4, k])),
                        inference=inf)
        sweep.append({"K": k, "ami_max": s["ami_max"], "ami_arithmetic": s["ami_arithmetic"],
                      "loglik_per_iteration_mean": s["loglik_per_iteration_mean"],
                      "loglik_per_iteration_std": s["loglik_per_iteration_std"]})
    conf = _confidence(trace.gamma, test.labels)
    metrics = {
        "test_ami_max": scores["ami_max"], "test_ami_arithmetic": scores["ami_arithmetic"],
        "test_ami_max_per_iteration": scores["ami_max_per_iteration"],
        "test_loglik_per_iteration_mean": scores["loglik_per_iteration_mean"],
        "test_loglik_per_iteration_std": scores["loglik_per_iteration_std"],
        "test_per_image_ami_max": scores["per_image_max"], "test_per_image_confidence": conf,
        "test_images": len(test), "valid_ami_max": valid_ami, "valid_images": len(valid),
        "valid_ami_max_thesis_inference": valid_ami_thesis,
        "rc_inference": inf, "rc_inference_selection": inf_table,
        "test_ami_max_thesis_inference": thesis_scores["ami_max"],
        "test_ami_arithmetic_thesis_inference": thesis_scores["ami_arithmetic"],
        "K": K, "iterations": args.iterations, "e_step": e_kind, "train_on": args.train_on,
        "dae_valid_loss": res.best_valid_loss, "dae_best_epoch": res.best_epoch, "dae_epochs_run": res.epochs_run,
        "dae_train_time_s": res.seconds, "ami_vs_K": sweep,
        "thesis_ami": THESIS_AMI[args.train_on].get(name),
        "selection": ("DAE: the epoch with the lowest validation denoising loss (early stopping); "
                      "hyperparameters: the preset chosen by the random search on validation AMI; "
                      + ("RC gamma_0 and restarts: the INFERENCE_GRID entry with the best validation AMI"
                         if inf_table else "RC: the thesis's procedure (random gamma_0, one run)"
                         + (", not chosen: this dataset has no held-out images" if name in NO_HELD_OUT
                            else ""))),
    }
    np.savez_compressed(out / "trace.npz", images=test.images[:N_TRACE], gammas=trace.gammas, psis=trace.psis,
                        preds=trace.pred.astype(np.int8), labels_all=test.labels,
                        images_all=test.images.astype(np.uint8), loglik=trace.loglik.astype(np.float32))
    notes = "--quick smoke test: tiny DAE and data, the numbers are not results." if args.quick else ""
    write_run(out, paper="reconstruction_clustering", seed=args.seed,
              config={"dataset": name, "dae": cfg,
                      "dae_config_source": source,
                      "dae_loaded_from": str(args.dae_from) if args.dae_from else None,
                      "K": K, "iterations": args.iterations, "e_step": e_kind, "train_on": args.train_on,
                      "inference": args.inference},
              history=res.history, metrics=metrics, baselines=base, wall_time_s=time.perf_counter() - start,
              weights=res.params, command=shlex.join([PROG, *argv]), notes=notes)
    if not args.no_figures:
        from .viz import make_dataset_figures
        make_dataset_figures(out)
    km = base[f"kmeans_coords_K{K}"]["ami_max"]
    row = {"dataset": name, "K": K, "ami_max": scores["ami_max"], "ami_arithmetic": scores["ami_arithmetic"],
           "ami_max_thesis_inference": thesis_scores["ami_max"], "inference": _inf_label(inf),
           "thesis": THESIS_AMI[args.train_on].get(name), "kmeans_coords": km,
           "connected_components": base["connected_components_8"]["ami_max"],
           "random": base[f"random_K{K}"]["ami_max"], "test_images": len(test),
           "wall_time_s": time.perf_counter() - start}
    print(f"[{name}] test AMI(max) {scores['ami_max']:.3f} (arith {scores['ami_arithmetic']:.3f}) at K={K} "
          f"with RC inference {row['inference']} (thesis inference {thesis_scores['ami_max']:.3f}); "
          f"thesis {row['thesis']}; k-means on coordinates {km:.3f}; {row['wall_time_s']:.0f} s", file=sys.stderr)
    return row


def _inf_label(inf: dict) -> str:
    init = "random" if inf["init"] == "random" else f"ink w={inf['width_frac']:g}"
    return f"{init}, {inf['restarts']} run" + ("s" if inf["restarts"] > 1 else "")


def summary_table(rows: list[dict]) -> str:
    lines = ["| dataset | K | AMI(max) | AMI(arith) | RC inference (valid.) | AMI(max), thesis inference | thesis | "
             "k-means coords | conn. comp. | random | images | s |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        th = "–" if r["thesis"] is None else f"{r['thesis']:.3f}"
        lines.append(f"| {r['dataset']} | {r['K']} | {r['ami_max']:.3f} | {r['ami_arithmetic']:.3f} | "
                     f"{r['inference']} | {r['ami_max_thesis_inference']:.3f} | {th} | "
                     f"{r['kmeans_coords']:.3f} | {r['connected_components']:.3f} | {r['random']:.3f} | "
                     f"{r['test_images']} | {r['wall_time_s']:.0f} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    if args.inference is None:
        args.inference = "thesis" if args.quick else "select"
    if args.dae_from and args.dae_config != "preset":
        raise UsageError("--dae-from loads a trained DAE with its own configuration; drop --dae-config")
    setup_threads(args.threads)
    start = time.perf_counter()
    out_root = prepare_out_dir(args.out)
    names = list(DATASETS) if args.dataset == "all" else [args.dataset]
    if args.train_on == "multi" and args.dataset == "all":
        names = [n for n in names if n in THESIS_AMI["multi"]]
    if args.dae_from:                       # every DAE must load before any dataset runs
        for n in names:
            load_dae(args.dae_from, n, args)
    rows = [run_dataset(n, args, out_root, argv) for n in names]
    table = summary_table(rows)
    atomic_write_json(out_root / "summary.json", {"rows": rows, "command": shlex.join([PROG, *argv]),
                                                  "seed": args.seed, "quick": args.quick,
                                                  "wall_time_s": time.perf_counter() - start})
    (out_root / "summary.md").write_text(table + "\n")
    if not args.no_figures:
        # Figures across datasets (AMI vs K, DAE loss vs AMI over the committed search, novel objects);
        # single- vs multi-object needs two roots: visualize_reconstruction_clustering.py --multi-root.
        from .viz import make_summary_figures
        make_summary_figures(out_root, search_dir=SEARCH_DIR)
    print(table)
    print(f"{len(rows)} dataset(s) in {time.perf_counter() - start:.0f} s -> {out_root}")
    return 0


def cli(argv: Sequence[str] | None = None) -> int:
    return run_main(main, argv, prog=PROG)


if __name__ == "__main__":
    sys.exit(cli())
