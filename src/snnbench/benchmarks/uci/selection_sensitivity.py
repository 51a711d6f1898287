"""Selection sensitivity (a section of the robustness report on our runs): every training job
re-selected from its saved curves (``<stem>.curves.csv.gz``) under the choices the paper leaves
open or could have made differently, without retraining.

Variants: the smoothing window (1, 5, 10, 20 epochs) and its alignment (trailing, centered);
the tie rule between configurations (``selection.TIE_RULES``: the paper's, grid order, shallower
first, random with a seed); the last epoch instead of the early-stopping one; and the test-set
oracle (the best test metric of any configuration at any epoch the curves hold) as an upper
bound. The epoch and the configuration are chosen by ``selection.early_stopping_epoch`` and
``selection.select``, the functions training uses. With ``train.test_curve: selectable`` the
curves hold the test metric only at the epochs the run's own rule could choose (and the last):
a variant that chooses another epoch lacks test values there and is named, not ranked;
``train.test_curve: every_epoch`` gives every variant.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from snnbench import reference
from snnbench.contracts.results import output_paths, read_summary
from snnbench.errors import DataError
from snnbench.evaluation.comparisons import rank_summary
from snnbench.settings import StatsSettings
from snnbench.training.selection import TIE_RULES, early_stopping_epoch, select

WINDOWS = (1, 5, 10, 20)
ALIGNS = ("trailing", "centered")


def variants(window: int, align: str) -> list[dict]:
    """The variants tried; the first is the run's own selection (``window``, ``align``, the paper's ties)."""
    run = {"window": window, "align": align, "tie_rule": "paper", "epoch": "early stopping"}
    out = [{"variant": "as run", **run}]
    out += [{"variant": f"window {w}, {a}", **run, "window": w, "align": a}
            for w in WINDOWS for a in ALIGNS if (w, a) != (window, align)]
    out += [{"variant": f"ties: {t}", **run, "tie_rule": t} for t in TIE_RULES if t != "paper"]
    out += [{"variant": "last epoch", **run, "epoch": "last"},
            {"variant": "test-set oracle (upper bound)", **run, "tie_rule": None, "epoch": "oracle"}]
    return out


def read_job(table: Path) -> tuple[dict, pd.DataFrame, pd.DataFrame] | None:
    """A job's summary, result rows and curves; None for a job that selected nothing."""
    paths = output_paths(table)
    summary = read_summary(paths["summary"])
    if summary.get("status") != "ok":
        return None
    if not paths["curves"].is_file():
        raise DataError("no saved curves beside this result table; train the job again", path=paths["curves"])
    return summary, pd.read_csv(table), pd.read_csv(paths["curves"])


def reselect(rows: pd.DataFrame, curves: pd.DataFrame, variant: dict, *, seed: int) -> tuple[float, bool]:
    """The test metric the variant selects in one job, and whether the curves held it (False: NaN)."""
    grid = curves[curves["phase"] == "grid"]
    if variant["epoch"] == "oracle":
        ok = set(rows.loc[(rows["phase"] == "grid") & (rows["status"] == "ok"), "config_id"])
        test = grid.loc[grid["config_id"].isin(ok), "test_metric"].astype(float)
        complete = test.notna().all()
        return (float(test.max()) if test.notna().any() else float("nan")), bool(complete)
    chosen_epoch, val = {}, {}
    for cid, c in grid.groupby("config_id"):
        c = c.sort_values("epoch")
        curve = c["val_metric"].to_numpy(dtype=float)
        if variant["epoch"] == "last":
            i, v = len(curve) - 1, curve[-1]
        else:
            try:
                i, v = early_stopping_epoch(curve, window=variant["window"], align=variant["align"])
            except ValueError:
                continue
        chosen_epoch[cid], val[cid] = int(c["epoch"].iloc[i]), v
    frame = rows[rows["phase"] == "grid"].copy()
    frame["val_metric"] = frame["config_id"].map(val).astype(float)
    best = select(frame, tie_rule=variant["tie_rule"], seed=seed)
    if best is None:
        return float("nan"), True
    cid = int(best["config_id"])
    at = grid[(grid["config_id"] == cid) & (grid["epoch"] == chosen_epoch[cid])]["test_metric"].astype(float)
    return (float(at.iloc[0]), True) if len(at) and at.notna().iloc[0] else (float("nan"), False)


def selection_sensitivity(train_dir: str | Path, *, reference_method: str, stats: StatsSettings,
                          seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per variant: the jobs, those whose curves lack the test value it needs, the reference's
    average rank, place and unadjusted stars over the FNNs (mean over splits), and the jobs whose
    test metric changed from the run's own selection. Per job and variant: the test metric."""
    tables = sorted(p for p in Path(train_dir).glob("*/*/split*.csv") if p.parent.name in reference.FNN_METHODS)
    if not tables:
        raise DataError(f"no FNN training results under {train_dir}; the selection sensitivity needs our runs")
    per_job, tried = [], None
    for table in tables:
        job = read_job(table)
        if job is None:
            continue
        summary, rows, curves = job
        settings = summary["settings"]
        tried = tried or variants(int(settings["smoothing_window"]), settings["smoothing_align"])
        for v in tried:
            test, held = reselect(rows, curves, v, seed=seed)
            per_job.append({"variant": v["variant"], "dataset": summary["dataset"], "method": summary["method"],
                            "split": summary["split"], "test_metric": test, "held": held,
                            "test_curve": settings.get("test_curve")})
    jobs = pd.DataFrame(per_job)
    base = jobs[jobs["variant"] == "as run"].set_index(["dataset", "method", "split"])["test_metric"]
    out = []
    for v in tried:
        sub = jobs[jobs["variant"] == v["variant"]].set_index(["dataset", "method", "split"])
        lacking = int((~sub["held"]).sum())
        changed = sub["test_metric"].sub(base.reindex(sub.index)).abs() > 1e-12
        row = {**v, "jobs": len(sub), "jobs_lacking_test": lacking, "jobs_changed": int(changed.sum()),
               "datasets_changed": ", ".join(sorted(set(sub.index[changed].get_level_values("dataset"))))}
        if lacking == 0:
            acc = sub["test_metric"].groupby(level=["dataset", "method"]).mean().unstack("method")
            if reference_method in acc and acc.shape[1] >= 2 and len(acc.dropna(how="all")) >= 2:
                row.update(rank_summary(acc, reference_method, stats=stats))
        out.append(row)
    return pd.DataFrame(out), jobs
