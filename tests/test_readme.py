"""The result tables of README.md and docs/*.md quote the committed tables, cell for cell.

Markdown cannot include a file, so the documentation's result tables are copies of the Markdown
tables that `snakemake -- report` writes under results/<profile>/tables/ (and paper targets under
results/<profile>/paper/). A copy drifts when a run lands and the documentation is not updated;
this test names the file, row and column that drifted. Numbers in prose are checked by
tests/test_docs.py."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

KEYS = ("profile", "dataset", "labels", "method", "seed")  # the columns that name a row
NOT_RUN = "–"  # a pivot cell for a setting the source table has no run of


def documentation_files(repo: Path) -> list[Path]:
    """The pages a user reads: README.md and every docs/*.md."""
    return [repo / "README.md", *sorted((repo / "docs").glob("*.md"))]


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
            for path in [*sorted(repo.glob("results/*/tables/*.md")), *sorted(repo.glob("results/*/paper/*.md"))]
            for _, header, rows in markdown_tables(path.read_text())]


def quote_errors(header: list[str], rows: list[list[str]], sources) -> list[str] | None:
    """None when no source table has every column of `header` (not a quoted table); [] when one
    of the source tables that have them is quoted exactly; else, for the first of those, the cells
    that differ from it, the rows missing in it, and its rows left out of a setting
    (dataset × labels) the page quotes: a run that lands must reach the documentation too."""
    candidates = [(name, src_header, src_rows) for name, src_header, src_rows in sources
                  if set(header) <= set(src_header)]
    if not candidates:
        return None
    found = [_quote_errors_against(header, rows, *candidate) for candidate in candidates]
    return [] if [] in found else found[0]


def _quote_errors_against(header, rows, name, src_header, src_rows) -> list[str]:
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
    settings = [k for k in keys if k not in ("method", "seed")]
    quoted = {tuple(row[header.index(k)] for k in keys) for row in rows}
    quoted_settings = {key[:len(settings)] for key in quoted}  # KEYS puts the settings first
    errors += [f"{dict(zip(keys, key))}: in {name}, not in README (which quotes this setting's other rows)"
               for key in index if settings and key[:len(settings)] in quoted_settings and key not in quoted]
    return errors


# README's pivots (a row per label count, a column per method) and the committed table each
# quotes. The first cell of a pivot row matches `row` (its {fields} are that source row's
# columns); a column whose header starts with a method name holds `cell` filled from the source
# row of that method; `where` fixes other columns. `{column:mean}` takes the mean of "m ± s".
PIVOTS = {
    # README's headline tables: one number per cell, every setting of the committed grid
    "test error % (best val)": dict(source="results/cpu/tables/summary.md", row="{dataset}, {labels} labels",
                                    cell="{test error % (best val)}", where={"profile": "cpu"}),
    "domain FID ↓": dict(source="results/cpu/tables/generation_summary.md", row="{dataset}, {labels} labels",
                         cell="{domain FID ↓}", where={}),
    "labels (validation)": dict(source="results/cpu/paper/improved_gan_table1.md",
                                row="{labels} ({validation images})",
                                cell="{test error % (best val)} / {test error % (final EMA)}",
                                where={"dataset": "mnist", "seeds": "3"}),
    "labels": dict(source="results/cpu/tables/generation_summary.md", row="{labels} (seeds 0-2)",
                   cell="{domain FID ↓} ({class-consistency % ↑:mean})", where={"dataset": "mnist", "seeds": "3"}),
}


TEMPLATE_FIELD = re.compile(r"{([^}:]+)(:mean)?}")  # {column} or {column:mean} (the mean of "mean ± std")


def pivot_errors(header: list[str], rows: list[list[str]], pivot: dict, src_header: list[str],
                 src_rows: list[list[str]]) -> list[str]:
    """What makes a README pivot differ from the source it quotes: a cell that differs from
    the cell the pivot's template builds from its source row, a row whose first cell does not
    match the template, a row with no source row (unless its cell is "–", not run) or with several
    (the pivot's `where` is too loose), a source row of a method column that the pivot leaves out, a template naming a
    column the source lacks, and a pivot with no method column (nothing checked)."""
    fields = [m[1] for m in TEMPLATE_FIELD.finditer(pivot["row"])]
    cell_fields = [m[1] for m in TEMPLATE_FIELD.finditer(pivot["cell"])]
    unknown = [f for f in [*fields, *cell_fields, *pivot["where"]] if f not in src_header]
    if unknown:
        return [f"{pivot['source']} has no column {unknown} (its columns: {src_header})"]
    pattern = re.escape(pivot["row"])
    for field in fields:
        pattern = pattern.replace(re.escape("{" + field + "}"), "(.+?)", 1)
    col = {name: i for i, name in enumerate(src_header)}
    methods = {r[col["method"]] for r in src_rows}
    method_columns = [(i, h.split()[0]) for i, h in enumerate(header) if i and h.split() and h.split()[0] in methods]
    if not method_columns:
        return [f"no column of {header} names a method of {pivot['source']}"]

    def fill(template: str, row: list[str]) -> str:
        return TEMPLATE_FIELD.sub(lambda m: row[col[m[1]]].split(" ± ")[0] if m[2] else row[col[m[1]]], template)

    def selected(row: list[str], wanted: dict) -> bool:
        return all(row[col[k]] == v for k, v in wanted.items())

    errors, quoted = [], set()
    for row in rows:
        match = re.fullmatch(pattern, row[0])
        if match is None:
            errors.append(f"row {row[0]!r} does not read as {pivot['row']!r}")
            continue
        quoted.add(match.groups())
        wanted = dict(pivot["where"], **dict(zip(fields, match.groups())))
        for i, method in method_columns:
            source = [r for r in src_rows if selected(r, dict(wanted, method=method))]
            if not source and row[i] == NOT_RUN:
                continue
            if not source:
                errors.append(f"{row[0]!r} {header[i]!r}: no row {dict(wanted, method=method)} in {pivot['source']}")
            elif len(source) > 1:
                errors.append(f"{row[0]!r} {header[i]!r}: {len(source)} rows {dict(wanted, method=method)} in "
                              f"{pivot['source']} (narrow the pivot's `where`)")
            elif row[i] == NOT_RUN or row[i] != fill(pivot["cell"], source[0]):
                errors.append(f"{row[0]!r} {header[i]!r}: README {row[i]!r}, {pivot['source']} {fill(pivot['cell'], source[0])!r}")
    shown = {method for _, method in method_columns}
    for r in src_rows:
        key = tuple(r[col[f]] for f in fields)
        if r[col["method"]] in shown and key not in quoted and selected(r, pivot["where"]):
            errors.append(f"{pivot['source']} has {dict(pivot['where'], **dict(zip(fields, key)), method=r[col['method']])}, "
                          f"README's pivot has no row {fill(pivot['row'], r)!r}")
    return errors


def test_pivot_errors_name_the_drifted_cell_and_skip_other_columns():
    src_header = ["dataset", "labels", "method", "seeds", "FID", "cc"]
    # the svhn row comes first: a check that ignored `where` would read it for 20 labels
    src_rows = [["svhn", "20", "gan", "3", "9.99", "10.0"],
                ["mnist", "20", "gan", "3", "1.50 ± 0.10", "90.0 ± 1.0"], ["mnist", "50", "gan", "3", "1.20 ± 0.20", "95.0 ± 0.5"]]
    pivot = dict(row="{labels} (seeds 0-2)", cell="{FID} ({cc:mean})", where={"dataset": "mnist", "seeds": "3"}, source="s.md")
    header = ["labels", "gan", "published gan"]
    both = [["20 (seeds 0-2)", "1.50 ± 0.10 (90.0)", "anything"], ["50 (seeds 0-2)", "1.20 ± 0.20 (95.0)", "x"]]
    assert pivot_errors(header, both, pivot, src_header, src_rows) == []
    assert pivot_errors(header, [["50 (seeds 0-2)", "1.20 ± 0.20 (90.0)", "x"], ["200 (seeds 0-2)", "1", "x"], ["50 (seeds 0-4)", "1", "x"]],
                        pivot, src_header, src_rows) == [
        "'50 (seeds 0-2)' 'gan': README '1.20 ± 0.20 (90.0)', s.md '1.20 ± 0.20 (95.0)'",
        "'200 (seeds 0-2)' 'gan': no row {'dataset': 'mnist', 'seeds': '3', 'labels': '200', 'method': 'gan'} in s.md",
        "row '50 (seeds 0-4)' does not read as '{labels} (seeds 0-2)'",
        "s.md has {'dataset': 'mnist', 'seeds': '3', 'labels': '20', 'method': 'gan'}, README's pivot has no row '20 (seeds 0-2)'"]
    # "–" stands for a setting the source has no run of, and only for that
    svhn = dict(pivot, where={"dataset": "svhn"}, row="{labels}")
    assert pivot_errors(header, [["20", "–", "x"], ["50", "–", "x"]], svhn, src_header, src_rows) == [
        "'20' 'gan': README '–', s.md '9.99 (10.0)'"]
    assert pivot_errors(["labels", "wgan"], [["20 (seeds 0-2)", "1"]], pivot, src_header, src_rows) == [
        "no column of ['labels', 'wgan'] names a method of s.md"]
    loose = dict(pivot, where={})  # mnist and svhn both match 20 labels
    assert pivot_errors(header, both, loose, src_header, src_rows)[0] == (
        "'20 (seeds 0-2)' 'gan': 2 rows {'labels': '20', 'method': 'gan'} in s.md (narrow the pivot's `where`)")
    assert pivot_errors(header, both, dict(pivot, cell="{IS}"), src_header, src_rows) == [
        f"s.md has no column ['IS'] (its columns: {src_header})"]


def test_pivot_tables_match_the_committed_tables(repo):
    """The pivots of README and docs/ (a row per setting, a column per method) quote the committed
    tables too (PIVOTS says which); each pivot appears once."""
    found = [(path.relative_to(repo), line, header, rows) for path in documentation_files(repo)
             for line, header, rows in markdown_tables(path.read_text()) if header and header[0] in PIVOTS]
    firsts = [header[0] for _, _, header, _ in found]
    assert sorted(firsts) == sorted(PIVOTS), (
        f"the documentation's pivot tables by first column are {firsts}, expected one each of {sorted(PIVOTS)}")
    problems = []
    for name, line, header, rows in found:
        first, pivot = header[0], PIVOTS[header[0]]
        src_tables = markdown_tables((repo / pivot["source"]).read_text())
        assert src_tables, f"{pivot['source']} (the source of the pivot {first!r} in {name}) has no table"
        _, src_header, src_rows = src_tables[0]
        problems += [f"{name}:{line}: {e}" for e in pivot_errors(header, rows, pivot, src_header, src_rows)]
    if problems:
        pytest.fail("pivot tables quote the committed tables wrongly:\n" + "\n".join(problems))


def test_quote_errors_name_the_drifted_cell_and_the_missing_row():
    sources = [("t.md", ["dataset", "method", "seed", "FID"], [["mnist", "gan", "0", "1.00"], ["mnist", "gan", "1", "2.00"]])]
    assert quote_errors(["method", "seed", "FID"], [["gan", "0", "1.00"]], sources) == []
    drift = quote_errors(["method", "seed", "FID"], [["gan", "1", "2.50"], ["gan", "2", "3.00"]], sources)
    assert drift == ["{'method': 'gan', 'seed': '1'} 'FID': README '2.50', t.md '2.00'",
                     "{'method': 'gan', 'seed': '2'}: no such row in t.md"]
    assert quote_errors(["method", "IS"], [["gan", "9"]], sources) is None  # not a quote of t.md
    # a quote of a second table with the same columns (a paper target's subset of seeds) is a quote
    other = ("p.md", ["dataset", "method", "seed", "FID"], [["mnist", "gan", "1", "2.50"]])
    assert quote_errors(["method", "seed", "FID"], [["gan", "1", "2.50"]], [*sources, other]) == []
    assert quote_errors(["method", "seed", "FID"], [["gan", "1", "2.75"]], [*sources, other]) == [
        "{'method': 'gan', 'seed': '1'} 'FID': README '2.75', t.md '2.00'"]
    # a quoted setting (dataset) must list all of its rows; a setting not quoted at all may be left out
    sources = [("t.md", ["dataset", "method", "seed", "FID"],
                [["mnist", "gan", "0", "1.00"], ["mnist", "gan", "1", "2.00"], ["svhn", "gan", "0", "5.00"]])]
    assert quote_errors(["dataset", "method", "seed", "FID"], [["mnist", "gan", "1", "2.00"]], sources) == [
        "{'dataset': 'mnist', 'method': 'gan', 'seed': '0'}: in t.md, not in README (which quotes this setting's other rows)"]


def test_result_tables_match_the_committed_tables(repo):
    """Every table of README or docs/ with a `method` column is a result table and must quote one
    committed table; pivots by setting are checked above, lists of files not at all."""
    sources = source_tables(repo)
    result_tables = [(path.relative_to(repo), line, header, rows) for path in documentation_files(repo)
                     for line, header, rows in markdown_tables(path.read_text()) if "method" in header]
    assert len(result_tables) >= 3, "the documentation lost its result tables"
    problems = []
    for name, line, header, rows in result_tables:
        errors = quote_errors(header, rows, sources)
        if errors is None:
            problems.append(f"{name}:{line}: columns {header} are not all in any results/*/tables/*.md table")
        else:
            problems += [f"{name}:{line}: {e}" for e in errors]
    if problems:
        pytest.fail("the documentation quotes the committed tables wrongly (copy the rows from the table named, "
                    "after `snakemake -- report`):\n" + "\n".join(problems))
