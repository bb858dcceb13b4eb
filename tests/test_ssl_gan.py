"""The Improved-GAN losses and the generator step's gradient routing."""

import pytest
import torch
import torch.nn.functional as F

from semigan.methods import MethodContext, build_method
from semigan.methods.common import Batch
from semigan.methods.ssl_gan import class_balance_loss, feature_matching_loss, unsupervised_loss
from semigan.models import get_architecture


def explicit_k_plus_1_loss(logits_unl, logits_fake):
    """The paper's L_unsupervised with an explicit (K+1)-th logit fixed at 0:
    −E_data log(1 − p(K+1|x)) − E_G log p(K+1|x)."""
    def with_fake_class(l):
        return torch.cat([l, torch.zeros(len(l), 1, dtype=l.dtype)], 1)

    fake_class = logits_unl.shape[1]
    p_unl = F.log_softmax(with_fake_class(logits_unl), 1)
    p_fake = F.log_softmax(with_fake_class(logits_fake), 1)
    real_term = -torch.log1p(-p_unl[:, fake_class].exp()).mean()
    fake_term = -p_fake[:, fake_class].mean()
    return real_term + fake_term


@pytest.mark.parametrize("scale", [0.1, 1.0, 8.0])
def test_unsupervised_loss_is_half_the_explicit_k_plus_1_loss(scale):
    g = torch.Generator().manual_seed(0)
    lu = torch.randn(64, 10, generator=g, dtype=torch.float64) * scale
    lf = torch.randn(64, 10, generator=g, dtype=torch.float64) * scale - scale
    assert unsupervised_loss(lu, lf).item() == pytest.approx(
        0.5 * explicit_k_plus_1_loss(lu, lf).item(), rel=1e-9, abs=1e-12)


def test_feature_matching_kinds():
    a, b = torch.tensor([[1.0, 4.0], [3.0, 0.0]]), torch.zeros(2, 2)
    assert feature_matching_loss(a, b, "squared").item() == pytest.approx((4 + 4) / 2)
    assert feature_matching_loss(a, b, "absolute").item() == pytest.approx((2 + 2) / 2)
    with pytest.raises(ValueError, match="'cubic'"):
        feature_matching_loss(a, b, "cubic")


def test_class_balance_loss_is_the_kl_from_uniform_to_the_mean_posterior():
    """Zero for a batch whose mean posterior is uniform although each row is confident; the
    explicit KL(uniform ‖ p̄) otherwise; its gradient lowers the logits of the favoured class."""
    confident = torch.eye(4, dtype=torch.float64).repeat(2, 1) * 30.0  # every class twice
    assert class_balance_loss(confident).item() == pytest.approx(0.0, abs=1e-9)

    g = torch.Generator().manual_seed(0)
    logits = torch.randn(32, 4, generator=g, dtype=torch.float64)
    logits[:, 2] += 2.0  # class 2 favoured
    mean_p = F.softmax(logits, 1).mean(0)
    explicit = (0.25 * torch.log(0.25 / mean_p)).sum()
    assert class_balance_loss(logits).item() == pytest.approx(explicit.item(), rel=1e-12)

    logits.requires_grad_(True)
    class_balance_loss(logits).backward()
    assert (logits.grad[:, 2] > 0).all()  # descent lowers the favoured logit in every row


@pytest.fixture
def ssl_gan():
    torch.manual_seed(0)
    ctx = MethodContext(get_architecture("mlp28"), 10, (1, 28, 28), torch.device("cpu"), 100)
    method = build_method("ssl_gan", ctx, {"lr": 0.003})
    x = torch.rand(64, 1, 28, 28)
    method.initialize(x, x)
    return method


def test_generator_step_updates_generator_only(ssl_gan):
    d_before = {k: v.clone() for k, v in ssl_gan.classifier.state_dict().items()}
    g_before = {k: v.clone() for k, v in ssl_gan.generator.state_dict().items()}
    ssl_gan.generator_step(torch.rand(32, 1, 28, 28))
    assert all(p.grad is None for p in ssl_gan.classifier.parameters()), "D received gradients"
    assert all(torch.equal(v, ssl_gan.classifier.state_dict()[k]) for k, v in d_before.items())
    changed = [k for k, v in g_before.items() if not torch.equal(v, ssl_gan.generator.state_dict()[k])]
    assert "out.v" in changed and "body.0.weight" in changed
    assert ssl_gan.classifier.out.v.requires_grad and not ssl_gan.classifier.hidden[0].g.requires_grad


def test_discriminator_step_leaves_generator_untouched(ssl_gan):
    g_params = {k: v.clone() for k, v in ssl_gan.generator.named_parameters()}
    batch = Batch(torch.rand(16, 1, 28, 28), torch.randint(0, 10, (16,)), torch.rand(16, 1, 28, 28))
    stats = ssl_gan.discriminator_step(batch)
    assert set(stats) == {"loss_lab", "loss_unl", "train_acc"}
    assert all(torch.equal(v, dict(ssl_gan.generator.named_parameters())[k]) for k, v in g_params.items())


def test_balance_term_changes_the_step_only_when_weighted():
    """balance_weight 0 (the default) computes the step as before: no loss_bal, the same
    update as an explicitly unweighted method; a weight adds the term and moves the update."""
    batch_g = torch.Generator().manual_seed(1)
    x = torch.rand(64, 1, 28, 28, generator=batch_g)
    batch = Batch(x[:16], torch.randint(0, 10, (16,), generator=batch_g), x[16:48])

    def stepped(hparams):
        torch.manual_seed(0)
        ctx = MethodContext(get_architecture("mlp28"), 10, (1, 28, 28), torch.device("cpu"), 100)
        method = build_method("ssl_gan", ctx, dict(lr=0.003, **hparams))
        method.initialize(x, x)
        return method.discriminator_step(batch), method.classifier.state_dict()

    plain, w_plain = stepped({})
    zero, w_zero = stepped({"balance_weight": 0.0})
    weighted, w_weighted = stepped({"balance_weight": 1.0})
    assert "loss_bal" not in plain and set(weighted) == set(plain) | {"loss_bal"}
    assert all(torch.equal(w_plain[k], w_zero[k]) for k in w_plain)
    assert weighted["loss_bal"] > 0
    assert any(not torch.equal(w_plain[k], w_weighted[k]) for k in w_plain)


def test_unknown_method_lists_registered():
    ctx = MethodContext(get_architecture("mlp28"), 10, (1, 28, 28), torch.device("cpu"), 10)
    with pytest.raises(KeyError, match=r"unknown method 'mixmatch'; expected one of \['pseudo_label', 'ssl_gan', 'supervised'\]"):
        build_method("mixmatch", ctx, {})


def test_data_dependent_init_normalises_preactivations():
    from semigan.models.layers import data_dependent_init

    x = torch.rand(256, 1, 28, 28)
    clf = get_architecture("mlp28").classifier(10, (1, 28, 28)).eval()  # eval: no input noise
    data_dependent_init(clf, x)
    pre = clf.hidden[0](x.flatten(1))
    assert pre.mean(0).abs().max() < 1e-4 and (pre.std(0, unbiased=False) - 1).abs().max() < 1e-3
