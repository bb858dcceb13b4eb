"""GPU assignment on a node of several GPUs: each job claims its own slot (k per GPU), sees
only its GPU, and a finished or killed job frees the slot. Fake device lists: no GPU needed."""

import os
import subprocess
import sys

import pytest

from semigan import gpus
from semigan.errors import UsageError


@pytest.fixture(autouse=True)
def release_slots():
    yield
    while gpus._held:
        gpus._held.pop().close()
    gpus._claimed = None


def _job_claims(env, **kwargs):
    """claim_gpu as a new job would call it: this process forgets the slot it claimed (its
    lock stays held, as the earlier job's process would hold it), so jobs are simulated in one
    process."""
    gpus._claimed = None
    return gpus.claim_gpu(env, **{"log": lambda m: None, **kwargs})


def test_slots_spread_over_the_gpus_before_any_takes_a_second_run():
    assert gpus.slot_order(["0", "1", "2"], 2) == [("0", 0), ("1", 0), ("2", 0), ("0", 1), ("1", 1), ("2", 1)]
    taken = {("0", 0), ("1", 0), ("2", 0), ("0", 1)}
    assert gpus.assign_slot(["0", "1", "2"], 2, lambda g, k: (g, k) not in taken) == ("1", 1)
    assert gpus.assign_slot(["0", "1"], 1, lambda g, k: False) is None
    with pytest.raises(UsageError, match=r"\$SEMIGAN_RUNS_PER_GPU=0: expected a positive integer"):
        gpus.slot_order(["0"], 0)


def test_node_gpus_come_from_the_setting_then_the_visible_devices():
    assert gpus.node_gpus({"SEMIGAN_GPUS": "4, 5,6", "CUDA_VISIBLE_DEVICES": "0"}) == ["4", "5", "6"]
    assert gpus.node_gpus({"CUDA_VISIBLE_DEVICES": "2,3"}) == ["2", "3"]


def _env(tmp_path, **extra):
    return {"SEMIGAN_GPUS": "0,1", "SEMIGAN_RUNS_PER_GPU": "2", "SEMIGAN_GPU_LOCKS": str(tmp_path), **extra}


def test_each_job_claims_its_own_gpu_slot_and_sees_only_that_gpu(tmp_path):
    envs = [_env(tmp_path) for _ in range(4)]
    assert [_job_claims(e) for e in envs] == ["0", "1", "0", "1"]
    assert [e["CUDA_VISIBLE_DEVICES"] for e in envs] == ["0", "1", "0", "1"]
    waits = []

    def log(msg):
        waits.append(msg)
        raise TimeoutError  # the fifth job would wait for a slot; stop it here

    with pytest.raises(TimeoutError):
        _job_claims(_env(tmp_path), log=log, poll_seconds=0)
    assert "all 2 GPU(s) × 2 run(s) per GPU are in use" in waits[0]
    gpus._held.pop(0).close()  # the first job ends: its slot (GPU 0, slot 0) is free again
    assert _job_claims(_env(tmp_path)) == "0"


def test_nothing_is_claimed_on_the_cpu_for_a_named_gpu_or_a_single_gpu(tmp_path):
    for env in (_env(tmp_path, SEMIGAN_DEVICE="cpu"), _env(tmp_path, SEMIGAN_DEVICE="cuda:3"),
                {"SEMIGAN_GPUS": "0", "SEMIGAN_GPU_LOCKS": str(tmp_path)}):
        assert gpus.claim_gpu(env, log=lambda m: None) is None and "CUDA_VISIBLE_DEVICES" not in env
    assert gpus.claim_gpu({"SEMIGAN_GPUS": "0", "SEMIGAN_RUNS_PER_GPU": "3", "SEMIGAN_GPU_LOCKS": str(tmp_path)},
                          log=lambda m: None) == "0"  # three small runs share the one GPU


def test_a_second_claim_in_the_same_process_keeps_its_slot(tmp_path):
    """A job that asks twice (e.g. two commands in one process) holds one slot, not two: on 2
    GPUs with one run each, another job still finds the second GPU free."""
    first, again = _env(tmp_path, SEMIGAN_RUNS_PER_GPU="1"), _env(tmp_path, SEMIGAN_RUNS_PER_GPU="1")
    assert gpus.claim_gpu(first, log=lambda m: None) == "0"
    assert gpus.claim_gpu(again, log=lambda m: None) == "0" and again["CUDA_VISIBLE_DEVICES"] == "0"
    assert len(gpus._held) == 1
    assert _job_claims(_env(tmp_path, SEMIGAN_RUNS_PER_GPU="1")) == "1"


def test_slurm_allocations_that_each_see_gpu_0_do_not_share_slots(tmp_path):
    """Two Slurm allocations on one node each see their own GPU as "0" and share the temp
    dir: each counts only its own jobs' slots (a folder per SLURM_JOB_ID), and the jobs of
    one allocation still share its slots."""
    def alloc(job_id):
        return {"CUDA_VISIBLE_DEVICES": "0", "SEMIGAN_RUNS_PER_GPU": "2", "SEMIGAN_GPU_LOCKS": str(tmp_path),
                "SLURM_JOB_ID": job_id}

    assert gpus.lock_dir(alloc("101")) == tmp_path / "slurm-job101"
    assert gpus.lock_dir({"SEMIGAN_GPU_LOCKS": str(tmp_path)}) == tmp_path  # outside Slurm: as set

    def full(msg):  # a job that would wait for a slot stops here
        if "waiting" in msg:
            raise TimeoutError(msg)

    assert [_job_claims(alloc("101")) for _ in range(2)] == ["0", "0"]  # allocation 101's two runs
    assert _job_claims(alloc("102"), log=full, poll_seconds=0) == "0"  # 102's GPU is free for it
    with pytest.raises(TimeoutError, match="in use"):
        _job_claims(alloc("101"), log=full, poll_seconds=0)  # 101's third run waits for its own slots
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.lock")) == \
        ["slurm-job101/gpu0-slot0.lock", "slurm-job101/gpu0-slot1.lock", "slurm-job102/gpu0-slot0.lock"]


def test_a_killed_job_frees_its_slot(tmp_path):
    env = {**os.environ, **_env(tmp_path, SEMIGAN_RUNS_PER_GPU="1")}
    code = ("import sys, time; from semigan.gpus import claim_gpu; import os; "
            "print(claim_gpu(os.environ), flush=True); time.sleep(60)")
    job = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                           text=True)
    try:
        assert job.stdout.readline().strip() == "0"
        assert _job_claims(_env(tmp_path, SEMIGAN_RUNS_PER_GPU="1")) == "1"
    finally:
        job.kill()
        job.wait()
    assert _job_claims(_env(tmp_path, SEMIGAN_RUNS_PER_GPU="1")) == "0"


def test_a_computing_command_claims_its_slot_before_the_device_is_chosen(tmp_path, monkeypatch):
    """`semigan <command>` claims the job's GPU first (CUDA_VISIBLE_DEVICES must be set before
    CUDA starts), then checks the device."""
    from semigan import cli

    order = []
    monkeypatch.setattr(gpus, "claim_gpu", lambda environ: order.append("claim"))
    monkeypatch.setattr("semigan.training.loop.pick_device", lambda: order.append("device"))
    monkeypatch.setenv("SEMIGAN_DEVICE", "cpu")
    monkeypatch.setattr(cli, "_cmd_sample", lambda a: order.append("run"))
    assert cli.main(["sample", "x.pt", "-o", str(tmp_path / "x.png"), "--device", "cpu"]) == 0
    assert order == ["claim", "device", "run"]
