"""One vocabulary (docs/vocabulary.md): every paper's --quick run is recorded with the same words,
and the flags mean the same thing everywhere. An old spelling that now means something else fails
with exit code 2 and a hint."""

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAPERS = ["neural_em_shapes", "air_multimnist", "reconstruction_clustering", "tagger_shapes"]
TOP_LEVEL = {"schema_version", "paper", "command", "seed", "config", "environment", "data", "history",
             "metrics", "baselines", "wall_time_s", "weights", "notes", "created"}
EVERY_METRIC = {"test_images", "valid_images", "selection", "train_time_s"}
GROUPING_METRICS = {"test_ami_max", "test_ami_arithmetic", "test_ami_max_per_iteration"}
FLAGS = {"neural_em_shapes": ["--updates", "--iterations", "--K"],
         "air_multimnist": ["--updates", "--max-objects"],
         "reconstruction_clustering": ["--iterations", "--K"],
         "tagger_shapes": ["--updates", "--iterations", "--K"]}
QUICK_ARGS = {"neural_em_shapes": [], "air_multimnist": [],
              "reconstruction_clustering": ["--dataset", "shapes"], "tagger_shapes": []}
RENAMED = {"neural_em_shapes": ("--steps", "--iterations"), "air_multimnist": ("--steps", "--max-objects")}
OLD_WORDS = {"steps", "test_scenes", "seconds", "dae_best_epoch", "test_ami_max_per_step", "loss_steps"}


@pytest.fixture(scope="module")
def quick_records(tmp_path_factory):
    """run.json of each paper's --quick run (run in-process, figures skipped)."""
    out = {}
    for paper in PAPERS:
        d = tmp_path_factory.mktemp(paper) / "run"
        cli = importlib.import_module(f"{paper}.cli")
        assert cli.cli(["--quick", "--seed", "0", "--threads", "1", "--no-figures", "--out", str(d),
                        *QUICK_ARGS[paper]]) == 0
        found = sorted(d.rglob("run.json"))
        assert found, f"{paper} --quick wrote no run.json"
        out[paper] = json.loads(found[0].read_text())
    return out


def _all_keys(obj, out):
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.add(k)
            _all_keys(v, out)
    elif isinstance(obj, list):
        for v in obj:
            _all_keys(v, out)
    return out


@pytest.mark.parametrize("paper", PAPERS)
def test_record_uses_the_vocabulary(quick_records, paper):
    rec = quick_records[paper]
    assert TOP_LEVEL <= set(rec), f"{paper}: missing top-level keys {TOP_LEVEL - set(rec)}"
    assert rec["paper"] == paper
    assert "mnist" in rec["data"], f"{paper}: data must say which MNIST was used (or null)"
    m = rec["metrics"]
    assert EVERY_METRIC <= set(m), f"{paper}: missing metrics {EVERY_METRIC - set(m)}"
    assert ("best_update" in m) != ("best_epoch" in m), f"{paper}: one of best_update / best_epoch"
    hist = rec["history"]
    assert "elapsed_s" in hist and ("update" in hist or "epoch" in hist), f"{paper}: history {list(hist)}"
    assert len({len(v) for v in hist.values()}) == 1, f"{paper}: history columns differ in length"
    assert not (_all_keys(rec, set()) & OLD_WORDS), f"{paper}: old words {_all_keys(rec, set()) & OLD_WORDS}"


@pytest.mark.parametrize("paper", ["neural_em_shapes", "reconstruction_clustering", "tagger_shapes"])
def test_grouping_papers_share_the_per_iteration_convention(quick_records, paper):
    rec = quick_records[paper]
    m = rec["metrics"]
    assert GROUPING_METRICS <= set(m)
    # the iterations the test metrics were computed with (Tagger evaluates with more than it trains with)
    iterations = rec["config"].get("eval_iterations", rec["config"]["iterations"])
    # index 0 is the initial assignment gamma_0, index t the state after iteration t
    assert len(m["test_ami_max_per_iteration"]) == iterations + 1
    assert m["test_ami_max_per_iteration"][-1] == pytest.approx(m["test_ami_max"])
    for b in rec["baselines"].values():
        assert {"ami_max", "ami_arithmetic"} <= set(b)


def test_config_words(quick_records):
    assert "iterations" in quick_records["neural_em_shapes"]["config"]
    assert "updates" in quick_records["neural_em_shapes"]["config"]
    assert "updates" in quick_records["air_multimnist"]["config"]
    assert "max_objects" in quick_records["air_multimnist"]["config"]
    assert "iterations" in quick_records["reconstruction_clustering"]["config"]


@pytest.mark.parametrize("paper", PAPERS)
def test_flags_mean_the_same_everywhere(paper):
    out = subprocess.run([sys.executable, f"{paper}/{paper}.py", "--help"], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    for flag in ["--seed", "--quick", "--out", "--force", "--threads", *FLAGS[paper]]:
        assert flag in out.stdout, f"{paper} has no {flag}"


@pytest.mark.parametrize("paper", sorted(RENAMED))
def test_old_spelling_fails_with_a_hint(paper):
    old, new = RENAMED[paper]
    out = subprocess.run([sys.executable, f"{paper}/{paper}.py", old, "3", "--quick"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and new in out.stderr and "Traceback" not in out.stderr, out.stderr


def _committed_records():
    """Every committed run.json that is a result (not the earlier code's, kept as evidence)."""
    return sorted(p for paper in PAPERS for p in (ROOT / paper / "results").rglob("run.json")
                  if "previous_code" not in p.parts)


@pytest.mark.parametrize("path", _committed_records(), ids=lambda p: str(p.relative_to(ROOT)))
def test_committed_records_use_the_vocabulary(path):
    rec = json.loads(path.read_text())
    assert TOP_LEVEL <= set(rec), f"missing top-level keys {TOP_LEVEL - set(rec)}"
    assert "mnist" in (rec["data"] or {}), "data must say which MNIST was used (or null)"
    assert EVERY_METRIC <= set(rec["metrics"]), f"missing metrics {EVERY_METRIC - set(rec['metrics'])}"
    assert not (_all_keys(rec, set()) & OLD_WORDS), f"old words {_all_keys(rec, set()) & OLD_WORDS}"
