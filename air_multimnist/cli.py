"""Command line of AIR on multi-MNIST: parse -> claim the run directory -> config -> data -> train ->
evaluate on test (and on 3-digit images) -> count baselines on the same test images -> run.json,
weights, the arrays the figures are drawn from, figures."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Sequence

import numpy as np

from air_multimnist.config import PRESETS, make_config, memory_bytes
from air_multimnist.data import describe, eval_sets, ink_fit_set
from air_multimnist.evaluate import count_baselines, evaluate, infer
from air_multimnist.train import train
from air_multimnist.viz import EXAMPLES, SNAPSHOTS
from common.cli import (check_memory, finite_float, UsageError, add_common_args, positive_float, positive_int, resolve_preset, run_main,
                        reject_renamed, setup_threads, typed_command)
from common.checkpoint import TrainingCheckpoint
from common.runs import COMMITTED_WEIGHTS_DTYPE, PhaseTimer, RunDirectory, rounded_weights, save_weights, to_jsonable, write_run

PROG = "air_multimnist.py"
N_EXAMPLES = 8
RENAMED = {"--steps": ("--steps is no longer a flag: training length in optimiser updates is --updates, "
              "the number of objects (attention steps) is --max-objects")}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG, allow_abbrev=False,
        description="Attend-Infer-Repeat (Eslami et al. 2016) on multi-MNIST, in NumPy.",
        epilog="Presets: " + ", ".join(sorted(PRESETS)) + ". Flags override the preset.")
    add_common_args(p, default_out="runs/air_multimnist")
    p.add_argument("--preset", default=None, help="named configuration (default: 'default'; --quick: 'quick')")
    p.add_argument("--estimator", choices=["reinforce", "enumerate"], default=None,
                   help="gradient estimator for z_pres (default: reinforce with NVIL baseline)")
    p.add_argument("--updates", type=positive_int, default=None, help="training length in optimiser updates")
    p.add_argument("--max-objects", type=positive_int, default=None,
                   help="attention steps = the most objects an image can hold (default 3)")
    reject_renamed(p, RENAMED)
    p.add_argument("--batch", type=positive_int, default=None, help="batch size")
    p.add_argument("--lr", type=positive_float, default=None, help="Adam learning rate")
    p.add_argument("--lr-final", type=positive_float, default=None,
                   help="final learning rate as a fraction of --lr (cosine decay; 1 = constant)")
    p.add_argument("--baseline-lr-mult", type=positive_float, default=None,
                   help="baseline learning rate as a multiple of --lr")
    p.add_argument("--count-k", type=positive_float, default=None,
                   help="count prior p(n) ~ k^n (default preset 1e-4, enumerate 0.01); the final value when annealed")
    p.add_argument("--count-k-start", type=positive_float, default=None,
                   help="anneal k geometrically from this value to --count-k over the first half of training")
    p.add_argument("--pres-bias-init", type=finite_float, default=None, help="initial z_pres logit (default 0)")
    p.add_argument("--no-signal-norm", dest="signal_norm", action="store_false", default=None,
                   help="REINFORCE without NVIL's running mean/std normalisation")
    p.add_argument("--n-test", type=positive_int, default=None, help="test images (>= 1,000 for results)")
    p.add_argument("--eval-every", type=positive_int, default=None, help="updates between validation passes")
    p.add_argument("--no-figures", action="store_true", help="skip the PNGs and the GIF")
    return p


def example_arrays(params: dict, data: dict, cfg, n: int = N_EXAMPLES) -> dict:
    """What the figures draw: the first n test and 3-digit images, their truth, and what the
    chosen checkpoint inferred on them (viz.py never runs the model)."""
    out = {}
    for prefix, split in (("", data["test"]), ("three_", data["three"])):
        inf = infer(params, split.images[:n], cfg)
        out.update({f"{prefix}images": split.images[:n], f"{prefix}counts": split.counts[:n],
                    f"{prefix}boxes": split.boxes[:n], f"{prefix}pred_counts": inf["counts"],
                    f"{prefix}z_pres": inf["z_pres"], f"{prefix}p_pres": inf["p_pres"],
                    f"{prefix}window_boxes": inf["window_boxes"], f"{prefix}recon": inf["recon"]})
        if not prefix:
            out.update({"objects": inf["objects"], "patches": inf["patches"]})
    return out


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_threads(args.threads)
    start = time.perf_counter()
    overrides = {"estimator": args.estimator, "updates": args.updates, "max_objects": args.max_objects,
                 "batch": args.batch, "lr": args.lr, "lr_final": args.lr_final,
                 "baseline_lr_mult": args.baseline_lr_mult, "count_k": args.count_k,
                 "count_k_start": args.count_k_start, "pres_bias_init": args.pres_bias_init,
                 "signal_norm": args.signal_norm, "n_test": args.n_test, "eval_every": args.eval_every}
    preset, overrides = resolve_preset(args.preset, args.quick, PRESETS, overrides,
                                       sizes=[k for k in PRESETS["quick"] if k != "estimator"])
    try:
        cfg = make_config(preset, **overrides)
    except ValueError as e:
        raise UsageError(str(e)) from None
    check_memory(memory_bytes(cfg), "this configuration")
    # The run is written into a hidden sibling of --out and appears there only when complete.
    run_dir = RunDirectory(args.out, force=args.force, resume=args.resume)
    with run_dir as out:
        ck = TrainingCheckpoint(run_dir.scratch("checkpoint.npz"),
                                {"paper": "air_multimnist", "seed": args.seed, "config": to_jsonable(cfg)})
        timer = PhaseTimer()
        data = eval_sets(cfg)
        timer.lap("data")
        rng = np.random.default_rng(args.seed)
        snap = data["valid"].images[:cfg.snapshot_images]
        print(f"{PROG}: AIR ({cfg.estimator}), {cfg.updates} updates of batch {cfg.batch}, lr {cfg.lr:g}; "
              f"valid/test {cfg.n_valid}/{cfg.n_test} images from held-out digits (seed {args.seed})", file=sys.stderr)
        res = train(cfg, data, rng, snapshot_images=snap, checkpoint=ck, resume=args.resume and ck.exists())
        timer.lap("train")
        # The committed weights are float16: score the rounded checkpoint, so a loaded run reproduces
        # its record, and keep the float32 figure beside it.
        ev32 = evaluate(res["params"], data["test"], cfg, elbo_seed=args.seed + 1)
        params = rounded_weights(res["params"])

        ev = evaluate(params, data["test"], cfg, elbo_seed=args.seed + 1)
        three = evaluate(params, data["three"], cfg)
        base = count_baselines(ink_fit_set(data["train_digits"], cfg, args.seed), data["test"])
        metrics = {
            "test_count_accuracy": ev["count_accuracy"], "test_per_count_accuracy": ev["per_count_accuracy"],
            "test_confusion": ev["confusion"], "test_iou_object": ev["iou_object"],
            "test_iou_window": ev["iou_window"], "test_recon_mse": ev["recon_mse"], "test_elbo": ev["elbo"],
            "test_share_all_steps": ev["share_all_steps"], "test_images": ev["n_images"],
            "test_count_accuracy_float32_weights": ev32["count_accuracy"],
            "valid_images": len(data["valid"].counts),
            "three_digit": {k: three[k] for k in ("count_accuracy", "confusion", "iou_object", "iou_window",
                                                  "recon_mse", "n_images")},
            "best_update": res["best"]["update"], "valid_count_accuracy_at_best": res["best"].get("valid_count_accuracy"),
            "stopped_early": res["stopped_early"],
            "selection": f"checkpoint with the best validation count accuracy (ties: validation ELBO) on "
                         f"{cfg.n_valid} images, evaluated every {cfg.eval_every} updates",
            "train_time_s": res["train_time_s"], "ms_per_update": 1e3 * res["train_time_s"] / cfg.updates,
            "training_chunks": res["chunks"],
        }
        timer.lap("test_evaluation_and_baselines")
        save_weights(out / EXAMPLES, example_arrays(params, data, cfg))
        if res["snapshots"] is not None:
            save_weights(out / SNAPSHOTS, {**res["snapshots"], "update": np.array(res["history"]["update"]),
                                           "images": snap})
        notes = ("--quick smoke test: tiny model and data, the numbers are not results."
                 if args.quick or preset == "quick" else "")
        if res["stopped_early"]:
            notes = f"STOPPED EARLY: {res['stopped_early']}; the metrics are of the best checkpoint before it. {notes}"
        timer.lap("figure_arrays")
        write_run(out, paper="air_multimnist", seed=args.seed, config=cfg, history=res["history"], metrics=metrics,
                  baselines=base, wall_time_s=time.perf_counter() - start,
                  weights={k: v.astype(COMMITTED_WEIGHTS_DTYPE) for k, v in params.items()},
                  command=typed_command("air_multimnist", PROG, argv), notes=notes,
                  extra={"data": describe(cfg, data["mnist"]), "phases_s": timer.seconds})
        if not args.no_figures:
            from air_multimnist.viz import make_figures, make_gif
            make_figures(out)
            make_gif(out)
    print(f"test count accuracy {ev['count_accuracy']:.3f} (per count "
          + ", ".join(f"{k}: {v:.3f}" for k, v in ev["per_count_accuracy"].items())
          + f")  IoU object {ev['iou_object']:.3f} window {ev['iou_window']:.3f}"
          f"  | ink thresholds {base['ink_thresholds']['count_accuracy']:.3f}  majority "
          f"{base['majority_count']['count_accuracy']:.3f}  | 3-digit accuracy {three['count_accuracy']:.3f}"
          f"  (checkpoint: update {res['best']['update']}, {time.perf_counter() - start:.0f} s) -> {run_dir.path / 'run.json'}")
    if res["stopped_early"]:
        print(f"{PROG}: stopped early: {res['stopped_early']} (the record holds the best checkpoint before it)",
              file=sys.stderr)
        return 1
    return 0


def cli(argv: Sequence[str] | None = None) -> int:
    return run_main(main, argv, prog=PROG)


if __name__ == "__main__":
    sys.exit(cli())
