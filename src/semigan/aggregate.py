"""All runs' metrics.json → runs.csv (one row per run) and summary.csv (mean ± std over
seeds per profile × dataset × n_labels × method). Reads the metrics files, never logs."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

REQUIRED = ("profile", "dataset", "n_labels", "method", "seed", "test_error_pct",
            "test_accuracy", "train_seconds", "steps_per_second")
KEYS = ["profile", "dataset", "n_labels", "method"]
SUMMARISED = ["test_error_pct", "test_accuracy", "train_seconds", "steps_per_second"]


class MetricsError(ValueError):
    """A metrics file that is missing or lacks what aggregation needs."""


def read_metrics(path: Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise MetricsError(f"{path}: metrics file of this run is missing; run its evaluate job")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise MetricsError(f"{path}: not valid JSON ({exc}); re-run this run's evaluate job") from exc
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        raise MetricsError(f"{path}: metrics of run {data.get('run', '?')} lack {missing}")
    return data


def runs_table(paths: list[Path]) -> pd.DataFrame:
    rows = []
    for path in paths:
        m = read_metrics(path)
        row = {k: m[k] for k in REQUIRED}
        row.update({
            "selected_step": m.get("selection", {}).get("step"),
            "selected_val_acc": m.get("selection", {}).get("val_acc"),
            "train_steps": m.get("train_steps"),
            "git_commit": m.get("provenance", {}).get("train", {}).get("git", {}).get("commit"),
            "device": m.get("provenance", {}).get("train", {}).get("device", {}).get("device"),
            "split_sha256": m.get("split_sha256"),
            "dataset_note": m.get("dataset_note", ""),
            "metrics_file": str(path),
        })
        rows.append(row)
    if not rows:
        raise MetricsError("no metrics files to aggregate")
    return pd.DataFrame(rows).sort_values(KEYS + ["seed"]).reset_index(drop=True)


def summary_table(runs: pd.DataFrame) -> pd.DataFrame:
    grouped = runs.groupby(KEYS, sort=True)
    out = grouped[SUMMARISED].agg(["mean", "std"])
    out.columns = [f"{a}_{b}" for a, b in out.columns]
    out.insert(0, "n_seeds", grouped.size())
    out["seeds"] = grouped["seed"].agg(lambda s: " ".join(str(v) for v in sorted(s)))
    out["test_error_pct_text"] = [
        f"{m:.2f} ± {s:.2f}" if pd.notna(s) else f"{m:.2f}"
        for m, s in zip(out["test_error_pct_mean"], out["test_error_pct_std"])]
    return out.reset_index()


def summary_metrics(summary: pd.DataFrame) -> dict:
    """Nested {dataset: {n<labels>: {method: {...}}}} for `dvc metrics show`."""
    out: dict = {}
    for row in summary.itertuples(index=False):
        cell = out.setdefault(row.dataset, {}).setdefault(f"n{row.n_labels}", {})
        cell[row.method] = {
            "test_error_pct_mean": round(float(row.test_error_pct_mean), 4),
            "test_error_pct_std": None if pd.isna(row.test_error_pct_std) else round(float(row.test_error_pct_std), 4),
            "n_seeds": int(row.n_seeds),
        }
    return out


def summary_markdown(summary: pd.DataFrame) -> str:
    """A GitHub-renderable table: one row per dataset × labels × method."""
    lines = ["| profile | dataset | labels | method | seeds | test error % (mean ± std) | train s/run |",
             "| --- | --- | ---: | --- | ---: | ---: | ---: |"]
    for r in summary.itertuples(index=False):
        lines.append(f"| {r.profile} | {r.dataset} | {r.n_labels} | {r.method} | {r.n_seeds} | "
                     f"{r.test_error_pct_text} | {r.train_seconds_mean:.0f} |")
    return "\n".join(lines) + "\n"


def aggregate(paths: list[Path], runs_csv: Path, summary_csv: Path,
              metrics_json: Path | None = None, summary_md: Path | None = None) -> pd.DataFrame:
    runs = runs_table(paths)
    summary = summary_table(runs)
    for df, out in ((runs, runs_csv), (summary, summary_csv)):
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        df.to_csv(out, index=False, float_format="%.6g")
    if summary_md is not None:
        Path(summary_md).write_text(summary_markdown(summary))
    if metrics_json is not None:
        Path(metrics_json).write_text(json.dumps(summary_metrics(summary), indent=2) + "\n")
    return summary
