"""The suite's headline claims, one entry each, and the findings table that states them.

A claim is "A beats B on <metric> at <dataset>, <labels>"; whether it holds is the paired
comparison's verdict (semigan.compare), never a sentence written by hand. The findings table
(results/<profile>/tables/findings.md) is the one place where the claims are stated: report.md
shows it first and the README quotes it verbatim (tests/test_compare.py checks the copy), so a
changed verdict cannot leave a claim standing in prose.

A claim whose runs are not in a profile's grid is listed as not run there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from .compare import BETTER, diff_text, metric_of, p_text


@dataclass(frozen=True)
class Claim:
    dataset: str
    n_labels: int
    method_a: str
    method_b: str
    metric: str   # a compared metric (semigan.compare.COMPARED)

    def __post_init__(self):
        metric_of(self.metric)  # an unknown metric fails at import, naming the known ones

    @property
    def text(self) -> str:
        return f"{self.method_a} beats {self.method_b}"


CLAIMS: tuple[Claim, ...] = (
    # the semi-supervised GAN against training on the labels alone (Salimans et al. 2016, Table 1)
    Claim("mnist", 20, "ssl_gan", "supervised", "test_error_pct"),
    Claim("mnist", 50, "ssl_gan", "supervised", "test_error_pct"),
    Claim("mnist", 100, "ssl_gan", "supervised", "test_error_pct"),
    Claim("mnist", 200, "ssl_gan", "supervised", "test_error_pct"),
    Claim("mnist", 100, "ssl_gan", "pseudo_label", "test_error_pct"),
    Claim("fashion_mnist", 100, "ssl_gan", "supervised", "test_error_pct"),
    Claim("fashion_mnist", 1000, "ssl_gan", "supervised", "test_error_pct"),
    Claim("cifar10_jpeg", 4000, "ssl_gan", "supervised", "test_error_pct"),
    Claim("cifar10_jpeg", 4000, "pseudo_label", "supervised", "test_error_pct"),
    Claim("cifar10", 4000, "ssl_gan", "supervised", "test_error_pct"),
    # few-label class-conditional generation
    Claim("mnist", 100, "ssl_cgan", "cgan_labeled", "fid_domain"),
    Claim("mnist", 50, "ssl_cgan", "cgan_pseudo", "fid_domain"),
    Claim("mnist", 50, "ssl_cgan", "cgan_pseudo", "class_consistency_pct"),
    Claim("mnist", 100, "cgan_pseudo", "cgan_full", "fid_domain"),
    Claim("cifar10_jpeg", 4000, "ssl_cgan", "cgan_labeled", "fid_inception"),
    Claim("cifar10_jpeg", 4000, "cgan_pseudo", "cgan_full", "fid_inception"),
    Claim("cifar10", 4000, "ssl_cgan", "cgan_labeled", "fid_inception"),
)


def _row(comparisons: pd.DataFrame, claim: Claim) -> dict | None:
    """The comparison of a claim's pair, in either orientation (A − B or B − A, flipped)."""
    c = comparisons
    same = c[(c.dataset == claim.dataset) & (c.n_labels == claim.n_labels) & (c.metric == claim.metric)]
    hit = same[(same.method_a == claim.method_a) & (same.method_b == claim.method_b)]
    if len(hit):
        return hit.iloc[0].to_dict()
    flipped = same[(same.method_a == claim.method_b) & (same.method_b == claim.method_a)]
    if not len(flipped):
        return None
    r = flipped.iloc[0].to_dict()
    flip = {"better": "worse", "worse": "better"}
    r.update(method_a=claim.method_a, method_b=claim.method_b, mean_diff=-r["mean_diff"],
             ci_low=-r["ci_high"], ci_high=-r["ci_low"], boot_low=-r["boot_high"], boot_high=-r["boot_low"],
             mean_a=r["mean_b"], mean_b=r["mean_a"], prob_a_beats_b=1 - r["prob_a_beats_b"],
             verdict=flip.get(r["verdict"], r["verdict"]),
             differences=" ".join(f"{-float(d):.{metric_of(claim.metric).digits}f}"
                                  for d in str(r["differences"]).split()))
    return r


def findings(comparisons: pd.DataFrame, claims: tuple[Claim, ...] = CLAIMS) -> tuple[pd.DataFrame, list[Claim]]:
    """(one row per claim this grid ran: its comparison and whether it holds; the claims not run)."""
    rows, not_run = [], []
    for claim in claims:
        r = _row(comparisons, claim)
        if r is None:
            not_run.append(claim)
            continue
        rows.append({**r, "claim": claim.text, "holds": r["verdict"] == BETTER})
    table = pd.DataFrame(rows)
    if len(table):  # several claims at 95 % each: the false discovery rate over the claims tested
        p = table["p_value"].to_numpy(dtype=float)
        tested = ~np.isnan(p)
        table["q_value"] = np.nan
        if tested.any():
            table.loc[tested, "q_value"] = stats.false_discovery_control(p[tested], method="bh")
    return table, not_run


def _holds(row: dict) -> str:
    if row["holds"]:
        return "yes"
    return "–" if str(row["verdict"]).startswith("no verdict") else "no"


def findings_markdown(table: pd.DataFrame, not_run: list[Claim]) -> str:
    """The findings table: the block the README quotes verbatim."""
    lines = ["| dataset | labels | claim | metric | seeds | mean A − B [95 % CI] | p | q (BH) | P(A beats B) | verdict "
             "| holds at 95 % |",
             "| --- | ---: | --- | --- | ---: | --- | ---: | ---: | ---: | --- | --- |"]
    for r in table.to_dict("records"):
        lines.append(f"| {r['dataset']} | {r['n_labels']} | {r['claim']} | {metric_of(r['metric']).heading} | "
                     f"{r['n_seeds']} | {diff_text(r)} | {p_text(r['p_value'])} | {p_text(r['q_value'])} | "
                     f"{r['prob_a_beats_b']:.2f} | "
                     f"{r['verdict']} | {_holds(r)} |")
    if table.empty:
        lines = ["_None of the suite's claims has runs in this profile._"]
    if not table.empty:
        lines += [""] + holds_summary(table)
    if not_run:
        lines += ["", "Not run in this profile: " + "; ".join(
            f"{c.text} at {c.dataset} {c.n_labels} ({metric_of(c.metric).label})" for c in not_run) + "."]
    return "\n".join(lines) + "\n"


def holds_summary(table: pd.DataFrame) -> list[str]:
    """Bullet lines: which claims hold at 95 %, which are not separated, which are contradicted."""
    def names(rows):
        return "; ".join(f"{r['claim']} at {r['dataset']} {r['n_labels']} ({metric_of(r['metric']).label})"
                         for r in rows) or "none"

    records = table.to_dict("records") if not table.empty else []
    groups = {
        "Hold at 95 %": [r for r in records if r["holds"]],
        "Not separated at 95 %": [r for r in records if r["verdict"] == "not separated"],
        "Reversed at 95 % (B beats A)": [r for r in records if r["verdict"] == "worse"],
        "No verdict (too few seeds, or no spread to test)": [r for r in records
                                                             if str(r["verdict"]).startswith("no verdict")],
    }
    lines = [f"- **{head}** ({len(rows)} of {len(records)}): {names(rows)}." for head, rows in groups.items()
             if rows or head.startswith("Hold")]
    held = groups["Hold at 95 %"]
    fdr = [r for r in held if r["q_value"] <= 0.05]
    if held:
        lines.append(f"- Of the {len(held)} that hold, {len(fdr)} still hold with the false discovery rate over "
                     f"the {sum(pd.notna(r['q_value']) for r in records)} claims tested held at 5 % "
                     f"(Benjamini-Hochberg q ≤ 0.05)"
                     + (f"; not: {names([r for r in held if r not in fdr])}." if len(fdr) < len(held) else "."))
    return lines
