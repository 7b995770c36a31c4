"""Every measured number in a README's results tables equals a committed record.

README tables of measured numbers sit between the lines ``<!-- records -->`` and
``<!-- /records -->``. Every number written with 2 to 4 decimals in those tables must equal, at
that many decimals, a number stored in a committed JSON record (run.json, summary.json, search
records) of that paper's ``results/`` folder (for the top README: of any paper). Columns whose
header starts with "paper" or "thesis" hold the papers' own numbers and are skipped. Each README
must have such a table: a README without one cannot be checked, so it fails."""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAPERS = ["neural_em_shapes", "air_multimnist", "reconstruction_clustering"]
NUMBER = re.compile(r"(?<![\w.])[-−]?\d+\.(\d{2,4})(?![\d])")
SKIP_HEADERS = ("paper", "thesis")


MAX_LIST = 32   # per-iteration series count; per-image lists would match anything (lists of
                # records, such as a search's runs, are walked whatever their length)


def _floats(obj, out: set):
    """The numbers a README may cite: scalars and short lists, never a training history or a
    per-image list (1,000 values would match almost any 3-decimal number)."""
    if isinstance(obj, bool):
        return
    if isinstance(obj, (int, float)):
        out.add(float(obj))
    elif isinstance(obj, dict):
        for k, v in obj.items():
            if k != "history":
                _floats(v, out)
    elif isinstance(obj, list):
        if len(obj) > MAX_LIST and not all(isinstance(v, dict) for v in obj):
            return                                     # a long list of numbers: per image / per step
        for v in obj:
            _floats(v, out)


def _record_numbers(folders) -> set[float]:
    out: set[float] = set()
    for folder in folders:
        for f in sorted((ROOT / folder / "results").rglob("*.json")):
            _floats(json.loads(f.read_text()), out)
    return out


def _cells(readme: Path):
    """(line number, column header, cell text) of every table cell inside the records markers."""
    lines = readme.read_text().splitlines()
    inside, header = False, None
    for i, line in enumerate(lines, 1):
        s = line.strip()
        if s == "<!-- records -->":
            inside, header = True, None
            continue
        if s == "<!-- /records -->":
            inside = False
            continue
        if not inside or not s.startswith("|"):
            header = None if inside and not s.startswith("|") else header
            continue
        cells = [c.strip() for c in s.strip("|").split("|")]
        if header is None:
            header = cells
            continue
        if set("".join(cells)) <= set("-: "):
            continue                                     # the |---|---| rule
        for h, c in zip(header, cells):
            yield i, h, c


def _numbers_in(text: str):
    for m in NUMBER.finditer(text):
        yield float(m.group(0).replace("−", "-")), len(m.group(1))


READMES = [("README.md", PAPERS)] + [(f"{p}/README.md", [p]) for p in PAPERS]


@pytest.mark.parametrize("readme, folders", READMES, ids=[r for r, _ in READMES])
def test_readme_numbers_equal_committed_records(readme, folders):
    records = _record_numbers(folders)
    checked, wrong = 0, []
    for line, header, cell in _cells(ROOT / readme):
        if header.lower().startswith(SKIP_HEADERS):
            continue
        for value, decimals in _numbers_in(cell):
            checked += 1
            if not any(abs(round(r, decimals) - value) < 0.5 * 10 ** -decimals + 1e-12 for r in records):
                wrong.append(f"{readme}:{line} [{header}] {value}")
    assert checked >= 5, f"{readme} has no results table between <!-- records --> markers to check"
    assert not wrong, "README numbers with no committed record:\n" + "\n".join(wrong)


def test_the_checker_catches_a_wrong_number(tmp_path):
    """The same parsing on a README whose number is off by one in the last decimal fails."""
    fake = tmp_path / "README.md"
    fake.write_text("<!-- records -->\n| dataset | ours | paper |\n|---|---|---|\n"
                    "| shapes | 0.914 | 0.826 |\n<!-- /records -->\n")
    cells = [(h, v) for _, h, c in _cells(fake) for v, _ in _numbers_in(c)]
    assert cells == [("ours", 0.914), ("paper", 0.826)]
    records = {0.9127}
    assert not any(abs(round(r, 3) - 0.914) < 0.0005 for r in records)
