"""semigan: a reproducible benchmark suite for semi-supervised GANs."""

__version__ = "0.1.0"
