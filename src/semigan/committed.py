"""Committed results on a machine that did not make them.

A clone has every finished run's metrics.json but none of its models, data or Snakemake
metadata, and git sets file times in checkout order. Two rules make such a checkout behave:

- A run is *frozen* when its metrics.json is here but its model is not: its result stands and
  nothing re-runs it, since that would mean retraining. If its recorded config differs from
  the one the current params give, it is also *stale*: the workflow names the settings that
  changed and the user decides (deleting the metrics file recomputes the run).
- The report step and each paper target write an *input record*: the sha256 of every file
  they read, committed with their outputs. A step whose inputs match its record is up to
  date whatever the files' times; one whose inputs differ (a re-run here, new cells, results
  pulled from elsewhere) is re-run. Content decides, never the checkout order.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .atomic import atomic_path
from .hashing import file_sha256


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
    from .training.loop import with_fast_path_defaults

    recorded = json.loads(path.read_text()).get("config", {})
    # settings added after a run was recorded count at the default it ran with (on both sides:
    # a description that leaves them out means the defaults too)
    return differing_fields(with_fast_path_defaults(recorded), with_fast_path_defaults(spec))


def is_frozen(metrics_file: str | Path, model_file: str | Path) -> bool:
    """Committed and not made here (no model)."""
    return Path(metrics_file).exists() and not Path(model_file).exists()


def input_digests(paths: list[str]) -> dict[str, str | None]:
    """sha256 per path (None for a file that does not exist yet)."""
    return {str(p): file_sha256(Path(p)) if Path(p).is_file() else None for p in paths}


def write_input_record(paths: list[str], out: str | Path) -> None:
    """What a report step read, written after the step succeeded."""
    with atomic_path(out) as tmp:
        Path(tmp).write_text(json.dumps(input_digests(paths), indent=1, sort_keys=True) + "\n")


def record_matches(record: str | Path, paths: list[str]) -> bool:
    """True if `record` lists exactly these inputs with their current contents."""
    try:
        recorded = json.loads(Path(record).read_text())
    except (OSError, ValueError):
        return False
    return recorded == input_digests(paths)


def mark_out_of_date(record: str | Path) -> None:
    """Date a record back to 1970, so that Snakemake's time rule sees every input of its step
    as newer and re-runs the step (the record is one of the step's outputs). One second after
    the epoch, not zero: Snakemake skips the time check when the oldest output's time is 0."""
    if Path(record).exists():
        os.utime(record, (1, 1))


def date_back_restored_models(models: str | Path, results: str | Path) -> list[Path]:
    """Date back the models that `dvc pull` or `dvc checkout` wrote, so that file times do not
    re-run what reads them. Such a model is the run its committed results came from, but a new
    file: by time, Snakemake would re-evaluate it and retrain the generation runs it labels. A
    training job writes its model, then its history.csv, so a model newer than its run's history
    was not written by its training (DVC restored it); it is dated back to 1970, like a committed
    result, and its content, not its time, is what counts. A model that its training job makes
    again keeps its time and re-runs the jobs that read it. `models`, `results`: the folders of one
    kind of run (<dataset>/n<N>/<method>/seed<S>/model.pt, and history.csv beside its results)."""
    restored = []
    for model in sorted(Path(models).glob("*/n*/*/seed*/model.pt")):
        history = Path(results) / model.parent.relative_to(models) / "history.csv"
        if history.is_file() and model.stat().st_mtime > history.stat().st_mtime:
            os.utime(model, (1, 1))
            restored.append(model)
    return restored
