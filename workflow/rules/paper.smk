# Named paper targets (params.yaml: paper_targets): `snakemake improved_gan_table1` trains
# the cells the table needs in the selected profile, then writes
# results/<profile>/paper/<name>.{md,csv,png,pdf}. Not part of `all`.
for _name, _target in CFG.get("paper_targets", {}).items():
    _metrics, _here = run_results(paper_target_cells(CFG, _name), f"{RESULTS}/runs", f"resources/models/{PROFILE}")

    rule:
        name:
            _name
        input:
            **recorded_inputs(f"{RESULTS}/paper/{_name}.inputs.json", _here, metrics=_metrics, references=[REFERENCES]),
        output:
            md=f"{RESULTS}/paper/{_name}.md",
            csv=f"{RESULTS}/paper/{_name}.csv",
            png=report(f"{RESULTS}/paper/{_name}.png", category="Paper targets", caption="../report/paper_target.rst"),
            pdf=f"{RESULTS}/paper/{_name}.pdf",
            record=f"{RESULTS}/paper/{_name}.inputs.json",
        params:
            name=_name,
            stem=lambda wildcards, output: os.path.splitext(output.md)[0],
            description=shlex.quote(f"{_target['description']} (needs: {_target['profile']}; cost: {_target['cost']})"),
        log:
            f"logs/{PROFILE}/paper/{_name}.log",
        conda:
            "../envs/semigan.yaml"
        shell:
            "(semigan paper-target {params.name} {input.metrics} --references {input.references}"
            " --description {params.description} --out-stem {params.stem}"
            " && semigan record-inputs {input} --out {output.record}) > {log} 2>&1"
