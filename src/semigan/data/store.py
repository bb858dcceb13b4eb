"""The canonical cached form of a dataset: one .npz per split (uint8 NHWC images, int64
labels) and a meta.json with classes, shape and where the bytes came from."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..atomic import atomic_path
from . import readers
from .fetch import MirrorError, fetch_dataset, md5_of, resolve_mirror
from .sources import get_source

SPLITS = ("train", "test")


@dataclass
class ImageSet:
    images: np.ndarray  # uint8 (N, H, W, C)
    labels: np.ndarray  # int64 (N,)


def _atomic_savez(path: Path, **arrays) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)


def prepare_dataset(name: str, out_dir: Path, download_dir: Path, mirror: str | None,
                    imagefolder: str | None = None) -> dict:
    """Fetch (verified), decode and write out_dir/{train,test}.npz + meta.json.
    With `imagefolder`, read the user's folder or archive instead of a registered source."""
    if imagefolder:
        path = Path(imagefolder).expanduser()
        if not path.exists():
            raise MirrorError(f"datasets.{name}.imagefolder: {str(path)!r} does not exist; expected "
                              "a folder or .tar(.gz) of train|test/<class>/*.png|jpg")
        arrays = readers.read_imagefolder(path)
        origin = {str(path): f"image folder (md5 {md5_of(path)})" if path.is_file() else "image folder"}
        lossy, note, classes = False, f"user image folder {path}", arrays.classes
    else:
        source = get_source(name)
        files, origin = fetch_dataset(source, download_dir / name, resolve_mirror(mirror))
        arrays = source.reader(files)
        lossy, note, classes = source.lossy, source.note, arrays.classes or source.classes
    out_dir.mkdir(parents=True, exist_ok=True)
    meta = {
        "dataset": name,
        "classes": list(classes),
        "image_shape": list(arrays.train_x.shape[1:]),
        "n_train": int(len(arrays.train_y)),
        "n_test": int(len(arrays.test_y)),
        "lossy_copy": lossy,
        "note": note,
        "files": origin,
    }
    for split, x, y in (("train", arrays.train_x, arrays.train_y),
                        ("test", arrays.test_x, arrays.test_y)):
        if not (y.min() >= 0 and y.max() < len(classes)):
            raise ValueError(f"{name}/{split}: labels outside 0..{len(classes) - 1}")
        _atomic_savez(out_dir / f"{split}.npz", images=np.ascontiguousarray(x), labels=y)
    (out_dir / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def load_split(data_dir: Path, split: str) -> ImageSet:
    with np.load(Path(data_dir) / f"{split}.npz") as z:
        return ImageSet(z["images"], z["labels"])


def load_meta(data_dir: Path) -> dict:
    return json.loads((Path(data_dir) / "meta.json").read_text())
