"""Issue 15 case 1: divergence is never written as a result. A non-finite loss stops the run
with no model or metrics; a run that ends at chance level is marked `diverged` in its metrics
and left out of the means."""

import json

import pytest
import torch

from semigan.aggregate import aggregate
from semigan.data.store import load_images
from semigan.divergence import DivergenceError, DivergenceRule, diagnose
from semigan.evaluate import evaluate_run
from semigan.splits import make_split, write_split
from semigan.training.loop import RunSpec, TrainConfig, train_run


@pytest.fixture(scope="module")
def split_path(mnist_dir, tmp_path_factory):
    path = tmp_path_factory.mktemp("split") / "split.npz"
    write_split(make_split(load_images(mnist_dir, "train").labels, 100, 200, seed=0), path, {})
    return path


def _spec(lr, steps=40):
    return RunSpec(profile="test", dataset="mnist", n_labels=100, seed=0, method="supervised", arch="mlp28",
                   train=TrainConfig(steps=steps, batch_size=50, eval_every=20, checkpoint_every=20,
                                     log_every=10, ema_halflife=10, init_size=100),
                   hparams={"lr": lr})


def _train(tmp_path, mnist_dir, split_path, lr):
    paths = {k: tmp_path / f"{k}" for k in ("model.pt", "checkpoint.pt", "history.csv")}
    train_run(_spec(lr), mnist_dir, split_path, paths["model.pt"], paths["checkpoint.pt"], paths["history.csv"],
              threads=2)
    return paths


def test_non_finite_loss_stops_the_run_without_a_model(tmp_path, mnist_dir, split_path):
    with pytest.raises(DivergenceError, match=r"\[mnist/n100/supervised/seed0\] diverged at step 10: loss_lab=nan"):
        _train(tmp_path, mnist_dir, split_path, lr=float("inf"))
    assert not (tmp_path / "model.pt").exists() and not (tmp_path / "history.csv").exists()


def test_chance_level_run_is_marked_diverged_and_left_out_of_means(tmp_path, mnist_dir, split_path):
    """The issue's reproduction: lr 1e6 trains to the end with huge but finite losses."""
    torch.manual_seed(0)
    bad = _train(tmp_path / "bad", mnist_dir, split_path, lr=1e6)
    good = _train(tmp_path / "good", mnist_dir, split_path, lr=3e-3)
    metrics = {}
    for name, paths in (("bad", bad), ("good", good)):
        m = evaluate_run(paths["model.pt"], mnist_dir, split_path)
        m["seed"] = 0 if name == "bad" else 1  # two seeds of one cell
        out = tmp_path / name / "metrics.json"
        out.write_text(json.dumps(m))
        metrics[name] = (m, out)
    bad_m, good_m = metrics["bad"][0], metrics["good"][0]
    assert bad_m["diverged"]["value"] and any("at chance level" in r for r in bad_m["diverged"]["reasons"])
    assert not good_m["diverged"]["value"], good_m["diverged"]["reasons"]
    assert good_m["split_sizes"] == {"labeled": 100, "val": 200, "unlabeled": 59700}
    summary = aggregate([metrics["bad"][1], metrics["good"][1]], tmp_path / "runs.csv", tmp_path / "summary.csv")
    row = summary.iloc[0]
    assert row.n_seeds == 1 and row.n_diverged == 1
    assert row.test_error_pct_mean == pytest.approx(good_m["test_error_pct"])
    assert row.test_error_pct_text.endswith("(1 diverged, excluded)")


def test_loss_growth_rule():
    history = [{"step": 10, "val_acc": 0.9, "loss_lab": 0.5, "loss_unl": 0.0001},
               {"step": 20, "val_acc": 0.9, "loss_lab": 60.0, "loss_unl": 0.4}]
    reasons = diagnose(history, 10, DivergenceRule(loss_growth=100))
    assert reasons == ["loss_lab grew from 0.5 to 60 (more than 100× its first logged value)"]
    assert diagnose(history, 10, DivergenceRule(loss_growth=200)) == []  # loss_unl starts near 0: skipped


def test_committed_histories_are_not_flagged(repo):
    """The rule's defaults must not call any committed cpu run diverged (none is)."""
    import pandas as pd

    files = sorted((repo / "results" / "cpu" / "runs").glob("*/*/*/*/history.csv"))
    assert len(files) >= 36  # the committed cpu grid
    flagged = {str(f): diagnose(pd.read_csv(f).to_dict("records"), 10) for f in files}
    assert {f: r for f, r in flagged.items() if r} == {}
