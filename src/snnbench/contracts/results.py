"""A training job's outputs, written atomically: ``<stem>.csv`` (one row per configuration),
``<stem>.curves.csv.gz`` (per-epoch curves) and, last, ``<stem>.json`` (the summary, derived
from the rows). A final name never holds a partial file."""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from snnbench.atomic import atomic_write_bytes, atomic_write_csv
from snnbench.errors import DataError

RESULT_VERSION = 1
# One declared row of the results table, for every method, torch or scikit-learn: the job's
# identity and the configuration's id, its hyperparameters (the grid's keys, in grid order),
# then these columns (a column that does not apply to a method is empty: a scikit-learn method has
# no epochs, parameters or torch version), then Tox21's test_<task> columns.
IDENTITY_COLUMNS = ("benchmark", "dataset", "method", "split", "metric", "phase", "config_id")
RESULT_COLUMNS = ("depth", "seed", "n_params", "status", "error", "best_epoch", "epochs_run", "val_metric",
                  "val_metric_raw", "test_metric", "final_train_loss", "seconds", "engine", "engine_note", "device",
                  "gpu_model", "cpu_capability", "threads", "torch_version", "sklearn_version", "snnbench_version")
CURVE_COLUMNS = ("phase", "config_id", "epoch", "train_loss", "val_metric", "test_metric")


def result_frame(rows: list[dict[str, Any]], *, hyperparameters: list[str], task_columns: list[str]) -> pd.DataFrame:
    """``rows`` as the declared results table; a column outside the declaration is a defect."""
    clash = sorted(set(hyperparameters) & {*IDENTITY_COLUMNS, *RESULT_COLUMNS})
    if clash:
        raise ValueError(f"hyperparameters named like result columns: {clash}; rename them in the grid")
    columns = [*IDENTITY_COLUMNS, *hyperparameters, *RESULT_COLUMNS, *task_columns]
    undeclared = sorted({k for row in rows for k in row} - set(columns))
    if undeclared:
        raise ValueError(f"result rows with undeclared columns {undeclared} "
                         "(snnbench.contracts.results.RESULT_COLUMNS)")
    return pd.DataFrame(rows, columns=columns)


def curves_frame(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Per-epoch curves of every configuration (none for a scikit-learn method), declared columns."""
    return pd.concat(frames, ignore_index=True)[list(CURVE_COLUMNS)] if frames else pd.DataFrame(columns=CURVE_COLUMNS)


def output_paths(table: str | Path) -> dict[str, Path]:
    table = Path(table)
    if table.suffix != ".csv":
        raise ValueError(f"the results table must end in .csv, however: {table}")
    stem = table.with_suffix("")
    return {"table": table, "curves": Path(f"{stem}.curves.csv.gz"), "summary": stem.with_suffix(".json")}


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "item"):
        return _clean(value.item())
    return value


def write_outputs(table: str | Path, frame: pd.DataFrame, curves: pd.DataFrame,
                  summary: dict[str, Any]) -> dict[str, Path]:
    paths = output_paths(table)
    atomic_write_csv(paths["table"], frame)
    atomic_write_bytes(paths["curves"],
                       lambda f: f.write(gzip.compress(curves.to_csv(index=False).encode(), mtime=0)))
    body = {"result_version": RESULT_VERSION, **_clean(summary)}
    atomic_write_bytes(paths["summary"], lambda f: f.write((json.dumps(body, indent=1) + "\n").encode()))
    return paths


TASK_PREFIX = "test_"


def per_task_columns(columns) -> dict[str, str]:
    """Result-table column -> task name, for the per-task test metric columns among ``columns``."""
    return {c: c[len(TASK_PREFIX):] for c in columns if c.startswith(TASK_PREFIX) and c != "test_metric"}


def read_summary(path: Path) -> dict[str, Any]:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise DataError("training summary is missing; run the training job again", path=path) from None
    except json.JSONDecodeError as exc:
        raise DataError(f"training summary is not valid JSON ({exc}); delete it and train again",
                        path=path, line=exc.lineno) from exc


def job_context(s: dict[str, Any]) -> dict[str, Any]:
    """What a score row says of its job's data: training rows and (Tox21) feature set."""
    return {"n_train": (s.get("sizes") or {}).get("train"),
            "feature_set": (s.get("split_info") or {}).get("feature_set")}
