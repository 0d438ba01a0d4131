"""The results record (benchmarks/record.py): every generated table in README.md and docs/,
and the results index, equal what the JSON in benchmarks/results/ gives; a stale or unknown
table is caught."""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import record  # noqa: E402  (benchmarks/record.py)


def test_every_generated_table_is_up_to_date(capsys):
    assert record.main(["--check"]) == 0, capsys.readouterr().out


def test_a_stale_table_is_rewritten_and_an_unknown_one_refused():
    page = "docs/recipe.md"
    fresh = record.render(
        "<!-- record:humanoid-takeoff -->\n<!-- /record:humanoid-takeoff -->\n", page
    )
    assert "| fastbrc | 8 | 64 | 1 |" in fresh  # the 8-env CPU preset's row
    stale = fresh.replace("3 of 7", "7 of 7")
    assert record.render(stale, page) == fresh
    with pytest.raises(SystemExit, match="no table named 'nope'"):
        record.render("<!-- record:nope -->\n<!-- /record:nope -->\n", page)


def test_links_resolve_from_the_page_and_every_result_file_is_indexed():
    from tables.common import RESULTS, link

    assert link("x.json", "docs/results.md") == "[x](../benchmarks/results/x.json)"
    assert link("x.json", "README.md") == "[x](benchmarks/results/x.json)"
    index = (RESULTS / "README.md").read_text()
    for path in RESULTS.iterdir():
        assert path.name == "README.md" or f"[{path.name}]({path.name})" in index, path.name
