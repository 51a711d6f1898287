"""Metrics of the three benchmarks, computed from a model's raw outputs (logits) on the host."""

from __future__ import annotations

import numpy as np


def average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, ties sharing their average rank (scipy.stats.rankdata's "average"; scipy.stats
    itself is not imported here because it costs most of a second in every training job)."""
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    return (ends - (counts - 1) / 2.0)[inverse]


def roc_auc(y: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U with average ranks for ties); NaN if y has one class."""
    y = np.asarray(y).astype(bool).ravel()
    score = np.asarray(score, dtype=np.float64).ravel()
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    if not np.all(np.isfinite(score)):
        return float("nan")
    ranks = average_ranks(score)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def accuracy(y: np.ndarray, logits: np.ndarray) -> float:
    return float(np.mean(np.argmax(logits, axis=1) == y))


def task_roc_aucs(Y: np.ndarray, logits: np.ndarray) -> np.ndarray:
    """Per task (column), the ROC-AUC on the rows where the task's label is present (not NaN)."""
    aucs = []
    for t in range(Y.shape[1]):
        present = ~np.isnan(Y[:, t])
        aucs.append(roc_auc(Y[present, t], logits[present, t]))
    return np.asarray(aucs, dtype=np.float64)


def mean_roc_auc(Y: np.ndarray, logits: np.ndarray) -> float:
    """Mean over tasks of the ROC-AUC on the rows where the task's label is present (not NaN);
    a task whose present labels hold one class only is left out of the mean."""
    return mean_of_tasks(task_roc_aucs(Y, logits))


def mean_of_tasks(aucs: np.ndarray) -> float:
    """The mean of the defined per-task AUCs; NaN when none is defined."""
    aucs = np.asarray(aucs, dtype=np.float64)
    return float(np.nanmean(aucs)) if np.any(~np.isnan(aucs)) else float("nan")


def evaluate(metric: str, y: np.ndarray, logits: np.ndarray) -> float:
    if metric == "accuracy":
        return accuracy(y, logits)
    if metric == "roc_auc":
        # one logit, or a 2-class softmax whose class-1 probability is monotone in the logit difference
        score = logits[:, 0] if logits.shape[1] == 1 else logits[:, 1] - logits[:, 0]
        return roc_auc(y, score)
    if metric == "mean_roc_auc":
        return mean_roc_auc(y, logits)
    raise ValueError(f"unknown metric, however: {metric=}")
