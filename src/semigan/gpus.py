"""Which GPU of a node a job uses, and how many jobs share one.

Snakemake's `--resources gpu=N` caps how many GPU jobs run at once on a node, but names no
GPU: every job would resolve `cuda` to `cuda:0`. Each job that computes therefore claims a
*slot* when it starts: slot k of GPU d is a lock file `gpu<d>-slot<k>.lock` in a folder shared
by the node's jobs, held (flock) for the life of the process, so a finished or killed job
frees it without cleaning up. Slots are tried slot 0 of every GPU first, then slot 1, ...:
jobs spread over the GPUs before any GPU takes a second one, so 8 jobs on 8 GPUs get one
each, and with `runs_per_gpu` = k (small runs: one MNIST run cannot fill an H100) the
(8k)th job still finds a slot. The job then sees
only its GPU (CUDA_VISIBLE_DEVICES=<d>, set before CUDA starts) and runs on `cuda:0`.

Settings (environment, as the device itself): SEMIGAN_GPUS (the node's GPU ids, e.g.
"0,1,2,3"; default CUDA_VISIBLE_DEVICES, else those nvidia-smi lists), SEMIGAN_RUNS_PER_GPU
(default 1) and SEMIGAN_GPU_LOCKS (the lock folder; default one per user in the temp dir).
Nothing is claimed when the device is the CPU or the node has at most one GPU and one run
per GPU (nothing to choose). A process claims one slot: asked again, it keeps the one it holds.

Under Slurm the lock folder is one per allocation (a `slurm-job<SLURM_JOB_ID>` folder in it).
Slurm numbers an allocation's GPUs from 0, so two allocations on one node both see a GPU "0"
while holding different GPUs, and share the node's temp dir: with one folder, their jobs would
count each other's slots and wait for runs on a GPU that is not theirs. Claiming is not
skipped under Slurm: a workflow run inside one allocation of several GPUs (`sbatch --gpus=8`
running snakemake) spreads its jobs over that allocation's GPUs as on a node of its own."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

from .errors import UsageError

GPUS_ENV, RUNS_ENV, LOCKS_ENV = "SEMIGAN_GPUS", "SEMIGAN_RUNS_PER_GPU", "SEMIGAN_GPU_LOCKS"

_held = []  # the open lock files of this process's slot: released when it exits
_claimed: str | None = None  # the GPU of this process's slot, once claimed


def slot_order(gpus: list[str], runs_per_gpu: int) -> list[tuple[str, int]]:
    """Every (gpu, slot) in the order they are tried: slot 0 of each GPU, then slot 1, ..."""
    if runs_per_gpu < 1:
        raise UsageError(f"${RUNS_ENV}={runs_per_gpu}: expected a positive integer")
    return [(gpu, k) for k in range(runs_per_gpu) for gpu in gpus]


def assign_slot(gpus: list[str], runs_per_gpu: int, try_claim: Callable[[str, int], bool]) -> tuple[str, int] | None:
    """The first (gpu, slot) that `try_claim` obtains, in `slot_order`; None when every slot
    is taken."""
    for gpu, k in slot_order(gpus, runs_per_gpu):
        if try_claim(gpu, k):
            return gpu, k
    return None


def node_gpus(environ=os.environ) -> list[str]:
    """The GPU ids this node's jobs share: $SEMIGAN_GPUS, else $CUDA_VISIBLE_DEVICES, else
    nvidia-smi's list (none without it)."""
    for name in (GPUS_ENV, "CUDA_VISIBLE_DEVICES"):
        value = environ.get(name)
        if value is not None:
            return [g.strip() for g in value.split(",") if g.strip()]
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.splitlines() if line.strip()]


def runs_per_gpu(environ=os.environ) -> int:
    value = environ.get(RUNS_ENV, "1")
    try:
        return int(value)
    except ValueError:
        raise UsageError(f"${RUNS_ENV}={value!r}: expected a positive integer") from None


def lock_dir(environ=os.environ) -> Path:
    """$SEMIGAN_GPU_LOCKS, else a per-user folder in the temp dir; under Slurm, its
    `slurm-job<SLURM_JOB_ID>` subfolder (one per allocation: see the module's docstring)."""
    folder = Path(environ.get(LOCKS_ENV) or Path(tempfile.gettempdir()) / f"semigan-gpu-locks-{os.getuid()}")
    job = environ.get("SLURM_JOB_ID")
    return folder / f"slurm-job{job}" if job else folder


def _flock_claim(folder: Path) -> Callable[[str, int], bool]:
    import fcntl

    def claim(gpu: str, k: int) -> bool:
        fh = open(folder / f"gpu{gpu}-slot{k}.lock", "a+")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            return False
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()}\n")
        fh.flush()
        _held.append(fh)
        return True
    return claim


def claim_gpu(environ=os.environ, log=lambda m: print(m, file=sys.stderr, flush=True),
              poll_seconds: float = 10.0) -> str | None:
    """Claim this job's GPU slot and make that GPU the only one it sees; returns the GPU id
    (None when there is nothing to choose or the device is the CPU). Waits, saying so, while
    every slot is taken (more jobs started than `--resources gpu=` allows for). A process
    that already holds a slot keeps it: a second call returns the same GPU (a job has one)."""
    global _claimed
    device = environ.get("SEMIGAN_DEVICE", "")
    if device.startswith("cpu") or ":" in device:  # the CPU, or a GPU named by the user
        return None
    if _claimed is not None:
        environ["CUDA_VISIBLE_DEVICES"] = _claimed
        return _claimed
    gpus, k = node_gpus(environ), runs_per_gpu(environ)
    if len(gpus) <= 1 and k <= 1:
        return None
    folder = lock_dir(environ)
    folder.mkdir(parents=True, exist_ok=True)
    claim = _flock_claim(folder)
    while (slot := assign_slot(gpus, k, claim)) is None:
        log(f"all {len(gpus)} GPU(s) × {k} run(s) per GPU are in use ({folder}); waiting")
        time.sleep(poll_seconds)
    gpu, index = slot
    _claimed = gpu
    environ["CUDA_VISIBLE_DEVICES"] = gpu
    log(f"GPU {gpu}, slot {index} of {k} (CUDA_VISIBLE_DEVICES={gpu})")
    return gpu
