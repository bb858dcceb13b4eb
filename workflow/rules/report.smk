# Report steps: committed inputs are ancient() and the stamps of the jobs that made them are
# ordinary inputs (see "re-run propagation" in common.smk), so a run that re-runs reaches
# report.md in the same `snakemake` call and a fresh clone recomputes nothing.


rule aggregate:
    input:
        metrics=run_metrics("evaluate", grid_cells(CFG), f"{RESULTS}/runs"),
    output:
        runs=report(f"{RESULTS}/tables/runs.csv", category="Tables", caption="../report/runs.rst"),
        summary=report(f"{RESULTS}/tables/summary.csv", category="Tables", caption="../report/summary.rst"),
        metrics=f"{RESULTS}/tables/metrics.json",
        markdown=f"{RESULTS}/tables/summary.md",
        done=touch(stamp("aggregate")),
    log:
        f"logs/{PROFILE}/aggregate.log",
    conda:
        "../envs/semigan.yaml"
    shell:
        "semigan aggregate {input.metrics} --runs-csv {output.runs} --summary-csv {output.summary}"
        " --metrics-json {output.metrics} --summary-md {output.markdown} > {log} 2>&1"


rule tables:
    input:
        summary=made_here(rules.aggregate.output.summary, stamp("aggregate")),
        references=ancient(REFERENCES),
        aggregated=rules.aggregate.output.done,
    output:
        summary_tex=f"{RESULTS}/tables/summary.tex",
        paper_csv=report(f"{RESULTS}/tables/paper_vs_ours.csv", category="Tables", caption="../report/paper_vs_ours.rst"),
        paper_md=f"{RESULTS}/tables/paper_vs_ours.md",
        paper_tex=f"{RESULTS}/tables/paper_vs_ours.tex",
        done=touch(stamp("tables")),
    params:
        references=file_digest(REFERENCES),  # re-run when the published numbers are edited
    log:
        f"logs/{PROFILE}/tables.log",
    conda:
        "../envs/semigan.yaml"
    shell:
        "semigan tables --summary {input.summary} --references {input.references}"
        " --summary-tex {output.summary_tex} --paper-csv {output.paper_csv}"
        " --paper-md {output.paper_md} --paper-tex {output.paper_tex} > {log} 2>&1"


rule figures:
    input:
        runs=made_here(rules.aggregate.output.runs, stamp("aggregate")),
        references=ancient(REFERENCES),
        aggregated=rules.aggregate.output.done,
    output:
        **{name: report(f"{RESULTS}/figures/{name}.png", category="Figures", caption=f"../report/{name}.rst")
           for name in FIGURES},
        pdfs=[f"{RESULTS}/figures/{name}.pdf" for name in FIGURES],
        histories=f"{RESULTS}/tables/histories.csv",
        done=touch(stamp("figures")),
    params:
        out_dir=lambda wildcards, output: os.path.dirname(output.pdfs[0]),
        references=file_digest(REFERENCES),
    log:
        f"logs/{PROFILE}/figures.log",
    conda:
        "../envs/semigan.yaml"
    shell:
        "semigan figures --runs {input.runs} --references {input.references}"
        " --out-dir {params.out_dir} --histories-csv {output.histories} > {log} 2>&1"


rule generation_tables:
    input:
        metrics=run_metrics("evaluate_gan", generation_cells(CFG), GEN_RUNS),
    output:
        runs=report(f"{RESULTS}/tables/generation_runs.csv", category="Tables", caption="../report/generation_runs.rst"),
        summary=f"{RESULTS}/tables/generation_summary.csv",
        per_class=f"{RESULTS}/tables/generation_per_class.csv",
        markdown=f"{RESULTS}/tables/generation_summary.md",
        metrics=f"{RESULTS}/tables/generation_metrics.json",
        **{name: report(f"{RESULTS}/figures/{name}.png", category="Figures", caption=f"../report/{name}.rst")
           for name in GEN_FIGURES},
        pdfs=[f"{RESULTS}/figures/{name}.pdf" for name in GEN_FIGURES],
        done=touch(stamp("generation_tables")),
    params:
        tables=lambda wildcards, output: os.path.dirname(output.runs),
        figures=lambda wildcards, output: os.path.dirname(output.pdfs[0]),
    log:
        f"logs/{PROFILE}/generation_tables.log",
    conda:
        "../envs/semigan.yaml"
    shell:
        "semigan generation-tables {input.metrics} --out-dir {params.tables} --figures-dir {params.figures} > {log} 2>&1"


rule report_md:
    input:
        runs=made_here(rules.aggregate.output.runs, stamp("aggregate")),
        summary_md=made_here(rules.aggregate.output.markdown, stamp("aggregate")),
        paper_md=made_here(rules.tables.output.paper_md, stamp("tables")),
        figures=[made_here(f"{RESULTS}/figures/{name}.png",
                           stamp("generation_tables" if name in GEN_FIGURES else "figures"))
                 for name in report_figures()],
        generation_md=[made_here(rules.generation_tables.output.markdown, stamp("generation_tables"))]
        if generation_cells(CFG) else [],
        made=[stamp(step) for step in ("aggregate", "tables", "figures")]
        + ([stamp("generation_tables")] if generation_cells(CFG) else []),
    output:
        f"{RESULTS}/report.md",
    params:
        profile=PROFILE,
        captions=" ".join(shlex.quote(c) for c in report_figures().values()),
        generation=lambda wildcards, input: f"--generation-md {input.generation_md}" if input.generation_md else "",
    log:
        f"logs/{PROFILE}/report_md.log",
    conda:
        "../envs/semigan.yaml"
    shell:
        "semigan report --profile {params.profile} --runs {input.runs} --summary-md {input.summary_md}"
        " --paper-md {input.paper_md} --figures {input.figures} --captions {params.captions}"
        " {params.generation} --out {output} > {log} 2>&1"
