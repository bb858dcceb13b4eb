rule aggregate:
    input:
        all_metrics(),
    output:
        runs=f"{RESULTS}/tables/runs.csv",
        summary=f"{RESULTS}/tables/summary.csv",
        metrics=f"{RESULTS}/tables/metrics.json",
    log:
        f"logs/{PROFILE}/aggregate.log",
    conda:
        "../envs/semigan.yaml"
    shell:
        "semigan aggregate {input} --runs-csv {output.runs} --summary-csv {output.summary}"
        " --metrics-json {output.metrics} > {log} 2>&1"
