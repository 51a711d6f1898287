"""results/report.html: the page a reviewer reads first, self-contained (figures inline).

What was run (per benchmark: datasets, methods, splits, jobs that failed; the data), then each
benchmark's front tables (``Benchmark.front_tables``: UCI Table 1 left and right, Tox21 Table 2,
HTRU2 Table 3) rendered from their .csv, ours next to the published values and the difference,
each under its caption (every deviation and narrowing), the benchmark's figures inline, links
to every table of the run (.csv, .md, .tex), and the robustness reports of the UCI conclusion
(published numbers and ours: verdict, multiple comparisons, figures). The Snakemake report
(``snakemake --report``) opens on the same page (workflow/report/workflow.rst includes it).

Only formats what the stages wrote: no statistic is computed here.
"""

from __future__ import annotations

import base64
import html
import json
import os
from pathlib import Path

import pandas as pd

from snnbench import benchmarks
from snnbench.atomic import atomic_write_bytes
from snnbench.benchmarks.uci.robustness import FIGURES, SOURCES, read_verdict
from snnbench.contracts.scores import ours as ours_rows

STYLE = """
.snnbench-report { font-family: system-ui, sans-serif; font-size: 14px; color: #1a1a1a; max-width: 1200px; }
.snnbench-report h1 { font-size: 1.6em; margin: 0.4em 0; }
.snnbench-report h2 { font-size: 1.3em; margin: 1.2em 0 0.4em; border-bottom: 1px solid #ccc; }
.snnbench-report h3 { font-size: 1.05em; margin: 1em 0 0.3em; }
.snnbench-report table { border-collapse: collapse; margin: 0.4em 0 0.8em; font-size: 13px; }
.snnbench-report th, .snnbench-report td { border: 1px solid #d0d0d0; padding: 2px 6px; text-align: right; \
white-space: nowrap; }
.snnbench-report th { background: #f2f2f2; }
.snnbench-report td:first-child, .snnbench-report th:first-child { text-align: left; }
.snnbench-report .caption { font-size: 12.5px; color: #333; max-width: 1100px; }
.snnbench-report figure { display: inline-block; margin: 0.4em 1em 0.4em 0; vertical-align: top; }
.snnbench-report figure img { max-width: 560px; border: 1px solid #eee; }
.snnbench-report figcaption { font-size: 12px; color: #555; }
.snnbench-report .failed { color: #a00000; }
/* inside `snakemake --report` the page is the workflow description: a narrow column in a content
   pane that centres it (a page taller than the window would lose its top); widen it, start at the top */
.prose.max-w-lg:has(.snnbench-report) { max-width: none !important; }
div.h-screen.overflow-auto:has(.snnbench-report) { align-items: flex-start !important; \
justify-content: flex-start !important; }
"""


def _esc(value: object) -> str:
    return html.escape(str(value))


def _cell(value: object) -> str:
    if isinstance(value, float):
        if value != value:
            return ""
        return f"{value:.3g}" if abs(value) < 1e-3 and value != 0 else f"{value:.3f}".rstrip("0").rstrip(".")
    return "" if value is None else str(value)


def _ours_published_difference(frame: pd.DataFrame) -> pd.DataFrame:
    """A table with one value, its published value and the difference (UCI Table 1: the first value
    column and 'published'; HTRU2 Table 3: 'auc_mean', 'auc_std' and 'published_mean',
    'published_std'): those side by side after the labels, so that a narrow window shows ours, the
    paper's and the difference first."""
    if "difference" not in frame.columns:
        return frame
    labels = [c for c in frame.columns[:2] if not pd.api.types.is_numeric_dtype(frame[c])]
    if "published" in frame.columns:
        ours, published = [next(c for c in frame.columns if c not in labels)], ["published"]
    elif {"auc_mean", "published_mean"} <= set(frame.columns):
        ours, published = ["auc_mean", "auc_std"], ["published_mean", "published_std"]
    else:
        return frame
    first = [*labels, *ours, *published, "difference"]
    return frame[[c for c in first if c in frame.columns] + [c for c in frame.columns if c not in first]]


def table_html(frame: pd.DataFrame) -> str:
    frame = _ours_published_difference(frame)
    head = "".join(f"<th>{_esc(c)}</th>" for c in frame.columns)
    rows = "".join("<tr>" + "".join(f"<td>{_esc(_cell(v))}</td>" for v in row) + "</tr>"
                   for row in frame.itertuples(index=False))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def _figure(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return (f'<figure><img alt="{_esc(path.stem)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{_esc(path.name)}</figcaption></figure>")


def _captions(folder: Path) -> dict[str, str]:
    try:
        return json.loads((folder / "captions.json").read_text())
    except (OSError, ValueError):
        return {}


def _what_was_run(results: Path, summary_link: str) -> list[str]:
    """Per benchmark, from its scores (ours): datasets, methods, splits and the jobs that did not finish."""

    items = []
    for name in benchmarks.BENCHMARKS:
        path = results / name / "scores.csv"
        if not path.is_file():
            continue
        scores = pd.read_csv(path)
        ours = ours_rows(scores)
        if ours.empty:
            continue
        ok = ours[ours["status"] == "ok"]
        kinds = ours.drop_duplicates("method").groupby("kind", sort=False)["method"].apply(list).to_dict()
        methods = "; ".join(f"{kind}: {', '.join(m)}" for kind, m in kinds.items())
        not_ok = ours[ours["status"] != "ok"].groupby("status").size().to_dict()
        items.append(
            f"<li><b>{_esc(benchmarks.get(name).title)}</b>: {ok['dataset'].nunique()} of "
            f"{ours['dataset'].nunique()} datasets trained, {len(ours)} training jobs "
            f"(splits {_esc(', '.join(map(str, sorted(ours['split'].unique()))))}); methods ({methods})"
            + (f'; <span class="failed">not ok: {_esc(json.dumps(not_ok))}</span>' if not_ok else "") + "</li>")
    summary = results / "data" / "summary.csv"
    if summary.is_file():
        data = pd.read_csv(summary)
        counts = data.groupby("status").size().to_dict()
        failed = data.loc[data["status"] != "ok", ["benchmark", "dataset", "status"]]
        detail = ", ".join(f"{r.benchmark}/{r.dataset} {r.status}" for r in failed.itertuples())
        items.append(f"<li><b>Data</b>: {len(data)} datasets prepared from the raw downloads: "
                     f"{_esc(json.dumps(counts))}"
                     + (f' (<span class="failed">{_esc(detail)}</span>)' if detail else "")
                     + f' — <a href="{_esc(summary_link)}">data/summary.csv</a></li>')
    return items


def _robustness_section(folder: Path, whose: str, rel) -> list[str]:
    """The robustness report of one source: its verdict, the multiple comparisons on all datasets,
    its figures, and links (snnbench.benchmarks.uci.robustness)."""

    md, csv = folder / "robustness.md", folder / "robustness.csv"
    if not (md.is_file() and csv.is_file()):
        return []
    verdict = read_verdict(md)
    rows = pd.read_csv(csv)
    if not rows["section"].eq("multiple_comparisons").any():  # not computed: the verdict says why
        return [f'<h2 id="robustness-{_esc(folder.name)}">Robustness of the UCI conclusion: {_esc(whose)}</h2>',
                f"<p>{_esc(verdict)}</p>"]
    multiple = rows[(rows["section"] == "multiple_comparisons") & (rows["group"] == "all")]
    multiple = multiple[["method", "n_datasets", "p_value", "p_holm", "p_bonferroni", "star", "star_holm",
                         "star_bonferroni"]]
    return [f'<h2 id="robustness-{_esc(folder.name)}">Robustness of the UCI conclusion: {_esc(whose)}</h2>',
            f"<p>{_esc(verdict)}</p>",
            "<h3>Multiple comparisons, all datasets</h3>",
            '<p class="caption">The reference against each FNN: the paper\'s one-sided paired Wilcoxon p-values '
            "(unadjusted star at p &lt; alpha), Holm- and Bonferroni-adjusted.</p>", table_html(multiple),
            "<div>", *map(_figure, sorted((folder / FIGURES).glob("*.png"))), "</div>",
            f'<p>Every section (Friedman, Nemenyi, Bayesian signed-rank, bootstrap, conventions, granularity): '
            f'<a href="{_esc(rel(md))}">{_esc(folder.name)}/robustness.md</a>, '
            f'<a href="{_esc(rel(csv))}">robustness.csv</a></p>']


def write_html_report(results_dir: str | Path, out: str | Path) -> Path:
    results = Path(results_dir)
    out = Path(out)
    rel = lambda p: Path(os.path.relpath(p, out.parent)).as_posix()  # noqa: E731
    body = ["<h1>snnbench: <i>Self-Normalizing Neural Networks</i> (Klambauer et al. 2017), reproduced</h1>",
            "<p>Our runs of the paper's benchmarks next to its published numbers. Every table's caption names the "
            "data used, the statistics and every deviation from the paper's protocol (narrowed grids, subsamples, "
            "changed settings); docs/protocol.md lists them all.</p>",
            '<h2 id="what-was-run">What was run</h2>', "<ul>",
            *_what_was_run(results, rel(results / "data" / "summary.csv")), "</ul>"]
    for name in benchmarks.BENCHMARKS:
        spec = benchmarks.get(name)
        folder = results / name
        captions = _captions(folder)
        shown = [t for t in spec.front_tables or (spec.main_table,) if (folder / f"{t}.csv").is_file()]
        if not shown:
            continue
        body.append(f'<h2 id="{_esc(name)}">{_esc(spec.title)}</h2>')
        for table in shown:
            caption = captions.get(table, "")
            body += [f"<h3>{_esc(caption.split(':')[0] if caption else table)}</h3>",
                     f'<p class="caption">{_esc(caption)}</p>', table_html(pd.read_csv(folder / f"{table}.csv"))]
        figures = sorted((folder / "figures").glob("*.png"))
        if figures:
            body += ["<h3>Figures</h3>", "<div>", *map(_figure, figures), "</div>"]
        files = sorted(p for p in folder.iterdir() if p.suffix in (".csv", ".md", ".tex"))
        body.append("<p>Every table and file of this benchmark: "
                    + ", ".join(f'<a href="{_esc(rel(p))}">{_esc(p.name)}</a>' for p in files) + "</p>")

    for source, whose in SOURCES.items():
        body += _robustness_section(results / source, whose, rel)
    check = results / "paper_check" / "table1.csv"
    if check.is_file():
        body += ['<h2 id="paper-check">Paper check</h2>',
                 "<p>The same statistics computed on the paper's own published accuracies (Table A11 and "
                 "Fernandez-Delgado et al.'s), next to the published Table 1: the statistics stage reproduces "
                 "the paper's numbers from its inputs.</p>", table_html(pd.read_csv(check))]
    page = ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>snnbench report</title></head>"
            f"<body><div class=\"snnbench-report\"><style>{STYLE}</style>\n" + "\n".join(body)
            + "\n</div></body></html>\n")
    atomic_write_bytes(out, lambda f: f.write(page.encode()))
    return out
