"""Test-set evaluation of a trained run: the weights the selection rule fixed during
training (validation only) are evaluated once on the test set."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from . import provenance
from .atomic import atomic_path
from .data.store import load_meta, load_split
from .models import get_architecture
from .training.loop import RunSpec, accuracy, pick_device


def evaluate_run(model_path: Path, data_dir: Path) -> dict:
    device = pick_device()
    model = torch.load(model_path, map_location=device, weights_only=False)
    spec = RunSpec.from_dict(model["spec"])
    arch = get_architecture(spec.arch)
    meta = load_meta(data_dir)
    test = load_split(data_dir, "test")
    shape = test.images.shape[1:]
    classifier = arch.classifier(model["n_classes"], (shape[2], shape[0], shape[1])).to(device)
    classifier.load_state_dict(model["classifier"])
    images = torch.from_numpy(test.images).to(device)
    labels = torch.from_numpy(test.labels).to(device)
    acc, pred = accuracy(classifier, images, labels, arch)
    per_class = {meta["classes"][k]: float(np.mean(pred[test.labels == k] == k))
                 for k in range(model["n_classes"])}
    last = model["history"][-1]
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
        "n_test": int(len(test.labels)),
        "selection": model["selection"],
        "final_val_acc": last["val_acc"],
        "train_steps": last["step"],
        "train_seconds": model["train_seconds"],
        "steps_per_second": model["steps_per_second"],
        "resumed_from": model["resumed_from"],
        "split_sha256": model["split_sha256"],
        "dataset_note": meta.get("note", ""),
        "dataset_lossy_copy": meta.get("lossy_copy", False),
        "config": model["spec"],
        "provenance": {"train": model["provenance"], "evaluate": provenance.collect(device)},
    }


def write_metrics(metrics: dict, out: Path) -> None:
    with atomic_path(out) as tmp:
        tmp.write_text(json.dumps(metrics, indent=2) + "\n")
