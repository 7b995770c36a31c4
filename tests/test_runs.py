"""run.json records: atomic write, schema, NaN handling, weights, clear errors."""

import dataclasses
import json
import sys

import numpy as np
import pytest

from common.runs import (REQUIRED_KEYS, RunDirError, atomic_write_json, environment, load_weights,
                         prepare_out_dir, read_run, write_run)


@dataclasses.dataclass
class Cfg:
    K: int = 3
    lr: float = 1e-3
    sizes: tuple = (1, 2)


def test_write_and_read_back(tmp_path):
    path = write_run(tmp_path / "run", paper="demo", seed=3, config=Cfg(),
                     history={"step": np.arange(3), "loss": [np.float32(1.5), 1.0, float("nan")]},
                     metrics={"test_ami_max": np.float64(0.9)}, baselines={"kmeans": 0.8},
                     wall_time_s=1.25, weights={"W": np.ones((2, 2), np.float32), "enc/b": np.zeros(3)},
                     notes="smoke")
    rec = read_run(tmp_path / "run")
    assert set(REQUIRED_KEYS) <= set(rec)
    assert rec["config"] == {"K": 3, "lr": 1e-3, "sizes": [1, 2]}
    assert rec["history"]["loss"] == [1.5, 1.0, None]          # NaN stored as null
    assert rec["metrics"]["test_ami_max"] == 0.9 and rec["seed"] == 3
    assert rec["environment"]["numpy"] == np.__version__
    w = load_weights(path.parent / rec["weights"])
    assert w["W"].dtype == np.float32 and set(w) == {"W", "enc/b"}
    # Strict JSON: no NaN literals.
    json.loads(path.read_text(), parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))
    # No temp files left behind.
    assert sorted(p.name for p in path.parent.iterdir()) == ["run.json", "weights.npz"]


def test_environment_records_blas_and_git():
    env = environment()
    for k in ("python", "numpy", "platform", "blas", "git_commit", "git_dirty", "cpu_count"):
        assert k in env
    assert all("threads" in b for b in env["blas"])


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    p = tmp_path / "r.json"
    atomic_write_json(p, {"a": 1})
    with pytest.raises(TypeError, match="cannot store"):
        atomic_write_json(p, {"a": object()})
    assert json.loads(p.read_text()) == {"a": 1}
    assert [x.name for x in tmp_path.iterdir()] == ["r.json"]


def test_read_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no run record"):
        read_run(tmp_path)
    (tmp_path / "run.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        read_run(tmp_path)
    (tmp_path / "run.json").write_text(json.dumps({"schema_version": 1}))
    with pytest.raises(ValueError, match="missing run-record keys"):
        read_run(tmp_path)


def test_unusable_out_dir(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(RunDirError, match="not a directory"):
        prepare_out_dir(f)
    with pytest.raises(RunDirError, match="cannot write"):
        prepare_out_dir(f / "sub")
    assert prepare_out_dir(tmp_path / "a" / "b").is_dir()


def test_run_directory_appears_only_when_complete(tmp_path):
    from common.runs import RunDirectory
    out = tmp_path / "run"
    with RunDirectory(out) as d:
        (d / "a.txt").write_text("1")
        assert not out.exists() and d.parent == out.parent and d.name == ".run.partial"
        assert (tmp_path / ".run.lock").exists()
    assert (out / "a.txt").read_text() == "1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]          # no partial, no lock left


@pytest.mark.parametrize("error", [RuntimeError("a bug"), KeyboardInterrupt(), FloatingPointError("NaN")])
def test_a_failed_run_leaves_the_previous_run_untouched_and_its_partial_for_resume(tmp_path, error):
    from common.runs import RunDirectory
    out = tmp_path / "run"
    with RunDirectory(out) as d:
        (d / "run.json").write_text("seed 0")
    with pytest.raises(type(error)):
        with RunDirectory(out, force=True) as d:
            (d / "run.json").write_text("seed 1")
            (d / "weights.npz").write_text("seed 1 weights")
            raise error
    assert sorted(p.name for p in out.iterdir()) == ["run.json"] and (out / "run.json").read_text() == "seed 0"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".run.partial", "run"]      # kept for --resume
    with RunDirectory(out, force=True, resume=True) as d:
        assert (d / "weights.npz").read_text() == "seed 1 weights"              # resumed where it stopped
        ck = d.parent / ".run.partial" / "checkpoint.npz"
        assert ck == RunDirectory(out).partial / "checkpoint.npz"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    assert (out / "run.json").read_text() == "seed 1"


def test_scratch_files_are_dropped_at_commit_and_resume_needs_a_partial(tmp_path):
    from common.runs import RunDirError, RunDirectory
    out = tmp_path / "run"
    with pytest.raises(RunDirError, match="nothing to resume"):
        with RunDirectory(out, resume=True):
            pass
    rd = RunDirectory(out)
    with rd as d:
        rd.scratch("checkpoint.npz").write_text("state")
        (d / "run.json").write_text("{}")
    assert sorted(p.name for p in out.iterdir()) == ["run.json"]


def test_force_replaces_the_previous_run_only_at_the_end(tmp_path):
    from common.runs import RunDirectory
    out = tmp_path / "run"
    with RunDirectory(out) as d:
        (d / "old.txt").write_text("old")
    with RunDirectory(out, force=True) as d:
        assert (out / "old.txt").exists()                    # still there while the new run works
        (d / "new.txt").write_text("new")
    assert sorted(p.name for p in out.iterdir()) == ["new.txt"]


def test_run_directory_refuses_mistakes_up_front(tmp_path, monkeypatch):
    from common.runs import RunDirError, RunDirectory
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("another run")
    (tmp_path / "file").write_text("")
    monkeypatch.chdir(tmp_path)
    for out, needle in [("", "must not be empty"), ("  ", "must not be empty"), ("full", "not empty"),
                        ("file", "not a directory"), (".", "current directory"), ("..", "current directory"),
                        ("x" * 300, "too long"), ("file/sub", "cannot use")]:
        with pytest.raises(RunDirError, match=needle):
            with RunDirectory(out):
                pass
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "full"]


def test_a_second_live_run_into_the_same_out_is_refused_and_a_dead_ones_lock_taken_over(tmp_path):
    import subprocess
    from common.runs import RunDirError, RunDirectory
    out = tmp_path / "run"
    lock = tmp_path / ".run.lock"
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        lock.write_text(str(live.pid))
        with pytest.raises(RunDirError, match=f"another run \\(pid {live.pid}\\)"):
            with RunDirectory(out):
                pass
    finally:
        live.kill()
        live.wait()
    (tmp_path / ".run.partial").mkdir()                      # what a killed run leaves behind
    (tmp_path / ".run.partial" / "stale").write_text("")
    with RunDirectory(out) as d:                             # its lock is stale now; no --resume: afresh
        (d / "ok").write_text("")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"] and sorted(p.name for p in out.iterdir()) == ["ok"]


def test_load_trained_run_checks_paper_weights_and_values(tmp_path):
    from common.runs import RunLoadError, load_trained_run
    d = tmp_path / "r"
    write_run(d, paper="p", seed=0, config={}, history={}, metrics={}, baselines={}, wall_time_s=0.0,
              weights={"enc.W": np.ones((2, 2))}, extra={"data": {"mnist": None}})
    rec, params, where = load_trained_run(d, "p", required=["enc.W"])
    assert params["enc.W"].dtype == np.float32 and where == d and rec["paper"] == "p"
    with pytest.raises(RunLoadError, match="not of 'q'"):
        load_trained_run(d, "q")
    with pytest.raises(RunLoadError, match="lack"):
        load_trained_run(d, "p", required=["dec.W"])
    with pytest.raises(FileNotFoundError):
        load_trained_run(tmp_path / "nope", "p")
    np.savez(d / "weights.npz", **{"enc.W": np.full((2, 2), np.nan)})
    with pytest.raises(RunLoadError, match="NaN"):
        load_trained_run(d, "p")
    (d / "weights.npz").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(RunLoadError, match="cannot read"):
        load_trained_run(d, "p")


def test_a_killed_cli_run_never_damages_the_previous_run(tmp_path):
    # SIGKILL (no cleanup at all) in the middle of a --force rerun of the RNN-EM quick run: the
    # previous complete run is untouched, and the next run cleans what the killed one left.
    import signal
    import subprocess
    import time
    from pathlib import Path
    root = Path(__file__).resolve().parents[1]
    out = tmp_path / "run"
    cmd = [sys.executable, str(root / "neural_em_shapes" / "neural_em_shapes.py"), "--quick", "--no-figures",
           "--threads", "1", "--out", str(out)]
    assert subprocess.run(cmd, capture_output=True).returncode == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    proc = subprocess.Popen([*cmd, "--force", "--seed", "1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while not (tmp_path / ".run.partial").exists() and time.time() < deadline:
        time.sleep(0.05)
    assert (tmp_path / ".run.partial").exists(), "the run never started writing"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert json.loads((out / "run.json").read_text())["seed"] == 0
    assert subprocess.run([*cmd, "--force", "--seed", "1"], capture_output=True).returncode == 0
    assert json.loads((out / "run.json").read_text())["seed"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
