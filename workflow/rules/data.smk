rule download:
    output:
        train=f"{DATA}/{{dataset}}/train.npz",
        test=f"{DATA}/{{dataset}}/test.npz",
        meta=f"{DATA}/{{dataset}}/meta.json",
    params:
        downloads=CFG["data"]["downloads"],
        mirror=CFG["data"]["mirror"] or "",
    log:
        "logs/download/{dataset}.log",
    conda:
        "../envs/semigan.yaml"
    shell:
        "semigan download {wildcards.dataset} --out {DATA}/{wildcards.dataset}"
        " --downloads {params.downloads} --mirror {params.mirror:q} 2> {log}"


rule split:
    input:
        train=f"{DATA}/{{dataset}}/train.npz",
        meta=f"{DATA}/{{dataset}}/meta.json",
    output:
        split=f"resources/splits/{{dataset}}/val{N_VAL}/n{{n_labels}}/seed{{seed}}.npz",
        info=f"resources/splits/{{dataset}}/val{N_VAL}/n{{n_labels}}/seed{{seed}}.json",
    log:
        f"logs/split/{{dataset}}_val{N_VAL}_n{{n_labels}}_seed{{seed}}.log",
    conda:
        "../envs/semigan.yaml"
    shell:
        "semigan split --data {DATA}/{wildcards.dataset} --n-labels {wildcards.n_labels}"
        " --n-val {N_VAL} --seed {wildcards.seed} --out {output.split} > {log} 2>&1"
