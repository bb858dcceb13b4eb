"""One device choice reaches every part that computes: training, pseudo-labelling, the domain
extractor and torch-fidelity, from $SEMIGAN_DEVICE or any command's --device. Without a GPU,
a fake one (torch told that CUDA is there) lets each part report the device it was handed;
the parts themselves are replaced by recorders before they would touch it."""

import os
import numpy as np
import pytest
import torch

from semigan import cli


class Reached(Exception):
    """Raised by a recorder: the part was reached, with the device it records."""


@pytest.fixture
def fake_gpu(monkeypatch):
    """torch believes a CUDA device exists; the global switches pick_device sets on a GPU are
    restored after the test."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch, "use_deterministic_algorithms", lambda *a, **k: None)
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", torch.backends.cudnn.benchmark)
    monkeypatch.setattr(torch.backends.cudnn, "deterministic", torch.backends.cudnn.deterministic)
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    monkeypatch.setenv("SEMIGAN_DEVICE", "cpu")  # the option must win over the environment


def _record(seen: list, name: str):
    def recorder(*args, **kwargs):
        from semigan.training.loop import pick_device

        seen.append((name, pick_device()))
        raise Reached
    return recorder


def test_device_option_of_the_training_commands_reaches_the_trainer(fake_gpu, monkeypatch):
    from semigan.training import loop
    from semigan.generation import train

    seen = []
    monkeypatch.setattr(loop, "train_run", _record(seen, "train"))
    monkeypatch.setattr(train, "train_gan_run", _record(seen, "train-gan"))
    files = ["--data", "d", "--split", "s", "--model", "m", "--checkpoint", "c", "--history", "h"]
    spec = ('{"profile": "cpu", "dataset": "mnist", "n_labels": 100, "seed": 0, "method": "ssl_gan", '
            '"arch": "mlp28", "train": {"steps": 10}, "hparams": {}}')
    gen_spec = '{"profile": "cpu", "dataset": "mnist", "n_labels": 100, "seed": 0, "method": "gan", "labels": "none"}'
    for argv in (["train", "--spec", spec, *files, "--device", "cuda:1"],
                 ["train-gan", "--spec", gen_spec, *files, "--device", "cuda:1"]):
        with pytest.raises(Reached):
            cli.main(argv)
    assert seen == [("train", torch.device("cuda:1")), ("train-gan", torch.device("cuda:1"))]


def test_every_computing_command_takes_a_device_option_and_rejects_a_bad_one(capsys):
    parser = cli.build_parser()
    commands = parser._subparsers._group_actions[0].choices
    computing = {"train", "train-gan", "evaluate", "train-extractor", "evaluate-gan", "sample", "bench",
                 "bench-metrics"}
    for name in computing:
        assert any("--device" in a.option_strings for a in commands[name]._actions), name
    before = os.environ.get("SEMIGAN_DEVICE")
    assert cli.main(["sample", "x.pt", "-o", "x.png", "--device", "tpu"]) == 2
    assert "$SEMIGAN_DEVICE='tpu'" in capsys.readouterr().err
    assert os.environ.get("SEMIGAN_DEVICE") == before  # the rejected value does not stay set


def test_pseudo_labelling_runs_on_the_gan_runs_device(fake_gpu, monkeypatch, mnist_dir, tmp_path):
    """The GAN trainer hands its device to the pseudo-labeller, which runs the classifier there."""
    from semigan.data.store import load_images
    from semigan.generation import labels, train
    from semigan.splits import make_split, write_split

    monkeypatch.setenv("SEMIGAN_DEVICE", "cuda:1")
    split_path = tmp_path / "split.npz"
    write_split(make_split(load_images(mnist_dir, "train").labels, 100, 100, seed=0), split_path, {})
    handed = []

    def predictions(model_path, images, batch_size=2000, device=None):
        handed.append(device)
        raise Reached

    monkeypatch.setattr(labels, "classifier_predictions", predictions)
    spec = train.GenSpec("cpu", "mnist", 100, 0, "ssl_cgan", "pseudo", classifier="ssl_gan")
    with pytest.raises(Reached):
        train.GanTrainer(spec, mnist_dir, split_path, classifier=tmp_path / "clf.pt", log=lambda m: None)
    assert handed == [torch.device("cuda:1")]


def test_pseudo_labels_are_computed_on_the_given_device(tmp_path, monkeypatch):
    """classifier_predictions moves the classifier and each batch to the device it is given."""
    from semigan.generation.labels import classifier_predictions
    from semigan.models import get_architecture
    from semigan.training.loop import RunSpec, TrainConfig

    arch = get_architecture("mlp28")
    clf = arch.classifier(10, (1, 28, 28))
    spec = RunSpec("cpu", "mnist", 100, 0, "supervised", "mlp28", TrainConfig(steps=1))
    torch.save({"spec": spec.to_dict(), "n_classes": 10, "classifier": clf.state_dict()}, tmp_path / "clf.pt")
    moved = []
    real_to = torch.nn.Module.to
    monkeypatch.setattr(torch.nn.Module, "to", lambda self, *a, **k: moved.append(a) or real_to(self, *a, **k))
    images = torch.randint(0, 256, (30, 28, 28, 1), dtype=torch.uint8)
    pred, conf, _ = classifier_predictions(tmp_path / "clf.pt", images, batch_size=16, device=torch.device("cpu"))
    assert moved == [(torch.device("cpu"),)] and pred.shape == conf.shape == (30,)


def test_extractor_trains_on_the_chosen_device(fake_gpu, monkeypatch, mnist_dir, tmp_path):
    from semigan.fidelity import extractor

    handed = []

    def train(*args, **kwargs):
        handed.append(args[7])  # train_domain_classifier's device argument
        raise Reached

    monkeypatch.setattr(extractor, "train_domain_classifier", train)
    with pytest.raises(Reached):
        cli.main(["train-extractor", "--data", str(mnist_dir), "--out", str(tmp_path / "e.pt"),
                  "--info", str(tmp_path / "e.json"), "--device", "cuda:1"])
    assert handed == [torch.device("cuda:1")]


def test_torch_fidelity_runs_on_the_chosen_gpu_and_caches_under_device_and_precision(fake_gpu, monkeypatch, tmp_path):
    """torch-fidelity is told to use CUDA (not merely whether one exists), the chosen GPU is
    current during its call, and the reference cache key names the device type and precision."""
    import torch_fidelity

    from semigan.fidelity import metrics

    monkeypatch.setenv("SEMIGAN_DEVICE", "cuda:1")
    current, calls = [], []

    class Current:
        def __init__(self, device):
            self.device = device

        def __enter__(self):
            current.append(self.device)

        def __exit__(self, *exc):
            current.append(None)

    def calculate(**kwargs):
        calls.append((kwargs["cuda"], kwargs["input2_cache_name"], current[-1]))
        return {"frechet_inception_distance": 1.0, "kernel_inception_distance_mean": 0.0,
                "kernel_inception_distance_std": 0.0, "precision": 1.0, "recall": 1.0}

    monkeypatch.setattr(torch.cuda, "device", Current)
    monkeypatch.setattr(torch_fidelity, "calculate_metrics", calculate)
    monkeypatch.setattr(metrics, "load_extractor", lambda path, device="cpu": (None, {"sha256": "ab" * 32}))
    images = torch.zeros(4, 1, 8, 8, dtype=torch.uint8)
    metrics.domain_metrics(images, images, "ref", tmp_path / "e.pt", tmp_path)
    metrics.domain_metrics(images, images, "ref", tmp_path / "e.pt", tmp_path, device="cpu")
    assert calls == [(True, "ref-abababababababab-n4-cuda-fp32", torch.device("cuda:1")),
                     (False, "ref-abababababababab-n4-cpu-fp32", None)]


def test_gan_evaluation_hands_one_device_to_every_part(fake_gpu, monkeypatch, tmp_path):
    from semigan.generation import evaluate

    monkeypatch.setenv("SEMIGAN_DEVICE", "cuda:1")
    handed = {}

    def part(name, result):
        def fn(*args, **kwargs):
            handed[name] = kwargs.get("device", args[-1] if args else None)
            return result
        return fn

    spec = {"profile": "cpu", "dataset": "mnist", "n_labels": 100, "seed": 0, "method": "cgan_full",
            "labels": "all"}
    blob = {"spec": spec, "n_classes": 2, "weights": "final EMA", "training_set": {}, "train_seconds": 1.0,
            "steps_per_second": 1.0, "resumed_from": [], "split_sha256": "x", "provenance": {}}
    monkeypatch.setattr(evaluate, "load_generator", part("generator", (None, blob)))
    monkeypatch.setattr(evaluate, "evaluation_samples", lambda g, b, d, n: (torch.zeros(1), None, torch.zeros(1)))
    monkeypatch.setattr(evaluate, "domain_metrics", part("domain", {"fid": 1.0}))
    monkeypatch.setattr(evaluate, "inception_metrics", part("inception", {"computed": False}))
    monkeypatch.setattr(evaluate, "class_consistency", part("class_consistency", {"overall": 1.0}))
    monkeypatch.setattr(evaluate, "load_meta", lambda d: {"classes": ["a", "b"]})
    monkeypatch.setattr(evaluate, "sample_grid", lambda g, k: None)
    monkeypatch.setattr(evaluate, "save_png", lambda x, p: None)
    monkeypatch.setattr(evaluate.provenance, "collect", lambda device: {"device": str(device)})
    m = evaluate.evaluate_gan_run(tmp_path / "g.pt", tmp_path, tmp_path / "e.pt", tmp_path, 10, None, False,
                                  tmp_path / "grid.png", log=lambda msg: None)
    assert handed == dict.fromkeys(["generator", "domain", "inception", "class_consistency"], torch.device("cuda:1"))
    assert m["provenance"]["evaluate"] == {"device": "cuda:1"}
