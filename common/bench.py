"""Why the CLIs default to one BLAS thread: ``python -m common.bench``.

Prints the time of a (64x2500)x(2500x256) float32 matmul (the size of an AIR / N-EM layer on a
batch) with 1 and with 2 BLAS threads, and the single-thread float32 GEMM GFLOP/s that the paper
benchmarks use as their roofline.

``python -m common.bench --layers [--widths 32:64,16:32] [--json PATH]`` instead times the
convolution-era ops of ``common.layers`` (conv2d, nearest upsampling, layer norm, ELU; forward and
backward) at the shapes of the conv RNN-EM cell (thesis Table 5.1) on 1 BLAS thread, against the
single-thread GEMM (and, for the memory-bound ops, a plain copy) measured in the same run.
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
           "Workload", "bench_main", "headline_estimate", "run_comparison", "format_table", "machine",
           "copy_gbs", "LAYER_WIDTHS", "layer_benchmark", "format_layer_table", "cli"]


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



# ----------------------------------------------------------------------------- the conv-era layers alone

LAYER_WIDTHS = ((32, 64), (16, 32))     # (C1, C2): Table 5.1's widths, and the shrunk cell


def copy_gbs(nbytes: int, *, repeats: int = 5) -> float:
    """GB/s (bytes read + written) of copying a preallocated float32 array of ``nbytes`` bytes: the
    roofline of the memory-bound ops (they do little arithmetic per byte)."""
    src = np.ones(max(1, nbytes // 4), np.float32)
    dst = np.empty_like(src)
    return 2.0 * src.nbytes / median_seconds(lambda _: np.copyto(dst, src), repeats, warmup=1) / 1e9


def _conv_parts(x, W, dy, stride, pads, repeats, warmup) -> dict:
    """Median ms of the pieces of one conv's forward and backward, timed one at a time:
    fwd_gemm (cols W), fwd_copy (im2col), bwd_gemm (dW = cols^T dy and the GEMM giving dx),
    bwd_copy (col2im's kh kw strided adds, or the im2col of dy when dx is a convolution of dy)."""
    from common.layers import _pads, col2im, dx_by_convolution, im2col
    kh, kw, C, F = W.shape
    pads = _pads(pads)
    ms = lambda f: 1e3 * median_seconds(lambda _: f(), repeats, warmup)
    out = {"fwd_copy": ms(lambda: im2col(x, kh, kw, stride, pads))}
    cols, xshape, _, _ = im2col(x, kh, kw, stride, pads)
    Wm = W.reshape(kh * kw * C, F)
    d2 = dy.reshape(-1, F)
    out["fwd_gemm"] = ms(lambda: cols @ Wm)
    dw = ms(lambda: cols.T @ d2)
    del cols
    N, Ho, Wo, _ = dy.shape
    back = dx_by_convolution(kh, kw, stride, pads)
    if back is not None:
        # the kernel flipped in space with C and F swapped, over dy padded by kernel - 1 - pad
        Wt = np.ascontiguousarray(W[::-1, ::-1].transpose(0, 1, 3, 2)).reshape(kh * kw * F, C)
        out["bwd_copy"] = ms(lambda: im2col(dy, kh, kw, 1, back))
        dcols = im2col(dy, kh, kw, 1, back)[0]
        out["bwd_gemm"] = dw + ms(lambda: dcols @ Wt)
        out["dx_method"] = "conv of dy"
    else:
        dcols = (d2 @ Wm.T).reshape(N, Ho, Wo, kh, kw, C)
        out["bwd_gemm"] = dw + ms(lambda: d2 @ Wm.T)
        out["bwd_copy"] = ms(lambda: col2im(dcols, xshape, stride))
        out["dx_method"] = "col2im"
    return out


def layer_benchmark(repeats: int = 5, widths=LAYER_WIDTHS, *, n: int = 192, size: int = 28, warmup: int = 1,
                    gemm_n: int = 1024, seed: int = 0) -> list[dict]:
    """Time the convolution-era ops of ``common.layers`` at the shapes of the conv RNN-EM cell
    (thesis Table 5.1), float32, with 1 BLAS thread, forward and backward separately.

    n: slot images (192 = batch 64 x K 3); size: image side S (divisible by 4); widths: (C1, C2)
    pairs. The ops of one width:
        conv enc1   (n, S, S, 1) -> (n, S/2, S/2, C1), 4x4 stride 2 pad 1
        conv enc2   (n, S/2, S/2, C1) -> (n, S/4, S/4, C2), 4x4 stride 2 pad 1
        upsample    (n, S/4, S/4, C2) -> (n, S/2, S/2, C2), nearest x2 (before conv dec1)
        conv dec1   (n, S/2, S/2, C2) -> (n, S/2, S/2, C1), 4x4 stride 1 pad (1, 2, 1, 2) ("SAME")
        upsample    (n, S/2, S/2, C1) -> (n, S, S, C1) (before conv dec2)
        conv dec2   (n, S, S, C1) -> (n, S, S, 1), 4x4 stride 1 pad (1, 2, 1, 2)
        elu, layernorm on (n, S/2, S/2, C1); layer norm over the flattened S/2 S/2 C1 of each row
        conv dec1 / dec2 fused: upsampling + the conv as one op (``upsample_conv2d_*``, what the
            conv cell runs; its of_conv is its time over that of the two ops apart)
    Returns one dict per (width, op, pass) with: ms (median of ``repeats`` calls after ``warmup``);
    for a conv, flops (GEMM work: forward 2 n Ho Wo kh kw C F, backward twice that), gflops and
    of_gemm (share of the single-thread float32 gemm_n^3 GEMM measured in this call), gemm_ms and
    copy_ms (its GEMMs and its im2col / col2im, timed apart; see dx_method); for a memory-bound op,
    bytes (its array arguments read and results written, once each), gbs, of_copy (share of a
    plain float32 copy's GB/s) and of_conv (its time / that of the matching conv's same pass).
    Keys that do not apply are None. ref_gemm_gflops and ref_copy_gbs are the two references.
    The command line (``python -m common.bench --layers``) also keeps freed memory for reuse, as
    every training CLI does (``common.threads.keep_freed_memory``).
    """
    from common.layers import (conv2d_backward, conv2d_forward, elu_backward, elu_forward, layernorm_backward,
                               layernorm_forward, upsample_conv2d_backward, upsample_conv2d_forward,
                               upsample_nearest_backward, upsample_nearest_forward)
    if repeats < 1 or warmup < 0 or n < 1 or size < 4 or size % 4:
        raise ValueError(f"need repeats >= 1, warmup >= 0, n >= 1 and size a positive multiple of 4; got "
                         f"repeats={repeats}, warmup={warmup}, n={n}, size={size}")
    widths = [tuple(int(c) for c in w) for w in widths]
    if not widths or any(len(w) != 2 or min(w) < 1 for w in widths):
        raise ValueError(f"widths must be (C1, C2) pairs of positive integers, got {widths}")
    rng = np.random.default_rng(seed)
    f32 = lambda *shape: rng.standard_normal(shape).astype(np.float32)
    ms = lambda f: 1e3 * median_seconds(lambda _: f(), repeats, warmup)
    S, SAME4 = size, (1, 2, 1, 2)
    rows = []
    with blas_threads(1):
        gemm = gemm_gflops(gemm_n, threads=1)
        copy = copy_gbs(4 * n * S * S * max(c1 for c1, _ in widths))   # the largest activation (n, S, S, C1)
        for c1, c2 in widths:
            width = f"{c1}/{c2}"
            base = dict.fromkeys(("flops", "gflops", "of_gemm", "gemm_ms", "copy_ms", "dx_method", "bytes", "gbs",
                                  "of_copy", "of_conv", "vs_conv"))
            base.update(width=width, ref_gemm_gflops=gemm, ref_copy_gbs=copy)
            conv_ms = {}
            convs = {"enc1": ((n, S, S, 1), c1, 2, 1), "enc2": ((n, S // 2, S // 2, c1), c2, 2, 1),
                     "dec1": ((n, S // 2, S // 2, c2), c1, 1, SAME4), "dec2": ((n, S, S, c1), 1, 1, SAME4)}
            for name, (xshape, F, stride, pad) in convs.items():
                x = f32(*xshape)
                W = 0.1 * f32(4, 4, xshape[-1], F)
                b = np.zeros(F, np.float32)
                y, cache = conv2d_forward(x, W, b, stride, pad)
                dy = f32(*y.shape)
                flops = 2 * y.shape[0] * y.shape[1] * y.shape[2] * W.size
                parts = _conv_parts(x, W, dy, stride, pad, repeats, warmup)
                shape = f"{'x'.join(map(str, xshape[1:]))} -> {'x'.join(map(str, y.shape[1:]))}"
                for pss, f, fl, fn in (("forward", "fwd", flops, lambda: conv2d_forward(x, W, b, stride, pad)),
                                       ("backward", "bwd", 2 * flops, lambda: conv2d_backward(dy, cache))):
                    t = ms(fn)
                    conv_ms[(name, pss)] = t
                    rows.append({**base, "op": f"conv {name}", "pass": pss, "shape": shape, "ms": t, "flops": fl,
                                 "gflops": fl / t / 1e6, "of_gemm": fl / t / 1e6 / gemm, "gemm_ms": parts[f + "_gemm"],
                                 "copy_ms": parts[f + "_copy"], "dx_method": parts["dx_method"] if f == "bwd" else None})
                del cache, parts
            # memory-bound ops: (name, matching conv, forward(), backward(), input shape, output shape,
            # arrays of the output's size read + written forward, backward; the rest are input-sized)
            h, dh = f32(n, S // 2, S // 2, c1), f32(n, S // 2, S // 2, c1)
            ln_cache, elu_cache = layernorm_forward(h.reshape(n, -1))[1], elu_forward(h)[1]
            small, mid = f32(n, S // 4, S // 4, c2), f32(n, S // 2, S // 2, c1)
            up1_dy, up2_dy = f32(n, S // 2, S // 2, c2), f32(n, S, S, c1)
            mem = (("upsample dec1", "dec1", small.shape, up1_dy.shape, lambda: upsample_nearest_forward(small, 2),
                    lambda: upsample_nearest_backward(up1_dy, 2), (small.size + up1_dy.size,) * 2),
                   ("upsample dec2", "dec2", mid.shape, up2_dy.shape, lambda: upsample_nearest_forward(mid, 2),
                    lambda: upsample_nearest_backward(up2_dy, 2), (mid.size + up2_dy.size,) * 2),
                   # layer norm: x -> xhat; (dy, xhat) -> dx.  ELU: a -> h; (dh, a, h) -> dx
                   ("layernorm", "enc1", h.shape, h.shape, lambda: layernorm_forward(h.reshape(n, -1)),
                    lambda: layernorm_backward(dh.reshape(n, -1), ln_cache), (2 * h.size, 3 * h.size)),
                   ("elu", "enc1", h.shape, h.shape, lambda: elu_forward(h), lambda: elu_backward(dh, elu_cache),
                    (2 * h.size, 4 * h.size)))
            for name, vs, ishape, oshape, fwd, bwd, elems in mem:
                shape = f"{'x'.join(map(str, ishape[1:]))} -> {'x'.join(map(str, oshape[1:]))}"
                for pss, fn, e in (("forward", fwd, elems[0]), ("backward", bwd, elems[1])):
                    t = ms(fn)
                    nbytes = 4 * e
                    rows.append({**base, "op": name, "pass": pss, "shape": shape, "ms": t, "bytes": nbytes,
                                 "gbs": nbytes / t / 1e6, "of_copy": nbytes / t / 1e6 / copy,
                                 "of_conv": t / conv_ms[(vs, pss)], "vs_conv": vs})
                    conv_ms[(name, pss)] = t
            # The decoder blocks as the conv cell runs them: upsampling + "SAME" conv as one 3x3 conv on
            # the small input with 4 F outputs (upsample_conv2d); of_conv compares with the two ops apart.
            for name, xshape, F in (("dec1", (n, S // 4, S // 4, c2), c1), ("dec2", (n, S // 2, S // 2, c1), 1)):
                x = f32(*xshape)
                W, b = 0.1 * f32(4, 4, xshape[-1], F), np.zeros(F, np.float32)
                y, cache = upsample_conv2d_forward(x, W, b)
                dy = f32(*y.shape)
                flops = 2 * x.shape[0] * x.shape[1] * x.shape[2] * 9 * xshape[-1] * 4 * F
                shape = f"{'x'.join(map(str, xshape[1:]))} -> {'x'.join(map(str, y.shape[1:]))}"
                up = "upsample " + name
                for pss, fl, fn in (("forward", flops, lambda: upsample_conv2d_forward(x, W, b)),
                                    ("backward", 2 * flops, lambda: upsample_conv2d_backward(dy, cache))):
                    t = ms(fn)
                    rows.append({**base, "op": f"conv {name} fused", "pass": pss, "shape": shape, "ms": t, "flops": fl,
                                 "gflops": fl / t / 1e6, "of_gemm": fl / t / 1e6 / gemm,
                                 "of_conv": t / (conv_ms[(name, pss)] + conv_ms[(up, pss)]),
                                 "vs_conv": f"{up} + conv {name}"})
                del cache
    return rows


def format_layer_table(rows: list[dict], *, n: int | None = None, repeats: int | None = None) -> str:
    """The rows of :func:`layer_benchmark` as a markdown table, with per-width totals and the references."""
    f = lambda v, fmt: "" if v is None else format(v, fmt)
    head = ("| width C1/C2 | op | pass | shape (H x W x C)" + (f", N = {n}" if n else "") + " | ms | GEMM ms | "
            "im2col / col2im ms | GFLOP | GFLOP/s | of GEMM | GB/s | of copy | of conv |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        copy_ms = f(r["copy_ms"], ".1f") + (f" ({r['dx_method']})" if r["dx_method"] else "")
        lines.append("| " + " | ".join([
            r["width"], r["op"], r["pass"], r["shape"], f"{r['ms']:.1f}", f(r["gemm_ms"], ".1f"), copy_ms,
            f(r["flops"] and r["flops"] / 1e9, ".3f"), f(r["gflops"], ".1f"), f(r["of_gemm"], ".0%"),
            f(r["gbs"], ".1f"), f(r["of_copy"], ".0%"),
            "" if r["of_conv"] is None else f"{r['of_conv']:.0%} of {r['vs_conv']}"]) + " |")
    lines.append("")
    for w in dict.fromkeys(r["width"] for r in rows):
        def kind(op):
            return "fused" if op.endswith("fused") else "conv" if op.startswith("conv") else "other"
        tot = {(k, p): sum(r["ms"] for r in rows if r["width"] == w and r["pass"] == p and kind(r["op"]) == k)
               for k in ("conv", "other", "fused") for p in ("forward", "backward")}
        enc = {p: sum(r["ms"] for r in rows if r["width"] == w and r["pass"] == p and r["op"] in ("conv enc1", "conv enc2"))
               for p in ("forward", "backward")}
        lines.append(f"width {w}: convs {tot[('conv', 'forward')]:.1f} ms forward + {tot[('conv', 'backward')]:.1f} ms "
                     f"backward; upsampling, layer norm and ELU {tot[('other', 'forward')]:.1f} + "
                     f"{tot[('other', 'backward')]:.1f} ms"
                     + (f"; as the conv cell runs them (encoder convs + fused decoder blocks) "
                        f"{enc['forward'] + tot[('fused', 'forward')]:.1f} + {enc['backward'] + tot[('fused', 'backward')]:.1f} ms"
                        if tot[("fused", "forward")] else ""))
    r0 = rows[0]
    lines.append(f"References (same run, 1 thread): float32 GEMM {r0['ref_gemm_gflops']:.1f} GFLOP/s; float32 copy "
                 f"{r0['ref_copy_gbs']:.1f} GB/s (read + write). " + (f"Medians of {repeats} call(s) after warm-up. " if repeats else "")
                 + "GEMM ms / im2col-col2im ms: those pieces timed apart (the rest is padding, bias, allocation).")
    return "\n".join(lines)


def _width_pairs(text: str) -> tuple[tuple[int, int], ...]:
    """--widths: comma-separated C1:C2 pairs, e.g. "32:64,16:32"."""
    from common.cli import positive_int
    try:
        pairs = tuple(tuple(positive_int(c) for c in item.split(":")) for item in text.split(",") if item.strip())
    except argparse.ArgumentTypeError as e:
        raise argparse.ArgumentTypeError(f"expected C1:C2 pairs such as 32:64,16:32; {e}") from None
    if not pairs or any(len(p) != 2 for p in pairs):
        raise argparse.ArgumentTypeError(f"expected C1:C2 pairs such as 32:64,16:32, got {text!r}")
    return pairs


def _layers_main(args) -> int:
    from common.cli import UsageError
    out = Path(args.json) if args.json else None
    if out is not None:         # refuse a bad path before minutes of timing, not after
        if out.is_dir():
            raise UsageError(f"--json {out}: is a directory; give a file path such as results/layers.json")
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UsageError(f"--json {out}: cannot create its directory ({e.strerror})") from None
    keep_freed_memory()         # as every training CLI does, so the figures are those of a training run
    repeats = args.repeats or 5
    rows = layer_benchmark(repeats, args.widths or LAYER_WIDTHS)
    print(format_layer_table(rows, n=192, repeats=repeats))
    if out is not None:
        result = {"rows": rows, "repeats": repeats, "images": 192, "machine": machine(),
                  "command": "python -m common.bench " + " ".join(sys.argv[1:] if args.argv is None else args.argv)}
        try:
            out.write_text(json.dumps(result, indent=1) + "\n")
        except OSError as e:
            raise UsageError(f"--json {out}: cannot write ({e.strerror})") from None
    return 0


def main(argv=None) -> int:
    from common.cli import UsageError
    p = argparse.ArgumentParser(prog="python -m common.bench", description=__doc__, allow_abbrev=False,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=None,
                   help="timed repetitions (median reported; default 20, with --layers 5)")
    p.add_argument("--layers", action="store_true",
                   help="time conv2d, upsampling, layer norm and ELU of common.layers at the conv RNN-EM shapes instead")
    p.add_argument("--widths", type=_width_pairs, help="with --layers: C1:C2 widths (default 32:64,16:32)")
    p.add_argument("--json", metavar="PATH", help="with --layers: also write the figures as JSON")
    args = p.parse_args(argv)
    args.argv = argv
    if args.repeats is not None and args.repeats < 1:
        p.error("--repeats must be >= 1")
    if args.layers:
        return _layers_main(args)
    if args.widths or args.json:
        raise UsageError(f"{'--widths' if args.widths else '--json'} goes with --layers")
    args.repeats = args.repeats or 20
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


def cli(argv=None) -> int:
    """``main`` with user mistakes as one line and exit code 2 (``common.cli.run_main``)."""
    from common.cli import run_main
    return run_main(main, argv, prog="python -m common.bench")


if __name__ == "__main__":
    sys.exit(cli())
