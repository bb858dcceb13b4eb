"""The metrics the suite reports, one entry each: where a run's metrics.json keeps the value,
which direction is better, and how it is printed. Aggregation (runs.csv, summary.csv,
`dvc metrics` JSON), the markdown tables and the figures' labels all read this registry, so
a new metric is its computation (evaluate / fidelity) plus one entry here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Metric:
    label: str                      # as printed in tables and on figure axes
    better: str                     # "lower" or "higher"
    digits: int                     # decimals in markdown tables
    read: Callable[[dict], float | None]  # metrics.json → value (None: not measured for this run)
    in_table: bool = True           # a column of the markdown summary
    missing: str = "–"              # printed where no run of the cell has a value

    def __post_init__(self):
        if self.better not in ("lower", "higher"):
            raise ValueError(f"Metric {self.label!r}: better={self.better!r}, expected 'lower' or 'higher'")

    def value(self, metrics: dict) -> float | None:
        """The metric of one run; None for a run evaluated before the metric existed."""
        try:
            return self.read(metrics)
        except KeyError:
            return None

    @property
    def heading(self) -> str:
        return f"{self.label} {'↓' if self.better == 'lower' else '↑'}"


def _inception(key: str) -> Callable[[dict], float | None]:
    return lambda m: m["inception"].get(key) if m["inception"]["computed"] else None


def _class_consistency(m: dict) -> float | None:
    overall = m["class_consistency"]["overall"]
    return None if overall is None else 100 * overall


# classification runs (semigan evaluate); test_error_pct is the selected (best validation) EMA weights
PRIMARY = "test_error_pct"  # the one every run has; the others are absent in runs evaluated before they existed
CLASSIFICATION: dict[str, Metric] = {
    PRIMARY: Metric("test error % (best val)", "lower", 2, lambda m: m["test_error_pct"]),
    "final_test_error_pct": Metric("test error % (final EMA)", "lower", 2,
                                   lambda m: (m.get("final") or {}).get("test_error_pct")),
    # selected on a validation subset as large as the labelled set (evaluate.py, `small_val`)
    "small_val_test_error_pct": Metric("test error % (best val, n_val = labels)", "lower", 2,
                                       lambda m: (m.get("small_val") or {}).get("test_error_pct")),
}

# generation runs (semigan evaluate-gan), in table order
GENERATION: dict[str, Metric] = {
    "fid_domain": Metric("domain FID", "lower", 2, lambda m: m["domain"]["fid"]),
    "is_domain": Metric("domain IS", "higher", 2, lambda m: m["domain"]["is_mean"]),
    "kid_domain": Metric("domain KID", "lower", 4, lambda m: m["domain"]["kid_mean"]),
    "precision": Metric("precision", "higher", 3, lambda m: m["domain"]["precision"]),
    "recall": Metric("recall", "higher", 3, lambda m: m["domain"]["recall"]),
    "class_consistency_pct": Metric("class-consistency %", "higher", 1, _class_consistency),
    "fid_inception": Metric("Inception FID", "lower", 2, _inception("fid"), missing="not computed"),
    "is_inception": Metric("Inception IS", "higher", 2, _inception("is_mean"), in_table=False),
    # per run (generation_runs.md) only: the summary keeps Inception FID as its one Inception column
    "kid_inception": Metric("Inception KID", "lower", 4, _inception("kid_mean"), in_table=False),
    "precision_inception": Metric("Inception precision", "higher", 3, _inception("precision"), in_table=False),
    "recall_inception": Metric("Inception recall", "higher", 4, _inception("recall"), in_table=False),
}
