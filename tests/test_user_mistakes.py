"""Every user mistake gets one line on stderr and exit code 2, never a traceback (issue #14's list,
driven through the real command lines). Each case fails before any training, so this is fast."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
NEM = ROOT / "neural_em_shapes" / "neural_em_shapes.py"
AIR = ROOT / "air_multimnist" / "air_multimnist.py"
RC = ROOT / "reconstruction_clustering" / "reconstruction_clustering.py"


def _run(args, cwd, env=None):
    return subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, **(env or {})}, timeout=300)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A quick RC run on bars and a quick AIR run, and damaged copies of them."""
    d = tmp_path_factory.mktemp("mistakes")
    assert _run([RC, "--quick", "--dataset", "bars", "--no-figures", "--threads", "1", "--out", d / "rc"], d).returncode == 0
    assert _run([AIR, "--quick", "--no-figures", "--threads", "1", "--out", d / "air"], d).returncode == 0
    import shutil
    for src, dst in (("rc", "rc_wrong_shape"), ("rc", "rc_truncated_npz"), ("air", "air_truncated_json"),
                     ("air", "air_truncated_npz")):
        shutil.copytree(d / src, d / dst)
    w = dict(np.load(d / "rc" / "bars" / "weights.npz"))
    np.savez(d / "rc_wrong_shape" / "bars" / "weights.npz", **{**w, "W_enc": w["W_enc"][:-3]})
    for f in (d / "rc_truncated_npz" / "bars").glob("*.npz"):
        f.write_bytes(f.read_bytes()[:300])
    (d / "air_truncated_json" / "run.json").write_text((d / "air" / "run.json").read_text()[:100])
    for f in (d / "air_truncated_npz").glob("*.npz"):
        f.write_bytes(f.read_bytes()[:200])
    (d / "a_file").write_text("")
    bad = d / "bad_idx"
    bad.mkdir()
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte"):
        (bad / name).write_bytes(b"garbage")
    return d


CASES = [
    ("nem --clip nan", [NEM, "--quick", "--clip", "nan", "--out", "o"], None, "--clip"),
    ("nem --hidden 100000", [NEM, "--quick", "--hidden", "100000", "--out", "o"], None, "GiB of memory"),
    ("nem --K 40", [NEM, "--quick", "--K", "40", "--out", "o"], None, "K must be"),
    ("nem flying with restarts", [NEM, "--preset", "flying3", "--quick", "--restarts", "4", "--out", "o"], None,
     "restarts must be 1"),
    ("nem conv cell too wide", [NEM, "--preset", "flying3", "--model", "conv-rnn-em", "--channels", "4096", "--out", "o"],
     None, "GiB of memory"),
    ("nem --shapes 0", [NEM, "--preset", "flying3", "--quick", "--shapes", "0", "--out", "o"], None, "--shapes"),
    ("nem --out ''", [NEM, "--quick", "--out", ""], None, "must not be empty"),
    ("nem --out (300 characters)", [NEM, "--quick", "--out", "x" * 300], None, "too long"),
    ("nem --out .", [NEM, "--quick", "--out", "."], None, "current directory"),
    ("nem --out under a file", [NEM, "--quick", "--out", "a_file/run"], None, "cannot use"),
    ("nem viz of another paper's run", [ROOT / "neural_em_shapes" / "visualize_neural_em_shapes.py", "air"], None,
     "air_multimnist"),
    ("air --pres-bias-init nan", [AIR, "--quick", "--pres-bias-init", "nan", "--out", "o"], None, "--pres-bias-init"),
    ("air corrupt MNIST IDX", [AIR, "--quick", "--out", "o"], "bad_idx", "MNIST"),
    ("air viz, truncated run.json", [ROOT / "air_multimnist" / "visualize_air_multimnist.py", "air_truncated_json"],
     None, "not valid JSON"),
    ("air viz, truncated npz", [ROOT / "air_multimnist" / "visualize_air_multimnist.py", "air_truncated_npz"], None,
     "corrupt or truncated"),
    ("air gif, truncated npz", [ROOT / "air_multimnist" / "make_air_multimnist_gif.py", "air_truncated_npz"], None,
     "corrupt or truncated"),
    ("air viz of another paper's run", [ROOT / "air_multimnist" / "visualize_air_multimnist.py", "rc/bars"], None,
     "reconstruction_clustering"),
    ("rc --K 100", [RC, "--quick", "--dataset", "bars", "--K", "100", "--out", "o"], None, "K must be"),
    ("rc --sweep-K beyond the pixels", [RC, "--quick", "--dataset", "simple_superposition", "--sweep-K", "2,100",
                                        "--out", "o"], None, "pixels"),
    ("rc --dae-from wrong-shape weights", [RC, "--quick", "--dataset", "bars", "--dae-from", "rc_wrong_shape",
                                           "--out", "o"], None, "do not fit"),
    ("rc --dae-from truncated weights", [RC, "--quick", "--dataset", "bars", "--dae-from", "rc_truncated_npz",
                                         "--out", "o"], None, "weights"),
    ("rc corrupt MNIST IDX", [RC, "--quick", "--dataset", "multi_mnist", "--out", "o"], "bad_idx", "MNIST"),
    ("rc viz, truncated npz", [ROOT / "reconstruction_clustering" / "visualize_reconstruction_clustering.py",
                               "rc_truncated_npz"], None, "corrupt or truncated"),
    ("mnist download under a file", ["-m", "common.mnist", "download", "a_file/sub"], None, "Not a directory"),
]


@pytest.mark.parametrize("name, args, mnist, needle", CASES, ids=[c[0] for c in CASES])
def test_a_user_mistake_is_one_line_and_exit_2(runs, name, args, mnist, needle):
    env = {"BINDING_MNIST_DIR": str(runs / mnist)} if mnist else {}
    if args[0] == "-m":
        env["PYTHONPATH"] = str(ROOT)
    r = _run(args, runs, env)
    assert r.returncode == 2, (name, r.returncode, r.stderr[-2000:])
    assert "Traceback" not in r.stderr, r.stderr
    lines = [ln for ln in r.stderr.strip().splitlines() if "error" in ln]
    assert lines and needle in lines[-1], r.stderr[-2000:]
    assert not (runs / "o").exists()                       # nothing written


def test_threads_beyond_the_cores_are_capped_with_a_note(monkeypatch, capsys):
    from common import cli, parallel
    monkeypatch.setattr(cli.os, "cpu_count", lambda: 2)
    cli.setup_threads(999)
    assert parallel.workers() == 2 and "more than this machine's 2 cores" in capsys.readouterr().err
    cli.setup_threads(1)


@pytest.mark.parametrize("paper", ["air", "rc"])
def test_inference_refuses_weights_that_do_not_fit_the_recorded_model(runs, tmp_path, paper):
    import shutil
    from common.runs import RunLoadError
    if paper == "air":
        from air_multimnist.inference import load_run
        src, name = runs / "air", "lstm.Wh"
    else:
        from reconstruction_clustering.inference import load_run
        src, name = runs / "rc" / "bars", "W_dec"
    d = tmp_path / "run"
    shutil.copytree(src, d)
    load_run(d)                                                  # intact: loads
    w = dict(np.load(d / "weights.npz"))
    w[name] = w[name][:-2]
    np.savez(d / "weights.npz", **w)
    with pytest.raises(RunLoadError, match="do not fit"):
        load_run(d)
