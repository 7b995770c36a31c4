"""run.json records: atomic write, schema, NaN handling, weights, clear errors."""

import dataclasses
import json

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


def test_claim_out_dir_refuses_a_non_empty_dir_unless_forced(tmp_path):
    from common.runs import claim_out_dir
    d = tmp_path / "run"
    assert claim_out_dir(d) == d and d.is_dir()          # created
    claim_out_dir(d)                                      # empty: fine
    (d / "run.json").write_text("{}")
    with pytest.raises(RunDirError, match="--force"):
        claim_out_dir(d)
    assert claim_out_dir(d, force=True) == d
    with pytest.raises(RunDirError, match="empty"):
        claim_out_dir("")


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
