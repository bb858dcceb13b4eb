"""Data sources: checksums (published md5 or md5 of decompressed bytes), corrupt files,
missing mirrors, downloads from the official URL (served locally), and each reader on real
(mirror) or synthetic files in the real format."""

import functools
import gzip
import hashlib
import http.server
import io
import json
import pickle
import shutil
import tarfile
import threading
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from semigan.data import fetch, readers, sources
from semigan.data.fetch import ChecksumError, MirrorError, fetch_dataset, fetch_file
from semigan.data.store import load_images, load_meta, prepare_dataset
from semigan.splits import make_split


def test_mirror_mnist_verified_by_decompressed_bytes(mnist_dir):
    meta = load_meta(mnist_dir)
    assert meta["n_train"] == 60000 and meta["n_test"] == 10000
    assert all("decompressed" in how for how in meta["files"].values())
    train = load_images(mnist_dir, "train")
    assert train.images.shape == (60000, 28, 28, 1) and train.images.dtype == np.uint8
    assert np.bincount(train.labels).tolist()[:3] == [5923, 6742, 5958]


def _fake_mirror(tmp_path, mirror, mutate):
    """A mirror folder whose MNIST training labels are replaced by mutate(bytes)."""
    fake = tmp_path / "mirror"
    shutil.copytree(mirror / "mnist", fake / "mnist")
    target = fake / "mnist" / "train-labels-idx1-ubyte.gz"
    data = target.read_bytes()
    target.chmod(0o644)
    target.write_bytes(mutate(data))
    return fake


def test_truncated_file_is_rejected_and_not_cached(tmp_path, mirror):
    fake = _fake_mirror(tmp_path, mirror, lambda b: b[: len(b) // 2])
    cache = tmp_path / "cache"
    with pytest.raises(ChecksumError, match="train-labels-idx1-ubyte.gz.*(corrupt|truncated)"):
        fetch_dataset(sources.get_source("mnist"), cache, fake)
    assert not (cache / "train-labels-idx1-ubyte.gz").exists()
    assert not list(cache.glob("*.part"))


def test_wrong_content_is_rejected_naming_both_checksums(tmp_path, mirror):
    def flip_one_label(b):
        raw = bytearray(gzip.decompress(b))
        raw[100] = (raw[100] + 1) % 10
        return gzip.compress(bytes(raw))

    fake = _fake_mirror(tmp_path, mirror, flip_one_label)
    with pytest.raises(ChecksumError, match="a25bea736e30d166cdddb491f175f624"):
        fetch_dataset(sources.get_source("mnist"), tmp_path / "cache", fake)


def test_missing_mirror_folder_and_missing_file(tmp_path, mirror):
    with pytest.raises(MirrorError, match="nowhere.*not a folder"):
        fetch.resolve_mirror(str(tmp_path / "nowhere"))
    empty = tmp_path / "empty"
    (empty / "mnist").mkdir(parents=True)
    with pytest.raises(MirrorError, match="train-images-idx3-ubyte.gz not found"):
        fetch_dataset(sources.get_source("mnist"), tmp_path / "cache", empty)


def test_mirror_env_variable_wins(tmp_path, monkeypatch, mirror):
    monkeypatch.setenv(fetch.MIRROR_ENV, str(mirror))
    assert fetch.resolve_mirror(str(tmp_path / "ignored")) == mirror


def test_download_path_verifies_checksum(tmp_path):
    payload = tmp_path / "served.bin"
    payload.write_bytes(b"hello dataset")
    good = hashlib.md5(b"hello dataset").hexdigest()
    src = sources.DatasetSource("toy", (), readers.read_idx_dataset, ("a",), "toy")
    remote = sources.RemoteFile("served.bin", payload.as_uri(), good)
    path, how = fetch_file(src, remote, tmp_path / "cache", mirror=None)
    assert path.read_bytes() == b"hello dataset" and how.startswith("download")
    bad = replace(remote, name="other.bin", md5="0" * 32)
    with pytest.raises(ChecksumError, match="does not match the published 0000"):
        fetch_file(src, bad, tmp_path / "cache", mirror=None)
    assert not (tmp_path / "cache" / "other.bin").exists()


def test_mirror_only_dataset_without_mirror_says_where_to_get_it(tmp_path):
    with pytest.raises(MirrorError) as err:
        fetch_dataset(sources.get_source("cifar10_jpeg"), tmp_path, None)
    message = str(err.value)
    assert "no mirror is set ($SEMIGAN_MIRROR or data.mirror) to read cifar10-jpeg.tar.gz" in message
    assert "cifar10_jpeg has no public download" in message
    assert "https://www.cs.toronto.edu/~kriz/cifar.html" in message  # the official CIFAR-10 instead
    assert "put it in <mirror>/cifar10-jpeg/ and point $SEMIGAN_MIRROR" in message


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def serve(tmp_path):
    """serve(folder) → the base URL of an HTTP server on 127.0.0.1 that serves that folder."""
    servers = []

    def start(folder) -> str:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                 functools.partial(_QuietHandler, directory=str(folder)))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}/"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _official_url_at(monkeypatch, name: str, base: str) -> sources.DatasetSource:
    """Point a registered dataset's official URLs at `base` (same file names); no mirror set."""
    official = sources.get_source(name)
    folder = official.files[0].url.rsplit("/", 1)[0] + "/"
    assert folder.startswith("http") and all(f.url == folder + f.name for f in official.files)
    monkeypatch.setitem(sources.DATASETS, name, replace(
        official, files=tuple(replace(f, url=base + f.name) for f in official.files)))
    monkeypatch.delenv(fetch.MIRROR_ENV, raising=False)
    return official


def test_without_a_mirror_mnist_is_downloaded_verified_and_decoded(tmp_path, monkeypatch, serve, mirror, mnist_dir):
    """The default path of a user's machine, end to end through `semigan download`: no mirror,
    the official URLs (here served from 127.0.0.1 with the mirror's bytes), each file verified
    against the published checksums, and the arrays those of the same release read from a mirror."""
    from semigan.cli import main

    base = serve(mirror / "mnist")
    official = _official_url_at(monkeypatch, "mnist", base)
    out, downloads = tmp_path / "data" / "mnist", tmp_path / "downloads"
    assert main(["download", "mnist", "--out", str(out), "--downloads", str(downloads)]) == 0

    meta = load_meta(out)
    assert sorted(meta["files"]) == sorted(f.name for f in official.files)
    for name, how in meta["files"].items():
        assert how.startswith(f"download {base}{name} (md5 of decompressed bytes "), how  # re-gzipped copy
        assert (downloads / "mnist" / name).is_file()
    assert (meta["n_train"], meta["n_test"], meta["image_shape"]) == (60000, 10000, [28, 28, 1])
    assert meta["train_class_counts"] == list(official.train_class_counts)
    for part in ("train", "test"):
        got, ref = load_images(out, part), load_images(mnist_dir, part)  # sha256 checked against meta.json
        assert np.array_equal(got.images, ref.images) and np.array_equal(got.labels, ref.labels)


def test_a_download_that_fails_says_where_to_get_the_files(tmp_path, monkeypatch, serve, capsys):
    """The official host answers 404 (or cannot be reached): the error names the URL, the
    reason and where to get the files by hand, and nothing is left in the download cache."""
    from semigan.cli import main

    (tmp_path / "empty").mkdir()
    base = serve(tmp_path / "empty")
    _official_url_at(monkeypatch, "fashion_mnist", base)
    with pytest.raises(fetch.DownloadError) as err:
        prepare_dataset("fashion_mnist", tmp_path / "fm", tmp_path / "dl", mirror=None)
    message = str(err.value)
    assert f"could not download {base}train-images-idx3-ubyte.gz (HTTP 404: " in message
    assert "from http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/" in message
    assert "put them in <mirror>/fashion-mnist/ and point $SEMIGAN_MIRROR (or data.mirror" in message
    assert list((tmp_path / "dl").rglob("*")) == [tmp_path / "dl" / "fashion_mnist"]
    assert not (tmp_path / "fm" / "meta.json").exists()

    assert main(["download", "fashion_mnist", "--out", str(tmp_path / "fm"), "--downloads", str(tmp_path / "dl")]) == 2
    err_text = capsys.readouterr().err
    assert "semigan download: error: could not download" in err_text and "Traceback" not in err_text


def test_unknown_dataset_lists_known(tmp_path, capsys):
    from semigan.cli import main

    with pytest.raises(KeyError, match="expected one of.*mnist"):
        sources.get_source("imagenet")
    assert main(["download", "imagenet", "--out", str(tmp_path / "o"), "--downloads", str(tmp_path)]) == 2
    assert "unknown dataset 'imagenet'; expected one of" in capsys.readouterr().err


def test_cifar10_python_reader_on_synthetic_archive(tmp_path):
    rng = np.random.default_rng(0)
    tar_path = tmp_path / "cifar-10-python.tar.gz"
    expected = {}
    with tarfile.open(tar_path, "w:gz") as tar:
        for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            data = rng.integers(0, 256, size=(4, 3072), dtype=np.uint8)
            labels = rng.integers(0, 10, size=4).tolist()
            expected[name] = (data, labels)
            blob = pickle.dumps({b"data": data, b"labels": labels})
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    arr = readers.read_cifar10_python({"cifar-10-python.tar.gz": tar_path})
    assert arr.train_x.shape == (20, 32, 32, 3) and arr.test_x.shape == (4, 32, 32, 3)
    first = expected["data_batch_1"][0][0].reshape(3, 32, 32).transpose(1, 2, 0)
    np.testing.assert_array_equal(arr.train_x[0], first)
    assert arr.test_y.tolist() == expected["test_batch"][1]


def test_cifar10_python_reader_rejects_corrupt_archive(tmp_path):
    bad = tmp_path / "cifar-10-python.tar.gz"
    bad.write_bytes(b"\x1f\x8b" + b"garbage" * 10)
    with pytest.raises(readers.CorruptFileError, match="cannot read CIFAR-10"):
        readers.read_cifar10_python({"cifar-10-python.tar.gz": bad})


def test_svhn_mat_reader_maps_label_10_to_0(tmp_path):
    from scipy.io import savemat

    rng = np.random.default_rng(0)
    files, xs = {}, {}
    for name in ("train_32x32.mat", "test_32x32.mat"):
        xs[name] = rng.integers(0, 256, size=(32, 32, 3, 5), dtype=np.uint8)
        y = np.array([[10], [1], [2], [10], [9]], dtype=np.uint8)
        savemat(tmp_path / name, {"X": xs[name], "y": y})
        files[name] = tmp_path / name
    arr = readers.read_svhn_mat(files)
    assert arr.train_x.shape == (5, 32, 32, 3)
    assert arr.train_y.tolist() == [0, 1, 2, 0, 9]
    np.testing.assert_array_equal(arr.train_x[1], xs["train_32x32.mat"][..., 1])


@pytest.mark.parametrize("name", ["cifar10", "svhn"])
def test_fixture_in_the_official_format_is_decoded_by_the_registered_reader(tmp_path, monkeypatch, name):
    """The preflight's stand-in for a dataset the mirror lacks: the release's own file layout
    (SVHN's digit 0 stored as 10 included), the registry's class counts, a smaller test set,
    and a cache that says it is not data."""
    small = replace(sources.DATASETS[name], train_class_counts=tuple(range(20, 30)))
    monkeypatch.setitem(sources.DATASETS, name, small)
    meta = prepare_dataset(name, tmp_path / "data", tmp_path / "downloads", mirror=None, fixture=True)
    assert sorted(p.name for p in (tmp_path / "downloads" / name).iterdir()) == sorted(f.name for f in small.files)
    train, test = load_images(tmp_path / "data", "train"), load_images(tmp_path / "data", "test")
    assert train.images.shape == (sum(range(20, 30)), 32, 32, 3) and train.images.dtype == np.uint8
    assert np.bincount(train.labels).tolist() == list(range(20, 30))
    assert len(test.labels) == 1000 and np.bincount(test.labels).tolist() == [100] * 10
    # the classes' colours are the same in every file: a nearest-mean classifier learnt on the
    # training images labels the test images
    means = np.stack([train.images[train.labels == k].mean((0, 1, 2)) for k in range(10)])
    test_colour = test.images.mean((1, 2))
    nearest = np.linalg.norm(test_colour[:, None, :] - means[None], axis=2).argmin(1)
    assert (nearest == test.labels).mean() > 0.9
    assert meta["fixture"] is True and "NOT DATA" in meta["note"]


def test_fixture_of_a_dataset_without_one_names_those_with_one(tmp_path):
    with pytest.raises(Exception, match=r"no fixture for dataset 'mnist'; fixtures exist for \['cifar10', 'svhn'\]"):
        prepare_dataset("mnist", tmp_path / "d", tmp_path / "dl", mirror=None, fixture=True)


@pytest.mark.parametrize("as_archive", [False, True])
def test_imagefolder_reader(tmp_path, as_archive):
    root = tmp_path / "folder"
    rng = np.random.default_rng(0)
    for split, n in (("train", 3), ("test", 2)):
        for cls in ("cat", "dog"):
            (root / split / cls).mkdir(parents=True)
            for i in range(n):
                Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(
                    root / split / cls / f"{i}.png")
    path = root
    if as_archive:
        path = tmp_path / "folder.tar.gz"
        with tarfile.open(path, "w:gz") as tar:
            tar.add(root, arcname="folder")
    arr = readers.read_imagefolder(path)
    assert arr.classes == ("cat", "dog")
    assert arr.train_x.shape == (6, 8, 8, 3) and arr.train_y.tolist() == [0, 0, 0, 1, 1, 1]
    png = np.asarray(Image.open(root / "train" / "dog" / "0.png"))
    np.testing.assert_array_equal(arr.train_x[3], png)


def test_prepare_dataset_writes_canonical_arrays(tmp_path, mirror):
    meta = prepare_dataset("fashion_mnist", tmp_path / "fm", tmp_path / "dl", str(mirror))
    assert meta["classes"][0] == "T-shirt/top" and meta["image_shape"] == [28, 28, 1]
    test = load_images(tmp_path / "fm", "test")
    assert test.images.shape == (10000, 28, 28, 1) and np.bincount(test.labels).tolist() == [1000] * 10


def test_user_image_folder_dataset(tmp_path):
    root = tmp_path / "pets"
    for split in ("train", "test"):
        for cls in ("cat", "dog"):
            (root / split / cls).mkdir(parents=True)
            for i in range(2):
                Image.fromarray(np.full((4, 4), 40 * i, np.uint8)).save(root / split / cls / f"{i}.png")
    meta = prepare_dataset("pets", tmp_path / "out", tmp_path / "dl", None, imagefolder=str(root))
    assert meta["classes"] == ["cat", "dog"] and meta["image_shape"] == [4, 4, 1]
    assert load_images(tmp_path / "out", "train").labels.tolist() == [0, 0, 1, 1]
    with pytest.raises(MirrorError, match="datasets.pets.imagefolder: .*does not exist"):
        prepare_dataset("pets", tmp_path / "o2", tmp_path / "dl", None, imagefolder=str(tmp_path / "nope"))


def test_registered_class_counts_match_the_data(mnist_dir, tmp_path, mirror):
    """The class counts the registry uses to check splits before any download are the data's."""
    from semigan.data.sources import DATASETS

    assert load_meta(mnist_dir)["train_class_counts"] == list(DATASETS["mnist"].train_class_counts)
    assert np.bincount(load_images(mnist_dir, "train").labels).tolist() == list(DATASETS["mnist"].train_class_counts)


def test_truncated_cache_is_named_with_the_remedy(tmp_path, mnist_dir, capsys):
    """Issue 15 case 2: a truncated train.npz gives one clear error naming the file and how
    to rebuild it — not numpy's BadZipFile from deep inside — also through the split command."""
    import shutil

    from semigan.cli import main
    from semigan.data.store import CacheError

    cache = tmp_path / "mnist"
    shutil.copytree(mnist_dir, cache)
    data = (cache / "train.npz").read_bytes()
    (cache / "train.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(CacheError, match=r"train.npz: sha256 .* differs from .* recorded in .*meta.json "
                                         r"\(damaged or modified\); delete .*mnist and run `snakemake` again"):
        load_images(cache, "train")
    code = main(["split", "--data", str(cache), "--n-labels", "100", "--n-val", "1000", "--seed", "0",
                 "--out", str(tmp_path / "s.npz")])
    err = capsys.readouterr().err
    assert code == 2 and "train.npz" in err and "Traceback" not in err and "BadZipFile" not in err
    assert not (tmp_path / "s.npz").exists()
    meta = json.loads((cache / "meta.json").read_text())  # a cache written before hashes were recorded
    del meta["sha256"]
    (cache / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(CacheError, match=r"train.npz: unreadable \(BadZipFile"):
        load_images(cache, "train")


def test_truncated_split_file_is_named(tmp_path, mnist_dir):
    from semigan.data.store import CacheError
    from semigan.splits import read_split, write_split

    path = tmp_path / "seed0.npz"
    write_split(make_split(load_images(mnist_dir, "train").labels, 100, 200, 0), path, {})
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(CacheError, match=r"seed0.npz: unreadable split file .*delete it and its .json"):
        read_split(path)
