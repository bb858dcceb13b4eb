"""Method registry: name → class. A new method is a module with a class that has
`hparams_class`, `unlabeled_batches`, `initialize`, `train_step` (returns a dict of
scalars), `state_dict`/`load_state_dict`, `export` and a `classifier` — plus a line here."""

from __future__ import annotations

from ..errors import UnknownNameError
from .common import Batch, MethodContext, parse_hparams
from .pseudo_label import PseudoLabel
from .ssl_gan import SSLGAN
from .supervised import Supervised

METHODS = {cls.name: cls for cls in (Supervised, PseudoLabel, SSLGAN)}


def build_method(name: str, ctx: MethodContext, hparams: dict | None):
    try:
        cls = METHODS[name]
    except KeyError:
        raise UnknownNameError(f"unknown method {name!r}; expected one of {sorted(METHODS)}") from None
    return cls(ctx, parse_hparams(cls.hparams_class, hparams, name))


__all__ = ["METHODS", "Batch", "MethodContext", "build_method"]
