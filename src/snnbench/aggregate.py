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

from .datasets.prepared import atomic_write_csv
from .errors import DataError
from .tasks import TASK_PREFIX, per_task_columns

SCORE_COLUMNS = ["benchmark", "dataset", "method", "kind", "split", "source", "metric", "value", "val_metric", "status",
                 "reason", "n_configs", "n_ok", "n_diverged", "n_failed", "best_epoch", "depth", "hyperparameters",
                 "seconds", "n_train", "feature_set"]


def _read(path: Path) -> dict[str, Any]:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise DataError("training summary is missing; run the training job again", path=path) from None
    except json.JSONDecodeError as exc:
        raise DataError(f"training summary is not valid JSON ({exc}); delete it and train again",
                        path=path, line=exc.lineno) from exc


def _depth(method: str, selected: dict[str, Any]) -> float:
    """The selected configuration's depth as its job recorded it, or (older summaries) as the
    method's registered spec reads it off the hyperparameters; NaN for a method without one."""
    from . import methods

    depth = selected.get("depth")
    if depth is None and selected.get("hyperparameters"):
        try:
            depth = methods.get(method).depth_of(selected["hyperparameters"])
        except Exception:  # an unregistered method, or hyperparameters without the depth
            depth = None
    return math.nan if depth is None else float(depth)


def methods_of_kind(scores: pd.DataFrame, kind: str) -> list[str]:
    """Our methods of ``kind`` (torch, sklearn) in the scores, as their ``kind`` column says (the
    method registry where it is empty): the paper's families first, in their order, then the
    others in name order."""
    from . import methods
    from .errors import ConfigError
    from .methods.paper import FAMILIES

    ours = scores[scores["source"] == "ours"]
    kinds = ours["kind"] if "kind" in ours else pd.Series(None, index=ours.index, dtype=object)
    found = set()
    for method, given in zip(ours["method"], kinds):
        if given is None or (isinstance(given, float) and math.isnan(given)):
            try:
                given = methods.get(method).kind
            except ConfigError:
                continue
        if given == kind:
            found.add(method)
    return [m for m in FAMILIES if m in found] + sorted(found - set(FAMILIES))


def _job_context(s: dict[str, Any]) -> dict[str, Any]:
    """What a score row says of its job's data: training rows and (Tox21) feature set."""
    return {"n_train": (s.get("sizes") or {}).get("train"), "feature_set": (s.get("split_info") or {}).get("feature_set")}


def score_rows(summaries: list[str | Path]) -> pd.DataFrame:
    rows = []
    for path in summaries:
        s = _read(Path(path))
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
            "seconds": s.get("total_seconds", math.nan), **_job_context(s),
            **{TASK_PREFIX + t: v for t, v in (sel.get("test_per_task") or {}).items()},
        })
    frame = pd.DataFrame(rows)
    return frame.reindex(columns=[*SCORE_COLUMNS, *[c for c in frame.columns if c not in SCORE_COLUMNS]])


def depth_rows(summary_path: str | Path) -> list[dict[str, Any]]:
    """Tox21: per depth of one job, the configuration selected on validation among that depth's
    configurations (Table 2's cells), read from the job's results table beside its summary."""
    from .results import output_paths
    from .selection import hyperparameters, select

    s = _read(Path(summary_path))
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
            "hyperparameters": None if chosen is None else json.dumps(hyperparameters(chosen, hp_names), sort_keys=True),
            "seconds": float(grid_rows["seconds"].sum()), **_job_context(s),
            **({} if chosen is None else {c: float(chosen[c]) for c in tasks}),
        })
    return out


def published_uci_rows(datasets: list[str]) -> pd.DataFrame:
    """Table A11 (7 FNNs) and FD's 17 representatives for ``datasets``, as score rows."""
    from .reference import FD_REPRESENTATIVES, published_24_accuracies

    table = published_24_accuracies().reindex(datasets)
    rows = []
    for dataset, values in table.iterrows():
        for method, value in values.items():
            rows.append({"benchmark": "uci", "dataset": dataset, "method": method, "split": "paper",
                         "source": "published", "metric": "accuracy", "value": value,
                         "status": "ok" if pd.notna(value) else "missing",
                         "reason": None if pd.notna(value) else "no published value",
                         "hyperparameters": None,
                         "origin": "Fernandez-Delgado et al. 2014" if method in FD_REPRESENTATIVES else "Table A11"})
    frame = pd.DataFrame(rows)
    return frame.reindex(columns=[*SCORE_COLUMNS, "origin"])


def published_htru2_rows() -> pd.DataFrame:
    """Table 3's published AUC means (the paper's FNNs and the rows it quotes from Lyon et al. 2016)."""
    from .reference import published_htru2_table3

    table = published_htru2_table3()
    frame = pd.DataFrame({"benchmark": "htru2", "dataset": "htru2", "method": table["method"], "split": "paper",
                          "source": "published", "metric": "roc_auc", "value": table["auc_mean"], "status": "ok",
                          "origin": ["Table 3" if k == "FNN" else "Lyon et al. 2016 (quoted in Table 3)"
                                     for k in table["kind"]]})
    return frame.reindex(columns=[*SCORE_COLUMNS, "origin"])


def published_tox21_rows() -> pd.DataFrame:
    """Table 2's published cells (AUC, as a fraction) and the challenge winner the paper quotes."""
    from .reference import TOX21_CHALLENGE_WINNER, published_tox21_table2

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


def failure_rows(scores: pd.DataFrame) -> pd.DataFrame:
    ours = scores[scores["source"] == "ours"]
    if "scope" in ours:  # Tox21's per-depth rows repeat their job's counts
        ours = ours[ours["scope"] != "depth"]
    bad = ours[(ours["status"] != "ok") | (ours["n_diverged"] > 0) | (ours["n_failed"] > 0)].copy()
    bad["what"] = [
        f"job {s}" if s != "ok" else f"{d} of {n} configurations diverged, {f} failed"
        for s, d, f, n in zip(bad["status"], bad["n_diverged"], bad["n_failed"], bad["n_configs"])
    ]
    return bad[["benchmark", "dataset", "method", "split", "status", "what", "reason"]]


def aggregate(summaries: list[str | Path], *, benchmark: str, scores_out: str | Path,
              failures_out: str | Path | None = None) -> pd.DataFrame:
    """Our score rows from the training summaries, the benchmark's published rows and its extra
    rows (Tox21: one per depth), written as the scores table (and the failures table)."""
    from . import benchmarks

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
