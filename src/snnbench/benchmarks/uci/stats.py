"""UCI: every statistic the tables print, computed once from the scores.

``snnbench stats --benchmark uci`` (rule ``stats``) writes them to ``results/uci/stats.csv``,
one row per (table, group, split, method): average rank, rank minus the expected rank,
one-sided Wilcoxon p-value against ``vs``, Holm, star, datasets used; and one row per group for
the Friedman test (``method`` empty, with Nemenyi's critical difference) and, per group, the
Nemenyi pairwise p-values on the complete rows (``nemenyi``: the critical-difference diagram's
inputs, one row per ordered pair with the method's average rank there). Each row also carries
how it was computed (the config's ``stats`` section: ``wilcoxon``, ``alpha``, ``missing``,
``reference``, ``compare_with``).
With ``compare_with: published`` our methods are also ranked against the paper's published
methods, without retraining them: ``compare_table1`` (ours + the paper's 7 FNNs, Table A11),
``compare_tableA12`` / ``compare_tableA13`` (ours + all 24) and ``leaderboard`` (per group: place,
average rank, wins / ties / losses and both one-sided Wilcoxon tests against SNN as published,
Holm-adjusted). ``tables.py`` only formats these rows next to the published numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from snnbench.contracts.scores import ours as ours_rows
from snnbench.evaluation.stats import (
    critical_difference,
    friedman,
    head_to_head,
    leaderboard,
    nemenyi_cd,
    size_groups,
    stamped,
    wilcoxon_vs_best,
)
from snnbench.reference import FD_REPRESENTATIVES, FNN_METHODS, published_24_accuracies, table_a11
from snnbench.reporting.tables import methods_of_kind
from snnbench.settings import StatsSettings

# (table, size group, published table or None, statistic) of the rank comparisons, in print order
RANK_TABLES = [("table1", "all", "Table1-left", "avg_rank_minus_expected"),
               ("table1_right", "large", "Table1-right", "avg_rank_minus_expected"),
               ("tableA12", "small", "TableA12", "avg_rank"),
               ("tableA13", "large", "TableA13", "avg_rank")]
FD_SOURCE = "published (FD 2014)"
A11_SOURCE = "published (Table A11)"
PUBLISHED_FNN = "{} (Table A11)"  # a published FNN's name beside ours: "SNN (Table A11)"
LEADERBOARD_REFERENCE = PUBLISHED_FNN.format("SNN")
# (table, size group, columns: "a11" = ours + the paper's 7 FNNs, "all" = ours + the 24 published)
COMPARE_TABLES = [("compare_table1", "all", "a11"), ("compare_tableA12", "small", "all"),
                  ("compare_tableA13", "large", "all")]


def published_columns(datasets: list[str]) -> pd.DataFrame:
    """The paper's 24-method accuracies for ``datasets``, its FNNs renamed ``SNN (Table A11)``..."""

    table = published_24_accuracies().reindex(datasets)
    return table.rename(columns={m: PUBLISHED_FNN.format(m) for m in FNN_METHODS})


def source_of(method: str) -> str:
    if method in FD_REPRESENTATIVES:
        return FD_SOURCE
    return A11_SOURCE if method in {PUBLISHED_FNN.format(m) for m in FNN_METHODS} else "ours"


def accuracy_table(scores: pd.DataFrame, *, methods: list[str], source: str = "ours",
                   split: Any | None = None) -> pd.DataFrame:
    """Wide table dataset x method of accuracies; several splits are averaged unless ``split`` picks one."""
    rows = scores[(scores["source"] == source) & (scores["status"] == "ok") & scores["method"].isin(methods)]
    if split is not None:
        rows = rows[rows["split"].astype(str) == str(split)]
    wide = rows.pivot_table(index="dataset", columns="method", values="value", aggfunc="mean")
    return wide.reindex(columns=methods)


@dataclass
class UciData:
    """The wide accuracy tables the statistics and figures use."""

    fnns: list[str]  # our torch methods with a result (the paper's families first)
    mine: list[str]  # those and our scikit-learn methods with a result
    acc: pd.DataFrame  # our FNNs, datasets with any FNN result (mean over splits)
    acc24: pd.DataFrame  # our FNNs + Fernandez-Delgado et al.'s 17 published representatives
    groups: dict[str, pd.Index]  # all / small / large (Table A11's N)
    splits: list[str]


def uci_data(scores: pd.DataFrame) -> UciData:
    ours = ours_rows(scores)
    fnns = methods_of_kind(scores, "torch")
    acc = accuracy_table(scores, methods=fnns)
    used = sorted(acc.dropna(how="all").index)
    acc = acc.loc[used]
    fd = published_24_accuracies()[list(FD_REPRESENTATIVES)].reindex(used)
    return UciData(fnns=fnns, mine=[*fnns, *methods_of_kind(scores, "sklearn")], acc=acc,
                   acc24=pd.concat([acc, fd], axis=1), groups=size_groups(table_a11()["N"].reindex(used)),
                   splits=sorted(ours["split"].astype(str).unique()))


def uci_statistics(scores: pd.DataFrame, *, stats: StatsSettings = StatsSettings()) -> pd.DataFrame:
    """Every rank comparison and Friedman test of the UCI tables, as rows (see the module docstring)."""

    data = uci_data(scores)
    parts = []

    def labelled(frame: pd.DataFrame, table: str, group: str, split: str = "") -> None:
        frame.insert(0, "table", table)
        frame.insert(1, "group", group)
        frame.insert(2, "split", split)
        frame.insert(frame.columns.get_loc("method") + 1, "source", [source_of(m) for m in frame["method"]])
        parts.append(frame)

    def compare(acc: pd.DataFrame, table: str, group: str, split: str = "") -> None:
        if acc.dropna(axis=1, how="all").shape[1] < 2 or acc.dropna(how="all").empty:
            return  # nothing to rank: the table says so (tables.py)
        reference = stats.against(None)
        labelled(wilcoxon_vs_best(acc, missing=stats.missing, method=stats.wilcoxon, alpha=stats.alpha,
                                  reference=reference if reference in acc.columns else None), table, group, split)

    for table, group, _, _ in RANK_TABLES:
        compare((data.acc if table == "table1" else data.acc24).loc[data.groups[group]], table, group)
    # Our FNNs and our baselines, ranked together (beyond the paper).
    mine = accuracy_table(scores, methods=data.mine).reindex(data.acc.index)
    for group in ("all", "small", "large"):
        sub = mine.loc[data.groups[group]]
        if not sub.dropna(how="all").empty:
            compare(sub, "table_baselines", group)
    # Stability across splits (beyond the paper): Table 1 statistics per split column.
    if len(data.splits) > 1:
        for split in data.splits:
            per = accuracy_table(scores, methods=data.fnns, split=split).reindex(data.acc.index).dropna(how="all")
            compare(per, "table1_per_split", "all", split)
    # Our methods against the published ones, without retraining them (beyond the paper): Table 1
    # with the paper's 7 FNNs, Tables A12 / A13 and a leaderboard with all 24 published methods.
    if stats.compare_with == "published":
        published = published_columns(list(data.acc.index))
        both = pd.concat([mine, published], axis=1)
        columns = {"a11": [*mine.columns, *[PUBLISHED_FNN.format(m) for m in FNN_METHODS]], "all": list(both.columns)}
        for table, group, kind in COMPARE_TABLES:
            sub = both.loc[data.groups[group], columns[kind]]
            if len(sub):
                compare(sub, table, group)
        for group in ("all", "small", "large"):
            sub = both.loc[data.groups[group]]
            if len(sub):
                labelled(leaderboard(sub, reference=LEADERBOARD_REFERENCE, missing=stats.missing,
                                     method=stats.wilcoxon, alpha=stats.alpha), "leaderboard", group)
                for ours in mine.columns:  # each of ours against each published method, before any rank
                    labelled(head_to_head(sub, ours, list(published.columns), wilcoxon=stats.wilcoxon,
                                          alpha=stats.alpha), "head_to_head", group)
    # Friedman test per group (beyond the paper), on the datasets where every method has a result,
    # with Nemenyi's critical difference of the average ranks there (Demsar 2006).
    n24 = f"{data.acc24.shape[1]} methods"
    for group, acc, label in [("all", data.acc, f"{len(data.fnns)} FNNs"),
                              ("small", data.acc24.loc[data.groups["small"]], n24),
                              ("large", data.acc24.loc[data.groups["large"]], n24)]:
        try:
            result = friedman(acc)
            result["cd_nemenyi"] = nemenyi_cd(k=result["k"], n_datasets=result["n_datasets"], alpha=stats.alpha)
            nemenyi = critical_difference(acc, alpha=stats.alpha)
        except ValueError as exc:
            result, nemenyi = {"error": str(exc)}, None
        parts.append(pd.DataFrame([{"table": "friedman", "group": group, "split": "", "methods": label, **result}]))
        if nemenyi is not None:  # the critical-difference diagram's inputs: ranks and pairwise p-values
            pairs = nemenyi["p_values"].stack().rename("p_value").rename_axis(["method", "vs"]).reset_index()
            pairs = pairs[pairs["method"] != pairs["vs"]]
            parts.append(pairs.assign(table="nemenyi", group=group, split="", methods=label,
                                      avg_rank=pairs["method"].map(nemenyi["ranks"]), cd_nemenyi=nemenyi["cd"],
                                      n_datasets=nemenyi["n_datasets"]))
    return stamped(pd.concat(parts, ignore_index=True), stats)
