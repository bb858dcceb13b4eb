import json
import os
import shlex

from snakemake.utils import validate

from semigan.config import gen_spec, generation_cells, grid_cells, paper_target_cells, resolve, run_spec


validate(config, "../schemas/params.schema.yaml")
CFG = resolve(config)  # profile merged; grid and hyper-parameters checked before any job
PROFILE = CFG["profile"]
RESULTS = f"results/{PROFILE}"
DATA = CFG["data"]["root"]
N_VAL = CFG["split"]["n_val"]
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
    method="[a-z_]+",
    seed=r"\d+",


def all_metrics():
    return [
        f"{RESULTS}/runs/{c.dataset}/n{c.n_labels}/{c.method}/seed{c.seed}/metrics.json"
        for c in grid_cells(CFG)
    ]


def all_histories():
    return [
        f"{RESULTS}/runs/{c.dataset}/n{c.n_labels}/{c.method}/seed{c.seed}/history.csv"
        for c in grid_cells(CFG)
    ]


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


def all_generation_metrics():
    return [f"{GEN_RUNS}/{c.dataset}/n{c.n_labels}/{c.method}/seed{c.seed}/metrics.json"
            for c in generation_cells(CFG)]


def report_figures():
    """The report's figures: classification always, generation when the profile has any."""
    return {**FIGURES, **(GEN_FIGURES if generation_cells(CFG) else {})}
