"""Speed of the fast-path settings: seconds per training step of one run's spec with each
setting alone and all together, against all off (today's arithmetic), on this machine; and
the Inception feature pass over N 32×32 images in images/s. Written as JSON under
results/bench/. Timings need idle cores: run it on nothing else.

    python -m semigan.bench_fast_path --spec '<RunSpec JSON>' --data D --split S --out results/bench/... \
        [--steps 60 --warmup 20] [--inception-n 200 [--inception-data resources/data/cifar10_jpeg]]
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
    kernel selection happen there), timed with the device synchronised. torch.compile's cache
    starts empty, as in a training job's own process: graphs compiled for the variants before
    (same forward code, other settings) would otherwise count against its recompilation limit,
    past which a network runs eagerly."""
    torch._dynamo.reset()
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


def profile_fast_path(spec: RunSpec, profile: str, params: Path = Path("params.yaml")) -> dict:
    """The fast-path settings a profile gives this run's dataset and method (e.g. `paper`'s)."""
    from .config import load_params, resolve, run_spec

    train = run_spec(resolve(load_params(params, profile=profile)), spec.dataset, spec.n_labels, spec.method,
                     spec.seed)["train"]
    return {k: train[k] for k in FAST_PATH_DEFAULTS}


def bench_step(spec: RunSpec, data: Path, split: Path, steps: int = 60, warmup: int = 20,
               extra: dict[str, dict] | None = None) -> dict:
    """`extra`: further named variants, e.g. a profile's settings (`--profile-variant paper`)."""
    rows = {}
    for name, setting in {**variants(), **(extra or {})}.items():
        train = dataclasses.replace(spec.train, **{**FAST_PATH_DEFAULTS, **setting})
        rows[name] = {"settings": {**FAST_PATH_DEFAULTS, **setting},
                      "s_per_step": step_seconds(dataclasses.replace(spec, train=train), data, split, steps, warmup)}
    base = rows["plain"]["s_per_step"]
    for row in rows.values():
        row["speedup"] = round(base / row["s_per_step"], 2)  # what the timing noise leaves meaningful
    return rows


INCEPTION_VARIANTS = {"plain": {}, "compile": {"compile": True}, "bf16": {"precision": "bf16"},
                      "all": {"precision": "bf16", "compile": True}}


def inception_images(n: int, data: Path | None) -> tuple[torch.Tensor, str]:
    """n uint8 32×32 RGB images to time the feature pass on: the first n test images of a
    prepared dataset, the second half blurred (2× down- and up-sampled, as a generator's
    samples lack detail), so that FID between the halves is a realistic real-vs-generated
    size; random images without `data`."""
    if data is None:
        return (torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)),
                "uniform random images")
    from .data.store import load_images

    test = load_images(Path(data), "test")
    if len(test.images) < n or test.images.shape[1:] != (32, 32, 3):
        raise ValueError(f"--inception-data {data}: need ≥ {n} 32×32 RGB test images, "
                         f"got {len(test.images)} of shape {test.images.shape[1:]}")
    images = torch.from_numpy(test.images[:n]).permute(0, 3, 1, 2).contiguous()
    half = n // 2
    blurred = torch.nn.functional.interpolate(images[half:].float(), scale_factor=0.5, mode="area")
    images[half:] = torch.nn.functional.interpolate(blurred, size=(32, 32), mode="bilinear").round().to(torch.uint8)
    return images, f"the first {half} test images of {data} and the next {n - half} blurred"


def bench_inception(n: int, batch_size: int = 64, data: Path | None = None) -> dict:
    """images/s of the Inception pool3 features (torch-fidelity's inception-v3-compat, in the
    channels-last layout the suite uses) over n 32×32 RGB images on the chosen device, with
    each Inception fast-path setting (fidelity.metrics.InceptionPass) alone and together, as
    evaluate-gan computes them. For each: the largest feature deviation from fp32 (relative
    to the features' scale) and, with real images, FID between the two halves of the images
    (real vs blurred) and its change from fp32's. Compilation happens in an untimed warm-up
    batch; its seconds are recorded apart. Uses the converted pool3 weights under
    resources/fidelity_cache (converted on first use)."""
    from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric

    from .fidelity.inception import resolve_inception_weights
    from .fidelity.metrics import INCEPTION_CHANNELS_LAST, ChannelsLastInceptionV3, inception_store

    device = pick_device()
    weights, why = resolve_inception_weights(None, False, inception_store(Path("resources/fidelity_cache/bench")))
    if weights is None:
        return {"computed": False, "reason": "; ".join(why)}
    images, what = inception_images(n, data)
    rows, reference = {}, None
    for name, setting in INCEPTION_VARIANTS.items():
        extractor = ChannelsLastInceptionV3(
            INCEPTION_CHANNELS_LAST, ["2048"], feature_extractor_weights_path=str(weights.path),
            **{f"inception_{k}": v for k, v in setting.items()}).to(device).eval()
        with torch.no_grad():
            t0 = time.perf_counter()
            extractor(images[:batch_size].to(device))  # warm-up: compilation, kernel selection
            synchronize(device)
            warmup = time.perf_counter() - t0
            t0 = time.perf_counter()
            features = torch.cat([extractor(images[i:i + batch_size].to(device))[0].cpu()
                                  for i in range(0, n, batch_size)])
            synchronize(device)
        seconds = time.perf_counter() - t0
        half = n // 2
        fid = fid_statistics_to_metric(fid_features_to_statistics(features[:half]),
                                       fid_features_to_statistics(features[half:]), False)["frechet_inception_distance"]
        reference = features if reference is None else reference
        # derived figures rounded to what the timing noise leaves meaningful (docs quote them)
        rows[name] = {"settings": extractor.fast_path.record(), "seconds": seconds, "warmup_seconds": warmup,
                      "images_per_second": round(n / seconds, 1),
                      "estimated_minutes_10000": round(10000 / (n / seconds) / 60, 1),
                      "max_feature_deviation": float(f"{(features - reference).abs().max() / reference.abs().max():.2g}"),
                      "fid_halves": round(float(fid), 2)}
    for row in rows.values():
        row["speedup"] = round(rows["plain"]["seconds"] / row["seconds"], 2)
        row["fid_change"] = round(row["fid_halves"] - rows["plain"]["fid_halves"], 2)
    return {"computed": True, "n": n, "batch_size": batch_size, "images": what, "variants": rows,
            "weights": weights.record()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m semigan.bench_fast_path", description=__doc__.splitlines()[0])
    p.add_argument("--spec", default=None, help="the run's RunSpec as JSON (without it: no training-step timing)")
    p.add_argument("--data", default=None)
    p.add_argument("--split", default=None)
    p.add_argument("--out", required=True)
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--profile-variant", action="append", default=[],
                   help="also time the fast-path settings this params.yaml profile gives the run (e.g. paper)")
    p.add_argument("--inception-n", type=int, default=0, help="also time the Inception features of N images (0: no)")
    p.add_argument("--inception-data", default=None,
                   help="prepared 32×32 RGB dataset whose test images the Inception pass reads (default: random images)")
    a = p.parse_args(argv)
    if a.spec is None and not a.inception_n:
        p.error("nothing to time: give --spec (with --data and --split), --inception-n, or both")
    if a.spec is not None and (a.data is None or a.split is None):
        p.error("--spec needs --data and --split")
    if a.threads:
        torch.set_num_threads(a.threads)
    result, speedups = {}, {}
    if a.spec is not None:
        spec = RunSpec.from_dict(json.loads(a.spec))
        result.update(benchmark=f"training step of {spec.name} ({spec.arch}, batch {spec.train.batch_size})",
                      steps=a.steps, warmup=a.warmup, step=bench_step(spec, Path(a.data), Path(a.split), a.steps, a.warmup,
                                                {f"{p}_profile": profile_fast_path(spec, p) for p in a.profile_variant}))
        speedups["step"] = {k: round(v["speedup"], 2) for k, v in result["step"].items()}
    if a.inception_n:
        result["inception"] = bench_inception(a.inception_n, data=Path(a.inception_data) if a.inception_data else None)
        if result["inception"]["computed"]:
            speedups["inception"] = {k: round(v["speedup"], 2) for k, v in result["inception"]["variants"].items()}
    result["provenance"] = provenance.collect(pick_device())
    with atomic_path(Path(a.out)) as tmp:
        tmp.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(speedups))
    return 0

if __name__ == "__main__":
    sys.exit(main())
