"""HTRU2: Table 3 (AUC mean ± std over the outer folds, one-sided paired Wilcoxon against SNN),
beside the published table, and the per-fold figure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from .datasets.prepared import atomic_write_bytes
from .models import METHODS as FNNS
from .settings import StatsSettings
from .tables import deviations_text, stats_text, write_table

REFERENCE = "SNN"
HTRU2_NOTES = ("the outer folds are our own seeded stratified split, the paper's are not published (H1)",
               "features z-scored on the training folds (D2)")


def fold_table(scores: pd.DataFrame) -> pd.DataFrame:
    """Wide table outer fold x method of our test ROC-AUCs."""
    ours = scores[(scores["source"] == "ours") & (scores["status"] == "ok")]
    return ours.pivot_table(index="split", columns="method", values="value", aggfunc="mean")


def table3(scores: pd.DataFrame, *, stats: StatsSettings = StatsSettings()) -> pd.DataFrame:
    """Our Table 3; p-values against SNN, as the paper (or ``stats.reference``), in a column
    ``p_value_vs_<that method>``."""
    from .reference import published_htru2_table3
    from .stats import paired_wilcoxon_greater

    reference = stats.against(REFERENCE)
    folds = fold_table(scores)
    published = published_htru2_table3()
    own = published[published["kind"] == "FNN"].set_index("method")
    methods = [m for m in FNNS if m in folds] + [m for m in folds if m not in FNNS]
    rows = []
    for method in methods:
        values = folds[method].dropna()
        p = n = None
        if method != reference and reference in folds:
            p, n = paired_wilcoxon_greater(folds[reference], folds[method], method=stats.wilcoxon)
        pub = own.loc[method] if method in own.index else None
        rows.append({
            "method": method, "source": "ours", "n_folds": len(values), "auc_mean": values.mean(),
            "auc_std": values.std(ddof=1) if len(values) > 1 else float("nan"),
            f"p_value_vs_{reference}": p, "n_pairs": n, "star": bool(p is not None and pd.notna(p) and p < stats.alpha),
            "published_mean": None if pub is None else pub["auc_mean"],
            "published_std": None if pub is None else pub["auc_std"],
            "published_p": None if pub is None else pub["p_value_vs_SNN"],
            "published_star": "" if pub is None or pd.isna(pub["starred_in_paper"]) else pub["starred_in_paper"],
        })
    table = pd.DataFrame(rows)
    table["difference"] = table["auc_mean"] - table["published_mean"]
    lyon = published[published["kind"] != "FNN"]
    quoted = pd.DataFrame({"method": lyon["method"] + " (Lyon et al. 2016)", "source": "published (quoted by the paper)",
                           "published_mean": lyon["auc_mean"].to_numpy()})
    table = pd.concat([table, quoted], ignore_index=True)
    table["star"] = table["star"].map({True: "yes", False: "no"}).fillna("")
    table["published_star"] = table["published_star"].fillna("")
    table[["n_folds", "n_pairs"]] = table[["n_folds", "n_pairs"]].astype("Int64")
    return table


def build_htru2_tables(scores: pd.DataFrame, out_dir: str | Path, *, settings: dict[str, Any] | None = None,
                       n_folds: int | None = None, stats: StatsSettings = StatsSettings()) -> dict[str, Any]:
    from .figures import per_fold_plot

    out_dir = Path(out_dir)
    table = table3(scores, stats=stats)
    folds = sorted(fold_table(scores).index, key=int)
    failed = scores[(scores["source"] == "ours") & (scores["status"] != "ok")]
    caption = (f"Table 3: HTRU2 test ROC-AUC, mean ± standard deviation (ddof 1) over {len(folds)} outer folds "
               f"(0-based: {', '.join(map(str, folds))}) of the nested cross-validation"
               + (f" of {n_folds}" if n_folds else "") + ", next to the published values (Klambauer et al. 2017); "
               "published_p: the paper's p-values against SNN; RF and SVM "
               "are our baselines; Naive Bayes, C4.5 and SVM of Lyon et al. 2016 are quoted by the paper. "
               + stats_text(stats, against="SNN (as the paper)")
               + (f" Failed jobs: {len(failed)} (see failures.csv)." if len(failed) else "")
               + " " + deviations_text(settings, notes=HTRU2_NOTES))
    write_table(table, out_dir / "table3", caption, decimals=4)
    per_fold_plot(fold_table(scores), out_dir / "figures" / "auc_per_fold")
    atomic_write_bytes(out_dir / "caption_table3.txt", lambda f: f.write((caption + "\n").encode()))
    return {"table3": table, "caption": caption, "folds": folds}
