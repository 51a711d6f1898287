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

from .datasets.prepared import atomic_write_bytes

RESULT_VERSION = 1


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


def write_outputs(table: str | Path, frame: pd.DataFrame, curves: pd.DataFrame, summary: dict[str, Any]) -> dict[str, Path]:
    paths = output_paths(table)
    atomic_write_bytes(paths["table"], lambda f: f.write(frame.to_csv(index=False).encode()))
    atomic_write_bytes(paths["curves"],
                       lambda f: f.write(gzip.compress(curves.to_csv(index=False).encode(), mtime=0)))
    body = {"result_version": RESULT_VERSION, **_clean(summary)}
    atomic_write_bytes(paths["summary"], lambda f: f.write((json.dumps(body, indent=1) + "\n").encode()))
    return paths
