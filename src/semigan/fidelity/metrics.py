"""Image-quality metrics of generated samples, all computed by torch-fidelity: FID, IS, KID
and precision/recall with the domain extractor, and the standard Inception FID/IS when its
weights can be had. Every result names its feature extractor, sample count and reference
split; a metric that cannot be computed says so and why, never a different number under
the same name."""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch_fidelity
from torch.utils.data import Dataset

from .extractor import EXTRACTOR_NAME, load_extractor, predict

INCEPTION = "inception-v3-compat"


class UInt8Images(Dataset):
    """uint8 NCHW tensor → the per-item uint8 CHW tensors torch-fidelity reads."""

    def __init__(self, images: torch.Tensor):
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise ValueError(f"expected uint8 images of shape N×C×H×W, got {images.dtype} {tuple(images.shape)}")
        self.images = images

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.images[i]


def _fidelity(samples: torch.Tensor, reference: torch.Tensor, reference_key: str, cache_root: Path,
              **kwargs) -> dict:
    cuda = torch.cuda.is_available()
    out = torch_fidelity.calculate_metrics(
        input1=UInt8Images(samples), input2=UInt8Images(reference),
        input2_cache_name=reference_key, cache=True, cache_root=str(cache_root),
        isc=True, fid=True, kid=True, prc=True, cuda=cuda, verbose=False, save_cpu_ram=True,
        kid_subset_size=min(1000, len(samples), len(reference)), **kwargs)
    return {
        "fid": out["frechet_inception_distance"],
        "is_mean": out["inception_score_mean"], "is_std": out["inception_score_std"],
        "kid_mean": out["kernel_inception_distance_mean"], "kid_std": out["kernel_inception_distance_std"],
        "precision": out["precision"], "recall": out["recall"],
    }


def domain_metrics(samples: torch.Tensor, reference: torch.Tensor, reference_name: str,
                   extractor_path: Path, cache_root: Path) -> dict:
    """FID/IS/KID/PR of uint8 NCHW samples against a reference split, in the domain
    classifier's feature space. The reference features are cached under a key that includes
    the extractor's weights hash (torch-fidelity's own key would not)."""
    _, blob = load_extractor(extractor_path)
    key = f"{reference_name}-{blob['sha256'][:16]}-n{len(reference)}"
    values = _fidelity(samples, reference, key, cache_root, feature_extractor=EXTRACTOR_NAME,
                       feature_extractor_weights_path=str(extractor_path))
    return {**values, "feature_extractor": f"domain classifier {blob['sha256'][:16]} ({blob.get('dataset', '?')})",
            "n_samples": len(samples), "reference": reference_name, "n_reference": len(reference),
            "computed": True}


def inception_metrics(samples: torch.Tensor, reference: torch.Tensor, reference_name: str,
                      weights_path: str | None, cache_root: Path, allow_download: bool) -> dict:
    """Standard Inception FID/IS (torch-fidelity's inception-v3-compat). Computed from
    `weights_path`, or downloaded when allowed; otherwise {"computed": False, "reason": ...}."""
    base = {"feature_extractor": INCEPTION, "n_samples": len(samples), "reference": reference_name,
            "n_reference": len(reference)}
    if weights_path is not None and not Path(weights_path).is_file():
        return {**base, "computed": False,
                "reason": f"inception weights file {weights_path!r} does not exist"}
    if weights_path is None and not allow_download:
        return {**base, "computed": False,
                "reason": "no inception weights path given and downloads are disabled "
                          "(set generation.inception_weights to torch-fidelity's pt_inception-2015-12-05 file)"}
    rgb = samples.expand(-1, 3, -1, -1) if samples.shape[1] == 1 else samples
    ref_rgb = reference.expand(-1, 3, -1, -1) if reference.shape[1] == 1 else reference
    tag = "download" if weights_path is None else Path(weights_path).name
    try:
        values = _fidelity(rgb.contiguous(), ref_rgb.contiguous(), f"{reference_name}-{INCEPTION}-{tag}-n{len(reference)}",
                           cache_root, feature_extractor=INCEPTION, feature_extractor_weights_path=weights_path)
    except (OSError, RuntimeError, ValueError) as exc:  # e.g. download refused offline
        return {**base, "computed": False, "reason": f"inception weights unavailable: {exc}"[:500]}
    return {**base, **values, "computed": True}


def class_consistency(extractor_path: Path, images: torch.Tensor, requested: torch.Tensor,
                      class_names: list[str]) -> dict:
    """Share of images the domain classifier assigns to the class each was generated for."""
    model, _ = load_extractor(extractor_path)
    pred = predict(model, images)
    hit = (pred == requested).float()
    per_class = {name: float(hit[requested == k].mean()) for k, name in enumerate(class_names)
                 if (requested == k).any()}
    return {"overall": float(hit.mean()), "per_class": per_class, "n": int(len(images))}


def default_cache_root() -> Path:
    return Path(os.environ.get("SEMIGAN_FIDELITY_CACHE", "resources/fidelity_cache"))
