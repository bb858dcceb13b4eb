"""Which images, with which classes, each generation method trains its GAN on. The five
methods share one GAN; only this differs:
  none      all training images, no classes (unconditional `gan`)
  labelled  the labelled subset with its labels (`cgan_labeled`)
  pseudo    the labelled subset, plus unlabelled images whose class a classifier run predicts
            with confidence ≥ threshold (`cgan_pseudo`: the supervised-only classifier;
            `ssl_cgan`: the semi-supervised GAN's discriminator, as in S2GAN/S3GAN's use of a
            semi-supervised classifier to label the unlabelled data)
  all       every training image with its true label (`cgan_full`, the upper bound)
Validation images are never trained on."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..models import get_architecture, to_model_input
from ..splits import Split

LABEL_SOURCES = ("none", "labelled", "pseudo", "all")
# Sources whose training set does not depend on the number of labels: their runs need only be
# run once per seed (at one label count), and the vs-labels figures draw them as horizontal
# references, not as curves.
LABEL_COUNT_FREE = frozenset({"none", "all"})


@dataclass
class GanTrainingSet:
    indices: np.ndarray  # into the training images
    labels: np.ndarray | None  # class per image; None for an unconditional GAN
    info: dict


@torch.no_grad()
def classifier_predictions(model_path: Path, images_nhwc: torch.Tensor, batch_size: int = 2000,
                           device: torch.device | None = None):
    """(predicted class, confidence) of a classification run's selected weights, computed on
    `device` (default: the run's, $SEMIGAN_DEVICE / --device), returned on the CPU."""
    from ..training.loop import RunSpec, pick_device

    device = device or pick_device()
    blob = torch.load(model_path, map_location="cpu", weights_only=True)
    spec = RunSpec.from_dict(blob["spec"])
    arch = get_architecture(spec.arch)
    h, w, c = images_nhwc.shape[1:]
    clf = arch.classifier(blob["n_classes"], (c, h, w))
    clf.load_state_dict(blob["classifier"])
    clf.to(device).eval()
    probs = torch.cat([torch.softmax(clf(to_model_input(images_nhwc[i:i + batch_size].to(device), arch)), 1)
                       for i in range(0, len(images_nhwc), batch_size)])
    conf, pred = probs.cpu().max(1)
    return pred.numpy(), conf.numpy(), spec


def build_training_set(source: str, split: Split, train_labels: np.ndarray,
                       images_nhwc: torch.Tensor | None = None, classifier: Path | None = None,
                       threshold: float = 0.0, device: torch.device | None = None) -> GanTrainingSet:
    if source not in LABEL_SOURCES:
        raise ValueError(f"labels={source!r}: expected one of {LABEL_SOURCES}")
    lab, unl = split.labeled, split.unlabeled
    if source == "none":
        idx = np.concatenate([lab, unl])
        return GanTrainingSet(idx, None, {"n_images": len(idx), "n_true_labels": 0, "n_pseudo_labels": 0})
    if source == "labelled":
        return GanTrainingSet(lab, train_labels[lab], {"n_images": len(lab), "n_true_labels": len(lab),
                                                       "n_pseudo_labels": 0})
    if source == "all":
        idx = np.concatenate([lab, unl])
        return GanTrainingSet(idx, train_labels[idx], {"n_images": len(idx), "n_true_labels": len(idx),
                                                       "n_pseudo_labels": 0})
    if classifier is None or images_nhwc is None:
        raise ValueError("labels='pseudo' needs a classifier run's model file and the images")
    pred, conf, spec = classifier_predictions(classifier, images_nhwc[torch.from_numpy(unl)], device=device)
    keep = conf >= threshold
    idx = np.concatenate([lab, unl[keep]])
    labels = np.concatenate([train_labels[lab], pred[keep]])
    # Diagnostic only (selects nothing): how right the pseudo-labels are on training images.
    accuracy = float(np.mean(pred[keep] == train_labels[unl[keep]])) if keep.any() else float("nan")
    return GanTrainingSet(idx, labels, {
        "n_images": len(idx), "n_true_labels": len(lab), "n_pseudo_labels": int(keep.sum()),
        "pseudo_label_threshold": threshold, "pseudo_label_accuracy": accuracy,
        "classifier_run": spec.name, "classifier_profile": spec.profile})
