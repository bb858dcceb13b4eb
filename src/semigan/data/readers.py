"""Decoders from the published file formats to uint8 NHWC arrays + int64 labels."""

from __future__ import annotations

import gzip
import io
import pickle
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np


class CorruptFileError(ValueError):
    """A downloaded or mirrored file that cannot be decoded."""


@dataclass
class Arrays:
    """Images are uint8 (N, H, W, C); labels int64 (N,)."""

    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    classes: tuple[str, ...] | None = None


def gunzip_bytes(path: Path) -> bytes:
    try:
        with gzip.open(path, "rb") as fh:
            return fh.read()
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise CorruptFileError(f"{path}: not a valid gzip stream ({exc}); the file is truncated "
                               "or corrupt — delete it and download again") from exc


def parse_idx(raw: bytes, source: str) -> np.ndarray:
    """IDX format (LeCun): magic 0x0000 0x08 ndim, big-endian dims, uint8 payload."""
    if len(raw) < 8 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise CorruptFileError(f"{source}: not an IDX uint8 file (bad magic {raw[:4].hex()})")
    ndim = raw[3]
    dims = np.frombuffer(raw, dtype=">i4", count=ndim, offset=4).astype(np.int64)
    offset = 4 + 4 * ndim
    expected = int(np.prod(dims))
    if len(raw) - offset != expected:
        raise CorruptFileError(f"{source}: IDX payload has {len(raw) - offset} bytes, "
                               f"header says {expected}")
    return np.frombuffer(raw, dtype=np.uint8, offset=offset).reshape(tuple(dims))


def read_idx_dataset(files: dict[str, Path]) -> Arrays:
    def load(name: str) -> np.ndarray:
        return parse_idx(gunzip_bytes(files[name]), name)

    train_x = load("train-images-idx3-ubyte.gz")[..., None]
    test_x = load("t10k-images-idx3-ubyte.gz")[..., None]
    return Arrays(train_x, load("train-labels-idx1-ubyte.gz").astype(np.int64),
                  test_x, load("t10k-labels-idx1-ubyte.gz").astype(np.int64))


def read_cifar10_python(files: dict[str, Path]) -> Arrays:
    path = files["cifar-10-python.tar.gz"]
    parts: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    try:
        with tarfile.open(path, "r:gz") as tar:
            for member in tar.getmembers():
                base = Path(member.name).name
                if not (base.startswith("data_batch_") or base == "test_batch"):
                    continue
                batch = pickle.load(tar.extractfile(member), encoding="bytes")
                x = np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
                parts[base] = (x.transpose(0, 2, 3, 1), np.asarray(batch[b"labels"], np.int64))
    except (tarfile.TarError, EOFError, OSError, pickle.UnpicklingError, KeyError) as exc:
        raise CorruptFileError(f"{path}: cannot read CIFAR-10 python archive ({exc})") from exc
    train_keys = [f"data_batch_{i}" for i in range(1, 6)]
    missing = [k for k in train_keys + ["test_batch"] if k not in parts]
    if missing:
        raise CorruptFileError(f"{path}: archive lacks {missing}")
    return Arrays(np.concatenate([parts[k][0] for k in train_keys]),
                  np.concatenate([parts[k][1] for k in train_keys]),
                  parts["test_batch"][0], parts["test_batch"][1])


def read_svhn_mat(files: dict[str, Path]) -> Arrays:
    from scipy.io import loadmat

    def load(name: str) -> tuple[np.ndarray, np.ndarray]:
        try:
            mat = loadmat(files[name])
        except Exception as exc:  # scipy raises several types for broken files
            raise CorruptFileError(f"{files[name]}: cannot read SVHN .mat ({exc})") from exc
        x = np.ascontiguousarray(mat["X"].transpose(3, 0, 1, 2)).astype(np.uint8)
        y = mat["y"].reshape(-1).astype(np.int64)
        y[y == 10] = 0  # SVHN stores digit 0 as label 10
        return x, y

    train_x, train_y = load("train_32x32.mat")
    test_x, test_y = load("test_32x32.mat")
    return Arrays(train_x, train_y, test_x, test_y)


_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp"}


def _decode_image(data: bytes, name: str) -> np.ndarray:
    from PIL import Image

    try:
        img = Image.open(io.BytesIO(data))
        img = img.convert("L" if img.mode in ("L", "1", "I;16") else "RGB")
    except Exception as exc:
        raise CorruptFileError(f"{name}: cannot decode image ({exc})") from exc
    arr = np.asarray(img, dtype=np.uint8)
    return arr[..., None] if arr.ndim == 2 else arr


def _stack_folder(items: list[tuple[str, str, str, bytes]], origin: str) -> Arrays:
    """items: (split, class_name, file name, image bytes) → Arrays, ordered by (class, name)."""
    classes = sorted({c for _, c, _, _ in items})
    for split in ("train", "test"):
        if not any(s == split for s, _, _, _ in items):
            raise CorruptFileError(f"{origin}: no images under {split}/<class>/; expected the "
                                   "layout train|test/<class>/*.png|jpg")
    index = {c: i for i, c in enumerate(classes)}
    out = {}
    for split in ("train", "test"):
        chosen = sorted((c, n, d) for s, c, n, d in items if s == split)
        imgs = [_decode_image(d, f"{origin}:{split}/{c}") for c, _, d in chosen]
        shapes = {im.shape for im in imgs}
        if len(shapes) != 1:
            raise CorruptFileError(f"{origin}: images of different shapes {sorted(shapes)} in "
                                   f"{split}; resize them to one shape first")
        out[split] = (np.stack(imgs), np.array([index[c] for c, _, _ in chosen], np.int64))
    return Arrays(out["train"][0], out["train"][1], out["test"][0], out["test"][1],
                  classes=tuple(classes))


def _split_class(relpath: str) -> tuple[str, str, str] | None:
    """'.../train/cat/0001.jpg' → ('train', 'cat', '0001.jpg'); None for other files."""
    parts = Path(relpath).parts
    if len(parts) < 3 or Path(relpath).suffix.lower() not in _IMAGE_SUFFIXES:
        return None
    split, cls, name = parts[-3], parts[-2], parts[-1]
    return (split, cls, name) if split in ("train", "test") else None


def read_imagefolder_archive(files: dict[str, Path]) -> Arrays:
    (path,) = files.values()
    return read_imagefolder(path)


def read_imagefolder(path: Path) -> Arrays:
    """A folder or .tar(.gz) of train|test/<class>/<image>."""
    path = Path(path)
    items: list[tuple[str, str, str, bytes]] = []
    if path.is_dir():
        for f in sorted(path.rglob("*")):
            key = _split_class(str(f.relative_to(path)))
            if key and f.is_file():
                items.append((*key, f.read_bytes()))
    else:
        try:
            with tarfile.open(path, "r:*") as tar:
                members = sorted((m for m in tar.getmembers() if m.isfile()), key=lambda m: m.name)
                for m in members:
                    key = _split_class(m.name)
                    if key:
                        items.append((*key, tar.extractfile(m).read()))
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise CorruptFileError(f"{path}: cannot read image archive ({exc})") from exc
    return _stack_folder(items, str(path))
