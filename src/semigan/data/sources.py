"""Where each dataset comes from: official URLs, checksums and the reader that decodes it.

The checksums are the official ones. Gzipped IDX files also carry the md5 of their
decompressed bytes, so a mirror that re-gzipped the originals is accepted exactly when its
content is byte-identical. `where` says where a user gets the files by hand when they
cannot be downloaded (every error that stops a download quotes it).
"""

from __future__ import annotations

from ..errors import UnknownNameError

from dataclasses import dataclass
from typing import Callable

from . import readers


@dataclass(frozen=True)
class RemoteFile:
    name: str
    url: str | None  # None: only obtainable from a mirror
    md5: str  # md5 of the file as published
    raw_md5: str | None = None  # md5 of the decompressed bytes of a .gz file


@dataclass(frozen=True)
class DatasetSource:
    name: str
    files: tuple[RemoteFile, ...]
    reader: Callable  # (dict name -> Path) -> readers.Arrays
    classes: tuple[str, ...]
    mirror_subdir: str
    where: str = ""  # where the files are published (or, without a public URL, what they are)
    note: str = ""
    lossy: bool = False
    # Training images per class of the official release, so split feasibility (labels +
    # validation per class) is checked before anything is downloaded; tests compare them
    # with the decoded data.
    train_class_counts: tuple[int, ...] = ()


_MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"
_FASHION_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"

_IDX_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
              "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


def _idx_dataset(name: str, base_url: str, md5s: tuple[str, ...], raw_md5s: tuple[str, ...],
                 classes: tuple[str, ...], mirror_subdir: str, where: str,
                 train_class_counts: tuple[int, ...]) -> DatasetSource:
    """MNIST-style release: the four gzipped IDX files under one URL."""
    files = tuple(RemoteFile(f, base_url + f, md5, raw)
                  for f, md5, raw in zip(_IDX_FILES, md5s, raw_md5s))
    return DatasetSource(name, files, readers.read_idx_dataset, classes, mirror_subdir, where=where,
                         train_class_counts=train_class_counts)


DATASETS: dict[str, DatasetSource] = {
    "mnist": _idx_dataset(
        "mnist", _MNIST_URL,
        ("f68b3c2dcbeaaa9fbdd348bbdeb94873", "d53e105ee54ea40749a09fcbcd1e9432",
         "9fb629c4189551a2d022fa330f9573f3", "ec29112dd5afa0611ce80d1b7f02629c"),
        ("6bbc9ace898e44ae57da46a324031adb", "a25bea736e30d166cdddb491f175f624",
         "2646ac647ad5339dbf082846283269ea", "27ae3e4e09519cfbb04c329615203637"),
        tuple(str(i) for i in range(10)), "mnist",
        f"{_MNIST_URL} (the files of http://yann.lecun.com/exdb/mnist/)",
        (5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949)),
    "fashion_mnist": _idx_dataset(
        "fashion_mnist", _FASHION_URL,
        ("8d4fb7e6c68d591d4c3dfef9ec88bf0d", "25c81989df183df01b3e8a0aad5dffbe",
         "bef4ecab320f06d8554ea6380940ec79", "bb300cfdad3c16e7a12a480ee83cd310"),
        ("f4a8712d7a061bf5bd6d2ca38dc4d50a", "9018921c3c673c538a1fc5bad174d6f9",
         "8181f5470baa50b63fa0f6fddb340f0a", "15d484375f8d13e6eb1aabb0c3f46965"),
        ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"), "fashion-mnist",
        f"{_FASHION_URL} (listed at https://github.com/zalandoresearch/fashion-mnist)", (6000,) * 10),
    "cifar10": DatasetSource(
        name="cifar10",
        files=(
            RemoteFile("cifar-10-python.tar.gz",
                       "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
                       "c58f30108f718f92721af3b95e74349a"),
        ),
        reader=readers.read_cifar10_python,
        classes=("airplane", "automobile", "bird", "cat", "deer",
                 "dog", "frog", "horse", "ship", "truck"),
        mirror_subdir="cifar10",
        where="https://www.cs.toronto.edu/~kriz/cifar.html (the CIFAR-10 python version)",
        train_class_counts=(5000,) * 10,
    ),
    "svhn": DatasetSource(
        name="svhn",
        files=(
            RemoteFile("train_32x32.mat", "http://ufldl.stanford.edu/housenumbers/train_32x32.mat",
                       "e26dedcc434d2e4c54c9b2d4a06d8373"),
            RemoteFile("test_32x32.mat", "http://ufldl.stanford.edu/housenumbers/test_32x32.mat",
                       "eb5a983be6a315427106f1b69d0ba99b"),
        ),
        reader=readers.read_svhn_mat,
        classes=tuple(str(i) for i in range(10)),
        mirror_subdir="svhn",
        where="http://ufldl.stanford.edu/housenumbers/ (format 2: cropped digits)",
        train_class_counts=(4948, 13861, 10585, 8497, 7458, 6882, 5727, 5595, 5045, 4659),
    ),
    # A user image folder registered as an example: CIFAR-10 re-encoded as JPEG (lossy).
    "cifar10_jpeg": DatasetSource(
        name="cifar10_jpeg",
        files=(RemoteFile("cifar10-jpeg.tar.gz", None, "163cd5da1dd51a584b3b25feb328d988"),),
        reader=readers.read_imagefolder_archive,
        classes=("airplane", "automobile", "bird", "cat", "deer",
                 "dog", "frog", "horse", "ship", "truck"),
        mirror_subdir="cifar10-jpeg",
        where=("CIFAR-10 re-encoded as 32×32 JPEG files (train|test/<class>/NNNN.jpg), the copy the cpu "
               "profile's CIFAR numbers were measured on. For official numbers use the dataset `cifar10` "
               "(downloaded from https://www.cs.toronto.edu/~kriz/cifar.html); for a JPEG copy of your own, "
               "set `datasets.cifar10_jpeg.imagefolder` to its folder or .tar.gz"),
        lossy=True,
        train_class_counts=(5000,) * 10,
        note="CIFAR-10 (JPEG copy): lossy re-encoding, original order not kept; "
             "not comparable to official CIFAR-10 numbers.",
    ),
}


def where_to_get(source: DatasetSource) -> str:
    """Where a user gets a dataset's files by hand, and how the suite then finds them."""
    files = ", ".join(f.name for f in source.files)
    point = "point $SEMIGAN_MIRROR (or data.mirror in params.yaml) at <mirror>"
    if all(f.url for f in source.files):
        return f"Get {files} from {source.where or 'its publisher'}, put them in <mirror>/{source.mirror_subdir}/ and {point}."
    return (f"{source.name} has no public download: it is {source.where}. If you have {files}, "
            f"put it in <mirror>/{source.mirror_subdir}/ and {point}.")


def get_source(name: str) -> DatasetSource:
    try:
        return DATASETS[name]
    except KeyError:
        raise UnknownNameError(
            f"unknown dataset {name!r}; expected one of {sorted(DATASETS)}"
        ) from None
