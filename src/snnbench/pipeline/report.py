"""results/REPORT.md: one page linking every table and figure of the run, with Table 1 inline."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from snnbench import benchmarks
from snnbench.atomic import atomic_write_bytes
from snnbench.benchmarks.uci.robustness import SOURCES, read_verdict
from snnbench.contracts.prepared import checked_card
from snnbench.pipeline.aggregate import method_status


def _link(path: Path, base: Path) -> str:
    rel = path.relative_to(base).as_posix()
    return f"[{rel}]({rel})"


def write_report(results_dir: str | Path, out: str | Path) -> Path:
    results = Path(results_dir)
    out = Path(out)
    lines = ["# snnbench report", "",
             "Reproduction of the benchmarks of *Self-Normalizing Neural Networks* (Klambauer et al. 2017). "
             "Every deviation from the paper's protocol is listed in docs/protocol.md.", ""]

    failure_files = []
    for name in benchmarks.BENCHMARKS:
        spec = benchmarks.get(name)
        folder = results / name
        main = folder / f"{spec.main_table}.md"
        if (folder / "failures.csv").is_file():
            failure_files.append((spec.title, folder / "failures.csv"))
        if not main.is_file():
            continue
        lines += [f"## {spec.title}", "", main.read_text().strip(), ""]
        if (folder / "head_to_head_summary.md").is_file():  # the paired tests first: they do not depend on the pool
            lines += ["### Each of ours against each published method", "",
                      (folder / "head_to_head_summary.md").read_text().strip(), ""]
        if (folder / "leaderboard.md").is_file():
            lines += ["### Against the published methods", "", (folder / "leaderboard.md").read_text().strip(), ""]
        links = sorted({p for pattern in spec.report_links for p in folder.glob(pattern)})
        lines += [f"- {_link(p, out.parent)}" for p in links]
        lines += [f"- Scores of every job: {_link(folder / 'scores.csv', out.parent)}", ""]
    lines += methods_section(results)
    if failure_files:
        lines += ["## Failures", "",
                  "Jobs with a failed or unavailable dataset, or with diverged / failed configurations:", ""]
        for name, path in failure_files:
            frame = pd.read_csv(path)
            counts = json.dumps(frame.groupby("status").size().to_dict()) if len(frame) else ""
            lines += [f"- {name}: {len(frame)} jobs {counts} {_link(path, out.parent)}".replace("  ", " ")]
        lines.append("")

    for source, whose in SOURCES.items():
        md = results / source / "robustness.md"
        if md.is_file():
            lines += [f"## Robustness of the UCI conclusion: {whose}", "", read_verdict(md), "",
                      f"- {_link(md, out.parent)}", ""]
    check = results / "paper_check"
    if (check / "table1.csv").is_file():
        lines += ["## Paper check", "",
                  "The same statistics run on the paper's own published accuracies (Table A11 and Fernandez-Delgado "
                  "et al.'s), next to the published Table 1 / A12 / A13:", ""]
        lines += [f"- {_link(p, out.parent)}" for p in sorted(check.glob("*.csv"))]
        lines.append("")
    summary = results / "data" / "summary.csv"
    if summary.is_file():
        lines += ["## Data", "", f"One row per dataset: {_link(summary, out.parent)}", ""]
    atomic_write_bytes(out, lambda f: f.write("\n".join(lines).encode()))
    return out


def method_lines(results: Path) -> list[tuple[str, str, str]]:
    """(benchmark title, method, what happened to it: ``aggregate.method_status``) for every method
    of every benchmark's scores, in the benchmarks' order."""
    out = []
    for name in benchmarks.BENCHMARKS:
        path = results / name / "scores.csv"
        if path.is_file():
            status = method_status(pd.read_csv(path))
            out += [(benchmarks.get(name).title, r.method, r.status, r.what) for r in status.itertuples()]
    return out


def methods_section(results: Path) -> list[str]:
    """REPORT.md's "Methods": a line per method and benchmark, what happened to it."""
    lines = method_lines(results)
    if not lines:
        return []
    return ["## Methods", "", "Every method the run trained, and what happened to it:", "",
            *(f"- {title}, **{method}**" + (" (FAILED)" if status == "failed" else "") + f": {what}"
              for title, method, status, what in lines), ""]


def run_summary(cards: list[str | Path], failure_files: list[str | Path], report: str | Path) -> tuple[list[str], bool]:
    """What the end of a run (and `snnbench status`) prints: the datasets that failed or were
    unavailable (or, a card not written yet, are not prepared yet), the training jobs that failed or
    had failing configurations, and where to look; and whether data failed (a checksum, a
    malformed file), which makes the run's exit code non-zero."""

    statuses: dict[str, list[str]] = {"unavailable": [], "failed": []}
    reasons = []
    n_ok = n_pending = n_damaged = 0
    for path in cards:
        if not Path(path).exists():
            n_pending += 1
            continue
        try:
            card = checked_card(path)  # an ok card whose arrays file is damaged: failed
        except Exception:  # noqa: BLE001 - a card that does not read back is itself a failure
            statuses["failed"].append(str(path))
            continue
        if card["status"] == "ok":
            n_ok += 1
            continue
        name = f"{card['benchmark']}/{card['dataset']}"
        statuses.setdefault(card["status"], []).append(name)
        if card["status"] == "failed":
            reasons.append(f"  {name}: {card.get('reason')}")
            n_damaged += bool(card.get("damaged"))
    lines = [f"snnbench: {n_ok} of {len(cards)} datasets prepared" + (f", {n_pending} not yet" if n_pending else "")]
    if statuses["unavailable"]:
        lines.append(f"  unavailable (a file the source lacks): {', '.join(statuses['unavailable'])}")
    if statuses["failed"]:
        lines.append(f"  FAILED: {', '.join(statuses['failed'])}")
        lines += reasons
    if len(statuses["failed"]) > n_damaged:  # a damaged prepared file's reason has its own recipe
        lines.append("  fix the file (for a mirror: replace it there) and run the same command again: the source "
                     "and what depends on it are reprocessed (README, 'A file that failed its checksum')")
    for path in map(Path, failure_files):
        if not path.is_file():
            continue
        frame = pd.read_csv(path)
        if len(frame):
            jobs = frame.groupby("status").size().to_dict()
            lines.append(f"  training: {len(frame)} job(s) with failures {json.dumps(jobs)}: see {path}")
    if Path(report).is_file():
        lines.append(f"  report: {report}")
    return lines, bool(statuses["failed"])
