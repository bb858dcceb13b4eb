"""Training loop: exact resume (same trajectory as an uninterrupted run), resume after the
process is killed, stale checkpoints kept aside, and what a finished run records."""

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from semigan.splits import make_split, write_split
from semigan.data.store import load_images
from semigan.training.loop import RunSpec, Trainer, TrainConfig, train_run


@pytest.fixture(scope="module")
def split_path(mnist_dir, tmp_path_factory):
    path = tmp_path_factory.mktemp("split") / "split.npz"
    labels = load_images(mnist_dir, "train").labels
    write_split(make_split(labels, 100, 200, seed=0), path, {})
    return path


def _spec(method="ssl_gan", steps=30, **train):
    cfg = dict(steps=steps, batch_size=50, eval_every=10, checkpoint_every=10, log_every=10,
               ema_halflife=10, init_size=100)
    cfg.update(train)
    return RunSpec(profile="test", dataset="mnist", n_labels=100, seed=0, method=method,
                   arch="mlp28", train=TrainConfig(**cfg), hparams={})


class Interrupt(Exception):
    pass


def _strip_wall(history):
    return [{k: v for k, v in row.items() if k != "wall_seconds"} for row in history]


def test_resumed_run_continues_the_same_trajectory(mnist_dir, split_path, tmp_path):
    torch.set_num_threads(2)
    straight = Trainer(_spec(), mnist_dir, split_path, log=lambda m: None).run(tmp_path / "a.pt")

    def stop_at_20(trainer, row):
        if row["step"] == 20:
            raise Interrupt

    with pytest.raises(Interrupt):
        Trainer(_spec(), mnist_dir, split_path, log=lambda m: None).run(tmp_path / "b.pt", on_eval=stop_at_20)
    assert torch.load(tmp_path / "b.pt", weights_only=True)["step"] == 10
    logs = []
    resumed = Trainer(_spec(), mnist_dir, split_path, log=logs.append).run(tmp_path / "b.pt")
    assert any("resumed from checkpoint at step 10/30" in m for m in logs)
    assert resumed["resumed_from"] == [10]
    for key in ("classifier_final_ema", "classifier", "classifier_small_val"):
        for name, value in straight[key].items():
            assert torch.equal(value, resumed[key][name]), f"{key}.{name} diverged after resume"
    assert straight["selection_small_val"] == resumed["selection_small_val"]
    for name, value in straight["exported"]["generator"].items():
        assert torch.equal(value, resumed["exported"]["generator"][name]), name
    assert _strip_wall(straight["history"]) == _strip_wall(resumed["history"])


def test_interrupted_after_checkpoint_resumes_in_a_fresh_trainer_on_the_same_trajectory(mnist_dir, split_path, tmp_path):
    """The preflight's resume check: the run stops after its first checkpoint, a new trainer
    resumes from the file, and the result is the uninterrupted run's."""
    from semigan.training.loop import train_resuming

    torch.set_num_threads(2)
    straight = Trainer(_spec(steps=20), mnist_dir, split_path, log=lambda m: None).run(tmp_path / "a.pt")
    made = []

    def make():
        made.append(Trainer(_spec(steps=20), mnist_dir, split_path, log=lambda m: None))
        return made[-1]

    trainer, resumed = train_resuming(make, tmp_path / "b.pt", interrupt=True)
    assert len(made) == 2 and trainer is made[1]
    assert resumed["resumed_from"] == [10] and straight["resumed_from"] == []
    for name, value in straight["classifier_final_ema"].items():
        assert torch.equal(value, resumed["classifier_final_ema"][name]), name
    assert _strip_wall(straight["history"]) == _strip_wall(resumed["history"])
    assert resumed["peak_memory"]["what"] == "process max RSS" and resumed["peak_memory"]["mb"] > 50


def test_device_is_chosen_by_the_environment_with_clear_errors(monkeypatch):
    from semigan.errors import UsageError
    from semigan.training.loop import pick_device

    monkeypatch.setenv("SEMIGAN_DEVICE", "cpu")
    assert pick_device() == torch.device("cpu")
    monkeypatch.setenv("SEMIGAN_DEVICE", "gpu0")
    with pytest.raises(UsageError, match=r"\$SEMIGAN_DEVICE='gpu0' is not a device; expected cpu, cuda"):
        pick_device()
    if not torch.cuda.is_available():
        monkeypatch.setenv("SEMIGAN_DEVICE", "cuda")
        with pytest.raises(UsageError, match="sees no CUDA device"):
            pick_device()


def test_checkpoint_of_another_configuration_is_kept_aside(mnist_dir, split_path, tmp_path):
    def stop(trainer, row):
        raise Interrupt

    with pytest.raises(Interrupt):
        Trainer(_spec("supervised"), mnist_dir, split_path, log=lambda m: None).run(
            tmp_path / "c.pt", on_eval=lambda t, r: stop(t, r) if r["step"] == 20 else None)
    logs = []
    other = _spec("supervised", steps=20, ema_halflife=5)
    result = Trainer(other, mnist_dir, split_path, log=logs.append).run(tmp_path / "c.pt")
    assert result["resumed_from"] == []
    assert (tmp_path / "c.pt.stale-step10").exists()
    assert any("another configuration" in m for m in logs)


def test_selection_uses_validation_only_and_is_recorded(mnist_dir, split_path, tmp_path):
    result = train_run(_spec("supervised", steps=30), mnist_dir, split_path, tmp_path / "m.pt",
                       tmp_path / "ck.pt", tmp_path / "h.csv")
    best = max(result["history"], key=lambda r: r["val_acc"])
    assert result["selection"] == {"rule": "best_val", "step": best["step"], "val_acc": best["val_acc"],
                                   "weights": "ema"}
    assert not (tmp_path / "ck.pt").exists(), "checkpoint should be removed after a finished run"
    prov = torch.load(tmp_path / "m.pt", weights_only=True)["provenance"]
    assert {"git", "packages", "device"} <= set(prov) and prov["packages"]["torch"]
    assert (tmp_path / "h.csv").read_text().splitlines()[0].startswith("step,")


def test_second_selection_on_a_validation_set_as_large_as_the_labelled_set(mnist_dir, split_path, tmp_path):
    """Beside the selection on all 200 validation images, the run keeps the EMA weights that
    scored best on a seeded class-balanced 100 of them (n_labels): recorded step and accuracy
    are the history's, the kept weights really score that on those images, and evaluation
    reports their test error."""
    from semigan.evaluate import evaluate_run
    from semigan.splits import read_split, small_validation
    from semigan.training.loop import accuracy
    from semigan.models import get_architecture

    torch.set_num_threads(2)
    result = Trainer(_spec("supervised", steps=40, ema_halflife=5), mnist_dir, split_path,
                     log=lambda m: None).run(tmp_path / "a.pt")
    small = result["selection_small_val"]
    best = max(result["history"], key=lambda r: r["val_acc_small"])
    assert small == {"rule": "best_val", "n_val": 100, "step": best["step"],
                     "val_acc": best["val_acc_small"], "weights": "ema"}
    assert len({r["val_acc_small"] for r in result["history"]}) > 1  # it moved: the choice was real
    split = read_split(split_path)
    train = load_images(mnist_dir, "train")

    # per-class validation accuracy (issue 17: a sub-mode absorbed into another class shows in
    # one column): weighted by the classes' validation counts it is the overall accuracy
    counts_val = np.bincount(train.labels[split.val], minlength=10)
    for row in result["history"]:
        per_class = np.array([row[f"val_acc_class{k}"] for k in range(10)])
        assert (per_class * counts_val).sum() / counts_val.sum() == pytest.approx(row["val_acc"], abs=1e-6)
        assert per_class.min() < row["val_acc"] < per_class.max()  # a 40-step model is uneven
    idx = split.val[small_validation(train.labels[split.val], 100, seed=0)]
    arch = get_architecture("mlp28")
    classifier = arch.classifier(10, (1, 28, 28))
    classifier.load_state_dict(result["classifier_small_val"])
    acc, _ = accuracy(classifier, torch.from_numpy(train.images[idx]), torch.from_numpy(train.labels[idx]).long(), arch)
    assert acc == small["val_acc"]

    torch.save(dict(result, provenance={}), tmp_path / "model.pt")
    metrics = evaluate_run(tmp_path / "model.pt", mnist_dir, split_path)
    test = load_images(mnist_dir, "test")
    test_acc, _ = accuracy(classifier, torch.from_numpy(test.images), torch.from_numpy(test.labels).long(), arch)
    assert metrics["small_val"] == dict(small, test_accuracy=test_acc, test_error_pct=100.0 * (1.0 - test_acc))

    # the confusion matrix of the selected weights agrees with their accuracy and per-class accuracy
    counts = np.array(metrics["confusion_matrix"]["counts"])
    assert counts.shape == (10, 10) and counts.sum() == len(test.labels)
    assert counts.sum(axis=1).tolist() == np.bincount(test.labels, minlength=10).tolist()
    assert np.trace(counts) == round(metrics["test_accuracy"] * len(test.labels))
    for k, name in enumerate(metrics["confusion_matrix"]["classes"]):
        assert counts[k, k] / counts[k].sum() == pytest.approx(metrics["per_class_accuracy"][name])
    assert (counts - np.diag(np.diag(counts))).sum() > 0  # a 40-step model errs: off-diagonal counts are real


def test_no_second_selection_when_the_labelled_set_is_as_large_as_the_validation_set(mnist_dir, tmp_path):
    """200 labels and 200 validation images: a "small" set would be the full one, so the run
    records no second selection (and evaluation reports none) rather than a copy of the first."""
    from semigan.evaluate import evaluate_run

    labels = load_images(mnist_dir, "train").labels
    write_split(make_split(labels, 200, 200, seed=0), tmp_path / "s.npz", {})
    result = Trainer(_spec("supervised", steps=20), mnist_dir, tmp_path / "s.npz", log=lambda m: None).run(tmp_path / "a.pt")
    assert "selection_small_val" not in result and "classifier_small_val" not in result
    assert all("val_acc_small" not in row for row in result["history"])
    torch.save(dict(result, provenance={}), tmp_path / "model.pt")
    assert evaluate_run(tmp_path / "model.pt", mnist_dir, tmp_path / "s.npz")["small_val"] is None


def test_checkpoint_from_before_the_small_validation_selection_reports_none(mnist_dir, split_path, tmp_path):
    """A run resumed from a checkpoint that lacks the second selection reports none, rather
    than one that saw only the evaluations after the resume."""
    def stop(trainer, row):
        if row["step"] == 20:
            raise Interrupt

    with pytest.raises(Interrupt):
        Trainer(_spec("supervised"), mnist_dir, split_path, log=lambda m: None).run(tmp_path / "c.pt", on_eval=stop)
    state = torch.load(tmp_path / "c.pt", weights_only=True)
    del state["best_small"]
    torch.save(state, tmp_path / "c.pt")
    result = Trainer(_spec("supervised"), mnist_dir, split_path, log=lambda m: None).run(tmp_path / "c.pt")
    assert result["resumed_from"] == [10]
    assert "selection_small_val" not in result and "classifier_small_val" not in result


@pytest.mark.slow
def test_killed_train_job_resumes_from_checkpoint(mnist_dir, split_path, tmp_path):
    """A real `semigan train` process killed with SIGKILL mid-run, then started again."""
    spec = _spec("ssl_gan", steps=150, checkpoint_every=25, eval_every=50).to_dict()
    spec_json = json.dumps(spec)

    def cmd(out):
        return [sys.executable, "-m", "semigan.cli", "train", "--spec", spec_json, "--data", str(mnist_dir),
                "--split", str(split_path), "--model", str(out / "model.pt"), "--checkpoint",
                str(out / "ckpt.pt"), "--history", str(out / "h.csv"), "--threads", "2"]

    killed = tmp_path / "killed"
    killed.mkdir()
    proc = subprocess.Popen(cmd(killed), stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (killed / "ckpt.pt").exists():
        assert proc.poll() is None, proc.stderr.read()
        assert time.time() < deadline, "no checkpoint written in time"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (killed / "model.pt").exists()
    rerun = subprocess.run(cmd(killed), capture_output=True, text=True, check=True)
    assert "resumed from checkpoint at step" in rerun.stderr
    model = torch.load(killed / "model.pt", weights_only=True)
    assert model["resumed_from"] and model["history"][-1]["step"] == 150

    straight = tmp_path / "straight"
    straight.mkdir()
    subprocess.run(cmd(straight), capture_output=True, text=True, check=True)
    reference = torch.load(straight / "model.pt", weights_only=True)
    for name, value in reference["classifier_final_ema"].items():
        assert torch.equal(value, model["classifier_final_ema"][name]), name


@pytest.mark.parametrize("arch_name", ["mlp28", "conv32_small"])
def test_accuracy_does_not_depend_on_the_evaluation_batch_size(arch_name):
    """`accuracy` evaluates in batches of 200 for speed; selection on validation and the
    committed test errors (these two architectures) were made in batches of 1000, so the
    logits must be bitwise equal."""
    from semigan.models import get_architecture
    from semigan.training.loop import accuracy, to_model_input

    arch = get_architecture(arch_name)
    shape = (1, 28, 28) if arch_name == "mlp28" else (3, 32, 32)
    torch.manual_seed(0)
    model = arch.classifier(10, shape)
    images = torch.randint(0, 256, (400, shape[1], shape[2], shape[0]), dtype=torch.uint8)
    labels = torch.randint(0, 10, (400,))
    model.eval()
    with torch.no_grad():
        one_batch = model(to_model_input(images, arch))
        batched = torch.cat([model(to_model_input(images[i:i + 200], arch)) for i in range(0, 400, 200)])
    assert torch.equal(one_batch, batched)
    acc, pred = accuracy(model, images, labels, arch)
    assert (pred == one_batch.argmax(1).numpy()).all()
    assert acc == pytest.approx(float((one_batch.argmax(1) == labels).float().mean()))


def test_confusion_matrix_counts_true_by_predicted_and_per_class_accuracy_reads_its_diagonal():
    from semigan.training.loop import confusion_matrix, per_class_accuracy
    labels, pred = np.array([0, 0, 0, 1, 1, 2]), np.array([0, 1, 1, 1, 1, 0])
    confusion = confusion_matrix(labels, pred, 4)
    assert confusion.tolist() == [[1, 2, 0, 0], [0, 2, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]]
    accuracy = per_class_accuracy(confusion)
    assert accuracy[:3] == pytest.approx([1 / 3, 1.0, 0.0]) and np.isnan(accuracy[3])  # class 3: no images


def rewrite_as_saved_on(checkpoint, device: str, monkeypatch, with_cuda_rng=True):
    """Rewrite a checkpoint as a run on `device` would have written it: every storage tagged
    with that device (torch.load without a map would put it back there, or fail where there
    is no such device) and, for a GPU, a CUDA RNG state beside the CPU one."""
    state = torch.load(checkpoint, weights_only=True)
    if with_cuda_rng:
        state["rng"]["cuda"] = torch.zeros(16, dtype=torch.uint8)
    with monkeypatch.context() as m:
        m.setattr(torch.serialization, "location_tag", lambda storage: device)
        torch.save(state, checkpoint)
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA"):
            torch.load(checkpoint, weights_only=True)  # the tags took: these tensors are not the CPU's


def test_checkpoint_written_on_another_device_resumes_on_the_cpu_on_the_same_trajectory(
        mnist_dir, split_path, tmp_path, monkeypatch):
    """A checkpoint whose tensors were saved from another device (here GPU 3, with its CUDA RNG
    state) resumes on the CPU: RNG and stream states restore on the CPU, networks and
    optimisers on the run's device, and the result is the uninterrupted run's bit for bit."""
    monkeypatch.setenv("SEMIGAN_DEVICE", "cpu")
    torch.set_num_threads(2)
    straight = Trainer(_spec(steps=20), mnist_dir, split_path, log=lambda m: None).run(tmp_path / "a.pt")
    ckpt = tmp_path / "b.pt"
    assert Trainer(_spec(steps=20), mnist_dir, split_path, log=lambda m: None).run(ckpt, interrupt=True) is None
    rewrite_as_saved_on(ckpt, "cuda:3", monkeypatch)
    resumed = Trainer(_spec(steps=20), mnist_dir, split_path, log=lambda m: None).run(ckpt)
    assert resumed["resumed_from"] == [10]
    for key in ("classifier_final_ema", "classifier"):
        for name, value in straight[key].items():
            assert torch.equal(value, resumed[key][name]), f"{key}.{name} diverged after resume"
    for name, value in straight["exported"]["generator"].items():
        assert torch.equal(value, resumed["exported"]["generator"][name]), name
    assert _strip_wall(straight["history"]) == _strip_wall(resumed["history"])


def test_cuda_rng_state_is_saved_and_restored_for_the_runs_own_gpu_only(monkeypatch):
    """With a fake CUDA: the state saved is the run's GPU's (not one per visible GPU, which a
    node showing fewer GPUs could not restore), it is restored onto that GPU from the CPU
    tensor a checkpoint loads as, an older checkpoint's per-GPU list gives the run's entry,
    and a CPU run ignores a CUDA state."""
    from semigan.training import loop

    saved, restored = [], []
    monkeypatch.setattr(torch.cuda, "get_rng_state", lambda device: saved.append(device) or torch.ones(8, dtype=torch.uint8))
    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda state, device: restored.append((state.device, state.sum().item(), device)))
    state = loop._rng_state(torch.device("cuda:2"))
    assert saved == [torch.device("cuda:2")] and state["cuda"].sum() == 8
    assert "cuda" not in loop._rng_state(torch.device("cpu"))
    loop._set_rng_state(state, torch.device("cuda:2"))
    assert restored == [(torch.device("cpu"), 8, torch.device("cuda:2"))]
    restored.clear()
    old = {"torch": torch.get_rng_state(), "cuda": [torch.full((4,), k, dtype=torch.uint8) for k in range(3)]}
    loop._set_rng_state(old, torch.device("cuda:1"))
    assert restored == [(torch.device("cpu"), 4, torch.device("cuda:1"))]
    restored.clear()
    loop._set_rng_state(state, torch.device("cpu"))
    assert restored == []


# sha256 of the first 1200 index batches of each stream, computed with the code that made the
# committed cpu runs (streams on the CPU, before they could live on a device): the labelled
# and both unlabelled streams of the committed MNIST-100 and CIFAR-4000 ssl_gan seed-0 specs
# (split sizes from their metrics.json, batch 100 and 50), and a stream whose batches wrap
# across epochs (250 indices, batch 64, the GAN stream's kind).
FROZEN_STREAMS = {
    "mnist": ((100, 58900, 100, 0), "e5321e794f9e24a8a63bb2e8f29f47610873cb86a0ba3c09c815c4c25f978b57"),
    "cifar10_jpeg": ((4000, 45000, 50, 0), "c132b752f3caff27dd1520b2578671883f3df62bed9afa7d767278642b4fe243"),
}
FROZEN_WRAPPING_STREAM = "81a23b90cd7ad29b1fced26e81caede5980e984b7fae7b1a06155c4afa7bd6f1"


@pytest.mark.parametrize("dataset", sorted(FROZEN_STREAMS))
def test_cpu_index_streams_are_the_committed_runs_streams(dataset):
    import hashlib

    from semigan.training.sampling import IndexStream

    (n_lab, n_unl, bs, seed), expected = FROZEN_STREAMS[dataset]
    base = 1_000_003 * seed  # as Trainer seeds its streams
    streams = [IndexStream(torch.arange(n_lab), bs, base + 1)] + \
        [IndexStream(torch.arange(n_unl), bs, base + 2 + i, torch.device("cpu")) for i in range(2)]
    h = hashlib.sha256()
    for _ in range(1200):
        for s in streams:
            batch = s.next()
            assert batch.device.type == "cpu" and len(batch) == bs
            h.update(batch.numpy().astype("<i8").tobytes())
    assert h.hexdigest() == expected


def test_index_stream_uploads_once_per_epoch_and_resumes_from_cpu_state(monkeypatch):
    """Batches are slices of one uploaded order per epoch (no copy per step); the state is on
    the CPU and a stream restored from it continues the same sequence."""
    import hashlib

    from semigan.training.sampling import IndexStream

    uploads = []
    real_to = torch.Tensor.to

    def counting_to(self, *args, **kwargs):
        uploads.append(len(self))
        return real_to(self, *args, **kwargs)

    s = IndexStream(torch.arange(250) + 1000, 64, 7)
    h = hashlib.sha256()
    monkeypatch.setattr(torch.Tensor, "to", counting_to)
    for _ in range(50):
        h.update(s.next().numpy().astype("<i8").tobytes())
    monkeypatch.undo()
    assert h.hexdigest() == FROZEN_WRAPPING_STREAM
    assert uploads == [250] * 13  # 50 × 64 = 3200 indices: 13 epochs of 250, one upload each
    a = IndexStream(torch.arange(250), 64, 7)
    for _ in range(5):
        a.next()
    state = a.state_dict()
    assert all(v.device.type == "cpu" for v in (state["rng"], state["order"]))
    b = IndexStream(torch.arange(250), 64, 0)
    b.load_state_dict(state)
    assert all(torch.equal(a.next(), b.next()) for _ in range(10))
