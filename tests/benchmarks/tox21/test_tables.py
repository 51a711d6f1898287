"""Tox21: per-depth selection, Table 2 beside the published table, the per-task table, the
figure, and failed jobs. (The per-task baselines: tests/training/test_estimators.py.)"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from helpers import FAST, two_tasks
from snnbench.benchmarks.tox21.tables import build_tox21_tables
from snnbench.contracts.results import write_outputs
from snnbench.pipeline.aggregate import aggregate
from snnbench.training.grid import run_grid
from snnbench.training.selection import summarize

TASKS = ["NR.AhR", "SR.p53"]


def job(tmp_path, method, repeat, rows):
    """A training job's outputs from hand-made result rows (one per configuration)."""
    frame = pd.DataFrame([{"benchmark": "tox21", "dataset": "tox21", "method": method, "split": repeat,
                           "metric": "mean_roc_auc", "phase": "grid", "config_id": i, "status": "ok", "error": None,
                           "best_epoch": 30, **r} for i, r in enumerate(rows)])
    hp = [k for k in rows[0] if k in ("n_layers", "lr", "n_blocks", "C")]
    summary = summarize(frame, hp_names=hp, extra={
        "benchmark": "tox21", "dataset": "tox21", "method": method, "split": repeat, "metric": "mean_roc_auc",
        "grid": {k: sorted({r[k] for r in rows}) for k in hp}, "sizes": {"train": 11764},
        "split_info": {"feature_set": "rdkit"}})
    out = tmp_path / "train" / method / f"split{repeat}.csv"
    write_outputs(out, frame, pd.DataFrame(), summary)
    return out.with_suffix(".json")


def cfg(depth, lr, val, test, method="SNN"):
    key = "n_blocks" if method == "ResNet" else "n_layers"
    return {key: depth, "lr": lr, "depth": depth, "val_metric": val, "val_metric_raw": val, "test_metric": test,
            "seconds": 1.0, "test_NR.AhR": test + 0.01, "test_SR.p53": test - 0.01}


def fake_run(tmp_path):
    """SNN, 2 repeats, depths 2 and 8 (two learning rates each); BatchNorm 2 repeats; RF once; one
    crashed BatchNorm repeat."""
    paths = []
    for r, shift in ((0, 0.0), (1, 0.004)):
        paths.append(job(tmp_path, "SNN", r, [cfg(2, 0.01, 0.80, 0.830 + shift), cfg(2, 0.1, 0.82, 0.810 + shift),
                                              cfg(8, 0.01, 0.85, 0.845 + shift), cfg(8, 0.1, 0.84, 0.850 + shift)]))
        paths.append(job(tmp_path, "BatchNorm", r, [cfg(2, 0.01, 0.79, 0.80 + shift), cfg(8, 0.01, 0.74, 0.75)]))
    paths.append(job(tmp_path, "RF", 0, [{"C": 1, "val_metric": 0.8, "val_metric_raw": 0.8, "test_metric": 0.82,
                                          "seconds": 1.0, "test_NR.AhR": 0.83, "test_SR.p53": 0.81}]))
    crashed = tmp_path / "train" / "BatchNorm" / "split2.csv"
    write_outputs(crashed, pd.DataFrame(), pd.DataFrame(), {
        "benchmark": "tox21", "dataset": "tox21", "method": "BatchNorm", "split": 2, "status": "failed",
        "reason": "the training job crashed (exit 137)", "n_configs": 0, "selected": None})
    paths.append(crashed.with_suffix(".json"))
    return paths


def test_table2_selects_per_depth_and_sits_beside_the_published(tmp_path):
    scores = aggregate(fake_run(tmp_path), benchmark="tox21", scores_out=tmp_path / "scores.csv",
                       failures_out=tmp_path / "failures.csv")
    depth_rows = scores[(scores["source"] == "ours") & (scores["scope"] == "depth")]
    snn2 = depth_rows[(depth_rows["method"] == "SNN") & (depth_rows["depth"] == 2)].sort_values("split")
    # per depth, the validation winner of that depth (lr 0.1 at depth 2), not the overall winner
    assert snn2["value"].tolist() == pytest.approx([0.810, 0.814])
    assert json.loads(snn2["hyperparameters"].iloc[0]) == {"n_layers": 2, "lr": 0.1}
    assert len(pd.read_csv(tmp_path / "failures.csv")) == 1  # the crash; per-depth rows are not jobs

    result = build_tox21_tables(pd.read_csv(tmp_path / "scores.csv", dtype={"split": str}), tmp_path / "tox21",
                                settings={"optimizer": "sgd"})
    assert result["depths"] == [2, 8]
    t = result["table2"].set_index("method")
    assert t.at["SNN", "2"] == pytest.approx(81.2)
    assert t.at["SNN", "2_std"] == pytest.approx(np.std([81.0, 81.4], ddof=1))
    assert t.at["SNN", "2_published"] == 83.7 and t.at["SNN", "2_difference"] == pytest.approx(81.2 - 83.7)
    assert t.at["SNN", "8_published"] == 84.5 and t.at["SNN", "best_depth"] == 8
    assert t.at["SNN", "selected"] == pytest.approx(84.7) and t.at["SNN", "selected_depths"] == "8, 8"
    assert t.at["BatchNorm", "best_depth"] == 2 and t.at["BatchNorm", "n_repeats"] == 2
    assert np.isnan(t.at["RF", "2"]) and t.at["RF", "selected"] == pytest.approx(82.0)
    assert t.at["DeepTox (Tox21 challenge winner)", "published_best"] == pytest.approx(84.6)

    md = (tmp_path / "tox21" / "table2.md").read_text()
    assert "84.7 ± 0.3* / 84.5 ± 0.2* / +0.2" in md  # ours / published / difference, best of row marked
    assert "indicative only" in md and "Failed jobs: 1" in md and "Depths not trained here" in md
    assert "optimizer=sgd" in md
    tasks = result["table2_tasks"].set_index("method")
    assert tasks.at["SNN", "NR.AhR"] == pytest.approx(85.7) and tasks.at["SNN", "mean"] == pytest.approx(84.7)
    assert (tmp_path / "tox21" / "table2.tex").is_file() and (tmp_path / "tox21" / "table2_tasks.md").is_file()
    assert (tmp_path / "tox21" / "figures" / "auc_vs_depth.png").is_file()


def test_a_real_multitask_grid_gives_per_depth_cells(tmp_path, configs_per_family):
    task = two_tasks()
    configs = [{**configs_per_family["SNN"], "n_layers": d, "l2": 1e-5} for d in (2, 3)]
    rows, curves = run_grid(task, benchmark="tox21", dataset="tox21", method="SNN", split=0, configs=configs,
                            settings=FAST, threads=1, progress=False)
    summary = summarize(rows, hp_names=list(configs[0]), extra={"benchmark": "tox21", "dataset": "tox21",
                                                                  "method": "SNN", "split": 0, "grid": {}})
    out = tmp_path / "SNN" / "split0.csv"
    write_outputs(out, rows, curves, summary)
    scores = aggregate([out.with_suffix(".json")], benchmark="tox21", scores_out=tmp_path / "scores.csv")
    cells = scores[(scores["source"] == "ours") & (scores["scope"] == "depth")]
    assert cells["depth"].tolist() == [2.0, 3.0] and (cells["status"] == "ok").all()
    assert cells["value"].tolist() == pytest.approx(rows["test_metric"].tolist())
    assert (cells["test_A"] > 0.9).all() and (cells["test_B"] > 0.9).all() and cells["test_C"].between(0, 1).all()
    assert cells["value"].tolist() == pytest.approx(cells[["test_A", "test_B", "test_C"]].mean(axis=1).tolist())
