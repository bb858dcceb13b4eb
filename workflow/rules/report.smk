# Report steps take their inputs as ancient(): in a fresh clone git's checkout order makes
# committed tables look newer than committed figures; a run that really changes still
# re-triggers them ("input files updated by another job").
rule aggregate:
    input:
        all_metrics(),
    output:
        runs=report(f"{RESULTS}/tables/runs.csv", category="Tables", caption="../report/runs.rst"),
        summary=report(f"{RESULTS}/tables/summary.csv", category="Tables", caption="../report/summary.rst"),
        metrics=f"{RESULTS}/tables/metrics.json",
        markdown=f"{RESULTS}/tables/summary.md",
    log:
        f"logs/{PROFILE}/aggregate.log",
    conda:
        "../envs/semigan.yaml"
    shell:
        "semigan aggregate {input} --runs-csv {output.runs} --summary-csv {output.summary}"
        " --metrics-json {output.metrics} --summary-md {output.markdown} > {log} 2>&1"


rule tables:
    input:
        summary=ancient(rules.aggregate.output.summary),
        references=ancient(REFERENCES),
    output:
        summary_tex=f"{RESULTS}/tables/summary.tex",
        paper_csv=report(f"{RESULTS}/tables/paper_vs_ours.csv", category="Tables", caption="../report/paper_vs_ours.rst"),
        paper_md=f"{RESULTS}/tables/paper_vs_ours.md",
        paper_tex=f"{RESULTS}/tables/paper_vs_ours.tex",
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
        runs=ancient(rules.aggregate.output.runs),
        references=ancient(REFERENCES),
        histories=ancient(all_histories()),
    output:
        **{name: report(f"{RESULTS}/figures/{name}.png", category="Figures", caption=f"../report/{name}.rst")
           for name in FIGURES},
        pdfs=[f"{RESULTS}/figures/{name}.pdf" for name in FIGURES],
        histories=f"{RESULTS}/tables/histories.csv",
    params:
        out_dir=lambda wildcards, output: os.path.dirname(output.pdfs[0]),
    log:
        f"logs/{PROFILE}/figures.log",
    conda:
        "../envs/semigan.yaml"
    shell:
        "semigan figures --runs {input.runs} --references {input.references}"
        " --out-dir {params.out_dir} --histories-csv {output.histories} > {log} 2>&1"


rule generation_tables:
    input:
        ancient(all_generation_metrics()),
    output:
        runs=report(f"{RESULTS}/tables/generation_runs.csv", category="Tables", caption="../report/generation_runs.rst"),
        summary=f"{RESULTS}/tables/generation_summary.csv",
        per_class=f"{RESULTS}/tables/generation_per_class.csv",
        markdown=f"{RESULTS}/tables/generation_summary.md",
        metrics=f"{RESULTS}/tables/generation_metrics.json",
        **{name: report(f"{RESULTS}/figures/{name}.png", category="Figures", caption=f"../report/{name}.rst")
           for name in GEN_FIGURES},
        pdfs=[f"{RESULTS}/figures/{name}.pdf" for name in GEN_FIGURES],
    params:
        tables=lambda wildcards, output: os.path.dirname(output.runs),
        figures=lambda wildcards, output: os.path.dirname(output.pdfs[0]),
    log:
        f"logs/{PROFILE}/generation_tables.log",
    conda:
        "../envs/semigan.yaml"
    shell:
        "semigan generation-tables {input} --out-dir {params.tables} --figures-dir {params.figures} > {log} 2>&1"


rule report_md:
    input:
        runs=ancient(rules.aggregate.output.runs),
        summary_md=ancient(rules.aggregate.output.markdown),
        paper_md=ancient(rules.tables.output.paper_md),
        figures=ancient([f"{RESULTS}/figures/{name}.png" for name in report_figures()]),
        generation_md=ancient([f"{RESULTS}/tables/generation_summary.md"] if generation_cells(CFG) else []),
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
