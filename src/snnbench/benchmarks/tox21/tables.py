"""Tox21: Table 2 (test AUC x 100 per method and depth, mean ± std over repeats) beside the
published table, the per-task companion table, and the AUC-vs-depth figure."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from snnbench.atomic import atomic_write_bytes
from snnbench.contracts.results import per_task_columns
from snnbench.contracts.scores import ours as ours_rows
from snnbench.reference import TOX21_CHALLENGE_WINNER, published_tox21_table2
from snnbench.reporting.captions import deviations_text
from snnbench.reporting.plots import pyplot, save_figure
from snnbench.reporting.tables import write_table

_TABLE2 = published_tox21_table2()
PAPER_DEPTHS = tuple(int(d) for d in sorted(_TABLE2["depth"].unique()))  # Table 2's columns
PAPER_ORDER = tuple(_TABLE2["method"].unique())  # Table 2's rows, in its order
TOX21_NOTES = ("features z-scored on the training compounds (D2)",
               "RF and SVM are ours, one estimator per task (B3)")
FULL_TRAINING_COMPOUNDS = 11764


def _ours(scores: pd.DataFrame, scope: str) -> pd.DataFrame:
    rows = ours_rows(scores, ok=True)
    return rows[rows["scope"] == scope] if "scope" in rows else rows.iloc[0:0]


def _stats(values: pd.Series) -> tuple[float, float, int]:
    """(mean, std with ddof 1, count) of AUCs as AUC x 100; std NaN for one repeat."""
    v = values.dropna().astype(float) * 100.0
    return (v.mean() if len(v) else np.nan, v.std(ddof=1) if len(v) > 1 else np.nan, len(v))


def _methods(scores: pd.DataFrame) -> list[str]:
    ours = set(ours_rows(scores)["method"])
    return [m for m in PAPER_ORDER if m in ours] + sorted(m for m in ours if m not in PAPER_ORDER)


def table2(scores: pd.DataFrame) -> tuple[pd.DataFrame, list[int]]:
    """Wide Table 2 (numbers) and the depths shown: per method, per depth our mean ± std over the
    repeats of the configuration selected on validation at that depth, the published cell and
    our difference; the selection over all depths; the challenge winner as a published row."""

    by_depth = _ours(scores, "depth")
    selected = _ours(scores, "selected")
    depths = sorted({int(d) for d in by_depth["depth"].dropna()})
    published = published_tox21_table2().set_index(["method", "depth"])
    rows = []
    for method in _methods(scores):
        row: dict[str, Any] = {"method": method, "source": "ours"}
        mine = by_depth[by_depth["method"] == method]
        for d in depths:
            mean, std, n = _stats(mine.loc[mine["depth"] == d, "value"])
            pub = published.loc[(method, d)] if (method, d) in published.index else None
            row.update({f"{d}": mean, f"{d}_std": std, f"{d}_n": n,
                        f"{d}_published": np.nan if pub is None else pub["auc_x100_mean"],
                        f"{d}_published_std": np.nan if pub is None else pub["auc_x100_std"]})
            row[f"{d}_difference"] = row[f"{d}"] - row[f"{d}_published"]
        means = pd.Series({d: row[f"{d}"] for d in depths}, dtype=float)
        row["best_depth"] = int(means.idxmax()) if means.notna().any() else None
        if method in set(published.index.get_level_values(0)):
            pub_all = published.loc[method]["auc_x100_mean"]
            row["published_best_depth"] = int(pub_all.idxmax())
            row["published_best"] = float(pub_all.max())
        sel = selected[selected["method"] == method]
        row["selected"], row["selected_std"], row["n_repeats"] = _stats(sel["value"])
        row["selected_depths"] = ", ".join(str(int(d)) for d in sel["depth"].dropna()) or None
        rows.append(row)
    rows.append({"method": TOX21_CHALLENGE_WINNER["method"], "source": "published (quoted by the paper)",
                 "published_best": 100.0 * TOX21_CHALLENGE_WINNER["auc"]})
    table = pd.DataFrame(rows)
    for col in ("best_depth", "published_best_depth", "n_repeats", *[f"{d}_n" for d in depths]):
        if col in table:
            table[col] = table[col].astype("Int64")
    return table, depths


def _is(value: Any, depth: int) -> bool:
    return value is not None and not pd.isna(value) and int(value) == depth


def _cell(mean: float, std: float) -> str:
    if pd.isna(mean):
        return ""
    return f"{mean:.1f}" + ("" if pd.isna(std) else f" ± {std:.1f}")


def table2_shown(table: pd.DataFrame, depths: list[int]) -> pd.DataFrame:
    """Table 2 as printed: one cell per method and depth, ``ours / published / difference``, the
    best cell of the row marked ``*`` (ours and published each)."""
    out = []
    for _, r in table.iterrows():
        shown = {"method": r["method"]}
        for d in depths:
            if f"{d}" not in r:
                continue
            ours = _cell(r[f"{d}"], r[f"{d}_std"]) + ("*" if _is(r.get("best_depth"), d) else "")
            pub = _cell(r[f"{d}_published"], r[f"{d}_published_std"]) + (
                "*" if _is(r.get("published_best_depth"), d) else "")
            diff = "" if pd.isna(r[f"{d}_difference"]) else f"{r[f'{d}_difference']:+.1f}"
            shown[str(d)] = " / ".join(p for p in (ours or "–", pub, diff) if p) if (ours or pub) else ""
        shown["selected over depths"] = _cell(r.get("selected"), r.get("selected_std"))
        shown["selected depths"] = r.get("selected_depths") or ""
        best, at = r.get("published_best"), r.get("published_best_depth")
        shown["published best (depth)"] = "" if best is None or pd.isna(best) else (
            f"{best:.1f}" + ("" if at is None or pd.isna(at) else f" ({int(at)})"))
        out.append(shown)
    return pd.DataFrame(out).fillna("")


def task_table(scores: pd.DataFrame) -> pd.DataFrame:
    """Per method, each task's test AUC x 100 of the overall selected configuration, mean over repeats."""
    selected = _ours(scores, "selected")
    tasks = per_task_columns(selected.columns)
    rows = []
    for method in _methods(scores):
        mine = selected[selected["method"] == method]
        row: dict[str, Any] = {"method": method, "n_repeats": len(mine)}
        for col, name in tasks.items():
            row[name] = _stats(mine[col])[0]
        row["mean"] = _stats(mine["value"])[0]
        rows.append(row)
    table = pd.DataFrame(rows)
    if not table.empty:
        table["n_repeats"] = table["n_repeats"].astype("Int64")
    return table


def _feature_text(scores: pd.DataFrame) -> str:
    ours = ours_rows(scores)
    sets = sorted({str(f) for f in ours.get("feature_set", pd.Series(dtype=object)).dropna()})
    text = f"Features: {', '.join(sets) or 'unknown'}"
    if "rdkit" in sets:
        text += (" (RDKit descriptors and Morgan counts computed from the structures, because the DeepTox training "
                 "features are not available; the comparison with the published numbers is indicative only, T5)")
    else:
        text += " (the DeepTox features the paper used)"
    n_train = sorted({int(n) for n in ours.get("n_train", pd.Series(dtype=float)).dropna()})
    if n_train and max(n_train) < FULL_TRAINING_COMPOUNDS:
        text += (f". Trained on a seeded subset of {', '.join(map(str, n_train))} of the {FULL_TRAINING_COMPOUNDS} "
                 "training compounds (train.subsample: a quick tour, not a reproduction)")
    return text + "."


def build_tox21_tables(scores: pd.DataFrame, out_dir: str | Path, *,
                       settings: dict[str, Any] | None = None) -> dict[str, Any]:

    out_dir = Path(out_dir)
    table, depths = table2(scores)
    jobs = ours_rows(scores, per_job=True)
    failed = jobs[jobs["status"] != "ok"]
    repeats = sorted({str(s) for s in jobs["split"]}, key=lambda s: int(s) if s.isdigit() else s)
    missing = [d for d in PAPER_DEPTHS if d not in depths]
    common = (f"{_feature_text(scores)} Repeats (seeds): {', '.join(repeats)}."
              + (f" Failed jobs: {len(failed)} (see failures.csv)." if len(failed) else "")
              + " " + deviations_text(settings, notes=TOX21_NOTES, scores=scores, benchmark="tox21"))
    caption = ("Table 2: Tox21 test ROC-AUC x 100 (mean over the 12 tasks), mean ± standard deviation (ddof 1) over "
               "the repeats, per method and depth (layers; blocks for ResNet) of the configuration selected on the "
               "DeepTox validation set among that depth's. Each cell: ours / published (Klambauer et al. 2017) / "
               "difference; * marks the best cell of the row, ours and published each. 'selected over depths': the "
               "configuration selected on validation over the whole grid, and its depth per repeat. RF and SVM are "
               "our baselines; DeepTox's 84.6 is quoted by the paper."
               + (f" Depths not trained here (grid narrowed): {', '.join(map(str, missing))}." if missing else "")
               + " " + common)
    shown = table2_shown(table, depths)
    write_table(table, out_dir / "table2", caption, shown=shown)
    tasks = task_table(scores)
    task_caption = ("Table 2, per task: test ROC-AUC x 100 of each of the 12 Tox21 assays for the configuration "
                    "selected on validation over the whole grid, mean over the repeats; 'mean' is the mean over the "
                    "tasks (Table 2's metric). " + common)
    write_table(tasks, out_dir / "table2_tasks", task_caption, decimals=1)
    auc_depth_plot(table, depths, out_dir / "figures" / "auc_vs_depth")
    captions = {"table2": caption, "table2_tasks": task_caption}
    atomic_write_bytes(out_dir / "captions.json", lambda f: f.write((json.dumps(captions, indent=1) + "\n").encode()))
    return {"table2": table, "table2_shown": shown, "table2_tasks": tasks, "depths": depths, "captions": captions}


def auc_depth_plot(table: pd.DataFrame, depths: list[int], stem: Path) -> list[Path]:
    """Tox21: test AUC x 100 against depth per method (ours: solid with ± std bars; the paper's
    Table 2: dashed, same colour), the view of how depth hurts BatchNorm and not SNN."""
    fig, ax = pyplot().subplots(figsize=(6.5, 4))
    ours = ours_rows(table)
    for i, (_, row) in enumerate(ours.iterrows()):
        color = f"C{i % 10}"
        mean = [row.get(f"{d}", float("nan")) for d in depths]
        if any(pd.notna(m) for m in mean):
            std = [row.get(f"{d}_std", float("nan")) for d in depths]
            ax.errorbar(depths, mean, yerr=[0 if pd.isna(s) else s for s in std], color=color, marker="o", ms=3,
                        capsize=2, label=row["method"])
        elif pd.notna(row.get("selected")):  # RF, SVM: no depth
            ax.axhline(row["selected"], color=color, lw=1, ls=":", label=f"{row['method']} (no depth)")
        published = [row.get(f"{d}_published", float("nan")) for d in depths]
        if any(pd.notna(p) for p in published):
            ax.plot(depths, published, color=color, ls="--", lw=1, alpha=0.7)
    ax.set_xscale("log", base=2)
    ax.set_xticks(depths, [str(d) for d in depths])
    ax.set_xlabel("depth (layers; blocks for ResNet)", fontsize=8)
    ax.set_ylabel("test ROC-AUC x 100 (mean over tasks)", fontsize=8)
    ax.set_title("Tox21: ours (solid, ± std over repeats) and Table 2 (dashed)", fontsize=9)
    # beside the axes, not on them: inside, the legend of nine methods covered two methods' lines (issue 24)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, frameon=False)
    return save_figure(fig, stem)
