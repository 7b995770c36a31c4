"""Command line of Reconstruction Clustering: for each dataset, data -> DAE (preset chosen on
validation) -> RC on the test images -> baselines on the same images -> K sweep -> run.json,
weights, trace; then a summary table over the datasets and the figures (``viz``)."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from common.cli import UsageError, add_common_args, check_memory, positive_int, positive_int_list, run_main, setup_threads
from common.checkpoint import TrainingCheckpoint
from common.runs import (COMMITTED_WEIGHTS_DTYPE, PhaseTimer, to_jsonable, RunLoadError, atomic_write_json, RunDirectory,
                         load_trained_run, prepare_out_dir, rounded_weights, write_run)

from .config import (E_STEPS, INFERENCE_CHOICES, PRESETS, QUICK_DAE, THESIS_AMI, THESIS_CONFIGS, TRAIN_ON,
                     DAEConfig, RCConfig, dae_preset, make_config, memory_bytes)
from .data import CANVAS, DATASETS, THESIS_K, make_rc_dataset
from .evaluate import (THESIS_INFERENCE, baselines, confidence, evaluate, novel_objects_trace, pick_examples,
                       select_inference)
from .dae import PARAM_NAMES
from .train import TrainResult, fit_dae

PROG = "reconstruction_clustering.py"
PAPER = "reconstruction_clustering"
N_TRACE = 8                                     # test images whose full gamma trace is saved (the GIF)
SWEEP_K = (2, 3, 4, 5, 6, 8, 12)                # Fig. 4.7a
NO_HELD_OUT = ("simple_superposition",)          # its validation pairs are test pairs


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG, description="Reconstruction Clustering (Greff et al. 2015) on its six binary datasets, in NumPy.",
        epilog="DAE configurations come from the presets chosen by `python -m reconstruction_clustering.search` "
               "on validation AMI; flags below override parts of them.")
    add_common_args(p, default_out="runs/reconstruction_clustering")
    p.add_argument("--preset", choices=sorted(PRESETS), default=None,
                   help="run configuration (default: 'default'; --quick selects 'quick')")
    p.add_argument("--dataset", default="all", choices=("all",) + DATASETS)
    p.add_argument("--K", type=positive_int, default=None, help="slots (default: the thesis K of each dataset)")
    p.add_argument("--iterations", type=positive_int, default=None, help="RC iterations (default 10, the thesis)")
    p.add_argument("--train-on", choices=TRAIN_ON, default=None,
                   help="DAE training images: single objects (default; thesis main result) or multi-object images")
    p.add_argument("--e-step", choices=E_STEPS, default=None,
                   help="soft (default with --train-on single) or hard (default with --train-on multi)")
    p.add_argument("--dae-config", choices=("preset", "thesis"), default=None,
                   help="our validation-chosen presets (default), or the thesis's Table 4.1/4.2 settings (SGD)")
    p.add_argument("--inference", choices=INFERENCE_CHOICES, default=None,
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


def config_from_args(args) -> RCConfig:
    name = args.preset or ("quick" if args.quick else "default")
    dae_config = args.dae_config if args.dae_config else None
    if name == "quick" and dae_config is None:
        dae_config = "quick"
    try:
        return make_config(name, train_on=args.train_on, K=args.K, iterations=args.iterations,
                           e_step=args.e_step, dae_config=dae_config, inference=args.inference)
    except ValueError as e:
        raise UsageError(str(e)) from None


def load_dae(root, name: str, cfg: RCConfig, seed: int) -> tuple[DAEConfig, TrainResult, str]:
    """The DAE of an earlier run of ``name`` under ``root``: (its config, a TrainResult with its
    weights, history and early-stopping figures (train_time_s: the original training's), where its
    config came from).

    The earlier run must share the seed (the MNIST digit split, and so which digits are unseen at
    test time, depends on it), the training images (--train-on) and the data sizes (--quick).
    """
    run_dir = Path(root) / name
    try:
        rec, params, _ = load_trained_run(run_dir, PAPER, required=PARAM_NAMES)
    except (RunLoadError, FileNotFoundError) as e:
        raise UsageError(f"--dae-from: {e}") from None
    c, m = rec["config"], rec["metrics"]
    mine = {"seed": seed, "train_on": cfg.train_on, "sizes": cfg.data_sizes}
    theirs = {"seed": rec["seed"], "train_on": c.get("train_on"), "sizes": (rec.get("data") or {}).get("sizes")}
    if mine != theirs:
        raise UsageError(f"--dae-from: {run_dir} was made with {theirs}, this run is {mine}")
    # A loaded run keeps its original training time and source, so a record loaded from itself
    # still says how its DAE was made.
    try:
        dcfg = DAEConfig(**c["dae"])
    except (KeyError, TypeError, ValueError) as e:
        raise UsageError(f"--dae-from: {run_dir}/run.json lacks what a DAE run records ({e})") from None
    h, w = CANVAS[name]
    want = {"W_enc": (h * w, dcfg.hidden), "b_enc": (dcfg.hidden,), "W_dec": (dcfg.hidden, h * w), "b_dec": (h * w,)}
    bad = {k: (params[k].shape, s) for k, s in want.items() if params[k].shape != s}
    if bad:
        raise UsageError(f"--dae-from: the weights in {run_dir} do not fit a {dcfg.hidden}-unit DAE of {name} "
                         f"(shape, expected): {bad}")
    try:
        return dcfg, TrainResult(
            params=params, history=rec["history"], best_epoch=m["best_epoch"],
            best_valid_loss=m["dae_valid_loss"], epochs_run=m["dae_epochs_run"],
            train_time_s=m["train_time_s"]), c["dae_config_source"]
    except (KeyError, TypeError) as e:
        raise UsageError(f"--dae-from: {run_dir}/run.json lacks what a DAE run records ({e})") from None


def dae_config(name: str, cfg: RCConfig) -> DAEConfig:
    if cfg.dae_config == "quick":
        return QUICK_DAE
    if cfg.dae_config == "thesis":
        c = THESIS_CONFIGS[cfg.train_on].get(name)
        if c is None:
            raise UsageError(f"the thesis has no multi-object DAE for {name}")
        return c
    try:
        return dae_preset(name, cfg.train_on)
    except ValueError as e:
        raise UsageError(f"{e} (with --train-on {cfg.train_on})") from None


def run_dataset(name: str, cfg: RCConfig, args, out_root: Path, argv: Sequence[str], run_dir: RunDirectory) -> dict:
    """Train (or load) the DAE of ``name``, run RC, write ``out_root/name``; returns the summary row.
    With --resume a dataset finished before the interruption is not redone (its row is kept as a
    scratch file of the run directory) and its DAE training continues from its last epoch."""
    done, ck_path = run_dir.scratch(f"{name}/row.json"), run_dir.scratch(f"{name}/checkpoint.npz")
    if args.resume and done.exists():
        return json.loads(done.read_text())
    start = time.perf_counter()
    seed = args.seed
    out = prepare_out_dir(out_root / name)
    timer = PhaseTimer()
    data = make_rc_dataset(name, seed, **cfg.data_sizes)
    timer.lap("data")
    K = cfg.K or THESIS_K[name]
    e_kind = cfg.e_step_kind
    if args.dae_from:
        dcfg, res, source = load_dae(args.dae_from, name, cfg, seed)
    else:
        dcfg, source = dae_config(name, cfg), cfg.dae_config
    n_train = len(data.single["train"] if cfg.train_on == "single" else data.multi["train"])
    print(f"[{name}] DAE {dcfg.hidden} {dcfg.activation}, noise {dcfg.noise}, {dcfg.optimizer} lr {dcfg.lr:g}, "
          f"trained on {cfg.train_on}-object images ({n_train})"
          + (f", loaded from {args.dae_from}" if args.dae_from else ""), file=sys.stderr)
    if not args.dae_from:
        ck = TrainingCheckpoint(ck_path,
                                {"paper": PAPER, "seed": seed, "dataset": name, "dae": to_jsonable(dcfg),
                                 "train_on": cfg.train_on, "sizes": cfg.data_sizes})
        res = fit_dae(data, dcfg, cfg.train_on, np.random.default_rng(np.random.SeedSequence([seed, 0])),
                      checkpoint=ck, resume=args.resume and ck.exists())
    timer.lap("dae_training")
    params32 = res.params
    params = rounded_weights(res.params)
    act = dcfg.activation
    test, valid = data.multi["test"], data.multi["valid"]
    val_seq, test_seq = np.random.SeedSequence([seed, 3]), np.random.SeedSequence([seed, 1])
    rc = dict(K=K, iterations=cfg.iterations, e_step_kind=e_kind)
    # gamma_0 and restarts chosen on validation AMI. Not for simple superposition: its "validation"
    # pairs are drawn from the 120 test pairs, so choosing on them would be choosing on test.
    select = cfg.inference == "select" and name not in NO_HELD_OUT
    if select:
        inf, inf_table = select_inference(params, act, valid.images, valid.labels, seed_seq=val_seq, **rc)
        valid_ami = max(r["valid_ami_max"] for r in inf_table)
        valid_ami_thesis = inf_table[0]["valid_ami_max"]
    else:
        inf, inf_table = dict(THESIS_INFERENCE), []
        valid_ami = valid_ami_thesis = evaluate(params, act, valid.images, valid.labels,
                                                rng=np.random.default_rng(val_seq), **rc)[0]["ami_max"]
    scores, trace = evaluate(params, act, test.images, test.labels, rng=np.random.default_rng(test_seq),
                             keep=N_TRACE, inference=inf, **rc)
    thesis_scores = scores if inf == THESIS_INFERENCE else evaluate(
        params, act, test.images, test.labels, rng=np.random.default_rng(test_seq), **rc)[0]
    f32 = evaluate(params32, act, test.images, test.labels, rng=np.random.default_rng(test_seq),
                   inference=inf, **rc)[0]
    base = baselines(test.images, test.labels, K, seed)
    sweep = []
    ks = args.sweep_K if args.sweep_K is not None else (tuple(sorted({2, K})) if args.quick else SWEEP_K)
    for k in ks:
        s, _ = evaluate(params, act, test.images, test.labels, K=k, iterations=cfg.iterations, e_step_kind=e_kind,
                        rng=np.random.default_rng(np.random.SeedSequence([seed, 4, k])), inference=inf)
        sweep.append({"K": k, "ami_max": s["ami_max"], "ami_arithmetic": s["ami_arithmetic"],
                      "loglik_per_iteration_mean": s["loglik_per_iteration_mean"],
                      "loglik_per_iteration_std": s["loglik_per_iteration_std"]})
    conf = confidence(trace.gamma, test.labels)
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
        "test_ami_max_float32_weights": f32["ami_max"],
        "K": K, "iterations": cfg.iterations, "e_step": e_kind, "train_on": cfg.train_on,
        "dae_valid_loss": res.best_valid_loss, "best_epoch": res.best_epoch, "dae_epochs_run": res.epochs_run,
        "train_time_s": res.train_time_s, "ami_vs_K": sweep, "stopped_early": res.stopped_early,
        "thesis_ami": THESIS_AMI[cfg.train_on].get(name),
        "selection": ("DAE: the epoch with the lowest validation denoising loss (early stopping); "
                      "hyperparameters: the preset chosen by the random search on validation AMI; "
                      + ("RC gamma_0 and restarts: the INFERENCE_GRID entry with the best validation AMI"
                         if inf_table else "RC: the thesis's procedure (random gamma_0, one run)"
                         + (", not chosen: this dataset has no held-out images" if name in NO_HELD_OUT
                            else ""))),
    }
    timer.lap("rc_inference_evaluation_and_baselines")
    save_trace(out, test, trace, scores)
    notes = ("--quick smoke test: tiny DAE and data, the numbers are not results. " if args.quick else "") + \
        "weights.npz holds the DAE in float16; every metric is of those weights (float32 weights: " \
        "test_ami_max_float32_weights)."
    if res.stopped_early:
        notes = f"STOPPED EARLY: {res.stopped_early}; the metrics are of the best epoch before it. {notes}"
    write_run(out, paper=PAPER, seed=seed,
              config={"dataset": name, "preset": args.preset or ("quick" if args.quick else "default"),
                      "dae": dcfg, "dae_config_source": source,
                      "dae_loaded_from": str(args.dae_from) if args.dae_from else None,
                      "K": K, "iterations": cfg.iterations, "e_step": e_kind, "train_on": cfg.train_on,
                      "inference": cfg.inference},
              history=res.history, metrics=metrics, baselines=base, wall_time_s=time.perf_counter() - start,
              weights={k: v.astype(COMMITTED_WEIGHTS_DTYPE) for k, v in params.items()},
              command=shlex.join([PROG, *argv]), notes=notes,
              extra={"data": {"dataset": name, "mnist": data.mnist, "canvas": list(data.shape),
                              "sizes": cfg.data_sizes}, "phases_s": timer.seconds})
    if not args.no_figures:
        from .viz import make_dataset_figures
        make_dataset_figures(out)
    km = base[f"kmeans_coords_K{K}"]["ami_max"]
    row = {"dataset": name, "K": K, "ami_max": scores["ami_max"], "ami_arithmetic": scores["ami_arithmetic"],
           "ami_max_thesis_inference": thesis_scores["ami_max"], "inference": _inf_label(inf),
           "thesis": THESIS_AMI[cfg.train_on].get(name), "kmeans_coords": km,
           "connected_components": base["connected_components_8"]["ami_max"],
           "random": base[f"random_K{K}"]["ami_max"], "test_images": len(test),
           "wall_time_s": time.perf_counter() - start,
           **({"stopped_early": res.stopped_early} if res.stopped_early else {})}
    print(f"[{name}] test AMI(max) {scores['ami_max']:.3f} (arith {scores['ami_arithmetic']:.3f}) at K={K} "
          f"with RC inference {row['inference']} (thesis inference {thesis_scores['ami_max']:.3f}); "
          f"thesis {row['thesis']}; k-means on coordinates {km:.3f}; {row['wall_time_s']:.0f} s", file=sys.stderr)
    if name == "multi_mnist":
        arrays = novel_objects_trace(params, act, e_step_kind=e_kind, inference=inf, seed=seed,
                                     iterations=cfg.iterations)
        np.savez_compressed(out_root / "novel_objects.npz", **arrays)
    atomic_write_json(done, row)
    return row


def save_trace(out: Path, test, trace, scores: dict) -> Path:
    """trace.npz: the arrays the per-dataset figures and the GIF draw (small; committed).

    images (N_TRACE, H, W) uint8 and, for them, gammas (T+1, N_TRACE, K, D) (index 0 = gamma_0) and
    psi_last (N_TRACE, K, D), both stored as round(255 p) uint8 (``viz.QUANTISED``); the six
    examples spanning the score range of ALL test images (Figs. 4.8-4.10): examples (6,) test
    indices, example_scores (6,), example_images (6, H, W) uint8, example_labels (6, H, W) int16,
    example_preds (T+1, 6, D) int8 slot per ink pixel (-1 on background), example_loglik (T, 6).
    """
    def q(p):
        return np.round(np.clip(p, 0.0, 1.0) * 255.0).astype(np.uint8)
    per = np.asarray(scores["per_image_max"], np.float64)
    idx = pick_examples(per)
    ink = test.images[idx].reshape(len(idx), -1) > 0.5
    path = out / "trace.npz"
    np.savez_compressed(path, images=test.images[:N_TRACE].astype(np.uint8), gammas=q(trace.gammas),
                        psi_last=q(trace.psis[-1]), examples=idx.astype(np.int64), example_scores=per[idx],
                        example_images=test.images[idx].astype(np.uint8),
                        example_labels=test.labels[idx].astype(np.int16),
                        example_preds=np.where(ink[None], trace.pred[:, idx], -1).astype(np.int8),
                        example_loglik=trace.loglik[:, idx].astype(np.float32))
    return path


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
    if args.dae_from and args.dae_config:
        raise UsageError("--dae-from loads a trained DAE with its own configuration; drop --dae-config")
    cfg = config_from_args(args)
    setup_threads(args.threads)
    names = list(DATASETS) if args.dataset == "all" else [args.dataset]
    if cfg.train_on == "multi" and args.dataset == "all":
        names = [n for n in names if n in THESIS_AMI["multi"]]
    # Every DAE must have a configuration (or load) before anything is written or trained.
    for n in names:
        dcfg = load_dae(args.dae_from, n, cfg, args.seed)[0] if args.dae_from else dae_config(n, cfg)
        h, w = CANVAS[n]
        K = cfg.K or THESIS_K[n]
        for k in (K, *(args.sweep_K or ())):
            if k > h * w:
                raise UsageError(f"K={k} is more slots than {n}'s {h * w} pixels")
        check_memory(memory_bytes(h * w, dcfg.hidden, K, cfg.iterations, max(cfg.n_test, cfg.n_valid),
                                  args.sweep_K or ()), f"{n} with this configuration")
    start = time.perf_counter()
    # Every dataset of the run is written into a hidden sibling of --out, which appears complete
    # or not at all (an interrupted --dataset all never mixes seeds or leaves a stale summary).
    run_dir = RunDirectory(args.out, force=args.force, resume=args.resume)
    with run_dir as out_root:
        rows = [run_dataset(n, cfg, args, out_root, argv, run_dir) for n in names]
        table = summary_table(rows)
        atomic_write_json(out_root / "summary.json", {"rows": rows, "command": shlex.join([PROG, *argv]),
                                                      "seed": args.seed, "quick": args.quick, "config": cfg,
                                                      "wall_time_s": time.perf_counter() - start})
        (out_root / "summary.md").write_text(table + "\n")
        if not args.no_figures:
            # Figures across datasets (AMI vs K, DAE loss vs AMI over the committed search, novel
            # objects); single- vs multi-object needs two roots: visualize_...py --multi-root.
            from .viz import SEARCH_DIR, make_summary_figures
            make_summary_figures(out_root, search_dir=SEARCH_DIR)
    print(table)
    print(f"{len(rows)} dataset(s) in {time.perf_counter() - start:.0f} s -> {run_dir.path}")
    stopped = [f"{r['dataset']}: {r['stopped_early']}" for r in rows if r.get("stopped_early")]
    if stopped:
        print(f"{PROG}: stopped early: {'; '.join(stopped)} (the records hold the best epoch before it)",
              file=sys.stderr)
        return 1
    return 0


def cli(argv: Sequence[str] | None = None) -> int:
    return run_main(main, argv, prog=PROG)


if __name__ == "__main__":
    sys.exit(cli())
