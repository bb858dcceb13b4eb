"""Minibatch index streams over in-memory tensors: epoch-style (a fresh seeded permutation
each pass, as the reference code does), with a saveable state for exact resume."""

from __future__ import annotations

import torch


class IndexStream:
    def __init__(self, indices: torch.Tensor, batch_size: int, seed: int):
        if len(indices) == 0:
            raise ValueError("cannot draw minibatches from an empty index set")
        self.indices = indices
        self.batch_size = batch_size
        self.generator = torch.Generator().manual_seed(seed)
        self._order = torch.empty(0, dtype=torch.long)
        self._pos = 0

    def next(self) -> torch.Tensor:
        parts, need = [], self.batch_size
        while need:
            if self._pos >= len(self._order):
                self._order = self.indices[torch.randperm(len(self.indices), generator=self.generator)]
                self._pos = 0
            take = self._order[self._pos:self._pos + need]
            self._pos += len(take)
            need -= len(take)
            parts.append(take)
        return parts[0] if len(parts) == 1 else torch.cat(parts)

    def state_dict(self) -> dict:
        return {"rng": self.generator.get_state(), "order": self._order, "pos": self._pos}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["rng"])
        self._order, self._pos = state["order"], state["pos"]
