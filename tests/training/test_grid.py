"""A grid of configurations through the engines (snnbench.training.grid.run_grid): every family
learns, binary and multitask outputs, the test metric where selectable, divergence and failures,
seeds, the refit."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from helpers import FAST, blobs
from snnbench.methods.paper import FAMILIES
from snnbench.settings import TrainSettings
from snnbench.training.grid import run_grid
from snnbench.training.grids import config_seed
from snnbench.training.selection import summarize
from snnbench.training.task import Task


@pytest.mark.parametrize("method", FAMILIES)
def test_every_family_learns_a_separable_problem(method, configs_per_family):
    task = blobs()
    rows, curves = run_grid(task, benchmark="uci", dataset="blobs", method=method, split=0,
                            configs=[configs_per_family[method]], settings=FAST, threads=1, progress=False)
    row = rows.iloc[0]
    assert row["status"] == "ok", row["error"]
    assert row["test_metric"] > 0.9, f"{method}: test accuracy {row['test_metric']} (chance 0.33)"
    assert 10 <= row["best_epoch"] <= 20 and len(curves) == 20


def test_binary_and_multitask_outputs_train_with_masked_labels(configs_per_family):
    task = blobs(classes=2, seed=3)
    binary = Task(kind="binary", n_out=1, X=task.X, y={k: v.astype(np.float32)[:, None] for k, v in task.y.items()})
    rows, _ = run_grid(binary, benchmark="htru2", dataset="htru2", method="SNN", split=0,
                       configs=[configs_per_family["SNN"]], settings=FAST, threads=1, progress=False)
    assert rows.iloc[0]["metric"] == "roc_auc" and rows.iloc[0]["test_metric"] > 0.95
    # two tasks: the second is the first's complement with 40 % of labels missing (NaN)
    rng = np.random.default_rng(0)
    y2 = {}
    for k, v in binary.y.items():
        other = 1 - v.copy()
        other[rng.random(len(v)) < 0.4] = np.nan
        y2[k] = np.hstack([v, other])
    multitask = Task(kind="multitask", n_out=2, X=task.X, y=y2, info={"tasks": ["A", "B"]})
    rows, _ = run_grid(multitask, benchmark="tox21", dataset="tox21", method="MSRAinit", split=0,
                       configs=[{**configs_per_family["MSRAinit"], "l2": 0.001}], settings=FAST, threads=1,
                       progress=False)
    row = rows.iloc[0]
    assert row["status"] == "ok", row["error"]
    assert row["metric"] == "mean_roc_auc" and row["test_metric"] > 0.95
    # each task's test AUC at the early-stopping epoch; the metric is their mean
    assert row["test_A"] > 0.95 and row["test_B"] > 0.95
    assert row["test_metric"] == pytest.approx((row["test_A"] + row["test_B"]) / 2)
    summary = summarize(rows, hp_names=list(configs_per_family["MSRAinit"]) + ["l2"])
    assert summary["selected"]["test_per_task"] == {"A": row["test_A"], "B": row["test_B"]}


# --------------------------------------------------------------------------- the test metric where selectable


@pytest.mark.parametrize("method", ["SNN", "BatchNorm"])
def test_test_metric_computed_only_where_selectable_is_the_same_result(method, configs_per_family):
    task = blobs()
    configs = [configs_per_family[method]]
    every = run_grid(task, benchmark="uci", dataset="blobs", method=method, split=0, configs=configs,
                     settings=replace(FAST, test_curve="every_epoch"), progress=False)
    some = run_grid(task, benchmark="uci", dataset="blobs", method=method, split=0, configs=configs,
                    settings=FAST, progress=False)
    columns = ["status", "best_epoch", "val_metric", "test_metric", "final_train_loss"]
    pd.testing.assert_frame_equal(every[0][columns], some[0][columns])
    full, sparse = every[1]["test_metric"].to_numpy(), some[1]["test_metric"].to_numpy()
    assert np.isfinite(full).all()
    kept = np.isfinite(sparse)
    assert not kept[:FAST.smoothing_window - 1].any() and kept[-1] and kept.sum() < len(full)
    np.testing.assert_array_equal(sparse[kept], full[kept])
    np.testing.assert_array_equal(every[1]["val_metric"], some[1]["val_metric"])


# --------------------------------------------------------------------------- failures, seeds


def test_a_diverging_or_failing_configuration_is_recorded_and_the_grid_goes_on(configs_per_family):
    task = blobs()
    configs = [
        {"n_hidden": 64, "n_layers": 8, "lr": 1e6, "dropout": 0.0, "layer_form": "rectangular"},
        {"n_hidden": 64, "n_layers": 0, "lr": 0.1, "dropout": 0.0, "layer_form": "rectangular"},
        configs_per_family["SNN"],
    ]
    rows, curves = run_grid(task, benchmark="uci", dataset="blobs", method="SNN", split=0, configs=configs,
                            settings=FAST, threads=1, progress=False)
    assert list(rows["status"]) == ["diverged", "failed", "ok"]
    assert rows.loc[0, "error"].startswith("training loss became nan in epoch") or "inf" in rows.loc[0, "error"]
    assert "n_layers must be a positive integer, however: n_layers=0" in rows.loc[1, "error"]
    assert np.isnan(rows.loc[0, "test_metric"]) and rows.loc[0, "epochs_run"] < 20
    summary = summarize(rows, hp_names=list(configs[0]))
    assert summary["counts"] == {"ok": 1, "diverged": 1, "failed": 1}
    assert summary["selected"]["config_id"] == 2
    only_bad = summarize(rows.iloc[:2], hp_names=list(configs[0]))
    assert only_bad["status"] == "failed" and only_bad["selected"] is None


def test_the_same_seed_gives_identical_tables_and_another_seed_does_not(configs_per_family):
    task = blobs()
    configs = [configs_per_family["SNN"], {**configs_per_family["SNN"], "layer_form": "conic"}]

    def run(seed):
        rows, curves = run_grid(task, benchmark="uci", dataset="blobs", method="SNN", split=0, configs=configs,
                                settings=TrainSettings(**{**FAST.__dict__, "seed": seed}), threads=1, progress=False)
        return rows.drop(columns=["seconds"]), curves

    a, ca = run(0)
    b, cb = run(0)
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(ca, cb)
    c, cc = run(1)
    assert not cc["train_loss"].equals(ca["train_loss"])
    # a configuration's seed does not depend on the rest of the grid: narrowing keeps its result
    alone, _ = run_grid(task, benchmark="uci", dataset="blobs", method="SNN", split=0, configs=configs[1:],
                        settings=FAST, threads=1, progress=False)
    assert alone.loc[0, "seed"] == a.loc[1, "seed"] == config_seed(0, "uci", "blobs", 0, "SNN", configs[1])
    assert alone.loc[0, "test_metric"] == a.loc[1, "test_metric"]


def test_refit_adds_a_row_trained_on_training_and_validation(configs_per_family):
    task = blobs()
    settings = TrainSettings(**{**FAST.__dict__, "refit": True})
    rows, curves = run_grid(task, benchmark="uci", dataset="blobs", method="SNN", split=0,
                            configs=[configs_per_family["SNN"]], settings=settings, threads=1, progress=False)
    assert list(rows["phase"]) == ["grid", "refit"]
    assert rows.loc[1, "epochs_run"] == rows.loc[0, "best_epoch"]
    summary = summarize(rows, hp_names=list(configs_per_family["SNN"]))
    assert summary["refit"]["epochs"] == rows.loc[0, "best_epoch"] and summary["refit"]["test_metric"] > 0.9
