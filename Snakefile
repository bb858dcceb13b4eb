# semigan: data → splits → training → evaluation → aggregation. Logic lives in src/semigan;
# the rules only call the `semigan` command. Select a profile with --config profile=NAME.
from snakemake.utils import min_version

min_version("9.0")


configfile: "params.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/generation.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/bench.smk"
include: "workflow/rules/paper.smk"
include: "workflow/rules/preflight.smk"


rule all:
    input:
        CLASSIFICATION,  # every grid cell: a clone that adds cells computes just those
        GENERATION,
        rules.report.output,  # tables, figures, report.md
        rules.preflight.output if CFG.get("preflight") else [],
    default_target: True
