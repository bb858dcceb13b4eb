"""Paired comparisons over seeds (semigan.compare) and the findings table (semigan.claims),
on synthetic runs with known effects, and the committed findings against the committed runs."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest

from semigan.claims import Claim, findings, findings_markdown
from semigan.compare import (BETTER, NOT_SEPARATED, WORSE, compare_runs, compare_tables, comparisons_markdown,
                             paired_stats, seeds_for_power, t_interval)

RNG_SEED = 20161  # fixed: every simulated number below is the same on each run


def _simulate(rng, n_seeds, effect, split_sd=3.0, noise_sd=1.0):
    """Test errors of two methods on n_seeds splits: each split shifts both methods alike
    (split_sd, the part pairing removes); A's true mean is B's + effect."""
    split = rng.normal(20.0, split_sd, n_seeds)
    b = split + rng.normal(0, noise_sd, n_seeds)
    a = split + effect + rng.normal(0, noise_sd, n_seeds)
    return a, b


def _verdicts(effect, repeats, n_seeds=5, better="lower"):
    rng = np.random.default_rng(RNG_SEED)
    return [paired_stats(*_simulate(rng, n_seeds, effect), better, bootstrap_resamples=0, with_power=False).verdict
            for _ in range(repeats)]


def test_a_large_effect_is_better_in_95_percent_of_repeats():
    # A's error is 3 sds of the per-seed difference (√2 noise sds) lower than B's: a paired
    # t-test at 5 seeds has power 0.998 (at 1.5 sds, 0.935: a "large" effect must be this large)
    large = -3.0 * math.sqrt(2)
    verdicts = _verdicts(effect=large, repeats=400)
    assert np.mean([v == BETTER for v in verdicts]) >= 0.95
    assert WORSE not in verdicts
    # the direction comes from the metric: the same numbers on a higher-is-better metric are worse
    assert np.mean([v == WORSE for v in _verdicts(effect=large, repeats=400, better="higher")]) >= 0.95


def test_a_null_effect_is_not_separated_in_90_percent_of_repeats():
    verdicts = _verdicts(effect=0.0, repeats=1000)
    share = np.mean([v == NOT_SEPARATED for v in verdicts])
    assert share >= 0.90
    assert share < 1.0  # a 95 % test does separate some null repeats: the verdict is not a constant


def test_the_interval_covers_the_true_difference_93_to_97_percent_with_5_seeds():
    rng = np.random.default_rng(RNG_SEED)
    true_effect, covered, repeats = -1.5, 0, 2000
    for _ in range(repeats):
        s = paired_stats(*_simulate(rng, 5, true_effect), "lower", bootstrap_resamples=0, with_power=False)
        covered += s.ci_low <= true_effect <= s.ci_high
    assert 0.93 <= covered / repeats <= 0.97


def _runs(values: dict, dataset="mnist", n_labels=100, diverged=()):
    """runs.csv rows: values = {method: {seed: test error}}; diverged = (method, seed) pairs."""
    return pd.DataFrame([{"profile": "cpu", "dataset": dataset, "n_labels": n_labels, "method": m, "seed": s,
                          "test_error_pct": v, "final_test_error_pct": v, "diverged": (m, s) in diverged}
                         for m, per_seed in values.items() for s, v in per_seed.items()])


def _row(table, a="ssl_gan", b="supervised", metric="test_error_pct"):
    hit = table[(table.method_a == a) & (table.method_b == b) & (table.metric == metric)]
    assert len(hit) == 1, table[["method_a", "method_b", "metric"]]
    return hit.iloc[0]


def test_pairing_is_by_split_shuffling_seeds_between_methods_changes_the_result():
    # splits differ a lot (a shared per-split effect of 0..40 points); ssl_gan is 1 point better on each
    split = {s: 10.0 * s for s in range(5)}
    noise = [0.1, -0.2, 0.15, -0.05, 0.0]
    sup = {s: 20 + split[s] for s in split}
    ssl = {s: 19 + split[s] + noise[s] for s in split}
    paired = _row(compare_runs(_runs({"supervised": sup, "ssl_gan": ssl}), "classification"))
    assert paired.verdict == BETTER and paired.seeds == "0 1 2 3 4"
    assert paired.mean_diff == pytest.approx(-1 + np.mean(noise))
    shuffled_seeds = {(s + 1) % 5: v for s, v in ssl.items()}  # same values, each on another method's split
    shuffled = _row(compare_runs(_runs({"supervised": sup, "ssl_gan": shuffled_seeds}), "classification"))
    assert shuffled.mean_diff == pytest.approx(paired.mean_diff)  # the unpaired means are the same ...
    assert shuffled.verdict == NOT_SEPARATED and shuffled.p_value > 0.05 > paired.p_value  # ... the pairs are not


def test_two_seeds_give_no_verdict_and_say_so():
    table = compare_runs(_runs({"supervised": {0: 30.0, 1: 31.0}, "ssl_gan": {0: 1.0, 1: 1.2}}), "classification")
    row = _row(table)
    assert row.verdict == "no verdict: 2 seeds" and row.n_seeds == 2
    assert math.isnan(row.ci_low) and math.isnan(row.p_value) and math.isnan(row.seeds_for_80pct_power)
    assert row.mean_diff == pytest.approx(-29.4) and row.differences == "-29.00 -29.80"
    text = comparisons_markdown(table)
    assert "| no verdict: 2 seeds |" in text and "| -29.40 |" in text
    found, _ = findings(table, (Claim("mnist", 100, "ssl_gan", "supervised", "test_error_pct"),))
    assert findings_markdown(found, []).splitlines()[2].endswith("| no verdict: 2 seeds | – |")  # neither holds nor fails


def test_diverged_runs_are_excluded_and_counted():
    values = {"supervised": {0: 30.0, 1: 32.0, 2: 31.0, 3: 29.0},
              "ssl_gan": {0: 2.0, 1: 90.0, 2: 3.0, 3: 2.5}}  # seed 1 diverged (chance-level error)
    row = _row(compare_runs(_runs(values, diverged={("ssl_gan", 1)}), "classification"))
    assert row.n_diverged == 1 and row.diverged_runs == "ssl_gan/seed1"
    assert row.seeds == "0 2 3" and row.n_seeds == 3 and row.unpaired_seeds == "1"
    assert row.mean_b == pytest.approx(30.0) and row.mean_a == pytest.approx(2.5)  # seed 1 in neither mean
    assert row.verdict == BETTER
    assert "| 1: ssl_gan/seed1 |" in comparisons_markdown(compare_runs(_runs(values, diverged={("ssl_gan", 1)}),
                                                                      "classification"))


def test_bootstrap_from_five_seeds_and_wilcoxon_from_six():
    rng = np.random.default_rng(RNG_SEED)
    four = paired_stats(*_simulate(rng, 4, -2.0), "lower")
    assert math.isnan(four.boot_low) and math.isnan(four.p_wilcoxon)
    a, b = _simulate(rng, 5, -2.0)
    five = paired_stats(a, b, "lower")
    assert five.boot_low < five.mean_diff < five.boot_high and math.isnan(five.p_wilcoxon)
    assert (paired_stats(a, b, "lower").boot_low, paired_stats(a, b, "lower").boot_high) == (
        five.boot_low, five.boot_high)  # seeded: the same numbers give the same interval
    six = paired_stats(*_simulate(rng, 6, -2.0), "lower")
    assert 0 < six.p_wilcoxon <= 1


def test_probability_that_a_seed_of_a_beats_one_of_b_counts_ties_half():
    # lower is better; of the 9 (A seed, B seed) pairs A wins 5 and ties 2
    s = paired_stats([1.0, 2.0, 3.0], [2.0, 2.0, 4.0], "lower", bootstrap_resamples=0)
    assert s.prob_a_beats_b == pytest.approx(6 / 9)
    assert paired_stats([1.0, 2.0, 3.0], [2.0, 2.0, 4.0], "higher", bootstrap_resamples=0).prob_a_beats_b == \
        pytest.approx(3 / 9)


def test_seeds_for_80_percent_power_grow_as_the_effect_shrinks():
    # textbook sample sizes of a two-sided one-sample t-test at alpha 0.05, power 0.8 (Cohen 1988)
    assert seeds_for_power(0.5) == 34 and seeds_for_power(0.8) == 15
    assert seeds_for_power(-0.8) == 15  # the sign does not matter
    assert seeds_for_power(0.0) == math.inf and seeds_for_power(0.01) == math.inf  # beyond the search
    assert seeds_for_power(10.0) == 3  # fewer seeds give no verdict, so none are suggested


def test_t_interval_is_the_mean_s_and_a_point_for_one_value():
    low, high = t_interval([1.0, 2.0, 6.0])
    assert low < 3.0 < high and high - 3.0 == pytest.approx(3.0 - low)
    assert t_interval([4.0]) == (4.0, 4.0)


def test_paired_values_with_nan_or_unequal_length_are_refused():
    with pytest.raises(ValueError, match="NaN"):
        paired_stats([1.0, float("nan"), 2.0], [1.0, 2.0, 3.0], "lower")
    with pytest.raises(ValueError, match="equal 1-d shapes"):
        paired_stats([1.0, 2.0], [1.0, 2.0, 3.0], "lower")
    with pytest.raises(ValueError, match="better='up'"):
        paired_stats([1.0, 2.0], [1.0, 2.0], "up")


def test_bad_runs_tables_are_named(tmp_path, capsys):
    from semigan.aggregate import MetricsError
    from semigan.cli import main

    with pytest.raises(MetricsError, match=r"lacks columns \['seed'\]"):
        compare_runs(_runs({"supervised": {0: 1.0}}).drop(columns="seed"), "classification")
    twice = pd.concat([_runs({"supervised": {0: 1.0}, "ssl_gan": {0: 2.0}})] * 2)
    with pytest.raises(MetricsError, match=r"mnist/n100: \['ssl_gan', 'supervised'\] has several runs of one seed"):
        compare_runs(twice, "classification")
    out = [str(tmp_path / n) for n in ("c.csv", "c.md", "f.md")]
    assert main(["compare", "--runs", str(tmp_path / "missing.csv"), "--out-csv", out[0], "--out-md", out[1],
                 "--findings-md", out[2]]) == 2
    assert "missing.csv: no such runs table" in capsys.readouterr().err


def _generation_runs():
    rows = []
    for seed in range(3):
        for method, fid, cc in (("cgan_labeled", 8.0 + seed, 99.0), ("ssl_cgan", 1.5 + 0.1 * seed, 97.0 + seed),
                                ("gan", 30.0, float("nan"))):
            rows.append({"profile": "cpu", "dataset": "mnist", "n_labels": 100, "method": method, "seed": seed,
                         "fid_domain": fid, "class_consistency_pct": cc, "fid_inception": float("nan")})
    return pd.DataFrame(rows)


def test_generation_pairs_each_metric_measured_and_skips_the_unmeasured():
    table = compare_runs(_generation_runs(), "generation")
    assert set(table.metric) == {"fid_domain", "class_consistency_pct"}  # Inception FID: not computed
    fid = _row(table, "ssl_cgan", "cgan_labeled", "fid_domain")
    assert fid.verdict == BETTER and fid.prob_a_beats_b == 1.0
    cc = _row(table, "ssl_cgan", "cgan_labeled", "class_consistency_pct")  # higher is better: 97-99 vs 99
    assert cc.mean_diff == pytest.approx(-1.0)
    assert not ((table.metric == "class_consistency_pct") & (table.method_b == "gan")).any()


def test_findings_state_each_claim_with_its_verdict_in_either_orientation():
    runs = _runs({"supervised": {0: 30.0, 1: 32.0, 2: 31.0}, "ssl_gan": {0: 2.0, 1: 1.0, 2: 3.0}})
    table = compare_tables(runs, _generation_runs(), bootstrap_resamples=0)
    claims = (Claim("mnist", 100, "ssl_gan", "supervised", "test_error_pct"),
              Claim("mnist", 100, "supervised", "ssl_gan", "test_error_pct"),  # the comparison's B − A
              Claim("mnist", 100, "cgan_labeled", "ssl_cgan", "fid_domain"),
              Claim("svhn", 1000, "ssl_gan", "supervised", "test_error_pct"))
    found, not_run = findings(table, claims)
    assert list(found.verdict) == [BETTER, WORSE, WORSE] and list(found.holds) == [True, False, False]
    assert found.iloc[1].mean_diff == pytest.approx(29.0) and found.iloc[1].ci_low == pytest.approx(-found.iloc[0].ci_high)
    assert found.iloc[1].differences == "28.00 31.00 28.00"
    assert not_run == [claims[3]]
    text = findings_markdown(found, not_run)
    assert "| mnist | 100 | ssl_gan beats supervised | test error % (best val) ↓ | 3 | -29.00 [" in text
    assert "**Hold at 95 %** (1 of 3): ssl_gan beats supervised at mnist 100" in text
    assert "**Reversed at 95 % (B beats A)** (2 of 3)" in text
    assert "Not run in this profile: ssl_gan beats supervised at svhn 1000 (test error % (best val))." in text
    # q: Benjamini-Hochberg over the claims tested, never below p, the largest p unchanged
    assert (found.q_value >= found.p_value - 1e-12).all()
    assert found.q_value[found.p_value.idxmax()] == pytest.approx(found.p_value.max())
    assert found.q_value.min() > found.p_value.min()
    with pytest.raises(KeyError, match="is_domain"):
        Claim("mnist", 100, "a", "b", "is_domain")  # a claim names a compared metric


def test_cli_compare_and_report_put_the_findings_first(tmp_path):
    from semigan.cli import main
    from semigan.report import build_report

    runs = _runs({"supervised": {0: 30.0, 1: 32.0, 2: 31.0}, "ssl_gan": {0: 2.0, 1: 1.0, 2: 3.0}})
    runs.assign(train_seconds=1.0, git_commit="abc", device="cpu").to_csv(tmp_path / "runs.csv", index=False)
    _generation_runs().to_csv(tmp_path / "gen.csv", index=False)
    t = tmp_path
    assert main(["compare", "--runs", str(t / "runs.csv"), "--generation-runs", str(t / "gen.csv"),
                 "--out-csv", str(t / "comparisons.csv"), "--out-md", str(t / "comparisons.md"),
                 "--findings-md", str(t / "findings.md")]) == 0
    written = pd.read_csv(t / "comparisons.csv")
    assert len(written) == 2 + 3 + 1  # 2 selections of test error; domain FID of 3 pairs; class-consistency without gan
    assert set(written.kind) == {"classification", "generation"}
    for name in ("summary.md", "paper.md"):
        (t / name).write_text("| x |\n| --- |\n")
    page = build_report("cpu", t / "runs.csv", t / "summary.md", t / "paper.md", {}, t / "report.md",
                        findings_md=t / "findings.md", comparisons_md=t / "comparisons.md")
    headings = re.findall(r"^## (.+)$", page, flags=re.M)
    assert headings[0] == "Findings" and "Paired comparisons" in headings
    assert (t / "findings.md").read_text().strip() in page


def test_committed_findings_are_those_of_the_committed_runs(repo):
    """results/cpu/tables/findings.md is what `semigan compare` makes of the committed runs."""
    tables = repo / "results" / "cpu" / "tables"
    table = compare_tables(pd.read_csv(tables / "runs.csv"), pd.read_csv(tables / "generation_runs.csv"),
                           bootstrap_resamples=0)
    assert findings_markdown(*findings(table)) == (tables / "findings.md").read_text(), (
        "results/cpu/tables/findings.md is out of date: run `snakemake -- report`")


def test_readme_findings_are_the_generated_findings(repo):
    """The README states the suite's claims only through the generated findings table: its
    "## Findings" section holds results/cpu/tables/findings.md verbatim, so a verdict that
    changes cannot leave a claim standing in the README."""
    readme = (repo / "README.md").read_text()
    match = re.search(r"^## Findings\n(.*?)(?=^## |\Z)", readme, flags=re.M | re.S)
    assert match, "README.md has no '## Findings' section (paste results/cpu/tables/findings.md under it)"
    generated = (repo / "results" / "cpu" / "tables" / "findings.md").read_text().strip()
    assert generated in match.group(1), (
        "README's '## Findings' section differs from results/cpu/tables/findings.md: copy the file in verbatim")


# -- prose cannot contradict the verdicts ---------------------------------------------------------
VERB = re.compile(r"\b(beats?|outperforms?|(?:is |are )?better than|(?:is |are )?worse than|not separated)\b")


def _mentions(text: str, names) -> list[tuple[int, str]]:
    """(position, name) of each name in the text, as a word (backticks allowed around it)."""
    found = [(m.start(), name) for name in names for m in re.finditer(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text)]
    return sorted(found)


def prose_contradictions(text: str, comparisons: pd.DataFrame) -> list[str]:
    """Sentences of a page's prose that state a verdict no paired comparison gives: "A beats /
    is better than B" needs a comparison where A is better than B, "A is worse than B" one where
    it is worse, "A and B are not separated" one where they are not separated — on the dataset the
    sentence names, if it names one. Tables, code and the generated "## Findings" section are not
    prose; a sentence naming fewer than two methods states no comparison."""
    from semigan.figures import DATASET_TITLES

    text = re.sub(r"^## Findings\n.*?(?=^## |\Z)", "", text, flags=re.M | re.S)
    text = re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)
    prose = " ".join(line for line in text.splitlines() if not line.lstrip().startswith("|"))
    methods = sorted(set(comparisons.method_a) | set(comparisons.method_b))
    titles = {d: {d, DATASET_TITLES.get(d, d), DATASET_TITLES.get(d, d).split()[0]} for d in set(comparisons.dataset)}
    problems = []
    for sentence in re.split(r"(?<=[.!?;])\s+", prose):
        verb = VERB.search(sentence)
        named = _mentions(sentence, methods)
        if not verb or len({n for _, n in named}) < 2:
            continue
        datasets = [d for d, words in titles.items() if _mentions(sentence, words)] or sorted(titles)
        rows = comparisons[comparisons.dataset.isin(datasets)]
        word, negated = verb.group(1), None
        if word == "not separated":
            pairs = {frozenset((a, b)) for _, a in named for _, b in named if a != b}
            ok = any(frozenset((r.method_a, r.method_b)) in pairs and r.verdict == NOT_SEPARATED
                     for r in rows.itertuples())
        else:
            before = [n for p, n in named if p < verb.start()]
            after = [n for p, n in named if p > verb.start()]
            if not before or not after:
                continue
            a, b = before[-1], after[0]
            a_better = "worse" not in word
            says = any((r.method_a, r.method_b, r.verdict) in ((a, b, BETTER if a_better else WORSE),
                                                              (b, a, WORSE if a_better else BETTER))
                       for r in rows.itertuples())
            negated = re.search(r"\b(not|n't|never)\s+(\w+\s+)?$", sentence[:verb.start()])
            ok = not says if negated else says  # "A does not beat B": no comparison may say it does
        if not ok:
            problems.append(f"{sentence.strip()!r}: no paired comparison on {', '.join(datasets)} says so"
                            if not negated else
                            f"{sentence.strip()!r}: a paired comparison on {', '.join(datasets)} says it does")
    return problems


def test_prose_that_contradicts_a_verdict_is_named():
    table = compare_tables(_runs({"supervised": {0: 30.0, 1: 32.0, 2: 31.0}, "pseudo_label": {0: 29.0, 1: 33.0, 2: 31.5},
                                  "ssl_gan": {0: 2.0, 1: 1.0, 2: 3.0}}), None, bootstrap_resamples=0)
    page = ("# Results\n\nOn MNIST `ssl_gan` beats `supervised` by 29 points. `pseudo_label` and `supervised` "
            "are not separated.\n\n| ssl_gan | is worse than | supervised |\n\n## Findings\n\nsupervised beats ssl_gan.\n")
    assert prose_contradictions(page, table) == []  # agrees; the table row and the Findings section are not prose
    assert prose_contradictions("On MNIST `pseudo_label` does not beat `supervised`.", table) == []
    wrong = ("`supervised` beats `ssl_gan` at 100 labels. `ssl_gan` and `supervised` are not separated on MNIST. "
             "`pseudo_label` is better than `supervised`. A profile value beats a base value. "
             "`ssl_gan` does not beat `supervised`.")
    problems = prose_contradictions(wrong, table)
    assert len(problems) == 4 and problems[0].startswith("'`supervised` beats `ssl_gan` at 100 labels.'")
    assert "no paired comparison on mnist says so" in problems[1]
    assert problems[3].startswith("'`ssl_gan` does not beat `supervised`.'")


@pytest.mark.parametrize("page", ["README.md", "results/cpu/report.md"])
def test_prose_agrees_with_the_verdicts_of_the_committed_grid(repo, page):
    comparisons = pd.read_csv(repo / "results" / "cpu" / "tables" / "comparisons.csv")
    problems = prose_contradictions((repo / page).read_text(), comparisons)
    assert not problems, f"{page} states verdicts that the paired comparisons do not give:\n" + "\n".join(problems)
