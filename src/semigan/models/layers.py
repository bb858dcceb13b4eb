"""Weight-normalised layers with data-dependent init, and Gaussian noise (Salimans & Kingma
2016; Salimans et al. 2016). The normalisation scale is applied to the layer's output,
y = (x ⊛ v)·g/‖v‖ + b, which is the same function as normalising the weight but never
materialises the normalised weight on the hot path. `set_weight_norm(model, "weight")`
(train.weight_norm) normalises the weight instead, once per forward, and adds the bias in the
same op, y = x ⊛ (v·g/‖v‖) + b: the same function with other float rounding, and no
element-wise passes over the output (on a large batch, the output is the larger tensor)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class _WeightNormed(nn.Module):
    """Shared parts: parameters v, g, b; `_norm_dims` are the axes of v summed per output."""

    _norm_dims: tuple[int, ...]
    _channel_shape: tuple[int, ...]  # how a per-output vector broadcasts over the output
    _weight_shape: tuple[int, ...]  # ... and over the weight v
    normalise = "output"  # or "weight": see set_weight_norm

    def __init__(self, v_shape, n_out, train_scale: bool, init_std: float, init_scale: float):
        super().__init__()
        self.v = nn.Parameter(torch.randn(v_shape) * init_std)
        self.g = nn.Parameter(torch.ones(n_out), requires_grad=train_scale)
        self.b = nn.Parameter(torch.zeros(n_out))
        self.init_scale = init_scale
        self.pending_init = False

    def _raw(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError

    def _scale(self) -> torch.Tensor:
        return self.g * torch.rsqrt(self.v.square().sum(self._norm_dims) + 1e-12)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pending_init:
            return self._data_init(x)
        if self.normalise == "weight":
            return self._raw(x, self.v * self._scale().view(self._weight_shape), self.b)
        shape = self._channel_shape
        return self._raw(x, self.v) * self._scale().view(shape) + self.b.view(shape)

    @torch.no_grad()
    def _data_init(self, x: torch.Tensor) -> torch.Tensor:
        """Set g, b so this layer's pre-activations on x have mean 0 and std init_scale."""
        self.pending_init = False
        shape = self._channel_shape
        t = self._raw(x, self.v) * self._scale().view(shape)
        axes = [0] + list(range(2, t.dim()))
        mean = t.mean(axes)
        inv_std = self.init_scale * torch.rsqrt((t - mean.view(shape)).square().mean(axes) + 1e-12)
        self.g.mul_(inv_std)
        self.b.copy_(-mean * inv_std)
        return (t - mean.view(shape)) * inv_std.view(shape)


class WNLinear(_WeightNormed):
    _norm_dims = (1,)
    _channel_shape = (1, -1)
    _weight_shape = (-1, 1)

    def __init__(self, n_in, n_out, train_scale=False, init_std=0.05, init_scale=1.0):
        super().__init__((n_out, n_in), n_out, train_scale, init_std, init_scale)

    def _raw(self, x, weight, bias=None):
        return F.linear(x, weight, bias)


class WNConv2d(_WeightNormed):
    _norm_dims = (1, 2, 3)
    _channel_shape = (1, -1, 1, 1)
    _weight_shape = (-1, 1, 1, 1)

    def __init__(self, n_in, n_out, kernel, stride=1, padding=0, train_scale=False,
                 init_std=0.05, init_scale=1.0):
        super().__init__((n_out, n_in, kernel, kernel), n_out, train_scale, init_std, init_scale)
        self.stride, self.padding = stride, padding

    def _raw(self, x, weight, bias=None):
        return F.conv2d(x, weight, bias, stride=self.stride, padding=self.padding)


class WNConvTranspose2d(_WeightNormed):
    """Doubles the spatial size (5×5 kernel, stride 2), as the reference's Deconv2DLayer."""

    _norm_dims = (0, 2, 3)
    _channel_shape = (1, -1, 1, 1)
    _weight_shape = (1, -1, 1, 1)

    def __init__(self, n_in, n_out, train_scale=False, init_std=0.05, init_scale=1.0):
        super().__init__((n_in, n_out, 5, 5), n_out, train_scale, init_std, init_scale)

    def _raw(self, x, weight, bias=None):
        return F.conv_transpose2d(x, weight, bias, stride=2, padding=2, output_padding=1)


class GaussianNoise(nn.Module):
    """Additive N(0, σ²) noise in training mode, identity in eval mode."""

    def __init__(self, sigma: float):
        super().__init__()
        self.sigma = sigma

    def forward(self, x):
        if self.training and self.sigma > 0:
            return x + torch.randn_like(x) * self.sigma
        return x


class BiasBatchNorm(nn.Module):
    """Batch norm without learned scale, then a learned bias (the reference's g=None)."""

    def __init__(self, n: int, dims: int = 1):
        super().__init__()
        cls = nn.BatchNorm1d if dims == 1 else nn.BatchNorm2d
        self.bn = cls(n, affine=False)
        self.b = nn.Parameter(torch.zeros(n))
        self._shape = (1, -1) if dims == 1 else (1, -1, 1, 1)

    def forward(self, x):
        return self.bn(x) + self.b.view(self._shape)


WEIGHT_NORMS = ("output", "weight")


def set_weight_norm(model: nn.Module, mode: str) -> None:
    """Where every weight-normed layer of `model` applies its scale g/‖v‖: to its output
    ("output", the committed runs' arithmetic) or to its weight ("weight": the same function,
    other rounding)."""
    if mode not in WEIGHT_NORMS:
        raise ValueError(f"weight_norm={mode!r}: expected one of {WEIGHT_NORMS}")
    for m in model.modules():
        if isinstance(m, _WeightNormed):
            m.normalise = mode


def data_dependent_init(model: nn.Module, *inputs) -> None:
    """One forward pass on a real batch that sets every weight-normed layer's g and b."""
    layers = [m for m in model.modules() if isinstance(m, _WeightNormed)]
    for m in layers:
        m.pending_init = True
    with torch.no_grad():
        model(*inputs)
    leftover = [m for m in layers if m.pending_init]
    if leftover:
        raise RuntimeError(f"data-dependent init did not reach {len(leftover)} layers")
