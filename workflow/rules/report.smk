rule aggregate:
    input:
        all_metrics(),
    output:
        runs=f"{RESULTS}/tables/runs.csv",
        summary=f"{RESULTS}/tables/summary.csv",
    log:
        f"logs/{PROFILE}/aggregate.log",
    conda:
        "../envs/semigan.yaml"
    shell:
        "semigan aggregate {input} --runs-csv {output.runs} --summary-csv {output.summary} > {log} 2>&1"
