"""Packaging and the script-named-like-its-folder trap: every paper script runs from the root
and from inside its folder, imports the package (not itself), and rejects bad input with exit 2."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAPERS = ["neural_em_shapes", "air_multimnist", "reconstruction_clustering", "tagger_shapes"]


def _run(args, cwd):
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_top_level_layout():
    names = {p.name for p in ROOT.iterdir() if not p.name.startswith(".") or p.name == ".ci"}
    expected = {"common", *PAPERS, "tests", "README.md", "pyproject.toml", ".ci"}
    assert expected <= names
    assert (ROOT / ".ci" / "run").is_file()


@pytest.mark.parametrize("paper", PAPERS)
def test_packages_import_from_anywhere(paper, tmp_path):
    out = _run(["-c", f"import common, {paper}, {paper}.cli; print({paper}.__file__)"], tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("__init__.py")


@pytest.mark.parametrize("paper", PAPERS)
@pytest.mark.parametrize("where", ["root", "folder"])
def test_script_runs_from_root_and_from_its_folder(paper, where):
    cwd = ROOT if where == "root" else ROOT / paper
    script = f"{paper}/{paper}.py" if where == "root" else f"{paper}.py"
    out = _run([script, "--help"], cwd)
    assert out.returncode == 0, out.stderr
    assert "--seed" in out.stdout and "--threads" in out.stdout
    bad = _run([script, "--threads", "0"], cwd)
    assert bad.returncode == 2 and "--threads" in bad.stderr and "Traceback" not in bad.stderr


def test_entry_points_and_python_dash_m():
    """[project.scripts] names callables that exist; `python -m <paper> --help` works."""
    import importlib
    import tomllib
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert {"neural-em-shapes", "air-multimnist", "reconstruction-clustering"} <= set(scripts)
    for target in scripts.values():
        mod, fn = target.split(":")
        assert callable(getattr(importlib.import_module(mod), fn))
    for paper in PAPERS:
        out = _run(["-m", paper, "--help"], ROOT)
        assert out.returncode == 0 and "--seed" in out.stdout, out.stderr


@pytest.mark.parametrize("paper", PAPERS)
def test_bench_from_inside_its_folder_is_one_line(paper):
    """`python -m <paper>.bench` from inside the folder cannot import the package: one line, not a
    traceback."""
    out = _run(["-m", f"{paper}.bench", "--help"], ROOT / paper)
    assert "Traceback" not in out.stderr
