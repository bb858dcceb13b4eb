"""References table, paper-vs-ours tables and the report built from synthetic runs."""

import json

import pandas as pd
import pytest

from semigan.aggregate import aggregate
from semigan.references import ReferenceError, load_references
from semigan.tables import paper_vs_ours, paper_vs_ours_markdown, summary_latex


def _ref_row(**kw):
    row = {"key": "x2016_mnist_100", "method": "Improved-GAN (feature matching)", "ours": "ssl_gan",
           "dataset": "mnist", "n_labels": 100, "metric": "test_error_pct", "value": 0.93,
           "std": 0.065, "unit": "%", "source": "Salimans et al. 2016", "location": "Table 1",
           "url": "https://arxiv.org/abs/1606.03498", "protocol": "10 subsets", "note": ""}
    row.update(kw)
    return row


def _write_refs(tmp_path, rows):
    path = tmp_path / "published.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_every_reference_row_has_a_source(repo):
    refs = load_references(repo / "references" / "published.csv")  # validates every row
    assert len(refs) >= 20
    for col in ("source", "location", "url", "protocol"):
        assert refs[col].astype(str).str.strip().ne("").all(), col
    fm = refs[(refs.ours == "ssl_gan") & (refs.dataset == "mnist") & (refs.n_labels == 100)
              & refs.method.str.contains("Improved")]
    assert fm.value.tolist() == [pytest.approx(0.93)]


def test_reference_without_source_is_named(tmp_path):
    path = _write_refs(tmp_path, [_ref_row(), _ref_row(key="nosrc", source="")])
    with pytest.raises(ReferenceError, match=r"published.csv:3 \(nosrc\): empty \['source'\]"):
        load_references(path)


def test_reference_unknown_metric_and_duplicate_key(tmp_path):
    path = _write_refs(tmp_path, [_ref_row(), _ref_row(metric="accuracy")])
    with pytest.raises(ReferenceError, match=r"metric 'accuracy'.*\n.*duplicate keys \['x2016_mnist_100'\]"):
        load_references(path)


def _runs(tmp_path, dataset="mnist"):
    paths = []
    for method, errs in {"ssl_gan": [1.0, 1.2, 1.4], "supervised": [20.0, 22.0, 24.0]}.items():
        for seed, err in enumerate(errs):
            d = tmp_path / "runs" / dataset / "n100" / method / f"seed{seed}"
            d.mkdir(parents=True)
            (d / "metrics.json").write_text(json.dumps({
                "run": f"{dataset}/n100/{method}/seed{seed}", "profile": "cpu", "dataset": dataset,
                "n_labels": 100, "method": method, "seed": seed, "test_error_pct": err,
                "test_accuracy": 1 - err / 100, "train_seconds": 60.0, "steps_per_second": 10.0,
                "dataset_note": "a lossy copy" if dataset == "cifar10_jpeg" else "",
                "provenance": {"train": {"git": {"commit": "abc123"}, "device": {"device": "cpu"}}}}))
            steps = [500, 1000, 1500]
            pd.DataFrame({"step": steps, "loss_lab": [1.0, 0.5, 0.2], "val_acc": [0.8, 0.9, 0.95],
                          **({"loss_gen": [0.3, 0.4, 0.5]} if method == "ssl_gan" else {})}
                         ).to_csv(d / "history.csv", index=False)
            paths.append(d / "metrics.json")
    return paths


def test_paper_vs_ours_deltas_and_protocol_notes(tmp_path):
    summary = aggregate(_runs(tmp_path, "cifar10_jpeg"), tmp_path / "r.csv", tmp_path / "s.csv")
    refs = load_references(_write_refs(tmp_path, [
        _ref_row(), _ref_row(key="c", dataset="cifar10", n_labels=100, value=18.63, std=2.32),
        _ref_row(key="s", dataset="cifar10", n_labels=100, ours="supervised", value=30.0, std=None)]))
    table = paper_vs_ours(summary, refs)
    assert sorted(table.method) == ["ssl_gan", "supervised"]  # MNIST row has no run of ours
    gan = table[table.method == "ssl_gan"].iloc[0]
    assert gan.delta == pytest.approx(1.2 - 18.63) and gan.n_seeds == 3
    assert "JPEG copy" in gan.protocol_differences
    md = paper_vs_ours_markdown(table)
    assert "| cifar10_jpeg | 100 | ssl_gan (3) | 1.20 ± 0.20 |" in md and "-17.43" in md


def test_summary_latex_is_booktabs_and_escaped(tmp_path):
    summary = aggregate(_runs(tmp_path), tmp_path / "r.csv", tmp_path / "s.csv")
    tex = summary_latex(summary)
    assert r"\toprule" in tex and r"\bottomrule" in tex
    assert r"ssl\_gan & 3 & 1.20 $\pm$ 0.20 \\" in tex and r"Test error (\%)" in tex


def test_cli_builds_figures_and_report(tmp_path, repo):
    from semigan.cli import main

    aggregate(_runs(tmp_path), tmp_path / "runs.csv", tmp_path / "summary.csv",
              summary_md=tmp_path / "summary.md")
    refs = str(repo / "references" / "published.csv")
    t = tmp_path
    assert main(["tables", "--summary", str(t / "summary.csv"), "--references", refs,
                 "--summary-tex", str(t / "s.tex"), "--paper-csv", str(t / "p.csv"),
                 "--paper-md", str(t / "p.md"), "--paper-tex", str(t / "p.tex")]) == 0
    assert main(["figures", "--runs", str(t / "runs.csv"), "--references", refs,
                 "--out-dir", str(t / "fig")]) == 0
    names = ["error_vs_labels", "validation_curves", "loss_curves"]
    for name in names:
        for ext in ("png", "pdf"):
            assert (t / "fig" / f"{name}.{ext}").stat().st_size > 5000
    assert main(["report", "--profile", "cpu", "--runs", str(t / "runs.csv"),
                 "--summary-md", str(t / "summary.md"), "--paper-md", str(t / "p.md"),
                 "--figures", *[str(t / "fig" / f"{n}.png") for n in names],
                 "--captions", "A", "B", "C", "--out", str(t / "report.md")]) == 0
    page = (t / "report.md").read_text()
    assert "![A](fig/error_vs_labels.png)" in page and "| cpu | mnist | 100 | – | ssl_gan | 3 | 1.20 ± 0.20 | – |" in page
    assert "6 runs predate code fingerprints" in page
    assert "Improved-GAN" in page and "abc123" in page  # published row matched; provenance


def test_report_flags_runs_trained_with_other_code():
    """Issue 14: each run records a fingerprint of its code; the report names runs whose
    fingerprint is not the current code's (they are not re-run automatically)."""
    import pandas as pd

    from semigan.provenance import code_fingerprint
    from semigan.report import code_status

    current = code_fingerprint()
    runs = pd.DataFrame({"code_sha256": [current, "0" * 64, None],
                         "metrics_file": [f"results/cpu/runs/mnist/n100/ssl_gan/seed{s}/metrics.json" for s in range(3)]})
    lines = code_status(runs, current)
    assert "1 runs were trained with it" in lines[0]
    assert lines[1].startswith("- **1 runs were trained with other code**") and "`mnist/n100/ssl_gan/seed1`" in lines[1]
    assert lines[2] == "- 1 runs predate code fingerprints (their git commit is above)."


def test_code_fingerprint_changes_with_the_code(tmp_path):
    from semigan.provenance import code_fingerprint

    (tmp_path / "a.py").write_text("x = 1\n")
    before = code_fingerprint(tmp_path)
    (tmp_path / "a.py").write_text("x = 2\n")
    assert code_fingerprint(tmp_path) != before
