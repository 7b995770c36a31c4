"""Command line of Neural EM / RNN-EM on static shapes: parse -> config -> claim the run directory ->
data -> train -> test metrics and baselines (evaluate.py) -> run.json, weights, figure arrays, figures.

Flags and run.json keys follow docs/vocabulary.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Sequence

import numpy as np

from common.cli import (check_memory, nonneg_float, UsageError, add_common_args, positive_float, positive_int, probability,
                        resolve_preset, run_main, reject_renamed, setup_threads, typed_command)
from common.checkpoint import TrainingCheckpoint
from common.runs import PhaseTimer, RunDirectory, save_weights, to_jsonable, write_run
from neural_em_shapes.config import PRESETS, QUICK_SIZES, make_config, memory_bytes
from neural_em_shapes.data import make_splits, provenance
from neural_em_shapes.evaluate import (baselines, evaluate, flying_generalisation, generalisation, sequence_baselines,
                                       static_transfer)
from neural_em_shapes.model import run_em, run_sequence_em
from neural_em_shapes.train import train

PROG = "neural_em_shapes.py"
N_EXAMPLES = 8
GENERALISATION_SEQUENCES = 500   # flying: sequences per generalisation cell and static-transfer images
TRANSFER_ITERATIONS = 50         # flying: EM iterations (frames) a static image is held for (static transfer)
CONFIG_FLAGS = ("dataset", "shapes", "model", "K", "iterations", "hidden", "channels", "mlp", "updates", "batch", "lr", "lr_final", "clip", "noise",
                "loss_iterations", "gamma_grad", "gamma_init", "restarts", "n_train", "n_test", "eval_every",
                "select")
# Old spellings that now mean something else or nothing: stop with exit 2 and say what to type.
RENAMED = {"--steps": "--steps was renamed --iterations (EM iterations)",
           "--loss-steps": "--loss-steps was renamed --loss-iterations"}


def build_parser() -> argparse.ArgumentParser:
    # allow_abbrev=False: an unknown or old flag is never prefix-matched to another one.
    p = argparse.ArgumentParser(
        prog=PROG, allow_abbrev=False,
        description="Neural EM and RNN-EM on static shapes (Greff et al. 2017), in NumPy.",
        epilog="Presets: " + ", ".join(sorted(PRESETS)) + ". Flags override the preset.")
    add_common_args(p, default_out="runs/neural_em_shapes")
    p.add_argument("--preset", default=None, help="named configuration (default: 'default'; --quick: 'quick')")
    p.add_argument("--dataset", choices=["static", "flying"], default=None,
                   help="static shapes (default) or flying-shapes sequences (presets flying3, flying5)")
    p.add_argument("--shapes", type=positive_int, default=None, help="shapes per image / sequence")
    p.add_argument("--model", choices=["rnn-em", "n-em", "conv-rnn-em"], default=None,
                   help="cell (default: rnn-em; conv-rnn-em: thesis Table 5.1, flying shapes)")
    p.add_argument("--K", type=positive_int, default=None, help="number of slots")
    p.add_argument("--iterations", type=positive_int, default=None, help="EM iterations T")
    p.add_argument("--hidden", type=positive_int, default=None, help="hidden units / latent size")
    p.add_argument("--channels", type=positive_int, default=None,
                   help="conv-rnn-em: channels of the first conv layer (Table 5.1: 32; the second has twice)")
    p.add_argument("--mlp", type=positive_int, default=None, help="conv-rnn-em: dense layer width (Table 5.1: 512)")
    p.add_argument("--updates", type=positive_int, default=None, help="training length in optimiser updates")
    p.add_argument("--batch", type=positive_int, default=None, help="batch size")
    p.add_argument("--lr", type=positive_float, default=None, help="Adam learning rate")
    p.add_argument("--lr-final", type=positive_float, default=None,
                   help="final learning rate as a fraction of --lr (cosine decay; 1 = constant)")
    p.add_argument("--clip", type=nonneg_float, default=None, help="global gradient-norm clip (0 = off)")
    p.add_argument("--noise", type=probability, default=None, help="bit-flip probability of the input")
    p.add_argument("--loss-iterations", choices=["all", "last", "linear"], default=None,
                   help="loss on every EM iteration (mean), the last, or every iteration weighted by t")
    p.add_argument("--gamma-grad", dest="gamma_grad", action="store_true", default=None,
                   help="back-propagate through gamma")
    p.add_argument("--no-gamma-grad", dest="gamma_grad", action="store_false", help="stop gradients at gamma")
    p.add_argument("--gamma-init", choices=["random", "spatial", "ink"], default=None, help="initial assignment gamma_0")
    p.add_argument("--restarts", type=positive_int, default=None,
                   help="EM restarts at evaluation; per image the most likely run is kept")
    p.add_argument("--n-train", type=positive_int, default=None, help="training images (paper: 50,000)")
    p.add_argument("--n-test", type=positive_int, default=None, help="test images (>= 1,000 for results)")
    p.add_argument("--eval-every", type=positive_int, default=None, help="updates between validation passes")
    p.add_argument("--select", choices=["valid_ami", "valid_loss"], default=None,
                   help="checkpoint criterion on the validation split")
    p.add_argument("--no-figures", action="store_true", help="skip the PNGs and the GIF")
    reject_renamed(p, RENAMED)
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
    # The run is written into a hidden sibling of --out and appears there only when complete.
    run_dir = RunDirectory(args.out, force=args.force, resume=args.resume)
    with run_dir as out:
        ck = TrainingCheckpoint(run_dir.scratch("checkpoint.npz"),
                                {"paper": "neural_em_shapes", "seed": args.seed, "config": to_jsonable(cfg)})
        timer = PhaseTimer()
        data = make_splits(cfg, args.seed)
        timer.lap("data")
        rng = np.random.default_rng(args.seed)
        snap = data["valid"].images[:cfg.snapshot_images]
        print(f"{PROG}: {cfg.model}, K={cfg.K}, T={cfg.iterations}, {cfg.updates} updates of batch {cfg.batch}; "
              f"data {cfg.n_train}/{cfg.n_valid}/{cfg.n_test} (seed {args.seed})", file=sys.stderr)
        res = train(cfg, data, rng, snapshot_images=snap, checkpoint=ck, resume=args.resume and ck.exists())
        params = res["params"]
        timer.lap("train")

        test = data["test"]
        flying = cfg.dataset == "flying"
        ev = evaluate(params, cfg, test.images, test.labels,
                      np.random.default_rng(np.random.SeedSequence([args.seed, 1])), per_iteration=True)
        base_rng = np.random.default_rng(np.random.SeedSequence([args.seed, 2]))
        if flying:
            base = sequence_baselines(test.images, test.labels, cfg.K, cfg.shapes, base_rng)
            gen = flying_generalisation(cfg, params, min(cfg.n_test, GENERALISATION_SEQUENCES), args.seed)
        else:
            base = baselines(test.images, test.labels, cfg.K, base_rng)
            gen = generalisation(cfg, params, min(cfg.n_test, 1000), args.seed)
        metrics = {
            "test_ami_max": ev["ami_max"], "test_ami_arithmetic": ev["ami_arithmetic"],
            **({"test_ami_max_last_frame": ev["ami_max_last_frame"],
                "test_ami_arithmetic_last_frame": ev["ami_arithmetic_last_frame"],
                "scoring": "AMI per frame (frames 1..T, each grouped by the step that predicts it) over "
                           "non-background, non-overlap pixels, averaged over sequences; test_ami_max is the "
                           "mean over the T frames (the authors' sequence score), *_last_frame the last frame"}
               if flying else {}),
            "test_ami_max_per_iteration": ev["ami_max_per_iteration"], "test_loss": ev["loss"],
            "test_images": len(test), "valid_images": len(data["valid"]), "best_update": res["best"]["update"],
            "stopped_early": res["stopped_early"],
            "selection": f"checkpoint with the best {cfg.select} on {len(data['valid'])} validation images, "
                         f"evaluated every {cfg.eval_every} updates",
            "valid_ami_max_at_best": res["best"].get("valid_ami_max"), "train_time_s": res["train_time_s"],
            "generalisation": gen,
        }
        if flying:
            metrics["static_transfer"] = static_transfer(cfg, params, min(cfg.n_test, GENERALISATION_SEQUENCES),
                                                         args.seed, iterations=TRANSFER_ITERATIONS)

        timer.lap("test_evaluation_and_baselines")
        # The arrays the figures are drawn from (viz.py never runs a model); float16 keeps them small.
        ex_rng = np.random.default_rng(np.random.SeedSequence([args.seed, 3]))
        if flying:
            tr = run_sequence_em(cfg.model, params, test.images[:N_EXAMPLES], K=cfg.K, noise=cfg.noise, rng=ex_rng,
                                 gamma_init=cfg.gamma_init)
        else:
            tr = run_em(cfg.model, params, test.images[:N_EXAMPLES], K=cfg.K, iterations=cfg.iterations,
                        noise=cfg.noise, rng=ex_rng, gamma_init=cfg.gamma_init, restarts=cfg.restarts)
        save_weights(out / "examples.npz", {"images": test.images[:N_EXAMPLES], "labels": test.labels[:N_EXAMPLES],
                                            "gamma": tr.gammas().astype(np.float16),
                                            "psi": tr.psi.astype(np.float16)})
        if res["snapshots"] is not None:
            # Flying: the snapshots hold the last frame's grouping, so the images are the last frames.
            last = (slice(None), -1) if flying else slice(None)
            save_weights(out / "snapshots.npz", {"gamma": res["snapshots"], "update": np.array(res["history"]["update"]),
                                                 "images": snap[last],
                                                 "labels": data["valid"].labels[:cfg.snapshot_images][last]})
        notes = ("--quick smoke test: tiny model and data, the numbers are not results."
                 if args.quick or preset == "quick" else "")
        if res["stopped_early"]:
            notes = f"STOPPED EARLY: {res['stopped_early']}; the metrics are of the best checkpoint before it. {notes}"
        timer.lap("figure_arrays")
        write_run(out, paper="neural_em_shapes", seed=args.seed, config=cfg, history=res["history"],
                  metrics=metrics, baselines=base, wall_time_s=time.perf_counter() - start,
                  weights=params, command=typed_command("neural_em_shapes", PROG, argv), notes=notes,
                  extra={"data": provenance(cfg), "phases_s": timer.seconds})
        if not args.no_figures:
            from neural_em_shapes.viz import make_figures, make_gif
            make_figures(out)
            make_gif(out)           # flying shapes: also sequence.gif
    km = base["kmeans_coords_K3" if not flying else f"kmeans_coords_K{cfg.shapes}"]["ami_max"]
    last = f" (last frame {ev['ami_max_last_frame']:.3f})" if flying else ""
    print(f"test AMI(max) {ev['ami_max']:.3f}{last}  AMI(arithmetic) {ev['ami_arithmetic']:.3f}  "
          f"| k-means on coordinates {km:.3f}  connected components "
          f"{base['connected_components_8']['ami_max']:.3f}  (checkpoint: update {res['best']['update']}, "
          f"{time.perf_counter() - start:.0f} s) -> {run_dir.path / 'run.json'}")
    if res["stopped_early"]:
        print(f"{PROG}: stopped early: {res['stopped_early']} (the record holds the best checkpoint before it)",
              file=sys.stderr)
        return 1
    return 0


def cli(argv: Sequence[str] | None = None) -> int:
    return run_main(main, argv, prog=PROG)


if __name__ == "__main__":
    sys.exit(cli())
