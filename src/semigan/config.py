"""params.yaml → validated effective configuration → one RunSpec per grid cell.

The file holds base settings and named profiles; the effective configuration is the base
deep-merged with the selected profile. Everything is checked before any job runs: the
schema (keys, types, enums), then the profile name, the grid and each method's
hyper-parameters, each error naming the offending key and what was expected.

Numbers are read as YAML 1.2 reads them, by every reader of params.yaml: Snakemake and
`semigan` load it with PyYAML (YAML 1.1), which leaves `3e-4` or `1.0e6` a string, while DVC
(YAML 1.2) reads a number. `resolve` turns such a string into its number wherever the schema
or a method's hyper-parameter class expects one, and names any other value there.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import json
import re
import sys
import typing
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


# A float in YAML 1.2's core schema (inf and nan left out: never a setting)
_YAML12_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")


def yaml12_number(value):
    """The number a YAML 1.2 reader sees in a string that YAML 1.1 left unread (`3e-4`), else None."""
    if isinstance(value, str) and _YAML12_FLOAT.fullmatch(value.strip()):
        return float(value)
    return None


def _leaf_errors(errors):
    for error in errors:
        yield error
        yield from _leaf_errors(error.context or ())


def _numbers_where_the_schema_wants_them(config: dict) -> dict:
    """A copy of config in which each string the schema rejects for want of a number (or an
    integer) and that YAML 1.2 reads as one is that number."""
    config = copy.deepcopy(config)
    validator = jsonschema.Draft202012Validator(load_schema())
    for error in _leaf_errors(validator.iter_errors(config)):
        types = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
        number = yaml12_number(error.instance) if error.validator == "type" else None
        if number is None or not {"number", "integer"} & set(types):
            continue
        if "number" not in types:  # an integer setting: 1e3 is 1000, 1.5e0 stays an error
            if not number.is_integer():
                continue
            number = int(number)
        *parents, key = error.absolute_path
        node = config
        for p in parents:
            node = node[p]
        node[key] = number
    return config


def _hparam_layers(config: dict):
    """(dotted params.yaml path, hparams dict, method) of every hyper-parameter block, in the
    base settings and in every profile."""
    roots = [("", config)] + [(f"profiles.{name}.", p) for name, p in (config.get("profiles") or {}).items()
                              if isinstance(p, dict)]
    for prefix, root in roots:
        for method, m in (root.get("methods") or {}).items():
            if not isinstance(m, dict):
                continue
            if isinstance(m.get("hparams"), dict):
                yield f"{prefix}methods.{method}.hparams", m["hparams"], method
            for dataset, per in (m.get("per_dataset") or {}).items():
                if isinstance(per, dict) and isinstance(per.get("hparams"), dict):
                    yield f"{prefix}methods.{method}.per_dataset.{dataset}.hparams", per["hparams"], method


def _type_name(hint) -> str:
    return getattr(hint, "__name__", None) or str(hint)


def _type_hparams(config: dict) -> None:
    """Each hyper-parameter against its type in the method's class (the registry is the one
    place that types them): a YAML 1.2 number written as a string becomes that number (in
    place); a value of another type is named with the type expected."""
    from .methods import METHODS

    for where, hparams, method in _hparam_layers(config):
        if method not in METHODS:
            continue  # named by _check_registered_names
        cls = METHODS[method].hparams_class
        hints = typing.get_type_hints(cls)
        for key, value in list(hparams.items()):
            if key not in hints:
                continue  # named by parse_hparams
            allowed = typing.get_args(hints[key]) or (hints[key],)
            if value is None and type(None) in allowed:
                continue
            if float in allowed or int in allowed:
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    continue
                number = yaml12_number(value)
                if number is not None and (float in allowed or number.is_integer()):
                    hparams[key] = number if float in allowed else int(number)
                    continue
                expected = "a number" + (" or null" if type(None) in allowed else "")
            elif str in allowed:
                if isinstance(value, str):
                    continue
                expected = "a string"
            else:
                continue
            default = {f.name: f.default for f in dataclasses.fields(cls)}.get(key)
            raise ParamsError(f"{where}.{key}: {value!r} is not {expected}; expected {_type_name(hints[key])}, "
                              f"the type of {method}'s {key} (default {default!r})")


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


def resolve(config: dict, warn=None) -> dict:
    """Validate and return the effective configuration of the selected profile. `warn`
    receives advice that does not stop the run (default: printed to stderr)."""
    config = _numbers_where_the_schema_wants_them(config)
    validate_schema(config)
    _type_hparams(config)
    name = config["profile"]
    profiles = config["profiles"]
    if name not in profiles:
        raise ParamsError(f"profile={name!r} is not defined; expected one of {sorted(profiles)}")
    base = {k: v for k, v in config.items() if k != "profiles"}
    patch = {k: v for k, v in profiles[name].items() if k != "description"}
    effective = deep_merge(base, patch)
    if effective["data"].get("fixtures"):  # synthetic files never share a folder with real data
        effective["data"] = dict(effective["data"], root=f"{FIXTURES_ROOT}/data",
                                 downloads=f"{FIXTURES_ROOT}/downloads", splits=f"{FIXTURES_ROOT}/splits")
    if effective.get("preflight"):
        effective = preflight_of(effective)
    _check_registered_names(effective)
    blocks = grid_blocks(effective)
    for i, block in enumerate(blocks):
        _check_grid_block(effective, block, "grid" if len(blocks) == 1 else f"grid[{i}]")
    for target_name, target in (effective.get("paper_targets") or {}).items():
        _check_grid_block(effective, target["grid"], f"paper_targets.{target_name}.grid")
    for cell in grid_cells(effective):
        run_spec(effective, cell.dataset, cell.n_labels, cell.method, cell.seed)  # checks hyper-parameters and train settings of every run
    gen_blocks = generation_blocks(effective)
    for i, block in enumerate(gen_blocks):
        _check_grid_block(dict(effective, methods=effective["generation"]["methods"]), block,
                          "generation_grid" if len(gen_blocks) == 1 else f"generation_grid[{i}]",
                          what="generation method", defined_under="generation.methods")
    if gen_blocks:
        for cell in generation_cells(effective):
            gen_spec(effective, cell.dataset, cell.n_labels, cell.method, cell.seed)
    warn = warn or (lambda msg: print(f"semigan: warning: {msg}", file=sys.stderr))
    for msg in split_warnings(effective):
        warn(msg)
    _check_inception_datasets(effective)
    return effective


FIXTURES_ROOT = "resources/fixtures"  # data.fixtures: the data cache of a run with synthetic stand-ins
PREFLIGHT_ROOT = "resources/preflight"  # fixtures and the preflight's data cache: never the real data root
PREFLIGHT_SAMPLES = 200  # generated images per generation evaluation in a preflight
PREFLIGHT_SUFFIX = "-preflight"  # of a preflight's profile name


def is_preflight(profile: str) -> bool:
    """Whether a run's profile name is a preflight's (`preflight_of`)."""
    return profile.endswith(PREFLIGHT_SUFFIX)


def preflight_of(effective: dict) -> dict:
    """The preflight of a profile: each cell of its grids at the profile's own architectures,
    batch sizes, split sizes and data layouts, for `preflight` steps (run_spec/gen_spec cap
    them: `preflight_train`), so a shape error, a missing file or an out-of-memory batch shows
    up in minutes on a CPU instead of at hour 0 of a GPU run. What it changes, and why:
    - the profile is named `<profile>-preflight`: its results, models and logs get folders of
      their own, and its metrics can never pass for the profile's;
    - the first seed of each grid block, standing for the block's other seeds (`stand_in_seeds`);
    - data and splits under resources/preflight: datasets the mirror lacks (official CIFAR-10, SVHN) are
      fixtures in the official format (semigan.data.fixtures), never mixed with real data;
    - generation evaluation on PREFLIGHT_SAMPLES images, a one-epoch extractor on at most 2000
      images, no Inception metrics (≈ 14 images/s on 2 idle CPU cores; their path is tested in
      tests/test_inception.py and timed by `semigan bench-metrics`)."""
    out = copy.deepcopy(effective)
    out["profile"] = effective["profile"] + PREFLIGHT_SUFFIX
    out["data"] = dict(out["data"], root=f"{PREFLIGHT_ROOT}/data", downloads=f"{PREFLIGHT_ROOT}/downloads",
                       splits=f"{PREFLIGHT_ROOT}/splits")
    for key in ("grid", "generation_grid"):
        grid = out.get(key)
        if grid:
            out[key] = first_seed_blocks(grid if isinstance(grid, list) else [grid])
    gen = out.get("generation")
    if gen:
        gen["n_samples"] = min(gen.get("n_samples", PREFLIGHT_SAMPLES), PREFLIGHT_SAMPLES)
        per_dataset = [p["extractor"] for p in (gen.get("per_dataset") or {}).values() if p.get("extractor")]
        for extractor in [gen.setdefault("extractor", {}), *per_dataset]:
            extractor["epochs"] = 1
            extractor["max_images"] = min(extractor.get("max_images") or 2000, 2000)
        gen["inception_datasets"] = []
    return out


def preflight_train(train: dict, steps: int, validates: bool = False) -> dict:
    """A run's train settings in a preflight: `steps` steps, validation and a checkpoint
    halfway (the train job is interrupted there and resumes: `is_preflight` in the CLI),
    a log line and history row every step (its s/step). Widths, batch sizes, EMA and
    optimiser settings stay the profile's."""
    half = max(1, steps // 2)
    capped = dict(train, steps=steps, checkpoint_every=half, log_every=1)
    return dict(capped, eval_every=half) if validates else capped


def _check_registered_names(effective: dict) -> None:
    """Method and architecture names come from their registries (the schema only checks
    their shape), so adding one to its registry is all it takes."""
    from .methods import METHODS
    from .models import ARCHITECTURES

    where = f"profile {effective['profile']!r}"
    for method in effective["methods"]:
        if method not in METHODS:
            raise ParamsError(f"{where}: methods.{method}: {method!r} is not a method; "
                              f"expected one of {sorted(METHODS)}")
    for dataset, entry in effective["datasets"].items():
        if "arch" not in entry:
            raise ParamsError(f"{where}: datasets.{dataset} has no arch; expected one of {sorted(ARCHITECTURES)}")
        if entry["arch"] not in ARCHITECTURES:
            raise ParamsError(f"{where}: datasets.{dataset}.arch: {entry['arch']!r} is not an architecture; "
                              f"expected one of {sorted(ARCHITECTURES)}")


def n_val_of(effective: dict, dataset: str) -> int:
    """Validation images of a dataset's splits: datasets.<name>.n_val, else split.n_val."""
    return int(effective["datasets"].get(dataset, {}).get("n_val", effective["split"]["n_val"]))


def train_class_counts(effective: dict, dataset: str) -> list[int] | None:
    """Training images per class: from the registry for registered datasets, from the cache's
    meta.json for image folders once it exists; None when not known yet."""
    from .data.sources import DATASETS

    if dataset in DATASETS and "imagefolder" not in effective["datasets"].get(dataset, {}):
        return list(DATASETS[dataset].train_class_counts) or None
    meta = Path(effective["data"]["root"]) / dataset / "meta.json"
    if meta.is_file():
        counts = json.loads(meta.read_text()).get("train_class_counts")
        return list(counts) if counts else None
    return None


VAL_SHARE = 0.1  # warn when validation takes more than this share of the training images


def split_warnings(effective: dict) -> list[str]:
    """Advice on validation sizes that eat a dataset (the rule: n_val above 10 % of its
    training images) — the run still works, but the semi-supervised methods lose that many
    unlabelled images."""
    out = []
    for dataset in sorted({c.dataset for c in grid_cells(effective)}):
        counts = train_class_counts(effective, dataset)
        n_val = n_val_of(effective, dataset)
        if counts and n_val > VAL_SHARE * sum(counts):
            out.append(f"profile {effective['profile']!r}: {dataset}: n_val={n_val} takes "
                       f"{100 * n_val / sum(counts):.0f} % of its {sum(counts)} training images "
                       f"(more than {100 * VAL_SHARE:.0f} %); set a smaller `datasets.{dataset}.n_val`")
    return out


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
    per = (gen.get("per_dataset") or {}).get(dataset, {})
    gen_train = gen.get("train") or {}  # general → dataset → method
    for patch in (per.get("train"), m.get("train")):
        gen_train = deep_merge(gen_train, patch or {})
    if effective.get("preflight"):
        gen_train = preflight_train(gen_train, effective["preflight"])
    if m.get("classifier") and m["classifier"] not in effective["methods"]:
        raise ParamsError(f"profile {effective['profile']!r}: generation.methods.{method}.classifier: "
                          f"{m['classifier']!r} is not a method; expected one of {sorted(effective['methods'])}")
    try:
        spec = GenSpec(profile=effective["profile"], dataset=dataset, n_labels=int(n_labels), seed=int(seed),
                       method=method, labels=m["labels"], classifier=m.get("classifier"),
                       threshold=float(m.get("threshold", 0.0)),
                       train=GenTrainConfig(**gen_train))
    except (ValueError, TypeError) as exc:
        raise ParamsError(f"{where}: {exc}") from exc
    return spec.to_dict()


def extractor_settings(effective: dict, dataset: str) -> dict:
    """The domain extractor's training settings for one dataset: generation.extractor with
    generation.per_dataset.<dataset>.extractor merged over it (a preflight caps both)."""
    gen = effective.get("generation") or {}
    per = (gen.get("per_dataset") or {}).get(dataset, {})
    return deep_merge(gen.get("extractor") or {}, per.get("extractor") or {})


def grid_blocks(effective: dict) -> list[dict]:
    """The grid is one block (datasets × n_labels × methods × seeds) or a list of blocks,
    e.g. cheap baselines on every dataset and a costly method on a few."""
    grid = effective.get("grid")
    if not grid:
        raise ParamsError(f"profile {effective['profile']!r}: no grid; expected one in "
                          f"profiles.{effective['profile']}.grid or the top-level grid")
    return grid if isinstance(grid, list) else [grid]


def _check_grid_block(effective: dict, block: dict, where: str, what: str = "method",
                      defined_under: str = "methods") -> None:
    from .data.sources import DATASETS

    where = f"profile {effective['profile']!r}, {where}"
    for key in ("datasets", "seeds", "methods"):
        if key not in block:
            raise ParamsError(f"{where}.{key} is missing")
    for dataset in block["datasets"]:
        if dataset not in effective["datasets"]:
            raise ParamsError(f"{where}.datasets: {dataset!r} has no entry datasets.{dataset} "
                              f"(with its arch); defined: {sorted(effective['datasets'])}")
        if dataset not in DATASETS and "imagefolder" not in effective["datasets"][dataset]:
            raise ParamsError(f"{where}.datasets: {dataset!r} is not a registered dataset "
                              f"{sorted(DATASETS)}; declare your own images with "
                              f"`datasets.{dataset}.imagefolder: <folder or .tar.gz>`")
    for method in block["methods"]:
        if method not in effective["methods"]:
            raise ParamsError(f"{where}.methods: {method!r} is not a {what}; expected one of "
                              f"{sorted(effective['methods'])} (defined under {defined_under})")
    for dataset, n_labels in block["datasets"].items():
        _check_split_feasible(effective, dataset, n_labels, f"{where}.datasets.{dataset}")


def _check_split_feasible(effective: dict, dataset: str, n_labels: list[int], where: str) -> None:
    """Class-balanced splits need n_labels and n_val to be multiples of the class count, and
    labels + validation + one unlabelled image per class within the smallest class."""
    counts = train_class_counts(effective, dataset)
    if not counts:
        return  # an image folder not read yet: the split job checks
    k, n_val = len(counts), n_val_of(effective, dataset)
    for value, name in [(n, where) for n in n_labels] + [(n_val, f"n_val of {dataset}")]:
        if value % k:
            raise ParamsError(f"{name}: {value} is not a multiple of the {k} classes of {dataset}; "
                              "class-balanced splits need one")
    smallest = min(counts)
    for n in n_labels:
        if n // k + n_val // k + 1 > smallest:
            raise ParamsError(f"{where}: {n} labels + n_val {n_val} need {n // k + n_val // k + 1} "
                              f"training images per class, but the smallest class of {dataset} has "
                              f"{smallest}; expected n_labels + n_val ≤ {k * (smallest - 1)}")


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


def first_seed_blocks(blocks: list[dict]) -> list[dict]:
    """The blocks with their first seed only: the cells a preflight runs (`preflight_of`)."""
    return [dict(b, seeds=b["seeds"][:1]) for b in blocks]


def plan_key(kind: str, run: str) -> str:
    """A preflight plan's key for one cell: a classification and a generation run may share
    a run name (dataset/n/method/seed), so the kind is part of it."""
    return f"{kind}:{run}"


def stand_in_seeds(blocks: list[dict]) -> dict[Cell, list[int]]:
    """Each cell a preflight runs → the seeds of the grids' runs it stands for, each run once:
    a run the preflight runs itself stands for itself, any other for its first block's
    stand-in (seeds change random streams, not shapes, files or speed)."""
    ran = set(block_cells(first_seed_blocks(blocks)))
    seeds: dict[Cell, set[int]] = {}
    covered: set[Cell] = set()
    for block in blocks:
        for run in block_cells([block]):
            if run not in covered:
                covered.add(run)
                stand_in = run if run in ran else Cell(run.dataset, run.n_labels, run.method, block["seeds"][0])
                seeds.setdefault(stand_in, set()).add(run.seed)
    return {cell: sorted(s) for cell, s in seeds.items()}


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
    if effective.get("preflight"):
        train = preflight_train(train, effective["preflight"], validates=True)
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


def spec_sources(config: dict, dataset: str, method: str) -> dict[str, str]:
    """Where each setting of a classification run comes from: the dotted params.yaml path of
    the last layer that sets it, in run_spec's order of precedence (general train → dataset →
    method → method on this dataset; within each, the profile's value over the base one).
    Settings no layer sets are the code's defaults."""
    from .methods import METHODS
    from .training.loop import TrainConfig

    profile = config["profile"]
    raw = {"": {k: v for k, v in config.items() if k != "profiles"},
           f"profiles.{profile}.": config["profiles"][profile]}

    def layers(*path):
        for prefix, root in raw.items():
            node = root
            for key in path:
                node = node.get(key) if isinstance(node, dict) else None
            if isinstance(node, dict):
                yield prefix + ".".join(path), node

    sources: dict[str, str] = {"split.n_val": "default"}
    for name, node in layers("datasets", dataset):
        if "arch" in node:
            sources["arch"] = f"{name}.arch"
    for path in [("split",), ("datasets", dataset)]:  # n_val_of's precedence: the dataset's own value wins
        for name, node in layers(*path):
            if "n_val" in node:
                sources["split.n_val"] = f"{name}.n_val"
    train_layers = [("train",), ("datasets", dataset, "train"), ("methods", method, "train"),
                    ("methods", method, "per_dataset", dataset, "train")]
    for f in dataclasses.fields(TrainConfig):
        sources[f"train.{f.name}"] = "default (TrainConfig)"
    for path in train_layers:
        for name, node in layers(*path):
            for key in node:
                sources[f"train.{key}"] = f"{name}.{key}"
    hp_class = METHODS[method].hparams_class
    for f in dataclasses.fields(hp_class):
        sources[f"hparams.{f.name}"] = f"default ({hp_class.__name__})"
    for path in [("methods", method, "hparams"), ("methods", method, "per_dataset", dataset, "hparams")]:
        for name, node in layers(*path):
            for key in node:
                sources[f"hparams.{key}"] = f"{name}.{key}"
    return sources


def show_spec(config: dict, run: str) -> tuple[str, dict]:
    """A run's effective settings, one per line with the params.yaml layer that set it, and
    the run's spec (to compare with a committed result)."""
    from .methods import METHODS, parse_hparams

    effective = resolve(config, warn=lambda msg: None)
    try:
        dataset, n, method, seed = run.strip("/").split("/")
        n_labels, seed_no = int(n.removeprefix("n")), int(seed.removeprefix("seed"))
    except ValueError:
        raise ParamsError(f"run {run!r}: expected <dataset>/n<labels>/<method>/seed<seed>, "
                          "e.g. mnist/n100/ssl_gan/seed0") from None
    if method not in effective["methods"] or dataset not in effective["datasets"]:
        raise ParamsError(f"run {run!r}: method {method!r} or dataset {dataset!r} is not defined in profile "
                          f"{effective['profile']!r}; methods: {sorted(effective['methods'])}, "
                          f"datasets: {sorted(effective['datasets'])}")
    spec = run_spec(effective, dataset, n_labels, method, seed_no)
    hparams = dataclasses.asdict(parse_hparams(METHODS[method].hparams_class, spec["hparams"], method))
    values = {"arch": spec["arch"], "split.n_val": n_val_of(effective, dataset),
              **{f"train.{k}": v for k, v in spec["train"].items()},
              **{f"hparams.{k}": v for k, v in hparams.items()}}
    sources = spec_sources(config, dataset, method)
    width = max(map(len, values))
    lines = [f"# {effective['profile']} profile, run {dataset}/n{n_labels}/{method}/seed{seed_no}",
             f"# {'setting'.ljust(width)}  value  ← set by"]
    lines += [f"{k.ljust(width)}  {json.dumps(v)}  ← {sources.get(k, '?')}" for k, v in values.items()]
    return "\n".join(lines), spec
