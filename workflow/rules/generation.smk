# Few-label class-conditional generation: the domain extractor (per dataset), one GAN per
# generation run, and its evaluation (torch-fidelity metrics, class-consistency, grid).

rule extractor:
    input:
        unpack(extractor_inputs),
    output:
        model=EXTRACTOR,
        # kept in place, not deleted before the job: where the committed weights are missing, a
        # retraining must reproduce the recorded ones (--expect-recorded), and Snakemake restores
        # the record when it does not (the foreign weights go to --aside)
        info=update(f"{RESULTS}/extractors/{{dataset}}.json"),
    params:
        data=lambda wildcards: f"{DATA}/{wildcards.dataset}",  # not from input: none in a clone
        aside=EXTRACTOR_ASIDE,
        settings=lambda wildcards: " ".join(
            f"--{k.replace('_', '-')} {v}" for k, v in extractor_settings(CFG, wildcards.dataset).items()
            if v is not None),
    log:
        f"logs/{PROFILE}/extractor/{{dataset}}.log",
    resources:
        gpu=1,
    threads: 2
    conda:
        "../envs/semigan.yaml"
    shell:
        "semigan train-extractor --data {params.data} --out {output.model} --info {output.info}"
        " {params.settings} --expect-recorded --aside {params.aside} --threads {threads} > {log} 2>&1"


rule train_gan:
    input:
        train=ancient(f"{DATA}/{{dataset}}/train.npz"),
        meta=ancient(f"{DATA}/{{dataset}}/meta.json"),
        split=split_file,
        classifier=pseudo_labeller,
    output:
        model=f"{GEN_MODELS}/{RUN}/model.pt",
        history=f"{GEN_RUNS}/{RUN}/history.csv",
    params:
        data=lambda wildcards, input: os.path.dirname(input.train),
        spec=gen_spec_json,
        classifier=lambda wildcards, input: f"--classifier {input.classifier}" if input.classifier else "",
        checkpoint=f"{GEN_MODELS}/{RUN}/checkpoint.pt",
    log:
        f"logs/{PROFILE}/train_gan/{RUN}.log",
    resources:
        gpu=1,
    threads: 2
    conda:
        "../envs/semigan.yaml"
    shell:
        "semigan train-gan --spec {params.spec:q} --data {params.data} --split {input.split}"
        " {params.classifier} --model {output.model} --checkpoint {params.checkpoint}"
        " --history {output.history} --threads {threads} 2> {log}"


rule evaluate_gan:
    input:
        unpack(evaluation_inputs(GEN_RUNS, GEN_MODELS, extractor=EXTRACTOR)),
    output:
        metrics=f"{GEN_RUNS}/{RUN}/metrics.json",
        grid=report(f"{GEN_RUNS}/{RUN}/samples.png", category="Samples", caption="../report/samples.rst"),
    params:
        model=f"{GEN_MODELS}/{RUN}/model.pt",  # paths, so a frozen run fails clearly
        extractor=EXTRACTOR,
        data=f"{DATA}/{{dataset}}",
        cache=f"resources/fidelity_cache/{PROFILE}",
        n_samples=GEN.get("n_samples", 10000),
        inception=inception_args,
        download="" if GEN.get("allow_download", True) else "--no-download",
        device=evaluate_gan_device,
    log:
        f"logs/{PROFILE}/evaluate_gan/{RUN}.log",
    resources:
        gpu=evaluate_gan_gpus,
    threads: 2
    conda:
        "../envs/semigan.yaml"
    shell:
        "semigan evaluate-gan --model {params.model} --data {params.data} --extractor {params.extractor}"
        " --cache {params.cache} --n-samples {params.n_samples} {params.inception} {params.download} {params.device}"
        " --grid {output.grid} --out {output.metrics} --threads {threads} > {log} 2>&1"
