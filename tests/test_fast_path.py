"""Fast-path settings (channels_last, compile, bf16 precision, deterministic, weight_norm): each
runs on the CPU with finite losses and is recorded in the run's settings; bf16 stays near fp32;
the cpu profile keeps them off, so its committed runs still reproduce bit for bit."""

import csv
import dataclasses
import json
import math

import numpy as np
import pytest
import torch
from torch.optim.optimizer import register_optimizer_step_pre_hook

from semigan.config import load_schema, load_params, n_val_of, resolve, run_spec
from semigan.splits import make_split, write_split
from semigan.training.loop import FAST_PATH_DEFAULTS, FastPath, RunSpec, Trainer, TrainConfig

FAST_PATH = {"channels_last": True, "compile": True, "precision": "bf16", "deterministic": False,
             "weight_norm": "weight"}


@pytest.fixture(scope="module")
def tiny_cifar(tmp_path_factory):
    """300 noise images of 32×32×3 in 10 classes, in the cache format (a conv network's
    layouts are what channels_last changes)."""
    root = tmp_path_factory.mktemp("tiny-cifar")
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(10), 30)
    tint = rng.integers(0, 256, (10, 1, 1, 3))
    images = np.clip(rng.integers(0, 128, (300, 32, 32, 3)) + tint[labels] // 2, 0, 255).astype(np.uint8)
    for part in ("train", "test"):
        np.savez(root / f"{part}.npz", images=images, labels=labels)
    (root / "meta.json").write_text(json.dumps({"dataset": "tiny", "classes": [str(k) for k in range(10)]}))
    split = root / "split.npz"
    write_split(make_split(labels, 50, 50, seed=0), split, {})
    return root, split


def _spec(steps, arch="conv32_small", method="ssl_gan", **fast):
    train = TrainConfig(steps=steps, batch_size=10, eval_every=steps, checkpoint_every=10_000,
                        log_every=max(steps // 2, 1), ema_halflife=10, init_size=20, **fast)
    return RunSpec(profile="test", dataset="tiny", n_labels=50, seed=0, method=method, arch=arch,
                   train=train, hparams={})


# torch.compile's graph capture with the eager backend in the fast cases: inductor's C++ build
# of a conv network takes minutes on 2 shared cores (the inductor cases are marked slow).
COMPILE_WITH_INDUCTOR = pytest.param({"compile": True, "inductor": True}, marks=pytest.mark.slow, id="compile-inductor")
ALL_WITH_INDUCTOR = pytest.param({**FAST_PATH, "inductor": True}, marks=pytest.mark.slow, id="all-inductor")


@pytest.mark.parametrize("fast", [{"channels_last": True}, {"compile": True}, {"precision": "bf16"},
                                  {"deterministic": False}, {"weight_norm": "weight"}, FAST_PATH,
                                  COMPILE_WITH_INDUCTOR, ALL_WITH_INDUCTOR],
                         ids=lambda f: "+".join(f))
def test_each_fast_path_option_trains_with_finite_losses_and_is_recorded(fast, tiny_cifar, tmp_path, monkeypatch):
    fast = dict(fast)
    if not fast.pop("inductor", False):
        real = torch.nn.Module.compile
        monkeypatch.setattr(torch.nn.Module, "compile", lambda self, **kw: real(self, **{**kw, "backend": "eager"}))
    monkeypatch.setenv("SEMIGAN_DEVICE", "cpu")
    torch.set_num_threads(2)
    data, split = tiny_cifar
    trainer = Trainer(_spec(4, **fast), data, split, log=lambda m: None)
    if fast.get("channels_last"):
        from semigan.models.layers import WNConv2d

        conv = next(m for m in trainer.method.classifier.modules() if isinstance(m, WNConv2d))
        assert conv.v.is_contiguous(memory_format=torch.channels_last) and not conv.v.is_contiguous()
        x = trainer.next_batch().x_unl
        assert x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
    result = trainer.run(tmp_path / "ckpt.pt")
    assert all((n._compiled_call_impl is not None) == fast.get("compile", False) for n in trainer.networks())
    from semigan.models.layers import _WeightNormed

    modes = {m.normalise for net in [*trainer.networks(), trainer.ema.model] for m in net.modules()
             if isinstance(m, _WeightNormed)}
    assert modes == {fast.get("weight_norm", "output")}  # the EMA copy (validation) included
    losses = {k: v for row in result["history"] for k, v in row.items() if k.startswith("loss")}
    assert {"loss_lab", "loss_unl", "loss_gen"} <= set(losses)
    assert all(math.isfinite(v) for v in losses.values()), losses
    assert {k: result["spec"]["train"][k] for k in fast} == fast  # recorded in the run's settings
    # the fast path changes how, not what is saved: the same state names as a plain run's
    plain = Trainer(_spec(4), data, split, log=lambda m: None)
    assert result["classifier"].keys() == plain.method.classifier.state_dict().keys()


def test_compiled_ssl_gan_runs_its_feature_matching_passes_compiled(tiny_cifar, monkeypatch):
    """With train.compile, the generator step's feature passes (feature matching) go through
    the compiled network like the discriminator step's logits: after compilation no forward
    of the classifier runs outside the compiled graph."""
    torch._dynamo.reset()  # a training process's fresh compile cache (earlier tests' entries count toward its limit)
    real = torch.nn.Module.compile
    monkeypatch.setattr(torch.nn.Module, "compile", lambda self, **kw: real(self, **{**kw, "backend": "eager"}))
    monkeypatch.setenv("SEMIGAN_DEVICE", "cpu")
    data, split = tiny_cifar
    trainer = Trainer(_spec(2, compile=True), data, split, log=lambda m: None)
    trainer.prepare()
    trainer.compile_networks()
    classifier = trainer.method.classifier
    features = classifier.forward_features
    eager = []

    def recorded(x):  # False when traced into the compiled graph, True when run eagerly
        eager.append(not torch.compiler.is_compiling())
        return features(x)

    monkeypatch.setattr(classifier, "forward_features", recorded)
    for _ in range(2):
        trainer.step_once()
    assert eager and not any(eager), eager


def _autocast_record(monkeypatch, networks):
    """Whether autocast was on at each forward of `networks`, each backward and each
    optimiser step, as a dict of lists."""
    seen = {"forward": [], "backward": [], "optimizer_step": []}
    on = lambda: torch.is_autocast_enabled("cpu")  # noqa: E731
    for net in networks:
        for m in net.modules():
            m.register_forward_hook(lambda *_: seen["forward"].append(on()))
    backward = torch.Tensor.backward

    def recorded_backward(self, *args, **kwargs):
        seen["backward"].append(on())
        return backward(self, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, "backward", recorded_backward)
    handle = register_optimizer_step_pre_hook(
        lambda *_: seen["optimizer_step"].append(on()))
    return seen, handle


@pytest.mark.parametrize("precision", ["bf16", "fp32"])
@pytest.mark.parametrize("method", ["supervised", "pseudo_label", "ssl_gan", "gan"])
def test_bf16_autocast_covers_the_forward_passes_only(method, precision, tiny_cifar, tmp_path, monkeypatch):
    """Under bf16 every network forward of a training step runs in autocast; its backward
    passes and optimiser steps run outside it (as PyTorch advises). fp32: no autocast at all."""
    monkeypatch.setenv("SEMIGAN_DEVICE", "cpu")
    data, split = tiny_cifar
    if method == "gan":
        from semigan.generation.train import GanTrainer, GenSpec, GenTrainConfig

        cfg = GenTrainConfig(steps=2, batch_size=8, g_width=16, d_width=8, log_every=1, checkpoint_every=100,
                             precision=precision)
        trainer = GanTrainer(GenSpec("test", "tiny", 50, 0, "cgan_labeled", "labelled", train=cfg), data, split,
                             log=lambda m: None)
    else:
        trainer = Trainer(_spec(2, method=method, precision=precision), data, split, log=lambda m: None)
    trainer.prepare()  # data-dependent init (a classifier's), outside what is recorded
    seen, handle = _autocast_record(monkeypatch, trainer.networks())
    try:
        for _ in range(2):
            trainer.step_once()  # the training loop's step
    finally:
        handle.remove()
    n_backward = {"supervised": 1, "pseudo_label": 1, "ssl_gan": 2, "gan": 2}[method]
    assert len(seen["backward"]) == len(seen["optimizer_step"]) == 2 * n_backward
    assert seen["forward"] and set(seen["forward"]) == {precision == "bf16"}
    assert not any(seen["backward"]) and not any(seen["optimizer_step"])


def test_bf16_stays_within_a_stated_tolerance_of_fp32_over_200_steps(mnist_dir, tmp_path, monkeypatch):
    """200 ssl_gan steps of the MNIST network in bf16 autocast against fp32, same seed and
    batches. Stated tolerances on the mean of each 100 steps: the classifier's losses within
    0.05 + 10 % of fp32's, validation accuracy within 5 points, and the generator's
    feature-matching loss within a factor of 2 (a GAN's adversarial quantity: it differs as
    much between two fp32 trajectories that part by rounding). bf16 keeps 8 bits of mantissa:
    the trajectories part, they do not diverge."""
    monkeypatch.setenv("SEMIGAN_DEVICE", "cpu")
    torch.set_num_threads(2)
    split = tmp_path / "split.npz"
    from semigan.data.store import load_images

    write_split(make_split(load_images(mnist_dir, "train").labels, 100, 200, seed=0), split, {})

    def run(precision):
        spec = _spec(200, arch="mlp28", precision=precision)
        spec = dataclasses.replace(spec, dataset="mnist", n_labels=100,
                                   train=dataclasses.replace(spec.train, batch_size=50, init_size=100,
                                                             eval_every=100, log_every=100))
        return Trainer(spec, mnist_dir, split, log=lambda m: None).run(tmp_path / f"{precision}.pt")["history"]

    fp32, bf16 = run("fp32"), run("bf16")
    assert [r["step"] for r in fp32] == [r["step"] for r in bf16] == [100, 200]
    tolerance = {"loss_lab": (0.05, 0.1), "loss_unl": (0.05, 0.1), "val_acc": (0.05, 0.0)}
    outside = [(a["step"], key, a[key], b[key]) for a, b in zip(fp32, bf16) for key, (absolute, relative) in tolerance.items()
               if not (math.isfinite(b[key]) and abs(a[key] - b[key]) <= absolute + relative * abs(a[key]))]
    outside += [(a["step"], "loss_gen", a["loss_gen"], b["loss_gen"]) for a, b in zip(fp32, bf16)
                if not (math.isfinite(b["loss_gen"]) and 0.5 <= b["loss_gen"] / a["loss_gen"] <= 2.0)]
    assert not outside, outside
    assert any(a[k] != b[k] for a, b in zip(fp32, bf16) for k in ("loss_lab", "loss_gen"))  # bf16 did run


def test_fast_path_settings_are_the_schemas_and_the_profiles_choice():
    """One list of settings (FastPath) in the schema of both kinds of training; off by default
    and in the cpu profile, on in the paper profile (deterministic: repeatable run to run)."""
    schema = load_schema()["$defs"]
    names = {f.name for f in dataclasses.fields(FastPath)}
    assert names <= set(schema["train"]["properties"]) and names <= set(schema["gen_train"]["properties"])
    assert FAST_PATH_DEFAULTS == {"channels_last": False, "compile": False, "precision": "fp32", "deterministic": True,
                                  "weight_norm": "output"}
    cpu, paper = (resolve(load_params("params.yaml", profile=p)) for p in ("cpu", "paper"))
    for ds, n, method in (("mnist", 100, "ssl_gan"), ("cifar10_jpeg", 4000, "supervised")):
        assert {k: run_spec(cpu, ds, n, method, 0)["train"][k] for k in names} == FAST_PATH_DEFAULTS
    assert {k: run_spec(paper, "cifar10", 4000, "ssl_gan", 0)["train"][k] for k in names} == \
        {"channels_last": True, "compile": True, "precision": "bf16", "deterministic": True, "weight_norm": "output"}
    # MNIST's fully connected classifier: channels-last layout has nothing to gain there
    for method in ("supervised", "ssl_gan"):
        assert {k: run_spec(paper, "mnist", 100, method, 0)["train"][k] for k in names} == \
            {"channels_last": False, "compile": True, "precision": "bf16", "deterministic": True,
             "weight_norm": "output"}
    with pytest.raises(ValueError, match=r"train.precision='fp16': expected one of \('fp32', 'bf16'\)"):
        TrainConfig(steps=1, precision="fp16")
    with pytest.raises(ValueError, match=r"train.weight_norm='input': expected one of \('output', 'weight'\)"):
        TrainConfig(steps=1, weight_norm="input")


def test_committed_runs_recorded_before_the_fast_path_are_not_stale(tmp_path):
    """A run recorded without the fast-path settings ran with them off: it matches today's
    cpu description; a recorded setting that differs is still named."""
    from semigan.committed import stale_fields

    cpu = resolve(load_params("params.yaml", profile="cpu"))
    metrics = "results/cpu/runs/mnist/n100/ssl_gan/seed0/metrics.json"
    spec = run_spec(cpu, "mnist", 100, "ssl_gan", 0)
    recorded = json.load(open(metrics))
    assert "channels_last" not in recorded["config"]["train"] and stale_fields(metrics, spec) == []
    recorded["config"]["train"]["precision"] = "bf16"
    (tmp_path / "m.json").write_text(json.dumps(recorded))
    assert stale_fields(tmp_path / "m.json", spec) == ["train.precision"]


def _first_history_row(run_dir):
    with open(f"results/cpu/runs/{run_dir}/history.csv") as fh:
        return {k: float(v) for k, v in next(csv.DictReader(fh)).items() if v != "" and k != "wall_seconds"}


@pytest.mark.slow
# CIFAR seed 1 was trained on an AMD family/model 25/17, seed 0 on an Intel 6/167 (each reproduces on its kind)
@pytest.mark.parametrize("run", ["mnist/n100/ssl_gan/seed0", "cifar10_jpeg/n4000/ssl_gan/seed1"])
def test_cpu_profile_reproduces_the_first_history_row_of_committed_runs(run, mirror, tmp_path_factory, monkeypatch,
                                                                       request):
    """Today's cpu-profile description of a committed run (fast path off) re-trained up to its
    first history row (step 500 on MNIST, 250 on CIFAR) gives the committed row's numbers
    exactly, on the committed runs' 2 threads and the kind of CPU that made them (oneDNN's
    convolution kernels, and so the last bits, depend on it: README, Reproducibility)."""
    from semigan.data.store import load_images, prepare_dataset
    from semigan.provenance import cpu_identity
    from semigan.training.loop import with_fast_path_defaults

    monkeypatch.setenv("SEMIGAN_DEVICE", "cpu")
    dataset, n, method, seed = run.split("/")
    n, seed = int(n[1:]), int(seed[4:])
    recorded = json.load(open(f"results/cpu/runs/{run}/metrics.json"))
    made_on = recorded["provenance"]["train"]["device"].get("cpu_family_model")
    here = cpu_identity().get("cpu_family_model")
    if made_on is not None and made_on != here:
        pytest.skip(f"{run} was trained on CPU family/model {made_on}; this one is {here}, whose kernels "
                    "round differently (this test reproduces it only on its kind of CPU)")
    cpu = resolve(load_params("params.yaml", profile="cpu"))
    spec_dict = run_spec(cpu, dataset, n, method, seed)
    assert spec_dict == with_fast_path_defaults(recorded["config"])
    root = tmp_path_factory.mktemp(dataset)
    if dataset == "mnist":  # the session's copy, prepared from the mirror by the same call
        data = request.getfixturevalue("mnist_dir")
    else:
        data = root / dataset
        prepare_dataset(dataset, data, root / "downloads", str(mirror))
    split = make_split(load_images(data, "train").labels, n, n_val_of(cpu, dataset), seed)
    assert split.digest() == recorded["split_sha256"]
    write_split(split, root / "split.npz", {})
    torch.set_num_threads(recorded["provenance"]["train"]["device"]["torch_threads"])
    trainer = Trainer(RunSpec.from_dict(spec_dict), data, root / "split.npz", log=lambda m: None)
    trainer.run(root / "ckpt.pt", on_eval=lambda t, row: True)  # stop at the first history row
    row = {k: v for k, v in trainer.history[0].items() if k != "wall_seconds"}
    expected = _first_history_row(run)
    assert row.keys() >= expected.keys()
    # per-class accuracies: float32 means in the runs recorded before they were counted from
    # the confusion matrix (float64 ratios of the same counts), so compared as float32
    as_recorded = {k: float(np.float32(v)) if k.startswith("val_acc_class") else v for k, v in row.items()}
    expected = {k: float(np.float32(v)) if k.startswith("val_acc_class") else v for k, v in expected.items()}
    assert {k: as_recorded[k] for k in expected} == expected


def test_gan_training_takes_the_fast_path_too(tiny_cifar, tmp_path, monkeypatch):
    """A generation run's GAN with every fast-path option (compile's graph capture, eager
    backend): finite hinge losses, the settings recorded, channels-last networks."""
    from semigan.generation.train import GanTrainer, GenSpec, GenTrainConfig

    real = torch.nn.Module.compile
    monkeypatch.setattr(torch.nn.Module, "compile", lambda self, **kw: real(self, **{**kw, "backend": "eager"}))
    monkeypatch.setenv("SEMIGAN_DEVICE", "cpu")
    data, split = tiny_cifar
    cfg = GenTrainConfig(steps=4, batch_size=8, g_width=16, d_width=8, log_every=2, checkpoint_every=100, **FAST_PATH)
    trainer = GanTrainer(GenSpec("test", "tiny", 50, 0, "cgan_labeled", "labelled", train=cfg), data, split,
                         log=lambda m: None)
    result = trainer.run(tmp_path / "ckpt.pt")
    assert all(math.isfinite(row[k]) for row in result["history"] for k in ("loss_d", "loss_g"))
    assert {k: result["spec"]["train"][k] for k in FAST_PATH} == FAST_PATH
    assert all(n._compiled_call_impl is not None for n in trainer.networks())


def test_fast_path_benchmark_times_each_setting_alone_and_all_together(tiny_cifar, monkeypatch):
    """The benchmark's structure on two steps (no timing is asserted: timings need idle cores)."""
    from semigan.bench_fast_path import bench_step

    real = torch.nn.Module.compile
    monkeypatch.setattr(torch.nn.Module, "compile", lambda self, **kw: real(self, **{**kw, "backend": "eager"}))
    monkeypatch.setenv("SEMIGAN_DEVICE", "cpu")
    data, split = tiny_cifar
    rows = bench_step(_spec(4, arch="conv32_small", method="supervised"), data, split, steps=1, warmup=1)
    assert list(rows) == ["plain", "channels_last", "compile", "bf16", "no_determinism", "weight_norm", "all"]
    assert rows["plain"]["settings"] == FAST_PATH_DEFAULTS and rows["plain"]["speedup"] == 1.0
    assert rows["all"]["settings"] == FAST_PATH
    assert all(r["s_per_step"] > 0 for r in rows.values())


def test_inception_benchmark_times_each_feature_setting_against_fp32(monkeypatch, tmp_path):
    """The Inception part of the benchmark on 4 random images (no timing asserted): each
    setting alone and together, fp32's features are the reference, bf16's really differ.
    torch.compile is left out (tests/test_inception.py runs the compiled network)."""
    from semigan import bench_fast_path

    monkeypatch.setattr(torch, "compile", lambda fn, **kw: fn)
    import torch_fidelity.metric_fid as fid  # its 2048×2048 matrix square root takes seconds: the mean term only
    monkeypatch.setattr(fid, "fid_statistics_to_metric", lambda a, b, verbose: {
        "frechet_inception_distance": float(((a["mu"] - b["mu"]) ** 2).sum())})
    monkeypatch.setenv("SEMIGAN_DEVICE", "cpu")
    monkeypatch.chdir(tmp_path)  # the converted weights go under ./resources/fidelity_cache/bench
    result = bench_fast_path.bench_inception(4, batch_size=2)
    assert result["computed"] and result["images"] == "uniform random images"
    rows = result["variants"]
    assert list(rows) == ["plain", "compile", "bf16", "all"]
    assert [r["settings"] for r in rows.values()] == [
        {"precision": "fp32", "compile": False}, {"precision": "fp32", "compile": True},
        {"precision": "bf16", "compile": False}, {"precision": "bf16", "compile": True}]
    assert rows["plain"]["speedup"] == 1.0 and rows["plain"]["max_feature_deviation"] == 0.0
    assert rows["plain"]["fid_change"] == 0.0 and math.isfinite(rows["plain"]["fid_halves"])
    assert rows["compile"]["max_feature_deviation"] == 0.0 < 1e-4 < rows["bf16"]["max_feature_deviation"] < 0.1
    assert all(r["images_per_second"] > 0 and math.isfinite(r["fid_halves"]) for r in rows.values())


def test_a_profiles_fast_path_is_read_for_the_benchmarked_run():
    """--profile-variant times the settings a profile gives this very run: all off in `cpu`
    (its committed arithmetic), the GPU fast path in `paper`, MNIST's fully connected networks
    without channels_last there."""
    from semigan.bench_fast_path import profile_fast_path

    cpu = resolve(load_params("params.yaml", profile="cpu"))
    mnist = RunSpec.from_dict(run_spec(cpu, "mnist", 100, "ssl_gan", 0))
    cifar = RunSpec.from_dict(run_spec(cpu, "cifar10_jpeg", 4000, "ssl_gan", 0))
    assert profile_fast_path(mnist, "cpu") == profile_fast_path(cifar, "cpu") == FAST_PATH_DEFAULTS
    paper = profile_fast_path(cifar, "paper")
    assert (paper["compile"], paper["precision"], paper["channels_last"]) == (True, "bf16", True)
    assert profile_fast_path(mnist, "paper") == {**paper, "channels_last": False}
