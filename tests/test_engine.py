"""The reference engine: learning, early stopping, selection, divergence, reproducibility, grids, CLI."""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
import sys

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO

from snnbench import benchmarks
from snnbench.contracts.prepared import write_prepared, write_status
from snnbench.errors import ConfigError
from snnbench.training.grid import run_grid
from snnbench.methods.paper import FAMILIES
from snnbench.pipeline.runs import default_grids, load_grids
from snnbench.training.grids import expand, grid_size, narrow
from snnbench.reference import paper_grids
from snnbench.training.metrics import mean_roc_auc, roc_auc, task_roc_aucs
from snnbench.training.grids import config_seed
from snnbench.training.recipe import SelectableEpochs
from snnbench.training.selection import summarize
from snnbench.training.selection import early_stopping_epoch, select, smooth
from snnbench.settings import TrainSettings
from snnbench.training.task import Task, blobs_task, subsample_rows

# --------------------------------------------------------------------------- synthetic tasks


def blobs(n: int = 240, d: int = 8, classes: int = 3, seed: int = 0) -> Task:
    """Well-separated Gaussian blobs, split 60/20/20."""
    return blobs_task(n, d, classes, seed)


ONE_CONFIG = {
    "SNN": {"n_hidden": 64, "n_layers": 3, "lr": 0.1, "dropout": 0.05, "layer_form": "rectangular"},
    "MSRAinit": {"n_hidden": 64, "n_layers": 3, "lr": 0.1, "dropout": 0.5, "layer_form": "conic"},
    "BatchNorm": {"n_hidden": 64, "n_layers": 3, "lr": 0.1, "layer_form": "rectangular"},
    "WeightNorm": {"n_hidden": 64, "n_layers": 3, "lr": 0.1, "layer_form": "rectangular"},
    "LayerNorm": {"n_hidden": 64, "n_layers": 3, "lr": 0.1, "layer_form": "conic"},
    "Highway": {"n_layers": 3, "lr": 0.1, "dropout": 0.0},
    "ResNet": {"n_blocks": 2, "n_hidden_per_block": 64, "block_form": "diavolo", "bottleneck": 0.5, "lr": 0.1},
}
FAST = TrainSettings(epochs=20, batch_size=32, highway_width=64, device="cpu")


@pytest.mark.parametrize("method", list(ONE_CONFIG))
def test_every_family_learns_a_separable_problem(method):
    task = blobs()
    rows, curves = run_grid(task, benchmark="uci", dataset="blobs", method=method, split=0,
                            configs=[ONE_CONFIG[method]], settings=FAST, threads=1, progress=False)
    row = rows.iloc[0]
    assert row["status"] == "ok", row["error"]
    assert row["test_metric"] > 0.9, f"{method}: test accuracy {row['test_metric']} (chance 0.33)"
    assert 10 <= row["best_epoch"] <= 20 and len(curves) == 20


def test_binary_and_multitask_outputs_train_with_masked_labels():
    task = blobs(classes=2, seed=3)
    binary = Task(kind="binary", n_out=1, X=task.X, y={k: v.astype(np.float32)[:, None] for k, v in task.y.items()})
    rows, _ = run_grid(binary, benchmark="htru2", dataset="htru2", method="SNN", split=0,
                       configs=[ONE_CONFIG["SNN"]], settings=FAST, threads=1, progress=False)
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
                       configs=[{**ONE_CONFIG["MSRAinit"], "l2": 0.001}], settings=FAST, threads=1, progress=False)
    row = rows.iloc[0]
    assert row["status"] == "ok", row["error"]
    assert row["metric"] == "mean_roc_auc" and row["test_metric"] > 0.95
    # each task's test AUC at the early-stopping epoch; the metric is their mean
    assert row["test_A"] > 0.95 and row["test_B"] > 0.95
    assert row["test_metric"] == pytest.approx((row["test_A"] + row["test_B"]) / 2)
    summary = summarize(rows, hp_names=list(ONE_CONFIG["MSRAinit"]) + ["l2"])
    assert summary["selected"]["test_per_task"] == {"A": row["test_A"], "B": row["test_B"]}


def test_multitask_metric_leaves_out_a_task_with_one_test_class():
    Y = np.array([[0, 1], [1, 1], [0, np.nan], [1, 1]], dtype=float)
    logits = np.array([[0.1, 0.3], [0.9, 0.2], [0.2, 0.0], [0.8, 0.1]])
    assert np.isnan(task_roc_aucs(Y, logits)[1]) and task_roc_aucs(Y, logits)[0] == 1.0
    assert mean_roc_auc(Y, logits) == 1.0


def test_training_subsample_keeps_validation_and_test_whole():
    rows = (np.arange(100), np.arange(100, 120), np.arange(120, 150))
    one = subsample_rows(rows, 30, seed=0)
    assert len(one[0]) == 30 and set(one[0]) <= set(rows[0]) and np.all(np.diff(one[0]) > 0)
    assert one[1] is rows[1] and one[2] is rows[2]
    assert np.array_equal(subsample_rows(rows, 30, seed=0)[0], one[0])
    assert not np.array_equal(subsample_rows(rows, 30, seed=1)[0], one[0])
    assert subsample_rows(rows, None, seed=0) is rows and subsample_rows(rows, 500, seed=0) is rows
    with pytest.raises(ConfigError, match="max_train_rows"):
        TrainSettings(max_train_rows=1)


# --------------------------------------------------------------------------- early stopping


def test_moving_average_early_stopping_on_hand_made_curves():
    assert np.allclose(smooth(np.arange(5.0), 2), [0.5, 1.5, 2.5, 3.5])
    # a one-epoch spike loses to a plateau once the curve is smoothed
    curve = np.full(100, 0.5)
    curve[5] = 1.0
    curve[40:60] = 0.8
    assert int(np.argmax(curve)) == 5
    epoch, value = early_stopping_epoch(curve, window=10, align="trailing")
    assert (epoch, value) == (49, pytest.approx(0.8))  # first full window 40..49, its last epoch
    epoch, _ = early_stopping_epoch(curve, window=10, align="centered")
    assert epoch == 44  # the middle of that window
    # ties: the first maximum; shorter curve than the window: one window over everything
    assert early_stopping_epoch(np.array([1.0, 1.0, 1.0, 1.0]), window=2) == (1, 1.0)
    assert early_stopping_epoch(np.array([0.2, 0.4, 0.6]), window=10) == (2, pytest.approx(0.4))
    with pytest.raises(ValueError, match="undefined"):
        early_stopping_epoch(np.full(20, np.nan), window=10)


def test_test_epochs_always_include_the_epoch_early_stopping_chooses():
    rng = np.random.default_rng(0)
    settings = TrainSettings(smoothing_window=5)
    skipped = 0
    for trial in range(300):
        epochs = int(rng.integers(1, 40))
        curve = rng.integers(0, 6, epochs) / 5.0  # coarse values: many tied windows
        curve[rng.random(epochs) < 0.1] = np.nan  # undefined metrics (one-class AUC)
        tested = SelectableEpochs(settings, epochs)
        flags = [tested(0, list(curve[:e + 1])) for e in range(epochs)]
        assert flags[-1], "the last epoch is always tested (the refit reports it)"
        if np.all(np.isnan(smooth(curve, 5))):
            continue
        chosen, _ = early_stopping_epoch(curve, window=5)
        assert flags[chosen], (trial, curve.tolist(), chosen)
        skipped += flags.count(False)
    assert skipped > 1000  # of about 6,000 epochs: the saving is real
    assert not any(SelectableEpochs(settings, 40)(0, [0.5] * (e + 1)) for e in range(3))  # no window yet
    assert all(SelectableEpochs(replace(settings, smoothing_align="centered"), 40)(0, [0.5] * (e + 1)) for e in range(3))
    assert all(SelectableEpochs(replace(settings, test_curve="every_epoch"), 40)(0, [0.5] * (e + 1)) for e in range(3))


@pytest.mark.parametrize("method", ["SNN", "BatchNorm"])
def test_test_metric_computed_only_where_selectable_is_the_same_result(method):
    task = blobs()
    every = run_grid(task, benchmark="uci", dataset="blobs", method=method, split=0, configs=[ONE_CONFIG[method]],
                     settings=replace(FAST, test_curve="every_epoch"), progress=False)
    some = run_grid(task, benchmark="uci", dataset="blobs", method=method, split=0, configs=[ONE_CONFIG[method]],
                    settings=FAST, progress=False)
    columns = ["status", "best_epoch", "val_metric", "test_metric", "final_train_loss"]
    pd.testing.assert_frame_equal(every[0][columns], some[0][columns])
    full, sparse = every[1]["test_metric"].to_numpy(), some[1]["test_metric"].to_numpy()
    assert np.isfinite(full).all()
    kept = np.isfinite(sparse)
    assert not kept[:FAST.smoothing_window - 1].any() and kept[-1] and kept.sum() < len(full)
    np.testing.assert_array_equal(sparse[kept], full[kept])
    np.testing.assert_array_equal(every[1]["val_metric"], some[1]["val_metric"])


def grid_rows(*rows):
    frame = pd.DataFrame(rows)
    frame["config_id"] = range(len(frame))
    frame["phase"] = "grid"
    return frame


def test_selection_tie_break_more_layers_then_lower_lr_then_higher_dropout():
    base = {"status": "ok", "val_metric": 0.9}
    rows = grid_rows(
        {**base, "depth": 2, "lr": 0.01, "dropout": 0.5},
        {**base, "depth": 8, "lr": 0.1, "dropout": 0.0},
        {**base, "depth": 8, "lr": 0.01, "dropout": 0.0},
        {**base, "depth": 8, "lr": 0.01, "dropout": 0.05},
        {**base, "depth": 8, "lr": 0.01, "dropout": 0.05},  # identical: the earlier in grid order
        {**base, "depth": 32, "lr": 0.01, "dropout": 0.5, "status": "diverged", "val_metric": float("nan")},
        {**base, "depth": 16, "lr": 1.0, "dropout": 0.0, "val_metric": 0.9 - 1e-12},  # equal to 9 decimals
    )
    assert select(rows)["config_id"] == 6  # more layers wins the tie
    rows.loc[6, "val_metric"] = 0.89
    assert select(rows)["config_id"] == 3  # then lower lr, then higher dropout, then grid order
    rows.loc[1, "val_metric"] = 0.95
    assert select(rows)["config_id"] == 1  # a higher validation metric beats every tie-breaker
    no_dropout = grid_rows({**base, "depth": 2, "lr": 0.1}, {**base, "depth": 2, "lr": 0.01})
    assert select(no_dropout)["config_id"] == 1
    assert select(grid_rows({**base, "depth": 2, "lr": 0.01, "status": "failed"})) is None


# --------------------------------------------------------------------------- failures, seeds


def test_a_diverging_or_failing_configuration_is_recorded_and_the_grid_goes_on():
    task = blobs()
    configs = [
        {"n_hidden": 64, "n_layers": 8, "lr": 1e6, "dropout": 0.0, "layer_form": "rectangular"},
        {"n_hidden": 64, "n_layers": 0, "lr": 0.1, "dropout": 0.0, "layer_form": "rectangular"},
        ONE_CONFIG["SNN"],
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


def test_the_same_seed_gives_identical_tables_and_another_seed_does_not():
    task = blobs()
    configs = [ONE_CONFIG["SNN"], {**ONE_CONFIG["SNN"], "layer_form": "conic"}]

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


def test_refit_adds_a_row_trained_on_training_and_validation():
    task = blobs()
    settings = TrainSettings(**{**FAST.__dict__, "refit": True})
    rows, curves = run_grid(task, benchmark="uci", dataset="blobs", method="SNN", split=0,
                            configs=[ONE_CONFIG["SNN"]], settings=settings, threads=1, progress=False)
    assert list(rows["phase"]) == ["grid", "refit"]
    assert rows.loc[1, "epochs_run"] == rows.loc[0, "best_epoch"]
    summary = summarize(rows, hp_names=list(ONE_CONFIG["SNN"]))
    assert summary["refit"]["epochs"] == rows.loc[0, "best_epoch"] and summary["refit"]["test_metric"] > 0.9


def test_settings_reject_unknown_and_bad_values():
    with pytest.raises(ConfigError, match="unknown setting"):
        TrainSettings.from_dict({"epoch": 10})
    with pytest.raises(ConfigError, match="train.optimizer must be one of sgd, adam, however: optimizer='rmsprop'"):
        TrainSettings.from_dict({"optimizer": "rmsprop"})
    with pytest.raises(ConfigError, match="epochs must be a positive integer"):
        TrainSettings(epochs=0)


# --------------------------------------------------------------------------- grids and metrics


def test_config_grids_are_the_papers():
    ours = load_grids(REPO / "config" / "grids.yaml")
    # the file overrides nothing: every method runs on the grid it (or its benchmark) declares
    assert ours == default_grids() == load_grids(None)
    assert all({*FAMILIES, "RF", "SVM"} <= set(ours[b]) for b in ours)
    paper = paper_grids()
    assert {b: {m: g for m, g in ours[b].items() if m in FAMILIES} for b in ours} == paper
    sizes = {m: grid_size(g) for m, g in ours["uci"].items()}
    assert sizes == {"SNN": 216, "MSRAinit": 216, "BatchNorm": 108, "WeightNorm": 108, "LayerNorm": 108,
                     "Highway": 36, "ResNet": 180, "RF": 10, "SVM": 110, "XGBoost": 9, "LightGBM": 12, "CatBoost": 9}
    # Tox21 declares smaller baseline grids (B3) over the methods' own
    assert {m: grid_size(ours["tox21"][m]) for m in ("RF", "SVM", "XGBoost")} == {"RF": 6, "SVM": 9, "XGBoost": 2}
    assert ours["htru2"]["RF"] == ours["uci"]["RF"]
    assert len(expand(ours["uci"]["SNN"])) == 216 and expand(ours["uci"]["SNN"])[0] == {
        "n_hidden": 1024, "n_layers": 2, "lr": 0.01, "dropout": 0.05, "layer_form": "rectangular"}


def test_a_grid_file_overrides_one_method_on_one_benchmark(tmp_path):
    path = tmp_path / "grids.yaml"
    path.write_text("uci:\n  SNN: {n_hidden: [64], n_layers: [2], lr: [0.1], dropout: [0], layer_form: [conic]}\n")
    grids = load_grids(path)
    assert grids["uci"]["SNN"] == {"n_hidden": [64], "n_layers": [2], "lr": [0.1], "dropout": [0], "layer_form": ["conic"]}
    default = default_grids()
    assert grids["tox21"]["SNN"] == default["tox21"]["SNN"] and grids["uci"]["RF"] == default["uci"]["RF"]
    path.write_text("# comments only\n")
    assert load_grids(path) == default
    path.write_text("uic: {}\n")
    with pytest.raises(ConfigError, match="unknown benchmark 'uic'"):
        load_grids(path)


def test_narrowing_keeps_a_subset_and_names_the_setting():
    grid = paper_grids()["uci"]["SNN"]
    small = narrow(grid, {"n_layers": [8, 2], "lr": 0.1}, setting="train.narrow.uci.SNN")
    assert small["n_layers"] == [2, 8] and small["lr"] == [0.1] and grid_size(small) == 3 * 2 * 1 * 2 * 2
    with pytest.raises(ConfigError, match=r"train.narrow.uci.SNN.n_layers: \[5\] not in the grid"):
        narrow(grid, {"n_layers": [5]}, setting="train.narrow.uci.SNN")
    with pytest.raises(ConfigError, match="train.narrow.uci.SNN.depth: no such hyperparameter"):
        narrow(grid, {"depth": [2]}, setting="train.narrow.uci.SNN")


def test_roc_auc_matches_scikit_learn_with_ties_and_masks_missing_labels():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 500)
    score = np.round(rng.normal(size=500) + y, 1)  # many ties
    assert roc_auc(y, score) == pytest.approx(roc_auc_score(y, score), abs=1e-12)
    assert np.isnan(roc_auc(np.ones(5), np.arange(5.0)))
    from scipy.stats import rankdata

    from snnbench.training.metrics import average_ranks

    assert np.array_equal(average_ranks(score), rankdata(score))
    Y = np.stack([y, 1 - y], axis=1).astype(float)
    Y[:100, 1] = np.nan
    logits = np.stack([score, -score], axis=1)
    expected = (roc_auc_score(y, score) + roc_auc_score(1 - y[100:], -score[100:])) / 2
    assert mean_roc_auc(Y, logits) == pytest.approx(expected, abs=1e-12)


# --------------------------------------------------------------------------- the CLI verb


def snnbench(*args):
    return subprocess.run([sys.executable, "-m", "snnbench", *args], cwd=REPO, capture_output=True, text=True)


def test_train_cli_writes_rows_curves_and_summary(tmp_path):
    task = blobs(n=200, seed=5)
    X = np.concatenate([task.X[p] for p in ("train", "validation", "test")])
    y = np.concatenate([task.y[p] for p in ("train", "validation", "test")])
    test = np.zeros((200, 4), bool)
    val = np.zeros((200, 4), bool)
    val[120:160, 0], test[160:, 0] = True, True
    write_prepared(tmp_path, "uci", "iris", {"X": X, "y": y, "test_folds": test, "validation_folds": val},
                   {"n": 200, "d": 8, "classes": 3})
    write_status(tmp_path, "uci", "miniboone", "unavailable", "not in the mirror")
    out = tmp_path / "out" / "iris.csv"
    result = snnbench("train", "--benchmark", "uci", "--dataset", "iris", "--method", "SNN", "--prepared-dir",
                      str(tmp_path), "--out", str(out), "--narrow", "n_hidden=[256]", "--narrow", "n_layers=[2, 3]",
                      "--narrow", "lr=[0.01]", "--narrow", "layer_form=[conic]", "--set", "epochs=12",
                      "--threads", "1")
    assert result.returncode == 0, result.stderr
    assert "[4/4]" in result.stderr and "ETA" in result.stderr  # progress lines (not a terminal here)
    rows = pd.read_csv(out)
    assert len(rows) == 4 and set(rows["status"]) == {"ok"}
    assert {"n_hidden", "n_layers", "lr", "dropout", "layer_form", "best_epoch", "val_metric", "test_metric",
            "status", "error", "seconds", "device", "torch_version"} <= set(rows.columns)
    summary = json.loads(out.with_suffix(".json").read_text())
    assert summary["status"] == "ok" and summary["n_configs"] == 4 and summary["settings"]["epochs"] == 12
    assert summary["published_test_metric"] == 0.973  # Table A11, iris, SNN
    assert summary["selected"]["hyperparameters"]["n_hidden"] == 256
    assert f"test accuracy {summary['selected']['test_metric']:.4f} (published 0.9730)" in result.stdout
    curves = pd.read_csv(tmp_path / "out" / "iris.curves.csv.gz")
    assert len(curves) == 4 * 12
    assert not list((tmp_path / "out").glob(".*part"))

    unavailable = snnbench("train", "--benchmark", "uci", "--dataset", "miniboone", "--method", "SNN",
                           "--prepared-dir", str(tmp_path), "--out", str(tmp_path / "out" / "mb.csv"), "--keep-going")
    assert unavailable.returncode == 0, unavailable.stderr
    summary = json.loads((tmp_path / "out" / "mb.json").read_text())
    assert summary["status"] == "unavailable" and "not in the mirror" in summary["reason"]

    assert "dataset unavailable: not in the mirror" in unavailable.stdout

    # the same job as a function (what the CLI calls): it returns the summary it writes
    from snnbench.pipeline.job import run_training_job

    grid = {"n_layers": [2], "lr": [0.1], "dropout": [0.0], "n_hidden": [32], "layer_form": ["rectangular"]}
    job = run_training_job(benchmark="uci", dataset="iris", method="MSRAinit", split=0, grid=grid,
                           settings=TrainSettings(epochs=3), prepared_dir=tmp_path, out=tmp_path / "fn" / "j.csv",
                           threads=1, progress=False)
    written = json.loads((tmp_path / "fn" / "j.json").read_text())
    assert job["selected"] == written["selected"] and job["counts"] == written["counts"] == {"ok": 1, "diverged": 0,
                                                                                             "failed": 0}
    assert job["n_configs"] == 1 and job["selected"]["best_epoch"] == 3 and job["metric"] == "accuracy"

    bad = snnbench("train", "--benchmark", "uci", "--dataset", "iris", "--method", "SELU", "--prepared-dir", str(tmp_path))
    assert bad.returncode == 2 and "unknown method 'SELU' in --method" in bad.stderr
    bad = snnbench("train", "--benchmark", "uci", "--dataset", "iris", "--method", "SNN", "--prepared-dir",
                   str(tmp_path), "--narrow", "lr=[0.5]")
    assert bad.returncode == 2 and "--narrow.lr: [0.5] not in the grid" in bad.stderr


@pytest.mark.mirror
def test_train_on_iris_from_the_mirror(tmp_path, mirror_raw):
    from snnbench.data.prepare import prepare_dataset

    status, card = prepare_dataset(benchmarks.get("uci"), "iris", raw_dir=mirror_raw, prepared_dir=tmp_path)
    assert status == "ok"
    out = tmp_path / "iris_snn.csv"
    result = snnbench("train", "--benchmark", "uci", "--dataset", "iris", "--method", "SNN", "--prepared-dir",
                      str(tmp_path), "--out", str(out), "--narrow", "n_hidden=[256]", "--narrow", "n_layers=[2]",
                      "--narrow", "lr=[0.01]", "--threads", "1", "--quiet")
    assert result.returncode == 0, result.stderr
    summary = json.loads(out.with_suffix(".json").read_text())
    assert summary["sizes"] == {"train": 92, "validation": 21, "test": 37}
    assert summary["n_configs"] == 4 and summary["counts"]["ok"] == 4
    assert summary["selected"]["test_metric"] > 0.8  # iris; Table A11 gives 0.973 for the full grid


def test_workflow_config_narrowing_errors_name_the_setting(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"benchmarks": ["uci"], "uci": {"datasets": ["iris"]},
                                      "train": {"methods": ["SNN"], "narrow": {"uci": {"SNN": {"lr": [0.3]}}}}}))
    result = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--configfile", str(config)], cwd=REPO,
                            capture_output=True, text=True)
    assert result.returncode != 0
    assert "train.narrow.uci.SNN.lr: [0.3] not in the grid [0.01, 0.1, 1]" in result.stdout + result.stderr


def test_progress_redraws_one_line_in_a_terminal_and_weighs_the_eta_by_cost(monkeypatch):
    import io

    from snnbench.training import progress

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    clock = iter([0.0, 10.0, 10.0])
    monkeypatch.setattr(progress.time, "perf_counter", lambda: next(clock))
    screen = Terminal()
    bar = progress.GridProgress(label="uci/iris/SNN/split0", costs=[1.0, 3.0], stream=screen)
    bar.update(0, "n_layers=2 -> val 0.9")  # a quarter of the cost done in 10 s: 30 s to go
    bar.close()
    text = screen.getvalue()
    assert text.startswith("\r\x1b[2Kuci/iris/SNN/split0 [1/2] n_layers=2 -> val 0.9 | elapsed 0m10s ETA 0m30s")
    assert text.endswith("\n")
