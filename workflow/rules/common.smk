import hashlib
import json
import os
import shlex
import sys

from snakemake.logging import logger

from semigan.committed import is_frozen, stale_fields
from semigan.config import ParamsError, gen_spec, generation_cells, grid_cells, n_val_of, paper_target_cells, resolve, run_spec


try:  # schema (workflow/schemas/params.schema.yaml), registries, grid, split feasibility, every run's settings
    CFG = resolve(config, warn=lambda msg: logger.warning(f"params.yaml: {msg}"))
except ParamsError as exc:  # one clear message, no traceback
    print(f"params.yaml: error: {exc}", file=sys.stderr)
    sys.exit(1)
PROFILE = CFG["profile"]
RESULTS = f"results/{PROFILE}"
DATA = CFG["data"]["root"]
SPLIT = "resources/splits/{dataset}/val{n_val}/n{n_labels}/seed{seed}"  # n_val per dataset (datasets.<name>.n_val)
EVALUATION = CFG.get("evaluation") or {}
RUN = "{dataset}/n{n_labels}/{method}/seed{seed}"
REFERENCES = "references/published.csv"  # published numbers beside ours (source per row)
FIGURES = {  # file stem → caption in report.md
    "error_vs_labels": "Test error vs number of labels",
    "validation_curves": "Validation error during training",
    "loss_curves": "Training losses",
}
GEN_FIGURES = {  # written by generation_tables when the profile has a generation grid
    "fid_vs_labels": "Sample quality (FID) vs number of labels",
    "class_consistency": "Class-consistency per class",
    "sample_grids": "Samples per method (rows = classes)",
}
# Downloaded data and splits are content-addressed (checksums, split hashes), so consumers
# take them as ancient(): re-creating them (e.g. after a rule edit) never re-runs training.


wildcard_constraints:
    dataset="[a-z0-9_]+",
    n_labels=r"\d+",
    n_val=r"\d+",
    method="[a-z_]+",
    seed=r"\d+",


# -- re-run propagation -----------------------------------------------------------------
# A committed result (metrics, tables, figures) that was never made on this machine is an
# ancient() input: a git clone sets mtimes in checkout order, which must not make finished
# work look stale. A job that really runs also touches a stamp under resources/stamps/ (not
# in git). Once it exists, the job's outputs are ordinary inputs (made_here), so a re-run
# reaches report.md in the same call or a later one. The report steps' consumers also take
# those steps' stamps as inputs: in a clone that adds a cell, aggregate runs on the new
# metrics and its stamp, not its committed (ancient) tables, carries tables, figures and
# report_md along (Snakemake does not propagate through an existing ancient() input). An
# empty stamp cannot carry a re-run to a later call alone: Snakemake skips an input whose
# checksum is unchanged.
# Hand-edited inputs are tracked by content (file_digest as a param). Runs committed
# elsewhere are frozen (semigan.committed).
STAMPS = f"resources/stamps/{PROFILE}"


def stamp(step, run=None):
    return f"{STAMPS}/{step}.done" if run is None else f"{STAMPS}/{step}/{run}.done"


def cell_run(cell):
    return f"{cell.dataset}/n{cell.n_labels}/{cell.method}/seed{cell.seed}"


def made_here(path, made_stamp):
    """`path` as an input: ordinary if this machine made it (its stamp exists) or must make it,
    else ancient()."""
    return path if os.path.exists(made_stamp) or not os.path.exists(path) else ancient(path)


def metrics_file(results, cell):
    return f"{results}/{cell_run(cell)}/metrics.json"


def run_metrics(step, cells, results):
    """Every cell's metrics.json (step: the rule that writes it), as made_here() decides."""
    return [made_here(metrics_file(results, c), stamp(step, cell_run(c))) for c in cells]


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


def without_stamps(*outputs):
    return [f for output in outputs for f in output if not f.startswith(STAMPS)]


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


def file_digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:16]


def all_metrics():
    return [metrics_file(f"{RESULTS}/runs", c) for c in grid_cells(CFG)]


def source_args(wildcards):
    """--mirror / --imagefolder for `semigan download`, only those that are set."""
    args = []
    if CFG["data"]["mirror"]:
        args.append(f"--mirror {shlex.quote(CFG['data']['mirror'])}")
    folder = CFG["datasets"].get(wildcards.dataset, {}).get("imagefolder")
    if folder:
        args.append(f"--imagefolder {shlex.quote(folder)}")
    return " ".join(args)


def spec_json(wildcards):
    spec = run_spec(CFG, wildcards.dataset, int(wildcards.n_labels), wildcards.method, int(wildcards.seed))
    return json.dumps(spec, sort_keys=True)


# -- generation ---------------------------------------------------------------------
GEN = CFG.get("generation", {})
GEN_RUNS = f"{RESULTS}/generation"
GEN_MODELS = f"resources/generation/{PROFILE}"
EXTRACTOR = f"resources/extractors/{PROFILE}/{{dataset}}/extractor.pt"


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
    """evaluate-gan's Inception options: the configured weights (if any), and --no-inception
    for a dataset that generation.inception_datasets (null: every dataset) leaves out. Empty
    for an included dataset without configured weights, as before the option existed, so
    finished runs are not re-run for it."""
    wanted = GEN.get("inception_datasets")
    skip = "--no-inception" if wanted is not None and wildcards.dataset not in wanted else ""
    return " ".join(a for a in (inception_weights_arg(), skip) if a)


def all_generation_metrics():
    return [metrics_file(GEN_RUNS, c) for c in generation_cells(CFG)]


def report_figures():
    """The report's figures: classification always, generation when the profile has any."""
    return {**FIGURES, **(GEN_FIGURES if generation_cells(CFG) else {})}


warn_stale(grid_cells(CFG), f"{RESULTS}/runs", f"resources/models/{PROFILE}", run_spec)
warn_stale(generation_cells(CFG), GEN_RUNS, GEN_MODELS, gen_spec)
