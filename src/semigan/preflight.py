"""The preflight table: what each cell of a profile did in its few steps at full width, and
what its real length would cost at that speed.

Every row comes from a metrics file the preflight's own evaluation wrote (so the evaluation
path ran too) and its history (the per-step time). The estimate is training only, at the
measured s/step on this device; evaluation, data preparation and the metrics of generation
runs come on top. Each row ran its grid block's first seed and stands for all the block's
seeds (`config.stand_in_seeds`), so the table covers every run of the profile's grids
(paper targets, which add cells of their own, are not part of it).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from .atomic import atomic_path
from .config import PREFLIGHT_SUFFIX, plan_key


def seconds_per_step(history: pd.DataFrame) -> float | None:
    """Training seconds per step between the first and the last history row (the first steps
    carry one-off costs: allocation, data-dependent init, kernel selection)."""
    if len(history) < 2:
        return None
    first, last = history.iloc[0], history.iloc[-1]
    return float((last["wall_seconds"] - first["wall_seconds"]) / (last["step"] - first["step"]))


def preflight_row(metrics_path: Path, plan: dict[str, dict]) -> dict:
    """One cell's row; `plan` maps `plan_key(kind, run)` to its steps in the profile itself
    and the seeds it stands for (`preflight_plan` in workflow/rules/common.smk)."""
    m = json.loads(Path(metrics_path).read_text())
    train = m["config"]["train"]
    history = pd.read_csv(Path(metrics_path).with_name("history.csv"))
    s_step = seconds_per_step(history)
    kind = m.get("kind", "classification")
    steps = int(history["step"].iloc[-1])
    entry = plan.get(plan_key(kind, m["run"]), {})
    full, seeds = entry.get("steps"), entry.get("seeds") or [m["seed"]]
    hours = (full * s_step / 3600) if (full and s_step) else None
    memory = m.get("peak_memory") or {}
    result = (f"test error {m['test_error_pct']:.1f} %" if kind == "classification"
              else f"domain FID {m['fid_domain']:.1f}")
    device = m["provenance"]["train"]["device"]
    return {
        "kind": kind, "run": m["run"],
        "arch": m["config"].get("arch") or f"cgan g{train['g_width']}/d{train['d_width']}",
        "batch_size": train["batch_size"], "steps_run": steps,
        "resumed_from": m["resumed_from"], "s_per_step": s_step,
        "peak_memory_mb": memory.get("mb"), "memory_measure": memory.get("what"),
        "result": result, "metrics_file": str(metrics_path), "full_steps": full,
        "estimated_train_hours": hours, "seeds": seeds,
        "estimated_train_hours_all_seeds": None if hours is None else hours * len(seeds),
        "device": device.get("gpu") or f"{device['device']} ({device['cpu']}, {device['torch_threads']} threads)",
    }


def _fmt(value, digits: int) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def profile_total(rows: list[dict]) -> dict:
    """Runs the rows stand for and their estimated training hours, summed."""
    known = [r["estimated_train_hours_all_seeds"] for r in rows if r["estimated_train_hours_all_seeds"] is not None]
    return {"runs": sum(len(r["seeds"]) for r in rows), "estimated_train_hours": sum(known),
            "cells_without_estimate": len(rows) - len(known)}


def preflight_markdown(rows: list[dict], total: dict, profile: str) -> str:
    device = sorted({str(r["device"]) for r in rows})
    lines = [f"# Preflight of the `{profile.removesuffix(PREFLIGHT_SUFFIX)}` profile", "",
             f"Every cell of its grids at its real widths and batch sizes: each row ran the first seed of "
             f"its grid block for {rows[0]['steps_run'] if rows else '?'} steps, interrupted after the first "
             "checkpoint and resumed, then evaluated, and stands for the seeds listed (seeds change random "
             f"streams, not shapes, files or speed). Device: {', '.join(device)}. Datasets the mirror lacks are "
             "synthetic fixtures in the official format (no numbers here mean anything but speed and "
             "memory). `est. train h` = full steps × s/step, training only, per seed and for all seeds.", "",
             "| kind | run | seeds | arch | batch | steps | resumed at | s/step | peak MB | result | full steps "
             "| est. train h | all seeds | metrics file |",
             "| --- | --- | --- | --- | ---: | ---: | --- | ---: | ---: | --- | ---: | ---: | ---: | --- |"]
    for r in rows:
        lines.append(f"| {r['kind']} | {r['run']} | {', '.join(map(str, r['seeds']))} | {r['arch']} | "
                     f"{r['batch_size']} | {r['steps_run']} | "
                     f"{', '.join(map(str, r['resumed_from'])) or 'not resumed'} | {_fmt(r['s_per_step'], 3)} | "
                     f"{_fmt(r['peak_memory_mb'], 0)} | {r['result']} | {_fmt(r['full_steps'], 0)} | "
                     f"{_fmt(r['estimated_train_hours'], 2)} | {_fmt(r['estimated_train_hours_all_seeds'], 1)} | "
                     f"`{r['metrics_file']}` |")
    measures = sorted({r["memory_measure"] for r in rows if r["memory_measure"]})
    lines += ["", f"All {total['runs']} runs of the profile's grids: ≈ {_fmt(total['estimated_train_hours'], 1)} h "
              "of training at these speeds"
              + (f" ({total['cells_without_estimate']} cells without an estimate)" if total["cells_without_estimate"] else "")
              + ".",
              f"Peak memory: {', '.join(measures) or 'not recorded'} of the training process.", ""]
    return "\n".join(lines)


def write_preflight_table(metrics: list[Path], plan: dict[str, dict], profile: str,
                          out_md: Path, out_json: Path) -> list[dict]:
    rows = [preflight_row(p, plan) for p in metrics]
    missing = [r["run"] for r in rows if not r["resumed_from"]]
    if missing:
        raise RuntimeError(f"preflight runs that did not resume from their checkpoint: {missing}")
    total = profile_total(rows)
    with atomic_path(Path(out_json)) as tmp:
        tmp.write_text(json.dumps({"profile": profile, "total": total, "cells": rows}, indent=2) + "\n")
    with atomic_path(Path(out_md)) as tmp:
        tmp.write_text(preflight_markdown(rows, total, profile))
    return rows
