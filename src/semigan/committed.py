"""Committed results on a machine that did not make them.

A clone has every finished run's metrics.json but none of its models, data or Snakemake
metadata. The workflow treats such a run as *frozen*: its result stands and nothing re-runs
it, since that would mean retraining. If its recorded config differs from the one the
current params give, it is also *stale*: the workflow names the settings that changed and
the user decides (deleting the metrics file recomputes the run).
"""

from __future__ import annotations

import json
from pathlib import Path


def differing_fields(recorded: dict, current: dict, prefix: str = "") -> list[str]:
    """Dotted names of the settings that differ between two configs (nested dicts)."""
    fields = []
    for key in sorted(set(recorded) | set(current)):
        name = f"{prefix}{key}"
        old, new = recorded.get(key), current.get(key)
        if isinstance(old, dict) and isinstance(new, dict):
            fields += differing_fields(old, new, f"{name}.")
        elif old != new:
            fields.append(name)
    return fields


def stale_fields(metrics_file: str | Path, spec: dict) -> list[str]:
    """Settings in which a committed result's config differs from `spec` ([] if none, or if
    the file does not exist)."""
    path = Path(metrics_file)
    if not path.exists():
        return []
    recorded = json.loads(path.read_text()).get("config", {})
    return differing_fields(recorded, spec)


def is_frozen(metrics_file: str | Path, model_file: str | Path) -> bool:
    """Committed and not made here (no model)."""
    return Path(metrics_file).exists() and not Path(model_file).exists()
