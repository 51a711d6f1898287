"""The score table's columns (``results/<benchmark>/scores.csv``): one row per (dataset, method, split, source)."""

from __future__ import annotations

SCORE_COLUMNS = ["benchmark", "dataset", "method", "kind", "split", "source", "metric", "value", "val_metric", "status",
                 "reason", "n_configs", "n_ok", "n_diverged", "n_failed", "best_epoch", "depth", "hyperparameters",
                 "seconds", "n_train", "feature_set"]


def ours(scores, *, ok: bool = False, per_job: bool = False):
    """Our rows of a score table (``source == "ours"``, not the published ones); ``ok``: the
    finished ones only; ``per_job``: one row per training job (without Tox21's per-depth rows,
    ``scope == "depth"``)."""
    rows = scores[scores["source"] == "ours"]
    if per_job and "scope" in rows:
        rows = rows[rows["scope"] != "depth"]
    if ok:
        rows = rows[rows["status"] == "ok"]
    return rows
