"""Telling a diverged run from a result.

Two kinds of failure, handled differently:
- a non-finite loss (NaN/inf) is unrecoverable: training stops at once with
  `DivergenceError`, and no model, history or metrics file is written;
- a run that trains to the end but learns nothing (validation accuracy at chance level) or
  whose loss blew up is *diagnosed* when it is evaluated: its metrics say `diverged` with the
  reasons, and tables and figures show it as such and leave it out of means.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import UsageError


class DivergenceError(RuntimeError):
    """Training produced a non-finite loss."""


def check_finite(means: dict, run: str, step: int) -> None:
    """Stop the run if any logged scalar is NaN or infinite (these are the step means of the
    last log interval, so a single bad step is caught)."""
    bad = {k: v for k, v in means.items() if not math.isfinite(v)}
    if bad:
        shown = ", ".join(f"{k}={v}" for k, v in sorted(bad.items()))
        raise DivergenceError(
            f"[{run}] diverged at step {step}: {shown} (not finite); stopped without writing a "
            "model or metrics. Lower the learning rate (hparams.lr) or check the data; deleting "
            "the run's checkpoint.pt restarts it from step 0")


@dataclass(frozen=True)
class DivergenceRule:
    """When a finished run counts as diverged (params.yaml: `evaluation`).

    chance_factor: diverged if the final validation accuracy (EMA weights) is at most
        chance_factor / n_classes — 15 % for 10 classes at the default 1.5.
    loss_growth: diverged if a training loss in the last history row is more than
        loss_growth × its value in the first row (losses that start near zero are skipped).
    """

    chance_factor: float = 1.5
    loss_growth: float = 100.0

    def __post_init__(self):
        if not self.chance_factor >= 1.0:
            raise UsageError(f"evaluation.chance_factor={self.chance_factor}: expected a number ≥ 1 "
                             "(multiples of chance accuracy 1/n_classes)")
        if not self.loss_growth > 1.0:
            raise UsageError(f"evaluation.loss_growth={self.loss_growth}: expected a number > 1")


def diagnose(history: list[dict], n_classes: int, rule: DivergenceRule = DivergenceRule()) -> list[str]:
    """Reasons the run counts as diverged ([] when it does not)."""
    if not history:
        return ["no history rows: the run never validated"]
    reasons = []
    final_val = history[-1].get("val_acc")
    if final_val is not None and final_val <= rule.chance_factor / n_classes:
        reasons.append(f"final validation accuracy {100 * final_val:.1f} % is at chance level "
                       f"(≤ {rule.chance_factor:g} × 1/{n_classes} = {100 * rule.chance_factor / n_classes:.1f} %)")
    first, last = history[0], history[-1]
    for key in sorted(k for k in last if k.startswith("loss")):
        start, end = first.get(key), last[key]
        if start is None or not math.isfinite(start) or abs(start) < 1e-3:
            continue
        if abs(end) > rule.loss_growth * abs(start):
            reasons.append(f"{key} grew from {start:.4g} to {end:.4g} "
                           f"(more than {rule.loss_growth:g}× its first logged value)")
    return reasons
