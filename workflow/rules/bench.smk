# Efficiency benchmark (not part of `all`): iterations/s and test error vs training
# wall-clock of one run, e.g. `snakemake results/bench/cpu/mnist/n100/ssl_gan/seed0.json`.
rule bench:
    input:
        train=ancient(f"{DATA}/{{dataset}}/train.npz"),
        test=ancient(f"{DATA}/{{dataset}}/test.npz"),
        meta=ancient(f"{DATA}/{{dataset}}/meta.json"),
        split=ancient(f"resources/splits/{{dataset}}/val{N_VAL}/n{{n_labels}}/seed{{seed}}.npz"),
    output:
        f"results/bench/{PROFILE}/{RUN}.json",
    params:
        data=lambda wildcards, input: os.path.dirname(input.train),
        spec=spec_json,
        checkpoint=f"resources/bench/{PROFILE}/{RUN}.checkpoint.pt",
    log:
        f"logs/{PROFILE}/bench/{RUN}.log",
    resources:
        gpu=1,
    threads: 2
    conda:
        "../envs/semigan.yaml"
    shell:
        "semigan bench --spec {params.spec:q} --data {params.data} --split {input.split}"
        " --out {output} --checkpoint {params.checkpoint} --threads {threads} 2> {log}"
