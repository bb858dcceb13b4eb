"""Exponential moving average of a network's weights, parameterised by half-life in steps
(as in EDM / stylegan2-ada): after `halflife` steps an old weight's share has halved.
A ramp-up caps the half-life at `rampup`·step early on, so the average is not dominated by
the random initialisation."""

from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    def __init__(self, model: nn.Module, halflife: float, rampup: float | None = 0.1):
        if halflife <= 0:
            raise ValueError(f"ema_halflife={halflife}: expected a positive number of steps")
        self.halflife, self.rampup = float(halflife), rampup
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    def beta(self, step: int) -> float:
        halflife = self.halflife
        if self.rampup is not None:
            halflife = min(halflife, max(step, 1) * self.rampup)
        return 0.5 ** (1.0 / max(halflife, 1e-8))

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        beta = self.beta(step)
        ema_t = list(self.model.parameters()) + list(self.model.buffers())
        src_t = list(model.parameters()) + list(model.buffers())
        floats = [(e, s) for e, s in zip(ema_t, src_t) if e.dtype.is_floating_point]
        torch._foreach_lerp_([e for e, _ in floats], [s for _, s in floats], 1.0 - beta)

    def state_dict(self):
        return self.model.state_dict()

    def load_state_dict(self, state):
        self.model.load_state_dict(state)
