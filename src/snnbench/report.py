"""results/REPORT.md: one page linking every table and figure of the run, with Table 1 inline."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from .datasets.prepared import atomic_write_bytes


def _link(path: Path, base: Path) -> str:
    rel = path.relative_to(base).as_posix()
    return f"[{rel}]({rel})"


def write_report(results_dir: str | Path, out: str | Path) -> Path:
    results = Path(results_dir)
    out = Path(out)
    lines = ["# snnbench report", "",
             "Reproduction of the benchmarks of *Self-Normalizing Neural Networks* (Klambauer et al. 2017). "
             "Every deviation from the paper's protocol is listed in docs/protocol.md.", ""]
    uci = results / "uci"
    if (uci / "table1.md").is_file():
        lines += ["## UCI", "", (uci / "table1.md").read_text().strip(), ""]
        if (uci / "leaderboard.md").is_file():
            lines += ["### Against the published methods", "", (uci / "leaderboard.md").read_text().strip(), ""]
        lines += ["Tables (csv, md, tex):", ""]
        lines += [f"- {_link(p, out.parent)}" for p in sorted(uci.glob("table*.md"))]
        lines += ["", "Figures:", ""]
        lines += [f"- {_link(p, out.parent)}" for p in sorted((uci / "figures").glob("*.png"))]
        lines += ["", f"Scores of every job: {_link(uci / 'scores.csv', out.parent)}", ""]
    tox21 = results / "tox21"
    if (tox21 / "table2.md").is_file():
        lines += ["## Tox21", "", (tox21 / "table2.md").read_text().strip(), ""]
        lines += [f"- {_link(p, out.parent)}" for p in sorted(tox21.glob("table2*.md"))]
        lines += [f"- {_link(p, out.parent)}" for p in sorted((tox21 / "figures").glob("*.png"))]
        lines += [f"- Scores of every job and depth: {_link(tox21 / 'scores.csv', out.parent)}", ""]
    htru2 = results / "htru2"
    if (htru2 / "table3.md").is_file():
        lines += ["## HTRU2", "", (htru2 / "table3.md").read_text().strip(), ""]
        lines += [f"- {_link(p, out.parent)}" for p in sorted((htru2 / "figures").glob("*.png"))]
        lines += [f"- Scores of every job: {_link(htru2 / 'scores.csv', out.parent)}", ""]
    failure_files = [(name, path) for name, path in (("UCI", results / "uci" / "failures.csv"),
                                                     ("Tox21", tox21 / "failures.csv"),
                                                     ("HTRU2", htru2 / "failures.csv")) if path.is_file()]
    if failure_files:
        lines += ["## Failures", "",
                  "Jobs with a failed or unavailable dataset, or with diverged / failed configurations:", ""]
        for name, path in failure_files:
            frame = pd.read_csv(path)
            counts = json.dumps(frame.groupby("status").size().to_dict()) if len(frame) else ""
            lines += [f"- {name}: {len(frame)} jobs {counts} {_link(path, out.parent)}".replace("  ", " ")]
        lines.append("")
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
