"""The architecture registry: every network has the shapes, ranges and init the methods rely on."""

import pytest
import torch

from semigan.config import load_schema
from semigan.models import ARCHITECTURES, get_architecture
from semigan.models.layers import WNConv2d, data_dependent_init

SHAPES = {"mlp28": (1, 28, 28), "conv32": (3, 32, 32), "conv32_small": (3, 32, 32)}


def test_architecture_names_live_only_in_the_registry():
    """The schema does not repeat them (resolve() checks names against ARCHITECTURES)."""
    assert set(ARCHITECTURES) == set(SHAPES)
    assert not any(name in str(load_schema()) for name in ARCHITECTURES)


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_classifier_and_generator_shapes(name):
    torch.manual_seed(0)
    arch, shape = get_architecture(name), SHAPES[name]
    clf, gen = arch.classifier(10, shape).eval(), arch.generator(shape).eval()
    x = gen(gen.sample_z(6))
    assert x.shape == (6, *shape)
    assert x.std(0).mean() > 1e-3  # different z, different images (not a constant output)
    logits, feats = clf.forward_features(x)
    assert logits.shape == (6, 10) and feats.shape == (6, clf.feature_dim)
    both = clf(x, features=True)  # one call of the network (compiled, when compiled) gives both
    assert torch.equal(both[0], logits) and torch.equal(both[1], feats) and torch.equal(clf(x), logits)


def test_small_conv_is_the_same_network_with_fewer_channels():
    big = get_architecture("conv32").classifier(10, (3, 32, 32))
    small = get_architecture("conv32_small").classifier(10, (3, 32, 32))
    kinds = lambda m: [type(l).__name__ for l in m.modules()]  # noqa: E731
    assert kinds(big) == kinds(small)
    n = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert n(small) < n(big) / 8


def test_data_dependent_init_normalises_first_conv_layer():
    torch.manual_seed(0)
    clf = get_architecture("conv32_small").classifier(10, (3, 32, 32))
    x = torch.rand(64, 3, 32, 32) * 2 - 1
    clf.eval()  # no dropout, so the first layer sees exactly x
    data_dependent_init(clf, x)
    first = next(m for m in clf.modules() if isinstance(m, WNConv2d))
    y = first(x)  # pre-activations of the layer that was initialised on x
    assert y.mean((0, 2, 3)).abs().max() < 1e-4
    assert torch.allclose(y.std((0, 2, 3), unbiased=False), torch.ones(first.v.shape[0]), atol=1e-3)
