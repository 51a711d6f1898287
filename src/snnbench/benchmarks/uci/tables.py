"""The paper's UCI tables (1, A11, A12, A13) from our scores, with the published numbers beside them.

Every table is written as ``.csv``, ``.md`` and ``.tex``, with a caption (in the .md and .tex,
and in ``captions.json``) naming the data used, the protocol and the deviations.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from snnbench.atomic import atomic_write_bytes
from snnbench.benchmarks.uci.split_table import split_soundness
from snnbench.benchmarks.uci.stats import (
    COMPARE_TABLES,
    LEADERBOARD_REFERENCE,
    RANK_TABLES,
    accuracy_table,
    uci_data,
    uci_statistics,
)
from snnbench.contracts.scores import ours as ours_rows
from snnbench.evaluation.stats import missing_results, pool_difference, settings_of
from snnbench.methods.paper import FAMILIES
from snnbench.reference import FD_REPRESENTATIVES, published_24_accuracies, published_ranks, table_a11
from snnbench.reporting.captions import deviations_text, hide_untestable, min_pairs, stats_text
from snnbench.reporting.tables import write_table

PAPER_SPLIT_NOTE = "data_py split column 0, as in the paper"


PUBLISHED_NOTE = ("Rows whose source says 'published' were not trained here: Table A11's FNNs are the paper's results "
                  "on data_py split column 0; Fernandez-Delgado et al.'s 17 come from their own protocol (4-fold "
                  "cross-validation on their own partitions, Fernandez-Delgado et al. 2014), not from our splits, so "
                  "comparisons with them mix protocols.")
PRINTED_NAMES = {"Table1-left": "Table 1 (left)", "Table1-right": "Table 1 (right)", "TableA12": "Table A12",
                 "TableA13": "Table A13"}  # the paper's names of the published tables (reference ids)
HEAD_TO_HEAD_COLUMNS = ["group", "method", "vs", "verdict", "wins", "ties", "losses", "p_better", "p_better_holm",
                        "p_worse", "p_worse_holm", "n_datasets"]
LEADERBOARD_COLUMNS = ["group", "verdict", "place", "method", "source", "avg_rank", "avg_rank_minus_expected", "wins",
                       "ties", "losses", "p_value", "p_holm", "p_better", "p_better_holm", "star", "n_datasets", "vs"]

UCI_NOTES = ("validation folds as the authors published them (median 20.1 % of the non-test rows, not 15 %; U3)",
             "RF and SVM are ours, the other 17 methods Fernandez-Delgado et al.'s published results")


def _published(table: str) -> pd.DataFrame:
    ranks = published_ranks()
    out = ranks[ranks["table"] == table][["method", "method_group", "value", "p_value_vs_best", "starred_in_paper"]]
    return out.rename(columns={"value": "published", "p_value_vs_best": "published_p",
                               "starred_in_paper": "published_star"})


def rank_comparison(rows: pd.DataFrame, *, published_table: str | None, statistic: str) -> pd.DataFrame:
    """One rank comparison's rows of the statistics (``stats.uci_statistics``), with the
    published table joined on method."""
    value = "avg_rank_minus_expected" if statistic.startswith("avg_rank_minus") else "avg_rank"
    keep = ["method", statistic, "p_value", "p_holm", "star", "n_datasets", "vs"]
    ours = rows.rename(columns={value: statistic}).reindex(columns=keep).reset_index(drop=True)
    ours["star"] = ours["star"].astype(bool)
    ours["n_datasets"] = ours["n_datasets"].astype(int)
    if published_table is None:
        return ours
    table = ours.merge(_published(published_table), on="method", how="left")
    table["published_star"] = table["published_star"].fillna("")
    table["difference"] = table[statistic] - table["published"]
    return table


def data_caption(summary: pd.DataFrame, used: list[str], splits: list[str] = ("0",)) -> str:
    uci = summary[summary["benchmark"] == "uci"]
    missing = uci[uci["status"] != "ok"]
    text = f"{len(used)} of 121 UCI datasets"
    if len(missing):
        text += "; " + ", ".join(f"{r.dataset} {r.status}" for r in missing.itertuples())
    sound = split_soundness(tuple(int(s) for s in splits)).reindex(used)
    return text + (f"; {int((sound == False).sum())} of them with a split that leaves a class out of training, "  # noqa: E712
                   "validation or test (docs/protocol.md U8)")


def pool_caption(groups: dict[str, pd.Index]) -> str:
    """How far the published methods' average ranks, recomputed on this run's datasets, lie from
    the published Tables A12 / A13 (the pool check before a user's method is ranked)."""
    acc24, ranks, parts = published_24_accuracies(), published_ranks(), []
    for group, table in (("small", "TableA12"), ("large", "TableA13")):
        datasets = [d for d in groups.get(group, []) if d in acc24.index]
        if datasets:
            published = ranks.query("table == @table").set_index("method")["value"]
            gap = pool_difference(acc24.loc[datasets], published)
            parts.append(f"{table} ({len(datasets)} datasets): {gap:.3f}")
    return ("Published methods alone on these datasets, largest average-rank difference from the paper's: "
            + "; ".join(parts) + ". ") if parts else ""


def head_to_head_summary(duels: pd.DataFrame) -> pd.DataFrame:
    """One row per size group and method of ours: the counts of each verdict of ``duels`` (the
    head_to_head rows) and the published methods it is better and worse than."""
    rows = []
    for (group, method), sub in duels.groupby(["group", "method"], sort=False):
        names = {v: sub.loc[sub["verdict"] == v, "vs"].tolist() for v in ("better", "no difference", "worse")}
        rows.append({"group": group, "method": method, "better than": len(names["better"]),
                     "no difference": len(names["no difference"]), "worse than": len(names["worse"]),
                     "better than (methods)": ", ".join(names["better"]),
                     "worse than (methods)": ", ".join(names["worse"])})
    return pd.DataFrame(rows)


def build_uci_tables(scores: pd.DataFrame, data_summary: pd.DataFrame, out_dir: str | Path,
                     *, statistics: pd.DataFrame | None = None,
                     settings: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write table1, table1_right, tableA11, tableA12, tableA13, table_baselines, friedman (and
    table1_per_split) from ``statistics`` (``stats.uci_statistics``' rows, ``stats.csv``;
    computed with the default settings when not given); returns the captions and the data."""

    out_dir = Path(out_dir)
    data = uci_data(scores)
    statistics = uci_statistics(scores) if statistics is None else statistics
    stats = settings_of(statistics)
    ours = ours_rows(scores)
    fnns, acc, splits, used = data.fnns, data.acc, data.splits, list(data.acc.index)
    protocol = PAPER_SPLIT_NOTE if splits == ["0"] else f"mean over data_py split columns {', '.join(splits)}"
    failures = ours[ours["status"] != "ok"]
    failed_text = ""
    if len(failures):
        per = failures.groupby(["dataset", "status"]).size()
        listed = ", ".join(f"{dataset} {n} {status}" for (dataset, status), n in per.items())
        failed_text = f" Failed or unavailable jobs (recorded in failures.csv): {len(failures)} ({listed})."
    base = (f"{data_caption(data_summary, used, splits)}; {protocol}.{failed_text} {stats_text(stats)} "
            f"{deviations_text(settings, notes=UCI_NOTES, scores=scores, benchmark='uci')}")
    captions: dict[str, str] = {}

    families = [m for m in fnns if m in FAMILIES]
    others = [m for m in fnns if m not in FAMILIES]
    if len(families) < len(FAMILIES) or others:
        base += (f" {len(families)} of the paper's {len(FAMILIES)} FNN families were run "
                 f"({', '.join(families) or 'none'})"
                 + (f", and {len(others)} other torch method(s) ({', '.join(others)})" if others else "")
                 + ": ranks and expected ranks are over those, so the differences to the published values compare "
                 "unlike sets.")

    def rows_of(table: str, group: str | None = None, split: str | None = None) -> pd.DataFrame:
        keep = statistics["table"] == table
        if group is not None:
            keep &= statistics["group"] == group
        if split is not None:
            keep &= statistics["split"].astype(str) == split
        return statistics[keep]

    # Table 1 (left): our FNNs over all datasets; rank minus the expected rank (k + 1) / 2. The
    # 24-method comparison: our FNNs + Fernandez-Delgado's 17 published representatives.

    n_fd = len(FD_REPRESENTATIVES)
    label = (f" ({len(fnns) + n_fd} methods: our {len(fnns)} FNNs + Fernandez-Delgado et al.'s {n_fd} published "
             "family representatives, ")
    tables: dict[str, pd.DataFrame] = {}
    for name, group, published, stat in RANK_TABLES:
        rows = rows_of(name, group)
        frame, untestable = hide_untestable(rank_comparison(rows, published_table=published, statistic=stat),
                                            stats.alpha)
        if name != "table1":
            frame.insert(1, "source", rows.reindex(columns=["source"])["source"].to_numpy())
        if rows.empty:
            lacking = missing_results(scores)
            without = f"; without a result: {lacking}" if lacking else ""
            captions[name] = (f"{PRINTED_NAMES[published]}: not computed: fewer than two methods have a result on "
                              f"the {group} datasets of this run ({len(data.groups[group])} datasets; torch methods "
                              f"run: {', '.join(fnns) or 'none'}{without}). {base}")
        elif name == "table1":
            captions[name] = (f"Table 1 (left): average rank minus the expected rank of the FNNs (ours) and one-sided "
                              f"paired Wilcoxon p-values, over {acc.shape[0]} datasets, next to the published values "
                              f"(Klambauer et al. 2017). p_holm: Holm-adjusted (beyond the paper).{untestable} {base}")
        else:
            sign = "<" if group == "small" else ">="
            captions[name] = (f"{PRINTED_NAMES[published]}: {group} datasets (N {sign} 1000), "
                              f"{len(data.groups[group])} datasets{label}labelled 'published'); "
                              f"{stat}.{untestable} {base}")
        write_table(frame, out_dir / name, captions[name])
        tables[name] = frame
    t1 = tables["table1"]

    # Table A11: per-dataset accuracies, ours next to the paper's.
    a11 = table_a11().reindex(used)
    per_split = ours[ours["status"] == "ok"].pivot_table(index="dataset", columns="method", values="value",
                                                         aggfunc="std")
    rows = pd.DataFrame({"dataset": used, "N": a11["N"].to_numpy(), "M": a11["M"].to_numpy()})
    for method in data.mine:
        mine = accuracy_table(scores, methods=[method])[method].reindex(used)
        rows[method] = mine.to_numpy()
        if len(splits) > 1 and method in per_split:
            rows[f"{method}_std"] = per_split[method].reindex(used).to_numpy()
        if method in a11:
            rows[f"{method}_published"] = a11[method].to_numpy()
            rows[f"{method}_diff"] = rows[method] - rows[f"{method}_published"]
    captions["tableA11"] = ("Table A11: test accuracy per dataset, ours next to the published "
                            "(Klambauer et al. 2017);"
                            f" Our scikit-learn methods ({', '.join(data.mine[len(fnns):]) or 'none'}) "
                            f"have no published column. {base}")
    write_table(rows, out_dir / "tableA11", captions["tableA11"])

    # Our FNNs and our baselines, ranked together (beyond the paper).
    parts = []
    for group in ("all", "small", "large"):
        frame = rows_of("table_baselines", group)
        if len(frame):
            frame = rank_comparison(frame, published_table=None, statistic="avg_rank")
            frame.insert(0, "group", group)
            parts.append(frame)
    baseline_table, untestable = (hide_untestable(pd.concat(parts, ignore_index=True), stats.alpha) if parts
                                  else (pd.DataFrame(), ""))
    captions["table_baselines"] = ("Our FNNs and our scikit-learn methods (same splits, validation-selected grids), "
                                   "average ranks and Wilcoxon p-values per size group (beyond the paper)."
                                   f"{untestable} {base}")
    write_table(baseline_table, out_dir / "table_baselines", captions["table_baselines"])

    # Stability across splits (beyond the paper): Table 1 statistics per split column.
    if len(splits) > 1:
        parts = []
        for split in splits:
            frame = rank_comparison(rows_of("table1_per_split", "all", split), published_table=None,
                                    statistic="avg_rank_minus_expected")
            frame.insert(0, "split", split)
            parts.append(frame)
        captions["table1_per_split"] = f"Table 1 (left) statistics per data_py split column (beyond the paper). {base}"
        write_table(pd.concat(parts, ignore_index=True), out_dir / "table1_per_split", captions["table1_per_split"])

    # Our methods against the published ones (stats.compare_with: published; beyond the paper).
    for name, group, kind in COMPARE_TABLES:
        rows = rows_of(name, group)
        if not len(rows):
            continue
        statistic = "avg_rank_minus_expected" if name == "compare_table1" else "avg_rank"
        frame, untestable = hide_untestable(rank_comparison(rows, published_table=None, statistic=statistic),
                                            stats.alpha)
        frame.insert(1, "source", rows["source"].to_numpy())
        what = ("the paper's 7 FNNs as published (Table A11)" if kind == "a11"
                else "the paper's 24 methods as published (7 FNNs, Table A11; 17 of Fernandez-Delgado et al.)")
        captions[name] = (f"Our methods ranked with {what}, {group} datasets ({len(data.groups[group])} "
                          f"datasets); {statistic}, one-sided Wilcoxon against the best-ranked (beyond the paper)."
                          f"{untestable} {PUBLISHED_NOTE} {base}")
        write_table(frame, out_dir / name, captions[name])
    duels = rows_of("head_to_head").reindex(columns=HEAD_TO_HEAD_COLUMNS).reset_index(drop=True)
    if len(duels):
        for column in ("wins", "ties", "losses", "n_datasets"):
            duels[column] = duels[column].astype("Int64")
        n_published = int(duels.groupby(["group", "method"]).size().max())
        need = min_pairs(stats.alpha, tests=n_published)
        few = duels.groupby("group", sort=False)["n_datasets"].max()
        few = few[few < need]
        too_few = (f" A verdict other than 'no difference' needs at least {need} paired datasets (the smallest "
                   f"one-sided p-value on n pairs is 2^-n, and Holm multiplies the smallest of {n_published} by "
                   f"{n_published}); too few here in " + ", ".join(f"{g} ({n})" for g, n in few.items()) + "."
                   if len(few) else "")
        captions["head_to_head"] = (
            "Each of our methods against each of the paper's 24 published methods, per size group (all, small "
            "N < 1000, large): wins / ties / losses of ours on the datasets both have; p_better: one-sided paired "
            "Wilcoxon that ours is better, p_worse: that the published method is better, each Holm-adjusted over "
            f"the 24 (p_better_holm, p_worse_holm); verdict at {stats.alpha:g}. These tests do not depend on which "
            f"other methods are compared, unlike the leaderboard's ranks (beyond the paper).{too_few} "
            f"{PUBLISHED_NOTE} {base}")
        write_table(duels, out_dir / "head_to_head", captions["head_to_head"])
        captions["head_to_head_summary"] = (
            "Each of our methods against the paper's 24 published methods, one paired test each: how many it is "
            "better than, not different from and worse than, and which (one-sided paired Wilcoxon both ways on "
            f"the datasets both have, Holm-adjusted over the 24, at {stats.alpha:g}; every pair in head_to_head.csv). "
            "Unlike average ranks, a verdict here does not change when other methods join the comparison (beyond "
            f"the paper).{too_few} {PUBLISHED_NOTE} {base}")
        write_table(head_to_head_summary(duels), out_dir / "head_to_head_summary", captions["head_to_head_summary"])
    board = rows_of("leaderboard")
    if len(board):
        board = board.reindex(columns=LEADERBOARD_COLUMNS).reset_index(drop=True)
        for column in ("place", "wins", "ties", "losses", "n_datasets"):
            board[column] = board[column].astype("Int64")
        board["star"] = board["star"].astype(bool)
        board, untestable = hide_untestable(board, stats.alpha)
        captions["leaderboard"] = (
            f"Leaderboard: our methods among the paper's 24 published methods per size group (all, small N < 1000, "
            f"large), by average rank; wins / ties / losses against {LEADERBOARD_REFERENCE} (ties: equal exact "
            "accuracies) on the datasets both have; p_value: one-sided paired Wilcoxon that SNN is better, p_better: "
            "that the method is better, each Holm-adjusted over the methods (p_holm, p_better_holm); star at "
            f"p_value < {stats.alpha:g}. Rows are ordered by verdict (the Holm-adjusted paired tests, which do not "
            f"depend on the pool of methods) first; the average ranks and places depend on the pool (Benavoli et al. "
            f"2016). {pool_caption(data.groups)}{untestable} {PUBLISHED_NOTE} {base}")
        write_table(board, out_dir / "leaderboard", captions["leaderboard"])

    # Friedman test per group (beyond the paper), on the datasets where every method has a result.
    columns = ["group", "methods", "statistic", "p_value", "n_datasets", "k", "n_dropped", "cd_nemenyi", "error"]
    friedman_table = rows_of("friedman").reindex(columns=columns).dropna(axis=1, how="all").reset_index(drop=True)
    counts = [c for c in ("n_datasets", "k", "n_dropped") if c in friedman_table]
    friedman_table[counts] = friedman_table[counts].astype("Int64")
    captions["friedman"] = ("Friedman test per size group on the datasets where every method has a result, with "
                            f"Nemenyi's critical difference of the average ranks there at alpha {stats.alpha:g} "
                            f"(cd_nemenyi; Demsar 2006) (beyond the paper). {base}")
    write_table(friedman_table, out_dir / "friedman", captions["friedman"])

    atomic_write_bytes(out_dir / "captions.json", lambda f: f.write((json.dumps(captions, indent=1) + "\n").encode()))
    return {"captions": captions, "datasets": len(used), "splits": splits, "acc": acc, "acc24": data.acc24,
            "groups": data.groups, "table1": t1, "friedman": friedman_table, "statistics": statistics,
            "leaderboard": board if len(board) else None}
