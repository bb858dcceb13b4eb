rule download:
    output:
        train=f"{DATA}/{{dataset}}/train.npz",
        test=f"{DATA}/{{dataset}}/test.npz",
        meta=f"{DATA}/{{dataset}}/meta.json",
    params:
        out=lambda wildcards, output: os.path.dirname(output.train),
        downloads=CFG["data"]["downloads"],
        source=source_args,
    log:
        "logs/download/{dataset}.log",
    conda:
        "../envs/semigan.yaml"
    shell:
        "semigan download {wildcards.dataset} --out {params.out}"
        " --downloads {params.downloads} {params.source} 2> {log}"


rule split:
    input:
        train=ancient(f"{DATA}/{{dataset}}/train.npz"),
        meta=ancient(f"{DATA}/{{dataset}}/meta.json"),
    output:
        split=f"{SPLIT}.npz",
        info=f"{SPLIT}.json",
    params:
        data=lambda wildcards, input: os.path.dirname(input.train),
    log:
        "logs/split/{dataset}_val{n_val}_n{n_labels}_seed{seed}.log",
    conda:
        "../envs/semigan.yaml"
    shell:
        "semigan split --data {params.data} --n-labels {wildcards.n_labels}"
        " --n-val {wildcards.n_val} --seed {wildcards.seed} --out {output.split} > {log} 2>&1"
