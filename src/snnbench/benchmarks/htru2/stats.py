"""HTRU2: Table 3's statistics, computed once from the scores (``snnbench stats --benchmark
htru2``, rule ``stats`` -> ``results/htru2/stats.csv``): per method, the test ROC-AUC's mean
and standard deviation over the outer folds and the one-sided paired Wilcoxon p-value over the
folds against ``vs`` (SNN, as the paper, or ``stats.reference``), with the ``stats`` settings
used. ``tables.py`` only formats these rows."""

from __future__ import annotations

import pandas as pd

from snnbench.contracts.scores import ours as ours_rows
from snnbench.evaluation.stats import missing_results, not_computed, paired_wilcoxon_greater, stamped
from snnbench.methods.paper import FAMILIES
from snnbench.settings import StatsSettings

REFERENCE = "SNN"  # the paper tests every method against SNN in Table 3


def fold_table(scores: pd.DataFrame) -> pd.DataFrame:
    """Wide table outer fold x method of our test ROC-AUCs."""
    ours = ours_rows(scores, ok=True)
    return ours.pivot_table(index="split", columns="method", values="value", aggfunc="mean")


def htru2_statistics(scores: pd.DataFrame, *, stats: StatsSettings = StatsSettings()) -> pd.DataFrame:
    reference = stats.against(REFERENCE)
    folds = fold_table(scores)
    if folds.empty:
        return not_computed(f"no method has a result on any HTRU2 outer fold: {missing_results(scores)}", stats)
    rows = []
    for method in [m for m in FAMILIES if m in folds] + [m for m in folds if m not in FAMILIES]:
        values = folds[method].dropna()
        p = n = None
        if method != reference and reference in folds:
            p, n = paired_wilcoxon_greater(folds[reference], folds[method], method=stats.wilcoxon)
        rows.append({"table": "table3", "method": method, "n_folds": len(values), "auc_mean": values.mean(),
                     "auc_std": values.std(ddof=1) if len(values) > 1 else float("nan"), "p_value": p,
                     "n_pairs": n, "star": bool(p is not None and pd.notna(p) and p < stats.alpha), "vs": reference})
    return stamped(pd.DataFrame(rows, columns=["table", "method", "n_folds", "auc_mean", "auc_std", "p_value",
                                               "n_pairs", "star", "vs"]), stats)
