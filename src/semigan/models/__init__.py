"""Architecture registry: name → builders and the input scaling the networks expect.

Every method on a dataset uses the same architecture, so comparisons isolate the method.
"""

from __future__ import annotations

from ..errors import UnknownNameError

from dataclasses import dataclass
from typing import Callable

import torch

from .conv32 import ConvClassifier, ConvGenerator
from .mlp28 import MLPClassifier, MLPGenerator


@dataclass(frozen=True)
class Architecture:
    name: str
    classifier: Callable[..., torch.nn.Module]  # (n_classes, image_shape) -> module
    generator: Callable[..., torch.nn.Module]  # (image_shape) -> module
    pixel_range: tuple[float, float]  # images are scaled to this range
    feature_matching: str  # "squared" or "absolute" (as in the reference per dataset family)
    generator_data_init: bool  # the CIFAR reference inits its generator from data; MNIST's does not


ARCHITECTURES: dict[str, Architecture] = {
    "mlp28": Architecture(
        "mlp28",
        classifier=lambda n_classes, shape: MLPClassifier(n_classes, in_dim=shape[0] * shape[1] * shape[2]),
        generator=lambda shape: MLPGenerator(out_shape=shape),
        pixel_range=(0.0, 1.0),
        feature_matching="squared",
        generator_data_init=False,
    ),
    "conv32": Architecture(
        "conv32",
        classifier=lambda n_classes, shape: ConvClassifier(n_classes, in_channels=shape[0]),
        generator=lambda shape: ConvGenerator(out_channels=shape[0]),
        pixel_range=(-1.0, 1.0),
        feature_matching="absolute",
        generator_data_init=True,
    ),
    # Same layers at a quarter of the channels (D 32/64, G 128→64→32): the CPU profile's
    # CIFAR network. Numbers with it are not the reference network's.
    "conv32_small": Architecture(
        "conv32_small",
        classifier=lambda n_classes, shape: ConvClassifier(n_classes, in_channels=shape[0], width=(32, 64)),
        generator=lambda shape: ConvGenerator(out_channels=shape[0], width=128),
        pixel_range=(-1.0, 1.0),
        feature_matching="absolute",
        generator_data_init=True,
    ),
}


def get_architecture(name: str) -> Architecture:
    try:
        return ARCHITECTURES[name]
    except KeyError:
        raise UnknownNameError(f"unknown architecture {name!r}; expected one of {sorted(ARCHITECTURES)}") from None


def to_model_input(images_uint8: torch.Tensor, arch: Architecture) -> torch.Tensor:
    """uint8 NHWC → float NCHW in the architecture's pixel range."""
    lo, hi = arch.pixel_range
    x = images_uint8.permute(0, 3, 1, 2).float()
    return x * ((hi - lo) / 255.0) + lo
