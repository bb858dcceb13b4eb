"""The prepared GPU check (workflow/scripts/gpu_check.sh) on its CPU path: the paper preflight's
cells at their real widths for a few steps, fast path off and on, each interrupted and resumed,
with device, s/step and peak memory written per cell and mode."""

import json
import os
import subprocess

import pytest


@pytest.mark.slow
def test_gpu_check_script_runs_on_the_cpu_and_writes_speed_and_memory_per_cell_and_mode(repo, mirror, tmp_path):
    out = tmp_path / "paper-preflight"
    env = dict(os.environ, SEMIGAN_DEVICE="cpu", GPU_CHECK_STEPS="2", GPU_CHECK_OUT=str(out),
               TORCH_COMPILE_DISABLE="1",  # inductor's CPU build takes minutes; the GPU run compiles
               SEMIGAN_MIRROR=str(mirror), PYTHONPATH=str(repo / "src"))
    proc = subprocess.run([str(repo / "workflow/scripts/gpu_check.sh"), "--only", "mnist/n100/supervised",
                           "mnist/n100/cgan_labeled"], cwd=repo, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = json.loads((out / "gpu_check.json").read_text())["cells"]
    assert [(r["kind"], r["run"], r["mode"]) for r in rows] == [
        ("classification", "mnist/n100/supervised/seed0", "plain"), ("generation", "mnist/n100/cgan_labeled/seed0", "plain"),
        ("classification", "mnist/n100/supervised/seed0", "fast"), ("generation", "mnist/n100/cgan_labeled/seed0", "fast")]
    for r in rows:
        assert r["resumed_from"] == [1] and r["steps"] == 2 and r["device"].startswith("cpu")
        assert r["s_per_step"] > 0 and r["peak_memory_mb"] > 0
        assert r["fast_path"]["precision"] == ("bf16" if r["mode"] == "fast" else "fp32")
        # the paper profile keeps channels_last off for MNIST's fully connected classifiers
        assert r["fast_path"]["channels_last"] == (r["mode"] == "fast" and r["kind"] == "generation")
    table = (out / "gpu_check.md").read_text()
    assert table.count("| mnist/n100/") == 4 and "| fast |" in table and "| plain |" in table
