"""The GPU check: every cell of the paper profile's preflight trained for a few steps on the
chosen device, once with the fast path off (fp32, NCHW, eager, deterministic) and once as
the profile sets it, each interrupted after its checkpoint and resumed (resume on the
device). It writes the device's name, seconds per step and peak memory per cell and mode to
<out>/gpu_check.{json,md}. workflow/scripts/gpu_check.sh runs it in one call.

Speed and memory are the only numbers worth reading: the datasets the mirror lacks are
fixtures (as in the preflight), and a few steps say nothing about accuracy."""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import pandas as pd
import torch

from .atomic import atomic_path
from .config import (PREFLIGHT_ROOT, gen_spec, generation_cells, grid_cells, load_params, n_val_of, resolve,
                     run_spec)
from .training.loop import FAST_PATH_DEFAULTS, _atomic_torch_save, log_to_stderr, pick_device, train_resuming

MODES = ("plain", "fast")  # fast path off; as the profile sets it


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} ({device})"
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def seconds_per_step(history: list[dict]) -> float | None:
    """Between the first and the last history row: the first steps carry one-off costs
    (allocation, compilation, kernel selection)."""
    from .preflight import seconds_per_step as between_rows

    return between_rows(pd.DataFrame(history)) if history else None


def prepare_data(effective: dict, dataset: str) -> Path:
    """The preflight's cache of a dataset: from the mirror, else its official-format fixture."""
    from .data.fetch import mirror_has
    from .data.fixtures import WRITERS
    from .data.store import prepare_dataset

    root = Path(effective["data"]["root"])
    out = root / dataset
    if not (out / "meta.json").exists():
        mirror = effective["data"].get("mirror")
        fixture = dataset in WRITERS and not mirror_has(dataset, mirror)
        prepare_dataset(dataset, out, Path(effective["data"]["downloads"]), None if fixture else mirror,
                        fixture=fixture)
    return out


def split_file(effective: dict, data: Path, dataset: str, n_labels: int, seed: int) -> Path:
    from .data.store import load_images
    from .splits import make_split, write_split

    path = Path(effective["data"]["splits"]) / f"{dataset}-n{n_labels}-seed{seed}-gpucheck.npz"
    if not path.exists():
        labels = load_images(data, "train").labels
        write_split(make_split(labels, n_labels, n_val_of(effective, dataset), seed), path, {})
    return path


def with_mode(spec: dict, mode: str) -> dict:
    return spec if mode == "fast" else {**spec, "train": {**spec["train"], **FAST_PATH_DEFAULTS}}


def _fresh_peak(device: torch.device) -> float:
    """The clock, after clearing the GPU's peak-memory counter: each cell's own peak."""
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    return time.perf_counter()


def _row(kind, run, mode, spec, result, device, seconds) -> dict:
    memory = result.get("peak_memory") or {}
    fast = {k: spec["train"][k] for k in FAST_PATH_DEFAULTS}
    return {"kind": kind, "run": run, "mode": mode, "fast_path": fast, "device": device_name(device),
            "steps": spec["train"]["steps"], "resumed_from": result["resumed_from"],
            "s_per_step": seconds_per_step(result["history"]), "peak_memory_mb": memory.get("mb"),
            "memory_measure": memory.get("what"), "wall_seconds": round(seconds, 1)}


def run_check(params: Path, steps: int, out: Path, only: list[str] | None = None, modes=MODES,
              log=log_to_stderr) -> list[dict]:
    """Every cell (or those whose run name starts with one of `only`) in every mode."""
    from .generation.train import GanTrainer, GenSpec
    from .training.loop import RunSpec, Trainer

    config = load_params(params, profile="paper", preflight=steps)
    effective = resolve(config)
    device = pick_device()
    work = Path(PREFLIGHT_ROOT) / "gpu_check"
    rows, classifiers = [], {}
    wanted = (lambda run: any(run.startswith(p) for p in only)) if only else (lambda run: True)

    def check(make_trainer, ckpt: Path, kind: str, run: str, mode: str, spec: dict) -> dict:
        """One cell from scratch, interrupted after its checkpoint and resumed; its row logged."""
        ckpt.parent.mkdir(parents=True, exist_ok=True)
        ckpt.unlink(missing_ok=True)
        t0 = _fresh_peak(device)
        _, result = train_resuming(make_trainer, ckpt, interrupt=True)
        rows.append(_row(kind, run, mode, spec, result, device, time.perf_counter() - t0))
        log(f"[gpu-check] {json.dumps(rows[-1])}")
        return result

    def checked_cells(cells, spec_of, mode: str):
        """(cell, its spec in `mode`, run name, data, split) of each cell the check covers."""
        for cell in cells:
            run = f"{cell.dataset}/n{cell.n_labels}/{cell.method}/seed{cell.seed}"
            if wanted(run):
                spec = with_mode(spec_of(effective, cell.dataset, cell.n_labels, cell.method, cell.seed), mode)
                data = prepare_data(effective, cell.dataset)
                yield cell, spec, run, data, split_file(effective, data, cell.dataset, cell.n_labels, cell.seed)

    for mode in modes:
        for cell, spec, run, data, split in checked_cells(grid_cells(effective), run_spec, mode):
            ckpt = work / mode / run / "checkpoint.pt"
            result = check(lambda: Trainer(RunSpec.from_dict(spec), data, split), ckpt, "classification", run, mode,
                           spec)
            model = ckpt.with_name("model.pt")  # the labeller of this split's pseudo-labelled GANs
            _atomic_torch_save(result, model)
            classifiers[(mode, cell.dataset, cell.n_labels, cell.method, cell.seed)] = model
        for cell, spec, run, data, split in checked_cells(generation_cells(effective), gen_spec, mode):
            labeller = None
            if spec.get("classifier"):
                labeller = classifiers.get((mode, cell.dataset, cell.n_labels, spec["classifier"], cell.seed))
                if labeller is None:
                    log(f"[gpu-check] {run}: no {spec['classifier']} run of this split in this check; skipped")
                    continue
            check(lambda: GanTrainer(GenSpec.from_dict(spec), data, split, labeller),
                  work / mode / "generation" / run / "checkpoint.pt", "generation", run, mode, spec)
    write_check(rows, out, steps)
    return rows


def _fmt(value, digits):
    return "–" if value is None else f"{value:,.{digits}f}"


def write_check(rows: list[dict], out: Path, steps: int) -> None:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "gpu_check.json") as tmp:
        tmp.write_text(json.dumps({"steps": steps, "cells": rows}, indent=2) + "\n")
    lines = ["# GPU check of the paper profile", "",
             f"Every cell of the paper preflight, {steps} steps, interrupted after its checkpoint and resumed, "
             "with the fast path off (`plain`) and as the profile sets it (`fast`). Speed and memory only: "
             "datasets the mirror lacks are fixtures. s/step between the first and last history rows.", "",
             "| kind | run | mode | device | s/step | peak MB | memory measure | resumed at | wall s |",
             "| --- | --- | --- | --- | ---: | ---: | --- | --- | ---: |"]
    for r in rows:
        lines.append(f"| {r['kind']} | {r['run']} | {r['mode']} | {r['device']} | {_fmt(r['s_per_step'], 4)} | "
                     f"{_fmt(r['peak_memory_mb'], 0)} | {r['memory_measure']} | "
                     f"{', '.join(map(str, r['resumed_from'])) or 'not resumed'} | {r['wall_seconds']} |")
    with atomic_path(out / "gpu_check.md") as tmp:
        tmp.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m semigan.gpu_check", description=__doc__.splitlines()[0])
    p.add_argument("--params", default="params.yaml")
    p.add_argument("--steps", type=int, default=20, help="steps per cell (checkpoint and resume halfway)")
    p.add_argument("--out", default="results/paper-preflight")
    p.add_argument("--only", nargs="*", default=None, help="run-name prefixes, e.g. mnist/n100/supervised")
    p.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    a = p.parse_args(argv)
    rows = run_check(Path(a.params), a.steps, Path(a.out), a.only, a.modes)
    missing = [r["run"] for r in rows if not r["resumed_from"]]
    if missing:
        print(f"gpu check: runs that did not resume: {missing}", file=sys.stderr)
        return 1
    print(f"{a.out}/gpu_check.md: {len(rows)} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
