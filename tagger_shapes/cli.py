"""Command line of Tagger on 20x20 shapes: parse -> config -> claim the run directory -> data ->
train -> test metrics and baselines (evaluate.py) -> run.json, weights, figure arrays, figures.

Flags and run.json keys follow docs/vocabulary.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Sequence

import numpy as np

from common.checkpoint import TrainingCheckpoint
from common.cli import (UsageError, add_common_args, check_memory, nonneg_float, positive_float, positive_int,
                        positive_int_list, resolve_preset, run_main, setup_threads, typed_command)
from common.runs import PhaseTimer, RunDirectory, save_weights, to_jsonable, write_run

from .config import PRESETS, QUICK_SIZES, make_config, memory_bytes
from .data import make_splits, provenance
from .evaluate import baselines, evaluate, generalisation, run_groupings
from .train import train

PROG = "tagger_shapes.py"
PAPER = "tagger_shapes"
N_EXAMPLES = 8
THESIS = {"ami_per_iteration": [0.70, 0.90, 0.95, 0.96, 0.97], "ami": 0.97, "ami_batch_norm": 0.79,
          "rc_ami": 0.61, "cost_per_iteration": [0.100, 0.069, 0.057, 0.054, 0.054]}
CONFIG_FLAGS = ("K", "iterations", "eval_iterations", "sizes", "beta", "mask_init", "mask_width", "residual", "updates", "batch", "lr", "lr_final", "clip",
                "n_train", "n_valid", "n_test", "eval_every")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG, allow_abbrev=False,
        description="Tagger (iterative amortised grouping with a Ladder network; Greff et al. 2016) on 20x20 "
                    "shapes, in NumPy.",
        epilog="Presets: " + ", ".join(sorted(PRESETS)) + ". Flags override the preset.")
    add_common_args(p, default_out="runs/tagger_shapes")
    p.add_argument("--preset", default=None, help="named configuration (default: 'default'; --quick: 'quick')")
    p.add_argument("--K", type=positive_int, default=None, help="number of groups (default 4)")
    p.add_argument("--iterations", type=positive_int, default=None, help="iterations unrolled in training (default 3)")
    p.add_argument("--eval-iterations", type=positive_int, default=None,
                   help="iterations at evaluation, on the clean input (default 5)")
    p.add_argument("--sizes", type=positive_int_list, default=None,
                   help="projection width and ladder encoder widths, comma-separated (default 500,250,100)")
    p.add_argument("--beta", type=positive_float, default=None, help="bit-flip probability of the training input")
    p.add_argument("--mask-init", choices=["random", "spatial", "ink"], default=None,
                   help="initial masks: random per pixel (thesis), soft Voronoi around random centres, or "
                        "around k-means++ centres on the image's ink")
    p.add_argument("--mask-width", type=positive_float, default=None, help="width in px of the Voronoi masks")
    p.add_argument("--residual", dest="residual", action="store_true", default=None,
                   help="the network outputs updates of the mean and mask logits (not new logits)")
    p.add_argument("--no-residual", dest="residual", action="store_false", help="new logits each iteration (thesis)")
    p.add_argument("--updates", type=positive_int, default=None, help="training length in optimiser updates")
    p.add_argument("--batch", type=positive_int, default=None, help="batch size")
    p.add_argument("--lr", type=positive_float, default=None, help="Adam learning rate")
    p.add_argument("--lr-final", type=positive_float, default=None,
                   help="final learning rate as a fraction of --lr (cosine decay; 1 = constant)")
    p.add_argument("--clip", type=nonneg_float, default=None, help="global gradient-norm clip (0 = off)")
    p.add_argument("--n-train", type=positive_int, default=None, help="training images (default 50,000)")
    p.add_argument("--n-valid", type=positive_int, default=None, help="validation images (>= 1,000 for results)")
    p.add_argument("--n-test", type=positive_int, default=None, help="test images (>= 1,000 for results)")
    p.add_argument("--eval-every", type=positive_int, default=None, help="updates between validation passes")
    p.add_argument("--no-figures", action="store_true", help="skip the PNGs and the GIF")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_threads(args.threads)
    start = time.perf_counter()
    overrides = {k: getattr(args, k) for k in CONFIG_FLAGS}
    preset, overrides = resolve_preset(args.preset, args.quick, PRESETS, overrides, sizes=QUICK_SIZES)
    try:
        cfg = make_config(preset, **overrides)
    except ValueError as e:
        raise UsageError(str(e)) from None
    check_memory(memory_bytes(cfg), "this configuration")
    run_dir = RunDirectory(args.out, force=args.force, resume=args.resume)
    with run_dir as out:
        ck = TrainingCheckpoint(run_dir.scratch("checkpoint.npz"),
                                {"paper": PAPER, "seed": args.seed, "config": to_jsonable(cfg)})
        timer = PhaseTimer()
        data = make_splits(cfg, args.seed)
        timer.lap("data")
        rng = np.random.default_rng(args.seed)
        snap = data["valid"].images[:cfg.snapshot_images]
        print(f"{PROG}: ladder {'-'.join(map(str, cfg.sizes))}, K={cfg.K}, T={cfg.iterations} (eval "
              f"{cfg.eval_iterations}), {cfg.updates} updates of batch {cfg.batch}; data "
              f"{cfg.n_train}/{cfg.n_valid}/{cfg.n_test} (seed {args.seed})", file=sys.stderr)
        res = train(cfg, data, rng, snapshot_images=snap, checkpoint=ck, resume=args.resume and ck.exists())
        params = res["params"]
        timer.lap("train")

        test = data["test"]
        ev = evaluate(params, cfg, test.images, test.labels,
                      np.random.default_rng(np.random.SeedSequence([args.seed, 1])), per_iteration=True)
        base = baselines(test.images, test.labels, cfg.K,
                         np.random.default_rng(np.random.SeedSequence([args.seed, 2])), shapes=cfg.shapes)
        gen = generalisation(cfg, params, min(cfg.n_test, 1000), args.seed)
        metrics = {
            "test_ami_max": ev["ami_max"], "test_ami_arithmetic": ev["ami_arithmetic"],
            "test_ami_max_per_iteration": ev["ami_max_per_iteration"],
            "test_ami_arithmetic_per_iteration": ev["ami_arithmetic_per_iteration"],
            "test_cost_per_iteration": ev["cost_per_iteration"],
            "test_images": len(test), "valid_images": len(data["valid"]), "best_update": res["best"]["update"],
            "stopped_early": res["stopped_early"],
            "selection": f"checkpoint with the best validation AMI(max) on {len(data['valid'])} images "
                         f"(clean input, {cfg.eval_iterations} iterations), evaluated every {cfg.eval_every} updates",
            "valid_ami_max_at_best": res["best"].get("valid_ami_max"), "train_time_s": res["train_time_s"],
            "generalisation": gen, "thesis": THESIS,
        }
        timer.lap("test_evaluation_and_baselines")
        # The arrays the figures are drawn from (viz.py never runs a model); float16 keeps them small.
        ex = run_groupings(params, cfg, test.images[:N_EXAMPLES],
                           np.random.default_rng(np.random.SeedSequence([args.seed, 3])), keep_arrays=True)
        save_weights(out / "examples.npz", {"images": test.images[:N_EXAMPLES], "labels": test.labels[:N_EXAMPLES],
                                            "m": ex.m, "mu": ex.mu})
        if res["snapshots"] is not None:
            save_weights(out / "snapshots.npz", {"groups": res["snapshots"], "update": np.array(res["history"]["update"]),
                                                 "images": snap, "labels": data["valid"].labels[:cfg.snapshot_images]})
        notes = ("--quick smoke test: tiny model and data, the numbers are not results."
                 if args.quick or preset == "quick" else "")
        if res["stopped_early"]:
            notes = f"STOPPED EARLY: {res['stopped_early']}; the metrics are of the best checkpoint before it. {notes}"
        timer.lap("figure_arrays")
        write_run(out, paper=PAPER, seed=args.seed, config=cfg, history=res["history"],
                  metrics=metrics, baselines=base, wall_time_s=time.perf_counter() - start,
                  weights=params, command=typed_command(PAPER, PROG, argv), notes=notes,
                  extra={"data": provenance(cfg, data), "phases_s": timer.seconds})
        if not args.no_figures:
            from .viz import make_figures, make_gif
            make_figures(out)
            make_gif(out)
    km = base[f"kmeans_coords_K{cfg.shapes}"]["ami_max"]
    print(f"test AMI(max) {ev['ami_max']:.3f}  AMI(arithmetic) {ev['ami_arithmetic']:.3f} after "
          f"{cfg.eval_iterations} iterations | k-means on coordinates {km:.3f}  connected components "
          f"{base['connected_components_8']['ami_max']:.3f}  (checkpoint: update {res['best']['update']}, "
          f"{time.perf_counter() - start:.0f} s) -> {run_dir.path / 'run.json'}")
    if res["stopped_early"]:
        print(f"{PROG}: stopped early: {res['stopped_early']} (the record holds the best checkpoint before it)",
              file=sys.stderr)
        return 1
    return 0


def cli(argv: Sequence[str] | None = None) -> int:
    return run_main(main, argv, prog=PROG)
