"""28×28 grey images: the Improved-GAN MNIST networks (openai/improved-gan,
train_mnist_feature_matching.py), re-written in PyTorch.

Classifier / discriminator: Gaussian noise σ=0.3 on the input and σ=0.5 after every hidden
layer, weight-normed ReLU layers 1000-500-250-250-250, K logits. `features` is the last
hidden layer (the layer the generator's feature matching uses).
Generator: uniform z ∈ [0,1]^100 → 500 → 500 (batch norm, softplus) → 784 sigmoid.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .layers import BiasBatchNorm, GaussianNoise, WNLinear


class MLPClassifier(nn.Module):
    def __init__(self, n_classes: int = 10, in_dim: int = 784,
                 hidden=(1000, 500, 250, 250, 250), input_noise=0.3, hidden_noise=0.5):
        super().__init__()
        self.input_noise = GaussianNoise(input_noise)
        dims = (in_dim, *hidden)
        self.hidden = nn.ModuleList(WNLinear(a, b, init_std=0.1) for a, b in zip(dims, dims[1:]))
        self.noise = GaussianNoise(hidden_noise)
        self.out = WNLinear(dims[-1], n_classes, train_scale=True, init_std=0.1)
        self.feature_dim = dims[-1]

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits, last hidden features)."""
        h = self.input_noise(x.flatten(1))
        for i, layer in enumerate(self.hidden):
            if i:
                h = self.noise(h)
            h = F.relu(layer(h))
        return self.out(self.noise(h)), h

    def forward(self, x, features: bool = False):
        """The logits; with `features`, (logits, last hidden features) from one call, so that
        a compiled network computes the feature-matching passes compiled too."""
        logits, h = self.forward_features(x)
        return (logits, h) if features else logits


class MLPGenerator(nn.Module):
    def __init__(self, z_dim: int = 100, hidden=(500, 500), out_shape=(1, 28, 28)):
        super().__init__()
        self.z_dim, self.out_shape = z_dim, tuple(out_shape)
        layers: list[nn.Module] = []
        prev = z_dim
        for width in hidden:
            layers += [nn.Linear(prev, width, bias=False), BiasBatchNorm(width), nn.Softplus()]
            prev = width
        self.body = nn.Sequential(*layers)
        out_dim = 1
        for s in out_shape:
            out_dim *= s
        self.out = WNLinear(prev, out_dim, train_scale=True, init_std=0.05)

    def sample_z(self, n: int, generator: torch.Generator | None = None, device=None):
        return torch.rand(n, self.z_dim, generator=generator, device=device)

    def forward(self, z):
        return torch.sigmoid(self.out(self.body(z))).view(-1, *self.out_shape)
