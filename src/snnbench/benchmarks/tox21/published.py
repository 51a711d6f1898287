"""Tox21's published score rows (Table 2) and the depth rows of a training job's summary."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from snnbench.contracts.results import job_context, output_paths, per_task_columns, read_summary
from snnbench.contracts.scores import SCORE_COLUMNS
from snnbench.errors import DataError
from snnbench.reference import TOX21_CHALLENGE_WINNER, published_tox21_table2
from snnbench.training.selection import hyperparameters, select


def depth_rows(summary_path: str | Path) -> list[dict[str, Any]]:
    """Tox21: per depth of one job, the configuration selected on validation among that depth's
    configurations (Table 2's cells), read from the job's results table beside its summary."""

    s = read_summary(Path(summary_path))
    if s.get("status") != "ok":
        return []
    table = output_paths(Path(summary_path).with_suffix(".csv"))["table"]
    try:
        frame = pd.read_csv(table)
    except (FileNotFoundError, pd.errors.EmptyDataError):
        raise DataError("results table of a finished job is missing or empty; run the training job again",
                        path=table) from None
    if "depth" not in frame or frame["depth"].isna().all():  # scikit-learn methods and methods without a depth
        return []
    hp_names = list(s.get("grid") or {})
    tasks = per_task_columns(frame.columns)
    out = []
    for depth, rows in frame.groupby("depth", sort=True):
        chosen = select(rows)
        grid_rows = rows[rows["phase"] == "grid"]
        out.append({
            "benchmark": s["benchmark"], "dataset": s["dataset"], "method": s["method"], "kind": s.get("kind"),
            "split": s["split"], "source": "ours", "scope": "depth", "metric": s.get("metric"),
            "value": math.nan if chosen is None else float(chosen["test_metric"]),
            "val_metric": math.nan if chosen is None else float(chosen["val_metric"]),
            "status": "ok" if chosen is not None else "failed",
            "reason": None if chosen is not None else f"no configuration of depth {depth} finished",
            "n_configs": len(grid_rows), "n_ok": int((grid_rows["status"] == "ok").sum()),
            "n_diverged": int((grid_rows["status"] == "diverged").sum()),
            "n_failed": int((grid_rows["status"] == "failed").sum()),
            "best_epoch": None if chosen is None else chosen["best_epoch"], "depth": float(depth),
            "hyperparameters": (None if chosen is None
                                else json.dumps(hyperparameters(chosen, hp_names), sort_keys=True)),
            "seconds": float(grid_rows["seconds"].sum()), **job_context(s),
            **({} if chosen is None else {c: float(chosen[c]) for c in tasks}),
        })
    return out


def published_tox21_rows() -> pd.DataFrame:
    """Table 2's published cells (AUC, as a fraction) and the challenge winner the paper quotes."""

    table = published_tox21_table2()
    frame = pd.DataFrame({"benchmark": "tox21", "dataset": "tox21", "method": table["method"], "split": "paper",
                          "source": "published", "scope": "depth", "metric": "mean_roc_auc",
                          "value": table["auc_x100_mean"] / 100.0, "depth": table["depth"].astype(float),
                          "status": ["ok" if pd.notna(v) else "missing" for v in table["auc_x100_mean"]],
                          "origin": "Table 2"})
    winner = pd.DataFrame([{"benchmark": "tox21", "dataset": "tox21", "method": TOX21_CHALLENGE_WINNER["method"],
                            "split": "paper", "source": "published", "scope": "selected", "metric": "mean_roc_auc",
                            "value": TOX21_CHALLENGE_WINNER["auc"], "status": "ok",
                            "origin": TOX21_CHALLENGE_WINNER["origin"]}])
    return pd.concat([frame, winner], ignore_index=True).reindex(columns=[*SCORE_COLUMNS, "scope", "origin"])
