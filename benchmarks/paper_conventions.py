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
from snnbench.benchmarks.uci.paper_check import paper_check
from snnbench.settings import WILCOXON_METHODS, StatsSettings

TOLERANCE = 0.05
TABLES = (("table1", "Table1-left"), ("tableA12", "TableA12"), ("tableA13", "TableA13"))


def as_printed() -> pd.DataFrame:
    fnn = reference.table_a11().loc[:, list(reference.FNN_METHODS)]
    fd = reference._parse_fd_table(reference.read_text(reference._FD_FILE)) / 100.0
    return pd.concat([fnn, fd.loc[fnn.index, list(reference.FD_REPRESENTATIVES)]], axis=1)


def agreement(results: dict[str, pd.DataFrame]) -> dict[str, str]:
    out = {}
    for stem, table in TABLES:
        frame = results[stem]
        frame = frame.loc[(frame["table"] == table) & frame["published_p_value"].notna()]
        within = int((frame["p_rel_diff"].abs() <= TOLERANCE).sum())
        out[table] = f"{within} / {len(frame)}"
    return out


def main() -> None:
    inputs = {"exact fractions": None, "as printed": as_printed()}
    rows = []
    for method in WILCOXON_METHODS:
        stats = dataclasses.replace(StatsSettings(), wilcoxon=method)
        for label, acc in inputs.items():
            rows.append({"stats.wilcoxon": method, "accuracies": label,
                         **agreement(paper_check(None, stats=stats, acc24=acc))})
    print(pd.DataFrame(rows).to_markdown(index=False))


if __name__ == "__main__":
    main()
