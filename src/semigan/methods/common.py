"""Pieces every method shares: its context, its batch, hyper-parameter parsing, Adam and
the learning-rate schedule."""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass
from typing import Iterable

import torch

from ..models import Architecture


def autocast(device: torch.device, precision: str):
    """The context a training step's forward passes and losses run in: bf16 autocast, or
    nothing for fp32. Backward passes and optimiser steps run outside it (as PyTorch advises:
    the backward ops take the dtypes autocast chose for their forwards)."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


@dataclass
class MethodContext:
    arch: Architecture
    n_classes: int
    image_shape: tuple[int, int, int]  # (C, H, W)
    device: torch.device
    total_steps: int
    precision: str = "fp32"  # train.precision: the forwards' autocast (`forwards`)

    def forwards(self):
        """The context of a method's forward passes and losses (never its backward or optimiser
        step): `autocast` of the run's precision."""
        return autocast(self.device, self.precision)


@dataclass
class Batch:
    x_lab: torch.Tensor
    y_lab: torch.Tensor
    x_unl: torch.Tensor | None = None
    x_unl2: torch.Tensor | None = None


def parse_hparams(cls, values: dict | None, method: str):
    """Build the method's hyper-parameter dataclass, naming any key it does not know."""
    values = dict(values or {})
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown hyper-parameter(s) {unknown} for method {method!r}; "
                         f"expected some of {sorted(known)}")
    return cls(**values)


def adam(params: Iterable[torch.nn.Parameter], lr: float, beta1: float,
         eps: float = 1e-4, beta2: float = 0.999) -> torch.optim.Adam:
    """Adam as the reference code uses it. Its update is m̂/sqrt(v̂ + 1e-8): the 1e-8 under
    the root floors the denominator at 1e-4, so a network whose gradients have vanished
    (a discriminator that has won) nearly stops moving. torch's m̂/(sqrt(v̂) + eps) with
    eps = 1e-4 has the same floor (and differs by at most √2 near it); torch's default
    1e-8 keeps taking full-size steps on vanishing gradients and lets the discriminator
    run away from the generator."""
    params = [p for p in params if p.requires_grad]
    try:
        return torch.optim.Adam(params, lr=lr, betas=(beta1, beta2), eps=eps, fused=True)
    except (RuntimeError, TypeError):  # fused kernels are not built for every device
        return torch.optim.Adam(params, lr=lr, betas=(beta1, beta2), eps=eps)


def lr_multiplier(step: int, total: int, decay_start: float) -> float:
    """1 until `decay_start`·total steps, then linear decay to 0 at the end (the CIFAR
    reference decays over the last third: decay_start = 2/3; 1.0 means constant)."""
    progress = step / max(total, 1)
    if decay_start >= 1.0 or progress < decay_start:
        return 1.0
    return max(0.0, (1.0 - progress) / (1.0 - decay_start))


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def accuracy_of(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return (logits.argmax(1) == labels).float().mean()


@dataclass
class OptimHParams:
    """Adam settings every method has; decay_start: see lr_multiplier."""

    lr: float = 0.003
    beta1: float = 0.5
    beta2: float = 0.999
    eps: float = 1e-4
    decay_start: float = 1.0


def at_least_fp32(x: torch.Tensor) -> torch.Tensor:
    """x in fp32 if it is in a lower precision (bf16 under autocast), else x itself: losses,
    logsumexp and feature means stay fp32 (or float64 where a caller works in it)."""
    return x.float() if x.is_floating_point() and x.dtype not in (torch.float32, torch.float64) else x


class ClassifierMethod:
    """Shared state handling of the methods that train one classifier and its optimizer."""

    hparams_class: type
    unlabeled_batches = 0

    def __init__(self, ctx: MethodContext, hp):
        self.ctx, self.hp = ctx, hp
        self.classifier = ctx.arch.classifier(ctx.n_classes, ctx.image_shape).to(ctx.device)
        self.opt = adam(self.classifier.parameters(), hp.lr, hp.beta1, hp.eps, hp.beta2)

    def initialize(self, x_lab, x_unl) -> None:
        """Data-dependent init of the classifier on labelled images (a method that should see
        unlabelled images here overrides it)."""
        from ..models.layers import data_dependent_init

        data_dependent_init(self.classifier, x_lab)

    def networks(self) -> list[torch.nn.Module]:
        """Every network the method trains (the fast-path settings apply to each)."""
        return [self.classifier]

    def scheduled_lr(self, step: int) -> None:
        set_lr(self.opt, self.hp.lr * lr_multiplier(step, self.ctx.total_steps, self.hp.decay_start))

    def state_dict(self) -> dict:
        return {"classifier": self.classifier.state_dict(), "opt": self.opt.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.classifier.load_state_dict(state["classifier"])
        self.opt.load_state_dict(state["opt"])

    def export(self) -> dict:
        """Networks beyond the classifier worth keeping in the final model file."""
        return {}
