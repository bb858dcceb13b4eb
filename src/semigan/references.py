"""The published numbers the suite is compared with (references/published.csv): loading,
validation (every row names its source), and the rows that match a run of ours."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

COLUMNS = ["key", "method", "ours", "dataset", "n_labels", "metric", "value", "std", "unit",
           "source", "location", "url", "protocol", "note"]
METRICS = {"test_error_pct", "inception_score", "fid"}
MUST_HAVE = ("key", "method", "dataset", "metric", "value", "source", "location", "url", "protocol")


class ReferenceError(ValueError):
    """The references table is malformed or a row lacks its source."""


def load_references(path: Path) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise ReferenceError(f"{path}: references table not found")
    table = pd.read_csv(path, dtype={"key": str, "ours": str, "note": str}, keep_default_na=True)
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise ReferenceError(f"{path}: columns {missing} missing; expected {COLUMNS}")
    problems = []
    for i, row in table.iterrows():
        where = f"{path}:{i + 2} ({row.get('key', '?')})"  # +2: header line, 1-based
        empty = [c for c in MUST_HAVE if pd.isna(row[c]) or str(row[c]).strip() == ""]
        if empty:
            problems.append(f"{where}: empty {empty}")
        if row["metric"] not in METRICS:
            problems.append(f"{where}: metric {row['metric']!r} not one of {sorted(METRICS)}")
        if not str(row["url"]).startswith(("http://", "https://")):
            problems.append(f"{where}: url {row['url']!r} is not a web address")
    dupes = table["key"][table["key"].duplicated()].tolist()
    if dupes:
        problems.append(f"{path}: duplicate keys {dupes}")
    if problems:
        raise ReferenceError("references table is malformed:\n  " + "\n  ".join(problems))
    table["ours"] = table["ours"].fillna("")
    table["note"] = table["note"].fillna("")
    table["n_labels"] = pd.to_numeric(table["n_labels"]).astype("Int64")
    return table[COLUMNS]


def error_references(refs: pd.DataFrame) -> pd.DataFrame:
    """Published test errors of classifiers, the rows the error tables and figures use."""
    return refs[(refs["metric"] == "test_error_pct") & refs["n_labels"].notna()]
