"""Obtain a dataset's published files, from the official URL or a local mirror, verified.

A file is only moved into the download cache after its checksum matched; a failed or
interrupted transfer leaves nothing behind, so a bad file is never silently reused.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from .readers import CorruptFileError, gunzip_bytes
from ..hashing import file_digest
from .sources import DATASETS, DatasetSource, RemoteFile, where_to_get

MIRROR_ENV = "SEMIGAN_MIRROR"


class ChecksumError(ValueError):
    """A file whose bytes do not match the published checksum."""


class MirrorError(FileNotFoundError):
    """The configured mirror folder or a file expected in it is missing."""


class DownloadError(OSError):
    """An official URL that could not be reached or did not serve the file."""


def md5_of(path: Path) -> str:
    return file_digest(path, "md5")


def verify(path: Path, remote: RemoteFile) -> str:
    """Check a file against the published md5 (or, for .gz, the md5 of its decompressed
    bytes, which survives re-compression by a mirror). Returns how it was verified."""
    got = md5_of(path)
    if got == remote.md5:
        return f"md5 {got}"
    if remote.raw_md5 is not None:
        try:
            raw = gunzip_bytes(path)
        except CorruptFileError as exc:
            raise ChecksumError(
                f"{remote.name}: md5 {got} is not the published {remote.md5}, and the file is "
                f"not a readable gzip stream ({exc}); it is corrupt or truncated") from exc
        raw_md5 = hashlib.md5(raw).hexdigest()
        if raw_md5 == remote.raw_md5:
            return f"md5 of decompressed bytes {raw_md5}"
        raise ChecksumError(
            f"{remote.name}: decompressed md5 {raw_md5} does not match the published "
            f"{remote.raw_md5} (file md5 {got}, published {remote.md5}); the file is corrupt "
            "or not the official release")
    raise ChecksumError(f"{remote.name}: md5 {got} does not match the published {remote.md5}; "
                        "the file is corrupt, truncated or not the official release")


def _mirror_setting(configured: str | None) -> str | None:
    return os.environ.get(MIRROR_ENV) or configured


def resolve_mirror(configured: str | None) -> Path | None:
    """The mirror folder: $SEMIGAN_MIRROR wins over the params setting; None = download."""
    value = _mirror_setting(configured)
    if not value:
        return None
    path = Path(value).expanduser()
    if not path.is_dir():
        raise MirrorError(f"data mirror {str(path)!r} (from "
                          f"{'$' + MIRROR_ENV if os.environ.get(MIRROR_ENV) else 'data.mirror'}) "
                          "is not a folder; set data.mirror to an existing folder with one "
                          "sub-folder per dataset, or to null to download")
    return path


def mirror_has(name: str, configured: str | None) -> bool:
    """Whether the mirror (see resolve_mirror) has a folder for this registered dataset."""
    value = _mirror_setting(configured)
    source = DATASETS.get(name)
    return bool(value and source) and (Path(value).expanduser() / source.mirror_subdir).is_dir()


def _download(url: str, dest: Path) -> None:
    print(f"downloading {url}", file=sys.stderr, flush=True)
    with urllib.request.urlopen(url, timeout=60) as resp, open(dest, "wb") as out:
        total = int(resp.headers.get("Content-Length") or 0)
        done = 0
        while chunk := resp.read(1 << 20):
            out.write(chunk)
            done += len(chunk)
            if total:
                print(f"\r  {done / 1e6:.1f}/{total / 1e6:.1f} MB", end="", file=sys.stderr)
        print(file=sys.stderr)
    if total and done != total:
        raise CorruptFileError(f"{url}: transfer ended after {done} of {total} bytes")


def fetch_file(source: DatasetSource, remote: RemoteFile, cache_dir: Path,
               mirror: Path | None) -> tuple[Path, str]:
    """Return (verified path in cache_dir, provenance string)."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    final = cache_dir / remote.name
    if final.exists():
        return final, f"cache {final} ({verify(final, remote)})"
    if mirror is not None:
        origin = mirror / source.mirror_subdir / remote.name
        if not origin.is_file():
            raise MirrorError(f"mirror file {origin} not found; expected "
                              f"{mirror}/{source.mirror_subdir}/{remote.name}. {where_to_get(source)}")
    elif remote.url is None:
        raise MirrorError(f"no mirror is set (${MIRROR_ENV} or data.mirror) to read {remote.name} from. "
                          f"{where_to_get(source)}")
    fd, tmp_name = tempfile.mkstemp(dir=cache_dir, prefix=f".{remote.name}.", suffix=".part")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        if mirror is not None:
            shutil.copyfile(origin, tmp)
            where = f"mirror {origin}"
        else:
            try:
                _download(remote.url, tmp)
            except (urllib.error.URLError, OSError) as exc:  # HTTP errors, DNS, refused, timeouts
                reason = (f"HTTP {exc.code}: {exc.reason}" if isinstance(exc, urllib.error.HTTPError)
                          else getattr(exc, "reason", None) or exc)
                raise DownloadError(f"could not download {remote.url} ({reason}). "
                                    f"{where_to_get(source)}") from exc
            where = f"download {remote.url}"
        how = verify(tmp, remote)
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
    return final, f"{where} ({how})"


def fetch_dataset(source: DatasetSource, cache_dir: Path,
                  mirror: Path | None) -> tuple[dict[str, Path], dict[str, str]]:
    paths, provenance = {}, {}
    for remote in source.files:
        paths[remote.name], provenance[remote.name] = fetch_file(source, remote, cache_dir, mirror)
    return paths, provenance
