"""HTRU2: Table 3 (AUC mean ± std over the outer folds, one-sided paired Wilcoxon against SNN),
formatted from its statistics (``stats.py``) beside the published table, and the per-fold figure."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from snnbench.atomic import atomic_write_bytes
from snnbench.benchmarks.htru2.stats import REFERENCE, fold_table, htru2_statistics
from snnbench.contracts.scores import ours as ours_rows
from snnbench.evaluation.stats import NOT_COMPUTED, settings_of, why_not_computed
from snnbench.reference import published_htru2_table3
from snnbench.reporting.captions import deviations_text, stats_text
from snnbench.reporting.plots import pyplot, save_figure
from snnbench.reporting.tables import write_table

HTRU2_NOTES = ("the outer folds are our own seeded stratified split, the paper's are not published (H1)",
               "features z-scored on the training folds (D2)")


def table3(statistics: pd.DataFrame) -> pd.DataFrame:
    """Our Table 3 from its statistics (``stats.htru2_statistics``), with the published
    values beside it; the p-values in a column ``p_value_vs_<the method tested against>``."""

    published = published_htru2_table3()
    own = published[published["kind"] == "FNN"].set_index("method")
    reference = statistics["vs"].iloc[0] if len(statistics) else REFERENCE
    rows = []
    for r in statistics.itertuples():
        pub = own.loc[r.method] if r.method in own.index else None
        rows.append({
            "method": r.method, "source": "ours", "n_folds": r.n_folds, "auc_mean": r.auc_mean, "auc_std": r.auc_std,
            f"p_value_vs_{reference}": r.p_value, "n_pairs": r.n_pairs, "star": bool(r.star),
            "published_mean": None if pub is None else pub["auc_mean"],
            "published_std": None if pub is None else pub["auc_std"],
            "published_p": None if pub is None else pub["p_value_vs_SNN"],
            "published_star": "" if pub is None or pd.isna(pub["starred_in_paper"]) else pub["starred_in_paper"],
        })
    table = pd.DataFrame(rows, columns=["method", "source", "n_folds", "auc_mean", "auc_std", f"p_value_vs_{reference}",
                                        "n_pairs", "star", "published_mean", "published_std", "published_p",
                                        "published_star"])
    table["difference"] = table["auc_mean"] - table["published_mean"]
    lyon = published[published["kind"] != "FNN"]
    quoted = pd.DataFrame({"method": lyon["method"] + " (Lyon et al. 2016)",
                           "source": "published (quoted by the paper)",
                           "published_mean": lyon["auc_mean"].to_numpy()})
    table = pd.concat([table, quoted], ignore_index=True)
    table["star"] = table["star"].map({True: "yes", False: "no"}).fillna("")
    table["published_star"] = table["published_star"].fillna("")
    table[["n_folds", "n_pairs"]] = table[["n_folds", "n_pairs"]].astype("Int64")
    return table


def build_htru2_tables(scores: pd.DataFrame, out_dir: str | Path, *, statistics: pd.DataFrame | None = None,
                       settings: dict[str, Any] | None = None, n_folds: int | None = None) -> dict[str, Any]:
    """Table 3 and the per-fold figure from ``statistics`` (``stats.csv``; computed with the
    default settings when not given)."""

    out_dir = Path(out_dir)
    statistics = htru2_statistics(scores) if statistics is None else statistics
    stats = settings_of(statistics)
    missing = why_not_computed(statistics)
    table = table3(statistics[statistics["table"] != NOT_COMPUTED])
    folds = sorted(fold_table(scores).index, key=int)
    ours = ours_rows(scores)
    failed = ours[ours["status"] != "ok"]
    caption = (f"Table 3: HTRU2 test ROC-AUC, mean ± standard deviation (ddof 1) over {len(folds)} outer folds "
               f"(0-based: {', '.join(map(str, folds))}) of the nested cross-validation"
               + (f" of {n_folds}" if n_folds else "") + ", next to the published values (Klambauer et al. 2017); "
               "published_p: the paper's p-values against SNN; RF and SVM "
               "are our baselines; Naive Bayes, C4.5 and SVM of Lyon et al. 2016 are quoted by the paper. "
               + stats_text(stats, against="SNN (as the paper)")
               + (f" Not computed: {missing}." if missing else "")
               + (f" Failed jobs: {len(failed)} (see failures.csv)." if len(failed) else "")
               + " " + deviations_text(settings, notes=HTRU2_NOTES, scores=scores, benchmark="htru2"))
    write_table(table, out_dir / "table3", caption, decimals=4)
    published = scores[scores["source"] == "published"].set_index("method")["value"]
    per_fold_plot(fold_table(scores), out_dir / "figures" / "auc_per_fold", published=published)
    atomic_write_bytes(out_dir / "captions.json",
                       lambda f: f.write((json.dumps({"table3": caption}, indent=1) + "\n").encode()))
    return {"table3": table, "caption": caption, "folds": folds}


def per_fold_plot(folds: pd.DataFrame, stem: Path, *, published: pd.Series | None = None) -> list[Path]:
    """HTRU2: the test ROC-AUC of every outer fold per method (points), our mean (black bar) and
    the paper's published mean (red cross) where it has one."""
    methods = list(folds.columns)
    published = published if published is not None else pd.Series(dtype=float)
    fig, ax = pyplot().subplots(figsize=(1.0 * len(methods) + 2, 3.2))
    for i, method in enumerate(methods):
        values = folds[method].dropna()
        ax.scatter([i] * len(values), values, s=12, alpha=0.7, color="tab:blue",
                   label="ours, per outer fold" if i == 0 else None)
        ax.hlines(values.mean(), i - 0.3, i + 0.3, color="black", label="ours, mean" if i == 0 else None)
        if pd.notna(published.get(method)):
            ax.scatter([i], [published[method]], marker="x", s=40, color="tab:red",
                       label="published mean (Table 3)" if "published mean (Table 3)" not in
                       ax.get_legend_handles_labels()[1] else None)
    ax.set_xticks(range(len(methods)), methods, rotation=30, fontsize=8)
    ax.set_xlabel("method", fontsize=8)
    ax.set_ylabel("test ROC-AUC", fontsize=8)
    ax.set_title(f"HTRU2: test ROC-AUC over {len(folds)} outer folds, ours and the paper's means", fontsize=9)
    if methods:  # no method with a result: an empty figure, the caption says why
        ax.legend(fontsize=7)
    return save_figure(fig, stem)
