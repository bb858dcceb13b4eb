"""Metric-speed benchmark: how long FID+IS+KID+PR (one torch-fidelity call, domain extractor)
take for N generated images of a trained generation run, written as JSON under results/bench/.

Timed twice: with an empty reference cache (the first evaluation of a dataset also extracts
the reference split's features) and with the cache filled (every later evaluation)."""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import torch

from .. import provenance
from ..atomic import atomic_path
from .metrics import domain_metrics

TARGET_SECONDS = 60.0


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def metric_speed(model_path: Path, data_dir: Path, extractor: Path, n_samples: int, out: Path,
                 threads: int | None = None) -> dict:
    from ..generation.evaluate import evaluation_samples
    from ..generation.train import load_generator

    if threads:
        torch.set_num_threads(threads)
    g, blob = load_generator(Path(model_path))
    (samples, _, reference), t_generate = _timed(lambda: evaluation_samples(g, blob, data_dir, n_samples))
    with tempfile.TemporaryDirectory() as cache:
        name = f"{blob['spec']['dataset']}-test"
        cold, t_cold = _timed(lambda: domain_metrics(samples, reference, name, extractor, Path(cache)))
        warm, t_warm = _timed(lambda: domain_metrics(samples, reference, name, extractor, Path(cache)))
    if cold["fid"] != warm["fid"]:
        raise RuntimeError(f"cached reference features changed the FID ({cold['fid']} vs {warm['fid']})")
    result = {
        "benchmark": f"FID+IS+KID+PR of {n_samples} generated {tuple(samples.shape[1:])} images",
        "run": blob["spec"], "model": str(model_path), "n_samples": n_samples,
        "n_reference": len(reference), "feature_extractor": cold["feature_extractor"],
        "metrics": {k: cold[k] for k in ("fid", "is_mean", "kid_mean", "precision", "recall")},
        "seconds_generate": t_generate,
        "seconds_metrics_cold_cache": t_cold,  # includes the reference split's features
        "seconds_metrics_warm_cache": t_warm,
        "target_seconds": TARGET_SECONDS,
        "meets_target": t_cold <= TARGET_SECONDS,
        "threads": torch.get_num_threads(),
        "provenance": provenance.collect(next(g.parameters()).device),
    }
    with atomic_path(Path(out)) as tmp:
        tmp.write_text(json.dumps(result, indent=2) + "\n")
    return result
