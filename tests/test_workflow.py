"""The Snakemake workflow and its DVC wrapper: lint, env pins, job counts for a grid,
errors before any job runs, and a real smoke run of the whole DAG through `dvc repro`."""

import hashlib
import json
import os
import re
import shutil
import subprocess
import time

import pytest
import yaml

COPY = ["Snakefile", "workflow", "profiles", "params.yaml", "dvc.yaml", ".dvcignore", "src/semigan",
        "references"]
REPORT_JOBS = {"report": 1, "all": 1}


def _workdir(repo, tmp_path, profile=None, mirror=None, edit=None):
    work = tmp_path / "wf"
    work.mkdir()
    for item in COPY:
        src, dst = repo / item, work / item
        if src.is_dir():
            shutil.copytree(src, dst, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, dst)
    params = yaml.safe_load((work / "params.yaml").read_text())
    if profile:
        params["profile"] = profile
    if mirror:
        params["data"]["mirror"] = str(mirror)
    if edit:
        edit(params)
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return work


def _run(cmd, cwd, check=True, env=None):
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    if check and result.returncode:
        raise AssertionError(f"{cmd} failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


def _job_counts(output: str) -> dict:
    lines = output.split("Job stats:")[1].splitlines()
    counts = {}
    for line in lines[3:]:
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit():
            break
        counts[parts[0]] = int(parts[1])
    counts.pop("total", None)
    return counts


def test_lint_is_clean(repo):
    out = _run(["snakemake", "--lint"], repo)
    assert "good condition" in out.stdout + out.stderr


def _expected_jobs(params_path, profile) -> dict:
    """The jobs a dry run of `all` must plan, from the grids themselves: every classification
    cell plus the classifier each pseudo-labelling generation cell needs, a split per
    (dataset, n_val, labels, seed), a download per dataset, an extractor per generation dataset."""
    from semigan.config import Cell, generation_cells, grid_cells, load_params, n_val_of, resolve

    eff = resolve(load_params(params_path, profile=profile))
    gen = generation_cells(eff)
    cls = set(grid_cells(eff))
    for c in gen:
        classifier = eff["generation"]["methods"][c.method].get("classifier")
        if classifier:
            cls.add(Cell(c.dataset, c.n_labels, classifier, c.seed))
    runs = [*cls, *gen]
    counts = {"download": len({c.dataset for c in runs}),
              "split": len({(c.dataset, n_val_of(eff, c.dataset), c.n_labels, c.seed) for c in runs}),
              "train": len(cls), "evaluate": len(cls), **REPORT_JOBS}
    if gen:
        counts |= {"extractor": len({c.dataset for c in gen}), "train_gan": len(gen), "evaluate_gan": len(gen)}
    return counts


def test_dry_run_job_counts_smoke(repo, tmp_path):
    """Fixed numbers for the smoke grid: anchors `_expected_jobs` to counts worked out by hand."""
    work = _workdir(repo, tmp_path)
    out = _run(["snakemake", "-n", "--config", "profile=smoke"], work)
    assert _job_counts(out.stdout) == {"download": 3, "split": 3, "train": 9, "evaluate": 9, **REPORT_JOBS,
                                       "extractor": 1, "train_gan": 5, "evaluate_gan": 5}
    assert _expected_jobs(work / "params.yaml", "smoke") == _job_counts(out.stdout)


@pytest.mark.parametrize("profile", ["cpu", "paper"])
def test_dry_run_plans_every_cell_of_the_grids(repo, tmp_path, profile):
    """The committed grids grow block by block; the plan must follow them without hand-kept counts."""
    work = _workdir(repo, tmp_path)
    out = _run(["snakemake", "-n", "--config", f"profile={profile}"], work)
    assert _job_counts(out.stdout) == _expected_jobs(work / "params.yaml", profile)


def test_paper_preflight_plans_every_cell_shape_with_fixtures_and_resume_checks(repo, tmp_path, mirror):
    """The paper preflight's DAG: each cell of the paper grids once (first seed), official
    CIFAR-10 and SVHN (not in the mirror) as fixtures, MNIST from the mirror, every training
    job interrupted and resumed, and the preflight table at the end."""
    work = _workdir(repo, tmp_path, mirror=mirror)
    out = _run(["snakemake", "-n", "-p", "--config", "profile=paper", "preflight=4"], work).stdout
    assert _job_counts(out) == {"download": 3, "split": 3, "train": 9, "evaluate": 9, **REPORT_JOBS,
                                "extractor": 2, "train_gan": 10, "evaluate_gan": 10, "preflight": 1}
    downloads = {m.group(1): m.group(0) for m in re.finditer(r"semigan download (\w+) [^\n]*", out)}
    assert set(downloads) == {"mnist", "cifar10", "svhn"}
    assert "--fixture" in downloads["cifar10"] and "--fixture" in downloads["svhn"]
    assert "--fixture" not in downloads["mnist"] and "--mirror" in downloads["mnist"]
    assert "resources/preflight/data" in downloads["mnist"]
    trains = re.findall(r"semigan train(?:-gan)? [^\n]*", out)  # resume check: implied by the profile's name
    assert len(trains) == 19 and all('"profile": "paper-preflight"' in t for t in trains)
    assert "results/paper-preflight/preflight.md" in out and "results/paper/" not in out

    def no_mirror(params):
        params["data"]["mirror"] = None

    (tmp_path / "no-mirror").mkdir()
    work = _workdir(repo, tmp_path / "no-mirror", edit=no_mirror)
    env = dict(os.environ, SEMIGAN_MIRROR="")
    out = _run(["snakemake", "-n", "-p", "--config", "profile=paper", "preflight=4"], work, env=env).stdout
    downloads = {m.group(1): m.group(0) for m in re.finditer(r"semigan download (\w+) [^\n]*", out)}
    assert "--fixture" in downloads["cifar10"] and "--fixture" not in downloads["mnist"]  # downloaded as usual


def test_preflight_runs_through_the_rules_and_tabulates_each_cell(repo, tmp_path, mirror):
    """A small preflight for real: the jobs run, each is interrupted after its checkpoint and
    resumes, and the table gives steps, s/step, peak memory and the cost of the full run;
    nothing lands in the profile's own results or the real data folder."""
    def narrow(params):
        params["profiles"]["smoke"]["grid"] = {"datasets": {"mnist": [100]}, "seeds": [0, 1], "methods": ["supervised"]}
        params["profiles"]["smoke"]["generation_grid"] = {"datasets": {"mnist": [100]}, "seeds": [0], "methods": ["gan"]}

    work = _workdir(repo, tmp_path, profile="smoke", mirror=mirror, edit=narrow)
    _run(["snakemake", "preflight", "--config", "preflight=2"], work)
    table = json.loads((work / "results/smoke-preflight/preflight.json").read_text())
    rows = {r["run"]: r for r in table["cells"]}
    assert set(rows) == {"mnist/n100/supervised/seed0", "mnist/n100/gan/seed0"}
    for run, full, seeds in (("mnist/n100/supervised/seed0", 40, [0, 1]), ("mnist/n100/gan/seed0", 20, [0])):
        r = rows[run]
        assert (r["steps_run"], r["resumed_from"], r["full_steps"], r["seeds"]) == (2, [1], full, seeds)
        assert r["s_per_step"] > 0 and r["peak_memory_mb"] > 50
        assert r["estimated_train_hours"] == pytest.approx(full * r["s_per_step"] / 3600)
        assert r["estimated_train_hours_all_seeds"] == pytest.approx(len(seeds) * r["estimated_train_hours"])
    metrics = json.loads((work / rows["mnist/n100/supervised/seed0"]["metrics_file"]).read_text())
    assert metrics["profile"] == "smoke-preflight" and metrics["config"]["train"]["steps"] == 2
    table_md = (work / "results/smoke-preflight/preflight.md").read_text()
    assert "| mnist/n100/gan/seed0 | 0 | cgan g128/d64 |" in table_md
    assert "| mnist/n100/supervised/seed0 | 0, 1 | mlp28 |" in table_md and "All 3 runs of the profile's grids" in table_md
    assert table["total"]["runs"] == 3 and table["total"]["estimated_train_hours"] == pytest.approx(
        sum(r["estimated_train_hours_all_seeds"] for r in rows.values()))
    assert not (work / "results/smoke").exists() and not (work / "resources/data").exists()


def _clone_with_results(repo, tmp_path, edit=None):
    """A clone of the cpu results whose file times make every table look older than every run."""
    work = _workdir(repo, tmp_path, edit=edit)
    shutil.copytree(repo / "results" / "cpu", work / "results" / "cpu")
    now = time.time()
    for path in (work / "results" / "cpu").rglob("*"):
        upstream = path.relative_to(work / "results" / "cpu").parts[0] in ("runs", "generation", "extractors")
        os.utime(path, (now, now) if upstream else (now - 3600, now - 3600))
    return work


def test_clone_that_adds_a_cell_computes_only_that_cell(repo, tmp_path):
    """No data or models here (a clone): a new grid cell brings its own download, split,
    training and evaluation, and the summaries; no committed run is retrained."""
    def add_seed(params):
        params["profiles"]["cpu"]["grid"].append(
            {"datasets": {"mnist": [100]}, "seeds": [7], "methods": ["supervised"]})

    out = _run(["snakemake", "-n"], _clone_with_results(repo, tmp_path, edit=add_seed))
    assert _job_counts(out.stdout) == {"download": 1, "split": 1, "train": 1, "evaluate": 1, **REPORT_JOBS}


def test_clone_that_adds_a_generation_cell_measures_with_the_committed_extractor(repo, tmp_path):
    """The clone downloads the dataset for the new cell; the committed extractor weights are
    used as they are, not retrained (which on another kind of CPU gives other weights)."""
    def add_seed(params):
        params["profiles"]["cpu"]["generation_grid"].append(
            {"datasets": {"cifar10_jpeg": [4000]}, "seeds": [7], "methods": ["gan"]})

    work = _clone_with_results(repo, tmp_path, edit=add_seed)
    assert (work / "results/cpu/extractors/cifar10_jpeg.pt").is_file()
    out = _run(["snakemake", "-n"], work)
    assert _job_counts(out.stdout) == {"download": 1, "split": 1, "train_gan": 1, "evaluate_gan": 1, **REPORT_JOBS}


def test_committed_results_are_up_to_date_in_any_checkout_order_and_changed_ones_rerun_the_report(repo, tmp_path):
    """A clone computes nothing for the committed cpu grid, even when git's checkout order
    leaves every table older than the runs it summarises (the report's input record matches).
    A committed result that differs from what the report read (copied or pulled in, not made
    here) re-runs the report in the next plain call, even when it is older than the tables;
    the report does not re-run for file times alone."""
    work = _clone_with_results(repo, tmp_path)
    out = _run(["snakemake", "-n"], work)
    assert "Nothing to be done" in out.stdout + out.stderr, out.stdout[-3000:]
    metrics = work / "results/cpu/runs/mnist/n100/supervised/seed0/metrics.json"
    m = json.loads(metrics.read_text())
    m["test_error_pct"] += 1.0
    metrics.write_text(json.dumps(m))
    os.utime(metrics, (time.time() - 7200,) * 2)  # older than every table
    assert _job_counts(_run(["snakemake", "-n"], work).stdout) == REPORT_JOBS
    shutil.copy(repo / "results/cpu/runs/mnist/n100/supervised/seed0/metrics.json", metrics)
    assert "Nothing to be done" in _run(["snakemake", "-n"], work).stdout  # the content read is back
    references = work / "references/published.csv"
    references.write_text(references.read_text() + "\n")
    assert _job_counts(_run(["snakemake", "-n"], work).stdout) == REPORT_JOBS


def test_clone_reports_a_committed_run_whose_settings_changed(repo, tmp_path):
    """Without Snakemake's records (a clone), a changed setting of a committed run is named in
    a warning; the committed result is kept until the user deletes it."""
    def change_lr(params):
        params["profiles"]["cpu"]["methods"]["supervised"]["hparams"] = {"lr": 0.0123}

    work = _workdir(repo, tmp_path, edit=change_lr)
    shutil.copytree(repo / "results" / "cpu", work / "results" / "cpu")
    out = _run(["snakemake", "-n"], work)
    text = out.stdout + out.stderr
    assert "results/cpu/runs/mnist/n100/supervised/seed0/metrics.json was computed with other settings (hparams.lr)" \
        in text
    assert "Nothing to be done" in text


def test_bad_params_fail_before_any_job(repo, tmp_path):
    work = _workdir(repo, tmp_path, edit=lambda p: p["train"].update(ema_half_life=5))
    out = _run(["snakemake", "-n"], work, check=False)
    assert out.returncode != 0
    assert "ema_half_life" in out.stdout + out.stderr
    assert "Job stats" not in out.stdout
    out = _run(["snakemake", "-n", "--config", "profile=laptop"], repo, check=False)
    assert out.returncode != 0 and "profile='laptop' is not defined" in out.stdout + out.stderr
    assert "Traceback" not in out.stderr and 'File "' not in out.stderr  # one line, not a traceback


def test_numbers_in_exponent_form_reach_the_jobs_and_other_values_stop_the_dry_run(repo, tmp_path):
    """Snakemake loads params.yaml as YAML 1.1, where `3e-4` is a string: the job still gets
    the number, and a value that is no number is named, with the type expected, before any job."""
    lr = "hparams: {lr: 0.003, beta1: 0.5}\n    per_dataset: &conv_lr"
    work = _workdir(repo, tmp_path)
    hand = (repo / "params.yaml").read_text().replace(lr, lr.replace("0.003", "3e-4"), 1)
    assert "lr: 3e-4" in hand
    (work / "params.yaml").write_text(hand)  # as written by hand, not re-dumped
    out = _run(["snakemake", "-n", "-p", "--config", "profile=smoke"], work).stdout
    trains = re.findall(r"semigan train [^\n]*", out)
    mnist = [t for t in trains if '"method": "supervised"' in t and '"dataset": "mnist"' in t]
    assert len(mnist) == 1 and '"lr": 0.0003}' in mnist[0], trains

    (work / "params.yaml").write_text(hand.replace("lr: 3e-4", "lr: abc", 1))
    out = _run(["snakemake", "-n", "--config", "profile=smoke"], work, check=False)
    assert out.returncode == 1 and "Job stats" not in out.stdout
    assert ("params.yaml: error: methods.supervised.hparams.lr: 'abc' is not a number; expected float"
            in out.stderr), out.stderr
    assert "Traceback" not in out.stderr


def test_inception_fast_path_settings_reach_evaluate_gan_only_where_set(repo, tmp_path):
    """generation.inception_precision / inception_compile become evaluate-gan options for the
    datasets that get Inception metrics; at their defaults the command is what it was before
    they existed (so finished runs are not re-run for them)."""
    def fast(params):
        params["generation"].update(inception_precision="bf16", inception_compile=True)
        params["profiles"]["smoke"]["generation"]["inception_datasets"] = ["mnist"]

    for edit, wanted in ((None, None), (fast, "--inception-precision bf16 --inception-compile")):
        (tmp_path / str(bool(edit))).mkdir()
        work = _workdir(repo, tmp_path / str(bool(edit)), edit=edit)
        out = _run(["snakemake", "-n", "-p", "--config", "profile=smoke"], work).stdout
        commands = re.findall(r"semigan evaluate-gan [^\n]*", out)
        assert len(commands) == 5, out[-2000:]
        for command in commands:
            assert ("--no-inception" in command) == (wanted is None), command
            assert ("--inception-" in command.replace("--inception-weights", "")) == (wanted is not None), command
            assert wanted is None or wanted in command, command


def test_grid_typo_names_the_word_without_a_traceback(repo, tmp_path):
    """Issue 15 case 3, through Snakemake: the misspelt method, its block and the known methods."""
    work = _workdir(repo, tmp_path, edit=lambda p: p["profiles"]["cpu"]["grid"][0].update(
        methods=["supervised", "pseudo_lable"]))
    out = _run(["snakemake", "-n"], work, check=False)
    errors = [line for line in out.stderr.splitlines() if "error" in line]
    assert out.returncode == 1 and errors == [
        "params.yaml: error: profile 'cpu', grid[0].methods: 'pseudo_lable' is not a method; expected one of "
        "['pseudo_label', 'ssl_gan', 'supervised'] (defined under methods)"], out.stderr
    assert "Traceback" not in out.stderr and "Job stats" not in out.stdout


def test_conda_envs_parse_and_pin_every_package(repo):
    envs = list((repo / "workflow" / "envs").glob("*.yaml"))
    assert envs
    for env in envs:
        spec = yaml.safe_load(env.read_text())
        for dep in spec["dependencies"]:
            items = dep["pip"] if isinstance(dep, dict) else [dep]
            for item in items:
                assert item.startswith("-e ") or "==" in item or (
                    "=" in item and not isinstance(dep, dict)), f"{env.name}: {item} is not pinned"


def _rule_blocks(text: str) -> list[str]:
    """Every rule definition of a .smk file, named (`rule name:`) or not (`rule:`, as in a loop)."""
    starts = [m.start() for m in re.finditer(r"^[ \t]*rule\b[^\n]*:[ \t]*$", text, flags=re.M)]
    return [text[a:b] for a, b in zip(starts, starts[1:] + [len(text)])]


def test_every_rule_calls_the_package(repo):
    """Logic lives in src/semigan: a rule with an action runs `semigan …` through shell:,
    never run:/script: code; rules without an action (targets) are fine."""
    blocks = [(smk.name, b) for smk in sorted((repo / "workflow" / "rules").glob("*.smk"))
              for b in _rule_blocks(smk.read_text())]
    assert sum(1 for name, b in blocks if name == "paper.smk") == 1  # the anonymous `rule:` in a loop
    assert len(blocks) == 12  # download split train evaluate extractor train_gan evaluate_gan report bench bench_metrics paper
    # preflight
    for name, block in blocks:
        assert "run:" not in block and "script:" not in block, f"{name}: {block.splitlines()[0]} runs Python inline"
        if "shell:" in block:
            assert re.search(r'"\(?semigan ', block.split("shell:")[1]), f"{name}: {block.splitlines()[0]} does not call semigan"


def _downloads(dry_run_output: str) -> dict[str, str]:
    """dataset → its `semigan download` command in a dry run's printed shell commands."""
    return {m.group(1): m.group(0) for m in re.finditer(r"semigan download (\w+) [^\n]*", dry_run_output)}


def test_smoke_data_comes_from_the_official_urls_by_default_and_offline_from_mirror_and_fixture(repo, tmp_path, mirror):
    """A user's smoke run downloads every dataset from its official URL (no mirror, nothing
    to edit); CI, without internet, reads MNIST and Fashion-MNIST from the mirror and stands in
    for CIFAR-10 with its official-format fixture, in folders of its own."""
    env = dict(os.environ, SEMIGAN_MIRROR="")
    work = _workdir(repo, tmp_path, profile="smoke")
    downloads = _downloads(_run(["snakemake", "-n", "-p"], work, env=env).stdout)
    assert set(downloads) == {"mnist", "fashion_mnist", "cifar10"}
    assert not any("--mirror" in d or "--fixture" in d for d in downloads.values()), downloads

    (tmp_path / "ci").mkdir()
    work = _workdir(repo, tmp_path / "ci", profile="smoke", mirror=mirror, edit=lambda p: p["data"].update(fixtures=True))
    downloads = _downloads(_run(["snakemake", "-n", "-p"], work, env=env).stdout)
    assert "--fixture" in downloads["cifar10"] and "--mirror" not in downloads["cifar10"]
    for dataset in ("mnist", "fashion_mnist"):
        assert f"--mirror {mirror}" in downloads[dataset] and "--fixture" not in downloads[dataset]
    assert all(f"--out resources/fixtures/data/{d}" in cmd for d, cmd in downloads.items())  # never the real data


@pytest.mark.slow
def test_smoke_dag_through_dvc_repro(repo, tmp_path, mirror):
    """dvc repro runs the whole smoke DAG offline, as CI does: real MNIST and Fashion-MNIST from
    the mirror, CIFAR-10 as its official-format fixture; a second repro does nothing; the data and
    models, cached by DVC (dvc_cache: [resources]), make a push/pull round trip through a local
    remote (_check_push_pull_round_trip); changing one method's param re-runs only that method's jobs."""
    work = _workdir(repo, tmp_path, profile="smoke", mirror=mirror,
                    edit=lambda p: (p["data"].update(fixtures=True), p.update(dvc_cache=["resources"])))
    env = dict(os.environ, SEMIGAN_MIRROR="")
    _run(["git", "init", "-q"], work)
    _run(["dvc", "init", "-q"], work)
    _run(["git", "add", "-A"], work)
    _run(["git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "init"], work)

    t0 = time.time()
    _run(["dvc", "repro"], work, env=env)
    first = time.time() - t0
    tables = work / "results" / "smoke" / "tables"
    summary = (tables / "summary.csv").read_text().splitlines()
    assert len(summary) == 1 + 9, summary
    runs = work / "results" / "smoke" / "runs"
    metrics = sorted(runs.rglob("metrics.json"))
    assert len(metrics) == 9
    m = json.loads((runs / "mnist/n100/ssl_gan/seed0/metrics.json").read_text())
    assert m["test_error_pct"] < 90.0 and not m["diverged"]["value"]
    assert m["provenance"]["train"]["git"]["commit"] != "unknown"
    assert m["provenance"]["train"]["packages"]["torch"] and m["config"]["method"] == "ssl_gan"
    assert (work / "dvc.lock").exists()
    report = (work / "results" / "smoke" / "report.md").read_text()
    assert "| smoke | cifar10 | 4000 | 200 | ssl_gan | 1 |" in report  # labels, validation images, method
    assert "![Test error vs number of labels](figures/error_vs_labels.png)" in report
    assert (work / "results" / "smoke" / "figures" / "error_vs_labels.pdf").stat().st_size > 0
    assert "SYNTHETIC FIXTURE, NOT DATA" in report  # the fixture's note reaches the page
    gen = work / "results" / "smoke" / "generation" / "mnist" / "n100"
    for method in ("gan", "cgan_labeled", "cgan_pseudo", "ssl_cgan", "cgan_full"):
        g = json.loads((gen / method / "seed0" / "metrics.json").read_text())
        assert g["domain"]["n_samples"] == 1000 and g["domain"]["reference"]  # the smoke profile's sample count
        assert g["inception"]["computed"] is False and "not requested for mnist" in g["inception"]["reason"]
        assert (g["class_consistency"]["overall"] is None) == (method == "gan")
        assert (gen / method / "seed0" / "samples.png").stat().st_size > 0
    assert json.loads((gen / "ssl_cgan/seed0/metrics.json").read_text())["training_set"]["classifier_run"] \
        == "mnist/n100/ssl_gan/seed0"
    assert "## Class-conditional generation" in report and "| mnist | 100 | ssl_cgan | 1 |" in report
    assert "![Class-consistency per class](figures/class_consistency.png)" in report
    print(f"smoke DAG via dvc repro: {first:.0f} s")

    gen_metrics = sorted(gen.rglob("metrics.json"))
    mtimes = {p: p.stat().st_mtime_ns for p in metrics + gen_metrics}
    report_md = work / "results" / "smoke" / "report.md"
    report_mtime = report_md.stat().st_mtime_ns
    out = _run(["dvc", "repro"], work, env=env)
    assert "didn't change" in out.stdout or "up to date" in out.stdout, out.stdout
    assert all(p.stat().st_mtime_ns == t for p, t in mtimes.items())

    t0 = time.time()
    _check_push_pull_round_trip(work, tmp_path, env)
    print(f"push/pull round trip: {time.time() - t0:.0f} s")
    # the pulled models are the same runs: the experiment below re-runs only what it changes

    _run(["git", "add", "-A"], work)
    _run(["git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "baseline results"], work)
    _run(["dvc", "exp", "run", "-n", "sup-lr",
          "-S", "++profiles.smoke.methods.supervised.per_dataset.mnist.hparams.lr=0.002"], work, env=env)
    changed = sorted(str(p.relative_to(work / "results" / "smoke")) for p, t in mtimes.items()
                     if p.stat().st_mtime_ns != t)
    assert changed == ["generation/mnist/n100/cgan_pseudo/seed0/metrics.json",  # labelled by supervised
                       "runs/mnist/n100/supervised/seed0/metrics.json"]
    assert report_md.stat().st_mtime_ns != report_mtime  # the one call carried the change to report.md

    # a run re-evaluated by a targeted call reaches report.md in the next plain call
    one = "results/smoke/runs/mnist/n100/supervised/seed0/metrics.json"
    _run(["snakemake", one, "--forcerun", one], work, env=env)
    pending = _job_counts(_run(["snakemake", "-n"], work, env=env).stdout)
    assert pending == REPORT_JOBS, pending
    shown = _run(["dvc", "exp", "show", "--csv", "--no-pager"], work).stdout.splitlines()
    header = shown[0].split(",")
    assert any(h.endswith("profiles.smoke.methods.supervised.per_dataset.mnist.hparams.lr") for h in header), header
    assert any(h.endswith("ssl_gan.test_error_pct_mean") for h in header), header
    assert any(h.endswith("ssl_cgan.fid_domain_mean") for h in header), header
    assert any(line.split(",")[header.index("Experiment")] == "sup-lr" for line in shown[1:]), shown


def _md5(path):
    return hashlib.md5(path.read_bytes()).hexdigest()


def _check_push_pull_round_trip(work, tmp_path, env):
    """After `dvc repro` (no remote yet): `dvc status` is clean, `dvc push` says no remote is set;
    with a local remote, push, delete resources/, pull: the verified data, splits and every
    finished model come back byte for byte (an unfinished run's checkpoint stays outside DVC),
    Snakemake has nothing to do, `semigan sample` draws from a pulled generator and a generation
    run labels its images with a pulled classifier."""
    assert json.loads(_run(["dvc", "status", "--json"], work).stdout) == {}
    res = work / "resources"
    unfinished = res / "models/smoke/mnist/n100/supervised/seed7/checkpoint.pt"
    unfinished.parent.mkdir(parents=True)
    unfinished.write_bytes(b"an unfinished run")
    assert json.loads(_run(["dvc", "status", "--json"], work).stdout) == {}  # not a change of the cached data
    kept = {str(p.relative_to(res)): _md5(p) for p in res.rglob("*")
            if p.is_file() and p.name != "checkpoint.pt"
            and not {"downloads", "fidelity_cache", "extractors"} & set(p.relative_to(res).parts)}
    assert sum(k.startswith("models/smoke/") and k.endswith("/model.pt") for k in kept) == 9, sorted(kept)
    assert sum(k.startswith("generation/smoke/") and k.endswith("/model.pt") for k in kept) == 5, sorted(kept)
    for dataset in ("mnist", "fashion_mnist", "cifar10"):
        assert {f"fixtures/data/{dataset}/{f}" for f in ("train.npz", "test.npz", "meta.json")} <= set(kept)
    assert sum(k.startswith("fixtures/splits/") for k in kept) >= 6  # .npz + .json per dataset

    pushed = _run(["dvc", "push"], work, check=False)
    assert pushed.returncode != 0
    assert "no remote specified" in pushed.stderr and "dvc remote add -d" in pushed.stderr, pushed.stderr
    _run(["dvc", "remote", "add", "-d", "team", str(tmp_path / "remote")], work)
    _run(["dvc", "push"], work)
    shutil.rmtree(res)
    _run(["dvc", "pull"], work)
    pulled = {str(p.relative_to(res)): _md5(p) for p in res.rglob("*") if p.is_file()}
    assert pulled == kept
    dry = _run(["snakemake", "-n"], work, env=env)
    assert "Nothing to be done" in dry.stdout + dry.stderr, dry.stdout[-3000:]
    assert json.loads(_run(["dvc", "status", "--json"], work).stdout) == {}

    grid = tmp_path / "pulled_samples.png"
    _run(["semigan", "sample", "mnist/n100/cgan_full/seed0", "--profile", "smoke", "-n", "2", "-o", str(grid)], work)
    assert grid.stat().st_size > 0

    import torch
    from semigan.config import gen_spec, load_params, resolve

    eff = resolve(load_params(work / "params.yaml", profile="smoke"))
    spec = gen_spec(eff, "mnist", 100, "cgan_pseudo", 0)
    classifier = res / "models/smoke/mnist/n100/supervised/seed0/model.pt"
    split = next((res / "fixtures/splits/mnist").rglob("n100/seed0.npz"))
    out = tmp_path / "labelled_by_pulled"
    _run(["semigan", "train-gan", "--spec", json.dumps(spec), "--classifier", str(classifier),
          "--data", str(res / "fixtures/data/mnist"), "--split", str(split), "--model", str(out / "model.pt"),
          "--checkpoint", str(out / "checkpoint.pt"), "--history", str(out / "history.csv")], work, env=env)
    made = torch.load(out / "model.pt", map_location="cpu", weights_only=False)
    assert made["training_set"]["classifier_run"] == "mnist/n100/supervised/seed0"
    assert _md5(classifier) == kept["models/smoke/mnist/n100/supervised/seed0/model.pt"]


def test_git_keeps_the_extractor_weights_and_ignores_other_weights(repo):
    """The extractor beside its record is committed (a clone on any kind of CPU measures with it);
    models, checkpoints and weights kept aside stay out of git."""
    def ignored(path):
        return _run(["git", "check-ignore", "-q", path], repo, check=False).returncode == 0

    assert not ignored("results/cpu/extractors/cifar10_jpeg.pt")
    assert not ignored("results/paper/extractors/mnist.pt")
    for path in ["resources/extractors/cpu/mnist.0123456789abcdef.pt", "results/cpu/runs/mnist/n100/ssl_gan/seed0/model.pt",
                 "results/smoke/extractors/mnist.pt", "results/cpu-preflight/extractors/mnist.pt"]:
        assert ignored(path), path


def test_extractor_rule_checks_a_retraining_against_the_committed_record(repo, tmp_path, mirror):
    """The extractor's record stays in place while the rule re-runs (update() flag): weights that
    differ from it fail the job and leave the record as it was; the same weights pass."""
    def one_short_epoch(params):  # what is checked is the weights' hash, not how well they classify
        params["profiles"]["smoke"]["generation"]["extractor"].update(epochs=1, max_images=500)

    work = _workdir(repo, tmp_path, profile="smoke", mirror=mirror, edit=one_short_epoch)
    env = dict(os.environ, SEMIGAN_MIRROR="")
    weights = "results/smoke/extractors/mnist.pt"  # committed beside the record (in the cpu profile)
    record = work / "results/smoke/extractors/mnist.json"
    record.parent.mkdir(parents=True)
    foreign = json.dumps({"dataset": "mnist", "sha256": "0ccf36a0e9e20da6" + "0" * 48}) + "\n"
    record.write_text(foreign)
    failed = _run(["snakemake", "--cores", "2", weights], work, check=False, env=env)
    assert failed.returncode != 0
    assert record.read_text() == foreign  # restored by Snakemake after the failed job
    assert not (work / weights).exists()
    log = (work / "logs/smoke/extractor/mnist.log").read_text()
    assert "not the 0ccf36a0e9e20da6… recorded in results/smoke/extractors/mnist.json" in log, log[-2000:]
    assert list((work / "resources/extractors/smoke").glob("mnist.*.pt"))  # what it trained is kept aside
    assert list((work / weights).parent.glob("*.pt")) == []  # never beside the record, where it would be committed

    record.unlink()  # a new record: written by the job
    _run(["snakemake", "--cores", "2", weights], work, env=env)
    made = json.loads(record.read_text())["sha256"]
    (work / weights).unlink()  # weights lost (a fresh clone): retrained, checked, accepted on the same machine
    _run(["snakemake", "--cores", "2", weights], work, env=env)
    assert json.loads(record.read_text())["sha256"] == made
