"""A prepared dataset plus one split of its benchmark's protocol -> the arrays a model trains on.

``split`` means, per benchmark: UCI, the ``data_py`` split column (0-3); HTRU2, the outer test
fold (0-based; validation is the fold before); Tox21, the repeat of the whole procedure (the
official split is fixed; repeats differ only in their seeds).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from snnbench.contracts.results import TASK_PREFIX
from snnbench.errors import ConfigError

KINDS = ("multiclass", "binary", "multitask")
METRICS = {"multiclass": "accuracy", "binary": "roc_auc", "multitask": "mean_roc_auc"}


@dataclass
class Task:
    """Training, validation and test arrays of one split. ``y`` is int64 class ids (multiclass),
    float 0/1 of shape (n, 1) (binary), or float 0/1 with NaN for a missing label (multitask)."""

    kind: str
    n_out: int
    X: dict[str, np.ndarray] = field(repr=False)
    y: dict[str, np.ndarray] = field(repr=False)
    metric: str = ""
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, however: {self.kind=}")
        self.metric = self.metric or METRICS[self.kind]

    @property
    def n_in(self) -> int:
        return int(self.X["train"].shape[1])

    def sizes(self) -> dict[str, int]:
        return {part: int(len(x)) for part, x in self.X.items()}

    def task_names(self) -> list[str]:
        """Multitask: the output columns' names (Tox21's assays), else ``task<i>``."""
        names = self.info.get("tasks")
        return list(names) if names else [f"task{i}" for i in range(self.n_out)]

    def task_columns(self) -> list[str]:
        """The result-table columns holding per-task test metrics (multitask only)."""
        return [TASK_PREFIX + name for name in self.task_names()] if self.kind == "multitask" else []


def zscore(X: np.ndarray, train: np.ndarray) -> np.ndarray:
    """Standardise with mean and standard deviation of the training rows only (constant -> 1)."""
    mu = X[train].mean(axis=0, dtype=np.float64)
    sd = X[train].std(axis=0, dtype=np.float64)
    sd[sd == 0] = 1.0
    return ((X - mu) / sd).astype(np.float32)


def parts(X: np.ndarray, rows: tuple[np.ndarray, np.ndarray, np.ndarray]) -> dict[str, np.ndarray]:
    return {"train": X[rows[0]], "validation": X[rows[1]], "test": X[rows[2]]}


def subsample_rows(rows: tuple[np.ndarray, np.ndarray, np.ndarray], max_train_rows: int | None,
                   seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Keep a seeded random subset of at most ``max_train_rows`` training rows (validation and test
    stay whole); ``None`` keeps everything. For quick tours, never for a reproduction."""
    if max_train_rows is None or len(rows[0]) <= max_train_rows:
        return rows
    if isinstance(max_train_rows, bool) or not isinstance(max_train_rows, int) or max_train_rows < 2:
        raise ConfigError(f"max_train_rows must be an integer >= 2, however: {max_train_rows=}")
    keep = np.sort(np.random.default_rng(seed).choice(rows[0], size=max_train_rows, replace=False))
    return keep, rows[1], rows[2]


def blobs_task(n: int = 240, d: int = 8, classes: int = 3, seed: int = 0, *, spread: float = 4.0,
               noise: float = 1.0) -> Task:
    """Synthetic data for tests and benchmarks: Gaussian blobs (centres N(0, spread^2), rows
    N(centre, noise^2)), z-scored, split 60 / 20 / 20 in row order."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, spread, size=(classes, d))
    y = rng.integers(0, classes, n)
    X = (centres[y] + rng.normal(0, noise, size=(n, d))).astype(np.float32)
    X = (X - X.mean(0)) / X.std(0)
    cut = [int(n * 0.6), int(n * 0.8)]
    parts = dict(zip(("train", "validation", "test"), np.split(np.arange(n), cut)))
    return Task(kind="multiclass", n_out=classes, X={k: X[v] for k, v in parts.items()},
                y={k: y[v] for k, v in parts.items()})
