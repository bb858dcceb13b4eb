"""The canonical cached form of a dataset: one .npz per part (train/test; uint8 NHWC images,
int64 labels) and a meta.json with classes, shape, where the bytes came from and the sha256
of each .npz, verified on every read so a damaged cache is named, never half-read."""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..atomic import atomic_path
from ..hashing import file_sha256
from . import readers
from .fetch import MirrorError, fetch_dataset, md5_of, resolve_mirror
from .sources import get_source

PARTS = ("train", "test")


class CacheError(ValueError):
    """A cached array file that is missing, unreadable or not what was written."""


def rebuild_hint(data_dir: Path) -> str:
    return (f"delete {data_dir} and run `snakemake` again (its download rule rebuilds the cache "
            "from the verified original files)")




@dataclass
class ImageSet:
    images: np.ndarray  # uint8 (N, H, W, C)
    labels: np.ndarray  # int64 (N,)


def _atomic_savez(path: Path, **arrays) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)


def prepare_dataset(name: str, out_dir: Path, download_dir: Path, mirror: str | None,
                    imagefolder: str | None = None, fixture: bool = False) -> dict:
    """Fetch (verified), decode and write out_dir/{train,test}.npz + meta.json.
    With `imagefolder`, read the user's folder or archive instead of a registered source;
    with `fixture`, synthetic files in the official format (the paper preflight; not data)."""
    if imagefolder:
        path = Path(imagefolder).expanduser()
        if not path.exists():
            raise MirrorError(f"datasets.{name}.imagefolder: {str(path)!r} does not exist; expected "
                              "a folder or .tar(.gz) of train|test/<class>/*.png|jpg")
        arrays = readers.read_imagefolder(path)
        origin = {str(path): f"image folder (md5 {md5_of(path)})" if path.is_file() else "image folder"}
        lossy, note, classes = False, f"user image folder {path}", arrays.classes
    elif fixture:
        from .fixtures import FIXTURE_NOTE, write_fixture

        source = get_source(name)
        files = write_fixture(source, download_dir / name)
        arrays = source.reader(files)  # the registered reader, as for the real release
        origin = {n: "synthetic fixture (semigan.data.fixtures)" for n in files}
        lossy, classes = False, source.classes
        note = f"{FIXTURE_NOTE} (official {name} format)"
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
        "train_class_counts": np.bincount(arrays.train_y, minlength=len(classes)).tolist(),
        "lossy_copy": lossy,
        "fixture": fixture,
        "note": note,
        "files": origin,
        "sha256": {},
    }
    for part, x, y in (("train", arrays.train_x, arrays.train_y),
                       ("test", arrays.test_x, arrays.test_y)):
        if not (y.min() >= 0 and y.max() < len(classes)):
            raise ValueError(f"{name}/{part}: labels outside 0..{len(classes) - 1}")
        _atomic_savez(out_dir / f"{part}.npz", images=np.ascontiguousarray(x), labels=y)
        meta["sha256"][f"{part}.npz"] = file_sha256(out_dir / f"{part}.npz")
    with atomic_path(out_dir / "meta.json") as tmp:  # written last: its presence means the cache is complete
        tmp.write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def load_images(data_dir: Path, part: str) -> ImageSet:
    """The cached train or test images, after checking the file against the sha256 that
    meta.json recorded when it was written."""
    data_dir = Path(data_dir)
    path = data_dir / f"{part}.npz"
    if not path.is_file():
        raise CacheError(f"{path}: cached {part} images are missing; {rebuild_hint(data_dir)}")
    expected = load_meta(data_dir).get("sha256", {}).get(path.name)  # caches made before hashes were recorded: none
    if expected is not None and (actual := file_sha256(path)) != expected:
        raise CacheError(f"{path}: sha256 {actual[:16]}… differs from {expected[:16]}… recorded in "
                         f"{data_dir / 'meta.json'} (damaged or modified); {rebuild_hint(data_dir)}")
    try:
        with np.load(path) as z:
            return ImageSet(z["images"], z["labels"])
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as exc:
        raise CacheError(f"{path}: unreadable ({type(exc).__name__}: {exc}); {rebuild_hint(data_dir)}") from None


def load_meta(data_dir: Path) -> dict:
    path = Path(data_dir) / "meta.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise CacheError(f"{path}: missing; {rebuild_hint(Path(data_dir))}") from None
    except json.JSONDecodeError as exc:
        raise CacheError(f"{path}: not valid JSON ({exc}); {rebuild_hint(Path(data_dir))}") from None
