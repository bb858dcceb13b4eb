"""Synthetic files in a dataset's official release format, for the preflight and for runs
without internet (CI's smoke DAG: `data.fixtures`).

Official CIFAR-10 and SVHN may be neither in a mirror nor reachable (a machine offline), yet a
paper-profile run must be proven to read them before anyone spends GPU hours, and CI must run
the smoke DAG through CIFAR-10's reader. A fixture is
written in exactly the format the registered reader decodes (CIFAR-10's pickled python
batches in `cifar-10-python.tar.gz`, SVHN's `train_32x32.mat`/`test_32x32.mat` with digit 0
stored as label 10), with the official training-set class counts, so splits, shapes and
memory are those of the real data. Images are noise tinted per class (a classifier can
learn a little in a few steps); the test set is smaller than the official one, so that
evaluating a full-width network on it stays affordable on a CPU. None of it is data: the
cache written from a fixture says so in its meta.json, and a run that uses fixtures keeps its
data in folders of its own (resources/preflight, resources/fixtures).
"""

from __future__ import annotations

import io
import pickle
import tarfile
from pathlib import Path

import numpy as np

from ..errors import UnknownNameError
from .sources import DatasetSource

FIXTURE_TEST_IMAGES = 1000
FIXTURE_NOTE = "SYNTHETIC FIXTURE, NOT DATA: noise in the release format, for the preflight only"


class _Painter:
    """N×32×32×3 uint8 noise, each class shifted towards its own colour — the same colours in
    every file of a fixture, so what a classifier learns on the training batches holds on the
    test batch. The noise comes from a bank of 512 patterns (drawing 150 M fresh values would
    take the preflight minutes)."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.tint = rng.integers(40, 216, size=(10, 3), dtype=np.uint8)
        self.bank = rng.integers(0, 81, size=(512, 32, 32, 3), dtype=np.uint8)

    def __call__(self, labels: np.ndarray) -> np.ndarray:
        noise = self.bank[self.rng.integers(0, len(self.bank), len(labels))]
        return self.tint[labels][:, None, None, :] - np.uint8(40) + noise


def _labels(counts, rng: np.random.Generator) -> np.ndarray:
    labels = np.repeat(np.arange(len(counts)), counts)
    return rng.permutation(labels)


def _cifar10(source: DatasetSource, out: Path, rng, n_test: int) -> dict[str, Path]:
    paint = _Painter(rng)
    train_y = _labels(source.train_class_counts, rng)
    test_y = _labels([n_test // 10] * 10, rng)
    batches = np.array_split(np.arange(len(train_y)), 5)
    path = out / "cifar-10-python.tar.gz"
    with tarfile.open(path, "w:gz", compresslevel=0) as tar:  # gzip container, stored blocks: seconds, not minutes
        parts = [(f"data_batch_{i + 1}", train_y[idx]) for i, idx in enumerate(batches)] + [("test_batch", test_y)]
        for name, y in parts:
            x = paint(y).transpose(0, 3, 1, 2).reshape(len(y), 3072)  # the release's row layout
            blob = pickle.dumps({b"batch_label": name.encode(), b"data": x, b"labels": y.tolist()})
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return {path.name: path}


def _svhn(source: DatasetSource, out: Path, rng, n_test: int) -> dict[str, Path]:
    from scipy.io import savemat

    paint, files = _Painter(rng), {}
    for name, y in (("train_32x32.mat", _labels(source.train_class_counts, rng)),
                    ("test_32x32.mat", _labels([n_test // 10] * 10, rng))):
        x = paint(y).transpose(1, 2, 3, 0)  # the release's H×W×C×N
        stored = np.where(y == 0, 10, y).astype(np.uint8)[:, None]  # digit 0 is label 10
        savemat(out / name, {"X": x, "y": stored})
        files[name] = out / name
    return files


WRITERS = {"cifar10": _cifar10, "svhn": _svhn}


def write_fixture(source: DatasetSource, out_dir: Path, seed: int = 0,
                  n_test: int = FIXTURE_TEST_IMAGES) -> dict[str, Path]:
    """Write `source`'s release files (name → path, as `fetch_dataset` returns them)."""
    if source.name not in WRITERS:
        raise UnknownNameError(f"no fixture for dataset {source.name!r}; fixtures exist for {sorted(WRITERS)} "
                               "(the others are read from the mirror)")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return WRITERS[source.name](source, out_dir, np.random.default_rng(seed), n_test)
