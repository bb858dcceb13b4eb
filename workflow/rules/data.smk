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
        split=f"resources/splits/{{dataset}}/val{N_VAL}/n{{n_labels}}/seed{{seed}}.npz",
        info=f"resources/splits/{{dataset}}/val{N_VAL}/n{{n_labels}}/seed{{seed}}.json",
    params:
        data=lambda wildcards, input: os.path.dirname(input.train),
        n_val=N_VAL,
    log:
        f"logs/split/{{dataset}}_val{N_VAL}_n{{n_labels}}_seed{{seed}}.log",
    conda:
        "../envs/semigan.yaml"
    shell:
        "semigan split --data {params.data} --n-labels {wildcards.n_labels}"
        " --n-val {params.n_val} --seed {wildcards.seed} --out {output.split} > {log} 2>&1"
