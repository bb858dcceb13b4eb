"""Training of the (conditional) GAN of a generation method: hinge loss, one discriminator
and one generator step per iteration, EMA of the generator by half-life, full checkpoints
and exact resume. The evaluated generator is fixed in advance: the final EMA weights."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from .. import provenance
from ..data.store import load_meta, load_images
from ..models.cgan import CondGenerator, ProjectionDiscriminator
from ..splits import read_split
from ..training.ema import EMA
from ..training.loop import (FastPath, RunIdentity, TrainingLoop, _atomic_torch_save, pick_device,
                             require_positive, train_resuming, write_training_options)
from ..training.sampling import IndexStream
from .labels import LABEL_SOURCES, build_training_set



def to_gan_input(images_nhwc_uint8: torch.Tensor) -> torch.Tensor:
    """uint8 NHWC → float NCHW in [-1, 1], the generator's output range."""
    return images_nhwc_uint8.permute(0, 3, 1, 2).float() / 127.5 - 1.0


@dataclass
class GenTrainConfig(FastPath):
    steps: int = 3000
    batch_size: int = 64
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    z_dim: int = 64
    g_width: int = 128
    d_width: int = 64
    ema_halflife: float = 500.0
    ema_rampup: float | None = 0.1
    log_every: int = 100
    checkpoint_every: int = 500

    def __post_init__(self):
        self.check_fast_path("generation.train")
        require_positive(self, ("steps", "batch_size", "z_dim", "g_width", "d_width", "log_every",
                                "checkpoint_every"), "generation.train")


@dataclass
class GenSpec(RunIdentity):
    """Everything that defines one generation run; recorded in every file it writes."""

    profile: str
    dataset: str
    n_labels: int
    seed: int
    method: str
    labels: str  # one of LABEL_SOURCES
    classifier: str | None = None  # classification method whose run labels the unlabelled data
    threshold: float = 0.0
    train: GenTrainConfig = field(default_factory=GenTrainConfig)

    def __post_init__(self):
        if self.labels not in LABEL_SOURCES:
            raise ValueError(f"generation method {self.method!r}: labels={self.labels!r}, expected one of {LABEL_SOURCES}")
        if (self.labels == "pseudo") != (self.classifier is not None):
            raise ValueError(f"generation method {self.method!r}: a classifier is needed exactly when labels='pseudo'")

    @classmethod
    def from_dict(cls, d: dict) -> "GenSpec":
        d = dict(d)
        d["train"] = GenTrainConfig(**d.get("train", {}))
        return cls(**d)

    @property
    def conditional(self) -> bool:
        return self.labels != "none"


def build_networks(spec: GenSpec, image_shape, n_classes: int, device):
    k = n_classes if spec.conditional else None
    cfg = spec.train
    g = CondGenerator(image_shape, k, z_dim=cfg.z_dim, width=cfg.g_width).to(device)
    d = ProjectionDiscriminator(image_shape, k, width=cfg.d_width).to(device)
    return g, d


class GanTrainer(TrainingLoop):
    """A generation run's GAN: hinge loss, one D and one G step per iteration, EMA of the
    generator; its history rows are the log lines (nothing is selected: final EMA weights)."""

    def __init__(self, spec: GenSpec, data_dir: Path, split_path: Path, classifier: Path | None = None,
                 log=None):
        super().__init__(spec, log)
        meta = load_meta(data_dir)
        train = load_images(data_dir, "train")
        split = read_split(split_path)
        images = torch.from_numpy(train.images)
        self.data = build_training_set(spec.labels, split, train.labels, images, classifier, spec.threshold,
                                       self.device)
        self.images = images[torch.from_numpy(self.data.indices)].to(self.device)
        self.labels = (torch.from_numpy(self.data.labels).long().to(self.device)
                       if self.data.labels is not None else None)
        self.n_classes = len(meta["classes"])
        h, w, c = train.images.shape[1:]
        self.image_shape = (c, h, w)
        self.split_sha256 = split.digest()
        torch.manual_seed(spec.seed)
        self.g, self.d = build_networks(spec, self.image_shape, self.n_classes, self.device)
        self.use_network_settings()  # before the EMA copy
        cfg = self.cfg
        self.opt_g = torch.optim.Adam(self.g.parameters(), cfg.lr_g, betas=(cfg.beta1, cfg.beta2))
        self.opt_d = torch.optim.Adam(self.d.parameters(), cfg.lr_d, betas=(cfg.beta1, cfg.beta2))
        self.ema = EMA(self.g, cfg.ema_halflife, cfg.ema_rampup)
        self.stream = IndexStream(torch.arange(len(self.images)), cfg.batch_size, 1_000_003 * spec.seed + 7,
                                  self.device)
        self.log(f"[{spec.name}] training set: {json.dumps(self.data.info)}")

    def _fake_classes(self, n: int) -> torch.Tensor | None:
        """Classes asked of the generator: drawn from the training set's class frequencies."""
        if self.labels is None:
            return None
        return self.labels[torch.randint(len(self.labels), (n,), device=self.device)]

    def train_step(self) -> dict:
        idx = self.stream.next()  # on the run's device
        x = self.as_batch_layout(to_gan_input(self.images[idx]))
        y = self.labels[idx] if self.labels is not None else None
        n = len(x)
        y_fake = self._fake_classes(n)
        with self.forwards():
            with torch.no_grad():
                fake = self.g(self.g.sample_z(n, device=self.device), y_fake)
            # hinge losses in fp32 under bf16 autocast (`.float()` is the identity in fp32)
            loss_d = F.relu(1 - self.d(x, y).float()).mean() + F.relu(1 + self.d(fake, y_fake).float()).mean()
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()

        y_fake = self._fake_classes(n)
        self.d.requires_grad_(False)
        with self.forwards():
            loss_g = -self.d(self.g(self.g.sample_z(n, device=self.device), y_fake), y_fake).float().mean()
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        self.d.requires_grad_(True)
        return {"loss_d": loss_d.detach(), "loss_g": loss_g.detach()}

    def ema_source(self) -> torch.nn.Module:
        return self.g

    def networks(self) -> list[torch.nn.Module]:
        return [self.g, self.d]

    def own_state(self) -> dict:
        return {"g": self.g.state_dict(), "d": self.d.state_dict(), "opt_g": self.opt_g.state_dict(),
                "opt_d": self.opt_d.state_dict(), "stream": self.stream.state_dict()}

    def load_own_state(self, state: dict) -> None:
        for name in ("g", "d", "opt_g", "opt_d", "stream"):
            getattr(self, name).load_state_dict(state[name])

    def result(self) -> dict:
        return {"spec": self.spec.to_dict(), "generator": {k: v.cpu() for k, v in self.ema.state_dict().items()},
                "weights": "final EMA", "n_classes": self.n_classes, "image_shape": self.image_shape,
                "training_set": self.data.info, "history": self.history, "split_sha256": self.split_sha256,
                "train_seconds": self.wall, "steps_per_second": self.step / max(self.wall, 1e-9),
                "resumed_from": self.resumed_from}


def train_gan_run(spec: GenSpec, data_dir: Path, split_path: Path, model_out: Path, checkpoint: Path,
                  history_csv: Path, classifier: Path | None = None, threads: int | None = None,
                  interrupt: bool = False) -> dict:
    if threads:
        torch.set_num_threads(threads)
    started = provenance.collect(pick_device())
    write_training_options(spec, started, Path(history_csv).with_name("training_options.json"))
    trainer, result = train_resuming(lambda: GanTrainer(spec, Path(data_dir), Path(split_path), classifier),
                                     Path(checkpoint), interrupt)
    result["provenance"] = started
    _atomic_torch_save(result, Path(model_out))
    import pandas as pd

    Path(history_csv).parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(result["history"]).to_csv(history_csv, index=False, float_format="%.6g")
    Path(checkpoint).unlink(missing_ok=True)
    trainer.log(f"[{spec.name}] done in {result['train_seconds']:.0f} s")
    return result


def load_generator(model_path: Path, device=None):
    """The evaluated (final EMA) generator of a generation run, and the run's model file."""
    device = device or pick_device()
    blob = torch.load(model_path, map_location=device, weights_only=True)
    spec = GenSpec.from_dict(blob["spec"])
    g, _ = build_networks(spec, tuple(blob["image_shape"]), blob["n_classes"], device)
    g.load_state_dict(blob["generator"])
    return g.eval(), blob


@torch.no_grad()
def generate(g: CondGenerator, classes: torch.Tensor | None, n: int, seed: int, batch_size: int = 500) -> torch.Tensor:
    """n samples as uint8 NCHW; `classes` (length n) for a conditional generator. Fixed seed →
    the same z for every run of a dataset, so grids are comparable."""
    device = next(g.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    z = g.sample_z(n, generator=gen).to(device)
    out = []
    for i in range(0, n, batch_size):
        y = classes[i:i + batch_size].to(device) if (classes is not None and g.n_classes) else None
        x = g(z[i:i + batch_size], y)
        out.append(((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu())
    return torch.cat(out)


def balanced_classes(n: int, n_classes: int) -> torch.Tensor:
    return torch.arange(n) % n_classes


