"""DVC's view of the project: a fresh clone is up to date (`dvc status`), the data and models are
cached outputs when params.yaml's dvc_cache lists resources/, unfinished runs' checkpoints stay
outside DVC, and `dvc push` without a remote says so. The push/pull round trip through a remote
runs on the smoke DAG in tests/test_workflow.py::test_smoke_dag_through_dvc_repro."""

import json
import shutil
import subprocess

import pytest
import yaml


def _run(cmd, cwd, check=True):
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if check and result.returncode:
        raise AssertionError(f"{cmd} failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


def test_a_fresh_clone_is_up_to_date(repo, tmp_path):
    """What a newcomer sees after `git clone`: no resources/, and nothing for `dvc repro` to do.
    Fails when a commit changed code, workflow or params without `dvc commit -f pipeline`."""
    head = _run(["git", "rev-parse", "HEAD"], repo, check=False)
    if head.returncode:
        pytest.skip(f"{repo} is not a git checkout; a fresh clone needs one")
    clone = tmp_path / "clone"
    _run(["git", "clone", "-q", "--no-checkout", str(repo), str(clone)], tmp_path)
    _run(["git", "checkout", "-q", head.stdout.strip()], clone)
    assert not (clone / "resources").exists()
    status = json.loads(_run(["dvc", "status", "--json"], clone).stdout)
    assert status == {}, (f"dvc status of a fresh clone: {status}; after changing code, workflow or params, "
                          "record them with `dvc commit -f pipeline` and commit dvc.lock")
    repro = _run(["dvc", "repro"], clone)  # no remote is configured: nothing to run, nothing to fetch
    assert "didn't change" in repro.stdout or "up to date" in repro.stdout, repro.stdout


def _dvc_project(repo, tmp_path, **params):
    """dvc.yaml, params.yaml (with `params` set) and .dvcignore of this checkout in a new DVC project."""
    work = tmp_path / "project"
    work.mkdir()
    for name in ("dvc.yaml", ".dvcignore"):
        shutil.copy(repo / name, work / name)
    p = yaml.safe_load((repo / "params.yaml").read_text())
    p.update(params)
    (work / "params.yaml").write_text(yaml.safe_dump(p, sort_keys=False))
    _run(["git", "init", "-q"], work)
    _run(["dvc", "init", "-q"], work)
    return work


def _outs(work):
    """stage name → {output path: (cache, persist)}, as DVC reads dvc.yaml."""
    from dvc.repo import Repo

    with Repo(str(work)) as r:
        return {s.name: {str(o.def_path): (o.use_cache, o.persist) for o in s.outs} for s in r.index.stages}


def test_results_stay_in_git_and_resources_are_cached_when_listed(repo, tmp_path):
    committed = yaml.safe_load((repo / "params.yaml").read_text())
    assert committed["dvc_cache"] == []  # a clone without resources/ is up to date
    outs = _outs(_dvc_project(repo, tmp_path, profile="smoke", dvc_cache=["resources"]))
    assert set(outs) == {"pipeline", "cache@resources"}
    assert outs["cache@resources"] == {"resources": (True, True)}  # cached; persist: Snakemake decides re-runs
    assert outs["pipeline"] and all(path.startswith("results/smoke/") and not cache and persist
                                    for path, (cache, persist) in outs["pipeline"].items())


def test_unfinished_checkpoints_and_downloads_stay_outside_the_cache(repo, tmp_path):
    work = _dvc_project(repo, tmp_path, dvc_cache=["resources"])
    run = "resources/models/cpu/mnist/n100/ssl_gan/seed0"
    gen = "resources/generation/cpu/mnist/n100/cgan_pseudo/seed0"
    outside = [f"{run}/checkpoint.pt", f"{gen}/checkpoint.pt", f"{run}/model.pt.part",
               "resources/downloads/mnist/train-images-idx3-ubyte.gz",
               "resources/fixtures/downloads/cifar10/cifar-10-python.tar.gz",
               "resources/fidelity_cache/cpu/mnist.npz", "resources/extractors/cpu/mnist.0123456789abcdef.pt",
               "resources/preflight/data/mnist/train.npz"]
    cached = [f"{run}/model.pt", f"{gen}/model.pt", "resources/data/mnist/train.npz", "resources/data/mnist/meta.json",
              "resources/splits/mnist/val1000/n100/seed0.npz", "resources/fixtures/data/cifar10/test.npz"]
    for path in outside + cached:
        (work / path).parent.mkdir(parents=True, exist_ok=True)
        (work / path).write_text(path)
    ignored = _run(["dvc", "check-ignore", *outside, *cached], work, check=False).stdout.split()
    assert sorted(ignored) == sorted(outside)


def test_push_without_a_remote_says_that_none_is_set(repo, tmp_path):
    work = _dvc_project(repo, tmp_path)
    pushed = _run(["dvc", "push"], work, check=False)
    assert pushed.returncode != 0
    assert "no remote specified" in pushed.stderr and "dvc remote add -d" in pushed.stderr, pushed.stderr


def test_models_that_dvc_restored_are_dated_back_and_retrained_ones_are_not(tmp_path):
    """A model newer than its run's history.csv was written by `dvc pull`/`dvc checkout`, not by its
    training (which writes the model, then the history): dated back, so Snakemake does not re-run
    its evaluation by file time. A model written before its history keeps its time."""
    import os

    from semigan.committed import date_back_restored_models

    models, results = tmp_path / "resources/models/cpu", tmp_path / "results/cpu/runs"
    paths = {}
    for run, model_after_history in (("mnist/n100/ssl_gan/seed0", True), ("mnist/n100/supervised/seed0", False)):
        model, history = models / run / "model.pt", results / run / "history.csv"
        for p in (model, history):
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(run)
        os.utime(history, (1_000_000_000, 1_000_000_000))
        os.utime(model, (1_000_000_000 + (10 if model_after_history else -10),) * 2)
        paths[run] = model
    unmatched = models / "mnist/n20/ssl_gan/seed0/model.pt"  # no history here: nothing to compare with
    unmatched.parent.mkdir(parents=True)
    unmatched.write_text("x")

    assert date_back_restored_models(models, results) == [paths["mnist/n100/ssl_gan/seed0"]]
    assert paths["mnist/n100/ssl_gan/seed0"].stat().st_mtime < 1_000_000_000
    assert paths["mnist/n100/supervised/seed0"].stat().st_mtime == 1_000_000_000 - 10
    assert unmatched.stat().st_mtime > 1_000_000_000
    assert paths["mnist/n100/ssl_gan/seed0"].read_text() == "mnist/n100/ssl_gan/seed0"  # content untouched
