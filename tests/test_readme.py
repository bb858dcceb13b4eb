"""README's result tables quote the committed tables, cell for cell.

The README cannot include a file, so its result tables are copies of the Markdown tables that
`snakemake -- report` writes under results/<profile>/tables/. A copy drifts when a run lands
and the README is not updated; this test names the row and column that drifted."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

KEYS = ("profile", "dataset", "labels", "method", "seed")  # the columns that name a row


def markdown_tables(text: str) -> list[tuple[int, list[str], list[list[str]]]]:
    """(line number, header, rows) of every pipe table in a Markdown text; cells stripped of
    surrounding whitespace and of bold markers."""
    tables, lines = [], text.splitlines()
    i = 0
    while i < len(lines):
        if lines[i].startswith("|") and i + 1 < len(lines) and re.match(r"^\|\s*:?-", lines[i + 1]):
            start, header = i + 1, _cells(lines[i])
            i += 2
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                rows.append(_cells(lines[i]))
                i += 1
            tables.append((start, header, rows))
        else:
            i += 1
    return tables


def _cells(line: str) -> list[str]:
    return [c.strip().replace("**", "") for c in line.strip().strip("|").split("|")]


def source_tables(repo: Path) -> list[tuple[str, list[str], list[list[str]]]]:
    return [(str(path.relative_to(repo)), header, rows)
            for path in sorted(repo.glob("results/*/tables/*.md"))
            for _, header, rows in markdown_tables(path.read_text())]


def quote_errors(header: list[str], rows: list[list[str]], sources) -> list[str] | None:
    """None when no source table has every column of `header` (not a quoted table); else the
    cells that differ from, or rows that are missing in, the first source table that has them."""
    for name, src_header, src_rows in sources:
        if not set(header) <= set(src_header):
            continue
        keys = [k for k in KEYS if k in header]
        index = {tuple(r[src_header.index(k)] for k in keys): r for r in src_rows}
        errors = []
        for row in rows:
            key = tuple(row[header.index(k)] for k in keys)
            source = index.get(key)
            if source is None:
                errors.append(f"{dict(zip(keys, key))}: no such row in {name}")
                continue
            errors += [f"{dict(zip(keys, key))} {column!r}: README {value!r}, {name} {source[src_header.index(column)]!r}"
                       for column, value in zip(header, row) if value != source[src_header.index(column)]]
        return errors
    return None


def test_quote_errors_name_the_drifted_cell_and_the_missing_row():
    sources = [("t.md", ["dataset", "method", "seed", "FID"], [["mnist", "gan", "0", "1.00"], ["mnist", "gan", "1", "2.00"]])]
    assert quote_errors(["method", "seed", "FID"], [["gan", "0", "1.00"]], sources) == []
    drift = quote_errors(["method", "seed", "FID"], [["gan", "1", "2.50"], ["gan", "2", "3.00"]], sources)
    assert drift == ["{'method': 'gan', 'seed': '1'} 'FID': README '2.50', t.md '2.00'",
                     "{'method': 'gan', 'seed': '2'}: no such row in t.md"]
    assert quote_errors(["method", "IS"], [["gan", "9"]], sources) is None  # not a quote of t.md


def test_readme_result_tables_match_the_committed_tables(repo):
    """Every README table with a `method` column is a result table and must quote one
    committed table; its other tables (pivots by label count, lists of files) are not checked."""
    sources = source_tables(repo)
    result_tables = [(line, header, rows) for line, header, rows in markdown_tables((repo / "README.md").read_text())
                     if "method" in header]
    assert len(result_tables) >= 3, "README lost its result tables"
    problems = []
    for line, header, rows in result_tables:
        errors = quote_errors(header, rows, sources)
        if errors is None:
            problems.append(f"README.md:{line}: columns {header} are not all in any results/*/tables/*.md table")
        else:
            problems += [f"README.md:{line}: {e}" for e in errors]
    if problems:
        pytest.fail("README quotes the committed tables wrongly (copy the rows from the table named, "
                    "after `snakemake -- report`):\n" + "\n".join(problems))
