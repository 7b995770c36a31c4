"""Why the CLIs default to one BLAS thread: ``python -m common.bench``.

Prints the time of a (64x2500)x(2500x256) float32 matmul (the size of an AIR / N-EM layer on a
batch) with 1 and with 2 BLAS threads, and the single-thread float32 GEMM GFLOP/s that the paper
benchmarks use as their roofline.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from common.parallel import set_workers
from common.threads import blas_info, blas_threads, keep_freed_memory, set_blas_threads

__all__ = ["time_matmul", "gemm_gflops", "time_grouping_score", "median_seconds", "roofline_report",
           "Workload", "bench_main", "headline_estimate", "run_comparison", "format_table", "machine"]


def time_matmul(m: int, k: int, n: int, *, threads: int = 1, repeats: int = 20,
                dtype=np.float32, seed: int = 0) -> float:
    """Median wall time (s) of an (m x k) @ (k x n) matmul with ``threads`` BLAS threads."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((k, n)).astype(dtype)
    times = []
    with blas_threads(threads):
        a @ b  # warm-up: first call pays thread start-up and page faults
        for _ in range(repeats):
            t0 = time.perf_counter()
            a @ b
            times.append(time.perf_counter() - t0)
    return float(np.median(times))


def gemm_gflops(n: int = 1024, *, threads: int = 1, repeats: int = 5) -> float:
    """Achieved float32 GFLOP/s of an n x n x n GEMM (2 n^3 flops) with ``threads`` threads."""
    return 2.0 * n ** 3 / time_matmul(n, n, n, threads=threads, repeats=repeats) / 1e9


def median_seconds(step: Callable[[int], object], repeats: int, warmup: int = 2) -> float:
    """Median wall time of step(i) over ``repeats`` calls, after ``warmup`` untimed calls (the
    first updates pay for page faults and thread start-up)."""
    times = []
    for i in range(repeats + warmup):
        t0 = time.perf_counter()
        step(i)
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return float(np.median(times))


def roofline_report(flops_per_update: float, seconds: float) -> str:
    """Achieved matmul GFLOP/s of a training update as a fraction of the single-thread float32
    GEMM measured now, plus the process's peak resident memory, as printable lines."""
    gemm = gemm_gflops(1024, threads=1)
    achieved = flops_per_update / seconds / 1e9
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return (f"achieved {achieved:.1f} GFLOP/s of matmul work ({flops_per_update / 1e9:.2f} GFLOP/update); "
            f"single-thread float32 GEMM {gemm:.1f} GFLOP/s -> {achieved / gemm:.0%} of roofline\n"
            f"peak resident memory {peak_mb:.0f} MB")


def time_grouping_score(n_images: int = 1000, n_pixels: int = 150, seed: int = 0) -> float:
    """Wall time (s) of ``grouping_score`` on n_images random 3-object labelings vs 4 slots."""
    from common.metrics import grouping_score
    rng = np.random.default_rng(seed)
    true = rng.integers(1, 4, size=(n_images, n_pixels))
    pred = np.where(rng.random((n_images, n_pixels)) < 0.8, true, rng.integers(0, 4, (n_images, n_pixels)))
    t0 = time.perf_counter()
    grouping_score(true, pred)
    return time.perf_counter() - t0


# ----------------------------------------------------------------------------- side by side with a torch twin

@dataclass(frozen=True)
class Workload:
    """One paper's benchmark, as its bench.py declares it.

    phases: name -> one-line description, in the order they are printed.
    numpy_steps(args) / torch_steps(args): phase name -> a no-argument callable doing one unit of
        the phase (one training update including the optimiser, one evaluation pass, ...). Each is
        built inside a worker process; the torch one may import the paper's twin_torch (and torch).
    update_flops(args): matmul FLOPs of one "update" (for the roofline share), or None.
    add_arguments(parser): the paper's own options (preset, dataset), passed on to the workers.
    headline(args, ms): optional lines estimating the headline run from the measured phases.
    """
    module: str
    description: str
    phases: dict
    numpy_steps: Callable
    torch_steps: Callable
    update_flops: Callable
    add_arguments: Callable
    headline: Callable | None = None


def headline_estimate(rows, *, updates: int, passes: int, data_per_update: float = 1.0) -> list[str]:
    """Lines estimating a headline run's training from measured phases ``rows`` ((phase, threads)
    -> row): updates x (update + data_per_update x data) + passes x evaluation pass."""
    out = []
    for n in sorted({t for _, t in rows}):
        if ("update", n) not in rows:
            continue
        upd = rows[("update", n)]["numpy_ms"] + data_per_update * rows[("data", n)]["numpy_ms"]
        ev = rows[("eval", n)]["numpy_ms"]
        out.append(f"headline training at {n} thread(s), estimated: {updates} updates x {upd:.1f} ms + "
                   f"{passes} validation passes x {ev:.0f} ms = {(updates * upd + passes * ev) / 6e4:.1f} min")
    return out


def _worker(work: Workload, args) -> dict:
    """Time every phase in this process (one implementation, one thread count)."""
    threads = args.threads[0]
    if args.worker == "torch":
        import torch
        torch.set_num_threads(threads)
        steps = work.torch_steps(args)
    else:
        steps = work.numpy_steps(args)
    out = {name: [median_seconds(lambda _: fn(), args.repeats, warmup=args.warmup)]
           for name, fn in steps.items()}
    if args.worker == "numpy":
        out["gemm_gflops"] = [gemm_gflops(1024, threads=1)]
    else:                               # the same GEMM through torch (MKL), for context
        out["torch_gemm_gflops"] = [_torch_gemm_gflops(1024)]
    return out


def _torch_gemm_gflops(n: int, repeats: int = 5) -> float:
    import torch
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    a, b = torch.randn(n, n), torch.randn(n, n)
    t = median_seconds(lambda _: a @ b, repeats, warmup=1)
    torch.set_num_threads(threads)
    return 2.0 * n ** 3 / t / 1e9


def _spawn(work: Workload, impl: str, threads: int, argv_rest: list) -> dict:
    cmd = [sys.executable, "-m", work.module, "--worker", impl, "--threads", str(threads), *argv_rest]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        tail = (r.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise RuntimeError(f"{impl} worker failed (exit {r.returncode}): {tail}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def _torch_available() -> bool:
    import importlib.util
    return importlib.util.find_spec("torch") is not None


def run_comparison(work: Workload, args, argv_rest: list) -> dict:
    """Interleaved rounds: in each round, for each thread count, one numpy worker process and (with
    --compare torch) one torch worker process, in alternating order. Each worker reports the median
    of ``--repeats`` timed calls per phase; the result per phase is the median over the rounds.
    Separate processes, so the two libraries' thread pools never compete inside one process."""
    impls = ["numpy"] + (["torch"] if args.compare == "torch" else [])
    raw = {(impl, n): {} for impl in impls for n in args.threads}
    for r in range(args.rounds):
        for n in args.threads:
            for impl in (impls if r % 2 == 0 else impls[::-1]):
                for k, v in _spawn(work, impl, n, argv_rest).items():
                    raw[(impl, n)].setdefault(k, []).extend(v)
            print(f"  round {r + 1}/{args.rounds}, {n} thread(s) done", file=sys.stderr, flush=True)
    rows = []
    for n in args.threads:
        gemm = float(np.median(raw[("numpy", n)]["gemm_gflops"]))
        for phase in work.phases:
            np_ms = 1e3 * float(np.median(raw[("numpy", n)][phase]))
            row = {"phase": phase, "threads": n, "numpy_ms": round(np_ms, 2)}
            if "torch" in impls and phase in raw[("torch", n)]:
                t_ms = 1e3 * float(np.median(raw[("torch", n)][phase]))
                row.update(torch_ms=round(t_ms, 2), speedup=round(t_ms / np_ms, 2))
            flops = work.update_flops(args) if phase == "update" else None
            if flops:
                row["roofline_share"] = round(flops / (np_ms / 1e3) / 1e9 / gemm, 2)
            rows.append(row)
        g = {"phase": "gemm_1024", "threads": n, "numpy_gflops": round(gemm, 1)}
        if "torch" in impls:
            g["torch_gflops"] = round(float(np.median(raw[("torch", n)]["torch_gemm_gflops"])), 1)
        rows.append(g)
    return {"rows": rows, "rounds": args.rounds, "repeats": args.repeats, "machine": machine()}


def machine() -> dict:
    """What the figures were measured on."""
    import platform
    libs = blas_info()
    cpu = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "numpy": np.__version__,
            "blas": ", ".join(f"{d.get('internal_api')} {d.get('version')} ({d.get('architecture', '?')})"
                              for d in libs)}
    if _torch_available():
        import importlib.metadata
        info["torch"] = importlib.metadata.version("torch")
    return info


def format_table(result: dict, work: Workload) -> str:
    """The markdown table the README carries."""
    has_torch = any("torch_ms" in r for r in result["rows"])
    head = "| phase | threads | numpy ms |" + (" torch ms | numpy speed-up |" if has_torch else "") + " GEMM share |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in result["rows"]:
        if r["phase"] == "gemm_1024":
            continue
        cells = [work.phases[r["phase"]], str(r["threads"]), f"{r['numpy_ms']:.1f}"]
        if has_torch:
            cells += [f"{r['torch_ms']:.1f}" if "torch_ms" in r else "", f"{r['speedup']:.2f}x" if "speedup" in r else ""]
        cells.append(f"{r['roofline_share']:.0%}" if "roofline_share" in r else "")
        lines.append("| " + " | ".join(cells) + " |")
    g = next(r for r in result["rows"] if r["phase"] == "gemm_1024")
    gemm = f"NumPy's OpenBLAS {g['numpy_gflops']:.0f} GFLOP/s" + (
        f", torch's {g['torch_gflops']:.0f} GFLOP/s" if "torch_gflops" in g else "")
    m = result["machine"]
    lines.append("")
    lines.append(f"Medians over {result['rounds']} interleaved rounds x {result['repeats']} calls; speed-up = torch ms / "
                 f"numpy ms. GEMM share: matmul FLOPs of an update per second as a fraction of the single-thread "
                 f"float32 1024^3 GEMM measured in the same run ({gemm}). Machine: {m['cpu']}, {m['cores']} cores, "
                 f"numpy {m['numpy']} ({m['blas']})" + (f", torch {m['torch']}" if "torch" in m else "") + ".")
    return "\n".join(lines)


def bench_main(work: Workload, argv=None) -> int:
    """The command line every paper's bench.py runs (see the module docstring of each)."""
    from common.cli import nonempty_positive_int_list, positive_int
    p = argparse.ArgumentParser(prog=f"python3 -m {work.module}", description=work.description,
                                allow_abbrev=False, formatter_class=argparse.RawDescriptionHelpFormatter)
    work.add_arguments(p)
    p.add_argument("--compare", choices=["torch"], help="also time the PyTorch twin (needs the [compare] extra)")
    p.add_argument("--threads", type=nonempty_positive_int_list, default=(1, 2),
                   help="BLAS / torch thread counts to measure, e.g. 1,2 (default)")
    p.add_argument("--rounds", type=positive_int, default=5, help="interleaved rounds (median over rounds)")
    p.add_argument("--repeats", type=positive_int, default=5, help="timed calls per phase per round")
    p.add_argument("--warmup", type=positive_int, default=2, help="untimed calls before timing")
    p.add_argument("--json", metavar="PATH", help="also write the figures as JSON (e.g. results/bench.json)")
    p.add_argument("--worker", choices=["numpy", "torch"], help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        if len(args.threads) != 1:
            p.error("a worker takes one --threads value")
        set_blas_threads(args.threads[0])       # in the torch worker too: its numpy data preparation
        set_workers(args.threads[0])
        keep_freed_memory()                     # as every CLI does (common.cli.setup_threads)
        print(json.dumps(_worker(work, args)))
        return 0
    if args.compare == "torch" and not _torch_available():
        p.error("--compare torch needs PyTorch: pip install -e '.[compare]' (a CPU build of torch)")
    result = run_comparison(work, args, _passthrough(p, args))
    result["command"] = "python3 -m " + work.module + " " + " ".join(sys.argv[1:] if argv is None else argv)
    print(format_table(result, work))
    if work.headline:
        result["headline"] = work.headline(args, {(r["phase"], r["threads"]): r for r in result["rows"]})
        for line in result["headline"]:
            print(line)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    return 0


def _passthrough(parser, args) -> list:
    """The paper's own options and the timing options, as argv for the workers."""
    out = ["--repeats", str(args.repeats), "--warmup", str(args.warmup)]
    own = {a.dest: a for a in parser._actions if a.option_strings}
    skip = {"compare", "threads", "rounds", "repeats", "warmup", "json", "worker", "help"}
    for dest, action in own.items():
        if dest in skip:
            continue
        v = getattr(args, dest)
        if v is None or v is False:
            continue
        if v is True:
            out.append(action.option_strings[0])
        else:
            out += [action.option_strings[0], str(v)]
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m common.bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=20, help="timed repetitions (median reported)")
    args = p.parse_args(argv)
    if args.repeats < 1:
        p.error("--repeats must be >= 1")
    libs = blas_info()
    for lib in libs:
        print(f"BLAS: {lib.get('internal_api')} {lib.get('version')} "
              f"({lib.get('threading_layer', '?')} threading, default {lib.get('num_threads')} threads)")
    if not libs:
        print("BLAS: threadpoolctl found no BLAS library; thread limits have no effect")
    t1 = time_matmul(64, 2500, 256, threads=1, repeats=args.repeats)
    t2 = time_matmul(64, 2500, 256, threads=2, repeats=args.repeats)
    print(f"(64x2500)x(2500x256) float32 matmul: 1 thread {t1 * 1e3:8.3f} ms | "
          f"2 threads {t2 * 1e3:8.3f} ms | 2 threads / 1 thread = {t2 / t1:.1f}x")
    g1 = gemm_gflops(1024, threads=1)
    print(f"1024^3 float32 GEMM, 1 thread: {g1:.1f} GFLOP/s (roofline for the paper benchmarks)")
    t_ami = time_grouping_score(1000, 150)
    print(f"grouping score (AMI, max), 1000 images x 150 labelled pixels, 4 slots: {t_ami:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
