"""Random search over DAE hyperparameters, selected on VALIDATION AMI (thesis Sec. 4.3.3 selected on test).

Space (thesis): hidden in {100, 250, 500, 1000}; activation in {relu, sigmoid, tanh}; salt-and-
pepper in {0.0, 0.1, ..., 0.9}; learning rate log-uniform (thesis SGD: [1e-3, 1]; ours, Adam:
[3e-4, 1e-2]). Run 0 is the thesis's best architecture for the dataset (its Table 4.1/4.2 hidden
size, activation and noise) trained with our optimiser, so the search never does worse than that
starting point on validation. Each run trains a DAE, then runs RC on the first ``valid_images``
multi-object validation images at the thesis K and scores AMI(max).

    python -m reconstruction_clustering.search --dataset shapes --runs 12 --seed 0

writes ``<out>/<train_on>_<dataset>.json`` with every run and the chosen configuration. ``--out``
defaults to ``runs/reconstruction_clustering/search``, never to the committed records in
``results/search/``; an existing record is replaced only with ``--force`` (``--extend`` and
``--confirm-top`` update the record they read, in place).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from common.cli import UsageError, nonempty_positive_int_list, nonneg_int, positive_int, run_main, setup_threads
from common.runs import atomic_write_json, environment

from .config import THESIS_CONFIGS, TRAIN_ON, DAEConfig, RCConfig
from .data import DATASETS, THESIS_K, make_rc_dataset
from .evaluate import evaluate
from .train import fit_dae

DEFAULT_OUT = "runs/reconstruction_clustering/search"

__all__ = ["ContinuationError", "sample_config", "search", "confirm", "main"]

HIDDEN = (100, 250, 500, 1000)
ACTS = ("relu", "sigmoid", "tanh")
NOISES = tuple(round(0.1 * i, 1) for i in range(10))
LR_RANGE = {"adam": (3e-4, 1e-2), "sgd": (1e-3, 1.0)}


def sample_config(rng: np.random.Generator, base: DAEConfig) -> DAEConfig:
    lo, hi = LR_RANGE[base.optimizer]
    return dataclasses.replace(
        base, hidden=int(rng.choice(HIDDEN)), activation=str(rng.choice(ACTS)),
        noise=float(rng.choice(NOISES)), lr=float(math.exp(rng.uniform(math.log(lo), math.log(hi)))))


class ContinuationError(ValueError):
    """An earlier record that the search cannot continue (different seed, dataset or budget)."""


def search(dataset: str, data, *, runs: int, seed: int, train_on: str = "single", valid_images: int = 500,
           iterations: int = 10, base: DAEConfig | None = None, log=print, previous: dict | None = None) -> dict:
    """Run the random search; returns the record (runs + chosen config + budget).

    previous: an earlier record of the same search (same seed, dataset, budget). Its runs are kept
    and the search continues with run ``len(previous["runs"])``, drawing exactly the configurations
    a single longer search would have drawn, so 8 + 8 runs equal one search of 16.
    """
    base = base or DAEConfig()
    rng = np.random.default_rng(np.random.SeedSequence([seed, 4242]))
    K, e_kind = THESIS_K[dataset], RCConfig(train_on=train_on).e_step_kind
    valid = data.multi["valid"]
    n = min(valid_images, len(valid))
    budget = {"max_epochs": base.max_epochs, "patience": base.patience, "optimizer": base.optimizer,
              "valid_images": n, "iterations": iterations}
    done = list(previous["runs"]) if previous else []
    if previous:
        same = (previous["seed"], previous["train_on"], previous["dataset"]) == (seed, train_on, dataset)
        old = {k: v for k, v in previous["budget"].items() if k != "runs"}
        if not same or old != budget:
            raise ContinuationError(f"the previous record was made with a different seed, dataset or budget "
                                    f"({old} vs {budget})")
        if "confirmation" in previous:
            log(f"[{dataset}/{train_on}] note: the extended record drops the earlier confirmation stage; "
                f"rerun --confirm-top if the preset relied on it")
    thesis = THESIS_CONFIGS[train_on].get(dataset) or THESIS_CONFIGS["single"][dataset]
    records = done
    t_all = time.perf_counter()
    for r in range(len(done) + runs):
        cfg = (dataclasses.replace(base, hidden=thesis.hidden, activation=thesis.activation, noise=thesis.noise)
               if r == 0 else sample_config(rng, base))
        if r < len(done):
            if done[r]["config"] != dataclasses.asdict(cfg):
                raise ContinuationError(f"run {r} of the previous record does not match this search's draw")
            continue
        run_rng = np.random.default_rng(np.random.SeedSequence([seed, r]))
        res = fit_dae(data, cfg, train_on, run_rng)
        scores, _ = evaluate(res.params, cfg.activation, valid.images[:n], valid.labels[:n], K=K,
                             iterations=iterations, e_step_kind=e_kind, rng=np.random.default_rng(seed))
        rec = {"run": r, "config": dataclasses.asdict(cfg), "valid_ami_max": scores["ami_max"],
               "valid_ami_arithmetic": scores["ami_arithmetic"], "valid_dae_loss": res.best_valid_loss,
               "best_epoch": res.best_epoch, "epochs_run": res.epochs_run, "train_time_s": res.train_time_s}
        records.append(rec)
        log(f"[{dataset}/{train_on}] run {r:2d}: H={cfg.hidden:4d} {cfg.activation:7s} noise={cfg.noise:.1f} "
            f"lr={cfg.lr:.2e} -> valid AMI {scores['ami_max']:.3f}, DAE loss {res.best_valid_loss:.2f}, "
            f"{res.epochs_run} ep, {res.train_time_s:.0f}s")
    finite = [r for r in records if np.isfinite(r["valid_ami_max"])]
    best = max(finite, key=lambda r: r["valid_ami_max"]) if finite else records[0]
    return {"dataset": dataset, "train_on": train_on, "seed": seed, "K": K, "e_step": e_kind,
            "criterion": f"mean AMI(max) of RC on the first {n} validation images",
            "budget": {"runs": len(records), **budget},
            "chosen": best, "runs": records,
            "wall_time_s": time.perf_counter() - t_all + (previous["wall_time_s"] if previous else 0.0),
            "environment": environment()}


def confirm(dataset: str, data, record: dict, *, top: int, epochs: int | Sequence[int], log=print) -> dict:
    """Second stage: retrain the ``top`` best configurations of a search record for each epoch
    budget in ``epochs`` and score RC on ALL validation images; the best (configuration, budget)
    is stored as ``record["confirmation"]["chosen"]`` and is what the preset uses.

    Why: the search scores 25-epoch DAEs on 500 validation images, where the leaders can be within
    noise of each other, and a DAE that is still improving at 25 epochs is under-rated. Longer
    training can also hurt binding (multi-object DAEs learn to reconstruct whole scenes), so
    listing the search's own budget beside a longer one lets validation choose the training length.
    Each configuration keeps its search-run seed (at the search's budget it is the search's DAE);
    test images are never touched. ``data`` must be the dataset of the record's seed; RC runs the
    record's number of iterations.
    """
    budgets = [int(epochs)] if np.isscalar(epochs) else [int(e) for e in epochs]
    seed, K, iterations = record["seed"], record["K"], record["budget"]["iterations"]
    valid = data.multi["valid"]
    ranked = sorted((r for r in record["runs"] if np.isfinite(r["valid_ami_max"])),
                    key=lambda r: r["valid_ami_max"], reverse=True)[:top]
    rows = []
    t0 = time.perf_counter()
    for r in ranked:
        for e in budgets:
            cfg = dataclasses.replace(DAEConfig(**r["config"]), max_epochs=e)
            res = fit_dae(data, cfg, record["train_on"],
                          np.random.default_rng(np.random.SeedSequence([seed, r["run"]])))
            scores, _ = evaluate(res.params, cfg.activation, valid.images, valid.labels, K=K,
                                 iterations=iterations, e_step_kind=record["e_step"],
                                 rng=np.random.default_rng(seed))
            rows.append({"run": r["run"], "config": dataclasses.asdict(cfg), "valid_ami_max": scores["ami_max"],
                         "search_valid_ami_max": r["valid_ami_max"], "best_epoch": res.best_epoch,
                         "train_time_s": res.train_time_s})
            log(f"[{dataset}] confirm run {r['run']:2d} at {e} epochs: valid AMI {scores['ami_max']:.3f} "
                f"on {len(valid)} images (search: {r['valid_ami_max']:.3f})")
    finite = [r for r in rows if np.isfinite(r["valid_ami_max"])]
    if not finite:
        raise ValueError(f"{dataset}: no confirmed run has a finite validation AMI")
    best = max(finite, key=lambda r: r["valid_ami_max"])   # a tie keeps the earlier row (listed budget order)
    shown = budgets[0] if len(budgets) == 1 else budgets
    return {**record, "confirmation": {
        "criterion": f"mean AMI(max) of RC on all {len(valid)} validation images, DAEs of "
                     f"{' or '.join(map(str, budgets))} epochs",
        "top": top, "epochs": shown, "runs": rows, "chosen": best, "wall_time_s": time.perf_counter() - t0}}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m reconstruction_clustering.search",
                                description="Random search over RC's DAE hyperparameters, chosen on validation AMI.")
    p.add_argument("--dataset", default="all", choices=("all",) + DATASETS)
    p.add_argument("--train-on", default="single", choices=TRAIN_ON)
    p.add_argument("--runs", type=positive_int, default=12, help="configurations per dataset (default 12)")
    p.add_argument("--seed", type=nonneg_int, default=0)
    p.add_argument("--max-epochs", type=positive_int, default=25, help="epoch budget per DAE (default 25)")
    p.add_argument("--optimizer", default="adam", choices=("adam", "sgd"))
    p.add_argument("--valid-images", type=positive_int, default=500)
    p.add_argument("--extend", action="store_true",
                   help="continue the existing record in --out with --runs more configurations")
    p.add_argument("--confirm-top", type=positive_int, default=None,
                   help="instead of searching: retrain the N best runs of the existing record for "
                        "--confirm-epochs epochs and choose on all validation images")
    p.add_argument("--confirm-epochs", type=nonempty_positive_int_list, default=(80,),
                   help="epoch budget(s) of the confirmation, comma-separated (default 80; '25,80' also "
                        "lets validation keep the search's training length)")
    p.add_argument("--out", default=DEFAULT_OUT,
                   help=f"directory of the search records (default {DEFAULT_OUT}; the committed records "
                        "are in reconstruction_clustering/results/search)")
    p.add_argument("--force", action="store_true", help="replace an existing record of a fresh search")
    p.add_argument("--threads", type=positive_int, default=1)
    return p


def _read_record(path: Path, flag: str) -> dict:
    """A committed or earlier search record, or a one-line usage error."""
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise UsageError(f"{flag}: {path} is not a readable search record ({e})") from None
    if not isinstance(record, dict) or "runs" not in record:
        raise UsageError(f"{flag}: {path} is not a search record")
    return record


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_threads(args.threads)
    if args.dataset == "simple_superposition":
        raise UsageError("simple_superposition has no held-out multi-object images (its only 120 pairs are the "
                         "test set), so nothing can be selected on validation AMI; its DAE uses the thesis "
                         "architecture unsearched (see the README)")
    names = [d for d in DATASETS if d != "simple_superposition"] if args.dataset == "all" else [args.dataset]
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"--out {out}: cannot create directory ({e.strerror})") from None
    if args.confirm_top and args.extend:
        raise UsageError("--confirm-top confirms an existing record; run --extend first, then --confirm-top")
    base = DAEConfig(optimizer=args.optimizer, max_epochs=args.max_epochs)
    if not (args.extend or args.confirm_top or args.force):       # refuse before any work
        for name in names:
            path = out / f"{args.train_on}_{name}.json"
            if path.exists():
                raise UsageError(f"{path} already holds a search record; pass --force to replace it, "
                                 "--extend to continue it, or choose another --out")
    for name in names:
        data = make_rc_dataset(name, args.seed)
        prev_path = out / f"{args.train_on}_{name}.json"
        previous = None
        if args.confirm_top:
            if not prev_path.exists():
                raise UsageError(f"--confirm-top: no search record {prev_path}")
            record = _read_record(prev_path, "--confirm-top")
            if record.get("seed") != args.seed:
                raise UsageError(f"--confirm-top: {prev_path} was searched with --seed {record['seed']}")
            rec = confirm(name, data, record, top=args.confirm_top, epochs=args.confirm_epochs)
            path = atomic_write_json(prev_path, rec)
            c = rec["confirmation"]["chosen"]
            print(f"confirmed for {name}: {c['config']} (valid AMI {c['valid_ami_max']:.3f}) -> {path}")
            continue
        if args.extend:
            if not prev_path.exists():
                raise UsageError(f"--extend: no earlier record {prev_path}")
            previous = _read_record(prev_path, "--extend")
        try:
            rec = search(name, data, runs=args.runs, seed=args.seed, train_on=args.train_on,
                         valid_images=args.valid_images, base=base, previous=previous)
        except ContinuationError as e:
            raise UsageError(f"--extend: {e}") from None
        path = atomic_write_json(out / f"{args.train_on}_{name}.json", rec)
        c = rec["chosen"]
        print(f"chosen for {name}: {c['config']} (valid AMI {c['valid_ami_max']:.3f}) -> {path}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main, prog="python -m reconstruction_clustering.search"))
