"""Random forest and RBF-kernel SVM baselines (scikit-learn), through the FNNs' result contract.

Each configuration is fitted on the training rows, selected on the same validation rows and
scored on the same test rows as the FNNs; rows, curves (none: no epochs) and summary have the
FNN engine's columns, so aggregation treats every method alike.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
import sklearn
from sklearn.ensemble import RandomForestClassifier
from sklearn.svm import SVC

from . import __version__
from .engine import config_seed
from .errors import ConfigError
from .grids import BASELINES
from .metrics import evaluate
from .progress import GridProgress
from .tasks import Task



def build_estimator(method: str, config: dict[str, Any], *, seed: int, threads: int | None):
    if method == "RF":
        max_features = config.get("max_features", "sqrt")
        return RandomForestClassifier(
            n_estimators=int(config.get("n_estimators", 500)),
            max_features=max_features if isinstance(max_features, str) else float(max_features),
            min_samples_leaf=int(config.get("min_samples_leaf", 1)),
            n_jobs=threads, random_state=seed % 2**32,
        )
    if method == "SVM":
        # NOTE: SVC's one-vs-one multiclass scheme, as LIBSVM (and FD's LibSVM_weka) uses.
        return SVC(kernel="rbf", C=float(config["C"]), gamma=float(config["gamma"]), cache_size=1000)
    raise ConfigError(f"unknown baseline {method!r}; the baselines are {', '.join(BASELINES)}")


def _scores(estimator, X: np.ndarray, n_out: int) -> np.ndarray:
    """Scores shaped like FNN logits: (n, classes), argmax = the predicted class; classes missing
    from the training rows keep score 0."""
    full = np.zeros((len(X), n_out))
    if not isinstance(estimator, SVC):
        full[:, estimator.classes_] = estimator.predict_proba(X)
    elif len(estimator.classes_) == 2:
        decision = estimator.decision_function(X)
        full[:, estimator.classes_] = np.stack([-decision, decision], axis=1)
    else:  # one-vs-one votes: the predicted class scores 1
        full[np.arange(len(X)), estimator.predict(X)] = 1.0
    return full


def run_baseline_grid(task: Task, *, benchmark: str, dataset: str, method: str, split: int,
                      configs: list[dict[str, Any]], seed: int = 0, threads: int | None = None,
                      progress: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fit every configuration; returns (one row per configuration, an empty curves table)."""
    if task.kind == "multitask":
        raise ConfigError(f"the {method} baseline is for single-label benchmarks (uci, htru2), however: {benchmark=}")
    y_train = task.y["train"].ravel().astype(np.int64)
    bar = GridProgress(label=f"{benchmark}/{dataset}/{method}/split{split}", costs=[1.0] * len(configs)) if progress else None
    rows = []
    for config_id, config in enumerate(configs):
        config_seed_value = config_seed(seed, benchmark, dataset, split, method, config)
        start = time.perf_counter()
        status, error, val, test = "ok", None, float("nan"), float("nan")
        try:
            estimator = build_estimator(method, config, seed=config_seed_value, threads=threads)
            estimator.fit(task.X["train"], y_train)
            n_out = max(task.n_out, 2)
            y_val, y_test = task.y["validation"], task.y["test"]
            val = evaluate(task.metric, y_val.ravel() if task.kind == "binary" else y_val,
                           _scores(estimator, task.X["validation"], n_out))
            test = evaluate(task.metric, y_test.ravel() if task.kind == "binary" else y_test,
                            _scores(estimator, task.X["test"], n_out))
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:  # recorded, and the grid goes on
            status, error = "failed", f"{type(exc).__name__}: {exc}"
        seconds = time.perf_counter() - start
        rows.append({
            "benchmark": benchmark, "dataset": dataset, "method": method, "split": split, "metric": task.metric,
            "phase": "grid", "config_id": config_id, **config, "seed": config_seed_value, "status": status,
            "error": error, "best_epoch": None, "epochs_run": 0, "val_metric": val, "val_metric_raw": val,
            "test_metric": test, "seconds": round(seconds, 4), "device": "cpu", "threads": threads,
            "sklearn_version": sklearn.__version__, "snnbench_version": __version__,
        })
        if bar:
            shown = " ".join(f"{k}={v}" for k, v in config.items())
            bar.update(config_id, f"{shown} -> " + (f"val {val:.4f} test {test:.4f}" if status == "ok" else f"failed: {error}")
                       + f" ({seconds:.1f}s)")
    if bar:
        bar.close()
    curves = pd.DataFrame(columns=["phase", "config_id", "epoch", "train_loss", "val_metric", "test_metric"])
    return pd.DataFrame(rows), curves
