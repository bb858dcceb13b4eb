"""Speed of the fast-path settings: seconds per training step of one run's spec with each
setting alone and all together, against all off (today's arithmetic), on this machine; and
the Inception feature pass over N 32×32 images in images/s. Written as JSON under
results/bench/. Timings need idle cores: run it on nothing else.

    python -m semigan.bench_fast_path --spec '<RunSpec JSON>' --data D --split S --out results/bench/... \
        [--steps 60 --warmup 20] [--inception-n 200]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import torch

from . import provenance
from .atomic import atomic_path
from .training.loop import FAST_PATH_DEFAULTS, RunSpec, Trainer, pick_device, synchronize

# each setting alone (the value that is not the default), then all of them
OPTIONS = {"channels_last": {"channels_last": True}, "compile": {"compile": True},
           "bf16": {"precision": "bf16"}, "no_determinism": {"deterministic": False},
           "weight_norm": {"weight_norm": "weight"}}


def variants() -> dict[str, dict]:
    all_on = {k: v for option in OPTIONS.values() for k, v in option.items()}
    return {"plain": {}, **OPTIONS, "all": all_on}


def step_seconds(spec: RunSpec, data: Path, split: Path, steps: int, warmup: int) -> float:
    """Mean seconds per training step after `warmup` steps (compilation, allocation and
    kernel selection happen there), timed with the device synchronised."""
    trainer = Trainer(spec, data, split, log=lambda m: None)
    trainer.prepare()
    trainer.compile_networks()
    for _ in range(warmup):
        trainer.step_once()  # the training loop's own step
    synchronize(trainer.device)
    t0 = time.perf_counter()
    for _ in range(steps):
        trainer.step_once()
    synchronize(trainer.device)
    return (time.perf_counter() - t0) / steps


def bench_step(spec: RunSpec, data: Path, split: Path, steps: int = 60, warmup: int = 20) -> dict:
    rows = {}
    for name, setting in variants().items():
        train = dataclasses.replace(spec.train, **{**FAST_PATH_DEFAULTS, **setting})
        rows[name] = {"settings": {**FAST_PATH_DEFAULTS, **setting},
                      "s_per_step": step_seconds(dataclasses.replace(spec, train=train), data, split, steps, warmup)}
    base = rows["plain"]["s_per_step"]
    for row in rows.values():
        row["speedup"] = base / row["s_per_step"]
    return rows


def bench_inception(n: int, batch_size: int = 64) -> dict:
    """images/s of the Inception pool3 features (torch-fidelity's inception-v3-compat, in the
    channels-last layout the suite uses) over n random 32×32 RGB images on the chosen device.
    Uses the converted pool3 weights under resources/fidelity_cache (converted on first use)."""
    import torch_fidelity

    from .fidelity.inception import resolve_inception_weights
    from .fidelity.metrics import INCEPTION_CHANNELS_LAST, inception_store

    device = pick_device()
    weights, why = resolve_inception_weights(None, False, inception_store(Path("resources/fidelity_cache/bench")))
    if weights is None:
        return {"computed": False, "reason": "; ".join(why)}
    extractor = torch_fidelity.registry.FEATURE_EXTRACTORS_REGISTRY[INCEPTION_CHANNELS_LAST](
        INCEPTION_CHANNELS_LAST, ["2048"], feature_extractor_weights_path=str(weights.path)).to(device).eval()
    images = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        extractor(images[:batch_size].to(device))  # warm-up
        synchronize(device)
        t0 = time.perf_counter()
        for i in range(0, n, batch_size):
            extractor(images[i:i + batch_size].to(device))
        synchronize(device)
    seconds = time.perf_counter() - t0
    return {"computed": True, "n": n, "batch_size": batch_size, "seconds": seconds, "images_per_second": n / seconds,
            "estimated_minutes_10000": 10000 / (n / seconds) / 60, "weights": weights.record()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m semigan.bench_fast_path", description=__doc__.splitlines()[0])
    p.add_argument("--spec", required=True, help="the run's RunSpec as JSON")
    p.add_argument("--data", required=True)
    p.add_argument("--split", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--inception-n", type=int, default=0, help="also time the Inception features of N images (0: no)")
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    spec = RunSpec.from_dict(json.loads(a.spec))
    result = {"benchmark": f"training step of {spec.name} ({spec.arch}, batch {spec.train.batch_size})",
              "steps": a.steps, "warmup": a.warmup,
              "step": bench_step(spec, Path(a.data), Path(a.split), a.steps, a.warmup),
              "inception": bench_inception(a.inception_n) if a.inception_n else None,
              "provenance": provenance.collect(pick_device())}
    with atomic_path(Path(a.out)) as tmp:
        tmp.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: round(v["speedup"], 2) for k, v in result["step"].items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
