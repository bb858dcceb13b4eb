"""Generation methods: what each trains on, the conditional networks, exact resume, sampling."""

import numpy as np
import pytest
import torch

from semigan.generation.labels import build_training_set
from semigan.generation.train import GanTrainer, GenSpec, GenTrainConfig, balanced_classes, generate
from semigan.models.cgan import CondGenerator, ProjectionDiscriminator
from semigan.splits import make_split, write_split


def _split():
    labels = np.repeat(np.arange(10), 30)
    return make_split(labels, 20, 50, seed=0), labels


def test_label_sources_use_the_images_and_labels_they_claim():
    split, labels = _split()
    none = build_training_set("none", split, labels)
    assert none.labels is None and len(none.indices) == len(split.labeled) + len(split.unlabeled)
    assert not set(none.indices) & set(split.val)  # validation images are never trained on
    lab = build_training_set("labelled", split, labels)
    assert list(lab.indices) == list(split.labeled) and (lab.labels == labels[split.labeled]).all()
    full = build_training_set("all", split, labels)
    assert (full.labels == labels[full.indices]).all() and full.info["n_pseudo_labels"] == 0
    with pytest.raises(ValueError, match="labels='some'"):
        build_training_set("some", split, labels)


def test_pseudo_labels_come_from_the_classifier_run_and_respect_the_threshold(tmp_path):
    from semigan.models import get_architecture
    from semigan.training.loop import RunSpec, TrainConfig

    split, labels = _split()
    images = torch.randint(0, 256, (len(labels), 28, 28, 1), dtype=torch.uint8)
    torch.manual_seed(0)
    clf = get_architecture("mlp28").classifier(10, (1, 28, 28))
    spec = RunSpec("cpu", "mnist", 20, 0, "supervised", "mlp28", TrainConfig(steps=1))
    path = tmp_path / "model.pt"
    torch.save({"spec": spec.to_dict(), "n_classes": 10, "classifier": clf.state_dict()}, path)
    everything = build_training_set("pseudo", split, labels, images, path, threshold=0.0)
    assert everything.info["n_pseudo_labels"] == len(split.unlabeled)
    assert (everything.labels[:len(split.labeled)] == labels[split.labeled]).all()
    assert everything.info["classifier_run"] == "mnist/n20/supervised/seed0"
    strict = build_training_set("pseudo", split, labels, images, path, threshold=0.999)
    assert strict.info["n_pseudo_labels"] < len(split.unlabeled)  # an untrained net is not that sure
    assert len(strict.indices) == len(split.labeled) + strict.info["n_pseudo_labels"]


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
def test_conditional_networks(shape):
    torch.manual_seed(0)
    g, d = CondGenerator(shape, 10).eval(), ProjectionDiscriminator(shape, 10).eval()
    y = torch.arange(4)
    torch.manual_seed(1)
    x = g(g.sample_z(4), y)
    torch.manual_seed(1)
    assert x.shape == (4, *shape)
    assert not torch.allclose(x, g(g.sample_z(4), (y + 1) % 10))  # the class changes the image
    assert not torch.allclose(d(x, y), d(x, (y + 1) % 10))  # the projection term uses the class
    with pytest.raises(ValueError, match="class-conditional"):
        g(g.sample_z(4))
    u = ProjectionDiscriminator(shape, None)
    assert u(x).shape == (4,)


def test_generate_is_seeded_and_balanced():
    g = CondGenerator((1, 28, 28), 10).eval()
    classes = balanced_classes(30, 10)
    assert torch.bincount(classes).tolist() == [3] * 10
    a, b = generate(g, classes, 30, seed=5), generate(g, classes, 30, seed=5)
    assert a.dtype == torch.uint8 and a.shape == (30, 1, 28, 28) and torch.equal(a, b)


def test_gan_training_resumes_on_the_same_trajectory(mnist_dir, tmp_path):
    from semigan.data.store import load_images

    labels = load_images(mnist_dir, "train").labels
    split = make_split(labels, 100, 100, seed=0)
    split_path = tmp_path / "split.npz"
    write_split(split, split_path, {})
    cfg = GenTrainConfig(steps=6, batch_size=8, g_width=16, d_width=8, log_every=1, checkpoint_every=3)
    spec = GenSpec("smoke", "mnist", 100, 0, "cgan_labeled", "labelled", train=cfg)
    straight = GanTrainer(spec, mnist_dir, split_path).run(tmp_path / "none.pt")

    class Stop(Exception):
        pass

    first = GanTrainer(spec, mnist_dir, split_path)
    original = first.train_step

    def die_after_the_step_3_checkpoint():
        if first.step == 3:
            raise Stop
        return original()

    ckpt = tmp_path / "ckpt.pt"
    first.train_step = die_after_the_step_3_checkpoint
    with pytest.raises(Stop):
        first.run(ckpt)
    assert ckpt.exists()
    resumed = GanTrainer(spec, mnist_dir, split_path).run(ckpt)
    assert resumed["resumed_from"] == [3]
    for k, v in straight["generator"].items():
        assert torch.equal(v, resumed["generator"][k]), k


def test_gan_checkpoint_written_on_another_device_resumes_on_the_cpu(mnist_dir, tmp_path, monkeypatch):
    """As the classification loop: a GAN checkpoint saved from GPU 3 (every tensor tagged
    cuda:3, a CUDA RNG state) resumes on the CPU on the uninterrupted run's trajectory."""
    from semigan.data.store import load_images
    from test_training import rewrite_as_saved_on

    monkeypatch.setenv("SEMIGAN_DEVICE", "cpu")
    labels = load_images(mnist_dir, "train").labels
    split_path = tmp_path / "split.npz"
    write_split(make_split(labels, 100, 100, seed=0), split_path, {})
    cfg = GenTrainConfig(steps=6, batch_size=8, g_width=16, d_width=8, log_every=1, checkpoint_every=3)
    spec = GenSpec("smoke", "mnist", 100, 0, "gan", "none", train=cfg)
    straight = GanTrainer(spec, mnist_dir, split_path).run(tmp_path / "none.pt")
    ckpt = tmp_path / "ckpt.pt"
    assert GanTrainer(spec, mnist_dir, split_path).run(ckpt, interrupt=True) is None
    rewrite_as_saved_on(ckpt, "cuda:3", monkeypatch)
    resumed = GanTrainer(spec, mnist_dir, split_path).run(ckpt)
    assert resumed["resumed_from"] == [3]
    for k, v in straight["generator"].items():
        assert torch.equal(v, resumed["generator"][k]), k
    assert [{k: v for k, v in r.items() if k != "wall_seconds"} for r in straight["history"]] == \
        [{k: v for k, v in r.items() if k != "wall_seconds"} for r in resumed["history"]]
