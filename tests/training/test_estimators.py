"""The baselines' estimators (snnbench.training.estimators.run_baseline_grid): RF and SVM learn and
record failures, score binary tasks by ROC AUC, fit one estimator per task of a multitask
problem, and keep the column of a class missing from the training rows."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import blobs, installed, two_tasks
from snnbench import methods
from snnbench.pipeline.runs import method_grid
from snnbench.training.estimators import run_baseline_grid
from snnbench.training.grids import expand
from snnbench.training.task import blobs_task


@pytest.mark.parametrize("method,configs", [
    ("RF", [{"n_estimators": 50, "max_features": "sqrt", "min_samples_leaf": 1}]),
    ("SVM", [{"C": 2.0, "gamma": 0.125}, {"C": -1.0, "gamma": 0.125}]),
])
def test_baselines_learn_and_record_failures(method, configs):
    rows, curves = run_baseline_grid(blobs(), benchmark="uci", dataset="blobs", method=method, split=0,
                                     configs=configs, threads=1, progress=False)
    assert rows.loc[0, "status"] == "ok" and rows.loc[0, "test_metric"] > 0.9
    assert curves.empty and rows.loc[0, "metric"] == "accuracy"
    if len(configs) > 1:
        assert rows.loc[1, "status"] == "failed" and "C" in rows.loc[1, "error"]


def test_baselines_score_binary_tasks_by_roc_auc():
    from snnbench.training.task import Task

    task = blobs(classes=2, seed=3)
    binary = Task(kind="binary", n_out=1, X=task.X, y={k: v.astype(np.float32)[:, None] for k, v in task.y.items()})
    rows, _ = run_baseline_grid(binary, benchmark="htru2", dataset="htru2", method="SVM", split=0,
                                configs=[{"C": 2.0, "gamma": 0.125}], progress=False)
    assert rows.loc[0, "metric"] == "roc_auc" and rows.loc[0, "test_metric"] > 0.95


@pytest.mark.parametrize("method,config", [("RF", {"n_estimators": 30, "max_features": "sqrt", "min_samples_leaf": 1}),
                                           ("SVM", {"C": 2.0, "gamma": 0.125})])
def test_baselines_fit_one_estimator_per_task(method, config):
    rows, _ = run_baseline_grid(two_tasks(), benchmark="tox21", dataset="tox21", method=method, split=0,
                                configs=[config], threads=1, progress=False)
    row = rows.iloc[0]
    assert row["status"] == "ok", row["error"]
    assert row["metric"] == "mean_roc_auc" and row["test_A"] > 0.95 and row["test_B"] > 0.95
    assert np.isnan(row["test_C"])  # one training class: no estimator, left out of the mean
    assert row["test_metric"] == pytest.approx((row["test_A"] + row["test_B"]) / 2)


def test_a_class_missing_from_the_training_rows_keeps_its_column():
    """XGBoost needs the classes as 0..m-1; a class absent from training still scores 0."""
    task = blobs_task(90, 4, 3, seed=1)
    keep = task.y["train"] != 1
    task.X["train"], task.y["train"] = task.X["train"][keep], task.y["train"][keep]
    for name in ("RF", "XGBoost"):
        if not installed(methods.get(name)):
            continue
        rows, _ = run_baseline_grid(task, benchmark="uci", dataset="blobs", method=name, split=0,
                                    configs=[expand(method_grid(name, "uci"))[0]], threads=1, progress=False)
        assert rows.loc[0, "status"] == "ok", rows.loc[0, "error"]
