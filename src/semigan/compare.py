"""Paired comparisons of methods over seeds: is a difference larger than the seed-to-seed noise?

Every method of a seed trains on the same split (the seed names the split), so the grid is a
paired design: the difference A − B is taken per seed, and its mean is tested against zero.
Each comparison reports what a reviewer of a benchmark asks for (Oliver et al. 2018; Agarwal
et al. 2021, "rliable"):

- the seeds paired and the per-seed differences;
- the mean difference with a t-interval (95 %), and a bootstrap interval over seeds once there
  are ≥ 5 (`BOOTSTRAP_MIN_SEEDS`; shown beside it: with so few seeds a bootstrap interval is
  narrower than it should be, so the verdict stays on the t-interval);
- the paired t-test's p-value (and Wilcoxon's signed-rank where its smallest p can reach 0.05);
- the probability that a random seed of A beats a random seed of B (all seed pairs, ties half);
- a verdict at 95 %: `better`, `worse` (direction from the metric registry) or `not separated`;
  none with fewer than `MIN_SEEDS_FOR_VERDICT` seeds, where it says how many there were;
- how many seeds a paired t-test needs to separate the observed effect at 80 % power.

Diverged runs are left out (the seed is then unpaired) and counted. Every statistic comes
from scipy.stats.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from .aggregate import KEYS, MetricsError
from .metric_registry import CLASSIFICATION, GENERATION, PRIMARY, Metric

CONFIDENCE = 0.95
ALPHA = 1 - CONFIDENCE
POWER = 0.80
MIN_SEEDS_FOR_VERDICT = 3       # with 2 seeds a t-interval has 1 degree of freedom: no verdict
BOOTSTRAP_MIN_SEEDS = 5
WILCOXON_MIN_SEEDS = 6          # below 6 pairs its exact two-sided p is never < 0.05
MAX_SEEDS_SEARCHED = 1000       # "more than this" beyond
BOOTSTRAP_RESAMPLES = 9999

BETTER, WORSE, NOT_SEPARATED = "better", "worse", "not separated"

# the metrics compared, per kind of run (a subset of the registry: its other metrics are
# descriptive and stay in the summaries)
COMPARED = {
    "classification": {name: CLASSIFICATION[name] for name in (PRIMARY, "final_test_error_pct")},
    "generation": {name: GENERATION[name] for name in ("fid_inception", "fid_domain", "class_consistency_pct")},
}


def metric_of(name: str) -> Metric:
    for metrics in COMPARED.values():
        if name in metrics:
            return metrics[name]
    known = sorted(n for metrics in COMPARED.values() for n in metrics)
    raise KeyError(f"metric {name!r} is not compared; expected one of {known}")


def t_interval(values, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """(low, high) t-interval of the mean of `values` (a point where there is one value): the
    interval the figures draw around each mean, the same one the verdicts use for differences."""
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    if len(values) < 2 or np.all(values == values[0]):  # one value, or no spread: the point itself
        mean = float(values.mean()) if len(values) else float("nan")
        return mean, mean
    low, high = stats.t.interval(confidence, len(values) - 1, loc=values.mean(), scale=stats.sem(values))
    return float(low), float(high)


def seeds_for_power(effect_size: float, power: float = POWER, alpha: float = ALPHA,
                    max_n: int = MAX_SEEDS_SEARCHED) -> float:
    """Smallest number of paired seeds at which a two-sided paired t-test at `alpha` detects a
    standardised mean difference `effect_size` (mean / sd of the differences) with `power`;
    inf beyond `max_n`, or when there is no effect."""
    d = abs(effect_size)
    if not np.isfinite(d) or d == 0:
        return float("inf")

    def achieved(n: int) -> float:
        crit = stats.t.ppf(1 - alpha / 2, n - 1)
        wrong_side = stats.nct.cdf(-crit, n - 1, d * np.sqrt(n))  # far tail: scipy may give NaN for ~0
        return stats.nct.sf(crit, n - 1, d * np.sqrt(n)) + np.nan_to_num(wrong_side, nan=0.0)

    low, high = MIN_SEEDS_FOR_VERDICT, max_n  # fewer seeds give no verdict
    if achieved(high) < power:
        return float("inf")
    while low < high:  # power grows with n: bisect for the first n that reaches it
        mid = (low + high) // 2
        low, high = (low, mid) if achieved(mid) >= power else (mid + 1, high)
    return float(low)


@dataclass(frozen=True)
class Paired:
    """The statistics of one paired comparison A − B (fields as in comparisons.csv)."""
    n_seeds: int
    mean_diff: float
    ci_low: float
    ci_high: float
    p_value: float
    p_wilcoxon: float
    boot_low: float
    boot_high: float
    prob_a_beats_b: float
    verdict: str
    seeds_for_power: float


def paired_stats(a, b, better: str, bootstrap_resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0,
                 with_power: bool = True) -> Paired:
    """Paired comparison of A's and B's values of one metric, element i of each from seed i.
    better: "lower" or "higher" (the metric's direction). bootstrap_resamples=0: no bootstrap;
    with_power=False: no power analysis (NaN; simulations of the verdict need neither)."""
    if better not in ("lower", "higher"):
        raise ValueError(f"better={better!r}, expected 'lower' or 'higher'")
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired values need equal 1-d shapes, got {a.shape} and {b.shape}")
    if np.isnan(a).any() or np.isnan(b).any():
        raise ValueError("paired values contain NaN: leave out the seeds that lack the metric")
    n = len(a)
    diff = a - b
    sign = -1.0 if better == "lower" else 1.0  # sign * value: higher is better
    # rliable's probability of improvement: Mann-Whitney's U of A over B / all pairs (ties count half)
    prob = float(stats.mannwhitneyu(sign * a, sign * b).statistic / (n * n)) if n else float("nan")
    nan = float("nan")
    if n < MIN_SEEDS_FOR_VERDICT:
        return Paired(n, float(diff.mean()) if n else nan, nan, nan, nan, nan, nan, nan, prob,
                      f"no verdict: {n} seed{'s' if n != 1 else ''}", nan)
    sd = diff.std(ddof=1)
    if sd == 0:  # every seed differs by the same amount: no spread to test against
        return Paired(n, float(diff.mean()), nan, nan, nan, nan, nan, nan, prob,
                      "no verdict: identical differences", nan)
    test = stats.ttest_rel(a, b)
    ci = test.confidence_interval(CONFIDENCE)
    low, high = float(ci.low), float(ci.high)
    p_wilcoxon = float(stats.wilcoxon(a, b).pvalue) if n >= WILCOXON_MIN_SEEDS else nan
    boot_low = boot_high = nan
    if n >= BOOTSTRAP_MIN_SEEDS and bootstrap_resamples:
        boot = stats.bootstrap((diff,), np.mean, confidence_level=CONFIDENCE, n_resamples=bootstrap_resamples,
                               method="percentile", rng=np.random.default_rng(seed))
        boot_low, boot_high = float(boot.confidence_interval.low), float(boot.confidence_interval.high)
    if low > 0 or high < 0:
        verdict = BETTER if (low > 0) == (better == "higher") else WORSE
    else:
        verdict = NOT_SEPARATED
    return Paired(n, float(diff.mean()), low, high, float(test.pvalue), p_wilcoxon, boot_low, boot_high, prob,
                  verdict, seeds_for_power(diff.mean() / sd) if with_power else nan)


# -- over the grid --------------------------------------------------------------------------
def method_order(kind: str, methods) -> list[str]:
    """Methods from the baseline to the most elaborate (the registry's order for classification,
    fewest labels used → all for generation); each pair is compared as later − earlier."""
    if kind == "classification":
        from .methods import METHODS

        order = list(METHODS)
    else:
        from .figures import METHOD_ORDER

        order = METHOD_ORDER
    present = set(methods)
    return [m for m in order if m in present] + sorted(present - set(order))


def _diverged(runs: pd.DataFrame) -> pd.Series:
    if "diverged" not in runs:
        return pd.Series(False, index=runs.index)
    return runs["diverged"].fillna(False).astype(bool)


def _seeds_text(seeds) -> str:
    return " ".join(str(int(s)) for s in seeds)


def compare_runs(runs: pd.DataFrame, kind: str, pairs: list[tuple[str, str]] | None = None,
                 bootstrap_resamples: int = BOOTSTRAP_RESAMPLES) -> pd.DataFrame:
    """One row per (profile, dataset, labels) × pair of methods × compared metric that share at
    least one seed (runs.csv or generation_runs.csv rows). pairs: (A, B) to compare, default
    every pair of methods present, later − earlier in `method_order`."""
    if kind not in COMPARED:
        raise ValueError(f"kind={kind!r}, expected one of {sorted(COMPARED)}")
    missing = [c for c in [*KEYS, "seed"] if c not in runs]
    if missing:
        raise MetricsError(f"{kind} runs table lacks columns {missing}; expected a table written by semigan "
                           f"{'aggregate' if kind == 'classification' else 'generation-tables'}")
    runs = runs.assign(_diverged=_diverged(runs))
    rows = []
    for (profile, dataset, n_labels), cell in runs.groupby(KEYS[:3], sort=True):
        methods = method_order(kind, cell["method"].unique())
        cell_pairs = pairs if pairs is not None else [(a, b) for i, b in enumerate(methods) for a in methods[i + 1:]]
        for a, b in cell_pairs:
            ra, rb = cell[cell["method"] == a], cell[cell["method"] == b]
            if ra.empty or rb.empty:
                continue
            dup = [m for m, r in ((a, ra), (b, rb)) if r["seed"].duplicated().any()]
            if dup:
                raise MetricsError(f"{dataset}/n{n_labels}: {dup} has several runs of one seed; a seed names one "
                                   "split and one run per method")
            diverged = pd.concat([ra[ra["_diverged"]], rb[rb["_diverged"]]])
            diverged_names = " ".join(f"{r.method}/seed{r.seed}" for r in diverged.itertuples())
            ok_a = ra[~ra["_diverged"]].set_index("seed")
            ok_b = rb[~rb["_diverged"]].set_index("seed")
            for name, metric in COMPARED[kind].items():
                if name not in cell:
                    continue
                va, vb = ok_a[name].dropna(), ok_b[name].dropna()
                seeds = sorted(set(va.index) & set(vb.index))
                if not seeds:
                    continue
                unpaired = sorted((set(va.index) | set(vb.index)) - set(seeds))
                s = paired_stats(va[seeds].to_numpy(), vb[seeds].to_numpy(), metric.better,
                                 bootstrap_resamples)
                diffs = va[seeds].to_numpy() - vb[seeds].to_numpy()
                rows.append({
                    "kind": kind, "profile": profile, "dataset": dataset, "n_labels": int(n_labels),
                    "metric": name, "metric_label": metric.label, "better": metric.better,
                    "method_a": a, "method_b": b, "n_seeds": s.n_seeds, "seeds": _seeds_text(seeds),
                    "differences": " ".join(f"{d:.{metric.digits}f}" for d in diffs),
                    "mean_a": float(va[seeds].mean()), "mean_b": float(vb[seeds].mean()),
                    "mean_diff": s.mean_diff, "ci_low": s.ci_low, "ci_high": s.ci_high,
                    "p_value": s.p_value, "p_wilcoxon": s.p_wilcoxon,
                    "boot_low": s.boot_low, "boot_high": s.boot_high,
                    "prob_a_beats_b": s.prob_a_beats_b, "verdict": s.verdict,
                    "seeds_for_80pct_power": s.seeds_for_power,
                    "n_diverged": len(diverged), "diverged_runs": diverged_names,
                    "unpaired_seeds": _seeds_text(unpaired),
                })
    return pd.DataFrame(rows, columns=COLUMNS)


COLUMNS = ["kind", "profile", "dataset", "n_labels", "metric", "metric_label", "better", "method_a", "method_b",
           "n_seeds", "seeds", "differences", "mean_a", "mean_b", "mean_diff", "ci_low", "ci_high", "p_value",
           "p_wilcoxon", "boot_low", "boot_high", "prob_a_beats_b", "verdict", "seeds_for_80pct_power",
           "n_diverged", "diverged_runs", "unpaired_seeds"]


def compare_tables(runs: pd.DataFrame | None, generation_runs: pd.DataFrame | None,
                   bootstrap_resamples: int = BOOTSTRAP_RESAMPLES) -> pd.DataFrame:
    frames = [compare_runs(df, kind, bootstrap_resamples=bootstrap_resamples)
              for kind, df in (("classification", runs), ("generation", generation_runs)) if df is not None]
    frames = [f for f in frames if not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COLUMNS)


# -- text ------------------------------------------------------------------------------------
def _num(value, digits: int) -> str:
    return "–" if pd.isna(value) else f"{value:+.{digits}f}"


def p_text(p) -> str:
    if pd.isna(p):
        return "–"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def diff_text(r: dict) -> str:
    """'mean [low, high]' in the metric's units and digits."""
    digits = metric_of(r["metric"]).digits
    text = _num(r["mean_diff"], digits)
    if pd.notna(r["ci_low"]):
        text += f" [{_num(r['ci_low'], digits)}, {_num(r['ci_high'], digits)}]"
    return text


def power_text(n) -> str:
    if pd.isna(n):
        return "–"
    return f"> {MAX_SEEDS_SEARCHED}" if np.isinf(n) else str(int(n))


def comparisons_markdown(table: pd.DataFrame) -> str:
    """Every comparison, one row each, grouped by kind of run."""
    if table.empty:
        return "_No two methods share a seed yet._\n"
    head = ("| dataset | labels | A vs B | metric | seeds | A − B per seed | mean A − B [95 % CI] | bootstrap 95 % CI "
            "| p (t) | p (Wilcoxon) | P(A beats B) | verdict (A) | seeds for 80 % power | diverged (excluded) |")
    lines = [head, "| --- | ---: | --- | --- | --- | --- | --- | --- | ---: | ---: | ---: | --- | ---: | --- |"]
    for r in table.to_dict("records"):
        digits = metric_of(r["metric"]).digits
        boot = "–" if pd.isna(r["boot_low"]) else f"[{_num(r['boot_low'], digits)}, {_num(r['boot_high'], digits)}]"
        seeds = r["seeds"] + (f" (unpaired: {r['unpaired_seeds']})" if r["unpaired_seeds"] else "")
        diverged = f"{r['n_diverged']}: {r['diverged_runs']}" if r["n_diverged"] else "0"
        lines.append(f"| {r['dataset']} | {r['n_labels']} | {r['method_a']} vs {r['method_b']} | "
                     f"{metric_of(r['metric']).heading} | {seeds} | {r['differences']} | {diff_text(r)} | {boot} | "
                     f"{p_text(r['p_value'])} | {p_text(r['p_wilcoxon'])} | {r['prob_a_beats_b']:.2f} | "
                     f"{r['verdict']} | {power_text(r['seeds_for_80pct_power'])} | {diverged} |")
    return "\n".join(lines) + "\n"


NOTE = (f"A − B is taken per seed (both methods on the same split); CI: t-interval of the mean difference; "
        f"bootstrap (percentile, {BOOTSTRAP_RESAMPLES} resamples) from {BOOTSTRAP_MIN_SEEDS} seeds on; "
        f"p: paired t-test (Wilcoxon signed-rank from {WILCOXON_MIN_SEEDS} seeds on); P(A beats B): over "
        f"every pair of a seed of A and a seed of B, ties half; verdict at 95 % from the t-interval, "
        f"direction from the metric (↓ lower is better, ↑ higher); none below {MIN_SEEDS_FOR_VERDICT} seeds; "
        f"seeds for 80 % power: paired t-test at the observed mean / sd of the differences (more than "
        f"{MAX_SEEDS_SEARCHED}: inf in comparisons.csv). Diverged "
        f"runs are left out of the pairs and counted.")
