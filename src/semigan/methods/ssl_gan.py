"""`ssl_gan`: Improved-GAN semi-supervised learning with feature matching (Salimans et al.
2016, "Improved Techniques for Training GANs"; openai/improved-gan).

The discriminator is a K-class classifier; its K+1-th ("fake") logit is fixed at 0, so
p(fake|x) = 1/(1+Z(x)), Z = Σ exp(l_k). The generator matches the mean of the
discriminator's last hidden features on real unlabelled images (feature matching).
The three discriminator passes (labelled, unlabelled, generated) run as one batch: the
network has no batch-dependent layers, so this is the same function, computed once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..models.layers import data_dependent_init
from .common import (Batch, ClassifierMethod, OptimHParams, accuracy_of, adam, at_least_fp32, lr_multiplier,
                     set_lr)


def unsupervised_loss(logits_unl: torch.Tensor, logits_fake: torch.Tensor) -> torch.Tensor:
    """½·(−E_data log D(x) − E_G log(1 − D(G(z)))) with D(x) = Z/(Z+1), written with
    lse = log Z: −½·mean(lse_unl) + ½·mean(softplus(lse_unl)) + ½·mean(softplus(lse_fake)).
    In fp32 (or wider) whatever the step's precision."""
    lse_unl = torch.logsumexp(at_least_fp32(logits_unl), 1)
    lse_fake = torch.logsumexp(at_least_fp32(logits_fake), 1)
    return (-0.5 * lse_unl.mean() + 0.5 * F.softplus(lse_unl).mean()
            + 0.5 * F.softplus(lse_fake).mean())


def feature_matching_loss(feat_fake: torch.Tensor, feat_real: torch.Tensor, kind: str) -> torch.Tensor:
    diff = at_least_fp32(feat_fake).mean(0) - at_least_fp32(feat_real).mean(0)  # fp32 means under bf16 autocast
    if kind == "squared":
        return diff.square().mean()
    if kind == "absolute":
        return diff.abs().mean()
    raise ValueError(f"feature_matching={kind!r}: expected 'squared', 'absolute' or 'auto'")


def class_balance_loss(logits_unl: torch.Tensor) -> torch.Tensor:
    """KL(uniform ‖ mean class posterior over the unlabelled batch). The GAN losses depend on
    the logits only through log Z, so nothing in them stops the classifier from assigning a
    whole sub-mode of one class to another (7s read as 2s); this term penalises a batch whose
    predictions favour some classes, as CatGAN's marginal-entropy term does (Springenberg
    2016). Zero exactly when the batch's mean posterior is uniform; the splits are
    class-balanced, so uniform is the prior."""
    log_mean = torch.logsumexp(F.log_softmax(logits_unl, 1), 0) - math.log(len(logits_unl))
    k = logits_unl.shape[1]
    return -log_mean.mean() - math.log(k)


@dataclass
class SSLGANHParams(OptimHParams):
    gen_lr: float | None = None  # None: the discriminator's lr (as the reference)
    gen_beta1: float | None = None  # None: beta1
    gen_eps: float | None = None  # None: eps (a small eps keeps the generator's steps full-size)
    unlabeled_weight: float = 1.0
    feature_matching: str = "auto"  # auto: the architecture's (MNIST squared, CIFAR absolute)
    balance_weight: float = 0.0  # weight of class_balance_loss on the unlabelled batch; 0: not computed


class SSLGAN(ClassifierMethod):
    name = "ssl_gan"
    hparams_class = SSLGANHParams
    unlabeled_batches = 2  # one for the discriminator step, one for the generator step

    def __init__(self, ctx, hp: SSLGANHParams):
        super().__init__(ctx, hp)
        self.gen_lr_base = hp.lr if hp.gen_lr is None else hp.gen_lr
        self.fm_kind = ctx.arch.feature_matching if hp.feature_matching == "auto" else hp.feature_matching
        feature_matching_loss(torch.zeros(1, 1), torch.zeros(1, 1), self.fm_kind)  # validate early
        self.generator = ctx.arch.generator(ctx.image_shape).to(ctx.device)
        self.opt_g = adam(self.generator.parameters(), self.gen_lr_base,
                          hp.beta1 if hp.gen_beta1 is None else hp.gen_beta1,
                          hp.eps if hp.gen_eps is None else hp.gen_eps, hp.beta2)
        self._d_trainable = [p for p in self.classifier.parameters() if p.requires_grad]

    def initialize(self, x_lab, x_unl) -> None:
        data_dependent_init(self.classifier, x_unl)
        if self.ctx.arch.generator_data_init:
            # A generator initialised to match the data's scale makes the discriminator's
            # first steps too easy on MNIST (it wins at once); the reference does it for CIFAR.
            z = self.generator.sample_z(len(x_unl), device=self.ctx.device)
            data_dependent_init(self.generator, z)

    def train_step(self, batch: Batch, step: int) -> dict:
        mult = lr_multiplier(step, self.ctx.total_steps, self.hp.decay_start)
        set_lr(self.opt, self.hp.lr * mult)
        set_lr(self.opt_g, self.gen_lr_base * mult)
        stats = self.discriminator_step(batch)
        stats["loss_gen"] = self.generator_step(batch.x_unl2)
        return stats

    def discriminator_step(self, batch: Batch) -> dict:
        """Labelled, unlabelled and generated images through the discriminator in one pass."""
        n_lab, n_unl = len(batch.x_lab), len(batch.x_unl)
        with self.ctx.forwards():
            with torch.no_grad():
                fake = self.generator(self.generator.sample_z(n_unl, device=self.ctx.device))
            logits = self.classifier(torch.cat([batch.x_lab, batch.x_unl, fake]))
            l_lab, l_unl, l_fake = logits.split([n_lab, n_unl, len(fake)])
            loss_lab = F.cross_entropy(l_lab.float(), batch.y_lab)
            loss_unl = unsupervised_loss(l_unl, l_fake)
            loss = loss_lab + self.hp.unlabeled_weight * loss_unl
            stats = {"loss_lab": loss_lab.detach(), "loss_unl": loss_unl.detach(),
                     "train_acc": accuracy_of(l_lab.detach(), batch.y_lab)}
            if self.hp.balance_weight:  # skipped at 0, so runs without it compute exactly what they did
                loss_bal = class_balance_loss(l_unl.float())
                loss = loss + self.hp.balance_weight * loss_bal
                stats["loss_bal"] = loss_bal.detach()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return stats

    def generator_step(self, x_real: torch.Tensor) -> torch.Tensor:
        """Feature matching; the discriminator is frozen (no gradients computed), not just
        left unstepped."""
        for p in self._d_trainable:
            p.requires_grad_(False)
        try:
            with self.ctx.forwards():
                fake = self.generator(self.generator.sample_z(len(x_real), device=self.ctx.device))
                _, feat_fake = self.classifier(fake, features=True)  # through the network's call: compiled
                with torch.no_grad():
                    _, feat_real = self.classifier(x_real, features=True)
                loss_gen = feature_matching_loss(feat_fake, feat_real, self.fm_kind)
            self.opt_g.zero_grad(set_to_none=True)
            loss_gen.backward()
            self.opt_g.step()
        finally:
            for p in self._d_trainable:
                p.requires_grad_(True)
        return loss_gen.detach()

    def networks(self) -> list[torch.nn.Module]:
        return [self.classifier, self.generator]

    def state_dict(self) -> dict:
        return dict(super().state_dict(), generator=self.generator.state_dict(),
                    opt_g=self.opt_g.state_dict())

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.generator.load_state_dict(state["generator"])
        self.opt_g.load_state_dict(state["opt_g"])

    def export(self) -> dict:
        return {"generator": self.generator.state_dict()}
