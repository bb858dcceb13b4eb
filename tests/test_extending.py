"""The method example of docs/extending.md is real: the method it shows, registered with one line,
trains through the shared loop and is accepted by params.yaml."""

import copy
import re

import pytest
import torch

from semigan.config import grid_cells, load_params, resolve
from semigan.data.store import load_images
from semigan.methods import METHODS
from semigan.splits import make_split, write_split
from semigan.training.loop import RunSpec, TrainConfig, Trainer


def _readme_method(repo):
    text = (repo / "docs" / "extending.md").read_text()
    code = re.search(r"```python\n(# src/semigan/methods/entropy_min.py.*?)```", text, flags=re.S).group(1)
    namespace: dict = {}
    exec(compile(code, "docs/extending.md:entropy_min", "exec"), namespace)
    return namespace["EntropyMin"]


def test_readme_method_trains_after_one_registry_line(repo, mnist_dir, tmp_path, monkeypatch):
    cls = _readme_method(repo)
    monkeypatch.setitem(METHODS, cls.name, cls)  # the one registry line
    params = load_params(repo / "params.yaml")
    params = copy.deepcopy(params)
    params["methods"]["entropy_min"] = {"train": {"steps": 20}}
    params["profiles"]["smoke"]["grid"] = {"datasets": {"mnist": [100]}, "seeds": [0], "methods": ["entropy_min"]}
    assert [c.method for c in grid_cells(resolve(dict(params, profile="smoke")))] == ["entropy_min"]

    write_split(make_split(load_images(mnist_dir, "train").labels, 100, 200, seed=0), tmp_path / "s.npz", {})
    spec = RunSpec("test", "mnist", 100, 0, "entropy_min", "mlp28",
                   TrainConfig(steps=20, batch_size=50, eval_every=10, log_every=10, init_size=100),
                   {"weight": 0.5})
    torch.set_num_threads(2)
    result = Trainer(spec, mnist_dir, tmp_path / "s.npz", log=lambda m: None).run(tmp_path / "ck.pt")
    losses = [row["loss_unl"] for row in result["history"]]
    assert len(losses) == 2 and losses[1] < losses[0]  # the entropy term is minimised
    assert result["history"][-1]["val_acc"] > 0.3  # it learns from the 100 labels
    with pytest.raises(ValueError, match=r"unknown hyper-parameter\(s\) \['wieght'\]"):
        Trainer(RunSpec("test", "mnist", 100, 0, "entropy_min", "mlp28", spec.train, {"wieght": 1}),
                mnist_dir, tmp_path / "s.npz")
