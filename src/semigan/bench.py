"""Benchmark of a method's efficiency: iterations per second and test error against
training wall-clock, written as JSON under results/bench/.

The test error here is measured for the curve only (time-to-accuracy); it is never used to
select a model — the pipeline's reported numbers come from the evaluate rule.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from . import provenance
from .atomic import atomic_path
from .data.store import load_images
from .training.loop import RunSpec, Trainer, accuracy


def run_benchmark(spec: RunSpec, data_dir: Path, split_path: Path, out: Path,
                  checkpoint: Path, threads: int | None = None,
                  target_error_pct: float | None = None, stop_at_target: bool = False) -> dict:
    """stop_at_target: end training at the first evaluation that reaches the target
    (time-to-train, as MLPerf measures it) instead of running the whole schedule. Without a
    target the whole schedule runs and only the curve is recorded."""
    if stop_at_target and target_error_pct is None:
        from .errors import UsageError

        raise UsageError("--stop-at-target needs --target (a test error in %)")
    if threads:
        torch.set_num_threads(threads)
    test = load_images(Path(data_dir), "test")
    trainer = Trainer(spec, Path(data_dir), Path(split_path))
    test_x = torch.from_numpy(test.images).to(trainer.device)
    test_y = torch.from_numpy(test.labels).to(trainer.device)
    curve = []

    def on_eval(tr: Trainer, row: dict) -> None:
        acc_ema, _ = accuracy(tr.ema.model, test_x, test_y, tr.arch)
        acc_raw, _ = accuracy(tr.method.classifier, test_x, test_y, tr.arch)
        curve.append({"step": row["step"], "train_seconds": row["wall_seconds"],
                      "val_error_pct": 100 * (1 - row["val_acc"]),
                      "test_error_pct_ema": 100 * (1 - acc_ema),
                      "test_error_pct_raw": 100 * (1 - acc_raw)})
        return stop_at_target and curve[-1]["test_error_pct_ema"] <= target_error_pct

    t0 = time.perf_counter()
    trainer.run(Path(checkpoint), on_eval=on_eval)
    Path(checkpoint).unlink(missing_ok=True)
    reached = [c for c in curve if target_error_pct is not None and c["test_error_pct_ema"] <= target_error_pct]
    result = {
        "benchmark": f"{spec.method} {spec.dataset}-{spec.n_labels} seed {spec.seed}",
        "spec": spec.to_dict(),
        "iterations_per_second": trainer.step / max(trainer.wall, 1e-9),
        "batch_size": spec.train.batch_size,
        "train_seconds": trainer.wall,
        "total_seconds_with_evaluation": time.perf_counter() - t0,
        "target_test_error_pct": target_error_pct,
        "seconds_to_target": reached[0]["train_seconds"] if reached else None,
        "step_at_target": reached[0]["step"] if reached else None,
        "stopped_at_target": bool(stop_at_target and reached),
        "curve": curve,
        "provenance": provenance.collect(trainer.device),
    }
    with atomic_path(out) as tmp:
        tmp.write_text(json.dumps(result, indent=2) + "\n")
    return result
