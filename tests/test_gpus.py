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
    assert [gpus.claim_gpu(e, log=lambda m: None) for e in envs] == ["0", "1", "0", "1"]
    assert [e["CUDA_VISIBLE_DEVICES"] for e in envs] == ["0", "1", "0", "1"]
    waits = []

    def log(msg):
        waits.append(msg)
        raise TimeoutError  # the fifth job would wait for a slot; stop it here

    with pytest.raises(TimeoutError):
        gpus.claim_gpu(_env(tmp_path), log=log, poll_seconds=0)
    assert "all 2 GPU(s) × 2 run(s) per GPU are in use" in waits[0]
    gpus._held.pop(0).close()  # the first job ends: its slot (GPU 0, slot 0) is free again
    assert gpus.claim_gpu(_env(tmp_path), log=lambda m: None) == "0"


def test_nothing_is_claimed_on_the_cpu_for_a_named_gpu_or_a_single_gpu(tmp_path):
    for env in (_env(tmp_path, SEMIGAN_DEVICE="cpu"), _env(tmp_path, SEMIGAN_DEVICE="cuda:3"),
                {"SEMIGAN_GPUS": "0", "SEMIGAN_GPU_LOCKS": str(tmp_path)}):
        assert gpus.claim_gpu(env, log=lambda m: None) is None and "CUDA_VISIBLE_DEVICES" not in env
    assert gpus.claim_gpu({"SEMIGAN_GPUS": "0", "SEMIGAN_RUNS_PER_GPU": "3", "SEMIGAN_GPU_LOCKS": str(tmp_path)},
                          log=lambda m: None) == "0"  # three small runs share the one GPU


def test_a_killed_job_frees_its_slot(tmp_path):
    env = {**os.environ, **_env(tmp_path, SEMIGAN_RUNS_PER_GPU="1")}
    code = ("import sys, time; from semigan.gpus import claim_gpu; import os; "
            "print(claim_gpu(os.environ), flush=True); time.sleep(60)")
    job = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                           text=True)
    try:
        assert job.stdout.readline().strip() == "0"
        assert gpus.claim_gpu(_env(tmp_path, SEMIGAN_RUNS_PER_GPU="1"), log=lambda m: None) == "1"
    finally:
        job.kill()
        job.wait()
    assert gpus.claim_gpu(_env(tmp_path, SEMIGAN_RUNS_PER_GPU="1"), log=lambda m: None) == "0"


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
