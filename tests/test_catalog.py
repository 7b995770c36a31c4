"""The catalog's shape: every paper folder has the same files for the same jobs, imports go one way
(common <- paper folders <- their scripts), no import cycle anywhere, and common holds only code
that two or more papers use."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAPERS = ["neural_em_shapes", "air_multimnist", "reconstruction_clustering", "tagger_shapes"]
SKELETON = ["__init__.py", "__main__.py", "config.py", "data.py", "model.py", "train.py", "evaluate.py",
            "inference.py", "cli.py", "viz.py", "bench.py", "README.md"]
PACKAGES = ["common", *PAPERS]


def _imports(path: Path, package: str) -> set[str]:
    """Modules of this repository that ``path`` imports (absolute or relative), at any depth."""
    tree = ast.parse(path.read_text(), filename=str(path))
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package if node.level == 1 else ""
                mod = f"{base}.{node.module}" if node.module else base
                names = [mod] + [f"{mod}.{a.name}" for a in node.names]
            else:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        for n in names:
            if n.split(".")[0] in PACKAGES:
                out.add(n)
    return out


def _graph() -> dict[str, set[str]]:
    modules = {f"{p}.{f.stem}": f for p in PACKAGES for f in sorted((ROOT / p).glob("*.py"))}
    graph = {}
    for name, f in modules.items():
        deps = set()
        for imp in _imports(f, name.split(".")[0]):
            # "pkg.mod.attr" -> "pkg.mod" when that is a module; "pkg" alone -> its __init__
            while imp and imp not in modules and imp.count("."):
                imp = imp.rsplit(".", 1)[0]
            if imp in modules:
                deps.add(imp)
            elif imp in PACKAGES:
                deps.add(f"{imp}.__init__")
        graph[name] = deps - {name}
    return graph


@pytest.mark.parametrize("paper", PAPERS)
def test_every_paper_folder_has_the_skeleton(paper):
    have = {f.name for f in (ROOT / paper).iterdir()}
    scripts = [f"{paper}.py", f"visualize_{paper}.py", f"make_{paper}_gif.py"]
    missing = [f for f in SKELETON + scripts if f not in have]
    assert not missing, f"{paper}/ lacks {missing}"
    assert (ROOT / paper / "results").is_dir()


def test_imports_go_one_way():
    graph = _graph()
    for mod, deps in graph.items():
        pkg = mod.split(".")[0]
        for d in deps:
            dpkg = d.split(".")[0]
            if pkg == "common":
                assert dpkg == "common", f"common module {mod} imports the paper module {d}"
            else:
                assert dpkg in ("common", pkg), f"{mod} imports another paper's module {d}"


def test_no_import_cycles():
    graph = _graph()
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for d in sorted(graph.get(m, ())):
            if state.get(d) == 1:
                cycle = stack[stack.index(d):] + [d]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if d not in state:
                visit(d)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)


def test_common_holds_only_shared_code():
    """Each common module is used by at least two paper folders, or by common itself (a building
    block of another common module), or is a command-line tool of common's own."""
    graph = _graph()
    users: dict[str, set[str]] = {}
    for mod, deps in graph.items():
        for d in deps:
            if d.startswith("common."):
                users.setdefault(d, set()).add(mod.split(".")[0])
    # common.bench, common.report, common.sweep: tools of their own (`python -m common.bench`); common.gradcheck: used by the
    # gradient-check tests of every paper, not by their code
    tools = {"common.__init__", "common.bench", "common.gradcheck", "common.report", "common.sweep"}
    lonely = {m: sorted(users.get(m, set())) for m in graph if m.startswith("common.") and m not in tools
              and len(users.get(m, set()) - {"common"}) < 2 and "common" not in users.get(m, set())}
    assert not lonely, f"common modules used by fewer than two papers: {lonely}"
