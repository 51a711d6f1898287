"""Figures of the UCI comparison (matplotlib, PNG + SVG): critical-difference diagrams, SNN against
every other method per dataset, and the selected depth per method next to the paper's means."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from snnbench.atomic import atomic_write_csv
from snnbench.benchmarks.uci.stats import source_of
from snnbench.contracts.scores import ours as ours_rows
from snnbench.reporting.plots import pyplot, save_figure

# Mean selected depth the paper reports (Sec. 4.1): layers, blocks for ResNet.
PUBLISHED_DEPTH = {"SNN": 10.8, "BatchNorm": 6.0, "WeightNorm": 3.8, "LayerNorm": 7.0, "Highway": 5.9,
                   "MSRAinit": 7.1, "ResNet": 6.35}


def cd_diagram(rows: pd.DataFrame, stem: Path, *, title: str, alpha: float = 0.05) -> list[Path]:
    """Critical-difference diagram (scikit-posthocs) from the statistics' ``nemenyi`` rows of one
    group: the average ranks on the complete rows, the pairwise Nemenyi p-values (bars join the
    methods not significantly different) and Nemenyi's critical difference as a bar; our methods
    and the published ones in two colours."""
    import scikit_posthocs as sp


    ranks = rows.drop_duplicates("method").set_index("method")["avg_rank"].astype(float).sort_values()
    p_values = rows.pivot(index="method", columns="vs", values="p_value").reindex(index=ranks.index,
                                                                                 columns=ranks.index)
    p_values = p_values.fillna(1.0).astype(float)  # a method against itself
    hue = pd.Series({m: "ours" if source_of(m) == "ours" else "published" for m in ranks.index})
    fig, ax = pyplot().subplots(figsize=(8, 0.35 * len(ranks) + 1.8))
    sp.critical_difference_diagram(ranks, p_values, ax=ax, cd=float(rows["cd_nemenyi"].iloc[0]), alpha=alpha,
                                   hue=hue, hue_order=[h for h in ("ours", "published") if h in set(hue)],
                                   color_palette={"ours": "tab:blue", "published": "tab:gray"})
    ax.set_xlabel(f"average rank (1 = best); CD: Nemenyi's critical difference at alpha {alpha:g}", fontsize=8)
    ax.set_title(title, fontsize=9)
    return save_figure(fig, stem)


def snn_scatter(acc: pd.DataFrame, stem: Path) -> list[Path]:
    others = [m for m in acc.columns if m != "SNN"]
    cols = min(4, len(others)) or 1
    rows = -(-len(others) // cols) or 1
    fig, axes = pyplot().subplots(rows, cols, figsize=(3 * cols, 3 * rows), squeeze=False)
    for ax, method in zip(axes.flat, others):
        pair = acc[["SNN", method]].dropna()
        ax.scatter(pair[method], pair["SNN"], s=8)
        low, high = (float(pair.min().min()), float(pair.max().max())) if len(pair) else (0.0, 1.0)
        margin = max(0.01, 0.05 * (high - low))
        low, high = low - margin, min(high + margin, 1.0 + margin)  # the axes fitted to the data
        ax.plot([low, high], [low, high], color="grey", lw=0.8)
        ax.set_xlim(low, high)
        ax.set_ylim(low, high)
        ax.set_aspect("equal")
        wins = int((pair["SNN"] > pair[method]).sum())
        ax.set_title(f"SNN vs {method}: {wins}/{len(pair)} wins", fontsize=8)
        ax.set_xlabel(f"{method} accuracy", fontsize=8)
        ax.set_ylabel("SNN accuracy", fontsize=8)
    for ax in list(axes.flat)[len(others):]:
        ax.axis("off")
    fig.tight_layout()
    return save_figure(fig, stem)


def depth_plot(scores: pd.DataFrame, stem: Path) -> tuple[list[Path], pd.DataFrame]:
    ours = ours_rows(scores, ok=True)
    ours = ours[ours["method"].isin(PUBLISHED_DEPTH)]
    table = ours.groupby("method")["depth"].mean().rename("ours").to_frame()
    table["published"] = pd.Series(PUBLISHED_DEPTH)
    table = table.reindex([m for m in PUBLISHED_DEPTH if m in table.index])
    fig, ax = pyplot().subplots(figsize=(6, 3))
    x = range(len(table))
    ax.bar([i - 0.2 for i in x], table["ours"], width=0.4, label="ours")
    ax.bar([i + 0.2 for i in x], table["published"], width=0.4, label="published")
    ax.set_xticks(list(x), table.index, rotation=30, fontsize=8)
    ax.set_ylabel("mean selected depth (layers; ResNet: blocks)", fontsize=8)
    ax.legend(fontsize=8)
    return save_figure(fig, stem), table.reset_index()


def write_uci_figures(scores: pd.DataFrame, tables: dict, out_dir: Path) -> list[str]:
    """The UCI figures from what ``tables.build_uci_tables`` returned (the critical-difference
    diagrams from its statistics' ``nemenyi`` rows); returns what could not be drawn."""
    skipped = []
    acc, statistics = tables["acc"], tables["statistics"]
    for group in ("all", "small", "large"):
        rows = statistics[(statistics["table"] == "nemenyi") & (statistics["group"] == group)]
        friedman = statistics[(statistics["table"] == "friedman") & (statistics["group"] == group)]
        if rows.empty:  # too few complete datasets for the test
            why = friedman["error"].iloc[0] if "error" in friedman and len(friedman) else "no statistics"
            skipped.append(f"no critical-difference diagram for {group}: {why}")
            continue
        label = rows["methods"].iloc[0]
        cd_diagram(rows, out_dir / f"cd_{group}", alpha=float(statistics["alpha"].iloc[0]),
                   title=f"{label}, {group} datasets ({int(rows['n_datasets'].iloc[0])} with every method)")
    if "SNN" in acc:
        snn_scatter(acc, out_dir / "snn_vs_methods")
    _, depth = depth_plot(scores, out_dir / "selected_depth")
    depth_csv = out_dir.parent / "selected_depth.csv"
    atomic_write_csv(depth_csv, depth)
    return skipped


