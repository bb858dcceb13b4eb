import pytest
import torch

from semigan.methods import MethodContext, build_method
from semigan.methods.common import Batch
from semigan.models import get_architecture


def _method(**hp):
    torch.manual_seed(0)
    ctx = MethodContext(get_architecture("mlp28"), 10, (1, 28, 28), torch.device("cpu"), 100)
    m = build_method("pseudo_label", ctx, hp)
    x = torch.rand(64, 1, 28, 28)
    m.initialize(x, x)
    return m


def test_alpha_ramps_linearly_to_max():
    m = _method(alpha_max=3.0, rampup=0.4)
    assert m.alpha(0) == 0.0 and m.alpha(20) == pytest.approx(1.5) and m.alpha(40) == 3.0
    assert m.alpha(99) == 3.0


def test_unconfident_predictions_teach_nothing():
    """With a threshold no prediction reaches, a step equals a supervised-only step."""
    torch.manual_seed(1)
    batch = Batch(torch.rand(8, 1, 28, 28), torch.randint(0, 10, (8,)), torch.rand(8, 1, 28, 28))
    pl = _method(threshold=1.01)
    sup = build_method("supervised", pl.ctx, {})
    sup.classifier.load_state_dict(pl.classifier.state_dict())
    sup.classifier.eval(), pl.classifier.eval()  # no noise: the two forward passes must agree
    stats = pl.train_step(batch, step=50)
    sup.train_step(batch, step=50)
    assert float(stats["mask_rate"]) == 0.0 and float(stats["loss_unl"]) == 0.0
    for (name, a), b in zip(pl.classifier.state_dict().items(), sup.classifier.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-6), name


def test_confident_predictions_are_used():
    m = _method(threshold=0.0)
    batch = Batch(torch.rand(8, 1, 28, 28), torch.randint(0, 10, (8,)), torch.rand(8, 1, 28, 28))
    stats = m.train_step(batch, step=50)
    assert float(stats["mask_rate"]) == 1.0 and float(stats["loss_unl"]) > 0
