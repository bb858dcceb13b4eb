"""Class-balanced label splits, one per (dataset, n_labels, seed), shared by every method.

Per class, a seeded permutation is cut into [validation | labelled | unlabelled]. The
validation subset comes first, so it is the same for every n_labels of a seed, and the
labelled sets of one seed are nested (the 100-label set is inside the 1000-label set).
Validation images are labelled training images used only for model selection; the test
set is never touched here.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .atomic import atomic_path


@dataclass
class Split:
    labeled: np.ndarray
    val: np.ndarray
    unlabeled: np.ndarray

    def digest(self) -> str:
        h = hashlib.sha256()
        for name in ("labeled", "val", "unlabeled"):
            arr = np.ascontiguousarray(getattr(self, name), dtype=np.int64)
            h.update(name.encode() + arr.tobytes())
        return h.hexdigest()


def make_split(labels: np.ndarray, n_labels: int, n_val: int, seed: int) -> Split:
    classes = np.unique(labels)
    k = len(classes)
    for what, n in (("n_labels", n_labels), ("split.n_val", n_val)):
        if n <= 0 or n % k:
            raise ValueError(f"{what}={n}: expected a positive multiple of the number of "
                             f"classes ({k}) so the split can be class-balanced")
    per_lab, per_val = n_labels // k, n_val // k
    rng = np.random.default_rng(seed)
    lab, val, unl = [], [], []
    for c in classes:
        idx = np.flatnonzero(labels == c)
        if len(idx) < per_lab + per_val + 1:
            raise ValueError(f"class {c} has {len(idx)} training images; n_labels={n_labels} "
                             f"and n_val={n_val} need more than {per_lab + per_val} per class")
        idx = idx[rng.permutation(len(idx))]
        val.append(idx[:per_val])
        lab.append(idx[per_val:per_val + per_lab])
        unl.append(idx[per_val + per_lab:])
    return Split(*(np.sort(np.concatenate(part)) for part in (lab, val, unl)))


def write_split(split: Split, path: Path, info: dict) -> dict:
    """Write path (.npz) and its .json sidecar holding the content hash and counts."""
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, labeled=split.labeled, val=split.val, unlabeled=split.unlabeled)
    meta = dict(info, sha256=split.digest(), n_labeled=int(len(split.labeled)),
                n_val=int(len(split.val)), n_unlabeled=int(len(split.unlabeled)))
    with atomic_path(path.with_suffix(".json")) as tmp:
        tmp.write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def read_split(path: Path) -> Split:
    """The split in `path`, checked against the content hash its .json sidecar recorded."""
    from .data.store import CacheError

    path = Path(path)
    hint = "delete it and its .json and run `snakemake` again (the split rule re-creates it; splits are deterministic)"
    try:
        with np.load(path) as z:
            split = Split(z["labeled"], z["val"], z["unlabeled"])
    except FileNotFoundError:
        raise CacheError(f"{path}: split file is missing; run `snakemake` (its split rule writes it)") from None
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as exc:
        raise CacheError(f"{path}: unreadable split file ({type(exc).__name__}: {exc}); {hint}") from None
    sidecar = path.with_suffix(".json")
    if sidecar.exists():
        expected = json.loads(sidecar.read_text())["sha256"]
        if split.digest() != expected:
            raise CacheError(f"{path}: content hash {split.digest()} differs from {expected} "
                             f"recorded in {sidecar}; the split file was modified; {hint}")
    return split


def small_validation(val_labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Positions (into the validation set) of a seeded, class-balanced random draw of `n` of
    its images: n/k per class. A draw, not the first n/k in index order: the validation set is
    stored sorted, so a prefix would favour images early in the dataset's file. With n = the
    labelled count this is the validation set a practitioner with that many labels could
    afford (Oliver et al. 2018): selecting on it, beside the full set, measures what the large
    set buys without a second training run. Returns None when n is at least the set's size:
    there is then no smaller set to select on."""
    classes = np.unique(val_labels)
    if n >= len(val_labels):
        return None
    if n <= 0 or n % len(classes):
        raise ValueError(f"small validation set of {n} images: expected a positive multiple of the "
                         f"number of classes ({len(classes)})")
    per_class = n // len(classes)
    rng = np.random.default_rng(seed)
    members = [np.flatnonzero(val_labels == c) for c in classes]
    short = [int(c) for c, m in zip(classes, members) if len(m) < per_class]
    if short:
        raise ValueError(f"small validation set of {n} images: classes {short} have fewer than "
                         f"{per_class} validation images")
    return np.sort(np.concatenate([m[rng.permutation(len(m))[:per_class]] for m in members]))
