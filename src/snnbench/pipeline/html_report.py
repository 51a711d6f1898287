"""results/report.html: the page a reviewer reads first, self-contained (figures inline).

What was run (per benchmark: datasets, methods, splits, jobs that failed; the data), then each
benchmark's front tables (``Benchmark.front_tables``: UCI Table 1 left and right and each of our
methods against each published one, Tox21 Table 2, HTRU2 Table 3) rendered from their .csv, ours
next to the published values and the difference, each under its caption (every deviation and
narrowing), the benchmark's figures inline, links to every table of the run (.csv, .md, .tex),
and the robustness reports of the UCI conclusion (published numbers and ours: verdict, multiple
comparisons, figures). The Snakemake report (``snakemake --report``) opens on the same page
(workflow/report/workflow.rst includes it).

Only formats what the stages wrote: no statistic is computed here.
"""

from __future__ import annotations

import base64
import html
import json
import os
import re
from pathlib import Path

import pandas as pd

from snnbench import benchmarks
from snnbench.atomic import atomic_write_bytes
from snnbench.benchmarks.uci.paper_check import agreement_text
from snnbench.benchmarks.uci.robustness import FIGURES, SOURCES, read_verdict
from snnbench.contracts.scores import ours as ours_rows
from snnbench.pipeline.report import method_lines
from snnbench.reporting.tables import LABELS, human_cell, ours_published_difference

STYLE = """
.snnbench-report { font-family: system-ui, sans-serif; font-size: 14px; color: #1a1a1a; max-width: 1200px; \
overflow-wrap: anywhere; }
.snnbench-report h1 { font-size: 1.6em; margin: 0.4em 0; }
.snnbench-report h2 { font-size: 1.3em; margin: 1.2em 0 0.4em; border-bottom: 1px solid #ccc; }
.snnbench-report h3 { font-size: 1.05em; margin: 1em 0 0.3em; }
.snnbench-report table { border-collapse: collapse; margin: 0.4em 0 0.8em; font-size: 13px; }
.snnbench-report th, .snnbench-report td { border: 1px solid #d0d0d0; padding: 2px 6px; text-align: right; }
.snnbench-report td { white-space: nowrap; }
.snnbench-report th { overflow-wrap: normal; }
/* a table wider than the page scrolls inside its own box: the page itself never scrolls sideways */
.snnbench-report .table-box { max-width: 100%; overflow-x: auto; }
.snnbench-report details { font-size: 12.5px; color: #333; margin: 0 0 1em; max-width: 1100px; }
.snnbench-report details ul { margin: 0.2em 0; padding-left: 1.4em; }
.snnbench-report th { background: #f2f2f2; }
.snnbench-report td:first-child, .snnbench-report th:first-child { text-align: left; }
.snnbench-report .caption { font-size: 12.5px; color: #333; max-width: 1100px; }
.snnbench-report figure { display: inline-block; margin: 0.4em 1em 0.4em 0; vertical-align: top; }
.snnbench-report figure img { max-width: 560px; border: 1px solid #eee; }
.snnbench-report figcaption { font-size: 12px; color: #555; }
.snnbench-report .failed { color: #a00000; }
/* inside `snakemake --report` the page is the workflow description: a narrow column in a content
   pane that centres it (a page taller than the window would lose its top); widen it, start at the top */
.prose.max-w-lg:has(.snnbench-report) { max-width: 100% !important; }
/* and every box around the page may shrink to the pane's width (flex items otherwise keep their content's) */
div.h-screen.overflow-auto:has(.snnbench-report) div:has(.snnbench-report) { min-width: 0; max-width: 100%; }
div.h-screen.overflow-auto:has(.snnbench-report) { align-items: flex-start !important; \
justify-content: flex-start !important; }
"""


def _esc(value: object) -> str:
    return html.escape(str(value))


def table_html(frame: pd.DataFrame) -> str:
    frame = ours_published_difference(frame)
    head = "".join(f"<th>{_esc(LABELS.get(c, c.replace('_', ' ')))}</th>" for c in frame.columns)
    rows = "".join("<tr>" + "".join(f"<td>{_esc(human_cell(v, c))}</td>" for v, c in zip(row, frame.columns)) + "</tr>"
                   for row in frame.itertuples(index=False))
    return f'<div class="table-box"><table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div>'


def front_table_html(results: Path, benchmark: str, table: str) -> str:
    """One front table as report.html shows it (the benchmark's ``front_frame`` where it has one: UCI's rank
    tables in the paper's layout)."""
    spec, folder = benchmarks.get(benchmark), Path(results) / benchmark
    return table_html(spec.front_frame(folder, table) if spec.front_frame else pd.read_csv(folder / f"{table}.csv"))


def _top_level(text: str, sep: str) -> list[str]:
    """``text`` split at ``sep`` outside parentheses."""
    parts, depth, start, i = [], 0, 0, 0
    while i < len(text):
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        if depth == 0 and text.startswith(sep, i):
            parts.append(text[start:i])
            start = i = i + len(sep)
            continue
        i += 1
    return [*parts, text[start:]]


def captioned(caption: str, table: str) -> str:
    """A table under its caption's first sentence, the rest of the caption (data, statistics, every
    deviation) in a collapsible block under it, the deviations one per line."""
    head, rest = (re.split(r"(?<!\bal)\.\s+(?=[A-Z])", caption, maxsplit=1) + [""])[:2]
    rest, _, deviations = rest.partition("Deviations: ")
    items = [d.strip() for d in _top_level(deviations.removesuffix("."), "; ") if d.strip()]
    listed = ("<ul>" + "".join(f"<li>{_esc(d)}</li>" for d in items) + "</ul>") if items else ""
    more = (f'<details><summary>Data, statistics and deviations from the paper</summary><p>{_esc(rest)}</p>'
            f"{listed}</details>") if rest or listed else ""
    return f'<p class="caption">{_esc(head)}{"." if rest or listed else ""}</p>{table}{more}'


def _figure(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return (f'<figure><img alt="{_esc(path.stem)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{_esc(path.name)}</figcaption></figure>")


def _captions(folder: Path) -> dict[str, str]:
    try:
        return json.loads((folder / "captions.json").read_text())
    except (OSError, ValueError):
        return {}


def _counts(counts: dict) -> str:
    """{"unavailable": 9, "ok": 2} as '2 ok, 9 unavailable'."""
    return ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))


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
            + (f'; <span class="failed">not ok: {_esc(_counts(not_ok))}</span>' if not_ok else "") + "</li>")
    summary = results / "data" / "summary.csv"
    if summary.is_file():
        data = pd.read_csv(summary)
        counts = data.groupby("status").size().to_dict()
        failed = data.loc[data["status"] != "ok", ["benchmark", "dataset", "status"]]
        detail = ", ".join(f"{r.benchmark}/{r.dataset} {r.status}" for r in failed.itertuples())
        items.append(f"<li><b>Data</b>: {len(data)} datasets prepared from the raw downloads: "
                     f"{_esc(_counts(counts))}"
                     + (f' (<span class="failed">{_esc(detail)}</span>)' if detail else "")
                     + f' — <a href="{_esc(summary_link)}">data/summary.csv</a></li>')
    return items


def _methods_section(results: Path) -> list[str]:
    """Every method the run trained and what happened to it (``report.method_lines``)."""
    lines = method_lines(results)
    if not lines:
        return []
    items = [f"<li>{_esc(title)}, <b>{_esc(method)}</b>: "
             + (f'<span class="failed">{_esc(what)}</span>' if status != "ok" else _esc(what)) + "</li>"
             for title, method, status, what in lines]
    return ['<h2 id="methods">Methods</h2>', "<ul>", *items, "</ul>"]


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
            *_what_was_run(results, rel(results / "data" / "summary.csv")), "</ul>", *_methods_section(results)]
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
                     captioned(caption, front_table_html(results, name, table))]
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
        frame = pd.read_csv(check)
        body += ['<h2 id="paper-check">Paper check</h2>',
                 "<p>The same statistics computed on the paper's own published accuracies (Table A11 and "
                 "Fernandez-Delgado et al.'s), next to the published Table 1 (every p-value against the "
                 f"best-ranked, SNN in both halves, as the paper's): {_esc(agreement_text(frame))}.</p>",
                 table_html(frame)]
    page = ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>snnbench report</title></head>"
            f"<body><div class=\"snnbench-report\"><style>{STYLE}</style>\n" + "\n".join(body)
            + "\n</div></body></html>\n")
    atomic_write_bytes(out, lambda f: f.write(page.encode()))
    return out
