"""The paper check: the statistics recomputed from the published numbers alone, against the paper's stars."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from snnbench import reference
from snnbench.atomic import atomic_write_csv
from snnbench.evaluation.stats import DEFAULTS, size_groups, wilcoxon_vs_best
from snnbench.settings import StatsSettings


def compare_with_published(ours: pd.DataFrame, published: pd.DataFrame, *, table: str,
                           groups: dict[str, str]) -> pd.DataFrame:
    """Our statistics next to one published table (rows of ``published_ranks()`` for ``table``)."""
    pub = published.loc[published["table"] == table].set_index("method")
    statistic = pub["statistic"].iloc[0]
    ours_value = ours["avg_rank"] if statistic == "avg_rank" else ours["avg_rank_minus_expected"]
    out = pd.DataFrame({"table": table, "subset": pub["subset"].iloc[0]}, index=ours.index)
    out["method"] = ours["method"]
    out["method_group"] = [pub["method_group"].get(m, groups.get(m, m)) for m in ours["method"]]
    out["vs"] = ours["vs"]
    for column in ("n_datasets", "avg_rank", "avg_rank_minus_expected", "p_value", "p_holm", "star"):
        out[column] = ours[column]
    out["published_statistic"] = statistic
    out["published_value"] = ours["method"].map(pub["value"]).astype(float)
    out["published_p_value"] = ours["method"].map(pub["p_value_vs_best"]).astype(float)
    out["published_star"] = (ours["method"].map(pub["starred_in_paper"].map({"yes": True, "no": False}))
                             .astype("boolean"))
    out["rank_diff"] = ours_value.to_numpy() - out["published_value"]
    out["p_rel_diff"] = out["p_value"] / out["published_p_value"] - 1.0
    return out.reset_index(drop=True)


P_TOLERANCE = 0.05  # a p-value "reproduces" the published one within this relative difference
P_TABLES = (("table1", "Table1-left"), ("tableA12", "TableA12"), ("tableA13", "TableA13"))


def agreement(results: dict[str, pd.DataFrame]) -> dict[str, tuple[int, int]]:
    """Per table (Table 1 left, A12, A13): (rows within ``P_TOLERANCE`` of the published p-value,
    rows with a published p-value)."""
    out = {}
    for stem, table in P_TABLES:
        frame = results[stem]
        frame = frame.loc[(frame["table"] == table) & frame["published_p_value"].notna()]
        out[table] = (int((frame["p_rel_diff"].abs() <= P_TOLERANCE).sum()), len(frame))
    return out


def paper_check(out_dir: str | Path | None, *, stats: StatsSettings = DEFAULTS,
                acc24: pd.DataFrame | None = None) -> dict[str, pd.DataFrame]:
    """Run these statistics on the paper's own numbers and set them next to the published ones.

    Inputs: Table A11 (7 FNNs, 121 datasets) and Fernandez-Delgado's accuracies of the 17
    representatives (``reference.published_24_accuracies``); groups by Table A11's N. Writes, into
    ``out_dir``:

    * ``table1.csv``: Table 1 left (7 FNNs, all 121 datasets, avg rank minus 4) and Table 1 right
      (24 methods, the 46 large datasets, avg rank minus 12.5; all 24 rows, the published columns
      empty where the paper prints none);
    * ``tableA12.csv``: 24 methods, the 75 small datasets; ``tableA13.csv``: 24 methods, the 46
      large ones (avg rank).

    One row per method and table, best first; ``vs`` = our best, which every p-value compares
    against (always the best-ranked, as the paper: ``stats.reference`` is not applied here);
    ``rank_diff`` = ours minus published in the published statistic; ``p_rel_diff`` = ours /
    published - 1. ``stats`` (the config's section) gives the null distribution, the missing-result
    rule and alpha, the same as our own tables use. Its default ``wilcoxon: auto`` on the exact
    accuracies (``reference.published_24_accuracies``) gives the best measured agreement of the
    candidates (benchmarks/paper_conventions.py, docs/protocol.md S2): 6 of 6 Table 1 (left),
    22 of 23 Table A12, 16 of 23 Table A13 p-values within 5 %. Returns the three
    tables keyed by file stem (``out_dir=None``: return them without writing; ``acc24``
    replaces the published accuracies, for benchmarks/paper_conventions.py).
    """

    published = reference.published_ranks()
    sizes = reference.table_a11()["N"]
    groups = size_groups(sizes)
    acc24 = reference.published_24_accuracies() if acc24 is None else acc24
    fnn = acc24.loc[:, list(reference.FNN_METHODS)]
    families = dict(reference.FD_REPRESENTATIVES)

    def compare(acc: pd.DataFrame, table: str) -> pd.DataFrame:
        ours = wilcoxon_vs_best(acc, missing=stats.missing, method=stats.wilcoxon, alpha=stats.alpha)
        return compare_with_published(ours, published, table=table, groups=families)

    table1 = pd.concat(
        [compare(fnn.loc[groups["all"]], "Table1-left"), compare(acc24.loc[groups["large"]], "Table1-right")],
        ignore_index=True,
    )
    results = {
        "table1": table1,
        "tableA12": compare(acc24.loc[groups["small"]], "TableA12").drop(columns="avg_rank_minus_expected"),
        "tableA13": compare(acc24.loc[groups["large"]], "TableA13").drop(columns="avg_rank_minus_expected"),
    }
    if out_dir is None:
        return results
    out = Path(out_dir)
    for stem, frame in results.items():
        atomic_write_csv(out / f"{stem}.csv", frame)
    return results


def agreement_text(table: pd.DataFrame) -> str:
    """How close a paper-check table (``compare_with_published``'s rows, one or more published tables) comes
    to the published numbers, measured: e.g. 'Table1-left: ranks within 0.021 of the published, p-values
    within 6.6 % (relative), 6 of 6 stars as published'."""
    parts = []
    for name, rows in table.groupby("table", sort=False):
        text = f"{name}: ranks within {rows['rank_diff'].abs().max():.3f} of the published"
        rel = rows["p_rel_diff"].abs().dropna()
        if len(rel):
            text += f", p-values within {rel.max():.1%} (relative, {len(rel)} published)"
        starred = rows[rows["published_star"].notna()]
        if len(starred):
            same = int((starred["star"].astype(bool) == starred["published_star"].astype(bool)).sum())
            text += f", {same} of {len(starred)} stars as published"
        parts.append(text)
    return "; ".join(parts) if parts else "no published rows to compare"
