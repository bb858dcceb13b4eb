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


@pytest.mark.parametrize("layer", ["linear", "conv", "conv_transpose"])
def test_weight_norm_output_mode_is_the_committed_arithmetic_and_weight_mode_the_same_function(layer):
    """train.weight_norm: `output` (the default) computes (x ⊛ v)·g/‖v‖ + b exactly as the
    committed runs did; `weight` computes x ⊛ (v·g/‖v‖) + b, the same function within 1e-5."""
    import torch.nn.functional as F

    from semigan.models.layers import WNConv2d, WNConvTranspose2d, WNLinear, set_weight_norm

    torch.manual_seed(0)
    m, x, raw, norm_dims = {
        "linear": (WNLinear(50, 20), torch.randn(8, 50), lambda x, v: F.linear(x, v), (1,)),
        "conv": (WNConv2d(4, 6, 3, 2, 1), torch.randn(3, 4, 9, 9),
                 lambda x, v: F.conv2d(x, v, stride=2, padding=1), (1, 2, 3)),
        "conv_transpose": (WNConvTranspose2d(4, 6), torch.randn(3, 4, 5, 5),
                           lambda x, v: F.conv_transpose2d(x, v, stride=2, padding=2, output_padding=1), (0, 2, 3)),
    }[layer]
    with torch.no_grad():
        m.g.uniform_(0.5, 2.0)
        m.b.normal_()
        shape = (1, -1) if layer == "linear" else (1, -1, 1, 1)
        committed = raw(x, m.v) * (m.g * torch.rsqrt(m.v.square().sum(norm_dims) + 1e-12)).view(shape) + m.b.view(shape)
        assert torch.equal(m(x), committed)  # output mode: the default, bit for bit
        set_weight_norm(m, "weight")
        torch.testing.assert_close(m(x), committed, rtol=1e-5, atol=1e-5)
        set_weight_norm(m, "output")
        assert torch.equal(m(x), committed)
    with pytest.raises(ValueError, match=r"weight_norm='scale': expected one of \('output', 'weight'\)"):
        set_weight_norm(m, "scale")


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_weight_norm_weight_mode_gives_the_networks_outputs_within_1e_5(name):
    """Whole networks (after data-dependent init, in eval mode): the classifier's logits and
    the generator's images agree within 1e-5 in either mode."""
    import copy

    from semigan.models.layers import data_dependent_init, set_weight_norm

    torch.manual_seed(0)
    arch, shape = get_architecture(name), SHAPES[name]
    clf, gen = arch.classifier(10, shape), arch.generator(shape)
    z = gen.sample_z(16)
    data_dependent_init(gen, z)
    x = gen(z).detach()
    data_dependent_init(clf, x)
    for net, inputs in ((clf.eval(), x), (gen.eval(), z)):
        other = copy.deepcopy(net)
        set_weight_norm(other, "weight")
        with torch.no_grad():
            torch.testing.assert_close(other(inputs), net(inputs), rtol=1e-5, atol=1e-5)
