"""Metric-speed benchmark: how long FID+IS+KID+PR (one torch-fidelity call, domain extractor)
take for N generated images of a trained generation run, written as JSON under results/bench/.

Timed twice: with an empty reference cache (the first evaluation of a dataset also extracts
the reference split's features) and with the cache filled (every later evaluation).

The Inception entry (FID/KID/PR with torch-fidelity's inception-v3-compat, IS when the weights
have logits) is timed the same way on the first `inception_n` samples and reference images:
a 299×299 Inception forward costs ~5.7 GFLOP per image, so 10k + 10k images are too slow to
time on a CPU. The cold − warm difference is `inception_n` reference forwards, which gives
images/s, and the warm time less `inception_n` forwards the fixed cost (FID's 2048×2048
eigenvalues, KID, PR), from which the time for 10k samples + 10k reference images is estimated."""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import torch

from .. import provenance
from ..atomic import atomic_path
from .inception import resolve_inception_weights
from .metrics import domain_metrics, inception_metrics, inception_store

TARGET_SECONDS = 60.0
FULL_SIZE = 10000  # samples and reference images of a real evaluation (CIFAR-10 / MNIST test split)


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def metric_speed(model_path: Path, data_dir: Path, extractor: Path, n_samples: int, out: Path,
                 threads: int | None = None, inception_n: int = 0, inception_weights: str | None = None,
                 allow_download: bool = False) -> dict:
    from ..generation.evaluate import evaluation_samples
    from ..generation.train import load_generator

    if threads:
        torch.set_num_threads(threads)
    load_before = os.getloadavg()
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
    }
    if inception_n:
        result["inception"] = inception_speed(samples[:inception_n], reference[:inception_n], name,
                                              inception_weights, allow_download)
    result["load_average_1min"] = {"before": load_before[0], "after": os.getloadavg()[0],
                                   "cpus": os.cpu_count(),
                                   "note": "other processes on the machine share the cores when this exceeds the "
                                           "benchmark's threads; rates are then lower than on an idle machine"}
    result["provenance"] = provenance.collect(next(g.parameters()).device)
    with atomic_path(Path(out)) as tmp:
        tmp.write_text(json.dumps(result, indent=2) + "\n")
    return result


def inception_speed(samples: torch.Tensor, reference: torch.Tensor, name: str, weights: str | None,
                    allow_download: bool) -> dict:
    """Cold and warm Inception metrics of len(samples) samples against as many reference
    images, the Inception rate derived from them and the estimate for 10k + 10k images."""
    if len(samples) != len(reference):
        raise ValueError(f"inception_n must not exceed the {len(reference)} reference images; "
                         f"got {len(samples)} samples")
    n = len(samples)
    with tempfile.TemporaryDirectory() as cache:
        resolve_inception_weights(weights, allow_download, inception_store(Path(cache)))  # converts them, untimed
        cold, t_cold = _timed(lambda: inception_metrics(samples, reference, name, weights, Path(cache), allow_download))
        if not cold["computed"]:
            return {"computed": False, "reason": cold["reason"], "n": n}
        warm, t_warm = _timed(lambda: inception_metrics(samples, reference, name, weights, Path(cache), allow_download))
    if cold["fid"] != warm["fid"]:
        raise RuntimeError(f"cached reference features changed the Inception FID ({cold['fid']} vs {warm['fid']})")
    return {
        "computed": True, "n_samples": n, "n_reference": n, "weights": cold["weights"],
        "metrics": {k: cold[k] for k in ("fid", "is_mean", "kid_mean", "precision", "recall")},
        "inception_score": cold["inception_score"],
        "seconds_cold_cache": t_cold, "seconds_warm_cache": t_warm,
        **inception_rate(n, t_cold, t_warm),
    }


def inception_rate(n: int, t_cold: float, t_warm: float) -> dict:
    """Images/s from the n reference forwards that only the cold run makes, the fixed cost
    (FID's eigenvalues, KID, PR at this n; they grow with n, so the estimate is a lower
    bound) and the expected seconds of a full evaluation. None when the timings are too
    noisy to separate (cold not slower than warm)."""
    keys = ("images_per_second", "seconds_fixed", f"expected_seconds_{FULL_SIZE}_samples_plus_{FULL_SIZE}_reference",
            f"expected_seconds_{FULL_SIZE}_samples_cached_reference")
    if t_cold <= t_warm:
        return dict.fromkeys(keys)
    rate = n / (t_cold - t_warm)
    fixed = max(t_warm - n / rate, 0.0)
    return dict(zip(keys, (rate, fixed, 2 * FULL_SIZE / rate + fixed, FULL_SIZE / rate + fixed)))
