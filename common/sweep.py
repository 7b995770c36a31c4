"""Seed sweeps on this machine: run a paper's CLI for several seeds, then summarise them.

    python -m common.sweep neural_em_shapes --seeds 0,1,2 --jobs 2 --out neural_em_shapes/results/default
    python -m common.sweep neural_em_shapes --seeds 0,1,2 --out neural_em_shapes/results/default --summarize-only

Seed s runs ``python3 <paper>/<paper>.py --seed s --threads 1 --out <out>_seed<s> [extra args]`` in
its own process (``--jobs`` at a time; one BLAS thread each, so two jobs fill two cores), and then
``<out>_summary.json`` gets, for every number in the runs' metrics and baselines, the mean, the
standard error of the mean (sample s.d. / sqrt(n)), the median and the value of each seed. A seed
whose run directory already holds a run.json is not run again unless ``--rerun`` (``--summarize-only``
runs nothing); a seed that was interrupted (its hidden ``.<run>.partial`` folder is there) is
continued with ``--resume`` from its last checkpoint. ``<out>_summary.md`` is the headline numbers as
a Markdown table (mean ± s.e., median, every seed).
Arguments after ``--`` go to every run, e.g. ``-- --preset paper``. A paper that writes one run per
dataset below its run directory (RC) is summarised per dataset.

Beyond one machine, ``--scheduler ADDRESS`` runs the seeds as tasks on a Dask distributed cluster
(optional extra ``[sweep]``), e.g. one started on SLURM with dask-jobqueue (README "Sweeps on a
cluster"); ``--scheduler local`` does the same on a LocalCluster here. A task whose worker dies is
retried elsewhere and its run continues from its last checkpoint.
"""

from __future__ import annotations

import argparse
import functools
import math
import shlex
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Sequence

from common.cli import UsageError, positive_int, run_main
from common.runs import atomic_write_json, pid_alive, read_run

__all__ = ["run_dir_of", "summarize", "markdown_table", "map_tasks", "main"]

ROOT = Path(__file__).resolve().parents[1]
PAPERS = ("neural_em_shapes", "air_multimnist", "reconstruction_clustering", "tagger_shapes")


def run_dir_of(out: str | Path, seed: int) -> Path:
    """Where seed ``seed`` of the sweep ``out`` writes its run: ``<out>_seed<seed>``."""
    return Path(f"{out}_seed{seed}")


def _numbers(obj, prefix: str, out: dict[str, float]) -> None:
    """Flatten the scalar numbers (and short series) of a metrics/baselines dict into 'a.b.c' -> value."""
    if isinstance(obj, bool):
        return
    if isinstance(obj, (int, float)) and math.isfinite(obj):
        out[prefix] = float(obj)
    elif isinstance(obj, dict):
        for k, v in obj.items():
            _numbers(v, f"{prefix}.{k}" if prefix else str(k), out)
    elif isinstance(obj, list) and len(obj) <= 32:   # a short series (AMI per iteration), a few rows
        for i, v in enumerate(obj):
            _numbers(v, f"{prefix}.{i}", out)


def _stats(values: list[float]) -> dict:
    n = len(values)
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else float("nan")
    s = sorted(values)
    median = s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])
    return {"mean": mean, "se": sd / math.sqrt(n) if n > 1 else None, "median": median,
            "min": s[0], "max": s[-1]}


def summarize(out: str | Path, seeds: Sequence[int]) -> dict:
    """Summary of the runs ``<out>_seed<s>`` (each a run.json, or a folder of per-dataset runs)."""
    per_run: dict[str, dict[int, dict[str, float]]] = {}
    commands = {}
    for s in seeds:
        d = run_dir_of(out, s)
        records = sorted(d.rglob("run.json")) if d.is_dir() else []
        if not records:
            raise UsageError(f"no run.json under {str(d)!r}: run seed {s} first")
        for f in records:
            rec = read_run(f)
            if rec["seed"] != s:
                raise UsageError(f"{f} records seed {rec['seed']}, expected {s}")
            name = str(f.parent.relative_to(d)) if f.parent != d else "."
            flat: dict[str, float] = {}
            _numbers({"metrics": rec["metrics"], "baselines": rec["baselines"]}, "", flat)
            flat["wall_time_s"] = float(rec["wall_time_s"])
            per_run.setdefault(name, {})[s] = flat
            commands.setdefault(name, {})[s] = rec.get("command")
    runs = {}
    for name, by_seed in per_run.items():
        keys = sorted(set.intersection(*(set(v) for v in by_seed.values())))
        runs[name] = {k: {**_stats([by_seed[s][k] for s in sorted(by_seed)]),
                          "values": {str(s): by_seed[s][k] for s in sorted(by_seed)}} for k in keys}
    return {"seeds": list(seeds),
            "run_dirs": [run_dir_of(Path(out).name, s).name for s in seeds],
            "commands": {str(s): {name: by_seed.get(s) for name, by_seed in commands.items()} for s in seeds},
            "statistics": "mean, standard error of the mean (sample s.d. / sqrt(n)), median over seeds",
            "summary": runs}


def _run_one(paper: str, seed: int, out: Path, extra: Sequence[str], log_dir: Path) -> int:
    """One seed as the README types it: from the repository root, script and --out relative to it
    (so run.json records the command a user can type again)."""
    run_dir = run_dir_of(out, seed).resolve()
    try:
        run_dir = run_dir.relative_to(ROOT)
    except ValueError:
        pass                                   # a sweep outside the repository keeps its absolute path
    cmd = ["python3", f"{paper}/{paper}.py", "--seed", str(seed), "--threads", "1", "--out", str(run_dir),
           *extra]
    final = run_dir_of(out, seed).resolve()
    _wait_for_lock(final.parent / f".{final.name}.lock")      # a killed worker's run still unwinding
    if (final.parent / f".{final.name}.partial").is_dir():    # interrupted earlier: continue it
        cmd.append("--resume")
    log = log_dir / f"{run_dir_of(out, seed).name}.log"
    print(f"sweep: seed {seed}: {shlex.join(cmd)}  (log: {log})", file=sys.stderr)
    with open(log, "a") as f:
        return subprocess.run([sys.executable, *cmd[1:]], cwd=ROOT, stdout=f, stderr=subprocess.STDOUT,
                              preexec_fn=_die_with_parent).returncode


def _wait_for_lock(lock: Path, seconds: float = 120.0) -> None:
    """Wait while a live process holds the run's lock (the run of a worker that died gets SIGTERM
    and releases it within seconds, keeping its checkpoint)."""
    deadline = time.time() + seconds
    while lock.exists() and time.time() < deadline:
        try:
            pid = int(lock.read_text().strip() or 0)
        except (OSError, ValueError):
            return
        if not pid_alive(pid):
            return
        time.sleep(0.2)


def _die_with_parent() -> None:
    """In the run's process, before exec: get SIGTERM if the sweep (or the Dask worker) running it
    dies, so a killed worker's run stops, keeps its checkpoint and can be resumed elsewhere."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM))     # PR_SET_PDEATHSIG


def _one_blas_thread() -> None:
    """Initializer of a local worker process: one BLAS thread, freed memory kept (as a CLI run)."""
    from common.threads import keep_freed_memory, set_blas_threads
    set_blas_threads(1)
    keep_freed_memory()


def map_tasks(fn: Callable, items: Sequence, *, jobs: int = 1, scheduler: str | None = None,
              name: str = "task", keys: Sequence[str] | None = None) -> list:
    """``[fn(x) for x in items]`` on the sweep machinery, results in the order of ``items``.

    Without a scheduler: in this process for ``jobs=1``, else on ``jobs`` local worker processes
    (spawned, one BLAS thread each). With ``scheduler`` ("local": a LocalCluster of ``jobs``
    single-threaded workers; or "tcp://host:8786") each item is a Dask task (named ``keys[i]``,
    default ``<name>-<i>-<random>``, unique on a shared cluster); a task whose worker
    dies is retried on another (twice). ``fn`` must be a module-level function, and a task that
    can be retried should continue from what an earlier attempt saved (a sweep seed's --resume, a
    search run's record file), so a retry loses at most the work since then.
    """
    items = list(items)
    if scheduler:
        keys = list(keys) if keys else [f"{name}-{i}-{uuid.uuid4().hex[:8]}" for i in range(len(items))]
        return _map_on_dask(fn, items, scheduler, jobs, keys)
    if jobs == 1 or len(items) <= 1:
        return [fn(x) for x in items]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    with ProcessPoolExecutor(max_workers=min(jobs, len(items)), mp_context=multiprocessing.get_context("spawn"),
                             initializer=_one_blas_thread) as pool:
        return list(pool.map(fn, items))


def _map_on_dask(fn: Callable, items: list, scheduler: str, jobs: int, keys: list[str]) -> list:
    """The items as Dask tasks: on a LocalCluster of ``jobs`` single-threaded worker processes
    (scheduler "local") or on the cluster at ``scheduler`` (tcp://host:8786; every worker must see
    this repository at the same path and have the package installed)."""
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise UsageError("--scheduler needs Dask: pip install -e '.[sweep]'") from None
    cluster = None
    try:
        if scheduler == "local":
            cluster = LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True, dashboard_address=None)
            client = Client(cluster)
        else:
            try:
                client = Client(scheduler, timeout="10s")
            except (OSError, TimeoutError) as e:
                raise UsageError(f"cannot reach the Dask scheduler at {scheduler!r}: {e}") from None
        with client:
            futures = [client.submit(fn, x, key=k, pure=False, retries=2) for x, k in zip(items, keys)]
            return client.gather(futures)
    finally:
        if cluster is not None:
            cluster.close()


def _seed_list(text: str) -> list[int]:
    """"0,1,2", "0-4" or a mix ("0-2,7")."""
    seeds = []
    try:
        for part in text.split(","):
            a, _, b = part.strip().partition("-")
            seeds += list(range(int(a), int(b) + 1)) if b else [int(a)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"seeds must be integers >= 0 or ranges such as 0-4, got {text!r}") from None
    if not seeds or min(seeds) < 0:
        raise argparse.ArgumentTypeError(f"seeds must be integers >= 0 or ranges such as 0-4, got {text!r}")
    return seeds


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m common.sweep", allow_abbrev=False,
                                description="Run a paper's CLI for several seeds and summarise them.")
    p.add_argument("paper", choices=PAPERS)
    p.add_argument("--seeds", type=_seed_list, default=None,
                   help="seeds, e.g. 0,1,2 or 0-4 (default 0,1,2)")
    p.add_argument("--jobs", type=positive_int, default=1, help="runs at a time (one BLAS thread each)")
    p.add_argument("--out", required=True, help="runs go to <out>_seed<s>, the summary to <out>_summary.json")
    p.add_argument("--summarize-only", action="store_true", help="run nothing; summarise existing runs")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="run the seeds on Dask: a scheduler address (tcp://host:8786, e.g. from dask-jobqueue "
                        "on SLURM) or 'local' (a LocalCluster of --jobs single-threaded workers); needs [sweep]")
    p.add_argument("--rerun", action="store_true",
                   help="run every seed again, replacing runs already there (passes --force)")
    p.epilog = "Arguments after -- go to every run, e.g. -- --dataset all --train-on multi."
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    args = build_parser().parse_args(argv[:argv.index("--")] if "--" in argv else argv)
    args.extra = extra
    seeds = list(args.seeds) if args.seeds else [0, 1, 2]
    if len(set(seeds)) != len(seeds):
        raise UsageError(f"--seeds repeats a seed: {seeds}")
    out = Path(args.out)
    if args.summarize_only:
        todo = []
    elif args.rerun:
        todo, args.extra = seeds, [*args.extra, "--force"]
    else:
        todo = [s for s in seeds if not any(run_dir_of(out, s).rglob("run.json"))]
    if todo:
        out.parent.mkdir(parents=True, exist_ok=True)
        log_dir = out.parent
        start = time.perf_counter()
        if args.scheduler:
            codes = map_tasks(functools.partial(_run_one, args.paper, out=out, extra=args.extra, log_dir=log_dir),
                              todo, jobs=args.jobs, scheduler=args.scheduler, keys=[f"{out.name}-seed{s}" for s in todo])
        else:        # threads suffice locally: each seed is its own process already
            with ThreadPoolExecutor(max_workers=args.jobs) as pool:
                codes = list(pool.map(lambda s: _run_one(args.paper, s, out, args.extra, log_dir), todo))
        failed = [s for s, c in zip(todo, codes) if c != 0]
        print(f"sweep: {len(todo)} runs in {time.perf_counter() - start:.0f} s", file=sys.stderr)
        if failed:
            print(f"sweep: seeds {failed} failed; see their logs", file=sys.stderr)
            return 1
    summary = summarize(out, seeds)
    path = atomic_write_json(Path(f"{out}_summary.json"), summary)
    table = markdown_table(summary)
    Path(f"{out}_summary.md").write_text(table + "\n")
    print(table)
    print(f"sweep: summary of seeds {seeds} -> {path}")
    return 0


HEADLINE_KEYS = ("metrics.test_ami_max", "metrics.test_ami_arithmetic", "metrics.test_count_accuracy",
                 "baselines.kmeans_coords_K3.ami_max", "baselines.ink_thresholds.count_accuracy")


def markdown_table(summary: dict) -> str:
    """The sweep's headline numbers as a Markdown table: mean ± s.e., median, and every seed."""
    seeds = summary["seeds"]
    lines = ["| run | number | mean ± s.e. | median | " + " | ".join(f"seed {s}" for s in seeds) + " |",
             "|---|---|---|---|" + "---|" * len(seeds)]
    for name, stats in summary["summary"].items():
        for key in HEADLINE_KEYS + tuple(k for k in stats if k.startswith("baselines.kmeans_coords_K")
                                         and k.endswith(".ami_max") and k not in HEADLINE_KEYS):
            if key not in stats:
                continue
            st = stats[key]
            se = f" ± {st['se']:.3f}" if st["se"] is not None else ""
            vals = " | ".join(f"{st['values'][str(s)]:.3f}" for s in seeds)
            lines.append(f"| {name} | {key} | {st['mean']:.3f}{se} | {st['median']:.3f} | {vals} |")
    return "\n".join(lines)


def cli(argv: Sequence[str] | None = None) -> int:
    return run_main(main, argv, prog="python -m common.sweep")


if __name__ == "__main__":
    sys.exit(cli())
