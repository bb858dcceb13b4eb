"""Seaborn figures of the results, each written as PNG (for the Markdown report) and PDF
(for papers). Every figure takes tables, never reads run folders itself."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display on clusters or CI
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from .atomic import atomic_path  # noqa: E402
from .compare import t_interval  # noqa: E402
from .metric_registry import GENERATION  # noqa: E402
from .references import error_references  # noqa: E402
from .tables import published_dataset  # noqa: E402

DATASET_TITLES = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST", "cifar10": "CIFAR-10",
                  "cifar10_jpeg": "CIFAR-10 (JPEG copy)", "svhn": "SVHN"}


def save(fig, stem: Path) -> list[Path]:
    """stem.png and stem.pdf, each written atomically; the PDF carries no creation date, so a
    re-made figure of the same results is the same file (git shows no change)."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    outs = []
    for ext in ("png", "pdf"):
        out = stem.with_suffix(f".{ext}")
        with atomic_path(out) as tmp:
            fig.savefig(tmp, format=ext, dpi=150, bbox_inches="tight",
                        metadata={"CreationDate": None} if ext == "pdf" else None)
        outs.append(out)
    plt.close(fig)
    return outs


def _title(dataset: str) -> str:
    return DATASET_TITLES.get(dataset, dataset)


def means_with_seeds(ax, runs: pd.DataFrame, y: str, palette: dict, line: bool = True, x: str = "n_labels",
                     zorder: int = 3) -> None:
    """Per method and label count: the mean over seeds (joined by a line when `line`), its 95 %
    t-interval (the interval the paired comparisons use) and every seed's run as a small point
    on it. Methods are nudged sideways by a constant factor (the x axis is logarithmic), so
    neither their intervals nor their points hide each other."""
    methods = [m for m in palette if m in set(runs["method"])]
    for i, method in enumerate(methods):
        rows = runs[runs["method"] == method].dropna(subset=[y])
        if rows.empty:
            continue
        nudge = 1 + 0.04 * (i - (len(methods) - 1) / 2)
        per_x = rows.groupby(x)[y]
        means = per_x.mean()
        low, high = zip(*(t_interval(v) for _, v in per_x))
        xs = means.index.astype(float) * nudge
        ax.errorbar(xs, means.values, yerr=[means.values - low, [h - m for h, m in zip(high, means.values)]],
                    fmt="o-" if line else "o", color=palette[method], ms=6, mec="white", capsize=3, lw=1.5,
                    zorder=zorder)
        ax.plot(rows[x].astype(float) * nudge, rows[y], "o", color=palette[method], ms=4, alpha=0.6, mew=0,
                zorder=zorder + 1)


def _label_count_axis(ax, counts) -> None:
    """A log x axis ticked at the label counts, with room either side of them (one count alone
    would leave no axis to nudge the methods apart on)."""
    counts = sorted({int(c) for c in counts})
    ax.set_xscale("log")
    ax.set_xlim(counts[0] / 1.35, counts[-1] * 1.35)
    ax.set_xticks(counts, labels=map(str, counts))
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())


def error_vs_labels(runs: pd.DataFrame, refs: pd.DataFrame, stem: Path) -> list[Path]:
    """Test error vs number of labels per dataset: one line per method (band: the 95 %
    t-interval of the mean over seeds, the interval the paired comparisons use), every seed's
    run as a small point beside it, published test errors as black markers with their std."""
    sns.set_theme(style="whitegrid", context="notebook")
    datasets = sorted(runs["dataset"].unique())
    methods = sorted(runs["method"].unique())
    palette = dict(zip(methods, sns.color_palette("colorblind", len(methods))))
    published = error_references(refs)
    published = published[published["ours"] != ""]  # only methods comparable to one of ours
    markers = ["o", "s", "D", "^", "v", "P", "X", "*"]
    pub_methods = sorted(published["method"].unique())
    marker_of = {m: markers[i % len(markers)] for i, m in enumerate(pub_methods)}
    fig, axes = plt.subplots(1, len(datasets), figsize=(5.2 * len(datasets), 4.2), squeeze=False)
    diverged = runs["diverged"].fillna(False).astype(bool) if "diverged" in runs else pd.Series(False, index=runs.index)
    for ax, dataset in zip(axes[0], datasets):
        ours = runs[(runs["dataset"] == dataset) & ~diverged]
        failed = runs[(runs["dataset"] == dataset) & diverged]
        if len(failed):  # shown where they ended, never part of a mean or band
            ax.plot(failed["n_labels"].astype(float), failed["test_error_pct"], "x", color="red", ms=8, mew=2, zorder=6)
        means_with_seeds(ax, ours, "test_error_pct", palette, zorder=3)  # ours above published markers
        pub = published[published["dataset"] == published_dataset(dataset)]
        for name, rows in pub.groupby("method"):
            ax.errorbar(rows["n_labels"].astype(float), rows["value"], yerr=rows["std"].fillna(0),
                        fmt=marker_of[name], color="black", mfc="none", ms=6, capsize=3, lw=0.8, zorder=2)
        _label_count_axis(ax, [*runs.loc[runs["dataset"] == dataset, "n_labels"], *pub["n_labels"]])
        ax.set_yscale("log")  # errors from ~1 % to ~30 % on one axis
        ax.yaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel("labelled training images (log scale)")
        ax.set_ylabel("test error (%, log scale)")
        ax.set_title(_title(dataset) + (" — published: CIFAR-10" if dataset == "cifar10_jpeg" else ""))
    handles = [plt.Line2D([], [], color=palette[m], marker="o", label=f"ours: {m}") for m in methods]
    shown = sorted(set(published[published["dataset"].isin([published_dataset(d) for d in datasets])]["method"]))
    handles += [plt.Line2D([], [], color="black", mfc="white", marker=marker_of[m], ls="none",
                           label=f"published: {m}") for m in shown]
    if diverged.any():
        handles.append(plt.Line2D([], [], color="red", marker="x", ls="none", mew=2,
                                  label=f"diverged run ({int(diverged.sum())}, not in means)"))
    handles.append(plt.Line2D([], [], color="grey", marker="o", ms=3.5, ls="none", alpha=0.6, label="one seed's run"))
    fig.legend(handles=handles, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    fig.suptitle("Test error vs number of labels (large marker: mean; bar: 95 % t-interval over seeds; "
                 "small points: seeds)")
    fig.tight_layout()
    return save(fig, stem)


def read_histories(runs: pd.DataFrame) -> pd.DataFrame:
    """Every run's history.csv (beside its metrics.json) with the run's identity columns."""
    frames = []
    for r in runs.itertuples(index=False):
        path = Path(r.metrics_file).with_name("history.csv")
        h = pd.read_csv(path)
        h["dataset"], h["n_labels"], h["method"], h["seed"] = r.dataset, r.n_labels, r.method, r.seed
        frames.append(h)
    out = pd.concat(frames, ignore_index=True)
    out["run"] = [f"{d}/n{n}/{m}/seed{s}" for d, n, m, s in
                  zip(out["dataset"], out["n_labels"], out["method"], out["seed"])]
    out["val_error_pct"] = 100.0 * (1.0 - out["val_acc"])
    out["setting"] = [f"{_title(d)}, {n} labels" for d, n in zip(out["dataset"], out["n_labels"])]
    return out


def validation_curves(histories: pd.DataFrame, stem: Path) -> list[Path]:
    """Validation error of the EMA weights vs training step, per setting and method."""
    sns.set_theme(style="whitegrid", context="notebook")
    g = sns.relplot(data=histories, x="step", y="val_error_pct", hue="method", col="setting",
                    col_wrap=min(4, histories["setting"].nunique()), kind="line", errorbar="sd",
                    height=3.2, aspect=1.2, facet_kws={"sharex": False, "sharey": False},
                    palette="colorblind")
    g.set_axis_labels("training step", "validation error (%)")
    g.set_titles("{col_name}")
    g.figure.suptitle("Validation error during training (EMA weights; band: ± std over seeds)", y=1.02)
    return save(g.figure, stem)


def loss_curves(histories: pd.DataFrame, stem: Path) -> list[Path]:
    """Every logged loss vs step (mean over the logging interval), per setting and method."""
    sns.set_theme(style="whitegrid", context="notebook")
    losses = [c for c in histories.columns if c.startswith("loss_")]
    long = histories.melt(id_vars=["step", "setting", "method", "seed"], value_vars=losses,
                          var_name="loss", value_name="value").dropna(subset=["value"])
    long["curve"] = long["method"] + ": " + long["loss"]
    long["value"] = long["value"].clip(lower=1e-6)  # log axis; losses are ≥ 0
    g = sns.relplot(data=long, x="step", y="value", hue="curve", col="setting",
                    col_wrap=min(4, long["setting"].nunique()), kind="line", errorbar=("pi", 100),
                    height=3.2, aspect=1.2, facet_kws={"sharex": False, "sharey": False},
                    palette="tab10")
    for ax in g.axes.flat:
        ax.set_yscale("log")
    g.set_axis_labels("training step", "loss (nats, log scale)")
    g.set_titles("{col_name}")
    g.figure.suptitle("Training losses (mean over seeds; band: min–max over seeds)", y=1.02)
    return save(g.figure, stem)


# -- generation ------------------------------------------------------------------------------
METHOD_ORDER = ["gan", "cgan_labeled", "cgan_pseudo", "ssl_cgan", "cgan_full"]  # fewest labels used → all


def _in_method_order(methods) -> list[str]:
    present = set(methods)
    return [m for m in METHOD_ORDER if m in present] + sorted(present - set(METHOD_ORDER))


def fid_vs_labels(gen_runs: pd.DataFrame, stem: Path) -> list[Path]:
    """Domain FID (and Inception FID where computed) vs number of labels per method (95 %
    t-interval of the mean over seeds, every seed's run as a point beside it); with
    several label counts also class-consistency, and the methods whose training set does not
    depend on the label count (`gan`, `cgan_full`: LABEL_COUNT_FREE) as horizontal references
    (dashed mean, band ± std over their seeds) rather than as points on a curve."""
    sns.set_theme(style="whitegrid", context="notebook")
    fids = ["fid_domain"] + (["fid_inception"] if gen_runs["fid_inception"].notna().any() else [])
    if gen_runs.groupby("dataset")["n_labels"].nunique().max() == 1:
        long = gen_runs.melt(id_vars=["dataset", "n_labels", "method", "seed"], value_vars=fids,
                             var_name="metric", value_name="FID").dropna(subset=["FID"])
        # one label count per dataset: a line "vs labels" would be single points; compare methods
        long["panel"] = [f"{_title(d)} — {GENERATION[m].label}, {n} labels"
                         for d, m, n in zip(long["dataset"], long["metric"], long["n_labels"])]
        order = _in_method_order(long["method"])
        g = sns.catplot(data=long, x="method", y="FID", hue="method", col="panel", kind="bar",
                        order=order, hue_order=order, errorbar=t_interval, capsize=0.2, height=3.6, aspect=1.3,
                        palette="colorblind", sharey=False, legend=False, alpha=0.7)
        g.map_dataframe(sns.stripplot, x="method", y="FID", order=order, color="black", size=3.5,
                        jitter=False, alpha=0.7)  # every seed; no jitter: a re-made figure is the same file
        g.set_axis_labels("generation method", "FID (lower is better)")
        for ax in g.axes.flat:
            ax.tick_params(axis="x", rotation=30)
        g.set_titles("{col_name}")
        g.figure.suptitle("Sample quality per method (bar: mean, whisker: 95 % t-interval over seeds, "
                          "points: seeds)", y=1.03)
        return save(g.figure, stem)
    from .generation.labels import LABEL_COUNT_FREE  # here: that module brings torch

    metrics = fids + ["class_consistency_pct"]
    methods = _in_method_order(gen_runs["method"])
    palette = dict(zip(methods, sns.color_palette("colorblind", len(methods))))
    reference = set(gen_runs.loc[gen_runs["label_source"].isin(LABEL_COUNT_FREE), "method"])
    datasets = sorted(gen_runs["dataset"].unique())
    fig, axes = plt.subplots(len(datasets), len(metrics), figsize=(4.6 * len(metrics), 3.8 * len(datasets)),
                             squeeze=False)
    for row, dataset in zip(axes, datasets):
        ours = gen_runs[gen_runs["dataset"] == dataset]
        free = ours["label_source"].isin(LABEL_COUNT_FREE)
        for ax, metric in zip(row, metrics):
            m = GENERATION[metric]
            ax.set_title(f"{_title(dataset)} — {m.label}")
            if ours[metric].isna().all():  # e.g. Inception FID not requested for this dataset
                ax.text(0.5, 0.5, f"{m.label}: {m.missing}", ha="center", va="center", transform=ax.transAxes)
                ax.set_xticks([])
                ax.set_yticks([])
                continue
            means_with_seeds(ax, ours[~free], metric, palette)
            for method, runs in ours[free].dropna(subset=[metric]).groupby("method"):
                mean, (low, high) = runs[metric].mean(), t_interval(runs[metric])
                ax.axhline(mean, color=palette[method], ls="--", lw=1.5)
                if high > low:
                    ax.axhspan(low, high, color=palette[method], alpha=0.12, lw=0)
            means_with_seeds(ax, ours[free], metric, palette, line=False)  # at the label count they ran at
            counts = sorted(ours["n_labels"].unique())
            _label_count_axis(ax, counts)
            ax.set_xlabel("labelled training images (log scale)")
            ax.set_ylabel(f"{m.label} ({m.better} is better)")
    handles = [plt.Line2D([], [], color=palette[m], ls="--" if m in reference else "-",
                          marker=None if m in reference else "o",
                          label=f"{m} (any label count)" if m in reference else m) for m in methods]
    handles.append(plt.Line2D([], [], color="grey", marker="o", ms=3.5, ls="none", alpha=0.6, label="one seed's run"))
    fig.legend(handles=handles, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    fig.suptitle("Sample quality vs number of labels (large marker: mean; bar: 95 % t-interval over seeds; small "
                 "points: seeds)\ndashed line and band: mean and interval of the methods whose training set does not "
                 "depend on the label count")
    fig.tight_layout()
    return save(fig, stem)


def class_consistency_heatmap(per_class: pd.DataFrame, stem: Path) -> list[Path]:
    """Per-class class-consistency (%, mean over seeds): rows = methods, columns = classes."""
    sns.set_theme(style="white", context="notebook")
    if per_class.empty:  # only unconditional runs: nothing was asked of any class
        fig, ax = plt.subplots(figsize=(6, 1.5))
        ax.axis("off")
        ax.text(0.5, 0.5, "no class-conditional generation runs", ha="center", va="center")
        return save(fig, stem)
    settings = sorted(per_class.groupby(["dataset", "n_labels"]).groups)
    fig, axes = plt.subplots(len(settings), 1, figsize=(10, 2.2 + 0.45 * per_class["method"].nunique() * len(settings)),
                             squeeze=False)
    for ax, (dataset, n) in zip(axes[:, 0], settings):
        sub = per_class[(per_class["dataset"] == dataset) & (per_class["n_labels"] == n)]
        table = sub.pivot_table(index="method", columns="class", values="class_consistency_pct",
                                aggfunc="mean", sort=False)
        sns.heatmap(table, annot=True, fmt=".0f", vmin=0, vmax=100, cmap="viridis", ax=ax,
                    cbar_kws={"label": GENERATION["class_consistency_pct"].label})
        ax.set_title(f"{_title(dataset)}, {n} labels: domain classifier agrees with the requested class (%)")
        ax.set_xlabel("requested class")
        ax.set_ylabel("method")
    fig.tight_layout()
    return save(fig, stem)


def sample_grids(gen_runs: pd.DataFrame, stem: Path, seed: int = 0) -> list[Path]:
    """Each method's sample grid (rows = classes) side by side, per dataset and labels."""
    from PIL import Image

    runs = gen_runs[gen_runs["seed"] == seed]
    settings = sorted(runs.groupby(["dataset", "n_labels"]).groups)
    methods = _in_method_order(runs["method"])
    fig, axes = plt.subplots(len(settings), len(methods), figsize=(3.2 * len(methods), 3.8 * len(settings)),
                             squeeze=False)
    for row, (dataset, n) in enumerate(settings):
        for col, method in enumerate(methods):
            ax = axes[row, col]
            ax.axis("off")
            match = runs[(runs["dataset"] == dataset) & (runs["n_labels"] == n) & (runs["method"] == method)]
            if match.empty:
                continue
            png = Path(match.iloc[0]["metrics_file"]).with_name("samples.png")
            ax.imshow(Image.open(png), cmap="gray")
            ax.set_title(f"{method}\n{_title(dataset)}, {n} labels", fontsize=10)
    fig.suptitle(f"Samples (seed {seed}); rows = classes 0–9, columns share z (gan: unconditional)")
    fig.tight_layout(h_pad=2.0)
    return save(fig, stem)
