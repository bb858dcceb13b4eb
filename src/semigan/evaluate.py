"""Test-set evaluation of a trained run: the weights the selection rule fixed during
training (validation only) are evaluated once on the test set, and so are the final EMA
weights, which need no validation set at all (the protocol of Salimans et al.), and the
weights selected on a seeded draw from the validation set as large as the labelled set
(`small_val`; Oliver et al. 2018 warn that a labelled validation set larger than the labelled
training set flatters selected results). A run that learnt nothing or blew up is marked `diverged`. The confusion
matrix of the selected weights says where a low-label run's errors went (a digit class
absorbed by another, issue 17), which per-class accuracy alone does not."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from . import provenance
from .atomic import atomic_path
from .data.store import load_meta, load_images
from .divergence import DivergenceRule, diagnose
from .models import get_architecture
from .splits import read_split
from .training.loop import RunSpec, accuracy, confusion_matrix, per_class_accuracy, pick_device


def _test_accuracy(weights: dict, model: dict, arch, images, labels, device) -> tuple[float, np.ndarray]:
    shape = images.shape[1:]
    classifier = arch.classifier(model["n_classes"], (shape[2], shape[0], shape[1])).to(device)
    classifier.load_state_dict(weights)
    return accuracy(classifier, images, labels, arch)


def split_sizes(model: dict, split_path: Path | None) -> dict | None:
    """Labelled / validation / unlabelled counts: recorded by training since the final-EMA
    change, else read from the run's split file (runs trained before it)."""
    if "split_sizes" in model:
        return model["split_sizes"]
    if split_path is None:
        return None
    split = read_split(split_path)
    if split.digest() != model["split_sha256"]:
        raise ValueError(f"{split_path}: not the split this run trained on (hash {split.digest()[:12]} "
                         f"≠ {model['split_sha256'][:12]})")
    return {"labeled": len(split.labeled), "val": len(split.val), "unlabeled": len(split.unlabeled)}


def evaluate_run(model_path: Path, data_dir: Path, split_path: Path | None = None,
                 rule: DivergenceRule = DivergenceRule()) -> dict:
    device = pick_device()
    model = torch.load(model_path, map_location=device, weights_only=True)
    spec = RunSpec.from_dict(model["spec"])
    arch = get_architecture(spec.arch)
    meta = load_meta(data_dir)
    test = load_images(data_dir, "test")
    images = torch.from_numpy(test.images).to(device)
    labels = torch.from_numpy(test.labels).to(device)
    acc, pred = _test_accuracy(model["classifier"], model, arch, images, labels, device)
    final_acc, _ = _test_accuracy(model["classifier_final_ema"], model, arch, images, labels, device)
    small_val = None  # runs trained before the small-validation selection existed have none
    if "classifier_small_val" in model:
        small_acc, _ = _test_accuracy(model["classifier_small_val"], model, arch, images, labels, device)
        small_val = dict(model["selection_small_val"], test_accuracy=small_acc,
                         test_error_pct=100.0 * (1.0 - small_acc))
    confusion = confusion_matrix(test.labels, pred, model["n_classes"])
    per_class = dict(zip(meta["classes"], per_class_accuracy(confusion), strict=True))
    last = model["history"][-1]
    reasons = diagnose(model["history"], model["n_classes"], rule)
    return {
        "run": spec.name,
        "profile": spec.profile,
        "dataset": spec.dataset,
        "n_labels": spec.n_labels,
        "method": spec.method,
        "seed": spec.seed,
        "test_accuracy": acc,
        "test_error": 1.0 - acc,
        "test_error_pct": 100.0 * (1.0 - acc),
        "per_class_accuracy": per_class,
        "confusion_matrix": {"rows": "true class", "columns": "predicted class", "classes": meta["classes"],
                             "counts": confusion.tolist()},
        "n_test": int(len(test.labels)),
        "selection": model["selection"],
        "final": {"weights": "ema", "step": last["step"], "val_acc": last["val_acc"],
                  "test_accuracy": final_acc, "test_error_pct": 100.0 * (1.0 - final_acc)},
        "small_val": small_val,
        "diverged": {"value": bool(reasons), "reasons": reasons,
                     "rule": {"chance_factor": rule.chance_factor, "loss_growth": rule.loss_growth}},
        "split_sizes": split_sizes(model, split_path),
        "final_val_acc": last["val_acc"],
        "train_steps": last["step"],
        "train_seconds": model["train_seconds"],
        "steps_per_second": model["steps_per_second"],
        "resumed_from": model["resumed_from"],
        "peak_memory": model.get("peak_memory"),  # models trained before it was recorded: None
        "split_sha256": model["split_sha256"],
        "dataset_note": meta.get("note", ""),
        "dataset_lossy_copy": meta.get("lossy_copy", False),
        "config": model["spec"],
        "provenance": {"train": model["provenance"], "evaluate": provenance.collect(device)},
    }


def write_metrics(metrics: dict, out: Path) -> None:
    with atomic_path(out) as tmp:
        tmp.write_text(json.dumps(metrics, indent=2) + "\n")
