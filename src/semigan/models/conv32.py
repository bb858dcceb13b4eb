"""32×32 colour images: the Improved-GAN CIFAR-10/SVHN networks (openai/improved-gan,
train_cifar_feature_matching.py), re-written in PyTorch.

Classifier / discriminator: dropout 0.2 → 3×[96 conv3×3] (last stride 2) → dropout 0.5 →
3×[192 conv3×3] (last stride 2) → dropout 0.5 → 192 conv3×3 valid → 2× NIN 192 → global
mean pool → K logits; weight norm + leaky ReLU(0.2) throughout. `features` = pooled 192-d.
Generator: z ∈ [0,1]^100 → 4×4×512 → 8×8×256 → 16×16×128 (batch norm, ReLU) → 32×32×3 tanh.

`width` scales the channel counts; the reference's widths are the defaults. A narrower copy
(`conv32_small`) makes the CIFAR path affordable on 2 CPU cores, where one reference-width
discriminator step on 300 images takes seconds.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .layers import BiasBatchNorm, WNConv2d, WNConvTranspose2d, WNLinear


class ConvClassifier(nn.Module):
    def __init__(self, n_classes: int = 10, in_channels: int = 3, width=(96, 192)):
        super().__init__()
        a, b = width
        spec = [  # (in, out, kernel, stride, padding, dropout before)
            (in_channels, a, 3, 1, 1, 0.2), (a, a, 3, 1, 1, 0.0), (a, a, 3, 2, 1, 0.0),
            (a, b, 3, 1, 1, 0.5), (b, b, 3, 1, 1, 0.0), (b, b, 3, 2, 1, 0.0),
            (b, b, 3, 1, 0, 0.5), (b, b, 1, 1, 0, 0.0), (b, b, 1, 1, 0, 0.0),
        ]
        layers: list[nn.Module] = []
        for n_in, n_out, k, s, p, drop in spec:
            if drop:
                layers.append(nn.Dropout(drop))
            layers += [WNConv2d(n_in, n_out, k, s, p), nn.LeakyReLU(0.2)]
        self.body = nn.Sequential(*layers)
        self.out = WNLinear(b, n_classes, train_scale=True, init_std=0.05, init_scale=0.1)
        self.feature_dim = b

    def forward_features(self, x):
        h = self.body(x).mean((2, 3))
        return self.out(h), h

    def forward(self, x, features: bool = False):
        """The logits; with `features`, (logits, last hidden features) from one call, so that
        a compiled network computes the feature-matching passes compiled too."""
        logits, h = self.forward_features(x)
        return (logits, h) if features else logits


class ConvGenerator(nn.Module):
    def __init__(self, z_dim: int = 100, out_channels: int = 3, width: int = 512):
        super().__init__()
        self.z_dim, self.out_shape, self.width = z_dim, (out_channels, 32, 32), width
        w = width
        self.fc = nn.Linear(z_dim, 4 * 4 * w, bias=False)
        self.bn0 = BiasBatchNorm(4 * 4 * w)
        self.up = nn.Sequential(
            nn.ConvTranspose2d(w, w // 2, 5, 2, 2, output_padding=1, bias=False),
            BiasBatchNorm(w // 2, dims=2), nn.ReLU(),
            nn.ConvTranspose2d(w // 2, w // 4, 5, 2, 2, output_padding=1, bias=False),
            BiasBatchNorm(w // 4, dims=2), nn.ReLU(),
        )
        self.out = WNConvTranspose2d(w // 4, out_channels, train_scale=True, init_scale=0.1)
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.ConvTranspose2d)):
                nn.init.normal_(m.weight, std=0.05)

    def sample_z(self, n: int, generator: torch.Generator | None = None, device=None):
        return torch.rand(n, self.z_dim, generator=generator, device=device)

    def forward(self, z):
        h = F.relu(self.bn0(self.fc(z))).view(-1, self.width, 4, 4)
        return torch.tanh(self.out(self.up(h)))
