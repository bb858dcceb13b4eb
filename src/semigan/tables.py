"""Tables for papers: the summary as LaTeX (booktabs) and Markdown, and the published
numbers beside ours with the difference and the protocol differences spelled out."""

from __future__ import annotations

import pandas as pd

from .references import error_references

# What differs between a published protocol and ours, by dataset (shown beside each delta).
PROTOCOL_NOTES = {
    "cifar10_jpeg": "ours on the lossy JPEG copy of CIFAR-10, not the official release",
}
SELECTION_NOTE = "ours: one model fixed by validation accuracy (EMA weights), test set used once"


def _fmt(mean, std, digits: int = 2) -> str:
    if pd.isna(mean):
        return "–"
    return f"{mean:.{digits}f} ± {std:.{digits}f}" if pd.notna(std) else f"{mean:.{digits}f}"


def published_dataset(dataset: str) -> str:
    """The published dataset a dataset of ours is compared with (the JPEG copy → CIFAR-10)."""
    return "cifar10" if dataset == "cifar10_jpeg" else dataset


def paper_vs_ours(summary: pd.DataFrame, refs: pd.DataFrame) -> pd.DataFrame:
    """One row per published test error whose (dataset, labels, comparable method) we ran."""
    errs = error_references(refs)
    rows = []
    for s in summary.itertuples(index=False):
        match = errs[(errs["dataset"] == published_dataset(s.dataset))
                     & (errs["n_labels"] == s.n_labels) & (errs["ours"] == s.method)]
        for r in match.itertuples(index=False):
            notes = [n for n in (PROTOCOL_NOTES.get(s.dataset, ""), f"{s.profile} profile",
                                 f"{s.n_seeds} seed(s) vs published: {r.protocol}") if n]
            rows.append({
                "dataset": s.dataset, "n_labels": s.n_labels, "method": s.method,
                "profile": s.profile, "n_seeds": s.n_seeds,
                "ours_mean": s.test_error_pct_mean, "ours_std": s.test_error_pct_std,
                "published_method": r.method, "published_mean": float(r.value),
                "published_std": float(r.std) if pd.notna(r.std) else float("nan"),
                "delta": s.test_error_pct_mean - float(r.value),
                "source": f"{r.source}, {r.location}", "url": r.url,
                "protocol_differences": "; ".join(notes),
            })
    cols = ["dataset", "n_labels", "method", "profile", "n_seeds", "ours_mean", "ours_std",
            "published_method", "published_mean", "published_std", "delta", "source", "url",
            "protocol_differences"]
    return pd.DataFrame(rows, columns=cols)


def paper_vs_ours_markdown(table: pd.DataFrame) -> str:
    if table.empty:
        return "_No run of ours matches a published setting yet._\n"
    lines = ["| dataset | labels | ours (method, seeds) | ours test error % | published | published % | Δ (ours − published) | source |",
             "| --- | ---: | --- | ---: | --- | ---: | ---: | --- |"]
    for r in table.itertuples(index=False):
        lines.append(f"| {r.dataset} | {r.n_labels} | {r.method} ({r.n_seeds}) | "
                     f"{_fmt(r.ours_mean, r.ours_std)} | {r.published_method} | "
                     f"{_fmt(r.published_mean, r.published_std, 3)} | {r.delta:+.2f} | "
                     f"[{r.source}]({r.url}) |")
    notes = sorted(set(table["protocol_differences"]))
    lines += ["", "Protocol differences: " + SELECTION_NOTE + "."]
    lines += [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


def _tex_escape(text: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"),
                 ("#", r"\#"), ("±", r"$\pm$"), ("–", "--"), ("Δ", r"$\Delta$"), ("−", "-")):
        text = text.replace(a, b)
    return text


def booktabs(header: list[str], rows: list[list[str]], align: str, caption: str, label: str) -> str:
    """A LaTeX table with \\toprule/\\midrule/\\bottomrule (needs \\usepackage{booktabs})."""
    body = [" & ".join(_tex_escape(str(c)) for c in row) + r" \\" for row in rows]
    return "\n".join([
        r"\begin{table}[t]", r"\centering", rf"\caption{{{_tex_escape(caption)}}}", rf"\label{{{label}}}",
        rf"\begin{{tabular}}{{{align}}}", r"\toprule",
        " & ".join(_tex_escape(h) for h in header) + r" \\", r"\midrule", *body,
        r"\bottomrule", r"\end{tabular}", r"\end{table}", ""])


def summary_latex(summary: pd.DataFrame) -> str:
    rows = [[r.dataset, r.n_labels, r.method, r.n_seeds, _fmt(r.test_error_pct_mean, r.test_error_pct_std)]
            for r in summary.itertuples(index=False)]
    profiles = ", ".join(sorted(set(summary["profile"])))
    return booktabs(["Dataset", "Labels", "Method", "Seeds", "Test error (%)"], rows, "lrlrr",
                    f"Test error, mean ± std over seeds ({profiles} profile).", "tab:semigan-summary")


def paper_vs_ours_latex(table: pd.DataFrame) -> str:
    rows = [[r.dataset, r.n_labels, r.published_method, _fmt(r.published_mean, r.published_std, 3),
             f"{r.method} ({r.n_seeds})", _fmt(r.ours_mean, r.ours_std), f"{r.delta:+.2f}"]
            for r in table.itertuples(index=False)]
    return booktabs(["Dataset", "Labels", "Published", "Published (%)", "Ours (seeds)", "Ours (%)", "Δ"],
                    rows, "lrlrlrr", "Published test errors beside ours. " + SELECTION_NOTE + ".",
                    "tab:semigan-paper-vs-ours")
