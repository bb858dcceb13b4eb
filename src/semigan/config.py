"""params.yaml → validated effective configuration → one RunSpec per grid cell.

The file holds base settings and named profiles; the effective configuration is the base
deep-merged with the selected profile. Everything is checked before any job runs: the
schema (keys, types, enums), then the profile name, the grid and each method's
hyper-parameters, each error naming the offending key and what was expected.
"""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass
from pathlib import Path

import jsonschema
import yaml

SCHEMA_PATH = Path(__file__).with_name("schemas") / "params.schema.yaml"


class ParamsError(ValueError):
    """params.yaml (or a --config override) is not a valid experiment description."""


def load_schema() -> dict:
    return yaml.safe_load(SCHEMA_PATH.read_text())


def _where(path) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


def _explain(error):
    """A failed oneOf (grid: one block or a list of blocks) is reported by the cause in the
    alternative of the value's own type, not by the type mismatch of the other one."""
    if not error.context:
        return error
    causes = [c for c in error.context
              if not (c.validator == "type" and c.absolute_path == error.absolute_path)]
    return _explain(max(causes or error.context, key=lambda c: len(c.absolute_path)))


def validate_schema(config: dict) -> None:
    validator = jsonschema.Draft202012Validator(load_schema())
    errors = [_explain(e) for e in validator.iter_errors(config)]
    errors.sort(key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        lines = [f"  at {_where(e.absolute_path)}: {e.message}" for e in errors]
        raise ParamsError("params.yaml does not match workflow/schemas/params.schema.yaml:\n"
                          + "\n".join(lines))


def deep_merge(base: dict, patch: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def resolve(config: dict) -> dict:
    """Validate and return the effective configuration of the selected profile."""
    validate_schema(config)
    name = config["profile"]
    profiles = config["profiles"]
    if name not in profiles:
        raise ParamsError(f"profile={name!r} is not defined; expected one of {sorted(profiles)}")
    base = {k: v for k, v in config.items() if k != "profiles"}
    patch = {k: v for k, v in profiles[name].items() if k != "description"}
    effective = deep_merge(base, patch)
    blocks = grid_blocks(effective)
    for i, block in enumerate(blocks):
        _check_grid_block(effective, block, "grid" if len(blocks) == 1 else f"grid[{i}]")
    for name, target in (effective.get("paper_targets") or {}).items():
        _check_grid_block(effective, target["grid"], f"paper_targets.{name}.grid")
    for cell in grid_cells(effective):
        run_spec(effective, cell.dataset, cell.n_labels, cell.method, cell.seed)  # checks hyper-parameters and train settings of every run
    gen_blocks = generation_blocks(effective)
    for i, block in enumerate(gen_blocks):
        _check_grid_block(dict(effective, methods=effective["generation"]["methods"]), block,
                          "generation_grid" if len(gen_blocks) == 1 else f"generation_grid[{i}]")
    if gen_blocks:
        for cell in generation_cells(effective):
            gen_spec(effective, cell.dataset, cell.n_labels, cell.method, cell.seed)
    _check_inception_datasets(effective)
    return effective


def _check_inception_datasets(effective: dict) -> None:
    """A misspelt name in generation.inception_datasets would silently switch the Inception
    metrics off for the dataset meant."""
    for name in effective.get("generation", {}).get("inception_datasets") or []:
        if name not in effective["datasets"]:
            raise ParamsError(f"profile {effective['profile']!r}: generation.inception_datasets names {name!r}, "
                              f"which has no entry datasets.{name}; defined: {sorted(effective['datasets'])}")


def generation_blocks(effective: dict) -> list[dict]:
    """The profile's generation grid as a list of blocks (empty without one)."""
    grid = effective.get("generation_grid")
    if not grid:
        return []
    return grid if isinstance(grid, list) else [grid]


def generation_cells(effective: dict) -> list["Cell"]:
    """Every generation run of the profile (none without a generation_grid)."""
    return block_cells(generation_blocks(effective))


def gen_spec(effective: dict, dataset: str, n_labels: int, method: str, seed: int) -> dict:
    """The full description of one generation run."""
    from .generation.train import GenSpec, GenTrainConfig

    gen = effective["generation"]
    if method not in gen["methods"]:
        raise ParamsError(f"generation method {method!r} has no settings under generation.methods; "
                          f"defined: {sorted(gen['methods'])}")
    m = gen["methods"][method]
    where = f"profile {effective['profile']!r}, generation run {dataset}/n{n_labels}/{method}/seed{seed}"
    try:
        spec = GenSpec(profile=effective["profile"], dataset=dataset, n_labels=int(n_labels), seed=int(seed),
                       method=method, labels=m["labels"], classifier=m.get("classifier"),
                       threshold=float(m.get("threshold", 0.0)),
                       train=GenTrainConfig(**deep_merge(gen.get("train") or {}, m.get("train") or {})))
    except (ValueError, TypeError) as exc:
        raise ParamsError(f"{where}: {exc}") from exc
    return spec.to_dict()


def grid_blocks(effective: dict) -> list[dict]:
    """The grid is one block (datasets × n_labels × methods × seeds) or a list of blocks,
    e.g. cheap baselines on every dataset and a costly method on a few."""
    grid = effective.get("grid")
    if not grid:
        raise ParamsError(f"profile {effective['profile']!r}: no grid; expected one in "
                          f"profiles.{effective['profile']}.grid or the top-level grid")
    return grid if isinstance(grid, list) else [grid]


def _check_grid_block(effective: dict, block: dict, where: str) -> None:
    from .data.sources import DATASETS

    for key in ("datasets", "seeds", "methods"):
        if key not in block:
            raise ParamsError(f"profile {effective['profile']!r}: {where}.{key} is missing")
    for dataset in block["datasets"]:
        if dataset not in effective["datasets"]:
            raise ParamsError(f"{where}.datasets.{dataset}: no entry datasets.{dataset} "
                              f"(with its arch); defined: {sorted(effective['datasets'])}")
        if dataset not in DATASETS and "imagefolder" not in effective["datasets"][dataset]:
            raise ParamsError(f"datasets.{dataset}: not a registered dataset {sorted(DATASETS)}; "
                              "declare your own images with `imagefolder: <folder or .tar.gz>`")
    for method in block["methods"]:
        if method not in effective["methods"]:
            raise ParamsError(f"{where}.methods: {method!r} has no settings under methods.{method}")
    n_val = effective["split"]["n_val"]
    for dataset, n_labels in block["datasets"].items():
        if dataset not in DATASETS:
            continue  # an image folder's classes are known once it is read (the split checks)
        k = len(DATASETS[dataset].classes)
        for what, n in [(f"{where}.datasets.{dataset}", n) for n in n_labels] + [("split.n_val", n_val)]:
            if n % k:
                raise ParamsError(f"{what}: {n} is not a multiple of the {k} classes of "
                                  f"{dataset}; class-balanced splits need one")


@dataclass(frozen=True)
class Cell:
    dataset: str
    n_labels: int
    method: str
    seed: int


def block_cells(blocks: list[dict]) -> list[Cell]:
    """Every run of these grid blocks, each once, in a stable order."""
    cells = (Cell(d, n, m, s)
             for block in blocks
             for d, ns in block["datasets"].items()
             for n, m, s in itertools.product(ns, block["methods"], block["seeds"]))
    return list(dict.fromkeys(cells))


def grid_cells(effective: dict) -> list[Cell]:
    """Every run of the profile's grid."""
    return block_cells(grid_blocks(effective))


def paper_target_cells(effective: dict, name: str) -> list[Cell]:
    """The runs a named paper target needs (in the selected profile's settings)."""
    targets = effective.get("paper_targets") or {}
    if name not in targets:
        raise ParamsError(f"paper target {name!r} is not defined; expected one of {sorted(targets)}")
    return block_cells([targets[name]["grid"]])


def run_spec(effective: dict, dataset: str, n_labels: int, method: str, seed: int) -> dict:
    """The full description of one run (train settings and hyper-parameters resolved)."""
    from .methods import METHODS, parse_hparams
    from .training.loop import RunSpec, TrainConfig

    m = effective["methods"][method]
    per = (m.get("per_dataset") or {}).get(dataset, {})
    train = effective["train"]  # general → dataset → method → method on this dataset
    for patch in (effective["datasets"][dataset].get("train"), m.get("train"), per.get("train")):
        train = deep_merge(train, patch or {})
    hparams = deep_merge(m.get("hparams") or {}, per.get("hparams") or {})
    where = f"profile {effective['profile']!r}, run {dataset}/n{n_labels}/{method}/seed{seed}"
    try:
        parse_hparams(METHODS[method].hparams_class, hparams, method)
        spec = RunSpec(profile=effective["profile"], dataset=dataset, n_labels=int(n_labels),
                       seed=int(seed), method=method, arch=effective["datasets"][dataset]["arch"],
                       train=TrainConfig(**train), hparams=hparams)
    except (ValueError, TypeError) as exc:
        raise ParamsError(f"{where}: {exc}") from exc
    return spec.to_dict()


def load_params(path: str | Path = "params.yaml", **overrides) -> dict:
    config = yaml.safe_load(Path(path).read_text())
    config.update(overrides)
    return config
