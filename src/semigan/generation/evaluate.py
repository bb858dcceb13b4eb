"""Evaluation of a generation run: samples from the final EMA generator (balanced classes,
fixed z) → domain FID/IS/KID/PR and Inception FID/KID/PR (IS when the weights have logits)
through torch-fidelity against the test split, class-consistency under the domain
classifier, and a sample grid (rows = classes)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torchvision.utils import make_grid

from .. import provenance
from ..atomic import atomic_path
from ..data.store import load_meta, load_images
from ..fidelity.metrics import InceptionPass, class_consistency, domain_metrics, inception_metrics
from ..training.loop import log_to_stderr, pick_device
from .train import GenSpec, balanced_classes, generate, load_generator

SAMPLE_SEED = 12345  # the same z for every run: metrics and grids compare like with like
GRID_SEED = 777


def sample_grid(g, n_classes: int, per_class: int = 10, seed: int = GRID_SEED) -> torch.Tensor:
    """uint8 CHW image: one row per class, the same z in each column (unconditional: rows of
    independent samples)."""
    rows = n_classes
    if g.n_classes:
        classes = torch.arange(rows).repeat_interleave(per_class)
        z_cols = torch.arange(per_class).repeat(rows)  # column j uses z_j in every row
        z = g.sample_z(per_class, generator=torch.Generator().manual_seed(seed))[z_cols]
        with torch.no_grad():
            x = g(z.to(next(g.parameters()).device), classes.to(next(g.parameters()).device))
        images = ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu()
    else:
        images = generate(g, None, rows * per_class, seed)
    return make_grid(images, nrow=per_class, padding=2, pad_value=255)


def save_png(image_chw_uint8: torch.Tensor, path: Path) -> None:
    from PIL import Image

    array = image_chw_uint8.permute(1, 2, 0).numpy()
    img = Image.fromarray(array[..., 0] if array.shape[2] == 1 else array)
    with atomic_path(Path(path)) as tmp:
        img.save(tmp, format="PNG")


def evaluation_samples(g, blob: dict, data_dir: Path, n_samples: int):
    """(samples, requested classes or None, reference test images): what every evaluation of
    a run compares — uint8 NCHW, balanced classes, the fixed SAMPLE_SEED z."""
    test = load_images(Path(data_dir), "test")
    reference = torch.from_numpy(np.ascontiguousarray(test.images.transpose(0, 3, 1, 2)))
    classes = balanced_classes(n_samples, blob["n_classes"]) if g.n_classes else None
    return generate(g, classes, n_samples, SAMPLE_SEED), classes, reference


def evaluate_gan_run(model_path: Path, data_dir: Path, extractor: Path, cache_root: Path,
                     n_samples: int, inception_weights: str | None, allow_download: bool,
                     grid_out: Path, inception: bool = True, log: Callable[[str], None] = log_to_stderr,
                     inception_pass: InceptionPass = InceptionPass()) -> dict:
    """`inception=False`: the profile leaves this dataset out of the Inception metrics (each
    needs a 299×299 Inception forward per image); the result then says so. The seconds each
    part took are recorded (metric_seconds), since on a CPU they can exceed the training's, and
    each part's start and end are logged, so a run's log shows where an hour-long
    evaluation is, as the training loop's does. `inception_pass`: how the Inception features are
    computed (precision, compilation), recorded in the result's `inception.feature_pass`."""
    seconds: dict[str, float] = {}
    device = pick_device()  # one device for every part: generator, extractor, torch-fidelity
    g, blob = load_generator(model_path, device)
    spec = GenSpec.from_dict(blob["spec"])

    def timed(name, fn, detail=""):
        log(f"[{spec.name}] {name}{detail} ...")
        start = time.perf_counter()
        out = fn()
        seconds[name] = time.perf_counter() - start
        log(f"[{spec.name}] {name} done in {seconds[name]:.0f} s")
        return out

    meta = load_meta(data_dir)
    k = blob["n_classes"]
    samples, classes, reference = timed("generate", lambda: evaluation_samples(g, blob, data_dir, n_samples))
    ref_name = f"{spec.dataset}-test"
    domain = timed("domain", lambda: domain_metrics(samples, reference, ref_name, extractor, cache_root, device))
    skip = None if inception else (f"not requested for {spec.dataset} "
                                   "(generation.inception_datasets of this profile leaves it out)")
    inception = timed("inception", lambda: inception_metrics(samples, reference, ref_name, inception_weights,
                                                             cache_root, allow_download, skip_reason=skip,
                                                             device=device, fast_path=inception_pass),
                      "" if skip else f": {len(samples)} samples, and {len(reference)} test images unless"
                                      f" their features are cached under {cache_root}, through a 299×299 Inception")
    if spec.conditional:
        consistency = timed("class_consistency", lambda: class_consistency(extractor, samples, classes,
                                                                           meta["classes"], device))
    else:
        consistency = {"overall": None, "per_class": {}, "n": 0,
                       "reason": "unconditional generator: no class is asked for"}
    save_png(sample_grid(g, k), grid_out)
    return {
        "kind": "generation", "run": spec.name, "profile": spec.profile, "dataset": spec.dataset,
        "n_labels": spec.n_labels, "method": spec.method, "seed": spec.seed,
        "domain": domain, "inception": inception, "class_consistency": consistency,
        "fid_domain": domain["fid"], "class_consistency_pct": (100 * consistency["overall"]
                                                               if consistency["overall"] is not None else None),
        "weights": blob["weights"], "training_set": blob["training_set"],
        "train_seconds": blob["train_seconds"], "steps_per_second": blob["steps_per_second"],
        # wall-clock of this evaluation; a metric whose reference features were not cached yet
        # ("reference_features_cached": false) also paid for the test images' features
        "metric_seconds": sum(seconds.values()), "metric_seconds_by_part": seconds,
        "resumed_from": blob["resumed_from"], "peak_memory": blob.get("peak_memory"),
        "split_sha256": blob["split_sha256"],
        "sample_seed": SAMPLE_SEED, "sample_grid": str(grid_out),
        "dataset_note": meta.get("note", ""), "config": blob["spec"],
        "provenance": {"train": blob["provenance"], "evaluate": provenance.collect(device)},
    }


def write_json(data: dict, out: Path) -> None:
    with atomic_path(Path(out)) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n")
