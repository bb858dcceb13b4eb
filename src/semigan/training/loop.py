"""The training loop every method shares: in-memory data, seeded minibatch streams, EMA of
the classifier, periodic validation (the only input to model selection), periodic full
checkpoints and automatic resume from them."""

from __future__ import annotations

import copy
import csv
import dataclasses
import gc
import json
import os
import resource
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .. import provenance
from ..atomic import atomic_path
from ..divergence import check_finite
from ..data.store import load_meta, load_images
from ..methods import Batch, MethodContext, build_method
from ..methods.common import autocast
from ..models import get_architecture, to_model_input
from ..models.layers import WEIGHT_NORMS, set_weight_norm
from ..splits import read_split, small_validation
from .ema import EMA
from .sampling import IndexStream

SELECTIONS = ("best_val", "final")
PRECISIONS = ("fp32", "bf16")


@dataclass(kw_only=True)
class FastPath:
    """Speed settings of a training run (on a GPU above all), each recorded in the run's
    settings. All off is the committed cpu runs' arithmetic, bit for bit.
      channels_last  networks and image batches in channels-last memory layout
      compile        the networks through torch.compile (after data-dependent init)
      precision      fp32, or bf16 autocast of the training step's forward passes (losses,
                     logsumexp and feature means stay fp32; backward passes and optimiser
                     steps run outside autocast; validation and evaluation run in fp32)
      deterministic  on a GPU, cuDNN's deterministic kernels and torch's deterministic
                     algorithms; off: cuDNN autotuning (cudnn.benchmark), faster, not
                     bitwise repeatable. No effect on the CPU.
      weight_norm    output: weight-normed layers scale their output (the committed runs'
                     arithmetic); weight: they normalise the weight once per forward (the
                     same function, other float rounding). No effect on networks without
                     weight-normed layers (the generation GANs)."""

    channels_last: bool = False
    compile: bool = False
    precision: str = "fp32"
    deterministic: bool = True
    weight_norm: str = "output"

    def check_fast_path(self, where: str) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(f"{where}.precision={self.precision!r}: expected one of {PRECISIONS}")
        if self.weight_norm not in WEIGHT_NORMS:
            raise ValueError(f"{where}.weight_norm={self.weight_norm!r}: expected one of {WEIGHT_NORMS}")
        for name in ("channels_last", "compile", "deterministic"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{where}.{name}={getattr(self, name)!r}: expected true or false")


FAST_PATH_DEFAULTS = dataclasses.asdict(FastPath())


def with_fast_path_defaults(spec: dict) -> dict:
    """A recorded run description with the fast-path settings it ran with filled in: a run
    recorded before these settings existed ran with every one at its default (off), so its
    description compares equal to today's for the same run (committed results stay current,
    checkpoints resume)."""
    if not isinstance(spec.get("train"), dict):
        return spec
    return {**spec, "train": {**FAST_PATH_DEFAULTS, **spec["train"]}}


@dataclass
class TrainConfig(FastPath):
    steps: int
    batch_size: int = 100
    eval_every: int = 500
    checkpoint_every: int = 1000
    log_every: int = 100
    ema_halflife: float = 1000.0
    ema_rampup: float | None = 0.1
    selection: str = "best_val"
    init_size: int = 500

    def __post_init__(self):
        self.check_fast_path("train")
        if self.selection not in SELECTIONS:
            raise ValueError(f"train.selection={self.selection!r}: expected one of {SELECTIONS}")
        require_positive(self, ("steps", "batch_size", "eval_every", "checkpoint_every", "log_every",
                                "init_size"), "train")


def require_positive(config, names, where: str) -> None:
    """Each named setting must be a positive integer; the error names the key."""
    for name in names:
        if getattr(config, name) <= 0:
            raise ValueError(f"{where}.{name}={getattr(config, name)}: expected a positive integer")


class StepStats:
    """Per-step scalars summed on the device (read only when logged), the log line with rate
    and ETA, and the means handed to the history."""

    def __init__(self, step: int):
        self.sums: dict[str, torch.Tensor] = {}
        self.count = 0
        self.t_last, self.step_last = time.perf_counter(), step

    def add(self, stats: dict) -> None:
        for k, v in stats.items():
            self.sums[k] = self.sums[k] + v if k in self.sums else torch.as_tensor(v, dtype=torch.float64)
        self.count += 1

    def means(self) -> dict:
        return {k: float(v) / max(self.count, 1) for k, v in self.sums.items()}

    def reset(self) -> None:
        self.sums, self.count = {}, 0

    def line(self, name: str, step: int, total: int) -> str:
        now = time.perf_counter()
        rate = (step - self.step_last) / max(now - self.t_last, 1e-9)
        self.t_last, self.step_last = now, step
        means = " ".join(f"{k}={v:.4f}" for k, v in self.means().items())
        return f"[{name}] step {step}/{total} {rate:.1f} it/s eta {(total - step) / max(rate, 1e-9) / 60:.1f} min {means}"


class RunIdentity:
    """What every run description (classification RunSpec, generation GenSpec) shares: its
    name as a path (dataset/n<labels>/method/seed<s>) and its dict form for files."""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @property
    def name(self) -> str:
        return f"{self.dataset}/n{self.n_labels}/{self.method}/seed{self.seed}"


@dataclass
class RunSpec(RunIdentity):
    """Everything that defines one run; recorded in every file the run writes."""

    profile: str
    dataset: str
    n_labels: int
    seed: int
    method: str
    arch: str
    train: TrainConfig
    hparams: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: dict) -> "RunSpec":
        d = dict(d)
        d["train"] = TrainConfig(**d["train"])
        return cls(**d)


DEVICE_ENV = "SEMIGAN_DEVICE"


def pick_device() -> torch.device:
    """The GPU when there is one, else the CPU; $SEMIGAN_DEVICE (cpu, cuda, cuda:<i>) chooses.
    On a GPU, work is made reproducible run to run (`set_determinism`; a training run's
    `train.deterministic: false` opts out); CPU runs are deterministic as they are, and their
    numerics stay untouched."""
    from ..errors import UsageError

    name = os.environ.get(DEVICE_ENV)
    try:
        device = torch.device(name or ("cuda" if torch.cuda.is_available() else "cpu"))
    except RuntimeError:
        raise UsageError(f"${DEVICE_ENV}={name!r} is not a device; expected cpu, cuda or cuda:<index>") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UsageError(f"${DEVICE_ENV}={name!r}, but torch {torch.__version__} sees no CUDA device; "
                             "unset it to use the CPU")
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # deterministic cuBLAS
        set_determinism(device, True)
    elif device.type != "cpu":
        raise UsageError(f"${DEVICE_ENV}={name!r}: expected cpu, cuda or cuda:<index>")
    return device


def set_determinism(device: torch.device, deterministic: bool) -> None:
    """On a GPU: cuDNN's deterministic kernels without autotuning and torch's deterministic
    algorithms where they exist (warning where they do not), or, not deterministic, cuDNN's
    autotuner (`cudnn.benchmark`), which picks the fastest kernels per shape. The CPU is left
    as it is."""
    if device.type != "cuda":
        return
    torch.backends.cudnn.benchmark = not deterministic
    torch.backends.cudnn.deterministic = deterministic
    torch.use_deterministic_algorithms(deterministic, warn_only=True)


def peak_memory(device: torch.device) -> dict:
    """The run's peak memory: allocated tensors on a GPU (what limits the batch size there),
    the process's maximum resident set on a CPU (data, networks and workspace together)."""
    if device.type == "cuda":
        return {"mb": torch.cuda.max_memory_allocated(device) / 2**20, "what": "CUDA max allocated"}
    return {"mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "what": "process max RSS"}


@torch.no_grad()
def accuracy(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, arch,
             batch_size: int = 200) -> tuple[float, np.ndarray]:
    """Overall accuracy and the predictions, in eval mode (no noise/dropout).

    Batches of 200, not 1000: on CPU a batch of 1000 32×32 images allocates ~100 MB per
    activation, fresh pages each time, and took twice as long (system time). The logits are
    bitwise the same at either size for the architectures of the committed runs (tests/test_training.py),
    so selection and committed test errors do not depend on it."""
    was_training = model.training
    model.eval()
    preds = []
    for i in range(0, len(images), batch_size):
        preds.append(model(to_model_input(images[i:i + batch_size], arch)).argmax(1))
    model.train(was_training)
    pred = torch.cat(preds)
    return float((pred == labels).float().mean()), pred.cpu().numpy()


def confusion_matrix(labels: np.ndarray, pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts, rows the true class and columns the predicted one: which class took the images a
    class lost (a sub-mode absorbed by another cluster, issue 17), which per-class accuracy alone
    does not say."""
    confusion = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(confusion, (labels, pred), 1)
    return confusion


def per_class_accuracy(confusion: np.ndarray) -> list[float]:
    """The fraction of each true class predicted as itself (NaN for a class with no images)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return [float(x) for x in np.diag(confusion) / confusion.sum(axis=1)]


def _atomic_torch_save(obj, path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def _rng_state(device: torch.device) -> dict:
    """The CPU generator's state and, on a GPU, that of the run's own GPU only: a node that
    shows fewer (or other) GPUs on resume can still restore it."""
    state = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: dict, device: torch.device) -> None:
    """Restore `_rng_state`, from tensors on any device (the generators take CPU byte
    tensors). A CUDA state is restored only on a GPU; a checkpoint written by an older
    version holds one state per visible GPU (a list), of which the run's own is taken."""
    torch.set_rng_state(state["torch"].cpu())
    cuda = state.get("cuda")
    if cuda is not None and device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        if isinstance(cuda, (list, tuple)):
            cuda = cuda[index] if index < len(cuda) else None
        if cuda is not None:
            torch.cuda.set_rng_state(cuda.cpu(), device)


def load_checkpoint(path: Path) -> dict:
    """A checkpoint's contents, every tensor on the CPU whatever device wrote it: RNG and
    stream states must be CPU tensors, and networks and optimisers copy their states onto
    the run's device as they load them (`load_state_dict`), so a run resumes on any device."""
    return torch.load(path, map_location="cpu", weights_only=True)


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (a GPU runs asynchronously), so a clock read after
    it counts that work; nothing to wait for on the CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def log_to_stderr(msg: str) -> None:
    """Every job's progress line: stderr, flushed, so a job's log file follows it live."""
    print(msg, file=sys.stderr, flush=True)


class TrainingLoop:
    """The loop every trainer shares, classification and generation alike: step timing, EMA by
    half-life, the divergence check and log line every `log_every` steps, history rows, full
    checkpoints and exact resume (networks, optimisers, EMA, streams, RNG, history). A trainer
    supplies one iteration (`train_step`, returning scalars), the module its EMA follows, the
    state of its own parts, when a history row is due and what it measures there."""

    def __init__(self, spec: RunIdentity, log=None):
        self.spec, self.cfg = spec, spec.train
        self.log = log or log_to_stderr
        self.device = pick_device()
        set_determinism(self.device, self.cfg.deterministic)
        self.step = 0
        self.wall = 0.0  # seconds of training, summed over resumed sessions
        self.history: list[dict] = []
        self.resumed_from: list[int] = []
        self.ema: EMA | None = None

    # -- what a trainer provides ------------------------------------------------------------
    def train_step(self) -> dict:
        """One iteration; returns its scalars (losses, accuracies) as tensors or floats."""
        raise NotImplementedError

    def ema_source(self) -> torch.nn.Module:
        raise NotImplementedError

    def networks(self) -> list[torch.nn.Module]:
        """The networks trained, to which the fast-path settings apply."""
        raise NotImplementedError

    def own_state(self) -> dict:
        """The trainer's parts of a checkpoint (networks, optimisers, streams, ...)."""
        raise NotImplementedError

    def load_own_state(self, state: dict) -> None:
        raise NotImplementedError

    def prepare(self) -> None:
        """Before resuming or the first step (e.g. data-dependent initialisation)."""

    def history_due(self) -> bool:
        return self.step % self.cfg.log_every == 0 or self.step == self.cfg.steps

    def measure(self, row: dict) -> bool:
        """Add measurements to a history row; a true return value ends training there."""
        return False

    def result(self) -> dict:
        raise NotImplementedError

    def step_once(self) -> dict:
        """One training step and the EMA update after it; the step's scalars (on the device).
        The step runs its forward passes in `forwards()`, its backward passes outside it."""
        stats = self.train_step()
        self.step += 1
        self.ema.update(self.ema_source(), self.step)
        return stats

    # -- fast path --------------------------------------------------------------------------
    def forwards(self):
        """The context of a training step's forward passes and losses: bf16 autocast with
        train.precision bf16, else nothing (backward passes and optimiser steps run outside)."""
        return autocast(self.device, self.cfg.precision)

    def use_network_settings(self) -> None:
        """train.channels_last: the networks' 4-d weights in channels-last layout (so their
        conv outputs, generated images included, are too); train.weight_norm: where their
        weight-normed layers apply the scale. Call before the EMA copy (which keeps both)."""
        for net in self.networks():
            set_weight_norm(net, self.cfg.weight_norm)
            if self.cfg.channels_last:
                net.to(memory_format=torch.channels_last)

    def as_batch_layout(self, x: torch.Tensor) -> torch.Tensor:
        """An image batch in the layout the networks use."""
        if self.cfg.channels_last and x.dim() == 4:
            return x.contiguous(memory_format=torch.channels_last)
        return x

    def compile_networks(self) -> None:
        """With train.compile, each network compiled in place (its state dict, and so the
        checkpoints, keep their names); after data-dependent init and the EMA copy."""
        if self.cfg.compile:
            for net in self.networks():
                net.compile()

    # -- checkpoints ------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {"spec": self.spec.to_dict(), "step": self.step, "wall": self.wall,
                "ema": self.ema.state_dict(), "rng": _rng_state(self.device), "history": self.history,
                "resumed_from": self.resumed_from, **self.own_state()}

    def load_state_dict(self, state: dict) -> None:
        self.step, self.wall, self.history = state["step"], state["wall"], state["history"]
        self.ema.load_state_dict(state["ema"])
        self.load_own_state(state)
        _set_rng_state(state["rng"], self.device)
        self.resumed_from = state["resumed_from"] + [self.step]

    def try_resume(self, checkpoint: Path) -> bool:
        if not checkpoint.exists():
            return False
        state = load_checkpoint(checkpoint)
        if with_fast_path_defaults(state["spec"]) != self.spec.to_dict():
            stale = checkpoint.with_name(checkpoint.name + f".stale-step{state['step']}")
            os.replace(checkpoint, stale)
            self.log(f"[{self.spec.name}] checkpoint was made with another configuration; "
                     f"kept it as {stale} and starting afresh")
            return False
        self.load_state_dict(state)
        self.log(f"[{self.spec.name}] resumed from checkpoint at step {self.step}/{self.cfg.steps}")
        return True

    # -- the loop ---------------------------------------------------------------------------
    def run(self, checkpoint: Path, interrupt: bool = False) -> dict | None:
        """Train to the end and return `result()` with the peak memory. With `interrupt`, stop
        right after the first checkpoint and return None, as a killed job would (the preflight
        resumes from it in a fresh trainer: `train_resuming`)."""
        self.prepare()
        self.compile_networks()
        self.try_resume(checkpoint)
        cfg = self.cfg
        stats = StepStats(self.step)
        # Training time is read at the log points and around measurements and checkpoints,
        # after waiting for the device: no step waits for the host, and the clock counts the
        # queued work (on the CPU, where nothing is queued, the waits are no-ops).
        synchronize(self.device)
        t0 = time.perf_counter()
        while self.step < cfg.steps:
            stats.add(self.step_once())
            history_due = self.history_due()
            checkpoint_due = self.step % cfg.checkpoint_every == 0 and self.step < cfg.steps
            log_due = self.step % cfg.log_every == 0 or self.step == cfg.steps
            if log_due or history_due or checkpoint_due:
                synchronize(self.device)
                self.wall += time.perf_counter() - t0
            if log_due:
                check_finite(stats.means(), self.spec.name, self.step)
                self.log(stats.line(self.spec.name, self.step, cfg.steps))
            if history_due:
                row = {"step": self.step, "wall_seconds": round(self.wall, 2), **stats.means()}
                stop = self.measure(row)
                self.history.append(row)
                stats.reset()
                if stop:
                    self.log(f"[{self.spec.name}] stopped at step {self.step} by the caller")
                    break
            if checkpoint_due:
                _atomic_torch_save(self.state_dict(), checkpoint)
                if interrupt:
                    self.log(f"[{self.spec.name}] interrupted after the checkpoint at step {self.step} (resume check)")
                    return None
            if log_due or history_due or checkpoint_due:
                t0 = time.perf_counter()  # measurement and checkpoint time is not training time
        return {**self.result(), "peak_memory": peak_memory(self.device)}


def train_resuming(make_trainer, checkpoint: Path, interrupt: bool = False):
    """(trainer, result) of `make_trainer()` trained to the end. With `interrupt`, the first
    trainer stops after its first checkpoint and a fresh one resumes from that file, so the
    result's `resumed_from` proves checkpoint and resume work for this run's real settings."""
    trainer = make_trainer()
    result = trainer.run(checkpoint, interrupt=interrupt)
    if result is None:
        del trainer  # as a killed job's memory would be: the peak is one trainer's
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        trainer = make_trainer()
        result = trainer.run(checkpoint)
    return trainer, result


class Trainer(TrainingLoop):
    """A classification method's training: its batches, data-dependent init, EMA of the
    classifier, validation every `eval_every` steps and selection of the weights on it."""

    def __init__(self, spec: RunSpec, data_dir: Path, split_path: Path, log=None):
        super().__init__(spec, log)
        self.arch = get_architecture(spec.arch)
        meta = load_meta(data_dir)
        train = load_images(data_dir, "train")
        self.split = read_split(split_path)
        self.split_sha256 = self.split.digest()
        self.images = torch.from_numpy(train.images).to(self.device)
        self.labels = torch.from_numpy(train.labels).to(self.device)
        h, w, c = train.images.shape[1:]
        self.n_classes = len(meta["classes"])

        torch.manual_seed(spec.seed)
        ctx = MethodContext(self.arch, self.n_classes, (c, h, w), self.device, self.cfg.steps, self.cfg.precision)
        self.method = build_method(spec.method, ctx, spec.hparams)
        self.use_network_settings()
        bs = self.cfg.batch_size
        base = 1_000_003 * spec.seed
        self.lab_stream = IndexStream(torch.from_numpy(self.split.labeled), bs, base + 1, self.device)
        self.unl_streams = [IndexStream(torch.from_numpy(self.split.unlabeled), bs, base + 2 + i, self.device)
                            for i in range(self.method.unlabeled_batches)]
        self.val_idx = torch.from_numpy(self.split.val).to(self.device)
        self.best = {"val_acc": -1.0, "step": 0, "state": None}
        # A second selection, on a validation set no larger than the labelled set (Oliver et al.
        # 2018): computed from the same predictions, so it costs nothing and changes no training.
        # None (no second selection) when the labelled set is at least as large as the validation set.
        self.val_labels = train.labels[self.split.val]
        self.small_val = small_validation(self.val_labels, len(self.split.labeled), spec.seed)
        self.best_small: dict | None = (None if self.small_val is None
                                        else {"val_acc": -1.0, "step": 0, "state": None})
        self.on_eval = None

    # -- batches ---------------------------------------------------------------------------
    def _x(self, idx: torch.Tensor) -> torch.Tensor:
        return self.as_batch_layout(to_model_input(self.images[idx.to(self.device)], self.arch))

    def next_batch(self) -> Batch:
        lab = self.lab_stream.next()  # on the run's device
        unl = [self._x(s.next()) for s in self.unl_streams]
        return Batch(self._x(lab), self.labels[lab], *unl)

    def prepare(self) -> None:
        g = torch.Generator().manual_seed(self.spec.seed)
        n = self.cfg.init_size
        lab = torch.from_numpy(self.split.labeled)
        unl = torch.from_numpy(self.split.unlabeled)
        x_lab = self._x(lab[torch.randperm(len(lab), generator=g)[:n]])
        x_unl = self._x(unl[torch.randperm(len(unl), generator=g)[:n]])
        self.method.initialize(x_lab, x_unl)
        self.ema = EMA(self.method.classifier, self.cfg.ema_halflife, self.cfg.ema_rampup)

    def train_step(self) -> dict:
        return self.method.train_step(self.next_batch(), self.step)

    def ema_source(self) -> torch.nn.Module:
        return self.method.classifier

    def networks(self) -> list[torch.nn.Module]:
        return self.method.networks()

    # -- checkpoints ------------------------------------------------------------------------
    def own_state(self) -> dict:
        return {"method": self.method.state_dict(), "lab_stream": self.lab_stream.state_dict(),
                "unl_streams": [s.state_dict() for s in self.unl_streams], "best": self.best,
                "best_small": self.best_small}

    def load_own_state(self, state: dict) -> None:
        self.method.load_state_dict(state["method"])
        self.lab_stream.load_state_dict(state["lab_stream"])
        for s, st in zip(self.unl_streams, state["unl_streams"]):
            s.load_state_dict(st)
        self.best = state["best"]
        # None: a checkpoint written before the small-validation selection existed; this run
        # then reports none rather than one that saw only part of its evaluations
        self.best_small = state.get("best_small")

    # -- validation and selection ------------------------------------------------------------
    def validate(self) -> dict:
        labels = self.labels[self.val_idx]
        ema_acc, ema_pred = accuracy(self.ema.model, self.images[self.val_idx], labels, self.arch)
        raw_acc, _ = accuracy(self.method.classifier, self.images[self.val_idx], labels, self.arch)
        row = {"val_acc": ema_acc, "val_acc_raw": raw_acc}
        # Per-class accuracy of the EMA weights: a run that absorbs a sub-mode of one class into
        # another (MNIST-100 `ssl_gan`, issue 17) shows in one column, and when it happens.
        confusion = confusion_matrix(self.val_labels, ema_pred, self.n_classes)
        row.update({f"val_acc_class{k}": acc for k, acc in enumerate(per_class_accuracy(confusion))})
        if self.small_val is not None:  # float32 mean, as accuracy() computes it
            hits = ema_pred[self.small_val] == self.val_labels[self.small_val]
            row["val_acc_small"] = float(torch.from_numpy(hits).float().mean())
        return row

    def _ema_snapshot(self) -> dict:
        return copy.deepcopy({k: v.cpu() for k, v in self.ema.state_dict().items()})

    def history_due(self) -> bool:
        return self.step % self.cfg.eval_every == 0 or self.step == self.cfg.steps

    def measure(self, row: dict) -> bool:
        row.update(self.validate())
        if row["val_acc"] > self.best["val_acc"]:
            self.best = {"val_acc": row["val_acc"], "step": self.step, "state": self._ema_snapshot()}
        if self.best_small is not None and row["val_acc_small"] > self.best_small["val_acc"]:
            same = self.best["step"] == self.step  # one snapshot when both selections improve
            self.best_small = {"val_acc": row["val_acc_small"], "step": self.step,
                               "state": self.best["state"] if same else self._ema_snapshot()}
        stop = self.on_eval is not None and self.on_eval(self, row)
        self.log(f"[{self.spec.name}] step {self.step} val_acc(ema)={row['val_acc']:.4f} "
                 f"val_acc(raw)={row['val_acc_raw']:.4f} best={self.best['val_acc']:.4f}"
                 f"@{self.best['step']}")
        return stop

    def run(self, checkpoint: Path, on_eval=None, interrupt: bool = False) -> dict | None:
        """on_eval(trainer, row) is called after each validation (benchmarks use it); its
        time is not counted as training time, and a true return value ends training there
        (a time-to-target benchmark stops once it has its answer)."""
        self.on_eval = on_eval
        return super().run(checkpoint, interrupt)

    def result(self) -> dict:
        final = {k: v.cpu() for k, v in self.ema.state_dict().items()}
        if self.cfg.selection == "best_val":
            selected, sel_step, sel_val = self.best["state"], self.best["step"], self.best["val_acc"]
        else:
            selected, sel_step, sel_val = final, self.step, self.history[-1]["val_acc"]
        small = {}
        if self.best_small is not None and self.best_small["state"] is not None:
            small = {"classifier_small_val": self.best_small["state"],
                     "selection_small_val": {"rule": "best_val", "n_val": len(self.small_val),
                                             "step": self.best_small["step"],
                                             "val_acc": self.best_small["val_acc"], "weights": "ema"}}
        return {
            "spec": self.spec.to_dict(),
            "classifier": selected,
            "classifier_final_ema": final,
            "selection": {"rule": self.cfg.selection, "step": sel_step, "val_acc": sel_val,
                          "weights": "ema"},
            **small,
            "exported": self.method.export(),
            "n_classes": self.n_classes,
            "history": self.history,
            "split_sha256": self.split_sha256,
            "split_sizes": {"labeled": len(self.split.labeled), "val": len(self.split.val),
                            "unlabeled": len(self.split.unlabeled)},
            "train_seconds": self.wall,
            "steps_per_second": self.step / max(self.wall, 1e-9),
            "resumed_from": self.resumed_from,
        }


def write_training_options(spec: RunIdentity, started: dict, path: Path) -> None:
    """The run's effective settings and provenance, written when training starts (as
    stylegan2-ada's training_options.json): what a run is doing is readable while it runs.
    `semigan show-spec` says which params.yaml layer set each value."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps({"spec": spec.to_dict(), "provenance": started}, indent=2) + "\n")


def train_run(spec: RunSpec, data_dir: Path, split_path: Path, model_out: Path,
              checkpoint: Path, history_csv: Path, threads: int | None = None,
              interrupt: bool = False) -> dict:
    """Train (resuming if a checkpoint exists), write the model file and the history CSV,
    then remove the checkpoint: the model file holds everything later steps need.
    `interrupt`: the preflight's resume check (`train_resuming`)."""
    if threads:
        torch.set_num_threads(threads)
    started = provenance.collect(pick_device())  # the code as it was when training began
    write_training_options(spec, started, Path(history_csv).with_name("training_options.json"))
    trainer, result = train_resuming(lambda: Trainer(spec, Path(data_dir), Path(split_path)),
                                     Path(checkpoint), interrupt)
    result["provenance"] = started
    _atomic_torch_save(result, Path(model_out))
    history_csv = Path(history_csv)
    history_csv.parent.mkdir(parents=True, exist_ok=True)
    keys = sorted({k for row in result["history"] for k in row}, key=lambda k: (k != "step", k))
    with open(history_csv, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=keys)
        writer.writeheader()
        writer.writerows(result["history"])
    Path(checkpoint).unlink(missing_ok=True)
    summary = {k: result[k] for k in ("selection", "train_seconds", "steps_per_second", "resumed_from", "peak_memory")}
    trainer.log(f"[{spec.name}] done: {json.dumps(summary)}")
    return result
