"""Which Wilcoxon convention reproduces the paper's p-values: rows within 5 % per table.

Runs the paper check (``snnbench.benchmarks.uci.paper_check``) on the published accuracies under
each ``stats.wilcoxon`` setting, once on the accuracies as printed (Table A11's 4 decimals,
Fernandez-Delgado's percent / 100.0) and once on the exact fractions (Table A11 rebuilt as
correct / test rows, FD as tenths of a percent; what the project uses), and prints, per table,
how many rows with a published p-value lie within 5 % of it. docs/protocol.md (S2) quotes it.

    PYTHONPATH=src python benchmarks/paper_conventions.py
"""

from __future__ import annotations

import dataclasses

import pandas as pd

from snnbench import reference
from snnbench.benchmarks.uci.paper_check import agreement, paper_check
from snnbench.settings import WILCOXON_METHODS, StatsSettings


def as_printed() -> pd.DataFrame:
    fnn = reference.table_a11().loc[:, list(reference.FNN_METHODS)]
    fd = reference._parse_fd_table(reference.read_text(reference._FD_FILE)) / 100.0
    return pd.concat([fnn, fd.loc[fnn.index, list(reference.FD_REPRESENTATIVES)]], axis=1)


def main() -> None:
    inputs = {"exact fractions": None, "as printed": as_printed()}
    rows = []
    for method in WILCOXON_METHODS:
        stats = dataclasses.replace(StatsSettings(), wilcoxon=method)
        for label, acc in inputs.items():
            rows.append({"stats.wilcoxon": method, "accuracies": label,
                         **{table: f"{within} / {n}" for table, (within, n)
                            in agreement(paper_check(None, stats=stats, acc24=acc)).items()}})
    print(pd.DataFrame(rows).to_markdown(index=False))


if __name__ == "__main__":
    main()
