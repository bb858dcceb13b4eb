# The report: every run's metrics → tables, paired comparisons, figures and report.md, in one
# step (seconds).
# One step, so that nothing downstream of the committed tables has to decide whether they
# are current; recorded_inputs() (common.smk) decides for the step, by content.

rule report:
    input:
        **recorded_inputs(f"{TABLES}/inputs.json", CLASSIFICATION_HERE | GENERATION_HERE,
                          metrics=CLASSIFICATION, generation=GENERATION, references=[REFERENCES]),
    output:
        runs=report(f"{TABLES}/runs.csv", category="Tables", caption="../report/runs.rst"),
        summary=report(f"{TABLES}/summary.csv", category="Tables", caption="../report/summary.rst"),
        metrics=f"{TABLES}/metrics.json",
        summary_md=f"{TABLES}/summary.md",
        summary_tex=f"{TABLES}/summary.tex",
        paper_csv=report(f"{TABLES}/paper_vs_ours.csv", category="Tables", caption="../report/paper_vs_ours.rst"),
        paper_md=f"{TABLES}/paper_vs_ours.md",
        paper_tex=f"{TABLES}/paper_vs_ours.tex",
        histories=f"{TABLES}/histories.csv",
        comparisons=report(f"{TABLES}/comparisons.csv", category="Tables", caption="../report/comparisons.rst"),
        comparisons_md=f"{TABLES}/comparisons.md",
        findings_md=f"{TABLES}/findings.md",
        **{name: report(f"{FIGURES_DIR}/{name}.png", category="Figures", caption=f"../report/{name}.rst")
           for name in report_figures()},
        pdfs=[f"{FIGURES_DIR}/{name}.pdf" for name in report_figures()],
        **generation_outputs(),
        page=f"{RESULTS}/report.md",
        record=f"{TABLES}/inputs.json",
    params:
        profile=PROFILE,
        figures=lambda wildcards, output: os.path.dirname(output.pdfs[0]),
        pngs=lambda wildcards, output: " ".join(getattr(output, name) for name in report_figures()),
        captions=" ".join(shlex.quote(c) for c in report_figures().values()),
        generation=generation_step,
        generation_md=lambda wildcards, output: f"--generation-md {output.gen_md}" if GENERATION else "",
        generation_runs=lambda wildcards, output: f"--generation-runs {output.gen_runs}" if GENERATION else "",
    log:
        f"logs/{PROFILE}/report.log",
    conda:
        "../envs/semigan.yaml"
    shell:
        "(semigan aggregate {input.metrics} --runs-csv {output.runs} --summary-csv {output.summary}"
        " --metrics-json {output.metrics} --summary-md {output.summary_md}"
        " && semigan tables --summary {output.summary} --references {input.references}"
        " --summary-tex {output.summary_tex} --paper-csv {output.paper_csv}"
        " --paper-md {output.paper_md} --paper-tex {output.paper_tex}"
        " && semigan figures --runs {output.runs} --references {input.references}"
        " --out-dir {params.figures} --histories-csv {output.histories}"
        " {params.generation}"
        " && semigan compare --runs {output.runs} {params.generation_runs} --out-csv {output.comparisons}"
        " --out-md {output.comparisons_md} --findings-md {output.findings_md}"
        " && semigan report --profile {params.profile} --runs {output.runs} --summary-md {output.summary_md}"
        " --paper-md {output.paper_md} --figures {params.pngs} --captions {params.captions}"
        " {params.generation_md} --findings-md {output.findings_md} --comparisons-md {output.comparisons_md}"
        " --out {output.page}"
        " && semigan record-inputs {input} --out {output.record}) > {log} 2>&1"
