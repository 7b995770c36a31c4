"""common.sweep: mean ± s.e. over seeds from the runs' records; a bad sweep is a one-line error."""

import json
import math

import pytest

from common.runs import write_run
from common.sweep import cli, summarize


def _fake_runs(root, values, subdir=None):
    for seed, v in values.items():
        d = root / f"x_seed{seed}"
        if subdir:
            d = d / subdir
        write_run(d, paper="p", seed=seed, config={}, history={}, metrics={"test_ami_max": v, "n": 5},
                  baselines={"kmeans_coords_K3": {"ami_max": 0.8}}, wall_time_s=1.0, command=f"p --seed {seed}",
                  extra={"data": {"mnist": None}})


def test_summary_mean_and_standard_error(tmp_path):
    _fake_runs(tmp_path, {0: 0.90, 1: 0.92, 2: 0.94})
    s = summarize(tmp_path / "x", [0, 1, 2])["summary"]["."]
    assert s["metrics.test_ami_max"]["mean"] == pytest.approx(0.92)
    assert s["metrics.test_ami_max"]["se"] == pytest.approx(0.02 / math.sqrt(3))
    assert s["metrics.test_ami_max"]["median"] == pytest.approx(0.92)
    assert s["metrics.test_ami_max"]["values"] == {"0": 0.90, "1": 0.92, "2": 0.94}
    assert s["baselines.kmeans_coords_K3.ami_max"]["se"] == pytest.approx(0.0)


def test_summary_per_dataset_and_the_cli(tmp_path, capsys):
    _fake_runs(tmp_path, {0: 0.5, 1: 0.7}, subdir="shapes")
    assert cli(["reconstruction_clustering", "--seeds", "0,1", "--out", str(tmp_path / "x"),
                "--summarize-only"]) == 0
    s = json.loads((tmp_path / "x_summary.json").read_text())
    assert s["summary"]["shapes"]["metrics.test_ami_max"]["mean"] == pytest.approx(0.6)
    assert cli(["reconstruction_clustering", "--seeds", "0,7", "--out", str(tmp_path / "x"),
                "--summarize-only"]) == 2
    assert "seed 7" in capsys.readouterr().err


def test_arguments_after_the_double_dash_go_to_every_run(tmp_path, monkeypatch):
    import common.sweep as sweep
    calls = []
    monkeypatch.setattr(sweep, "_run_one", lambda paper, s, out, extra, log: calls.append((s, extra)) or 1)
    assert sweep.cli(["reconstruction_clustering", "--seeds", "3", "--out", str(tmp_path / "x"), "--",
                      "--dataset", "all", "--train-on", "multi"]) == 1
    assert calls == [(3, ["--dataset", "all", "--train-on", "multi"])]


def test_seed_ranges_and_the_markdown_table(tmp_path):
    from common.sweep import _seed_list
    assert _seed_list("0-4") == [0, 1, 2, 3, 4] and _seed_list("0-2,7") == [0, 1, 2, 7]
    _fake_runs(tmp_path, {0: 0.90, 1: 0.92, 2: 0.94})
    assert cli(["neural_em_shapes", "--seeds", "0-2", "--out", str(tmp_path / "x"), "--summarize-only"]) == 0
    md = (tmp_path / "x_summary.md").read_text()
    assert "| . | metrics.test_ami_max | 0.920 ± 0.012 | 0.920 | 0.900 | 0.920 | 0.940 |" in md


def test_an_interrupted_seed_is_resumed_and_a_real_sweep_runs(tmp_path):
    # A real (quick) sweep of two seeds on two jobs; seed 1 starts as if a previous sweep had been
    # killed mid-run (its partial folder is there): the sweep resumes it with --resume.
    import subprocess
    import sys
    from pathlib import Path
    root = Path(__file__).resolve().parents[1]
    out = tmp_path / "nem"
    (tmp_path / ".nem_seed1.partial").mkdir()
    r = subprocess.run([sys.executable, "-m", "common.sweep", "neural_em_shapes", "--seeds", "0-1", "--jobs", "2",
                        "--out", str(out), "--", "--quick", "--no-figures"], cwd=root, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    rec = json.loads((tmp_path / "nem_seed1" / "run.json").read_text())
    assert rec["command"].endswith("--resume") and rec["seed"] == 1
    assert json.loads((tmp_path / "nem_summary.json").read_text())["seeds"] == [0, 1]


def test_a_dask_sweep_survives_a_killed_worker(tmp_path):
    # Two single-threaded Dask workers run two quick seeds; the worker running seed s is killed
    # (SIGKILL) after its first checkpoint. Its run gets SIGTERM, keeps the checkpoint, the task is
    # retried on a worker and the run continues with --resume; the sweep still succeeds.
    pytest.importorskip("distributed")
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path
    from dask.distributed import Client, LocalCluster
    root = Path(__file__).resolve().parents[1]
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    try:
        client = Client(cluster)
        out = tmp_path / "nem"
        proc = subprocess.Popen([sys.executable, "-m", "common.sweep", "neural_em_shapes", "--seeds", "0-1",
                                 "--scheduler", cluster.scheduler_address, "--out", str(out), "--", "--quick",
                                 "--no-figures", "--updates", "60", "--eval-every", "10"],
                                cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 120
        while not list(tmp_path.glob(".nem_seed*.partial/checkpoint.npz")) and time.time() < deadline:
            time.sleep(0.05)
        victim = int(next(tmp_path.glob(".nem_seed*.partial/checkpoint.npz")).parent.name.split("seed")[1][0])
        worker = next(w for w, keys in client.processing().items() if f"nem-seed{victim}" in keys)
        pid = client.run(os.getpid, workers=[worker])[worker]
        os.kill(pid, signal.SIGKILL)
        assert proc.wait(timeout=300) == 0, proc.stderr.read()[-3000:]
        rec = json.loads((tmp_path / f"nem_seed{victim}" / "run.json").read_text())
        assert rec["command"].endswith("--resume"), rec["command"]
        assert json.loads((tmp_path / "nem_summary.json").read_text())["seeds"] == [0, 1]
        client.close()
    finally:
        cluster.close()


def test_the_rc_search_runs_on_a_dask_cluster(tmp_path):
    """The RC hyperparameter search's DAEs as Dask tasks on a LocalCluster of 2 single-threaded
    workers: the same record as in one process (one BLAS thread there too)."""
    pytest.importorskip("distributed")
    from common.threads import blas_threads
    from reconstruction_clustering.config import DAEConfig
    from reconstruction_clustering.data import make_rc_dataset
    from reconstruction_clustering.search import search
    small = dict(n_single=200, n_multi_train=50, n_valid=20, n_test=10)
    data = make_rc_dataset("bars", 5, **small)
    kw = dict(seed=5, valid_images=10, iterations=2, base=DAEConfig(hidden=8, max_epochs=1, patience=1),
              log=lambda *_: None, data_kwargs=small)
    with blas_threads(1):
        here = search("bars", data, runs=2, **kw)
    there = search("bars", data, runs=2, jobs=2, scheduler="local", record_dir=tmp_path / "runs", **kw)
    strip = lambda rec: [{k: v for k, v in r.items() if k != "train_time_s"} for r in rec["runs"]]
    assert strip(there) == strip(here)
    assert len(list((tmp_path / "runs").glob("run_*.json"))) == 2
