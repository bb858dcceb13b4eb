"""Slurm for real: workflow/scripts/slurm_local.sh starts a one-node cluster (munged,
slurmctld, slurmd from Debian's slurm-wlm) in a temporary folder, and the smoke DAG up to its
summary table — cut to MNIST-100 with two methods and no generation grid, so that it fits in
a few minutes on two cores — runs through the slurm executor plugin with `--profile
profiles/slurm --workflow-profile profiles/slurm-local`. A training job cancelled mid-run is resubmitted
(the profile's `retries`) and resumes from its checkpoint, and the summary table equals a
local run's. Skipped, with the missing program named, where slurm-wlm or munge is not
installed."""

import json
import os
import re
import shutil
import subprocess
import time

import pytest
import yaml

from test_workflow import _run, _workdir


SCRIPT = "workflow/scripts/slurm_local.sh"
PROFILE_ARGS = ["--profile", "profiles/slurm", "--workflow-profile", "profiles/slurm-local"]
METHODS = ["supervised", "ssl_gan"]
KILLED = "mnist/n100/ssl_gan/seed0"   # the run whose training job is cancelled mid-run
KILLED_STEPS = 60                     # > smoke's 40, so that it is still running after a checkpoint
KILLED_COMMENT = "rule_train_wildcards_mnist_100_ssl_gan_0"  # the plugin's `sbatch --comment`
SUMMARY = "results/smoke/tables/summary.csv"  # the target: every job up to the summary table
LIMIT = 1500  # seconds for the Slurm run (about 5 min on 2 cores shared with a training job)
TIMING_COLUMNS = ("train_seconds", "steps_per_second")  # wall-clock, not results


def _smoke_mnist(mirror):
    def edit(params):
        params["data"]["mirror"] = str(mirror)
        smoke = params["profiles"]["smoke"]
        smoke["grid"] = {"datasets": {"mnist": [100]}, "seeds": [0], "methods": METHODS}
        smoke.pop("generation_grid", None)
        smoke["methods"]["ssl_gan"]["train"]["steps"] = KILLED_STEPS
    return edit


@pytest.fixture
def cluster(repo, tmp_path_factory):
    """The cluster's environment (SLURM_CONF, PATH with its client wrappers); `down` after."""
    state = tmp_path_factory.mktemp("slurm")
    script = str(repo / SCRIPT)
    up = subprocess.run([script, "up", str(state)], capture_output=True, text=True)
    if up.returncode == 3:  # a program is missing: the script names it
        pytest.skip(up.stderr.strip())
    if up.returncode:
        logs = "\n".join(f"--- {p.name}\n{p.read_text()[-2000:]}" for p in sorted((state / "log").glob("*.log")))
        pytest.fail(f"slurm_local.sh up failed ({up.returncode}):\n{up.stdout}{up.stderr}{logs}")
    env = dict(os.environ, SLURM_CONF=str(state / "slurm.conf"),
               PATH=f"{state / 'bin'}{os.pathsep}{os.environ['PATH']}", SEMIGAN_MIRROR="")
    try:
        yield {"env": env, "state": state}
    finally:
        down = subprocess.run([script, "down", str(state)], capture_output=True, text=True)
        assert down.returncode == 0, down.stdout + down.stderr
        pids = [(state / "run" / f"{d}.pid") for d in ("munged", "slurmctld", "slurmd")]
        assert not any(p.exists() for p in pids), "down left pid files"
        status = subprocess.run([script, "status", str(state)], capture_output=True, text=True)
        assert status.returncode == 1 and status.stdout.count("not running") == 3, status.stdout


def _squeue(env):
    out = subprocess.run(["squeue", "-h", "-t", "running", "-o", "%i|%k"], capture_output=True, text=True,
                         env=env, check=True).stdout
    return dict(line.split("|", 1)[::-1] for line in out.split())


def _jobcomp(state):
    """Slurm's record of every finished job (jobcomp/filetxt): job id → fields."""
    jobs = {}
    for line in (state / "log" / "jobcomp.txt").read_text().splitlines():
        fields = dict(re.findall(r"(\w+)=(\S*)", line))
        jobs[fields["JobId"]] = fields
    return jobs


def _summary(path):
    import pandas as pd

    table = pd.read_csv(path)
    return table[[c for c in table.columns if not c.startswith(TIMING_COLUMNS)]]


@pytest.mark.slurm
@pytest.mark.slow
def test_smoke_dag_on_a_local_slurm_cluster(repo, tmp_path, mirror, cluster):
    import pandas as pd

    env, state = cluster["env"], cluster["state"]
    local_profile = yaml.safe_load((repo / "profiles/slurm-local/config.yaml").read_text())
    default, train = local_profile["default-resources"], local_profile["set-resources"]["train"]
    threads = local_profile["set-threads"]["train"]
    smoke = yaml.safe_load((repo / "params.yaml").read_text())["profiles"]["smoke"]
    every = smoke["train"]["checkpoint_every"]
    assert every < KILLED_STEPS - every, "the killed run must write a checkpoint well before it ends"

    # the reference: a plain local run on the same cells (profiles/default), run alongside the
    # Slurm run, which spends much of its time waiting on sbatch/squeue round trips
    (tmp_path / "local").mkdir()
    local = _workdir(repo, tmp_path / "local", edit=_smoke_mnist(mirror))
    local_log = open(tmp_path / "snakemake-local.log", "w")
    reference = subprocess.Popen(["snakemake", SUMMARY, "--config", "profile=smoke"],
                                 cwd=local, env=dict(os.environ, SEMIGAN_MIRROR=""), stdout=local_log,
                                 stderr=subprocess.STDOUT)

    # the smoke DAG through Slurm; the KILLED run's job is cancelled once it has a checkpoint
    (tmp_path / "slurm").mkdir()
    work = _workdir(repo, tmp_path / "slurm", edit=_smoke_mnist(mirror))
    checkpoint = work / "resources/models/smoke" / KILLED / "checkpoint.pt"
    comment = KILLED_COMMENT
    log_path = tmp_path / "snakemake-slurm.log"
    killed, job_snapshot = None, ""
    t0 = time.time()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(["snakemake", SUMMARY, *PROFILE_ARGS, "--config", "profile=smoke", "--verbose"],
                                cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            while proc.poll() is None and time.time() - t0 < LIMIT:
                if killed is None and checkpoint.exists():
                    running = _squeue(env)
                    if comment in running:
                        killed = running[comment]
                        job_snapshot = _run(["scontrol", "show", "job", killed], work, env=env).stdout
                        _run(["scancel", killed], work, env=env)
                time.sleep(0.5)
            if proc.poll() is None:
                pytest.fail(f"snakemake through Slurm still running after {LIMIT} s; see {log_path}")
            t_slurm = time.time() - t0
            assert reference.wait(timeout=600) == 0, (tmp_path / "snakemake-local.log").read_text()[-5000:]
        finally:
            for p in (proc, reference):
                if p.poll() is None:
                    p.kill()
                    p.wait()
            local_log.close()
    t_both = time.time() - t0
    out = log_path.read_text()
    assert proc.returncode == 0, out[-5000:]
    assert killed, f"the {KILLED} training job finished before it could be cancelled:\n{out[-3000:]}"

    # every job went through sbatch: Snakemake's job → Slurm job id, and Slurm's own record
    submitted = re.findall(r"has been submitted with SLURM jobid (\d+) \(log: \S*/slurm_logs/rule_(\w+)/", out)
    rules = sorted({rule for _, rule in submitted})
    assert rules == ["download", "evaluate", "report", "split", "train"], rules
    n_train = len(METHODS) + 1  # one resubmission
    assert [rule for _, rule in submitted].count("train") == n_train, submitted
    jobs = _jobcomp(state)
    states = {job: jobs[job]["JobState"] for job, _ in submitted}
    assert states == {job: "CANCELLED" if job == killed else "COMPLETED" for job, _ in submitted}, states

    # resources reach Slurm: the sbatch calls, the running job, Slurm's record, the job's Snakemake
    calls = {m.group(1): m.group(0) for m in re.finditer(r"sbatch call: sbatch .*?--comment (\S+).*", out)}
    train_call = calls[comment]
    for flag in (f"-p {default['slurm_partition']}", f"-t {train['runtime']}", f"--mem {train['mem_mb']}",
                 f"--cpus-per-task={train['cpus_per_task']}"):
        assert f" {flag} " in train_call, (flag, train_call)
    assert "--gpus" not in train_call and "--gres" not in train_call  # gpu: 0 on this GPU-less node
    download_call = calls["rule_download_wildcards_mnist"]
    assert f" -t {default['runtime']} " in download_call and f" --mem {default['mem_mb']} " in download_call
    for field in ("JobState=RUNNING", f"Partition={default['slurm_partition']}", f"NumCPUs={train['cpus_per_task']}",
                  f"MinMemoryNode={train['mem_mb']}M", f"TimeLimit={train['runtime'] // 60:02d}:{train['runtime'] % 60:02d}:00", f"Comment={comment}"):
        assert field in job_snapshot, (field, job_snapshot)
    for job, rule in submitted:
        want = (train if rule == "train" else default)
        assert jobs[job]["TimeLimit"] == str(want["runtime"]), jobs[job]
        assert f"mem={want['mem_mb']}M" in jobs[job]["Tres"], jobs[job]
        if rule == "train":
            assert f"cpu={train['cpus_per_task']}" in jobs[job]["Tres"], jobs[job]
    train_logs = sorted((work / ".snakemake/slurm_logs/rule_train").rglob("*.log"))
    assert len(train_logs) == n_train, train_logs
    for path in train_logs:
        text = path.read_text()
        assert f"threads: {threads}" in text, path
        assert f"srun -n1 --cpu-bind=q  --cpus-per-task={train['cpus_per_task']}" in text, path

    # the cancelled job was resubmitted and resumed from its checkpoint
    assert f"SLURM-job '{killed}' failed, SLURM status is: 'CANCELLED'" in out
    train_log = (work / "logs/smoke/train" / f"{KILLED}.log").read_text()
    resumed = re.findall(r"resumed from checkpoint at step (\d+)/(\d+)", train_log)
    assert len(resumed) == 1 and int(resumed[0][1]) == KILLED_STEPS, train_log
    step = int(resumed[0][0])
    assert step > 0 and step % every == 0 and step < KILLED_STEPS, step
    metrics = json.loads((work / "results/smoke/runs" / KILLED / "metrics.json").read_text())
    assert metrics["resumed_from"] == [step] and metrics["train_steps"] == KILLED_STEPS
    reference = json.loads((local / "results/smoke/runs" / KILLED / "metrics.json").read_text())
    assert reference["resumed_from"] == []

    # the same results as the uninterrupted local run (timing columns aside)
    ours, theirs = (_summary(w / SUMMARY) for w in (work, local))
    assert len(ours) == len(METHODS)
    pd.testing.assert_frame_equal(ours, theirs, check_exact=True)

    # the rules' own gpu=1 (without the test cluster's gpu: 0) reaches sbatch as --gpus=1,
    # which this GPU-less node refuses at submission
    target = f"resources/models/smoke/{KILLED.replace('ssl_gan', 'supervised')}/model.pt"
    gpu = _run(["snakemake", *PROFILE_ARGS, "--config", "profile=smoke", "--retries", "0", "--verbose",
                "--set-resources", f"train:mem_mb={train['mem_mb']}", "--force", target], work, check=False, env=env)
    text = gpu.stdout + gpu.stderr
    assert gpu.returncode != 0
    assert re.search(r"sbatch call: sbatch .*--comment rule_train_\S+ .* --gpus=1\b", text), text[-3000:]
    assert "Invalid generic resource (gres) specification" in text, text[-3000:]
    print(f"through Slurm {t_slurm:.0f} s, with the local reference alongside {t_both:.0f} s "
          f"(job {killed} cancelled at step >= {step}, resumed)")


def test_script_names_what_is_missing_and_rejects_bad_input(repo, tmp_path):
    """No daemon needed: the skip reason names the missing programs, and bad input is an error
    that names the bad value; nothing is started."""
    script = str(repo / SCRIPT)
    tools = tmp_path / "tools"  # the shell tools the script uses, but no Slurm client
    tools.mkdir()
    for tool in ("bash", "dirname", "realpath", "mkdir", "python3", "id", "cat", "sed", "grep", "tr", "seq", "sleep", "rm"):
        os.symlink(shutil.which(tool), tools / tool)
    env = dict(os.environ, PATH=str(tools))
    out = subprocess.run([script, "up", str(tmp_path / "c")], capture_output=True, text=True, env=env)
    assert out.returncode == 3, out.stdout + out.stderr
    assert "missing: " in out.stderr and "sbatch" in out.stderr and "apt-get install slurm-wlm munge" in out.stderr
    assert not (tmp_path / "c").exists()  # nothing made

    out = subprocess.run([script, "start"], capture_output=True, text=True)
    assert out.returncode == 2 and "unknown command 'start'" in out.stderr
    out = subprocess.run([script, "up", str(tmp_path / "c")], capture_output=True, text=True,
                         env=dict(os.environ, SLURM_LOCAL_PARTITION="gpu partition"))
    assert out.returncode == 1 and "SLURM_LOCAL_PARTITION='gpu partition'" in out.stderr
    out = subprocess.run([script, "env", str(tmp_path / "none")], capture_output=True, text=True)
    assert out.returncode == 1 and f"no cluster in {tmp_path / 'none'}" in out.stderr
    out = subprocess.run([script, "down", str(tmp_path / "none")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr  # nothing to stop is not an error
    assert not (tmp_path / "none").exists()  # only `up` makes the folder


def _rules_asking_for_a_gpu(repo):
    """Rule name → its `gpu=` resource expression, read from workflow/rules/*.smk."""
    found = {}
    for smk in sorted((repo / "workflow/rules").glob("*.smk")):
        for block in re.split(r"\n(?=\s*rule )", smk.read_text()):
            name = re.match(r"\s*rule (\w+):", block)
            gpu = re.search(r"resources:\s*\n\s*gpu=([^,\n]+),", block)
            if name and gpu:
                found[name.group(1)] = gpu.group(1).split("#")[0].strip()
    return found


def test_slurm_profile_sends_gpu_rules_to_the_gpu_partition_and_the_rest_to_the_cpu_partition(repo):
    profile = yaml.safe_load((repo / "profiles/slurm/config.yaml").read_text())
    gpu_rules = _rules_asking_for_a_gpu(repo)
    assert set(gpu_rules) == {"train", "train_gan", "extractor", "evaluate_gan", "bench", "bench_metrics"}, gpu_rules
    assert gpu_rules["evaluate_gan"] == "evaluate_gan_gpus"  # a GPU only where it computes Inception metrics
    assert profile["default-resources"]["slurm_partition"] == "cpu"
    assert {rule: profile["set-resources"][rule]["slurm_partition"] for rule in gpu_rules} == dict.fromkeys(gpu_rules, "gpu")
    cpu_only = {r for r, s in profile["set-resources"].items() if s.get("slurm_partition", "cpu") == "cpu"}
    assert not cpu_only & set(gpu_rules)
    # the test cluster has no GPU: every rule that would ask for one is told not to
    local = yaml.safe_load((repo / "profiles/slurm-local/config.yaml").read_text())
    assert {r for r, s in local["set-resources"].items() if s.get("gpu") == 0} >= {"train", "train_gan", "extractor", "evaluate_gan"}
