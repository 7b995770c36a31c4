"""The shared benchmark helpers used by the papers' bench.py scripts."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from common.bench import median_seconds, roofline_report

ROOT = Path(__file__).resolve().parents[1]


def test_median_seconds_skips_warmup_calls():
    calls = []
    t = median_seconds(calls.append, repeats=3, warmup=2)
    assert calls == [0, 1, 2, 3, 4] and t >= 0


def test_roofline_report_names_the_fraction_and_memory():
    text = roofline_report(2e9, 0.1)
    assert "20.0 GFLOP/s" in text and "of roofline" in text and "peak resident memory" in text


def test_compare_torch_runs_both_sides_in_separate_processes(tmp_path):
    # The side-by-side harness end to end on the smallest workload (RC on bars): one round, both
    # implementations, a speed-up per compared phase, and the machine recorded.
    pytest.importorskip("torch")
    out = tmp_path / "bench.json"
    r = subprocess.run([sys.executable, "-m", "reconstruction_clustering.bench", "--dataset", "bars", "--compare",
                        "torch", "--rounds", "1", "--repeats", "1", "--warmup", "1", "--threads", "1", "--json",
                        str(out)], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    res = json.loads(out.read_text())
    update = next(row for row in res["rows"] if row["phase"] == "update")
    assert update["torch_ms"] > 0 and update["speedup"] == pytest.approx(update["torch_ms"] / update["numpy_ms"], abs=0.02)
    assert "torch ms" in r.stdout and "torch" in res["machine"]


def test_bench_refuses_compare_without_torch_in_one_line(tmp_path, monkeypatch):
    import common.bench as cb
    monkeypatch.setattr(cb, "_torch_available", lambda: False)
    from reconstruction_clustering.bench import main
    with pytest.raises(SystemExit) as e:
        main(["--dataset", "bars", "--compare", "torch"])
    assert e.value.code == 2
