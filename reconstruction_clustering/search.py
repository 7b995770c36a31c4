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

The DAEs of a search are independent tasks on the sweep machinery (``common.sweep.map_tasks``):
``--jobs N`` trains N at a time in local processes, ``--scheduler tcp://host:8786`` (or ``local``)
on Dask, with the same record whatever runs them. Each finished DAE is kept in
``<out>/.<train_on>_<dataset>.runs/`` until the record is written, so the same command after an
interruption (or a Dask worker's death) trains only the DAEs still missing.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import shutil
import sys
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from common.cli import UsageError, nonempty_positive_int_list, nonneg_int, positive_int, run_main, setup_threads
from common.runs import atomic_write_json, environment
from common.sweep import map_tasks

from .config import THESIS_CONFIGS, TRAIN_ON, DAEConfig, RCConfig
from .data import DATASETS, THESIS_K, make_rc_dataset
from .evaluate import evaluate
from .train import fit_dae

DEFAULT_OUT = "runs/reconstruction_clustering/search"

__all__ = ["ContinuationError", "SearchTask", "run_task", "sample_config", "search", "confirm", "main"]

HIDDEN = (100, 250, 500, 1000)
ACTS = ("relu", "sigmoid", "tanh")
NOISES = tuple(round(0.1 * i, 1) for i in range(10))
LR_RANGE = {"adam": (3e-4, 1e-2), "sgd": (1e-3, 1.0)}


def sample_config(rng: np.random.Generator, base: DAEConfig) -> DAEConfig:
    lo, hi = LR_RANGE[base.optimizer]
    return dataclasses.replace(
        base, hidden=int(rng.choice(HIDDEN)), activation=str(rng.choice(ACTS)),
        noise=float(rng.choice(NOISES)), lr=float(math.exp(rng.uniform(math.log(lo), math.log(hi)))))


@dataclasses.dataclass(frozen=True)
class SearchTask:
    """One DAE of a search or a confirmation: train it, run RC on validation images, score.

    Everything a worker process needs to do it alone (it rebuilds the dataset from ``dataset``,
    ``seed`` and ``data_kwargs``), so the runs of a search are tasks of ``common.sweep.map_tasks``:
    local processes (``--jobs``) or Dask (``--scheduler``). ``record_dir``: where a finished run is
    kept as ``run_<r>_<epochs>ep_<n>img.json``; a task finding its own file there returns it, so an
    interrupted search (or a task retried on another worker) redoes only unfinished runs.
    """
    dataset: str
    seed: int
    train_on: str
    run: int
    config: dict
    valid_images: int          # score on the first n validation images
    iterations: int
    K: int
    e_step: str
    record_dir: str | None = None
    data_kwargs: tuple = ()    # make_rc_dataset keyword arguments as (name, value) pairs; () = full size


_DATA: dict = {}               # (dataset, seed, data_kwargs) -> RCDataset: built once per process


def _data_of(task: SearchTask):
    key = (task.dataset, task.seed, task.data_kwargs)
    if key not in _DATA:
        _DATA.clear()          # one dataset per process at a time (a full RC dataset is ~70 MB)
        _DATA[key] = make_rc_dataset(task.dataset, task.seed, **dict(task.data_kwargs))
    return _DATA[key]


def run_task(task: SearchTask) -> dict:
    """Train the task's DAE (seeded by [seed, run]) and score RC on validation; returns the run's
    record: validation AMI(max) and AMI(arithmetic), DAE loss, epochs, training time."""
    cfg = DAEConfig(**task.config)
    path = None
    if task.record_dir:
        path = Path(task.record_dir) / f"run_{task.run:03d}_{cfg.max_epochs}ep_{task.valid_images}img.json"
        if path.is_file():
            try:
                done = json.loads(path.read_text())
            except ValueError:
                done = None                      # a torn file of a killed worker: run again
            if done and done.get("task") == json.loads(json.dumps(dataclasses.asdict(task))):   # tuples -> lists
                return done["result"]
    data = _data_of(task)
    valid = data.multi["valid"]
    n = min(task.valid_images, len(valid))
    res = fit_dae(data, cfg, task.train_on, np.random.default_rng(np.random.SeedSequence([task.seed, task.run])))
    scores, _ = evaluate(res.params, cfg.activation, valid.images[:n], valid.labels[:n], K=task.K,
                         iterations=task.iterations, e_step_kind=task.e_step, rng=np.random.default_rng(task.seed))
    result = {"valid_ami_max": scores["ami_max"], "valid_ami_arithmetic": scores["ami_arithmetic"],
              "valid_dae_loss": res.best_valid_loss, "best_epoch": res.best_epoch, "epochs_run": res.epochs_run,
              "train_time_s": res.train_time_s}
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(path, {"task": dataclasses.asdict(task), "result": result})
    return result


def _run_tasks(tasks: list[SearchTask], data, jobs: int, scheduler: str | None) -> list[dict]:
    """Every task's result, in order, on ``common.sweep.map_tasks``. In this process (jobs=1, no
    scheduler) the caller's dataset is used as it is instead of being rebuilt."""
    if not tasks:
        return []
    if data is not None and jobs == 1 and not scheduler:
        _DATA.clear()
        _DATA[(tasks[0].dataset, tasks[0].seed, tasks[0].data_kwargs)] = data
    try:
        return map_tasks(run_task, tasks, jobs=jobs, scheduler=scheduler, name=f"search-{tasks[0].dataset}")
    finally:
        _DATA.clear()


class ContinuationError(ValueError):
    """An earlier record that the search cannot continue (different seed, dataset or budget)."""


def search(dataset: str, data, *, runs: int, seed: int, train_on: str = "single", valid_images: int = 500,
           iterations: int = 10, base: DAEConfig | None = None, log=print, previous: dict | None = None,
           jobs: int = 1, scheduler: str | None = None, record_dir: str | Path | None = None,
           data_kwargs: dict | None = None) -> dict:
    """Run the random search; returns the record (runs + chosen config + budget).

    data: the dataset of ``seed`` (``make_rc_dataset(dataset, seed, **data_kwargs)``; worker
    processes rebuild it from those arguments). previous: an earlier record of the same search
    (same seed, dataset, budget). Its runs are kept and the search continues with run
    ``len(previous["runs"])``, drawing exactly the configurations a single longer search would have
    drawn, so 8 + 8 runs equal one search of 16. jobs / scheduler: run the DAEs as tasks of
    ``common.sweep.map_tasks`` (the result does not depend on them). record_dir: keep each finished
    run there, so the same call after an interruption only runs what is missing.
    """
    base = base or DAEConfig()
    rng = np.random.default_rng(np.random.SeedSequence([seed, 4242]))
    K, e_kind = THESIS_K[dataset], RCConfig(train_on=train_on).e_step_kind
    n = min(valid_images, len(data.multi["valid"]))
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
    tasks = []
    for r in range(len(done) + runs):      # draw every configuration in order, whoever runs it
        cfg = (dataclasses.replace(base, hidden=thesis.hidden, activation=thesis.activation, noise=thesis.noise)
               if r == 0 else sample_config(rng, base))
        if r < len(done):
            if done[r]["config"] != dataclasses.asdict(cfg):
                raise ContinuationError(f"run {r} of the previous record does not match this search's draw")
            continue
        tasks.append(SearchTask(dataset, seed, train_on, r, dataclasses.asdict(cfg), n, iterations, K, e_kind,
                                None if record_dir is None else str(record_dir),
                                tuple(sorted((data_kwargs or {}).items()))))
    t_all = time.perf_counter()
    records = done
    for task, res in zip(tasks, _run_tasks(tasks, data, jobs, scheduler)):
        cfg = DAEConfig(**task.config)
        records.append({"run": task.run, "config": task.config, **res})
        log(f"[{dataset}/{train_on}] run {task.run:2d}: H={cfg.hidden:4d} {cfg.activation:7s} noise={cfg.noise:.1f} "
            f"lr={cfg.lr:.2e} -> valid AMI {res['valid_ami_max']:.3f}, DAE loss {res['valid_dae_loss']:.2f}, "
            f"{res['epochs_run']} ep, {res['train_time_s']:.0f}s")
    finite = [r for r in records if np.isfinite(r["valid_ami_max"])]
    best = max(finite, key=lambda r: r["valid_ami_max"]) if finite else records[0]
    return {"dataset": dataset, "train_on": train_on, "seed": seed, "K": K, "e_step": e_kind,
            "criterion": f"mean AMI(max) of RC on the first {n} validation images",
            "budget": {"runs": len(records), **budget},
            "chosen": best, "runs": records,
            "wall_time_s": time.perf_counter() - t_all + (previous["wall_time_s"] if previous else 0.0),
            "environment": environment()}


def confirm(dataset: str, data, record: dict, *, top: int, epochs: int | Sequence[int], log=print,
            jobs: int = 1, scheduler: str | None = None, record_dir: str | Path | None = None,
            data_kwargs: dict | None = None) -> dict:
    """Second stage: retrain the ``top`` best configurations of a search record for each epoch
    budget in ``epochs`` and score RC on ALL validation images; the best (configuration, budget)
    is stored as ``record["confirmation"]["chosen"]`` and is what the preset uses.

    Why: the search scores 25-epoch DAEs on 500 validation images, where the leaders can be within
    noise of each other, and a DAE that is still improving at 25 epochs is under-rated. Longer
    training can also hurt binding (multi-object DAEs learn to reconstruct whole scenes), so
    listing the search's own budget beside a longer one lets validation choose the training length.
    Each configuration keeps its search-run seed (at the search's budget it is the search's DAE);
    test images are never touched. ``data`` must be the dataset of the record's seed; RC runs the
    record's number of iterations. jobs, scheduler, record_dir, data_kwargs: as for ``search``.
    """
    budgets = [int(epochs)] if np.isscalar(epochs) else [int(e) for e in epochs]
    seed, K, iterations = record["seed"], record["K"], record["budget"]["iterations"]
    n = len(data.multi["valid"])
    ranked = sorted((r for r in record["runs"] if np.isfinite(r["valid_ami_max"])),
                    key=lambda r: r["valid_ami_max"], reverse=True)[:top]
    tasks = [SearchTask(dataset, seed, record["train_on"], r["run"],
                        dataclasses.asdict(dataclasses.replace(DAEConfig(**r["config"]), max_epochs=e)), n,
                        iterations, K, record["e_step"], None if record_dir is None else str(record_dir),
                        tuple(sorted((data_kwargs or {}).items())))
             for r in ranked for e in budgets]
    t0 = time.perf_counter()
    rows = []
    search_ami = {r["run"]: r["valid_ami_max"] for r in ranked}
    for task, res in zip(tasks, _run_tasks(tasks, data, jobs, scheduler)):
        rows.append({"run": task.run, "config": task.config, "valid_ami_max": res["valid_ami_max"],
                     "search_valid_ami_max": search_ami[task.run], "best_epoch": res["best_epoch"],
                     "train_time_s": res["train_time_s"]})
        log(f"[{dataset}] confirm run {task.run:2d} at {task.config['max_epochs']} epochs: valid AMI "
            f"{res['valid_ami_max']:.3f} on {n} images (search: {search_ami[task.run]:.3f})")
    finite = [r for r in rows if np.isfinite(r["valid_ami_max"])]
    if not finite:
        raise ValueError(f"{dataset}: no confirmed run has a finite validation AMI")
    best = max(finite, key=lambda r: r["valid_ami_max"])   # a tie keeps the earlier row (listed budget order)
    shown = budgets[0] if len(budgets) == 1 else budgets
    return {**record, "confirmation": {
        "criterion": f"mean AMI(max) of RC on all {n} validation images, DAEs of "
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
    p.add_argument("--jobs", type=positive_int, default=1,
                   help="DAEs trained at a time, each in its own process with one BLAS thread (default 1)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="train the DAEs as Dask tasks: 'local' (a LocalCluster of --jobs workers) or a scheduler "
                        "address such as tcp://host:8786 (as python -m common.sweep; needs the [sweep] extra)")
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
        runs_dir = out / f".{args.train_on}_{name}.runs"     # finished DAEs of an unfinished search
        previous = None
        if args.confirm_top:
            if not prev_path.exists():
                raise UsageError(f"--confirm-top: no search record {prev_path}")
            record = _read_record(prev_path, "--confirm-top")
            if record.get("seed") != args.seed:
                raise UsageError(f"--confirm-top: {prev_path} was searched with --seed {record['seed']}")
            rec = confirm(name, data, record, top=args.confirm_top, epochs=args.confirm_epochs,
                          jobs=args.jobs, scheduler=args.scheduler, record_dir=runs_dir)
            path = atomic_write_json(prev_path, rec)
            shutil.rmtree(runs_dir, ignore_errors=True)
            c = rec["confirmation"]["chosen"]
            print(f"confirmed for {name}: {c['config']} (valid AMI {c['valid_ami_max']:.3f}) -> {path}")
            continue
        if args.extend:
            if not prev_path.exists():
                raise UsageError(f"--extend: no earlier record {prev_path}")
            previous = _read_record(prev_path, "--extend")
        try:
            rec = search(name, data, runs=args.runs, seed=args.seed, train_on=args.train_on,
                         valid_images=args.valid_images, base=base, previous=previous,
                         jobs=args.jobs, scheduler=args.scheduler, record_dir=runs_dir)
        except ContinuationError as e:
            raise UsageError(f"--extend: {e}") from None
        path = atomic_write_json(out / f"{args.train_on}_{name}.json", rec)
        shutil.rmtree(runs_dir, ignore_errors=True)
        c = rec["chosen"]
        print(f"chosen for {name}: {c['config']} (valid AMI {c['valid_ami_max']:.3f}) -> {path}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main, prog="python -m reconstruction_clustering.search"))
