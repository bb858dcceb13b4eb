from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MIRROR = Path(os.environ.get("SEMIGAN_TEST_MIRROR", REPO.parent / "shared" / "datasets"))


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def mirror() -> Path:
    if not (MIRROR / "mnist").is_dir():
        pytest.skip(f"needs the dataset mirror (MNIST IDX files) at {MIRROR}, which is absent; "
                    "set SEMIGAN_TEST_MIRROR to a folder with mnist/ (and fashion-mnist/, cifar10-jpeg/)")
    return MIRROR


@pytest.fixture(scope="session")
def mnist_dir(tmp_path_factory, mirror) -> Path:
    """Real MNIST, prepared once per test session from the mirror."""
    from semigan.data.store import prepare_dataset

    root = tmp_path_factory.mktemp("data")
    prepare_dataset("mnist", root / "mnist", root / "downloads", str(mirror))
    return root / "mnist"
