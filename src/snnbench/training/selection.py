"""Early stopping on the smoothed validation curve, and selection over a grid (the paper's rules)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from snnbench.contracts.results import per_task_columns
from snnbench.settings import ALIGNS

STATUSES = ("ok", "diverged", "failed")  # a configuration's outcome
TIE_DECIMALS = 9  # validation metrics equal to 9 decimals count as a tie


def smooth(curve: np.ndarray, window: int) -> np.ndarray:
    """Moving average over full windows: element i is the mean of curve[i : i + window]."""
    curve = np.asarray(curve, dtype=np.float64)
    if window < 1:
        raise ValueError(f"window must be >= 1, however: {window=}")
    window = min(window, curve.size)
    if window == 0:
        return curve
    return np.array([window_mean(curve, i + window - 1, window) for i in range(curve.size - window + 1)])


def window_mean(curve, end: int, window: int) -> float:
    """The mean of ``curve[end - window + 1 : end + 1]``: one window of ``smooth``, computed the same
    way whether the curve is whole or still growing (``recipe.SelectableEpochs`` reads it epoch by epoch)."""
    return float(np.mean(np.asarray(curve[end - window + 1:end + 1], dtype=np.float64)))


def early_stopping_epoch(curve: np.ndarray, *, window: int = 10, align: str = "trailing") -> tuple[int, float]:
    """The 0-based epoch chosen from a validation curve (higher is better) and its smoothed value.

    The curve is smoothed by a ``window``-epoch moving average (full windows only); the best
    window is the first maximum. ``trailing`` takes the window's last epoch (the epoch at which
    the average is known), ``centered`` its middle epoch (rounded down).
    """
    if align not in ALIGNS:
        raise ValueError(f"align must be one of {', '.join(ALIGNS)}, however: {align=}")
    curve = np.asarray(curve, dtype=np.float64)
    if curve.size == 0:
        raise ValueError("empty validation curve")
    smoothed = smooth(curve, window)
    if np.all(np.isnan(smoothed)):
        raise ValueError("the validation curve is undefined (NaN) at every epoch")
    i = int(np.nanargmax(smoothed))
    w = min(window, curve.size)
    epoch = i + w - 1 if align == "trailing" else i + (w - 1) // 2
    return epoch, float(smoothed[i])


def tie_break_columns(frame: pd.DataFrame) -> list[tuple[str, bool]]:
    """(column, ascending) after the validation metric: more layers, lower lr, higher dropout."""
    keys = [("depth", False)] if "depth" in frame else []
    if "lr" in frame:
        keys.append(("lr", True))
    if "dropout" in frame:
        keys.append(("dropout", False))
    return keys


TIE_RULES = ("paper", "grid_order", "shallower", "random")  # the paper's; the alternatives selection_sensitivity tries


def select(rows: pd.DataFrame, *, tie_rule: str = "paper", seed: int = 0) -> pd.Series | None:
    """The selected configuration among rows with status ``ok`` of one grid run, or None.

    Highest (smoothed) validation metric; ties, to ``TIE_DECIMALS`` decimals, go to more layers
    (blocks for ResNet), then the lower learning rate, then the higher dropout (the paper's
    rule), and last to the earlier configuration in grid order (the only rule for RF and SVM).
    Other ``tie_rule`` values (the robustness report's selection sensitivity): ``grid_order``
    (the earlier configuration), ``shallower`` (fewer layers first, then the paper's lr and
    dropout), ``random`` (a uniformly random order drawn with ``seed``).
    """
    if tie_rule not in TIE_RULES:
        raise ValueError(f"tie_rule must be one of {', '.join(TIE_RULES)}, however: {tie_rule=}")
    ok = rows[(rows["status"] == "ok") & (rows["phase"] == "grid")].copy()
    ok = ok[np.isfinite(ok["val_metric"].astype(float))]
    if ok.empty:
        return None
    ok["_val"] = ok["val_metric"].astype(float).round(TIE_DECIMALS)
    paper = tie_break_columns(ok)
    if tie_rule == "random":
        ok["_random"] = np.random.default_rng(seed).permutation(len(ok))
    ties = {"paper": paper, "grid_order": [],
            "shallower": [(c, True if c == "depth" else a) for c, a in paper],
            "random": [("_random", True)]}[tie_rule]
    keys = [("_val", False), *ties, ("config_id", True)]
    ordered = ok.sort_values([k for k, _ in keys], ascending=[a for _, a in keys], kind="mergesort")
    return ordered.iloc[0].drop(["_val", "_random"], errors="ignore")


def hyperparameters(row: pd.Series, names: list[str]) -> dict[str, Any]:
    out = {}
    for name in names:
        value = row[name]
        out[name] = value.item() if hasattr(value, "item") else value
    return out


def summarize(frame: pd.DataFrame, *, hp_names: list[str], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON summary of one grid run, derived from its rows."""
    grid_rows = frame[frame["phase"] == "grid"] if not frame.empty else frame
    counts = {s: int((grid_rows["status"] == s).sum()) if not grid_rows.empty else 0 for s in STATUSES}
    summary: dict[str, Any] = {**(extra or {}), "n_configs": int(sum(counts.values())), "counts": counts}
    chosen = select(frame) if not frame.empty else None
    if chosen is None:
        summary.update(status="failed", reason="no configuration finished with a finite validation metric",
                       selected=None)
        return summary
    depth = chosen.get("depth")
    summary.update(status="ok", reason=None, selected={
        "config_id": int(chosen["config_id"]),
        "depth": None if depth is None or pd.isna(depth) else int(depth),
        "hyperparameters": hyperparameters(chosen, hp_names),
        "best_epoch": None if pd.isna(chosen["best_epoch"]) else int(chosen["best_epoch"]),
        "val_metric": float(chosen["val_metric"]),
        "val_metric_raw": float(chosen["val_metric_raw"]),
        "test_metric": float(chosen["test_metric"]),
        "seconds": float(chosen["seconds"]),
    })
    tasks = per_task_columns(frame.columns)
    if tasks:
        summary["selected"]["test_per_task"] = {name: float(chosen[c]) for c, name in tasks.items()}
    summary["total_seconds"] = float(frame["seconds"].sum())
    refit = frame[frame["phase"] == "refit"]
    if not refit.empty:
        r = refit.iloc[0]
        summary["refit"] = {"status": r["status"], "error": r["error"], "epochs": int(r["epochs_run"]),
                            "test_metric": float(r["test_metric"])}
    return summary
