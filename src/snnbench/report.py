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
    from . import benchmarks

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
        if (folder / "leaderboard.md").is_file():
            lines += ["### Against the published methods", "", (folder / "leaderboard.md").read_text().strip(), ""]
        links = sorted({p for pattern in spec.report_links for p in folder.glob(pattern)})
        lines += [f"- {_link(p, out.parent)}" for p in links]
        lines += [f"- Scores of every job: {_link(folder / 'scores.csv', out.parent)}", ""]
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
