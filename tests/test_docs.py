"""The documentation speaks about the product, its links work, and its prose quotes its numbers.

Three checks over what a user reads (README.md, docs/*.md, params.yaml, references/ and every
generated results/<profile>/report.md):

- **No development history.** Issue numbers, the word "session", names of the tools the suite was
  built with, CPU vendors/models and the "family/model" notation of a kind of CPU, dates of runs
  and development commits belong to the project's tracker and to each run's metrics.json
  (provenance), not to the product's text. Tables under results/<profile>/tables/ may show the
  hardware of each run; they are not scanned.
- **Links resolve.** Every relative link of README.md, docs/*.md and the trials pages names a file
  of the repository, and every #anchor a heading of the page it points to (GitHub's slugs).
- **Numbers in prose are quotes.** A result-like number in prose (see RESULT_LIKE) must be written
  as a link to the committed file it comes from — `[1.23 ± 0.06](../results/cpu/tables/summary.md)`
  — and that file must contain exactly that text (bounded by non-digits). Tables are checked cell by
  cell by tests/test_readme.py; code blocks and `inline code` are commands and settings, not results.
  Limits: integers without a unit (a count, an integer percentage) and plain decimals without "%",
  "±", "×" or a time unit (an FID of 29.27 written bare) are not recognised as results; a quote
  proves the number is in the linked file, not which row of it the sentence means.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

# --- development history ----------------------------------------------------------------------

DEVELOPMENT_HISTORY = {
    "an issue number": re.compile(r"\bissues?\s*#?\d+|\bissue-\d+|#\d{1,4}\b(?![\w-])", re.I),
    "the word session": re.compile(r"\bsessions?\b", re.I),
    "a development tool": re.compile(r"`device` tool|\bthe device tool\b|\bper brief\b|\bthe brief\b", re.I),
    "a CPU vendor or model": re.compile(
        r"\b(?:AMD|Intel|EPYC|Xeon|Ryzen|Threadripper|Opteron|Pentium|Celeron|Core i[3579]|Apple M[1-4]|Graviton|"
        r"Sapphire Rapids|Emerald Rapids|Granite Rapids|Ice Lake|Cascade Lake|Skylake|Zen ?[1-5]|Milan|Genoa|Turin)\b"),
    "a kind of CPU (family/model)": re.compile(
        r"\b(?:family/model|cpu kind|kind of CPU|kind)\W{1,4}\d{1,2}/\d{1,3}\b|\b\d{1,2}/\d{1,3}\s+(?:AVX|AMX)", re.I),
    "a date of a run": re.compile(r"\b20[2-9]\d-[01]\d-[0-3]\d\b"),
    "a development commit": re.compile(r"\b(?:at|commit)\s+`?(?=[0-9a-f]*[a-f])[0-9a-f]{7,40}\b"),
}


def product_files(repo: Path) -> list[Path]:
    return [repo / "README.md", *sorted((repo / "docs").glob("*.md")), repo / "params.yaml",
            *sorted(p for p in (repo / "references").iterdir() if p.is_file()),
            *sorted(repo.glob("results/*/report.md")), *sorted(repo.glob("results/*/trials/README.md"))]


def history_findings(text: str) -> list[tuple[int, str, str]]:
    """(line number, what, matched text) of every piece of development history in `text`."""
    return [(number, what, m.group(0)) for number, line in enumerate(text.splitlines(), 1)
            for what, pattern in DEVELOPMENT_HISTORY.items() for m in pattern.finditer(line)]


def test_history_findings_catch_each_kind_and_spare_product_text():
    text = ("As found in issue 17, a session on AMD EPYC 25/1 (2026-12-06, at e5418d8) ran it; "
            "the `device` tool was not drawn. Intel 6/167 AVX512 too; family/model 26/2; Table 1 (per brief)")
    kinds = {what for _, what, _ in history_findings(text)}
    assert kinds == set(DEVELOPMENT_HISTORY)
    clean = ("MNIST at 20/50/100/200 labels, seeds 0-2, widths 32/64; TF Inception 2015-12-05 weights; "
             "`snakemake --cores 2`; the device (`SEMIGAN_DEVICE`) is recorded in metrics.json.")
    assert history_findings(clean) == []


def test_product_text_has_no_development_history(repo):
    problems = [f"{path.relative_to(repo)}:{line}: {what}: {found!r}"
                for path in product_files(repo) for line, what, found in history_findings(path.read_text())]
    if problems:
        pytest.fail("the product's text carries development history (state what the suite does and found; "
                    "a run's provenance lives in its metrics.json):\n" + "\n".join(problems))


# --- links ------------------------------------------------------------------------------------

LINK = re.compile(r"(?<!\!)\[([^\]]*)\]\(([^)\s]+)\)|!\[[^\]]*\]\(([^)\s]+)\)")


def documentation_files(repo: Path) -> list[Path]:
    return [repo / "README.md", *sorted((repo / "docs").glob("*.md"))]


def strip_code(text: str) -> str:
    """`text` with fenced code blocks blanked (lines kept, so line numbers stay)."""
    out, fenced = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            out.append("")
        else:
            out.append("" if fenced else line)
    return "\n".join(out)


def slug(heading: str) -> str:
    """GitHub's anchor of a Markdown heading."""
    text = re.sub(r"[`*]|\[([^\]]*)\]\([^)]*\)", lambda m: m.group(1) or "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    result = set()
    for line in strip_code(path.read_text()).splitlines():
        m = re.match(r"#{1,6}\s+(.*)", line)
        if m:
            base = slug(m.group(1))
            n = seen.get(base, 0)
            seen[base] = n + 1
            result.add(base if n == 0 else f"{base}-{n}")
    return result


def link_errors(path: Path, repo: Path) -> list[str]:
    errors = []
    for number, line in enumerate(strip_code(path.read_text()).splitlines(), 1):
        line = re.sub(r"`[^`]*`", "", line)
        for m in LINK.finditer(line):
            target = m.group(2) or m.group(3)
            if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
                continue
            file, _, anchor = target.partition("#")
            dest = (path.parent / file).resolve() if file else path
            if not dest.exists():
                errors.append(f"{path.relative_to(repo)}:{number}: {target!r}: no such file")
            elif not dest.is_relative_to(repo.resolve()):
                errors.append(f"{path.relative_to(repo)}:{number}: {target!r} leaves the repository")
            elif anchor and (dest.suffix != ".md" or anchor not in anchors(dest)):
                errors.append(f"{path.relative_to(repo)}:{number}: {target!r}: no heading #{anchor} in {file or 'this page'}")
    return errors


def test_slugs_and_link_errors(tmp_path):
    assert slug("Resuming and reproducibility") == "resuming-and-reproducibility"
    assert slug("Before GPU hours: the `preflight`") == "before-gpu-hours-the-preflight"
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# Top\n## Run it\n## Run it\n")
    page = tmp_path / "README.md"
    page.write_text("[ok](docs/a.md#run-it) [ok2](docs/a.md#run-it-1) [self](#x) [web](https://x.org/#y)\n"
                    "[bad](docs/b.md) [bad anchor](docs/a.md#walk-it)\n```\n[in code](nowhere.md)\n```\n# X\n")
    assert link_errors(page, tmp_path) == ["README.md:2: 'docs/b.md': no such file",
                                           "README.md:2: 'docs/a.md#walk-it': no heading #walk-it in docs/a.md"]


def test_documentation_links_resolve(repo):
    pages = [*documentation_files(repo), *sorted(repo.glob("results/*/trials/README.md"))]
    problems = [e for path in pages for e in link_errors(path, repo)]
    assert not problems, "broken links in the documentation:\n" + "\n".join(problems)


# --- numbers in prose -------------------------------------------------------------------------

_NUMBER = r"\d+(?:[.,]\d+)?"
RESULT_LIKE = re.compile(
    rf"{_NUMBER}\s*±\s*{_NUMBER}"                           # mean ± std
    rf"|\b\d+\.\d+\s*%"                                      # a decimal percentage
    rf"|\b\d+\.\d+\s*×(?!\s*\d)"                              # a ratio (1.8×; not a 28×28 shape)
    rf"|\b{_NUMBER}\s*(?:h|min|s|it/s|images/s)(?![\w/])")   # a measured time or speed
QUOTE = re.compile(r"\[([^\]]+)\]\(((?:\.\./)*results/[^)#\s]+)\)")


def prose_number_errors(path: Path, repo: Path) -> list[str]:
    """Result-like numbers of `path`'s prose that are not quotes, and quotes whose number is not in
    the file they link to."""
    errors = []
    for number, line in enumerate(strip_code(path.read_text()).splitlines(), 1):
        if line.lstrip().startswith("|"):
            continue  # a table: tests/test_readme.py checks it against the committed tables
        line = re.sub(r"`[^`]*`", "", line)
        where = f"{path.relative_to(repo)}:{number}"
        for m in QUOTE.finditer(line):
            quoted, target = m.group(1), (path.parent / m.group(2)).resolve()
            for value in RESULT_LIKE.finditer(quoted):
                figure = re.sub(r"\s*(?:%|h|min|s|it/s|images/s)$", "", value.group(0))
                text = target.read_text() if target.is_file() else ""
                if not re.search(rf"(?<![\d.]){re.escape(figure)}(?![\d])", text):
                    errors.append(f"{where}: {value.group(0)!r} is not in {m.group(2)}")
        for value in RESULT_LIKE.finditer(QUOTE.sub("", line)):
            errors.append(f"{where}: {value.group(0)!r} in prose is not quoted from a committed file")
    return errors


def test_prose_number_errors(tmp_path):
    (tmp_path / "results" / "cpu" / "tables").mkdir(parents=True)
    (tmp_path / "results" / "cpu" / "tables" / "s.md").write_text("| m | e |\n| --- | --- |\n| a | 1.23 ± 0.06 |\n| b | 1528 |\n")
    (tmp_path / "docs").mkdir()
    page = tmp_path / "docs" / "r.md"
    page.write_text("Quoted: [1.23 ± 0.06](../results/cpu/tables/s.md) and [1528 s](../results/cpu/tables/s.md).\n"
                    "Drifted: [1.18 ± 0.02](../results/cpu/tables/s.md). Bare: 1.17 %, ≈ 6 h, 2.15 it/s, 1.8× as good.\n"
                    "| a | 9.99 ± 1.00 |\n`--threads 1` and `0.5 s` in code; 20/50/100/200 labels, 40 % of steps, 28×28 images.\n")
    assert prose_number_errors(page, tmp_path) == [
        "docs/r.md:2: '1.18 ± 0.02' is not in ../results/cpu/tables/s.md",
        "docs/r.md:2: '1.17 %' in prose is not quoted from a committed file",
        "docs/r.md:2: '6 h' in prose is not quoted from a committed file",
        "docs/r.md:2: '2.15 it/s' in prose is not quoted from a committed file",
        "docs/r.md:2: '1.8×' in prose is not quoted from a committed file"]


def test_numbers_in_prose_are_quoted_from_committed_files(repo):
    problems = [e for path in documentation_files(repo) for e in prose_number_errors(path, repo)]
    if problems:
        pytest.fail("write a result in prose as a link to the committed file that holds it, "
                    "e.g. [1.23 ± 0.06](results/cpu/tables/summary.md), or refer to the table:\n" + "\n".join(problems))


# --- the front page ---------------------------------------------------------------------------

FINDINGS_PLACEHOLDER = "<!-- findings: generated by semigan compare -->"


def test_readme_is_a_front_page(repo):
    """README.md is read in minutes: at most 200 lines, with the sections a new user looks for, a
    Findings section for the generated verdicts, and a link to every docs/ page."""
    text = (repo / "README.md").read_text()
    assert len(text.splitlines()) <= 200, f"README.md has {len(text.splitlines())} lines; move detail into docs/"
    headings = re.findall(r"^## (.+)$", text, flags=re.M)
    for needed in ("Install", "Run", "Tests", "Findings"):
        assert needed in headings, f"README.md has no '## {needed}' section (it has {headings})"
    findings = text.split("## Findings", 1)[1].split("\n## ", 1)[0]
    assert FINDINGS_PLACEHOLDER in findings or "|" in findings, (
        "README's Findings section holds neither the generated table nor its placeholder")
    linked = set(re.findall(r"\]\((docs/[\w-]+\.md)", text))
    pages = {f"docs/{p.name}" for p in (repo / "docs").glob("*.md")}
    assert pages <= linked, f"docs pages README does not link to: {sorted(pages - linked)}"
