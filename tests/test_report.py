"""common.report: the READMEs' headline tables are what the committed sweep summaries say."""

import json

import pytest

from common.cli import UsageError
from common.report import generated_readmes, main, render_cell, replace_blocks


def test_every_generated_readme_table_is_up_to_date():
    """The committed READMEs equal what `python -m common.report` renders from the committed
    summaries: a hand-edited number or a re-run sweep without the regeneration fails here."""
    stale = {str(p): "differs" for p, text in generated_readmes().items() if p.read_text() != text}
    assert not stale, f"run python -m common.report: {stale}"
    assert main(["--check"]) == 0


def _fake_paper(root, values):
    paper = root / "paper_x"
    (paper / "results").mkdir(parents=True)
    stats = {"mean": sum(values.values()) / len(values), "se": 0.01, "median": sorted(values.values())[1],
             "values": {str(k): v for k, v in values.items()}}
    (paper / "results" / "main_summary.json").write_text(json.dumps({"summary": {".": {"metrics.ami": stats}}}))
    (paper / "report.json").write_text(json.dumps({
        "tables": {"seeds": {"header": ["model", "AMI"], "rows": [["ours", "**{{main:metrics.ami}}**"]]}},
        "headline": [["x", "AMI", "0.5", "{{main:metrics.ami|seeds}}", ""]]}))
    block = "<!-- records -->\n<!-- generated: {} -->\nold\n<!-- /generated -->\n<!-- /records -->\n"
    (paper / "README.md").write_text("# x\n" + block.format("seeds"))
    (root / "README.md").write_text("# top\n" + block.format("headline"))
    return paper


def test_cells_tables_and_a_changed_summary(tmp_path):
    paper = _fake_paper(tmp_path, {0: 0.90, 1: 0.92, 2: 0.97})
    out = generated_readmes(tmp_path, ["paper_x"])
    assert "| ours | **0.930 ± 0.010** |" in out[paper / "README.md"]
    assert "| x | AMI | 0.5 | 0.900 / 0.920 / 0.970 |  |" in out[tmp_path / "README.md"]
    assert render_cell("{{main:metrics.ami|seed2:2}} {{main:metrics.ami|n}} {{main:metrics.ami|atleast0.91}} "
                       "{{main:metrics.ami|median}}", paper) == "0.97 3 2 of 3 0.920"
    for path, text in out.items():
        path.write_text(text)
    assert generated_readmes(tmp_path, ["paper_x"]) == out             # regenerating changes nothing
    summary = paper / "results" / "main_summary.json"
    summary.write_text(summary.read_text().replace("0.97", "0.98"))     # a seed rerun: the table is stale
    assert generated_readmes(tmp_path, ["paper_x"])[tmp_path / "README.md"] != out[tmp_path / "README.md"]


def test_mistakes_are_one_line_errors(tmp_path):
    paper = _fake_paper(tmp_path, {0: 0.9, 1: 0.9, 2: 0.9})
    with pytest.raises(UsageError, match="no sweep summary"):
        render_cell("{{other:metrics.ami}}", paper)
    with pytest.raises(UsageError, match="has no 'metrics.nope'"):
        render_cell("{{main:metrics.nope}}", paper)
    with pytest.raises(UsageError, match="unknown format"):
        render_cell("{{main:metrics.ami|sum}}", paper)
    with pytest.raises(UsageError, match="has no table"):
        replace_blocks("<!-- generated: a -->\nx\n<!-- /generated -->", {}, "R")
    with pytest.raises(UsageError, match="no <!-- generated"):
        replace_blocks("nothing here", {"a": "| t |\n"}, "R")
