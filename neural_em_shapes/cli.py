"""Command line of Neural EM / RNN-EM on static shapes: parse -> config -> data -> train ->
evaluate on test -> baselines on the same test images -> run.json, weights, figures."""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from common.baselines import connected_components, kmeans_coords, random_labels
from common.cli import (UsageError, add_common_args, positive_float, positive_int, probability,
                        resolve_preset, run_main, setup_threads)
from common.metrics import grouping_score
from common.runs import prepare_out_dir, save_weights, write_run
from common.shapes import make_shapes, make_shapes_splits
from neural_em_shapes.config import PRESETS, QUICK_SIZES, make_config
from neural_em_shapes.model import init_gamma, run_em
from neural_em_shapes.train import evaluate, train

PROG = "neural_em_shapes.py"
N_EXAMPLES = 8
GENERALISATION = [(2, 2), (3, 3), (4, 4), (5, 5), (3, 4)]  # (shapes per image, K at test time)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG, description="Neural EM and RNN-EM on static shapes (Greff et al. 2017), in NumPy.",
        epilog="Presets: " + ", ".join(sorted(PRESETS)) + ". Flags override the preset.")
    add_common_args(p, default_out="runs/neural_em_shapes")
    p.add_argument("--preset", default=None, help="named configuration (default: 'default'; --quick: 'quick')")
    p.add_argument("--model", choices=["rnn-em", "n-em"], default=None, help="cell (default: rnn-em)")
    p.add_argument("--K", type=positive_int, default=None, help="number of slots")
    p.add_argument("--steps", type=positive_int, default=None, help="EM iterations T")
    p.add_argument("--hidden", type=positive_int, default=None, help="hidden units / latent size")
    p.add_argument("--updates", type=positive_int, default=None, help="training length in updates")
    p.add_argument("--batch", type=positive_int, default=None, help="batch size")
    p.add_argument("--lr", type=positive_float, default=None, help="Adam learning rate")
    p.add_argument("--lr-final", type=positive_float, default=None,
                   help="final learning rate as a fraction of --lr (cosine decay; 1 = constant)")
    p.add_argument("--clip", type=float, default=None, help="global gradient-norm clip (0 = off)")
    p.add_argument("--noise", type=probability, default=None, help="bit-flip probability of the input")
    p.add_argument("--loss-steps", choices=["all", "last", "linear"], default=None,
                   help="loss on every EM step (mean), the last, or every step weighted by t")
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
    return p


def _baselines(images: np.ndarray, labels: np.ndarray, K: int, rng: np.random.Generator) -> dict:
    """Non-learned groupings of the same images. "ink_seeds": the k-means++ ink seeding of
    gamma_0 on its own (each pixel to its nearest seed), i.e. what EM starts from with
    --gamma-init ink, without the model."""
    out = {}
    n = len(images)
    km, cc, rnd = kmeans_coords(images, 3, rng), connected_components(images, 8), random_labels(images, K, rng)
    seeds = init_gamma(n, K, images[0].size, rng, kind="ink", x=images.reshape(n, -1))
    for name, pred in (("kmeans_coords_K3", km), ("connected_components_8", cc), (f"random_K{K}", rnd),
                       (f"ink_seeds_K{K}", seeds.argmax(axis=1).reshape(images.shape))):
        out[name] = {"ami_max": grouping_score(labels, pred)[0],
                     "ami_arithmetic": grouping_score(labels, pred, normalizer="arithmetic")[0]}
    return out


def _generalisation(cfg, params, n_images: int, seed: int) -> list[dict]:
    """The trained model on images with 2..5 shapes (K = number of shapes) and K=4 on 3 shapes."""
    rows = []
    streams = np.random.SeedSequence([seed, 7]).spawn(len(GENERALISATION))
    for (n_shapes, K), ss in zip(GENERALISATION, streams):
        rng = np.random.default_rng(ss)
        d = make_shapes(n_images, rng, n_shapes=n_shapes)
        tr = run_em(cfg.model, params, d.images, K=K, steps=cfg.steps, noise=cfg.noise, rng=rng,
                    gamma_init=cfg.gamma_init, keep_all=False, restarts=cfg.restarts)
        km = kmeans_coords(d.images, n_shapes, rng)
        rows.append({"shapes": n_shapes, "K": K,
                     "ami_max": grouping_score(d.labels.reshape(n_images, -1), tr.groups(-1))[0],
                     "kmeans_coords_ami_max": grouping_score(d.labels, km)[0]})
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_threads(args.threads)
    start = time.perf_counter()
    overrides = {k: getattr(args, k) for k in ("model", "K", "steps", "hidden", "updates", "batch",
                                               "lr", "lr_final", "clip", "noise", "loss_steps",
                                               "gamma_grad", "gamma_init", "restarts", "n_train", "n_test",
                                               "eval_every", "select")}
    preset, overrides = resolve_preset(args.preset, args.quick, PRESETS, overrides, sizes=QUICK_SIZES)
    try:
        cfg = make_config(preset, **overrides)
    except ValueError as e:
        raise UsageError(str(e)) from None
    out = prepare_out_dir(args.out)

    data = make_shapes_splits(args.seed, cfg.n_train, cfg.n_valid, cfg.n_test)
    rng = np.random.default_rng(args.seed)
    snap = data["valid"].images[:cfg.snapshot_images]
    print(f"{PROG}: {cfg.model}, K={cfg.K}, T={cfg.steps}, {cfg.updates} updates of batch {cfg.batch}; "
          f"data {cfg.n_train}/{cfg.n_valid}/{cfg.n_test} (seed {args.seed})", file=sys.stderr)
    res = train(cfg, data, rng, snapshot_images=snap)
    params = res["params"]

    test_rng = np.random.default_rng(np.random.SeedSequence([args.seed, 1]))
    ev = evaluate(params, cfg, data["test"].images, data["test"].labels, test_rng, per_step=True)
    base = _baselines(data["test"].images, data["test"].labels, cfg.K,
                      np.random.default_rng(np.random.SeedSequence([args.seed, 2])))
    gen = _generalisation(cfg, params, min(cfg.n_test, 1000), args.seed)
    metrics = {
        "test_ami_max": ev["ami_max"], "test_ami_arithmetic": ev["ami_arithmetic"],
        "test_ami_max_per_step": ev["ami_max_per_step"], "test_loss": ev["loss"],
        "test_images": cfg.n_test, "best_update": res["best"]["update"],
        "selection": f"checkpoint with the best {cfg.select} on {cfg.n_valid} validation images, "
                     f"evaluated every {cfg.eval_every} updates",
        "valid_ami_max_at_best": res["best"]["valid_ami_max"], "train_time_s": res["train_time_s"],
        "generalisation": gen,
    }

    ex_rng = np.random.default_rng(np.random.SeedSequence([args.seed, 3]))
    ex = data["test"]
    tr = run_em(cfg.model, params, ex.images[:N_EXAMPLES], K=cfg.K, steps=cfg.steps, noise=cfg.noise,
                rng=ex_rng, gamma_init=cfg.gamma_init, restarts=cfg.restarts)
    save_weights(out / "examples.npz", {"images": ex.images[:N_EXAMPLES], "labels": ex.labels[:N_EXAMPLES],
                                        "gamma": tr.gamma, "psi": tr.psi})
    if res["snapshots"] is not None:
        save_weights(out / "snapshots.npz", {"gamma": res["snapshots"], "update": np.array(res["history"]["update"]),
                                             "images": snap, "labels": data["valid"].labels[:cfg.snapshot_images]})
    notes = ("--quick smoke test: tiny model and data, the numbers are not results."
             if args.quick or preset == "quick" else "")
    write_run(out, paper="neural_em_shapes", seed=args.seed, config=cfg, history=res["history"],
              metrics=metrics, baselines=base, wall_time_s=time.perf_counter() - start,
              weights=params, command=shlex.join([PROG, *(sys.argv[1:] if argv is None else argv)]),
              notes=notes)
    if not args.no_figures:
        from neural_em_shapes.viz import make_figures, make_gif
        make_figures(out)
        make_gif(out)
    km = base["kmeans_coords_K3"]["ami_max"]
    print(f"test AMI(max) {ev['ami_max']:.3f}  AMI(arithmetic) {ev['ami_arithmetic']:.3f}  "
          f"| k-means on coordinates {km:.3f}  connected components "
          f"{base['connected_components_8']['ami_max']:.3f}  (checkpoint: update {res['best']['update']}, "
          f"{time.perf_counter() - start:.0f} s) -> {out / 'run.json'}")
    return 0


def cli(argv: Sequence[str] | None = None) -> int:
    return run_main(main, argv, prog=PROG)


if __name__ == "__main__":
    sys.exit(cli())
