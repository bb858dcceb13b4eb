rule train:
    input:
        train=ancient(f"{DATA}/{{dataset}}/train.npz"),
        meta=ancient(f"{DATA}/{{dataset}}/meta.json"),
        split=split_file,
    output:
        model=f"resources/models/{PROFILE}/{RUN}/model.pt",
        history=f"{RESULTS}/runs/{RUN}/history.csv",
    params:
        data=lambda wildcards, input: os.path.dirname(input.train),
        spec=spec_json,
        checkpoint=f"resources/models/{PROFILE}/{RUN}/checkpoint.pt",
    log:
        f"logs/{PROFILE}/train/{RUN}.log",
    resources:
        gpu=1,
    threads: 2
    conda:
        "../envs/semigan.yaml"
    shell:
        "semigan train --spec {params.spec:q} --data {params.data}"
        " --split {input.split} --model {output.model} --checkpoint {params.checkpoint}"
        " --history {output.history} --threads {threads} 2> {log}"


rule evaluate:
    input:
        unpack(evaluation_inputs(f"{RESULTS}/runs", f"resources/models/{PROFILE}")),
    output:
        metrics=f"{RESULTS}/runs/{RUN}/metrics.json",
    params:
        model=f"resources/models/{PROFILE}/{RUN}/model.pt",  # a path, so a frozen run fails clearly
        data=f"{DATA}/{{dataset}}",
        split=split_path,  # read only for models trained before they recorded their split sizes
        divergence=" ".join(f"--{k.replace('_', '-')} {v}" for k, v in sorted(EVALUATION.items())),
    log:
        f"logs/{PROFILE}/evaluate/{RUN}.log",
    threads: 2
    conda:
        "../envs/semigan.yaml"
    shell:
        "semigan evaluate --model {params.model} --data {params.data} --split {params.split}"
        " {params.divergence} --out {output.metrics} > {log} 2>&1"
