"""`supervised`: the classifier trained on the labelled subset only — the baseline that
shows what the unlabelled images add."""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F

from .common import Batch, ClassifierMethod, OptimHParams, accuracy_of


@dataclass
class SupervisedHParams(OptimHParams):
    """Only the optimiser settings."""


class Supervised(ClassifierMethod):
    name = "supervised"
    hparams_class = SupervisedHParams
    unlabeled_batches = 0  # and ClassifierMethod's initialize: labelled images only

    def train_step(self, batch: Batch, step: int) -> dict:
        self.scheduled_lr(step)
        with self.ctx.forwards():
            logits = self.classifier(batch.x_lab).float()  # the loss in fp32 under bf16 autocast
            loss = F.cross_entropy(logits, batch.y_lab)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return {"loss_lab": loss.detach(), "train_acc": accuracy_of(logits.detach(), batch.y_lab)}
