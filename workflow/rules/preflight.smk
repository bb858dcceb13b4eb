# The preflight of a profile (`snakemake --config profile=paper preflight=4`, docs/gpu-and-slurm.md "Before
# GPU hours"): every cell of its grids runs a few steps at full width through the rules
# above, then this rule tabulates steps, s/step, peak memory and the estimated cost of the
# real run per cell. Only defined in a preflight.
if CFG.get("preflight"):

    rule preflight:
        input:
            metrics=CLASSIFICATION + GENERATION,
        output:
            md=f"{RESULTS}/preflight.md",
            json=f"{RESULTS}/preflight.json",
        params:
            plan=json.dumps(preflight_plan()),
            profile=PROFILE,
        log:
            f"logs/{PROFILE}/preflight.log",
        conda:
            "../envs/semigan.yaml"
        shell:
            "semigan preflight-table {input.metrics} --plan {params.plan:q} --profile {params.profile}"
            " --out-md {output.md} --out-json {output.json} 2> {log} && cat {output.md}"
