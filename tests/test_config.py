"""params.yaml validation: every profile resolves; bad keys and values fail naming them."""

import copy

import pytest
import yaml

from semigan.config import (ParamsError, extractor_settings, gen_spec, generation_cells, grid_cells, load_params,
                            load_schema, preflight_of, resolve)
from semigan.methods import METHODS


@pytest.fixture
def params(repo):
    return load_params(repo / "params.yaml")


@pytest.mark.parametrize("profile", ["smoke", "cpu", "paper"])
def test_every_profile_resolves(params, profile):
    eff = resolve(dict(params, profile=profile))
    assert eff["profile"] == profile and grid_cells(eff)


def test_method_names_come_from_the_registry(params, monkeypatch):
    """The schema does not repeat method names: a method registered in code (one line in
    methods/__init__.py) is accepted by params at once, an unregistered one is refused."""
    assert "supervised" not in str(load_schema())
    cfg = copy.deepcopy(params)
    cfg["methods"]["my_method"] = {"train": {"steps": 10}}
    with pytest.raises(ParamsError, match=r"methods.my_method: 'my_method' is not a method; expected one of "
                                          r"\['pseudo_label', 'ssl_gan', 'supervised'\]"):
        resolve(cfg)
    monkeypatch.setitem(METHODS, "my_method", METHODS["supervised"])
    cfg["profiles"]["cpu"]["grid"] = {"datasets": {"mnist": [100]}, "seeds": [0], "methods": ["my_method"]}
    assert [c.method for c in grid_cells(resolve(cfg))] == ["my_method"]


def _bad(params, path, value):
    cfg = copy.deepcopy(params)
    node = cfg
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return cfg


@pytest.mark.parametrize("path,value,pattern", [
    (["train", "batchsize"], 100, r"at train: Additional properties.*'batchsize'"),
    (["train", "steps"], "many", r"at train.steps: 'many' is not of type 'integer'"),
    (["train", "selection"], "best_test", r"at train.selection: 'best_test' is not one of"),
    (["profiles", "cpu", "grid"], {"datasets": {"mnist": [100]}, "seeds": [0], "methods": ["mixmatch"]},
     r"profile 'cpu', grid.methods: 'mixmatch' is not a method; expected one of \['pseudo_label', 'ssl_gan', 'supervised'\]"),
    (["profiles", "cpu", "grid"], {"datasets": {"imagenet": [100]}, "seeds": [0], "methods": ["supervised"]},
     r"grid.datasets: 'imagenet' has no entry datasets.imagenet"),
    (["split", "n_val"], 0, r"at split.n_val: 0 is less than the minimum of 1"),
    (["profiles", "cpu", "generation", "inception_datasets"], ["mnsit"],
     r"generation.inception_datasets names 'mnsit', which has no entry datasets.mnsit"),
    (["generation", "inception_datasets"], "mnist", r"at generation.inception_datasets: 'mnist' is not of type"),
    (["preflight"], 1, r"at preflight: 1 is less than the minimum of 2"),
])
def test_schema_errors_name_the_key(params, path, value, pattern):
    with pytest.raises(ParamsError, match=pattern):
        resolve(_bad(params, path, value))


def test_unknown_profile_lists_defined(params):
    with pytest.raises(ParamsError, match=r"profile='laptop' is not defined; expected one of \['cpu', 'paper', 'smoke'\]"):
        resolve(dict(params, profile="laptop"))


def test_unknown_hyperparameter_names_method_and_run(params):
    cfg = _bad(params, ["methods", "ssl_gan", "hparams", "learning_rate"], 0.1)
    cfg["profile"] = "smoke"
    with pytest.raises(ParamsError, match=r"mnist/n100/ssl_gan/seed0.*\['learning_rate'\].*'ssl_gan'"):
        resolve(cfg)


def test_n_labels_must_divide_into_classes(params):
    cfg = _bad(params, ["profiles", "cpu", "grid"], {"datasets": {"mnist": [105]}, "seeds": [0],
                                                     "methods": ["supervised"]})
    with pytest.raises(ParamsError, match=r"grid.datasets.mnist: 105 is not a multiple of the 10 classes"):
        resolve(cfg)


def test_profile_overrides_deep_merge(params):
    eff = resolve(dict(params, profile="smoke"))
    assert eff["methods"]["ssl_gan"]["train"]["steps"] == 40
    assert eff["methods"]["ssl_gan"]["hparams"]["lr"] == params["methods"]["ssl_gan"]["hparams"]["lr"]
    assert eff["train"]["batch_size"] == params["train"]["batch_size"]


def test_per_dataset_overrides_apply(params):
    from semigan.config import run_spec

    eff = resolve(dict(params, profile="paper"))
    spec = run_spec(eff, "cifar10", 4000, "ssl_gan", 0)
    assert spec["hparams"]["lr"] == 0.0003 and spec["train"]["steps"] == 600000
    assert run_spec(eff, "mnist", 100, "ssl_gan", 0)["hparams"]["lr"] == 0.003


def test_dataset_train_settings_apply_to_every_method_below_method_settings(params):
    """datasets.<d>.train (e.g. a smaller batch for a costly network) sits between the
    general train settings and the method's own."""
    from semigan.config import run_spec

    cfg = copy.deepcopy(params)
    cfg["datasets"]["cifar10_jpeg"] = {"arch": "conv32_small", "train": {"batch_size": 32, "steps": 7}}
    eff = resolve(dict(cfg, profile="paper"))
    for method in ("supervised", "pseudo_label", "ssl_gan"):
        spec = run_spec(eff, "cifar10_jpeg", 4000, method, 0)
        assert spec["arch"] == "conv32_small" and spec["train"]["batch_size"] == 32
        assert spec["train"]["steps"] == eff["methods"][method]["train"]["steps"] != 7
    assert run_spec(eff, "mnist", 100, "ssl_gan", 0)["train"]["batch_size"] == params["train"]["batch_size"]


def test_cli_check_params_exit_code(repo, tmp_path, capsys):
    from semigan.cli import main

    assert main(["check-params", "--params", str(repo / "params.yaml"), "--profile", "smoke"]) == 0
    bad = yaml.safe_load((repo / "params.yaml").read_text())
    bad["train"]["stepz"] = 1
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(bad))
    assert main(["check-params", "--params", str(tmp_path / "p.yaml")]) == 2
    assert "stepz" in capsys.readouterr().err


def test_grid_blocks_unite_without_duplicates(params):
    cfg = copy.deepcopy(params)
    cfg["profiles"]["cpu"]["grid"] = [
        {"datasets": {"mnist": [100, 1000]}, "seeds": [0, 1], "methods": ["supervised"]},
        {"datasets": {"mnist": [100]}, "seeds": [0], "methods": ["ssl_gan", "supervised"]},
    ]
    cells = [(c.n_labels, c.method, c.seed) for c in grid_cells(resolve(cfg))]
    assert len(cells) == 5 and len(set(cells)) == 5
    assert (100, "ssl_gan", 0) in cells and (1000, "ssl_gan", 0) not in cells
    cfg["profiles"]["cpu"]["grid"][1]["seeds"] = []
    with pytest.raises(ParamsError, match="grid"):
        resolve(cfg)


def test_user_image_folder_datasets_are_declared_with_a_path(params):
    cfg = copy.deepcopy(params)
    cfg["profiles"]["cpu"]["grid"] = {"datasets": {"pets": [20]}, "seeds": [0], "methods": ["supervised"]}
    cfg["datasets"]["pets"] = {"arch": "conv32"}
    with pytest.raises(ParamsError, match=r"datasets: 'pets' is not a registered dataset.*imagefolder"):
        resolve(cfg)
    cfg["datasets"]["pets"]["imagefolder"] = "/data/pets.tar.gz"
    assert {c.dataset for c in grid_cells(resolve(cfg))} == {"pets"}
    cfg["datasets"]["Pets!"] = {"arch": "conv32"}
    with pytest.raises(ParamsError, match=r"'Pets!' does not match"):
        resolve(cfg)


def test_generation_grid_blocks_unite_and_name_the_bad_block(params):
    cfg = copy.deepcopy(params)
    cfg["profiles"]["cpu"]["generation_grid"] = [
        {"datasets": {"mnist": [100]}, "seeds": [0, 1], "methods": ["gan", "ssl_cgan"]},
        {"datasets": {"fashion_mnist": [100]}, "seeds": [0], "methods": ["gan"]},
    ]
    cells = [(c.dataset, c.method, c.seed) for c in generation_cells(resolve(cfg))]
    assert sorted(cells) == [("fashion_mnist", "gan", 0), ("mnist", "gan", 0), ("mnist", "gan", 1),
                             ("mnist", "ssl_cgan", 0), ("mnist", "ssl_cgan", 1)]
    cfg["profiles"]["cpu"]["generation_grid"][1]["datasets"] = {"mnist": [7]}
    with pytest.raises(ParamsError, match=r"generation_grid\[1\]"):
        resolve(cfg)


def test_generation_settings_per_dataset_sit_between_the_general_and_the_method_ones(params):
    """generation.per_dataset.<dataset> changes that dataset's GAN and extractor only; a
    method's own train settings still win; a preflight caps the per-dataset extractor too."""
    cfg = copy.deepcopy(params)
    gen = cfg["profiles"]["cpu"]["generation"]
    gen["per_dataset"] = {"cifar10_jpeg": {"extractor": {"width": 24, "epochs": 7},
                                           "train": {"steps": 1234, "g_width": 48}}}
    cfg["generation"]["methods"]["gan"]["train"] = {"steps": 99}
    eff = resolve(cfg)
    cifar = gen_spec(eff, "cifar10_jpeg", 4000, "cgan_full", 0)["train"]
    mnist = gen_spec(eff, "mnist", 100, "cgan_full", 0)["train"]
    assert (cifar["steps"], cifar["g_width"], cifar["d_width"]) == (1234, 48, gen["train"]["d_width"])
    assert (mnist["steps"], mnist["g_width"]) == (gen["train"]["steps"], gen["train"]["g_width"])
    assert gen_spec(eff, "cifar10_jpeg", 4000, "gan", 0)["train"]["steps"] == 99
    assert extractor_settings(eff, "cifar10_jpeg") == dict(eff["generation"]["extractor"], width=24, epochs=7)
    assert extractor_settings(eff, "mnist") == eff["generation"]["extractor"]
    capped = extractor_settings(preflight_of(eff), "cifar10_jpeg")
    assert (capped["epochs"], capped["max_images"], capped["width"]) == (1, 2000, 24)
    gen["per_dataset"]["cifar10_jpeg"]["train"]["g_widht"] = 8
    with pytest.raises(ParamsError, match="g_widht"):
        resolve(cfg)


def test_grid_typo_in_a_block_names_the_word_the_block_and_the_methods(params):
    """Issue 15 case 3: a misspelt method in one block of a list grid."""
    cfg = copy.deepcopy(params)
    cfg["profiles"]["cpu"]["grid"][0]["methods"] = ["supervised", "pseudo_lable"]
    with pytest.raises(ParamsError) as err:
        resolve(cfg)
    msg = str(err.value)
    assert msg == ("profile 'cpu', grid[0].methods: 'pseudo_lable' is not a method; expected one of "
                   "['pseudo_label', 'ssl_gan', 'supervised'] (defined under methods)")


def test_impossible_split_fails_at_resolve_naming_the_value(params):
    """Issue 15 case 5: checked before any job (no download), from the registry's class counts."""
    cfg = copy.deepcopy(params)
    cfg["profiles"]["cpu"]["grid"] = {"datasets": {"mnist": [54000]}, "seeds": [0], "methods": ["supervised"]}
    with pytest.raises(ParamsError, match=r"profile 'cpu', grid.datasets.mnist: 54000 labels \+ n_val 1000 need "
                                          r"5501 training images per class, but the smallest class of mnist has 5421"):
        resolve(cfg)
    cfg["profiles"]["cpu"]["grid"]["datasets"] = {"mnist": [15]}
    with pytest.raises(ParamsError, match=r"grid.datasets.mnist: 15 is not a multiple of the 10 classes"):
        resolve(cfg)


def test_image_folder_split_checked_once_its_cache_exists(params, tmp_path):
    import json

    cfg = copy.deepcopy(params)
    cfg["data"]["root"] = str(tmp_path)
    cfg["datasets"]["digits"] = {"arch": "mlp28", "imagefolder": "/data/digits"}
    cfg["profiles"]["cpu"]["grid"] = {"datasets": {"digits": [50]}, "seeds": [0], "methods": ["supervised"]}
    warnings = []
    resolve(cfg, warn=warnings.append)  # not read yet: nothing known, nothing said
    assert warnings == []
    (tmp_path / "digits").mkdir()
    (tmp_path / "digits" / "meta.json").write_text(json.dumps({"train_class_counts": [144] * 9 + [141]}))
    resolve(cfg, warn=warnings.append)  # 5 + 100 + 1 = 106 ≤ 141 per class: feasible, but 70 % of the data
    assert warnings == ["profile 'cpu': digits: n_val=1000 takes 70 % of its 1437 training images (more than "
                        "10 %); set a smaller `datasets.digits.n_val`"]
    cfg["datasets"]["digits"]["n_val"] = 100  # the documented per-dataset setting
    warnings.clear()
    resolve(cfg, warn=warnings.append)
    assert warnings == []
    cfg["datasets"]["digits"]["n_val"] = 1400
    with pytest.raises(ParamsError, match=r"digits: 50 labels \+ n_val 1400 need 146 training images per class, "
                                          r"but the smallest class of digits has 141"):
        resolve(cfg)


def test_show_spec_names_the_layer_of_each_setting_and_checks_the_committed_run(repo, tmp_path, monkeypatch, capsys):
    """Issue 14: `semigan show-spec` for the committed MNIST-100 ssl_gan cpu run."""
    from semigan.cli import main

    monkeypatch.chdir(repo)  # committed results are looked up under ./results
    run = "mnist/n100/ssl_gan/seed0"
    assert main(["show-spec", "--params", "params.yaml", "--profile", "cpu", run]) == 0
    out = capsys.readouterr().out
    assert f"results/cpu/runs/{run}/metrics.json: computed with exactly these settings" in out
    lines = {line.split()[0]: line.split("←")[-1].strip() for line in out.splitlines() if "←" in line}
    assert lines["hparams.beta2"] == "profiles.cpu.methods.ssl_gan.per_dataset.mnist.hparams.beta2"
    assert lines["hparams.eps"] == "methods.ssl_gan.hparams.eps"  # the base value, no profile override
    assert lines["train.steps"] == "profiles.cpu.methods.ssl_gan.train.steps"
    assert lines["train.batch_size"] == "train.batch_size"
    changed = yaml.safe_load((repo / "params.yaml").read_text())
    changed["profiles"]["cpu"]["methods"]["ssl_gan"]["per_dataset"]["mnist"]["hparams"]["beta2"] = 0.99
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(changed))
    assert main(["show-spec", "--params", str(tmp_path / "p.yaml"), "--profile", "cpu", run]) == 0
    out = capsys.readouterr().out
    assert f"results/cpu/runs/{run}/metrics.json: computed with other values of hparams.beta2" in out


def test_preflight_keeps_widths_and_batches_and_caps_steps_in_its_own_folders(params):
    """The paper preflight runs each cell shape of the paper grids at the paper's settings but
    for a few steps, validating and checkpointing halfway, under names and folders that can
    never be mistaken for the paper's results or data."""
    from semigan.config import gen_spec, run_spec

    paper = resolve(dict(params, profile="paper"))
    pre = resolve(dict(params, profile="paper", preflight=6))
    assert pre["profile"] == "paper-preflight"
    assert {pre["data"]["root"], pre["data"]["splits"]}.isdisjoint({paper["data"]["root"], paper["data"]["splits"]})
    cells = grid_cells(pre)
    assert {(c.dataset, c.n_labels, c.method) for c in cells} == \
        {(c.dataset, c.n_labels, c.method) for c in grid_cells(paper)}
    assert {c.seed for c in cells} == {0} and len(cells) < len(grid_cells(paper))
    for c in cells:
        full, short = (run_spec(e, c.dataset, c.n_labels, c.method, c.seed) for e in (paper, pre))
        assert short["train"]["steps"] == 6 < full["train"]["steps"]
        assert (short["train"]["eval_every"], short["train"]["checkpoint_every"]) == (3, 3)
        assert (short["arch"], short["hparams"], short["train"]["batch_size"], short["train"]["init_size"]) == \
            (full["arch"], full["hparams"], full["train"]["batch_size"], full["train"]["init_size"])
    c = generation_cells(pre)[0]
    full, short = (gen_spec(e, c.dataset, c.n_labels, c.method, c.seed)["train"] for e in (paper, pre))
    assert short["steps"] == 6 and short["checkpoint_every"] == 3
    assert {k: v for k, v in short.items() if k not in ("steps", "checkpoint_every", "log_every")} == \
        {k: v for k, v in full.items() if k not in ("steps", "checkpoint_every", "log_every")}
    assert pre["generation"]["inception_datasets"] == [] and pre["generation"]["n_samples"] < paper["generation"]["n_samples"]


def test_preflight_cells_stand_for_every_run_of_the_profile(params):
    """Each preflight cell stands for the seeds of its block; together they cover each run of
    the profile once, also where one cell appears in two blocks with different seeds."""
    from semigan.config import Cell, generation_blocks, grid_blocks, stand_in_seeds

    for profile in ("paper", "cpu"):
        full = resolve(dict(params, profile=profile))
        pre = resolve(dict(params, profile=profile, preflight=4))
        stand_ins = stand_in_seeds(grid_blocks(full))
        assert set(stand_ins) == set(grid_cells(pre))
        covered = [Cell(c.dataset, c.n_labels, c.method, s) for c, seeds in stand_ins.items() for s in seeds]
        assert sorted(covered, key=str) == sorted(grid_cells(full), key=str)
        gen_stand_ins = stand_in_seeds(generation_blocks(full))
        assert set(gen_stand_ins) == set(generation_cells(pre))
        assert sum(map(len, gen_stand_ins.values())) == len(generation_cells(full))
    blocks = [{"datasets": {"mnist": [20]}, "methods": ["ssl_gan"], "seeds": [0]},
              {"datasets": {"mnist": [20, 50]}, "methods": ["ssl_gan"], "seeds": [1, 2]}]
    assert stand_in_seeds(blocks) == {Cell("mnist", 20, "ssl_gan", 0): [0], Cell("mnist", 20, "ssl_gan", 1): [1, 2],
                                      Cell("mnist", 50, "ssl_gan", 1): [1, 2]}
    overlapping = [{"datasets": {"mnist": [20]}, "methods": ["ssl_gan"], "seeds": [0, 1]},
                   {"datasets": {"mnist": [20]}, "methods": ["ssl_gan"], "seeds": [1, 2]}]  # run seed1 in both
    assert stand_in_seeds(overlapping) == {Cell("mnist", 20, "ssl_gan", 0): [0], Cell("mnist", 20, "ssl_gan", 1): [1, 2]}


def _params_text_with(repo, *replacements) -> str:
    """params.yaml as written by hand: each (old, new) replaced once in its text."""
    text = (repo / "params.yaml").read_text()
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


EXPONENTS = [  # as a user writes them; YAML 1.1 (PyYAML) reads each as a string
    ("hparams: {lr: 0.003, beta1: 0.5}\n    per_dataset: &conv_lr", "hparams: {lr: 3e-4, beta1: 0.5}\n    per_dataset: &conv_lr"),
    ("gen_eps: 1.0e-8", "gen_eps: 1e-8"),
    ("loss_growth: 100 ", "loss_growth: 1.0e6 "),
    ("ema_halflife: 1000 ", "ema_halflife: 1e3 "),
    ("n_samples: 10000 ", "n_samples: 1e4 "),  # an integer setting
]


def test_numbers_in_exponent_form_are_numbers(repo, tmp_path):
    """3e-4, 1e-8 and 1.0e6 are numbers for semigan as for DVC (YAML 1.2), in the schema's
    settings and in the methods' hyper-parameters, down to each run's spec."""
    from dvc.utils.serialize import parse_yaml

    path = tmp_path / "params.yaml"
    path.write_text(_params_text_with(repo, *EXPONENTS))
    raw = load_params(path, profile="cpu")
    assert raw["methods"]["supervised"]["hparams"]["lr"] == "3e-4"  # what PyYAML hands over
    dvc = parse_yaml(path.read_text(), str(path))
    assert dvc["methods"]["supervised"]["hparams"]["lr"] == 3e-4 and dvc["evaluation"]["loss_growth"] == 1e6

    eff = resolve(raw)
    assert eff["methods"]["supervised"]["hparams"]["lr"] == 3e-4
    assert eff["evaluation"]["loss_growth"] == 1e6 and eff["train"]["ema_halflife"] == 1000.0
    assert eff["generation"]["n_samples"] == 10000 and isinstance(eff["generation"]["n_samples"], int)
    from semigan.config import run_spec

    spec = run_spec(eff, "mnist", 100, "supervised", 0)
    assert spec["hparams"]["lr"] == 3e-4 and isinstance(spec["hparams"]["lr"], float)
    assert run_spec(eff, "mnist", 100, "ssl_gan", 0)["hparams"]["gen_eps"] == 1e-8
    assert raw["methods"]["supervised"]["hparams"]["lr"] == "3e-4"  # the caller's dict is left as it was


@pytest.mark.parametrize("old, new, named", [
    ("hparams: {lr: 0.003, beta1: 0.5}\n    per_dataset: &conv_lr", "hparams: {lr: abc, beta1: 0.5}\n    per_dataset: &conv_lr",
     "methods.supervised.hparams.lr: 'abc' is not a number; expected float"),
    ("gen_eps: 1.0e-8", "gen_eps: 1e-8x", "profiles.cpu.methods.ssl_gan.per_dataset.mnist.hparams.gen_eps: '1e-8x' "
     "is not a number or null; expected float | None"),
    ("feature_matching: auto", "feature_matching: 2", "methods.ssl_gan.hparams.feature_matching: 2 is not a string"),
    ("ema_halflife: 1000 ", "ema_halflife: abc ", "at train.ema_halflife: 'abc' is not of type 'number'"),
    ("n_samples: 10000 ", "n_samples: 1.0005e3 ", "at generation.n_samples: '1.0005e3' is not of type 'integer'"),
])
def test_a_value_that_is_not_a_number_is_named_with_the_type_expected(repo, tmp_path, capsys, old, new, named):
    from semigan.cli import main

    path = tmp_path / "params.yaml"
    path.write_text(_params_text_with(repo, (old, new)))
    with pytest.raises(ParamsError) as err:
        resolve(load_params(path, profile="cpu"))
    assert named in str(err.value)
    assert main(["check-params", "--params", str(path), "--profile", "cpu"]) == 2
    assert named in capsys.readouterr().err


def test_defaults_need_no_local_folder_and_every_smoke_dataset_is_public(params):
    """A fresh clone with internet runs the smoke profile as it is: no mirror by default, and
    every dataset the smoke grids need has an official URL for each of its files."""
    from semigan.data.sources import DATASETS

    assert params["data"]["mirror"] is None and not params["data"].get("fixtures")
    eff = resolve(dict(params, profile="smoke"))
    needed = {c.dataset for c in grid_cells(eff) + generation_cells(eff)}
    assert {"mnist", "cifar10"} <= needed
    assert all(f.url for d in needed for f in DATASETS[d].files), needed
    assert not any(f.url for f in DATASETS["cifar10_jpeg"].files)  # the cpu profile's JPEG copy: a mirror only
