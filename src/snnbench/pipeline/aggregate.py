"""Training summaries -> one tidy score table per benchmark, and the list of what failed.

``scores.csv``: one row per (dataset, method, split) of ours, plus the published rows (Table
A11's FNN accuracies and, for UCI, Fernandez-Delgado et al.'s 17 family representatives) with
``source = published``. Tox21 adds, per job, one row per depth (``scope = depth``: the
configuration selected on validation among that depth's), beside the job's overall selection
(``scope = selected``), with each task's test AUC in ``test_<task>`` columns.
``failures.csv``: every job whose dataset or grid did not give a
result, and every job with configurations that diverged or failed, with the reason.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from snnbench import benchmarks, methods
from snnbench.atomic import atomic_write_csv
from snnbench.contracts.results import TASK_PREFIX, job_context, read_summary
from snnbench.contracts.scores import SCORE_COLUMNS
from snnbench.contracts.scores import ours as ours_rows
from snnbench.errors import DataError, SnnbenchError
from snnbench.evaluation.stats import read_statistics
from snnbench.settings import StatsSettings


def _depth(method: str, selected: dict[str, Any]) -> float:
    """The selected configuration's depth as its job recorded it, or (older summaries) as the
    method's registered spec reads it off the hyperparameters; NaN for a method without one."""

    depth = selected.get("depth")
    if depth is None and selected.get("hyperparameters"):
        try:
            depth = methods.get(method).depth_of(selected["hyperparameters"])
        except Exception:  # an unregistered method, or hyperparameters without the depth
            depth = None
    return math.nan if depth is None else float(depth)


def score_rows(summaries: list[str | Path]) -> pd.DataFrame:
    rows = []
    for path in summaries:
        s = read_summary(Path(path))
        sel = s.get("selected") or {}
        counts = s.get("counts") or {}
        hp = sel.get("hyperparameters")
        rows.append({
            "benchmark": s["benchmark"], "dataset": s["dataset"], "method": s["method"], "kind": s.get("kind"),
            "split": s["split"], "source": "ours", "metric": s.get("metric"), "value": sel.get("test_metric", math.nan),
            "val_metric": sel.get("val_metric", math.nan), "status": s["status"], "reason": s.get("reason"),
            "n_configs": s.get("n_configs", 0), "n_ok": counts.get("ok", 0), "n_diverged": counts.get("diverged", 0),
            "n_failed": counts.get("failed", 0), "best_epoch": sel.get("best_epoch"), "depth": _depth(s["method"], sel),
            "hyperparameters": json.dumps(hp, sort_keys=True) if hp else None,
            "seconds": s.get("total_seconds", math.nan), **job_context(s),
            **{TASK_PREFIX + t: v for t, v in (sel.get("test_per_task") or {}).items()},
        })
    frame = pd.DataFrame(rows)
    return frame.reindex(columns=[*SCORE_COLUMNS, *[c for c in frame.columns if c not in SCORE_COLUMNS]])


def failure_rows(scores: pd.DataFrame) -> pd.DataFrame:
    ours = ours_rows(scores, per_job=True)  # Tox21's per-depth rows repeat their job's counts
    bad = ours[(ours["status"] != "ok") | (ours["n_diverged"] > 0) | (ours["n_failed"] > 0)].copy()
    bad["what"] = [
        f"job {s}" if s != "ok" else f"{d} of {n} configurations diverged, {f} failed"
        for s, d, f, n in zip(bad["status"], bad["n_diverged"], bad["n_failed"], bad["n_configs"])
    ]
    return bad[["benchmark", "dataset", "method", "split", "status", "what", "reason"]]


def _names(datasets: list[str], most: int = 3) -> str:
    return ", ".join(datasets[:most]) + (f" and {len(datasets) - most} more" if len(datasets) > most else "")


def method_status(scores: pd.DataFrame) -> pd.DataFrame:
    """What happened to each method of our score rows, a row each in the scores' order: on how
    many datasets it has a result (a job finished with a score), on which it failed or was
    unavailable, and ``what``, that said in one line with the first failure's reason (the
    report lists every method the run trained, a method that failed everywhere included)."""
    ours = ours_rows(scores, per_job=True)
    rows = []
    for method, jobs in ours.groupby("method", sort=False):
        per_dataset = jobs.groupby("dataset", sort=False)
        done = [d for d, j in per_dataset if ((j["status"] == "ok") & j["value"].notna()).any()]
        unavailable = [d for d, j in per_dataset if d not in done and (j["status"] == "unavailable").all()]
        failed = [d for d, _ in per_dataset if d not in done and d not in unavailable]
        n = per_dataset.ngroups
        bad = jobs[jobs["dataset"].isin(failed) & (jobs["status"] != "ok") & jobs["reason"].notna()]
        reason = " ".join(str(bad["reason"].iloc[0]).split()) if len(bad) else ""
        parts = [f"results on {len(done)} of {n} datasets"] if done else []
        if failed:
            where = f"{len(failed)} of {n} datasets" if not done else _names(failed)
            parts.append(f"failed on {where}" + (f": {reason}" if reason else ""))
        if unavailable:
            parts.append(f"{_names(unavailable)} unavailable")
        status = "failed" if failed and not done else ("partly failed" if failed else "ok")
        rows.append({"method": method, "kind": jobs["kind"].iloc[0], "status": status, "n_datasets": n,
                     "n_with_result": len(done), "failed": ", ".join(failed), "unavailable": ", ".join(unavailable),
                     "what": "; ".join(parts) or "no results"})
    return pd.DataFrame(rows, columns=["method", "kind", "status", "n_datasets", "n_with_result", "failed",
                                       "unavailable", "what"])


def aggregate(summaries: list[str | Path], *, benchmark: str, scores_out: str | Path,
              failures_out: str | Path | None = None) -> pd.DataFrame:
    """Our score rows from the training summaries, the benchmark's published rows and its extra
    rows (Tox21: one per depth), written as the scores table (and the failures table)."""

    spec = benchmarks.get(benchmark, setting="benchmark")
    ours = score_rows(summaries)
    if not ours.empty and set(ours["benchmark"]) != {benchmark}:
        raise DataError(f"summaries of other benchmarks given for {benchmark}: {sorted(set(ours['benchmark']))}")
    frames = [ours]
    if spec.extra_score_rows is not None:
        ours["scope"] = "selected"
        frames.append(pd.DataFrame(spec.extra_score_rows(summaries)))
    frames.append(spec.published_rows(sorted(set(ours["dataset"])) if not ours.empty else []))
    scores = pd.concat([f for f in frames if not f.empty], ignore_index=True)
    order = ["source", "dataset", "method", "split", *spec.sort_keys]
    scores = scores.sort_values(order, key=lambda c: c if c.name == "depth" else c.astype(str), kind="mergesort")
    atomic_write_csv(Path(scores_out), scores)
    if failures_out is not None:
        atomic_write_csv(Path(failures_out), failure_rows(scores))
    return scores


def summary_paths(benchmark: str, *, train_dir: str | Path, jobs: dict | None = None,
                  summaries: list[str | Path] = ()) -> list[Path]:
    """The training summaries to aggregate: ``summaries``, plus the run's ``jobs`` given compactly
    (``{"datasets": [...] or "all", "splits": {method: [split, ...]}}``, what the workflow passes);
    neither: every summary under ``train_dir`` for the benchmark."""
    paths = [Path(s) for s in summaries]
    if jobs:
        datasets = benchmarks.dataset_names(benchmark) if jobs.get("datasets") == "all" else jobs.get("datasets", [])
        paths += [Path(train_dir) / benchmark / d / m / f"split{s}.json"
                  for d in datasets for m, splits in jobs.get("splits", {}).items() for s in splits]
    paths = paths or sorted(Path(train_dir).glob(f"{benchmark}/*/*/split*.json"))
    if not paths:
        raise SnnbenchError(f"no training summaries for {benchmark} (looked under {train_dir})")
    return paths


def benchmark_statistics(spec: Any, scores: pd.DataFrame, *, stats: StatsSettings,
                         path: str | Path | None = None) -> pd.DataFrame | None:
    """The statistics a benchmark's tables format: the file at ``path`` (``snnbench stats`` wrote
    it), else computed from ``scores``; None for a benchmark without test statistics."""
    if spec.statistics is None:
        return None
    if path:
        return read_statistics(path)
    return spec.statistics(scores, stats=stats)
