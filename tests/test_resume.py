"""Kill a training run mid-way (SIGKILL: no cleanup at all), resume it with --resume, and get
exactly the run.json numbers of an uninterrupted run; a non-finite loss stops training with a
valid record of the best checkpoint, one line and exit code 1."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
TIMING = {"elapsed_s", "train_time_s", "wall_time_s", "ms_per_update", "created", "environment", "command", "phases_s"}


def _numbers(obj):
    """A record without its timings, command and environment."""
    if isinstance(obj, dict):
        return {k: _numbers(v) for k, v in obj.items() if k not in TIMING}
    if isinstance(obj, list):
        return [_numbers(v) for v in obj]
    return obj


def _kill_after_checkpoint(cmd, partial: Path, cwd, wait_for="checkpoint.npz", then=0.3):
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not list(partial.glob(wait_for)) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before it could be killed"
    time.sleep(then)                    # somewhere after the first checkpoint
    proc.send_signal(signal.SIGKILL)
    proc.wait()


@pytest.mark.parametrize("paper, extra", [
    ("neural_em_shapes", ["--updates", "40", "--eval-every", "10"]),
    ("neural_em_shapes", ["--preset", "flying3", "--updates", "40", "--eval-every", "10"]),    # sequences
    ("air_multimnist", ["--updates", "90", "--eval-every", "10"]),     # crosses a scene-chunk boundary (64)
    ("tagger_shapes", ["--updates", "40", "--eval-every", "10"]),
])
def test_kill_then_resume_gives_the_uninterrupted_numbers(tmp_path, paper, extra):
    script = ROOT / paper / f"{paper}.py"
    base = [sys.executable, str(script), "--quick", "--no-figures", "--threads", "1", "--seed", "3", *extra]
    assert subprocess.run([*base, "--out", "whole"], cwd=tmp_path, capture_output=True).returncode == 0
    _kill_after_checkpoint([*base, "--out", "cut"], tmp_path / ".cut.partial", tmp_path)
    assert not (tmp_path / "cut").exists()
    r = subprocess.run([*base, "--out", "cut", "--resume"], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    whole = json.loads((tmp_path / "whole" / "run.json").read_text())
    cut = json.loads((tmp_path / "cut" / "run.json").read_text())
    assert _numbers(cut) == _numbers(whole)
    for f in ("weights.npz",):
        a, b = np.load(tmp_path / "whole" / f), np.load(tmp_path / "cut" / f)
        assert all(np.array_equal(a[k], b[k]) for k in a.files)
    assert not (tmp_path / "cut" / "checkpoint.npz").exists()           # scratch, dropped at the end


def test_rc_kill_then_resume_redoes_neither_finished_datasets_nor_finished_epochs(tmp_path):
    # --dataset all: killed while a later dataset's DAE trains (one dataset already finished).
    script = ROOT / "reconstruction_clustering" / "reconstruction_clustering.py"
    base = [sys.executable, str(script), "--quick", "--dataset", "all", "--no-figures", "--threads", "1",
            "--seed", "2", "--sweep-K", ""]
    assert subprocess.run([*base, "--out", "whole"], cwd=tmp_path, capture_output=True).returncode == 0
    _kill_after_checkpoint([*base, "--out", "cut"], tmp_path / ".cut.partial", tmp_path,
                           wait_for="*/row.json", then=1.0)
    r = subprocess.run([*base, "--out", "cut", "--resume"], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    whole = json.loads((tmp_path / "whole" / "summary.json").read_text())
    cut = json.loads((tmp_path / "cut" / "summary.json").read_text())
    assert _numbers(cut["rows"]) == _numbers(whole["rows"])
    for d in (tmp_path / "whole").iterdir():
        if (d / "run.json").exists():
            assert _numbers(json.loads((d / "run.json").read_text())) == \
                _numbers(json.loads((tmp_path / "cut" / d.name / "run.json").read_text())), d.name
    assert not list((tmp_path / "cut").rglob("checkpoint.npz")) and not list((tmp_path / "cut").rglob("row.json"))


def test_resume_of_another_configuration_is_refused(tmp_path):
    script = ROOT / "neural_em_shapes" / "neural_em_shapes.py"
    base = [sys.executable, str(script), "--quick", "--no-figures", "--threads", "1", "--updates", "40",
            "--eval-every", "10", "--out", "run"]
    _kill_after_checkpoint(base, tmp_path / ".run.partial", tmp_path)
    r = subprocess.run([*base, "--resume", "--seed", "9"], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 2 and "another run" in r.stderr and "seed" in r.stderr and "Traceback" not in r.stderr
    r = subprocess.run([*base[:-2], "--out", "elsewhere", "--resume"], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 2 and "nothing to resume" in r.stderr


@pytest.mark.parametrize("paper", ["neural_em_shapes", "tagger_shapes"])
def test_a_non_finite_loss_stops_with_the_best_checkpoint_and_exit_1(paper, tmp_path, monkeypatch, capsys):
    import importlib
    tr, cli = importlib.import_module(f"{paper}.train"), importlib.import_module(f"{paper}.cli")
    real = tr.loss_and_grads
    calls = []

    def poisoned(*a, **k):                  # both return (loss, grads, <trace or costs>)
        loss, *rest = real(*a, **k)
        calls.append(1)
        return (float("nan") if len(calls) == 25 else loss), *rest
    monkeypatch.setattr(tr, "loss_and_grads", poisoned)
    code = cli.cli(["--quick", "--no-figures", "--threads", "1", "--updates", "40", "--eval-every", "10",
                    "--out", str(tmp_path / "run")])
    assert code == 1
    err = capsys.readouterr().err
    assert "stopped early" in err and "update 25" in err and "Traceback" not in err
    rec = json.loads((tmp_path / "run" / "run.json").read_text())
    assert "update 25" in rec["metrics"]["stopped_early"] and rec["metrics"]["best_update"] in (10, 20)
    assert rec["history"]["update"] == [10, 20] and "STOPPED EARLY" in rec["notes"]


def test_a_non_finite_rc_dae_loss_stops_with_the_best_epoch_and_exit_1(tmp_path, monkeypatch, capsys):
    import reconstruction_clustering.train as tr
    from reconstruction_clustering import cli
    real = tr.dae_loss_and_grads
    calls = []

    def poisoned(*a, **k):
        loss, grads = real(*a, **k)
        calls.append(1)
        return (float("inf") if len(calls) == 7 else loss), grads
    monkeypatch.setattr(tr, "dae_loss_and_grads", poisoned)
    code = cli.cli(["--quick", "--dataset", "bars", "--no-figures", "--threads", "1", "--out", str(tmp_path / "run")])
    assert code == 1
    err = capsys.readouterr().err
    assert "stopped early" in err and "epoch" in err and "Traceback" not in err
    rec = json.loads((tmp_path / "run" / "bars" / "run.json").read_text())
    epoch = int(rec["metrics"]["stopped_early"].split("epoch ")[1].split()[0])
    assert rec["metrics"]["best_epoch"] < epoch and rec["history"]["epoch"][-1] == epoch
    assert "STOPPED EARLY" in rec["notes"] and np.isfinite(rec["metrics"]["test_ami_max"])
