"""semigan: a reproducible benchmark suite for semi-supervised GANs."""

from importlib.metadata import PackageNotFoundError, version

try:  # one source of truth: the version in pyproject.toml, as installed
    __version__ = version("semigan")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "unknown (not installed: pip install -e .)"
