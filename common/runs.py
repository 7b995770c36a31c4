"""Run records: ``run.json`` (written atomically) plus model weights in an ``.npz`` beside it.

Schema (version 1) of run.json, a JSON object:

    schema_version  int, 1
    paper           str, e.g. "neural_em_shapes"
    command         str, the command line that produced the run
    seed            int
    config          object, the fully resolved configuration (dataclass fields)
    environment     object, see ``environment()``: python, numpy, platform, cpu_count, blas
                    (library, version, threads in use), git_commit, git_dirty
    history         object of lists, e.g. {"step": [...], "train_loss": [...], "valid_ami": [...]}
    metrics         object, test-set results, each name saying what it is (e.g. "test_ami_max")
    baselines       object, non-learned baselines on the same test data
    wall_time_s     float, seconds from start of the run to writing the record
    weights         str or null, file name of the .npz beside run.json
    notes           str, free text (e.g. "--quick: numbers are a smoke test, not results")
    created         str, ISO-8601 UTC time stamp

NaN and infinities (not valid JSON) are written as null.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

__all__ = ["SCHEMA_VERSION", "REQUIRED_KEYS", "RunDirError", "prepare_out_dir", "environment",
           "RunDirectory", "PhaseTimer", "pid_alive", "COMMITTED_WEIGHTS_DTYPE", "rounded_weights", "RunLoadError", "load_trained_run", "check_shapes", "to_jsonable", "atomic_write_json", "write_run", "read_run", "save_weights",
           "load_weights", "RunDataError", "existing_run_dir", "read_paper_run", "load_checked_npz", "history_arrays"]

SCHEMA_VERSION = 1
REQUIRED_KEYS = ("schema_version", "paper", "seed", "config", "environment", "history", "metrics",
                 "baselines", "wall_time_s")


class PhaseTimer:
    """Wall time of each phase of a run, as laps: ``timer.lap("train")`` records the time since the
    previous lap (or since the timer was made) under "train". ``timer.seconds`` is what run.json
    records as ``phases_s`` (phase -> seconds, in the order they ran)."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.seconds[name] = self.seconds.get(name, 0.0) + now - self._last
        self._last = now


class RunDirError(ValueError):
    """The output directory cannot be used (a user mistake: CLIs turn it into exit code 2)."""


def prepare_out_dir(path) -> Path:
    """Create ``path`` if needed and check it is a writable directory; returns it as a Path."""
    p = Path(path).expanduser()
    if p.exists() and not p.is_dir():
        raise RunDirError(f"output path {str(p)!r} exists and is not a directory")
    try:
        p.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=p, prefix=".write-test-"):
            pass
    except OSError as e:
        raise RunDirError(f"cannot write to output directory {str(p)!r}: {e.strerror or e}") from None
    return p


class RunDirectory:
    """A run directory as one transaction: ``with RunDirectory(out, force=...) as d:`` writes every
    artefact into ``d``, a hidden sibling ``.<name>.partial`` of ``out``, and ``out`` appears,
    complete, only when the block ends without an error (a rename). An interrupted or failed run
    (Ctrl-C, SIGTERM, kill, NaN, a bug) leaves ``out`` exactly as it was: a previous run there is
    never damaged, and never mixed with this one's files. With ``force`` a previous run at ``out``
    is replaced, again only at the end. A lock file ``.<name>.lock`` (holding the pid) refuses a
    second live run into the same ``out``; a lock left by a dead process is taken over.

    The partial directory of a failed run is kept: ``resume=True`` continues in it (training
    checkpoints live there, ``scratch``), a run without ``resume`` starts it afresh.

    Refused up front as ``RunDirError`` (a user mistake: exit code 2 in the CLIs): an empty
    ``out``, ``out`` being a file, the current directory or one of its parents, a non-empty
    ``out`` without ``force``, an unwritable parent, a name too long for the file system, and
    ``resume`` with nothing to resume. ``path`` is the final directory.
    """

    def __init__(self, out, *, force: bool = False, resume: bool = False):
        if str(out).strip() == "":
            raise RunDirError("--out must not be empty")
        self.path = Path(out).expanduser()
        self.force, self.resume = force, resume
        self.partial = self.path.parent / f".{self.path.name}.partial"
        self._lock = None
        self._scratch: list[Path] = []

    def _check(self) -> None:
        p = self.path
        anchor = next((q for q in [p.parent, *p.parent.parents] if os.path.isdir(q)), Path("."))
        try:
            name_max = os.pathconf(anchor, "PC_NAME_MAX")
        except (OSError, ValueError):
            name_max = 255
        if len(p.name.encode()) + 24 > name_max:      # room for ".<name>.partial" and ".<name>.replaced-<pid>"
            raise RunDirError(f"--out name is too long ({len(p.name)} characters; this file system "
                              f"allows {name_max - 24} here)")
        try:
            full = p.resolve()
            if full == Path.cwd().resolve() or full in Path.cwd().resolve().parents:
                raise RunDirError(f"--out {str(p)!r} is the current directory or one of its parents; "
                                  "name a folder for the run")
            if p.exists() and not p.is_dir():
                raise RunDirError(f"output path {str(p)!r} exists and is not a directory")
            if p.is_dir() and any(p.iterdir()) and not self.force:
                raise RunDirError(f"output directory {str(p)!r} is not empty (it may hold another run); "
                                  "choose another --out, or pass --force to replace it when this run completes")
            p.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise RunDirError(f"cannot use output directory {str(p)!r}: {e.strerror or e}") from None

    def _acquire(self) -> None:
        lock = self.path.parent / f".{self.path.name}.lock"
        for _ in range(2):
            try:
                fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                try:
                    pid = int(lock.read_text().strip() or 0)
                except (OSError, ValueError):
                    pid = 0
                if pid and pid_alive(pid):
                    raise RunDirError(f"another run (pid {pid}) is writing to {str(self.path)!r}; "
                                      f"wait for it or choose another --out") from None
                lock.unlink(missing_ok=True)           # left by a dead process: take it over
                continue
            except OSError as e:
                raise RunDirError(f"cannot use output directory {str(self.path)!r}: {e.strerror or e}") from None
            with os.fdopen(fd, "w") as f:
                f.write(str(os.getpid()))
            self._lock = lock
            return
        raise RunDirError(f"cannot lock output directory {str(self.path)!r}")

    def __enter__(self) -> Path:
        self._check()
        self._acquire()
        try:
            if self.partial.exists() and not self.resume:
                shutil.rmtree(self.partial)              # an earlier interrupted run: start afresh
            elif self.resume and not self.partial.is_dir():
                raise RunDirError(f"nothing to resume: no interrupted run of --out {str(self.path)!r} "
                                  f"(its partial folder {self.partial.name} is not there)")
            return prepare_out_dir(self.partial)
        except BaseException:
            self._release()
            raise

    def scratch(self, relative) -> Path:
        """A file inside the partial directory that is dropped when the run completes (a training
        checkpoint: kept for --resume while the run is unfinished)."""
        p = self.partial / relative
        self._scratch.append(p)
        return p

    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            if exc_type is None:
                self._commit()
        finally:
            self._release()
        return False

    def _commit(self) -> None:
        for p in self._scratch:
            p.unlink(missing_ok=True)
        old = None
        if self.path.exists():                       # --force: replace the previous run, now
            old = self.path.parent / f".{self.path.name}.replaced-{os.getpid()}"
            os.replace(self.path, old)
        os.replace(self.partial, self.path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.unlink(missing_ok=True)
            self._lock = None


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists (a lock's holder)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=Path(__file__).resolve().parent,
                             capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def environment() -> dict[str, Any]:
    """Where and with what a run was made: interpreter, NumPy, BLAS and its threads, the worker
    threads of common.parallel, git state."""
    from common.parallel import workers
    from common.threads import blas_info
    commit = _git("rev-parse", "HEAD")
    # Dirty means the code differs from the commit: a run rewriting a committed results folder
    # (a rerun of a headline) does not make the code dirty.
    status = _git("status", "--porcelain", "--untracked-files=no", "--", ".",
                  ":(exclude,glob)*/results/**") if commit else None
    try:
        from importlib.metadata import PackageNotFoundError, version
        package = version("binding-numpy")
    except (ImportError, PackageNotFoundError):
        package = None
    return {
        "package": package,
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "blas": [{"library": b.get("internal_api"), "version": b.get("version"),
                  "threads": b.get("num_threads")} for b in blas_info()],
        "worker_threads": workers(),
        "git_commit": commit,
        "git_dirty": bool(status) if status is not None else None,
    }


def to_jsonable(obj: Any) -> Any:
    """Convert dataclasses, NumPy scalars/arrays, Paths and tuples to JSON types; NaN/inf -> None."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        obj = dataclasses.asdict(obj)
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Path):
        return str(obj)
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    raise TypeError(f"cannot store a {type(obj).__name__} in run.json")


def atomic_write_json(path, obj: Any) -> Path:
    """Write JSON to a temp file in the same directory, fsync, then rename over ``path``.

    A reader never sees a half-written file, even if the run is killed mid-write.
    """
    path = Path(path)
    text = json.dumps(to_jsonable(obj), indent=2, allow_nan=False) + "\n"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def write_run(out_dir, *, paper: str, seed: int, config: Any, history: Mapping, metrics: Mapping,
              baselines: Mapping, wall_time_s: float, weights: Mapping[str, np.ndarray] | None = None,
              weights_name: str = "weights.npz", command: str | None = None, notes: str = "",
              extra: Mapping | None = None) -> Path:
    """Write ``out_dir/run.json`` (and ``out_dir/<weights_name>`` if weights are given).

    Returns the path of run.json. ``extra`` adds further top-level keys (must not clash).
    """
    out = prepare_out_dir(out_dir)
    record = {
        "schema_version": SCHEMA_VERSION,
        "paper": paper,
        "command": command if command is not None else " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "seed": int(seed),
        "config": config,
        "environment": environment(),
        "history": history,
        "metrics": metrics,
        "baselines": baselines,
        "wall_time_s": float(wall_time_s),
        "weights": None,
        "notes": notes,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    for k, v in (extra or {}).items():
        if k in record:
            raise ValueError(f"extra key {k!r} clashes with a schema key")
        record[k] = v
    if weights is not None:
        save_weights(out / weights_name, weights)
        record["weights"] = weights_name
    return atomic_write_json(out / "run.json", record)


def read_run(path) -> dict[str, Any]:
    """Read a run.json (or the run.json inside a directory) and check its schema."""
    p = Path(path)
    if p.is_dir():
        p = p / "run.json"
    if not p.exists():
        raise FileNotFoundError(f"no run record at {str(p)!r}")
    try:
        record = json.loads(p.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{str(p)!r} is not valid JSON: {e}") from None
    if not isinstance(record, dict):
        raise ValueError(f"{str(p)!r} does not hold a JSON object")
    missing = [k for k in REQUIRED_KEYS if k not in record]
    if missing:
        raise ValueError(f"{str(p)!r} is missing run-record keys {missing}")
    if record["schema_version"] != SCHEMA_VERSION:
        raise ValueError(f"{str(p)!r} has schema version {record['schema_version']}, "
                         f"this code reads version {SCHEMA_VERSION}")
    return record


def save_weights(path, weights: Mapping[str, np.ndarray]) -> Path:
    """Save name -> array to an .npz atomically (names may contain '/')."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".npz")
    os.close(fd)
    try:
        np.savez(tmp, **{k: np.asarray(v) for k, v in weights.items()})
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def load_weights(path) -> dict[str, np.ndarray]:
    """Load an .npz written by ``save_weights`` into a dict of arrays."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"no weights file at {str(p)!r}")
    with np.load(p, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


class RunLoadError(ValueError):
    """A directory holds no usable trained run of the expected paper (said in one line)."""


def load_trained_run(run_dir, paper: str, *, required: Sequence[str] = ()) -> tuple[dict, dict, Path]:
    """The record and the chosen checkpoint's weights of a trained run, checked.

    run_dir: a run directory (run.json + its weights file). paper: the paper the run must be of.
    required: parameter names the weights must hold.
    Returns (record, params as float32 arrays, run_dir as a Path). Raises FileNotFoundError (no
    directory, run.json or weights file) or RunLoadError (unreadable record or weights, another
    paper's run, missing or non-finite parameters), each with a one-line message.
    """
    d = Path(run_dir).expanduser()
    if not d.is_dir():
        raise FileNotFoundError(f"no run directory at {str(d)!r}")
    try:
        record = read_run(d)
    except ValueError as e:
        raise RunLoadError(str(e)) from None
    if record.get("paper") != paper:
        raise RunLoadError(f"{str(d)!r} holds a run of {record.get('paper')!r}, not of {paper!r}")
    if not record.get("weights"):
        raise FileNotFoundError(f"the run in {str(d)!r} saved no weights")
    try:
        params = load_weights(d / record["weights"])
    except FileNotFoundError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise RunLoadError(f"cannot read the weights of {str(d)!r}: {e}") from None
    missing = sorted(set(required) - set(params))
    if missing:
        raise RunLoadError(f"the weights in {str(d)!r} lack the parameters {missing}")
    bad = sorted(k for k, v in params.items() if not np.all(np.isfinite(v)))
    if bad:
        raise RunLoadError(f"the weights in {str(d)!r} hold NaN or infinite values in {bad}")
    return record, {k: v.astype(np.float32) for k, v in params.items()}, d


def check_shapes(params: Mapping[str, np.ndarray], expected: Mapping[str, tuple], where) -> None:
    """Refuse weights whose names or shapes do not match the model their run.json describes
    (RunLoadError naming each mismatch), instead of a broadcasting error deep in the model."""
    missing = sorted(set(expected) - set(params))
    if missing:
        raise RunLoadError(f"the weights in {str(where)!r} lack the parameters {missing}")
    bad = {k: (tuple(params[k].shape), tuple(s)) for k, s in expected.items() if tuple(params[k].shape) != tuple(s)}
    if bad:
        raise RunLoadError(f"the weights in {str(where)!r} do not fit the model in its run.json "
                           f"(name: (shape, expected)): {bad}")


# Committed weights are stored in half precision (half the bytes of float32). A run rounds its
# chosen checkpoint first and computes every test number with the rounded weights, so a model
# loaded from the committed file reproduces its run.json; the float32 figure is recorded beside.
COMMITTED_WEIGHTS_DTYPE = np.float16


def rounded_weights(params: Mapping[str, np.ndarray], dtype=COMMITTED_WEIGHTS_DTYPE) -> dict[str, np.ndarray]:
    """Every array rounded to ``dtype`` (float16) and back to float32, as a new dict: the weights
    a run saves (``astype(dtype)``) and is scored with."""
    return {k: np.asarray(v).astype(dtype).astype(np.float32) for k, v in params.items()}


# ----------------------------------------------------------------------------- what figure scripts read

class RunDataError(ValueError):
    """A run directory's files are missing keys or have inconsistent shapes (CLIs: exit 2)."""


def existing_run_dir(run_dir, script: str) -> Path:
    """``run_dir`` as a Path, or FileNotFoundError saying which ``script`` writes one."""
    p = Path(run_dir).expanduser()
    if not p.is_dir():
        raise FileNotFoundError(f"no run directory at {str(p)!r} (train first with {script}, "
                                f"or pass the --out directory of a run)")
    return p


def read_paper_run(run_dir: Path, paper: str) -> dict:
    """run.json of a run of ``paper`` with object-valued config, history, metrics and baselines;
    RunDataError otherwise (invalid JSON, another paper's run, a wrong shape)."""
    try:
        rec = read_run(run_dir)
    except ValueError as e:  # invalid JSON or schema; FileNotFoundError passes through
        raise RunDataError(str(e)) from None
    if rec.get("paper") != paper:
        raise RunDataError(f"{str(run_dir)!r} holds a run of {rec.get('paper')!r}, not of {paper!r}")
    for key in ("config", "history", "metrics", "baselines"):
        if not isinstance(rec.get(key), dict):
            raise RunDataError(f"run.json in {str(run_dir)!r}: {key!r} is not an object")
    return rec


def load_checked_npz(path: Path, keys: Mapping[str, int], script: str) -> dict[str, np.ndarray]:
    """Arrays ``keys`` (name -> number of dimensions) from an .npz written by ``script``, with one
    clear error for a missing file, a missing array, a truncated or foreign file, or a wrong ndim."""
    if not path.is_file():
        raise FileNotFoundError(f"no {path.name} in {str(path.parent)!r} (written by {script} "
                                f"at the end of training)")
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in keys if k not in z.files]
            if missing:
                raise RunDataError(f"{str(path)!r} is missing arrays {missing}")
            out = {k: z[k] for k in keys}
    except RunDataError:
        raise
    except Exception as e:  # a truncated or foreign file: zipfile, pickle or OSError
        raise RunDataError(f"cannot read {str(path)!r}: {e}") from None
    for k, nd in keys.items():
        if out[k].ndim != nd:
            raise RunDataError(f"{str(path)!r}: {k!r} should have {nd} dimensions, has shape {out[k].shape}")
    return out


def history_arrays(rec: dict, keys: Sequence[str]) -> dict[str, np.ndarray]:
    """The run's history columns ``keys`` as float arrays (null, i.e. NaN/inf in the run, becomes
    NaN); RunDataError if one is missing or the columns differ in length."""
    h = rec["history"]
    missing = [k for k in keys if k not in h]
    if missing:
        raise RunDataError(f"run.json history is missing {missing}")
    out = {k: np.array([np.nan if v is None else v for v in h[k]], dtype=float) for k in keys}
    if len({len(v) for v in out.values()}) != 1:
        raise RunDataError(f"run.json history lists differ in length: { {k: len(v) for k, v in out.items()} }")
    return out
