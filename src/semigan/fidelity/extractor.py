"""The domain feature extractor: a classifier trained once per dataset on its full labelled
training set, used by torch-fidelity in place of Inception for 28×28 / 32×32 data (no
download needed). Features = the penultimate layer (FID, KID, precision/recall); logits
(Inception Score); its predictions give class-consistency of conditional samples."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch_fidelity import register_feature_extractor
from torch_fidelity.feature_extractor_base import FeatureExtractorBase

from ..atomic import atomic_path

FEATURES = ("features", "logits")
FEATURE_DIM = 256


class DomainClassifier(nn.Module):
    """A small VGG-style CNN for uint8 NCHW images of any of the suite's sizes; `width`
    channels in its first block, doubling per block (16 is ample for 28×28 grey data and
    makes FID/IS/KID/PR of 10k images a matter of seconds on a CPU)."""

    def __init__(self, in_channels: int, n_classes: int, width: int = 32):
        super().__init__()
        self.width = width

        def block(c_in, c_out):
            return [nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(),
                    nn.Conv2d(c_out, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(),
                    nn.MaxPool2d(2)]

        w = width
        self.body = nn.Sequential(*block(in_channels, w), *block(w, 2 * w), *block(2 * w, 4 * w),
                                  nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                  nn.Linear(4 * w, FEATURE_DIM), nn.ReLU())
        self.head = nn.Linear(FEATURE_DIM, n_classes)

    @staticmethod
    def prepare(images_uint8: torch.Tensor) -> torch.Tensor:
        """uint8 NCHW → float in [-1, 1]."""
        return images_uint8.float() / 127.5 - 1.0

    def forward(self, images_uint8: torch.Tensor):
        feats = self.body(self.prepare(images_uint8))
        return feats, self.head(feats)


def train_domain_classifier(images: torch.Tensor, labels: torch.Tensor, n_classes: int,
                            epochs: int = 3, batch_size: int = 128, lr: float = 1e-3,
                            seed: int = 0, device: torch.device | str = "cpu",
                            log=print, width: int = 32) -> DomainClassifier:
    """images: uint8 NCHW. Adam with a cosine schedule; light random shifts as augmentation."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = DomainClassifier(images.shape[1], n_classes, width).to(device)
    steps = epochs * (len(images) // batch_size)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    model.train()
    t0, step = time.time(), 0
    for epoch in range(epochs):
        order = torch.randperm(len(images), generator=gen)
        for i in range(len(images) // batch_size):
            idx = order[i * batch_size:(i + 1) * batch_size]
            x = images[idx].to(device)
            dx, dy = torch.randint(-2, 3, (2,), generator=gen).tolist()
            x = torch.roll(x, (dx, dy), (2, 3))
            _, logits = model(x)
            loss = F.cross_entropy(logits, labels[idx].to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            if step % 200 == 0:
                log(f"[extractor] epoch {epoch + 1}/{epochs} step {step}/{steps} loss {loss.item():.4f} "
                    f"({time.time() - t0:.0f} s)")
    return model.eval()


@torch.no_grad()
def predict(model: DomainClassifier, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Class predictions for uint8 NCHW images."""
    device = next(model.parameters()).device
    model.eval()
    return torch.cat([model(images[i:i + batch_size].to(device))[1].argmax(1).cpu()
                      for i in range(0, len(images), batch_size)])


def save_extractor(model: DomainClassifier, path: Path, info: dict) -> str:
    """Writes the weights with their description; returns the weights' sha256 (the cache key)."""
    state = {k: v.cpu() for k, v in model.state_dict().items()}
    digest = weights_digest(state)
    with atomic_path(Path(path)) as tmp:
        torch.save({"state_dict": state, "in_channels": model.body[0].in_channels,
                    "n_classes": model.head.out_features,
                    "width": model.width, "sha256": digest, **info}, tmp)
    return digest


def weights_digest(state: dict) -> str:
    h = hashlib.sha256()
    for k in sorted(state):
        h.update(k.encode())
        h.update(state[k].cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def load_extractor(path: Path, device="cpu") -> tuple[DomainClassifier, dict]:
    blob = torch.load(path, map_location=device, weights_only=True)
    model = DomainClassifier(blob["in_channels"], blob["n_classes"], blob.get("width", 32)).to(device)
    model.load_state_dict(blob["state_dict"])
    return model.eval(), blob


class DomainFeatureExtractor(FeatureExtractorBase):
    """torch-fidelity's view of a DomainClassifier file (`feature_extractor_weights_path`)."""

    def __init__(self, name, features_list, feature_extractor_weights_path=None, **kwargs):
        super().__init__(name, features_list)
        if feature_extractor_weights_path is None:
            raise ValueError(f"feature extractor {name!r} needs feature_extractor_weights_path "
                             "(the domain classifier trained by `semigan train-extractor`)")
        self.model, _ = load_extractor(Path(feature_extractor_weights_path))

    @staticmethod
    def get_provided_features_list():
        return FEATURES

    @staticmethod
    def get_default_feature_layer_for_metric(metric):
        return {"isc": "logits", "fid": "features", "kid": "features", "prc": "features"}[metric]

    @staticmethod
    def can_be_compiled():
        return False

    @staticmethod
    def get_dummy_input_for_compile():
        return torch.zeros(1, 1, 28, 28, dtype=torch.uint8)

    def forward(self, x):
        feats, logits = self.model(x)
        out = {"features": feats, "logits": logits}
        return tuple(out[name] for name in self.features_list)


EXTRACTOR_NAME = "semigan-domain"
register_feature_extractor(EXTRACTOR_NAME, DomainFeatureExtractor)


def recorded_sha256(info_json: Path) -> str | None:
    """The weights hash of an existing extractor record (None when there is none yet): the
    workflow keeps the committed record in place (Snakemake's update() flag) so that a
    retraining is checked against the weights that measured the committed runs."""
    import json

    path = Path(info_json)
    if not path.exists():
        return None
    try:
        digest = json.loads(path.read_text())["sha256"]
    except (ValueError, KeyError, TypeError) as exc:
        from ..errors import UsageError

        raise UsageError(f"{path}: not a domain-extractor record with a 'sha256' ({exc}); restore it with "
                         f"`git checkout -- {path}`, or delete it to start a new record") from exc
    return str(digest)


def _record_cpu(info_json: Path) -> str:
    """The kind of CPU that made a record, as its provenance names it (for error messages)."""
    import json

    try:
        device = json.loads(Path(info_json).read_text())["provenance"]["device"]
        return f"{device.get('cpu_model', '?')}, family/model {device.get('cpu_family_model', '?')}"
    except (OSError, ValueError, KeyError, TypeError):
        return "not recorded"


def build_domain_extractor(data_dir: Path, out: Path, info_json: Path, epochs: int, batch_size: int,
                           lr: float, seed: int = 0, threads: int | None = None,
                           max_images: int | None = None, width: int = 32,
                           expect_sha256: str | None = None, aside_dir: Path | None = None) -> dict:
    """Train the dataset's extractor on every labelled training image (fixed epochs, nothing
    selected on the test set), record its test accuracy, weights hash and provenance.

    expect_sha256: the weights that measured the generation runs already committed (their
    record in results/<profile>/extractors/). Retraining reproduces them only on the same kind
    of CPU; other weights are another feature space, so they are kept aside (in `aside_dir`,
    default beside `out`, never at `out`) and the job fails before any generation run is
    measured with them. The weights at `out` are meant to be committed beside the record, so a
    retraining is only needed where a checkout lacks them."""
    import json

    import numpy as np

    from .. import provenance
    from ..data.store import load_meta, load_images

    from ..training.loop import pick_device

    if threads:
        torch.set_num_threads(threads)
    device = pick_device()  # $SEMIGAN_DEVICE / --device, as every part of the suite
    meta = load_meta(data_dir)
    train, test = load_images(data_dir, "train"), load_images(data_dir, "test")
    nchw = lambda a: torch.from_numpy(np.ascontiguousarray(a.transpose(0, 3, 1, 2)))  # noqa: E731
    t0 = time.time()
    n = len(train.labels) if max_images is None else min(max_images, len(train.labels))
    model = train_domain_classifier(nchw(train.images[:n]), torch.from_numpy(train.labels[:n]).long(),
                                    len(meta["classes"]), epochs, batch_size, lr, seed, device,
                                    width=width)
    seconds = time.time() - t0
    acc = float((predict(model, nchw(test.images)) == torch.from_numpy(test.labels)).float().mean())
    config = {"epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": seed, "n_train_images": n,
              "width": width}
    described = {"dataset": meta["dataset"], "config": config}
    digest = weights_digest({k: v.cpu() for k, v in model.state_dict().items()})
    if expect_sha256 and digest != expect_sha256:
        from ..errors import UsageError

        aside = Path(aside_dir or Path(out).parent) / f"{Path(out).stem}.{digest[:16]}{Path(out).suffix}"
        save_extractor(model, aside, described)
        raise UsageError(
            f"{meta['dataset']}: the retrained domain extractor has sha256 {digest[:16]}…, not the "
            f"{expect_sha256[:16]}… recorded in {info_json}, which measured the committed generation runs, "
            f"and this checkout lacks those weights ({out}). Changed extractor settings, or another kind of CPU "
            f"than the record's ({_record_cpu(info_json)}; docs/reproducibility.md), give other weights, "
            f"and FIDs from them would be in another feature space; they are kept at {aside}. Either retrain on the "
            f"kind of machine that made the record (`git checkout -- {info_json}` restores it) and commit {out}, "
            f"or re-measure every generation run of {meta['dataset']}: delete {info_json} and its generation results")
    save_extractor(model, out, described)
    if recorded_sha256(Path(info_json)) == digest:
        # the same weights again: the record of the run that made them (its time, machine and
        # commit) stays as it is; this machine's provenance goes to the log only
        print(f"{meta['dataset']}: retrained the recorded weights {digest[:16]}… exactly (test accuracy "
              f"{100 * acc:.2f} %, {seconds:.0f} s here); {info_json} kept as it is")
        return json.loads(Path(info_json).read_text())
    info = {"dataset": meta["dataset"], "sha256": digest, "test_accuracy": acc, "train_seconds": seconds,
            "feature_dim": FEATURE_DIM, "config": config, "dataset_note": meta.get("note", ""),
            "provenance": provenance.collect(device)}
    with atomic_path(Path(info_json)) as tmp:
        tmp.write_text(json.dumps(info, indent=2) + "\n")
    return info
