"""The class-conditional GAN backbone every generation method shares (so only the use of
labels differs): a DCGAN-style generator conditioned by a class embedding concatenated to z,
and a spectrally normalised projection discriminator (Miyato & Koyama 2018):
D(x, y) = ψ(φ(x)) + ⟨embed(y), φ(x)⟩. With n_classes=None both are unconditional (`gan`).
28×28 images start from 7×7 (two upsamplings), 32×32 from 4×4 (three)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

BASE = {28: (7, 2), 32: (4, 3)}  # image size → (start size, number of ×2 upsamplings)


def _geometry(size: int) -> tuple[int, int]:
    if size not in BASE:
        raise ValueError(f"image size {size}: expected one of {sorted(BASE)}")
    return BASE[size]


class CondGenerator(nn.Module):
    def __init__(self, out_shape: tuple[int, int, int], n_classes: int | None, z_dim: int = 64,
                 width: int = 128, emb_dim: int = 32):
        super().__init__()
        c, size, _ = out_shape
        start, n_up = _geometry(size)
        self.z_dim, self.n_classes, self.out_shape = z_dim, n_classes, out_shape
        self.embed = nn.Embedding(n_classes, emb_dim) if n_classes else None
        in_dim = z_dim + (emb_dim if n_classes else 0)
        ch = width * 2 ** (n_up - 1)
        self.start, self.ch = start, ch
        self.fc = nn.Sequential(nn.Linear(in_dim, ch * start * start, bias=False),
                                nn.BatchNorm1d(ch * start * start), nn.ReLU())
        ups: list[nn.Module] = []
        for i in range(n_up - 1):
            ups += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch // 2), nn.ReLU()]
            ch //= 2
        ups += [nn.ConvTranspose2d(ch, c, 4, 2, 1), nn.Tanh()]
        self.up = nn.Sequential(*ups)

    def sample_z(self, n: int, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
        return torch.randn(n, self.z_dim, generator=generator, device=device)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Images in [-1, 1]; y (class indices) is required iff the generator is conditional."""
        if self.embed is not None:
            if y is None:
                raise ValueError("this generator is class-conditional: pass the classes y")
            z = torch.cat([z, self.embed(y)], 1)
        h = self.fc(z).view(-1, self.ch, self.start, self.start)
        return self.up(h)


class ProjectionDiscriminator(nn.Module):
    def __init__(self, in_shape: tuple[int, int, int], n_classes: int | None, width: int = 64,
                 feature_dim: int = 256):
        super().__init__()
        c, size, _ = in_shape
        start, n_down = _geometry(size)
        layers: list[nn.Module] = []
        ch_in, ch = c, width
        for _ in range(n_down):
            layers += [spectral_norm(nn.Conv2d(ch_in, ch, 4, 2, 1)), nn.LeakyReLU(0.2)]
            ch_in, ch = ch, ch * 2
        self.body = nn.Sequential(*layers, nn.Flatten(),
                                  spectral_norm(nn.Linear(ch_in * start * start, feature_dim)),
                                  nn.LeakyReLU(0.2))
        self.out = spectral_norm(nn.Linear(feature_dim, 1))
        self.embed = spectral_norm(nn.Embedding(n_classes, feature_dim)) if n_classes else None

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = self.body(x)
        out = self.out(h).squeeze(1)
        if self.embed is not None:
            out = out + (self.embed(y) * h).sum(1)
        return out
