import json
import os
import shlex
import sys

from snakemake.logging import logger

from semigan.committed import date_back_restored_models, is_frozen, mark_out_of_date, record_matches, stale_fields
from semigan.data.fetch import mirror_has
from semigan.data.fixtures import WRITERS as FIXTURES
from semigan.config import (ParamsError, extractor_settings, gen_spec, generation_blocks, generation_cells, grid_blocks,
                            grid_cells, n_val_of, paper_target_cells, plan_key, resolve, run_spec, stand_in_seeds)


try:  # schema (workflow/schemas/params.schema.yaml), registries, grid, split feasibility, every run's settings
    CFG = resolve(config, warn=lambda msg: logger.warning(f"params.yaml: {msg}"))
except ParamsError as exc:  # one clear message, no traceback
    print(f"params.yaml: error: {exc}", file=sys.stderr)
    sys.exit(1)
PROFILE = CFG["profile"]
RESULTS = f"results/{PROFILE}"
DATA = CFG["data"]["root"]
SPLITS = CFG["data"].get("splits", "resources/splits")
SPLIT = os.path.join(SPLITS, "{dataset}", "val{n_val}", "n{n_labels}", "seed{seed}")  # n_val: per dataset
EVALUATION = CFG.get("evaluation") or {}
RUN = "{dataset}/n{n_labels}/{method}/seed{seed}"
REFERENCES = "references/published.csv"  # published numbers beside ours (source per row)
FIGURES = {  # file stem → caption in report.md
    "error_vs_labels": "Test error vs number of labels",
    "validation_curves": "Validation error during training",
    "loss_curves": "Training losses",
}
GEN_FIGURES = {  # written by generation-tables when the profile has a generation grid
    "fid_vs_labels": "Sample quality (FID; class-consistency too with several label counts) vs number of labels",
    "class_consistency": "Class-consistency per class",
    "sample_grids": "Samples per method (rows = classes)",
}
# Downloaded data and splits are content-addressed (checksums, split hashes), so consumers
# take them as ancient(): re-creating them (e.g. after a rule edit) never re-runs training.
# Committed results: see "committed results" below.


wildcard_constraints:
    dataset="[a-z0-9_]+",
    n_labels=r"\d+",
    n_val=r"\d+",
    method="[a-z_]+",
    seed=r"\d+",


# -- committed results (semigan.committed) ---------------------------------------------
# A clone has every committed result but no models and git's file times (checkout order).
# A run whose model is not here is frozen: its evaluation has no inputs, so nothing retrains
# it. The report step and the paper targets record the sha256 of the inputs they read; while
# their inputs match that record, the committed ones are ancient() (file times never re-run
# the step); when they do not (new cells, results copied or pulled in, edited references), every
# input is ordinary and the record is dated back, so the step re-runs.


def cell_run(cell):
    return f"{cell.dataset}/n{cell.n_labels}/{cell.method}/seed{cell.seed}"


def metrics_file(results, cell):
    return f"{results}/{cell_run(cell)}/metrics.json"


def recorded_inputs(record, made_here=(), **named):
    """`named` (input name → list of paths) for a step whose shell ends in `semigan
    record-inputs {input} --out <record>`; paths in `made_here` (results this machine made,
    whose re-runs must reach the step in the same call) stay ordinary."""
    paths = [p for group in named.values() for p in group]
    if record_matches(record, paths):
        return {name: [p if p in made_here else ancient(p) for p in group] for name, group in named.items()}
    mark_out_of_date(record)
    return named


def run_results(cells, results, models):
    """(metrics files, those made here) of some cells: made here = its model is on this machine."""
    metrics = [metrics_file(results, c) for c in cells]
    here = {m for m, c in zip(metrics, cells) if os.path.exists(f"{models}/{cell_run(c)}/model.pt")}
    return metrics, here


def evaluation_inputs(results, models, **extra):
    """Input function of an evaluation rule: nothing for a frozen run, so neither its training
    nor its data enter the DAG (a clone that adds grid cells computes only those), else the
    model, the test data and `extra` (patterns with {dataset})."""

    def inputs(wildcards):
        run = cell_run(wildcards)
        if is_frozen(f"{results}/{run}/metrics.json", f"{models}/{run}/model.pt"):
            return {}
        return {
            "model": f"{models}/{run}/model.pt",
            "test": ancient(f"{DATA}/{wildcards.dataset}/test.npz"),
            "meta": ancient(f"{DATA}/{wildcards.dataset}/meta.json"),
            **{k: v.format(dataset=wildcards.dataset) for k, v in extra.items()},
        }

    return inputs


def warn_stale(cells, results, models, make_spec):
    """A committed run whose settings changed, in a checkout without its model: Snakemake has
    no record to compare with, so say which settings differ and how to recompute it."""
    for c in cells:
        run = cell_run(c)
        if os.path.exists(f"{models}/{run}/model.pt"):
            continue  # made here: Snakemake's params trigger re-runs it
        fields = stale_fields(f"{results}/{run}/metrics.json", make_spec(CFG, c.dataset, c.n_labels, c.method, c.seed))
        if fields:
            logger.warning(f"{results}/{run}/metrics.json was computed with other settings "
                           f"({', '.join(fields)}); it stays as committed until you delete it")


def split_file(wildcards):
    """The split of a run (its dataset's n_val), ancient: splits are content-addressed."""
    return ancient(split_path(wildcards))


def split_path(wildcards):
    return SPLIT.format(dataset=wildcards.dataset, n_val=n_val_of(CFG, wildcards.dataset),
                        n_labels=wildcards.n_labels, seed=wildcards.seed) + ".npz"


def bench_target_args(wildcards):
    """--target/--stop-at-target for datasets with a time-to-train target, else nothing."""
    target = (CFG.get("bench") or {}).get("target_error_pct", {}).get(wildcards.dataset)
    return "" if target is None else f"--target {target} --stop-at-target"


def source_args(wildcards):
    """--mirror / --imagefolder for `semigan download`, only those that are set; in a
    preflight or with data.fixtures (CI without internet), --fixture for a dataset with a fixture
    (official CIFAR-10, SVHN) that the mirror does not have (the others are read or downloaded
    as in a real run)."""
    folder = CFG["datasets"].get(wildcards.dataset, {}).get("imagefolder")
    if ((CFG.get("preflight") or CFG["data"].get("fixtures")) and not folder and wildcards.dataset in FIXTURES
            and not mirror_has(wildcards.dataset, CFG["data"]["mirror"])):
        return "--fixture"
    args = []
    if CFG["data"]["mirror"]:
        args.append(f"--mirror {shlex.quote(CFG['data']['mirror'])}")
    if folder:
        args.append(f"--imagefolder {shlex.quote(folder)}")
    return " ".join(args)


def preflight_plan():
    """plan_key(kind, run) of each preflight cell → its steps in the profile itself and the seeds it
    stands for (the preflight table's cost estimate over the whole profile)."""
    full = resolve({**config, "preflight": None}, warn=lambda msg: None)
    plan = {}
    for kind, blocks, spec in (("classification", grid_blocks(full), run_spec),
                               ("generation", generation_blocks(full), gen_spec)):
        for c, seeds in stand_in_seeds(blocks).items():
            steps = spec(full, c.dataset, c.n_labels, c.method, c.seed)["train"]["steps"]
            plan[plan_key(kind, cell_run(c))] = {"steps": steps, "seeds": seeds}
    return plan


def spec_json(wildcards):
    spec = run_spec(CFG, wildcards.dataset, int(wildcards.n_labels), wildcards.method, int(wildcards.seed))
    return json.dumps(spec, sort_keys=True)


# -- generation ---------------------------------------------------------------------
GEN = CFG.get("generation", {})
GEN_RUNS = f"{RESULTS}/generation"
GEN_MODELS = f"resources/generation/{PROFILE}"
# The domain extractor is the instrument of every domain metric: its weights (≈ 0.3-1.3 MB) are
# committed beside their record, so a clone on any kind of CPU measures in the same feature space
EXTRACTOR = f"{RESULTS}/extractors/{{dataset}}.pt"
EXTRACTOR_ASIDE = f"resources/extractors/{PROFILE}"


def extractor_inputs(wildcards):
    """The dataset to train on (ancient: its file times never re-run the rule), except in a
    checkout that has the weights but not the data (a clone): nothing there, so the download
    that a new generation cell brings does not re-run the rule — that would delete the committed
    weights and retrain them, on another kind of CPU to other ones. Where the data is here the
    inputs stay the data, as recorded when the weights were trained, so no input change re-runs it."""
    data = {k: f"{DATA}/{wildcards.dataset}/{k}.{ext}"
            for k, ext in (("train", "npz"), ("test", "npz"), ("meta", "json"))}
    if os.path.exists(EXTRACTOR.format(dataset=wildcards.dataset)) and not all(map(os.path.exists, data.values())):
        return {}
    return {k: ancient(path) for k, path in data.items()}


def gen_spec_json(wildcards):
    spec = gen_spec(CFG, wildcards.dataset, int(wildcards.n_labels), wildcards.method, int(wildcards.seed))
    return json.dumps(spec, sort_keys=True)


def pseudo_labeller(wildcards):
    """The classification run whose selected weights label the unlabelled images (if any)."""
    clf = GEN["methods"][wildcards.method].get("classifier")
    if not clf:
        return []
    return [f"resources/models/{PROFILE}/{wildcards.dataset}/n{wildcards.n_labels}/{clf}/seed{wildcards.seed}/model.pt"]


def inception_weights_arg():
    """--inception-weights when generation.inception_weights names a file, else nothing."""
    weights = GEN.get("inception_weights")
    return f"--inception-weights {shlex.quote(weights)}" if weights else ""


def inception_args(wildcards):
    """evaluate-gan's Inception options: the configured weights (if any), the feature pass's
    precision and compilation where they are not the default, and --no-inception for a dataset
    that generation.inception_datasets (null: every dataset) leaves out. Empty for an included
    dataset with the default settings, as before the options existed, so finished runs are not
    re-run for them."""
    if not computes_inception(wildcards):
        return " ".join(a for a in (inception_weights_arg(), "--no-inception") if a)
    precision = GEN.get("inception_precision", "fp32")
    fast = [f"--inception-precision {precision}" if precision != "fp32" else "",
            "--inception-compile" if GEN.get("inception_compile", False) else ""]
    return " ".join(a for a in (inception_weights_arg(), *fast) if a)


def computes_inception(wildcards) -> bool:
    """Whether this dataset's generation runs get Inception metrics (generation.inception_datasets;
    null: every dataset)."""
    wanted = GEN.get("inception_datasets")
    return wanted is None or wildcards.dataset in wanted


def evaluate_gan_gpus(wildcards) -> int:
    """evaluate_gan holds a GPU only where it runs the 299×299 Inception over 10k + 10k images;
    the domain metrics alone are seconds on a CPU."""
    return 1 if computes_inception(wildcards) else 0


def evaluate_gan_device(wildcards) -> str:
    """A job that holds no GPU (`evaluate_gan_gpus`) runs on the CPU: without a GPU slot it would
    otherwise take whichever GPU it sees, beside the jobs that hold one."""
    return "" if evaluate_gan_gpus(wildcards) else "--device cpu"


# -- the report step (report.smk) --------------------------------------------------------
# every grid cell's metrics.json, and those made on this machine
CLASSIFICATION, CLASSIFICATION_HERE = run_results(grid_cells(CFG), f"{RESULTS}/runs", f"resources/models/{PROFILE}")
GENERATION, GENERATION_HERE = run_results(generation_cells(CFG), GEN_RUNS, GEN_MODELS)
TABLES = f"{RESULTS}/tables"
FIGURES_DIR = f"{RESULTS}/figures"


def generation_outputs():
    """generation-tables' files, when the profile has a generation grid."""
    if not GENERATION:
        return {}
    return {
        "gen_runs": report(f"{TABLES}/generation_runs.csv", category="Tables", caption="../report/generation_runs.rst"),
        "gen_summary": f"{TABLES}/generation_summary.csv",
        "gen_per_class": f"{TABLES}/generation_per_class.csv",
        "gen_md": f"{TABLES}/generation_summary.md",
        "gen_runs_md": f"{TABLES}/generation_runs.md",
        "gen_metrics": f"{TABLES}/generation_metrics.json",
    }


def generation_step(wildcards, input, output):
    """The generation tables and figures (a shell step), when the profile has a generation grid."""
    if not input.generation:
        return ""
    return (f"&& semigan generation-tables {' '.join(input.generation)} --out-dir {os.path.dirname(output.gen_runs)}"
            f" --figures-dir {os.path.dirname(output.pdfs[0])}")


def report_figures():
    """The report's figures: classification always, generation when the profile has any."""
    return {**FIGURES, **(GEN_FIGURES if GENERATION else {})}


# models that DVC restored (dvc pull / dvc checkout) are the committed runs, whatever their file times
for models, results in ((f"resources/models/{PROFILE}", f"{RESULTS}/runs"), (GEN_MODELS, GEN_RUNS)):
    date_back_restored_models(models, results)
warn_stale(grid_cells(CFG), f"{RESULTS}/runs", f"resources/models/{PROFILE}", run_spec)
warn_stale(generation_cells(CFG), GEN_RUNS, GEN_MODELS, gen_spec)
