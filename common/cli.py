"""Pieces every paper CLI shares: argument types that reject bad input, the common flags, and a
wrapper that turns user mistakes into a one-line message and exit code 2 (never a traceback)."""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
import threading
import zipfile
from pathlib import Path
from typing import Callable, Mapping, Sequence

from common.checkpoint import CheckpointMismatch
from common.inference import InputError
from common.mnist import MNISTError
from common.runs import RunDirError
from common.parallel import set_workers
from common.threads import DEFAULT_THREADS, keep_freed_memory, set_blas_threads

__all__ = ["positive_int", "nonneg_int", "positive_float", "probability", "add_common_args",
           "UsageError", "run_main", "setup_threads", "nonneg_float", "finite_float", "check_memory", "resolve_preset", "positive_int_list",
           "nonempty_positive_int_list", "reject_renamed", "typed_command", "redraw_script",
           "redraw_scripts"]


class UsageError(ValueError):
    """A mistake in what the user asked for; reported as 'error: ...' with exit code 2."""


def _number(kind, text: str, name: str):
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {name}") from None


def positive_int(text: str) -> int:
    v = _number(int, text, "an integer")
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {v}")
    return v


def positive_int_list(text: str) -> tuple[int, ...]:
    """Comma-separated integers >= 1, e.g. "2,3,5"; "" gives () (the caller says what empty means)."""
    parts = [t for t in text.split(",") if t.strip()]
    try:
        vals = tuple(int(t) for t in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if any(v < 1 for v in vals):
        raise argparse.ArgumentTypeError(f"every value must be an integer >= 1, got {text!r}")
    return vals


def nonempty_positive_int_list(text: str) -> tuple[int, ...]:
    vals = positive_int_list(text)
    if not vals:
        raise argparse.ArgumentTypeError("expected at least one integer >= 1")
    return vals


def nonneg_int(text: str) -> int:
    v = _number(int, text, "an integer")
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {v}")
    return v


def positive_float(text: str) -> float:
    v = _number(float, text, "a number")
    if not v > 0 or v != v or v == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return v


def nonneg_float(text: str) -> float:
    v = _number(float, text, "a number")
    if not (0.0 <= v < float("inf")):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return v


def finite_float(text: str) -> float:
    v = _number(float, text, "a number")
    if not (-float("inf") < v < float("inf")):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return v


def probability(text: str) -> float:
    v = _number(float, text, "a number")
    if not 0.0 <= v <= 1.0:
        raise argparse.ArgumentTypeError(f"must be a probability in [0, 1], got {text}")
    return v


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (Linux MemAvailable), or None if unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(nbytes: float, what: str) -> None:
    """Refuse, before any work, a run whose arrays would not fit in memory (a one-line UsageError
    naming the size, instead of a MemoryError traceback minutes later)."""
    avail = available_memory()
    if avail is not None and nbytes > avail:
        raise UsageError(f"{what} needs about {nbytes / 2**30:.1f} GiB of memory and this machine has "
                         f"{avail / 2**30:.1f} GiB available; choose smaller sizes")


def add_common_args(parser: argparse.ArgumentParser, *, default_out: str) -> None:
    """--seed, --quick, --out, --force, --threads: the flags every paper CLI has."""
    parser.add_argument("--seed", type=nonneg_int, default=0, help="random seed (default 0)")
    parser.add_argument("--quick", action="store_true",
                        help="tiny smoke-test configuration (seconds; numbers are not results)")
    parser.add_argument("--out", default=default_out,
                        help=f"output directory for run.json, weights and figures (default {default_out})")
    parser.add_argument("--force", action="store_true",
                        help="write into --out even if it already holds files (another run)")
    parser.add_argument("--resume", action="store_true",
                        help="continue an interrupted run of the same command (same --out) from its last checkpoint")
    parser.add_argument("--threads", type=positive_int, default=DEFAULT_THREADS,
                        help=f"BLAS and worker threads (default {DEFAULT_THREADS}; results are bit-identical for the "
                             "same value; the seed sweeps use 1)")


def _terminate(signum, frame):
    raise KeyboardInterrupt


def run_main(main: Callable[[Sequence[str] | None], int], argv: Sequence[str] | None = None,
             prog: str | None = None) -> int:
    """Call ``main(argv)``; user mistakes become 'prog: error: ...' on stderr and exit code 2; a
    diverged training or an exhausted memory one line and exit code 1; never a traceback for those."""
    prog = prog or sys.argv[0]
    if threading.current_thread() is threading.main_thread():
        # A scheduler's or a sweep's SIGTERM unwinds like Ctrl-C, so a run directory in progress
        # is cleaned up (common.runs.RunDirectory) instead of left half-written.
        signal.signal(signal.SIGTERM, _terminate)
    try:
        return int(main(argv) or 0)
    except (UsageError, RunDirError, InputError, FileNotFoundError, CheckpointMismatch) as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2
    except MNISTError as e:                     # the user's MNIST files are corrupt or inconsistent
        print(f"{prog}: error: MNIST: {e}", file=sys.stderr)
        return 2
    except (zipfile.BadZipFile, EOFError) as e:  # a truncated or corrupt .npz given to a script
        print(f"{prog}: error: a saved array file (.npz) is corrupt or truncated: {e}", file=sys.stderr)
        return 2
    except FloatingPointError as e:             # training diverged: not a user mistake, no traceback
        print(f"{prog}: stopped: {e}", file=sys.stderr)
        return 1
    except MemoryError:
        print(f"{prog}: stopped: out of memory; choose smaller sizes", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130


def resolve_preset(preset: str | None, quick: bool, presets: Mapping[str, Mapping], overrides: Mapping,
                   *, sizes: Sequence[str]) -> tuple[str, dict]:
    """The preset name and the overrides a paper CLI passes to its ``make_config``.

    ``--quick`` alone selects the "quick" preset. ``--quick --preset X`` keeps X's method (its
    estimator, loss placement, ...) and only shrinks it: the quick preset's values of the ``sizes``
    fields fill those fields the user left unset (None). Flags the user typed always win.
    """
    name = preset or ("quick" if quick else "default")
    out = dict(overrides)
    if quick and name != "quick":
        for k in sizes:
            if k in presets["quick"] and out.get(k) is None:
                out[k] = presets["quick"][k]
    return name, out


def setup_threads(n: int) -> None:
    """Apply --threads (every CLI calls this before any numerical work): n BLAS threads, and n
    Python threads for chunk-parallel inference (``common.parallel``). More threads than cores
    only slow a run down (measured 18x with 999): capped at the core count, with a note."""
    cores = os.cpu_count() or 1
    if n > cores:
        print(f"note: --threads {n} is more than this machine's {cores} cores; using {cores}", file=sys.stderr)
        n = cores
    set_blas_threads(n)
    set_workers(n)
    keep_freed_memory()


def reject_renamed(parser: argparse.ArgumentParser, renamed: Mapping[str, str]) -> None:
    """Make old flag spellings fail with exit code 2 and a hint instead of being accepted.

    renamed: old flag -> hint, e.g. {"--steps": "--steps was renamed --iterations (EM iterations)"}.
    Build the parser with allow_abbrev=False too, so an old spelling is never prefix-matched to
    another flag.
    """
    for old, hint in renamed.items():
        class _Renamed(argparse.Action):
            def __call__(self, parser, namespace, values, option_string=None, _hint=hint):
                parser.error(_hint)
        parser.add_argument(old, nargs="?", action=_Renamed, help=argparse.SUPPRESS)


def typed_command(package: str, prog: str, argv: Sequence[str] | None) -> str:
    """The command line as the user typed it, for run.json: ``python3 <script> ...``,
    ``python3 -m <package> ...`` or a console script (``neural-em-shapes ...``); for a call from
    Python (``argv`` given), ``prog`` and the arguments."""
    if argv is not None:
        return shlex.join([prog, *argv])
    script = sys.argv[0]
    if Path(script).name == "__main__.py":
        head = ["python3", "-m", package]
    elif script.endswith(".py"):
        head = ["python3", script]
    else:
        head = [Path(script).name]
    return shlex.join([*head, *sys.argv[1:]])


def redraw_script(prog: str, description: str, draw: Callable[[argparse.Namespace], Sequence],
                  *, default_dir: str, add_args: Callable[[argparse.ArgumentParser], None] | None = None,
                  argv: Sequence[str] | None = None) -> int:
    """The whole of a ``visualize_<paper>.py`` / ``make_<paper>_gif.py`` script.

    Parses ``run_dir`` (default ``default_dir``) and the script's own flags (``add_args``), calls
    ``draw(args)`` -> the paths written, prints them. A run directory that is missing, incomplete
    or of another paper is a one-line error with exit code 2, never a traceback.
    """
    def main(args_in):
        parser = argparse.ArgumentParser(prog=prog, description=description, allow_abbrev=False)
        parser.add_argument("run_dir", nargs="?", default=default_dir,
                            help=f"the run directory to draw from (default {default_dir})")
        if add_args is not None:
            add_args(parser)
        args = parser.parse_args(args_in)
        from common.runs import RunLoadError
        try:
            paths = draw(args)
        except (RunLoadError, KeyError, ValueError, OSError) as e:
            if isinstance(e, (UsageError, RunDirError, FileNotFoundError)):
                raise
            raise UsageError(f"{args.run_dir}: not a complete run directory ({e})") from None
        for p in paths:
            print(p)
        return 0
    return run_main(main, argv, prog=prog)


def redraw_scripts(paper: str, make_figures: Callable, make_gif: Callable, *, fps: float, upscale: int,
                   gif_name: str) -> tuple[Callable, Callable]:
    """``(figures_main, gif_main)``: the mains of ``visualize_<paper>.py`` and ``make_<paper>_gif.py``
    for a paper whose figures are ``make_figures(run_dir) -> paths`` and whose GIF is
    ``make_gif(run_dir, fps=, upscale=) -> path``, both drawn from a run directory's saved arrays."""
    default_dir = f"runs/{paper}"

    def figures_main(argv=None) -> int:
        return redraw_script(f"visualize_{paper}.py", f"Write the PNG figures of a {paper} run into its run "
                             "directory, from its saved arrays.", lambda a: make_figures(a.run_dir),
                             default_dir=default_dir, argv=argv)

    def gif_args(p):
        p.add_argument("--fps", type=positive_float, default=fps, help=f"frames per second (default {fps:g})")
        p.add_argument("--upscale", type=positive_int, default=upscale,
                       help=f"pixel magnification (default {upscale})")

    def gif_main(argv=None) -> int:
        return redraw_script(f"make_{paper}_gif.py", f"Write {gif_name} into a {paper} run directory, from "
                             "its saved arrays.", lambda a: [make_gif(a.run_dir, fps=a.fps, upscale=a.upscale)],
                             default_dir=default_dir, add_args=gif_args, argv=argv)
    return figures_main, gif_main
