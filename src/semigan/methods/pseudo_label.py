"""`pseudo_label` (Lee 2013, with the confidence threshold of its modern form as in USB's
PseudoLabel): labelled cross-entropy + α(t)·cross-entropy of unlabelled images against
their own arg-max prediction, counted only where that prediction's confidence ≥ threshold.
α ramps linearly from 0 to alpha_max over the first `rampup` fraction of training, so the
early, poor predictions do not teach the network its own mistakes."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..models.layers import data_dependent_init
from .common import Batch, ClassifierMethod, OptimHParams, accuracy_of


@dataclass
class PseudoLabelHParams(OptimHParams):
    threshold: float = 0.95
    alpha_max: float = 1.0
    rampup: float = 0.4


class PseudoLabel(ClassifierMethod):
    name = "pseudo_label"
    hparams_class = PseudoLabelHParams
    unlabeled_batches = 1

    def initialize(self, x_lab, x_unl) -> None:
        data_dependent_init(self.classifier, x_unl)

    def alpha(self, step: int) -> float:
        ramp = self.hp.rampup * self.ctx.total_steps
        return self.hp.alpha_max * (1.0 if ramp <= 0 else min(1.0, step / ramp))

    def train_step(self, batch: Batch, step: int) -> dict:
        self.scheduled_lr(step)
        n_lab = len(batch.x_lab)
        with self.ctx.forwards():
            logits = self.classifier(torch.cat([batch.x_lab, batch.x_unl])).float()  # losses in fp32 under bf16
            l_lab, l_unl = logits[:n_lab], logits[n_lab:]
            loss_lab = F.cross_entropy(l_lab, batch.y_lab)
            with torch.no_grad():
                confidence, pseudo = l_unl.softmax(1).max(1)
                mask = (confidence >= self.hp.threshold).float()
            loss_unl = (F.cross_entropy(l_unl, pseudo, reduction="none") * mask).mean()
            loss = loss_lab + self.alpha(step) * loss_unl
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return {"loss_lab": loss_lab.detach(), "loss_unl": loss_unl.detach(),
                "mask_rate": mask.mean(), "train_acc": accuracy_of(l_lab.detach(), batch.y_lab)}
