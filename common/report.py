"""The READMEs' headline tables, generated from the committed sweep summaries.

    python -m common.report            # rewrite every generated table in the READMEs
    python -m common.report --check    # exit 1 (and name the table) if a README is out of date

A generated table sits in a README between ``<!-- generated: NAME -->`` and ``<!-- /generated -->``
(inside a ``<!-- records -->`` block, so tests/test_readme_records.py also checks its numbers). What
goes into it is declared, not coded, in ``<paper>/report.json``:

    {"tables": {"NAME": {"header": [...], "rows": [[cell, ...], ...]}},
     "headline": [[cell, ...], ...]}          # this paper's rows of the top README's "results" table

A cell is text in which ``{{SUMMARY[/RUN]:KEY|FORMAT}}`` is replaced by a number of the sweep summary
``<paper>/results/SUMMARY_summary.json`` (written by ``python -m common.sweep``): RUN is the
per-dataset run for papers that have several (RC), KEY a flattened metric name such as
``metrics.test_ami_max``. FORMAT (default ``mean_se``):

    mean_se     mean ± standard error over the seeds ("0.911 ± 0.002"; the value alone for one seed)
    mean        the mean                 median   the median
    seeds       every seed's value in seed order ("0.913 / 0.913 / 0.908")
    seedN       seed N's value           n        how many seeds
    atleastX    how many seeds reach X, "k of n" (e.g. a success rate on validation accuracy)

followed by ``:D`` for D decimals (default 3). The papers' own numbers are plain text in the spec.
The spec is data so that common never imports a paper folder (imports go one way).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Sequence

from common.cli import UsageError, run_main
from common.sweep import PAPERS

__all__ = ["render_cell", "render_table", "replace_blocks", "generated_readmes", "main"]

ROOT = Path(__file__).resolve().parents[1]
PLACEHOLDER = re.compile(r"\{\{\s*([\w.-]+)(?:/([\w.-]+))?:([\w.-]+)(?:\|(\w+(?:[.\d]+)?)(?::(\d))?)?\s*\}\}")
BLOCK = re.compile(r"(<!-- generated: ([\w-]+) -->\n)(.*?)(<!-- /generated -->)", re.S)
HEADLINE_HEADER = ["paper, data", "metric (test)", "paper reports", "ours", "best non-learned baseline"]


def _stat(folder: Path, cache: dict, summary: str, run: str | None, key: str) -> dict:
    path = folder / "results" / f"{summary}_summary.json"
    if path not in cache:
        if not path.is_file():
            raise UsageError(f"no sweep summary {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: "
                             f"run python -m common.sweep first")
        cache[path] = json.loads(path.read_text())
    runs = cache[path]["summary"]
    run = run or "."
    if run not in runs or key not in runs[run]:
        raise UsageError(f"{path.name} has no {key!r} for run {run!r}")
    return runs[run][key]


def _fmt(x: float, d: int) -> str:
    return f"{x:.{d}f}"


def render_cell(text: str, folder: Path, cache: dict | None = None) -> str:
    """``text`` with every ``{{SUMMARY[/RUN]:KEY|FORMAT:D}}`` replaced (see the module docstring)."""
    cache = {} if cache is None else cache

    def one(m: re.Match) -> str:
        summary, run, key, form, digits = m.groups()
        st = _stat(folder, cache, summary, run, key)
        form, d = form or "mean_se", int(digits) if digits else 3
        values = [st["values"][s] for s in sorted(st["values"], key=int)]
        if form == "mean_se":
            return _fmt(st["mean"], d) + (f" ± {_fmt(st['se'], d)}" if st["se"] is not None else "")
        if form in ("mean", "median"):
            return _fmt(st[form], d)
        if form == "seeds":
            return " / ".join(_fmt(v, d) for v in values)
        if form == "n":
            return str(len(values))
        if form.startswith("seed") and form[4:].isdigit():
            if form[4:] not in st["values"]:
                raise UsageError(f"{summary}: no seed {form[4:]} in the summary of {key!r}")
            return _fmt(st["values"][form[4:]], d)
        if form.startswith("atleast"):
            threshold = float(form[len("atleast"):])
            return f"{sum(v >= threshold for v in values)} of {len(values)}"
        raise UsageError(f"unknown format {form!r} in {m.group(0)!r}")

    return PLACEHOLDER.sub(one, text)


def render_table(header: Sequence[str], rows: Sequence[Sequence[str]], folder: Path,
                 cache: dict | None = None) -> str:
    """A Markdown table (ending in a newline) with every cell rendered from ``folder``'s summaries."""
    cache = {} if cache is None else cache
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        if len(row) != len(header):
            raise UsageError(f"a row of {len(row)} cells under a header of {len(header)}: {row[0]!r}")
        lines.append("| " + " | ".join(render_cell(c, folder, cache) for c in row) + " |")
    return "\n".join(lines) + "\n"


def replace_blocks(text: str, tables: dict[str, str], where: str) -> str:
    """``text`` with the body of every ``<!-- generated: NAME -->`` block replaced by tables[NAME];
    a block without a table, or a table without a block, is an error."""
    seen = set()

    def one(m: re.Match) -> str:
        name = m.group(2)
        if name not in tables:
            raise UsageError(f"{where}: generated block {name!r} has no table in the spec")
        seen.add(name)
        return m.group(1) + tables[name] + m.group(4)

    out = BLOCK.sub(one, text)
    missing = set(tables) - seen
    if missing:
        raise UsageError(f"{where}: no <!-- generated: NAME --> block for {sorted(missing)}")
    return out


def _spec(paper: str, root: Path) -> dict:
    path = root / paper / "report.json"
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise UsageError(f"cannot read {path}: {e}") from None


def generated_readmes(root: Path = ROOT, papers: Sequence[str] = PAPERS) -> dict[Path, str]:
    """Every README with its generated tables rendered from the committed summaries: path -> text."""
    out: dict[Path, str] = {}
    headline_rows: list[str] = []
    for paper in papers:
        folder = root / paper
        spec, cache = _spec(paper, root), {}
        tables = {name: render_table(t["header"], t["rows"], folder, cache) for name, t in spec["tables"].items()}
        readme = folder / "README.md"
        out[readme] = replace_blocks(readme.read_text(), tables, str(readme.relative_to(root)))
        headline_rows += render_table(HEADLINE_HEADER, spec["headline"], folder, cache).splitlines()[2:]
    top = root / "README.md"
    table = "\n".join(render_table(HEADLINE_HEADER, [], root).splitlines() + headline_rows) + "\n"
    out[top] = replace_blocks(top.read_text(), {"headline": table}, "README.md")
    return out


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m common.report", allow_abbrev=False,
                                description="Regenerate the READMEs' headline tables from the sweep summaries.")
    p.add_argument("--check", action="store_true", help="change nothing; exit 1 if a README is out of date")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    stale = []
    for path, text in generated_readmes().items():
        if path.read_text() != text:
            stale.append(str(path.relative_to(ROOT)))
            if not args.check:
                path.write_text(text)
    if args.check and stale:
        print(f"out of date (run python -m common.report): {', '.join(stale)}", file=sys.stderr)
        return 1
    print(("rewrote " + ", ".join(stale)) if stale else "every generated table is up to date")
    return 0


def cli(argv: Sequence[str] | None = None) -> int:
    return run_main(main, argv, prog="python -m common.report")


if __name__ == "__main__":
    sys.exit(cli())
