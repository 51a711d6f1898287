"""The scikit-learn methods (RF, SVM, gradient-boosted trees, a user's estimator: every
registered method of kind ``sklearn``), through the FNNs' result contract.

Each configuration is fitted on the training rows (Tox21: one estimator per task, on the rows
with that task's label), selected on the same validation rows and scored on the same test rows
as the FNNs; rows, curves (none: no epochs) and summary have the
FNN engine's columns, so aggregation treats every method alike.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
import sklearn

from snnbench import __version__, methods
from snnbench.contracts.results import curves_frame, result_frame
from snnbench.errors import ConfigError
from snnbench.training.grids import config_seed
from snnbench.training.metrics import evaluate, mean_of_tasks, roc_auc
from snnbench.training.progress import GridProgress
from snnbench.training.task import Task


def build_estimator(method: str, config: dict[str, Any], *, seed: int, threads: int | None):
    """The estimator of the registered scikit-learn ``method`` for one configuration."""
    spec = methods.get(method, setting="method")
    if spec.kind != "sklearn":
        raise ConfigError(f"{method} is a {spec.kind} method, not a scikit-learn one")
    return spec.build_estimator(config, seed=seed, threads=threads)


def _fit(estimator, X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Fit on the classes present, encoded as 0..m-1 (what XGBoost requires); returns the
    present classes, the original label of each encoded one."""
    classes = np.unique(y)
    estimator.fit(X, np.searchsorted(classes, y))
    return classes


def _scores(estimator, classes: np.ndarray, X: np.ndarray, n_out: int) -> np.ndarray:
    """Scores shaped like FNN logits: (n, classes), argmax = the predicted class; classes missing
    from the training rows keep score 0. Class probabilities where the estimator has them; else
    the decision function (binary) or the predicted class scoring 1 (an SVM's one-vs-one votes)."""
    full = np.zeros((len(X), n_out))
    columns = classes[np.asarray(estimator.classes_, dtype=np.int64)]
    if hasattr(estimator, "predict_proba"):
        full[:, columns] = estimator.predict_proba(X)
    elif len(columns) == 2:
        decision = estimator.decision_function(X)
        full[:, columns] = np.stack([-decision, decision], axis=1)
    else:
        full[np.arange(len(X)), columns[np.asarray(estimator.predict(X), dtype=np.int64)]] = 1.0
    return full


def _fit_single(method: str, config: dict[str, Any], task: Task, *, seed: int,
                threads: int | None) -> tuple[float, float]:
    """UCI and HTRU2: one estimator; (validation metric, test metric)."""
    estimator = build_estimator(method, config, seed=seed, threads=threads)
    classes = _fit(estimator, task.X["train"], task.y["train"].ravel().astype(np.int64))
    n_out = max(task.n_out, 2)
    y_val, y_test = task.y["validation"], task.y["test"]
    val = evaluate(task.metric, y_val.ravel() if task.kind == "binary" else y_val,
                   _scores(estimator, classes, task.X["validation"], n_out))
    test = evaluate(task.metric, y_test.ravel() if task.kind == "binary" else y_test,
                    _scores(estimator, classes, task.X["test"], n_out))
    return val, test


def _fit_per_task(method: str, config: dict[str, Any], task: Task, *, seed: int,
                  threads: int | None) -> tuple[float, float, list[float]]:
    """Tox21: one estimator per task, fitted on the training rows that have the task's label;
    (mean validation AUC, mean test AUC, test AUC per task). A task whose training labels hold
    one class only gets NaN and is left out of the means."""
    val_aucs, test_aucs = [], []
    for t in range(task.n_out):
        y = task.y["train"][:, t]
        present = ~np.isnan(y)
        if len(np.unique(y[present])) < 2:
            val_aucs.append(float("nan"))
            test_aucs.append(float("nan"))
            continue
        estimator = build_estimator(method, config, seed=seed + t, threads=threads)
        classes = _fit(estimator, task.X["train"][present], y[present].astype(np.int64))
        for part, out in (("validation", val_aucs), ("test", test_aucs)):
            labels = task.y[part][:, t]
            keep = ~np.isnan(labels)
            score = _scores(estimator, classes, task.X[part][keep], 2)
            out.append(roc_auc(labels[keep], score[:, 1] - score[:, 0]))
    return mean_of_tasks(val_aucs), mean_of_tasks(test_aucs), test_aucs


def run_baseline_grid(task: Task, *, benchmark: str, dataset: str, method: str, split: int,
                      configs: list[dict[str, Any]], seed: int = 0, threads: int | None = None,
                      progress: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fit every configuration; returns (one row per configuration, an empty curves table).
    Multitask (Tox21): one estimator per task and configuration, selected on the mean
    validation AUC over tasks, as the FNNs are (docs/protocol.md B3)."""
    task_columns = task.task_columns()
    bar = (GridProgress(label=f"{benchmark}/{dataset}/{method}/split{split}", costs=[1.0] * len(configs))
           if progress else None)
    rows = []
    for config_id, config in enumerate(configs):
        config_seed_value = config_seed(seed, benchmark, dataset, split, method, config)
        start = time.perf_counter()
        status, error, val, test = "ok", None, float("nan"), float("nan")
        per_task = [float("nan")] * len(task_columns)
        try:
            if task.kind == "multitask":
                val, test, per_task = _fit_per_task(method, config, task, seed=config_seed_value % 2**31,
                                                    threads=threads)
            else:
                val, test = _fit_single(method, config, task, seed=config_seed_value, threads=threads)
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:  # recorded, and the grid goes on
            status, error = "failed", f"{type(exc).__name__}: {exc}"
        seconds = time.perf_counter() - start
        rows.append({
            "benchmark": benchmark, "dataset": dataset, "method": method, "split": split, "metric": task.metric,
            "phase": "grid", "config_id": config_id, **config, "seed": config_seed_value, "status": status,
            "error": error, "best_epoch": None, "epochs_run": 0, "val_metric": val, "val_metric_raw": val,
            "test_metric": test, "seconds": round(seconds, 4), "engine": "scikit-learn", "device": "cpu",
            "threads": threads,
            "sklearn_version": sklearn.__version__, "snnbench_version": __version__,
            **dict(zip(task_columns, per_task)),
        })
        if bar:
            shown = " ".join(f"{k}={v}" for k, v in config.items())
            bar.update(config_id, f"{shown} -> "
                       + (f"val {val:.4f} test {test:.4f}" if status == "ok" else f"failed: {error}")
                       + f" ({seconds:.1f}s)")
    if bar:
        bar.close()
    frame = result_frame(rows, hyperparameters=list(configs[0]) if configs else [], task_columns=task_columns)
    return frame, curves_frame([])
