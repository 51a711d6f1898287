"""A training job (snnbench.pipeline.job) through the `snnbench train` and `snnbench record-failure`
verbs: rows, curves and summary, an unavailable dataset, a crashed job's record."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from helpers import REPO, blobs
from snnbench import benchmarks
from snnbench.contracts.prepared import write_prepared, write_status
from snnbench.pipeline.job import failure_line, record_failure
from snnbench.settings import TrainSettings


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

    bad = snnbench("train", "--benchmark", "uci", "--dataset", "iris", "--method", "SELU", "--prepared-dir",
                   str(tmp_path))
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


def test_a_crashed_job_is_recorded_as_failed(tmp_path):
    log = tmp_path / "job.log"
    log.write_text("Traceback (most recent call last):\nRuntimeError: CUDA out of memory\n")
    out = tmp_path / "split0.csv"
    result = subprocess.run([sys.executable, "-m", "snnbench", "record-failure", "--benchmark", "uci", "--dataset",
                             "iris", "--method", "SNN", "--split", "0", "--out", str(out), "--log", str(log),
                             "--reason", "exit 1"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    summary = json.loads(out.with_suffix(".json").read_text())
    assert summary["status"] == "failed" and "CUDA out of memory" in summary["reason"] and "exit 1" in summary["reason"]


def test_a_custom_builders_mistake_stops_its_job_before_training_as_one_line(tmp_path, monkeypatch):
    """Issue 24 (8): a builder returning a dict failed configuration by configuration with
    AttributeError: 'dict' object has no attribute 'parameters'; now the job stops before it
    trains, naming train.custom_methods.<name>, and its failure record's reason is that one line."""
    task = blobs(n=200, seed=5)
    X = np.concatenate([task.X[p] for p in ("train", "validation", "test")])
    y = np.concatenate([task.y[p] for p in ("train", "validation", "test")])
    val, test = np.zeros((200, 1), bool), np.zeros((200, 1), bool)
    val[120:160, 0], test[160:, 0] = True, True
    write_prepared(tmp_path, "uci", "iris", {"X": X, "y": y, "test_folds": test, "validation_folds": val},
                   {"n": 200, "d": 8, "classes": 3})
    (tmp_path / "dict_methods.py").write_text(
        "from torch import nn\n\ndef build(*, n_in: int, n_out: int):\n    return {'net': nn.Linear(n_in, n_out)}\n")
    entry = json.dumps({"MyMLP": {"kind": "torch", "build": "dict_methods:build", "grid": {"uci": {"lr": [0.1]}}}})
    out, log = tmp_path / "out" / "split0.csv", tmp_path / "split0.log"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-m", "snnbench", "train", "--benchmark", "uci", "--dataset", "iris",
                             "--method", "MyMLP", "--custom-method", entry, "--prepared-dir", str(tmp_path),
                             "--out", str(out), "--set", "epochs=2", "--threads", "1"],
                            cwd=REPO, capture_output=True, text=True, env=env)
    assert result.returncode == 2, result.stderr
    assert ("snnbench: error: train.custom_methods.MyMLP.build must return a torch.nn.Module, however it returned "
            "a dict with n_in=8, n_out=3") in result.stderr
    assert "[1/1]" not in result.stderr and not out.exists()  # nothing trained, nothing written
    log.write_text(result.stderr)
    summary = record_failure(benchmark="uci", dataset="iris", method="MyMLP", split=0, out=out, log_path=log,
                             reason="exit 2")
    assert summary["reason"] == (f"the training job crashed (exit 2): train.custom_methods.MyMLP.build must return a "
                                 f"torch.nn.Module, however it returned a dict with n_in=8, n_out=3, no "
                                 f"hyperparameters; log {log}")


def test_a_crash_reason_is_the_tracebacks_exception_in_one_line(tmp_path):
    """A Python traceback (3.11+ marks expressions with ^^^^ rows) gives its exception and innermost
    frame; snnbench's own error line wins; a log without either gives its last line."""
    script = tmp_path / "crash.py"
    script.write_text("def inner(d):\n    return sum(p for p in d.parameters())\n\n\n"
                      "def outer():\n    return inner({'a': 1}) + 1\n\n\nprint('started')\nouter()\n")
    text = subprocess.run([sys.executable, str(script)], capture_output=True, text=True).stderr
    assert "Traceback" in text
    assert failure_line("started\n" + text) == ("AttributeError: 'dict' object has no attribute 'parameters' "
                                                 "(at crash.py:2, in inner)")
    assert failure_line(text + "snnbench: error: uci.datasets: no such dataset\nmore\n") == \
        "uci.datasets: no such dataset"
    assert failure_line("loading\nkilled by signal 9\n   ^^^^\n") == "killed by signal 9"
    assert failure_line("") == ""
