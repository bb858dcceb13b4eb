# Efficiency benchmark (not part of `all`): iterations/s and test error vs training
# wall-clock of one run, e.g. `snakemake results/bench/cpu/mnist/n100/ssl_gan/seed0.json`.
# It stops at the first evaluation at or below the dataset's target test error
# (bench.target_error_pct in params.yaml: time-to-train); a dataset without one runs the whole schedule.
rule bench:
    input:
        train=ancient(f"{DATA}/{{dataset}}/train.npz"),
        test=ancient(f"{DATA}/{{dataset}}/test.npz"),
        meta=ancient(f"{DATA}/{{dataset}}/meta.json"),
        split=split_file,
    output:
        f"results/bench/{PROFILE}/{RUN}.json",
    params:
        data=lambda wildcards, input: os.path.dirname(input.train),
        spec=spec_json,
        checkpoint=f"resources/bench/{PROFILE}/{RUN}.checkpoint.pt",
        target=bench_target_args,
    log:
        f"logs/{PROFILE}/bench/{RUN}.log",
    resources:
        gpu=1,
    threads: 2
    conda:
        "../envs/semigan.yaml"
    shell:
        "semigan bench --spec {params.spec:q} --data {params.data} --split {input.split}"
        " --out {output} --checkpoint {params.checkpoint} --threads {threads} {params.target} 2> {log}"


# Metric speed (not part of `all`): FID+IS+KID+PR of 10k samples of one generation run,
# e.g. `snakemake results/bench/cpu/fidelity/mnist/n100/cgan_full/seed0.json`; and the Inception
# metrics on 200 samples + 200 reference images (~3-4 min on 2 cores), with the images/s and the
# estimated time for 10k + 10k (a full 299×299 Inception pass over 20k images takes over an hour).
rule bench_metrics:
    input:
        model=f"{GEN_MODELS}/{RUN}/model.pt",
        test=ancient(f"{DATA}/{{dataset}}/test.npz"),
        extractor=ancient(EXTRACTOR),
    output:
        f"results/bench/{PROFILE}/fidelity/{RUN}.json",
    params:
        data=lambda wildcards, input: os.path.dirname(input.test),
        inception=inception_weights_arg(),
        download="" if GEN.get("allow_download", True) else "--no-download",
    log:
        f"logs/{PROFILE}/bench_metrics/{RUN}.log",
    resources:
        gpu=1,  # the Inception pass runs on the chosen device
    threads: 2
    conda:
        "../envs/semigan.yaml"
    shell:
        "semigan bench-metrics --model {input.model} --data {params.data} --extractor {input.extractor}"
        " --n-samples 10000 --inception-n 200 {params.inception} {params.download}"
        " --out {output} --threads {threads} > {log} 2>&1"
