rule aggregate:
    input:
        all_metrics(),
    output:
        runs=f"{RESULTS}/tables/runs.csv",
        summary=f"{RESULTS}/tables/summary.csv",
        metrics=f"{RESULTS}/tables/metrics.json",
        markdown=f"{RESULTS}/tables/summary.md",
    log:
        f"logs/{PROFILE}/aggregate.log",
    conda:
        "../envs/semigan.yaml"
    shell:
        "semigan aggregate {input} --runs-csv {output.runs} --summary-csv {output.summary}"
        " --metrics-json {output.metrics} --summary-md {output.markdown} > {log} 2>&1"
