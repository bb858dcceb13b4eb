"""Image metrics through torch-fidelity with the domain feature extractor, class-consistency,
and the Inception path when its weights are unavailable."""

import numpy as np
import pytest
import torch

from semigan.data.store import load_images
from semigan.fidelity.extractor import predict, save_extractor, train_domain_classifier
from semigan.fidelity.metrics import class_consistency, domain_metrics, inception_metrics


def _nchw(images):
    return torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))


@pytest.fixture(scope="module")
def mnist(mnist_dir):
    train, test = load_images(mnist_dir, "train"), load_images(mnist_dir, "test")
    return (_nchw(train.images[:4000]), torch.from_numpy(train.labels[:4000]),
            _nchw(test.images), torch.from_numpy(test.labels))


@pytest.fixture(scope="module")
def extractor(mnist, tmp_path_factory):
    x, y, _, _ = mnist
    torch.set_num_threads(2)
    model = train_domain_classifier(x, y, 10, epochs=1, batch_size=50, seed=0, log=lambda *_: None)
    path = tmp_path_factory.mktemp("extractor") / "extractor.pt"
    save_extractor(model, path, {"dataset": "mnist"})
    return model, path


def test_fid_of_two_halves_is_small_and_of_a_noised_copy_larger(mnist, extractor, tmp_path):
    _, _, test, _ = mnist
    a, b = test[:2000], test[5000:7000]
    noise = torch.randn(b.shape, generator=torch.Generator().manual_seed(0)) * 60
    noised = (b.float() + noise).clamp(0, 255).to(torch.uint8)
    same = domain_metrics(a, b, "mnist-test-b", extractor[1], tmp_path)
    shifted = domain_metrics(a, noised, "mnist-test-b-noised", extractor[1], tmp_path)
    assert same["fid"] < 0.25 * shifted["fid"], (same["fid"], shifted["fid"])
    assert same["kid_mean"] < shifted["kid_mean"]
    assert same["precision"] > shifted["precision"] and same["recall"] > 0.5
    assert 1.0 < same["is_mean"] <= 10.0 and same["is_std"] >= 0.0  # 10 classes bound IS
    assert same["n_samples"] == 2000 and same["reference"] == "mnist-test-b"
    assert same["feature_extractor"].startswith("domain classifier")


def test_reference_cache_is_keyed_by_the_extractor_weights(mnist, extractor, tmp_path):
    x, y, test, _ = mnist
    a, b = test[:500], test[5000:5500]  # the cache key is what is tested, not the numbers' precision
    other = train_domain_classifier(x[:1000], y[:1000], 10, epochs=1, batch_size=100, seed=1,
                                    log=lambda *_: None)
    other_path = tmp_path / "other.pt"
    save_extractor(other, other_path, {"dataset": "mnist"})
    first = domain_metrics(a, b, "ref", extractor[1], tmp_path / "cache")
    second = domain_metrics(a, b, "ref", other_path, tmp_path / "cache")  # same name, other weights
    assert first["fid"] != pytest.approx(second["fid"])
    again = domain_metrics(a, b, "ref", extractor[1], tmp_path / "cache")
    assert again["fid"] == pytest.approx(first["fid"])


def test_class_consistency_of_real_images_is_the_classifier_accuracy(mnist, extractor):
    _, _, test, labels = mnist
    test, labels = test[:2000], labels[:2000]  # every class, many times each: the identity needs no more
    model, path = extractor
    accuracy = float((predict(model, test) == labels).float().mean())
    cc = class_consistency(path, test, labels, [str(k) for k in range(10)])
    assert cc["overall"] == pytest.approx(accuracy) and cc["n"] == len(test)
    assert 0.8 < accuracy < 1.0  # a real classifier, not a constant
    per = [(labels == k).float().sum() * cc["per_class"][str(k)] for k in range(10)]
    assert float(sum(per)) / len(test) == pytest.approx(accuracy, abs=1e-6)


def test_inception_without_weights_is_reported_not_computed(mnist, tmp_path, monkeypatch):
    """(The pool3 weights that make Inception metrics work offline: tests/test_inception.py.)"""
    from semigan.fidelity import inception

    _, _, test, _ = mnist
    missing = inception_metrics(test[:10], test[10:20], "mnist-test", str(tmp_path / "nope.pth"),
                                tmp_path, allow_download=True)
    assert missing["computed"] is False and "nope.pth" in missing["reason"]
    assert "fid" not in missing and missing["feature_extractor"] == "inception-v3-compat"
    monkeypatch.setattr(inception, "SHIPPED_PACKAGE", "no_such_fid_helper_package")
    offline = inception_metrics(test[:10], test[10:20], "mnist-test", None, tmp_path, allow_download=False)
    assert offline["computed"] is False and "downloads are disabled" in offline["reason"]


def test_extractor_width_is_saved_and_restored(mnist, tmp_path):
    from semigan.fidelity.extractor import load_extractor

    x, y, test, _ = mnist
    narrow = train_domain_classifier(x[:200], y[:200], 10, epochs=1, batch_size=50, seed=0,
                                     log=lambda *_: None, width=8)
    save_extractor(narrow, tmp_path / "narrow.pt", {"dataset": "mnist"})
    loaded, blob = load_extractor(tmp_path / "narrow.pt")
    assert blob["width"] == 8 and loaded.body[0].out_channels == 8
    assert torch.equal(predict(loaded, test[:200]), predict(narrow, test[:200]))


@pytest.fixture(scope="module")
def tiny_generator(mnist_dir, tmp_path_factory):
    """A 2-step conditional generator on MNIST-100: enough to run every metric on."""
    from semigan.generation.train import GenSpec, GenTrainConfig, train_gan_run
    from semigan.splits import make_split, write_split

    out = tmp_path_factory.mktemp("tiny_generator")
    write_split(make_split(load_images(mnist_dir, "train").labels, 100, 100, seed=0), out / "split.npz", {})
    cfg = GenTrainConfig(steps=2, batch_size=8, g_width=8, d_width=8, log_every=1, checkpoint_every=1)
    spec = GenSpec("smoke", "mnist", 100, 0, "cgan_full", "all", train=cfg)
    train_gan_run(spec, mnist_dir, out / "split.npz", out / "g.pt", out / "ckpt.pt", out / "history.csv")
    return out / "g.pt", spec


def test_metric_speed_benchmark_times_the_evaluated_metrics(mnist_dir, extractor, tiny_generator, tmp_path):
    import json

    from semigan.fidelity.speed import metric_speed
    from semigan.generation.evaluate import SAMPLE_SEED
    from semigan.generation.train import balanced_classes, generate, load_generator

    r = metric_speed(tiny_generator[0], mnist_dir, extractor[1], 300, tmp_path / "speed.json")
    assert json.loads((tmp_path / "speed.json").read_text())["n_samples"] == 300
    assert r["seconds_metrics_cold_cache"] > 0 and r["seconds_metrics_warm_cache"] > 0
    assert r["meets_target"] == (r["seconds_metrics_cold_cache"] <= r["target_seconds"])
    g, _ = load_generator(tiny_generator[0])
    samples = generate(g, balanced_classes(300, 10), 300, SAMPLE_SEED)
    reference = _nchw(load_images(mnist_dir, "test").images)
    direct = domain_metrics(samples, reference, "mnist-test", extractor[1], tmp_path / "cache")
    assert r["metrics"]["fid"] == pytest.approx(direct["fid"])  # the same number evaluate-gan writes


def test_inception_rate_comes_from_the_reference_forwards_only_the_cold_run_makes():
    from semigan.fidelity.speed import inception_rate

    r = inception_rate(100, t_cold=60.0, t_warm=35.0)  # 200 forwards + fixed vs 100 forwards + fixed
    assert r["images_per_second"] == pytest.approx(4.0) and r["seconds_fixed"] == pytest.approx(10.0)
    assert r["expected_seconds_10000_samples_plus_10000_reference"] == pytest.approx(20000 / 4 + 10)
    assert r["expected_seconds_10000_samples_cached_reference"] == pytest.approx(10000 / 4 + 10)
    assert set(inception_rate(100, t_cold=30.0, t_warm=31.0).values()) == {None}  # too noisy: no number


def test_a_retrained_extractor_that_differs_from_the_committed_one_is_kept_aside_and_fails(mnist_dir, tmp_path):
    """Another kind of CPU retrains other weights: the job must stop before any generation run
    is measured in another feature space, keep what it trained, and name the way out."""
    import json

    from semigan.errors import UsageError
    from semigan.fidelity.extractor import build_domain_extractor

    kwargs = dict(epochs=1, batch_size=50, lr=1e-3, seed=0, threads=2, max_images=200, width=8)
    info = build_domain_extractor(mnist_dir, tmp_path / "extractor.pt", tmp_path / "mnist.json", **kwargs)
    assert json.loads((tmp_path / "mnist.json").read_text())["sha256"] == info["sha256"]
    record = (tmp_path / "mnist.json").read_text()
    again = build_domain_extractor(mnist_dir, tmp_path / "extractor.pt", tmp_path / "mnist.json",
                                   expect_sha256=info["sha256"], **kwargs)  # same machine: same weights, accepted
    assert again["sha256"] == info["sha256"]
    assert (tmp_path / "mnist.json").read_text() == record  # the record of the first training stays
    (tmp_path / "extractor.pt").unlink()
    with pytest.raises(UsageError, match=r"mnist: the retrained domain extractor has sha256 .* not the 0ccf36a0e9e20da6… "
                                         r"recorded in .*mnist.json.*git checkout -- "):
        build_domain_extractor(mnist_dir, tmp_path / "extractor.pt", tmp_path / "mnist.json",
                               expect_sha256="0ccf36a0e9e20da6" + "0" * 48, **kwargs)
    assert not (tmp_path / "extractor.pt").exists()  # nothing written where generation runs would read it
    assert (tmp_path / f"extractor.{info['sha256'][:16]}.pt").is_file()  # what it trained is kept
    with pytest.raises(UsageError, match=r"this checkout lacks those weights"):
        build_domain_extractor(mnist_dir, tmp_path / "extractor.pt", tmp_path / "mnist.json",
                               expect_sha256="0ccf36a0e9e20da6" + "0" * 48, aside_dir=tmp_path / "aside", **kwargs)
    assert (tmp_path / "aside" / f"extractor.{info['sha256'][:16]}.pt").is_file()  # in the folder asked for


def test_recorded_sha256_reads_the_record_and_names_a_broken_one(tmp_path):
    import json

    from semigan.errors import UsageError
    from semigan.fidelity.extractor import recorded_sha256

    assert recorded_sha256(tmp_path / "none.json") is None
    (tmp_path / "mnist.json").write_text(json.dumps({"sha256": "ab" * 32}))
    assert recorded_sha256(tmp_path / "mnist.json") == "ab" * 32
    (tmp_path / "mnist.json").write_text('{"dataset": "mnist"}')
    with pytest.raises(UsageError, match=r"mnist.json: not a domain-extractor record with a 'sha256'.*git checkout"):
        recorded_sha256(tmp_path / "mnist.json")


def test_gan_evaluation_logs_each_part_before_it_runs_with_the_seconds_it_records(
        mnist_dir, extractor, tiny_generator, tmp_path, monkeypatch):
    """An evaluation can take an hour on a CPU: its log names each part before the part starts
    and then how long it took, the same seconds the result records. A fake clock gives each
    part a distinct duration and counts its reads, which places every log line in time."""
    import re
    from types import SimpleNamespace

    from semigan.generation import evaluate

    ticks = iter([0.0, 1.4, 10.0, 12.6, 20.0, 25.2, 30.0, 37.9])  # parts of 1.4, 2.6, 5.2, 7.9 s
    reads = []
    monkeypatch.setattr(evaluate, "time", SimpleNamespace(perf_counter=lambda: reads.append(1) or next(ticks)))
    lines: list[tuple[int, str]] = []
    model, spec = tiny_generator
    m = evaluate.evaluate_gan_run(model, mnist_dir, extractor[1], tmp_path / "cache", 200, None, False,
                                  tmp_path / "samples.png", inception=False,
                                  log=lambda msg: lines.append((len(reads), msg)))
    parts = ["generate", "domain", "inception", "class_consistency"]
    assert m["metric_seconds_by_part"] == pytest.approx(dict(zip(parts, [1.4, 2.6, 5.2, 7.9])))
    run = re.escape(f"[{spec.name}]")
    assert [n for n, _ in lines] == [0, 2, 2, 4, 4, 6, 6, 8]  # each start before its part's first clock read
    assert [msg for _, msg in lines[1::2]] == [f"[{spec.name}] {p} done in {s} s" for p, s in zip(parts, [1, 3, 5, 8])]
    assert all(re.fullmatch(rf"{run} {p}.* \.\.\.", msg) for p, (_, msg) in zip(parts, lines[::2]))
    assert m["inception"]["computed"] is False and "inception_datasets" in m["inception"]["reason"]
    assert m["domain"]["n_samples"] == 200 and (tmp_path / "samples.png").is_file()
