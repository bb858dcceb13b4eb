"""`semigan` command line: the subcommands the Snakemake rules call (and users can too)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _cmd_download(a) -> None:
    from .data.store import prepare_dataset

    meta = prepare_dataset(a.dataset, Path(a.out), Path(a.downloads), a.mirror, a.imagefolder, a.fixture)
    print(json.dumps({k: meta[k] for k in ("dataset", "n_train", "n_test", "image_shape")}))


def _cmd_split(a) -> None:
    from .data.store import load_images
    from .splits import make_split, write_split

    labels = load_images(Path(a.data), "train").labels
    split = make_split(labels, a.n_labels, a.n_val, a.seed)
    meta = write_split(split, Path(a.out), {"dataset": Path(a.data).name, "n_labels": a.n_labels,
                                            "n_val": a.n_val, "seed": a.seed})
    print(json.dumps(meta))


def _interrupt(a, spec) -> bool:
    """The resume check: asked for, or implied by a preflight's run (its profile's name says
    so; the train rules' commands stay those of real runs, so no real run is re-run)."""
    from .config import is_preflight

    return a.interrupt_after_checkpoint or is_preflight(spec.profile)


def _cmd_train(a) -> None:
    from .training.loop import RunSpec, train_run

    spec = RunSpec.from_dict(json.loads(a.spec))
    train_run(spec, Path(a.data), Path(a.split), Path(a.model), Path(a.checkpoint),
              Path(a.history), threads=a.threads, interrupt=_interrupt(a, spec))


def _cmd_preflight_table(a) -> None:
    from .preflight import write_preflight_table

    rows = write_preflight_table([Path(p) for p in a.metrics], json.loads(a.plan), a.profile,
                                 Path(a.out_md), Path(a.out_json))
    print(f"{a.out_md}: {len(rows)} cells")


def _require_model(path: str) -> Path:
    """The model an evaluation needs; a clear error when this machine does not have it."""
    if not Path(path).exists():
        from .errors import UsageError

        raise UsageError(f"no model at {path}: this run's committed result was made elsewhere; "
                         "delete its metrics.json to retrain and re-evaluate it here")
    return Path(path)


def _cmd_evaluate(a) -> None:
    from .divergence import DivergenceRule
    from .evaluate import evaluate_run, write_metrics

    rule = DivergenceRule(a.chance_factor, a.loss_growth)
    metrics = evaluate_run(_require_model(a.model), Path(a.data), Path(a.split) if a.split else None, rule)
    write_metrics(metrics, Path(a.out))
    final = metrics["final"]["test_error_pct"]
    print(f"{metrics['run']}: test error {metrics['test_error_pct']:.2f}% (selected on validation), "
          f"{final:.2f}% (final EMA)")
    if metrics["diverged"]["value"]:
        print(f"{metrics['run']}: DIVERGED: {'; '.join(metrics['diverged']['reasons'])}", file=sys.stderr)


def _cmd_aggregate(a) -> None:
    from .aggregate import aggregate

    summary = aggregate([Path(p) for p in a.metrics], Path(a.runs_csv), Path(a.summary_csv),
                        Path(a.metrics_json) if a.metrics_json else None,
                        Path(a.summary_md) if a.summary_md else None)
    cols = ["dataset", "n_labels", "method", "n_seeds", "test_error_pct_text"]
    print(summary[cols].to_string(index=False))


def _cmd_tables(a) -> None:
    import pandas as pd

    from .atomic import atomic_path
    from .references import load_references
    from .tables import paper_vs_ours, paper_vs_ours_latex, paper_vs_ours_markdown, summary_latex

    summary = pd.read_csv(a.summary)
    table = paper_vs_ours(summary, load_references(Path(a.references)))
    outputs = {a.summary_tex: summary_latex(summary), a.paper_md: paper_vs_ours_markdown(table),
               a.paper_tex: paper_vs_ours_latex(table)}
    for out, text in outputs.items():
        with atomic_path(Path(out)) as tmp:
            tmp.write_text(text)
    with atomic_path(Path(a.paper_csv)) as tmp:
        table.to_csv(tmp, index=False, float_format="%.6g")
    print(f"{len(table)} published numbers matched by runs of ours")


def _cmd_figures(a) -> None:
    import pandas as pd

    from . import figures
    from .atomic import atomic_path
    from .references import load_references

    runs = pd.read_csv(a.runs)
    out = Path(a.out_dir)
    figures.error_vs_labels(runs, load_references(Path(a.references)), out / "error_vs_labels")
    histories = figures.read_histories(runs)
    if a.histories_csv:  # long table of every run's curve, for `dvc plots show`
        with atomic_path(Path(a.histories_csv)) as tmp:
            histories.to_csv(tmp, index=False, float_format="%.6g")
    figures.validation_curves(histories, out / "validation_curves")
    figures.loss_curves(histories, out / "loss_curves")
    print(f"figures in {out}")


def _cmd_report(a) -> None:
    import pandas as pd

    from .report import build_report

    figs = dict(zip(a.captions, [Path(p) for p in a.figures], strict=True))
    build_report(a.profile, Path(a.runs), Path(a.summary_md), Path(a.paper_md), figs, Path(a.out),
                 Path(a.generation_md) if a.generation_md else None,
                 Path(a.findings_md) if a.findings_md else None,
                 Path(a.comparisons_md) if a.comparisons_md else None)
    print(f"{a.out}: {len(pd.read_csv(a.runs))} runs")


def _cmd_compare(a) -> None:
    import pandas as pd

    from .atomic import atomic_path
    from .claims import findings, findings_markdown
    from .compare import compare_tables, comparisons_markdown

    from .aggregate import MetricsError

    for path in filter(None, (a.runs, a.generation_runs)):
        if not Path(path).is_file():
            raise MetricsError(f"{path}: no such runs table; run `semigan aggregate` / `generation-tables` first")
    runs = pd.read_csv(a.runs)
    generation = pd.read_csv(a.generation_runs) if a.generation_runs else None
    table = compare_tables(runs, generation)
    found, not_run = findings(table)
    with atomic_path(Path(a.out_csv)) as tmp:
        table.to_csv(tmp, index=False, float_format="%.6g")
    with atomic_path(Path(a.out_md)) as tmp:
        tmp.write_text(comparisons_markdown(table))
    with atomic_path(Path(a.findings_md)) as tmp:
        tmp.write_text(findings_markdown(found, not_run))
    held = int(found["holds"].sum()) if len(found) else 0
    print(f"{len(table)} paired comparisons; {held} of {len(found)} claims hold at 95 % "
          f"({len(not_run)} not run in this grid)")


def _cmd_paper_target(a) -> None:
    from . import figures
    from .aggregate import compute_markdown, runs_table, summary_markdown, summary_table
    from .atomic import atomic_path
    from .references import load_references
    from .tables import paper_vs_ours, paper_vs_ours_markdown

    runs = runs_table([Path(p) for p in a.metrics])
    summary = summary_table(runs)
    refs = load_references(Path(a.references))
    table = paper_vs_ours(summary, refs)
    stem = Path(a.out_stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(stem.with_suffix(".csv")) as tmp:
        summary.to_csv(tmp, index=False, float_format="%.6g")
    figures.error_vs_labels(runs, refs, stem)
    page = "\n".join([f"# {a.name}", "", a.description, "", summary_markdown(summary), compute_markdown(runs),
                      "## Published beside ours", "", paper_vs_ours_markdown(table),
                      f"![{a.name}]({stem.name}.png)", ""])
    with atomic_path(stem.with_suffix(".md")) as tmp:
        tmp.write_text(page)
    print(f"{stem}.md: {len(runs)} runs, {len(table)} published numbers matched")


def _cmd_train_extractor(a) -> None:
    from .fidelity.extractor import build_domain_extractor, recorded_sha256

    expect = a.expect_sha256 or (recorded_sha256(Path(a.info)) if a.expect_recorded else None)
    info = build_domain_extractor(Path(a.data), Path(a.out), Path(a.info), a.epochs, a.batch_size,
                                  a.lr, a.seed, a.threads, a.max_images, a.width, expect,
                                  Path(a.aside) if a.aside else None)
    print(f"{info['dataset']}: domain extractor test accuracy {100 * info['test_accuracy']:.2f}%")


def _cmd_train_gan(a) -> None:
    from .generation.train import GenSpec, train_gan_run

    spec = GenSpec.from_dict(json.loads(a.spec))
    train_gan_run(spec, Path(a.data), Path(a.split), Path(a.model), Path(a.checkpoint), Path(a.history),
                  Path(a.classifier) if a.classifier else None, a.threads, interrupt=_interrupt(a, spec))


def _cmd_evaluate_gan(a) -> None:
    from .generation.evaluate import evaluate_gan_run, write_json

    if a.threads:
        import torch

        torch.set_num_threads(a.threads)
    from .fidelity.metrics import InceptionPass

    inception_pass = InceptionPass(a.inception_precision, a.inception_compile)  # a bad value fails before any work
    m = evaluate_gan_run(_require_model(a.model), Path(a.data), Path(a.extractor), Path(a.cache), a.n_samples,
                         a.inception_weights, not a.no_download, Path(a.grid), inception=not a.no_inception,
                         inception_pass=inception_pass)
    write_json(m, Path(a.out))
    cc = m["class_consistency_pct"]
    print(f"{m['run']}: domain FID {m['fid_domain']:.3f}, class-consistency "
          f"{'n/a' if cc is None else f'{cc:.2f}%'}, inception "
          f"{'computed' if m['inception']['computed'] else 'not computed: ' + m['inception']['reason']}")


def _cmd_sample(a) -> None:
    import torch

    from .errors import UsageError
    from .generation.evaluate import sample_grid, save_png
    from .generation.train import generate, load_generator

    model = Path(a.run)
    if not model.is_file():
        model = Path("resources/generation") / a.profile / a.run / "model.pt"
    if not model.is_file():
        raise UsageError(f"{a.run!r}: neither a model file nor a run <dataset>/n<N>/<method>/seed<S> "
                                f"of profile {a.profile!r} ({model} does not exist)")
    g, blob = load_generator(model)
    if a.cls is None:
        image = sample_grid(g, blob["n_classes"], a.n, a.seed)
    else:
        if not g.n_classes:
            raise UsageError(f"{a.run}: unconditional generator; --class is not available")
        if not 0 <= a.cls < g.n_classes:
            raise UsageError(f"--class {a.cls}: expected a class index 0..{g.n_classes - 1}")
        from torchvision.utils import make_grid

        image = make_grid(generate(g, torch.full((a.n,), a.cls), a.n, a.seed), nrow=min(a.n, 10),
                          padding=2, pad_value=255)
    save_png(image, Path(a.out))
    print(f"wrote {a.out}")


def _cmd_generation_tables(a) -> None:
    from . import figures
    from .aggregate import (generation_markdown, generation_metrics, generation_runs_markdown, generation_summary,
                            generation_tables)
    from .atomic import atomic_path

    runs, per_class = generation_tables([Path(p) for p in a.metrics])
    summary = generation_summary(runs)
    out = Path(a.out_dir)
    for df, name in ((runs, "generation_runs.csv"), (summary, "generation_summary.csv"),
                     (per_class, "generation_per_class.csv")):
        with atomic_path(out / name) as tmp:
            df.to_csv(tmp, index=False, float_format="%.6g")
    with atomic_path(out / "generation_summary.md") as tmp:
        tmp.write_text(generation_markdown(summary))
    with atomic_path(out / "generation_runs.md") as tmp:
        tmp.write_text(generation_runs_markdown(runs))
    with atomic_path(out / "generation_metrics.json") as tmp:
        tmp.write_text(json.dumps(generation_metrics(summary), indent=2) + "\n")
    figs = Path(a.figures_dir)
    figures.fid_vs_labels(runs, figs / "fid_vs_labels")
    figures.class_consistency_heatmap(per_class, figs / "class_consistency")
    figures.sample_grids(runs, figs / "sample_grids")
    print(summary[["dataset", "n_labels", "method", "n_seeds", "fid_domain_mean",
                   "class_consistency_pct_mean"]].to_string(index=False))


def _cmd_bench(a) -> None:
    from .bench import run_benchmark
    from .training.loop import RunSpec

    spec = RunSpec.from_dict(json.loads(a.spec))
    r = run_benchmark(spec, Path(a.data), Path(a.split), Path(a.out), Path(a.checkpoint),
                      threads=a.threads, target_error_pct=a.target,
                      stop_at_target=a.stop_at_target)
    print(f"{r['benchmark']}: {r['iterations_per_second']:.1f} it/s, "
          f"{r['target_test_error_pct']}% test error after {r['seconds_to_target']} s")


def _cmd_bench_metrics(a) -> None:
    from .fidelity.speed import metric_speed

    r = metric_speed(Path(a.model), Path(a.data), Path(a.extractor), a.n_samples, Path(a.out), a.threads,
                     a.inception_n, a.inception_weights, not a.no_download)
    print(f"{r['benchmark']}: {r['seconds_metrics_cold_cache']:.1f} s (empty reference cache), "
          f"{r['seconds_metrics_warm_cache']:.1f} s (cached); target {r['target_seconds']:.0f} s")
    inc = r.get("inception")
    if inc and inc["computed"] and inc["images_per_second"]:
        print(f"Inception ({inc['weights']['source']} weights): {inc['images_per_second']:.2f} images/s; "
              f"10k samples + 10k reference ≈ {inc['expected_seconds_10000_samples_plus_10000_reference'] / 60:.0f} min "
              f"(load average {r['load_average_1min']['before']:.1f} on {r['load_average_1min']['cpus']} cores)")
    elif inc:
        print(f"Inception: {inc.get('reason', 'timings too noisy to give a rate')}")


def _cmd_check(a) -> None:
    from .config import grid_cells, load_params, resolve

    overrides = {"profile": a.profile} if a.profile else {}
    effective = resolve(load_params(a.params, **overrides))
    print(f"params OK: profile {effective['profile']!r}, {len(grid_cells(effective))} runs")


def _cmd_show_spec(a) -> None:
    from .committed import stale_fields
    from .config import load_params, show_spec
    from .training.loop import RunSpec

    overrides = {"profile": a.profile} if a.profile else {}
    text, spec = show_spec(load_params(a.params, **overrides), a.run)
    print(text)
    committed = Path("results") / spec["profile"] / "runs" / RunSpec.from_dict(spec).name / "metrics.json"
    if committed.is_file():
        fields = stale_fields(committed, spec)
        print(f"# {committed}: " + ("computed with exactly these settings" if not fields
                                     else f"computed with other values of {', '.join(fields)}"))
    else:
        print(f"# no committed result at {committed}")


def _cmd_record_inputs(a) -> None:
    from .committed import write_input_record

    write_input_record(a.inputs, Path(a.out))


def _device_option(s: argparse.ArgumentParser) -> None:
    """Every command that computes takes the device the same way as $SEMIGAN_DEVICE (which
    it sets for the command, so training, pseudo-labelling, the extractor and torch-fidelity
    all see one choice)."""
    s.add_argument("--device", default=None,
                   help="cpu, cuda or cuda:<index> (default: $SEMIGAN_DEVICE, else the GPU if there is one)")


def _training_files(s: argparse.ArgumentParser) -> None:
    """What every training command reads and writes."""
    s.add_argument("--data", required=True)
    s.add_argument("--split", required=True)
    s.add_argument("--model", required=True)
    s.add_argument("--checkpoint", required=True)
    s.add_argument("--history", required=True)
    s.add_argument("--threads", type=int, default=None)
    s.add_argument("--interrupt-after-checkpoint", action="store_true",
                   help="stop after the first checkpoint and resume from it in a fresh trainer "
                        "(always in a preflight's runs)")
    _device_option(s)


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    p = argparse.ArgumentParser(prog="semigan", description=__doc__)
    p.add_argument("--version", action="version", version=f"semigan {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("download", help="fetch (verified) and decode a dataset")
    s.add_argument("dataset")
    s.add_argument("--out", required=True, help="folder for train.npz, test.npz, meta.json")
    s.add_argument("--downloads", required=True, help="cache of verified original files")
    s.add_argument("--mirror", default=None, help="local mirror folder, one sub-folder per dataset (default: $SEMIGAN_MIRROR, else the official URLs)")
    s.add_argument("--imagefolder", default=None, help="your own train|test/<class>/ images")
    s.add_argument("--fixture", action="store_true",
                   help="synthetic files in the official format instead of the data (the paper preflight)")
    s.set_defaults(func=_cmd_download)

    s = sub.add_parser("split", help="class-balanced labelled/validation/unlabelled split")
    s.add_argument("--data", required=True)
    s.add_argument("--n-labels", type=int, required=True)
    s.add_argument("--n-val", type=int, required=True)
    s.add_argument("--seed", type=int, required=True)
    s.add_argument("--out", required=True)
    s.set_defaults(func=_cmd_split)

    s = sub.add_parser("train", help="train one run (resumes from its checkpoint)")
    s.add_argument("--spec", required=True, help="the run's RunSpec as JSON")
    _training_files(s)
    s.set_defaults(func=_cmd_train)

    s = sub.add_parser("preflight-table", help="steps, s/step, peak memory and cost estimate of a preflight's cells")
    s.add_argument("metrics", nargs="+", help="the preflight's metrics.json files")
    s.add_argument("--plan", required=True,
                   help='JSON {"<kind>:<run>": {"steps": steps in the profile itself, "seeds": the seeds it stands for}}')
    s.add_argument("--profile", required=True)
    s.add_argument("--out-md", required=True)
    s.add_argument("--out-json", required=True)
    s.set_defaults(func=_cmd_preflight_table)

    s = sub.add_parser("evaluate", help="test-set metrics of a trained run")
    s.add_argument("--model", required=True)
    s.add_argument("--data", required=True)
    s.add_argument("--split", default=None, help="the run's split file (records its sizes for older runs)")
    s.add_argument("--chance-factor", type=float, default=1.5,
                   help="diverged if final validation accuracy ≤ this × 1/n_classes")
    s.add_argument("--loss-growth", type=float, default=100.0,
                   help="diverged if a training loss ends above this × its first logged value")
    s.add_argument("--out", required=True)
    _device_option(s)
    s.set_defaults(func=_cmd_evaluate)

    s = sub.add_parser("aggregate", help="metrics files → runs.csv and summary.csv")
    s.add_argument("metrics", nargs="+")
    s.add_argument("--runs-csv", required=True)
    s.add_argument("--summary-csv", required=True)
    s.add_argument("--metrics-json", default=None, help="summary as nested JSON (dvc metrics)")
    s.add_argument("--summary-md", default=None, help="summary as a Markdown table")
    s.set_defaults(func=_cmd_aggregate)

    s = sub.add_parser("tables", help="LaTeX summary and published-vs-ours tables")
    s.add_argument("--summary", required=True, help="summary.csv from aggregate")
    s.add_argument("--references", required=True, help="references/published.csv")
    s.add_argument("--summary-tex", required=True)
    s.add_argument("--paper-csv", required=True)
    s.add_argument("--paper-md", required=True)
    s.add_argument("--paper-tex", required=True)
    s.set_defaults(func=_cmd_tables)

    s = sub.add_parser("figures", help="seaborn figures (PNG + PDF) from runs.csv")
    s.add_argument("--runs", required=True, help="runs.csv from aggregate (histories beside metrics)")
    s.add_argument("--references", required=True)
    s.add_argument("--out-dir", required=True)
    s.add_argument("--histories-csv", default=None, help="also write every run's curve as one CSV")
    s.set_defaults(func=_cmd_figures)

    s = sub.add_parser("report", help="report.md from the tables and figures")
    s.add_argument("--profile", required=True)
    s.add_argument("--runs", required=True)
    s.add_argument("--summary-md", required=True)
    s.add_argument("--paper-md", required=True)
    s.add_argument("--figures", nargs="+", required=True, help="PNG files, in the page's order")
    s.add_argument("--captions", nargs="+", required=True, help="one caption per figure")
    s.add_argument("--generation-md", default=None, help="generation summary table (Markdown)")
    s.add_argument("--findings-md", default=None, help="findings.md from compare (the page's first section)")
    s.add_argument("--comparisons-md", default=None, help="comparisons.md from compare")
    s.add_argument("--out", required=True)
    s.set_defaults(func=_cmd_report)

    s = sub.add_parser("compare", help="paired comparisons of methods over seeds, and the findings table")
    s.add_argument("--runs", required=True, help="runs.csv from aggregate")
    s.add_argument("--generation-runs", default=None, help="generation_runs.csv from generation-tables")
    s.add_argument("--out-csv", required=True, help="comparisons.csv")
    s.add_argument("--out-md", required=True, help="comparisons.md")
    s.add_argument("--findings-md", required=True, help="findings.md: the suite's claims and their verdicts")
    s.set_defaults(func=_cmd_compare)

    s = sub.add_parser("train-extractor", help="domain classifier for FID/IS/KID/PR and class-consistency")
    s.add_argument("--data", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--info", required=True, help="JSON with its test accuracy, hash and provenance")
    s.add_argument("--max-images", type=int, default=None, help="train on the first N images only")
    s.add_argument("--width", type=int, default=32, help="channels of the first conv block (doubling per block)")
    s.add_argument("--epochs", type=int, default=2)
    s.add_argument("--batch-size", type=int, default=128)
    s.add_argument("--lr", type=float, default=1e-3)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--threads", type=int, default=None)
    s.add_argument("--expect-sha256", default=None,
                   help="fail (weights kept aside) unless the retrained weights have this hash: the committed record's")
    s.add_argument("--expect-recorded", action="store_true",
                   help="expect the hash of the record already at --info, if there is one (the workflow's setting)")
    s.add_argument("--aside", default=None,
                   help="folder for weights that differ from the expected ones (default: beside --out)")
    _device_option(s)
    s.set_defaults(func=_cmd_train_extractor)

    s = sub.add_parser("train-gan", help="train one generation run (resumes from its checkpoint)")
    s.add_argument("--spec", required=True, help="the run's GenSpec as JSON")
    s.add_argument("--classifier", default=None, help="model file of the classification run that pseudo-labels")
    _training_files(s)
    s.set_defaults(func=_cmd_train_gan)

    s = sub.add_parser("evaluate-gan", help="FID/IS/KID/PR (torch-fidelity), class-consistency, sample grid")
    s.add_argument("--model", required=True)
    s.add_argument("--data", required=True)
    s.add_argument("--extractor", required=True)
    s.add_argument("--cache", required=True, help="torch-fidelity cache of reference features")
    s.add_argument("--n-samples", type=int, default=10000)
    s.add_argument("--inception-weights", default=None, help="torch-fidelity inception-v3-compat weights file")
    s.add_argument("--no-download", action="store_true", help="never try to download Inception weights")
    s.add_argument("--no-inception", action="store_true",
                   help="skip the Inception metrics (the result says they were not requested)")
    s.add_argument("--inception-precision", default="fp32",
                   help="Inception features in fp32 (torch-fidelity's; default) or under bf16 autocast (faster, "
                        "moves FID: docs/benchmarks.md)")
    s.add_argument("--inception-compile", action="store_true",
                   help="run the Inception network through torch.compile (faster after ~1 min of compiling)")
    s.add_argument("--grid", required=True, help="PNG of samples, rows = classes")
    s.add_argument("--out", required=True)
    s.add_argument("--threads", type=int, default=None)
    _device_option(s)
    s.set_defaults(func=_cmd_evaluate_gan)

    s = sub.add_parser("sample", help="samples of a generation run as a PNG grid")
    s.add_argument("run", help="model file, or <dataset>/n<N>/<method>/seed<S> of --profile")
    s.add_argument("--profile", default="cpu")
    s.add_argument("--class", dest="cls", type=int, default=None, help="only this class (index)")
    s.add_argument("-n", type=int, default=10, help="samples (per class without --class)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("-o", "--out", required=True)
    _device_option(s)
    s.set_defaults(func=_cmd_sample)

    s = sub.add_parser("generation-tables", help="generation metrics → tables and figures")
    s.add_argument("metrics", nargs="+")
    s.add_argument("--out-dir", required=True, help="tables folder")
    s.add_argument("--figures-dir", required=True)
    s.set_defaults(func=_cmd_generation_tables)

    s = sub.add_parser("paper-target", help="one paper table/figure from its runs' metrics")
    s.add_argument("name")
    s.add_argument("metrics", nargs="+")
    s.add_argument("--description", default="")
    s.add_argument("--references", required=True)
    s.add_argument("--out-stem", required=True, help="writes <stem>.md/.csv/.png/.pdf")
    s.set_defaults(func=_cmd_paper_target)

    s = sub.add_parser("bench", help="iterations/s and test error vs wall-clock → JSON")
    s.add_argument("--spec", required=True)
    s.add_argument("--data", required=True)
    s.add_argument("--split", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--threads", type=int, default=None)
    s.add_argument("--checkpoint", required=True, help="resume state (removed when done)")
    s.add_argument("--target", type=float, default=None, help="test error %% for time-to-target (none: the curve only)")
    s.add_argument("--stop-at-target", action="store_true",
                   help="end training once the target is reached (default: the whole schedule)")
    _device_option(s)
    s.set_defaults(func=_cmd_bench)

    s = sub.add_parser("bench-metrics", help="seconds for FID+IS+KID+PR of N generated images → JSON")
    s.add_argument("--model", required=True, help="a generation run's model file")
    s.add_argument("--data", required=True)
    s.add_argument("--extractor", required=True)
    s.add_argument("--n-samples", type=int, default=10000)
    s.add_argument("--out", required=True)
    s.add_argument("--threads", type=int, default=None)
    s.add_argument("--inception-n", type=int, default=0,
                   help="also time the Inception metrics on this many samples and reference images (0: no)")
    s.add_argument("--inception-weights", default=None, help="torch-fidelity inception-v3-compat weights file")
    s.add_argument("--no-download", action="store_true", help="never try to download Inception weights")
    _device_option(s)
    s.set_defaults(func=_cmd_bench_metrics)

    s = sub.add_parser("show-spec", help="a run's effective settings and the params.yaml layer that set each")
    s.add_argument("run", help="<dataset>/n<labels>/<method>/seed<seed>, e.g. mnist/n100/ssl_gan/seed0")
    s.add_argument("--params", default="params.yaml")
    s.add_argument("--profile", default=None)
    s.set_defaults(func=_cmd_show_spec)

    s = sub.add_parser("record-inputs", help="sha256 of a report step's inputs (its up-to-date record)")
    s.add_argument("inputs", nargs="+")
    s.add_argument("--out", required=True)
    s.set_defaults(func=_cmd_record_inputs)

    s = sub.add_parser("check-params", help="validate params.yaml for a profile")
    s.add_argument("--params", default="params.yaml")
    s.add_argument("--profile", default=None)
    s.set_defaults(func=_cmd_check)
    return p


def _choose_device(option: str | None) -> None:
    """--device, as $SEMIGAN_DEVICE for every part of the command; then this job's GPU slot on
    a node of several GPUs (`gpus.claim_gpu`, before CUDA starts); then a bad or absent
    device fails here, naming the value."""
    import os

    from .gpus import claim_gpu
    from .training.loop import DEVICE_ENV, pick_device

    previous = os.environ.get(DEVICE_ENV)
    if option:
        os.environ[DEVICE_ENV] = option
    try:
        claim_gpu(os.environ)
        if option:
            pick_device()
    except Exception:  # a rejected --device leaves the process's device setting as it was
        if previous is None:
            os.environ.pop(DEVICE_ENV, None)
        else:
            os.environ[DEVICE_ENV] = previous
        raise


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .aggregate import MetricsError
    from .config import ParamsError
    from .data.fetch import ChecksumError, DownloadError, MirrorError
    from .data.readers import CorruptFileError
    from .data.store import CacheError
    from .divergence import DivergenceError
    from .errors import UnknownNameError, UsageError
    from .references import ReferenceError

    try:
        if hasattr(args, "device"):  # a command that computes
            _choose_device(args.device)
        args.func(args)
    except (ParamsError, MetricsError, ChecksumError, MirrorError, DownloadError, CorruptFileError,
            UnknownNameError, ReferenceError, UsageError, DivergenceError, CacheError) as exc:
        print(f"semigan {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
