"""A user's methods by config alone (snnbench.methods.custom): torch and sklearn methods through
the engines, a network without a stacked form, and each bad entry one clear error naming the
setting, checked before any job."""

from __future__ import annotations

import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

from snnbench import methods
from snnbench.benchmarks import BENCHMARKS
from snnbench.errors import ConfigError
from snnbench.methods.custom import check_networks, custom_specs, register_custom
from snnbench.pipeline.runs import get_grid
from snnbench.settings import TrainSettings
from snnbench.training.estimators import run_baseline_grid
from snnbench.training.grid import run_grid
from snnbench.training.grids import expand
from snnbench.training.task import blobs_task

FAST = TrainSettings(epochs=12, batch_size=32, device="cpu", engine="batched", highway_width=16)
USER_MODULE = '''
from torch import nn


def build_mlp(*, n_in: int, n_out: int, n_hidden: int = 16, n_layers: int = 1, act: str = "tanh"):
    layers, width = [], n_in
    for _ in range(n_layers):
        layers += [nn.Linear(width, n_hidden), nn.Tanh() if act == "tanh" else nn.ReLU()]
        width = n_hidden
    return nn.Sequential(*layers, nn.Linear(width, n_out))


def build_dropout_mlp(*, n_in: int, n_out: int, p: float = 0.1):
    return nn.Sequential(nn.Linear(n_in, 8), nn.ReLU(), nn.Dropout(p), nn.Linear(8, n_out))


def build_anything(**kwargs):
    return nn.Linear(kwargs["n_in"], kwargs["n_out"])


def build_dict(*, n_in: int, n_out: int):
    return {"net": nn.Linear(n_in, n_out)}


def build_no_parameters(*, n_in: int, n_out: int):
    return nn.ReLU()


def build_wrong_width(*, n_in: int, n_out: int, extra: int = 1):
    return nn.Linear(n_in, n_out + extra)


def build_failing(*, n_in: int, n_out: int, n_hidden: int = 4):
    if n_hidden > 4:
        raise ValueError("n_hidden above 4\\nis not supported")
    return nn.Linear(n_in, n_out)


def build_wrong_input(*, n_in: int, n_out: int):
    return nn.Linear(n_in + 1, n_out)


NOT_CALLABLE = 3
'''


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    """A user's method module on sys.path, as a package on PYTHONPATH would be."""
    name = f"user_methods_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(USER_MODULE))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)
    for spec_name in [n for n in methods.names(origin="config (train.custom_methods)")]:
        methods.unregister(spec_name)


def test_a_users_torch_and_sklearn_methods_by_config(user_module):
    custom = {
        "MyMLP": {"kind": "torch", "build": f"{user_module}:build_mlp", "depth": "n_layers",
                  "grid": {"uci": {"n_hidden": [16], "n_layers": [1, 2], "lr": [0.05, 0.1]}}},
        "LogReg": {"kind": "sklearn", "estimator": "sklearn.linear_model:LogisticRegression",
                   "grid": {"uci": {"C": [0.1, 1.0]}}},
    }
    specs = register_custom(custom, benchmarks=BENCHMARKS)
    assert [s.name for s in specs] == ["MyMLP", "LogReg"]
    assert methods.check("MyMLP", kind="torch").origin == "config (train.custom_methods)"
    task = blobs_task(120, 4, 3)
    # A torch method through the engines: batched when it stacks (Linear, Tanh), members as the reference
    grid = get_grid({}, "uci", "MyMLP")
    batched, _ = run_grid(task, benchmark="uci", dataset="blobs", method="MyMLP", split=0, configs=expand(grid),
                          settings=FAST, threads=1, progress=False)
    reference, _ = run_grid(task, benchmark="uci", dataset="blobs", method="MyMLP", split=0, configs=expand(grid),
                            settings=TrainSettings(**{**FAST.__dict__, "engine": "reference"}), threads=1,
                            progress=False)
    assert set(batched["engine"]) == {"batched"} and set(reference["engine"]) == {"reference"}
    assert list(batched["depth"]) == [1, 1, 2, 2]
    np.testing.assert_allclose(batched["val_metric"], reference["val_metric"], atol=1e-5)
    assert (batched["status"] == "ok").all() and batched["test_metric"].max() > 0.8
    # the estimator gets the grid's values, and random_state and n_jobs from the run
    rows, _ = run_baseline_grid(task, benchmark="uci", dataset="blobs", method="LogReg", split=0,
                                configs=expand(get_grid({}, "uci", "LogReg")), threads=1, progress=False)
    assert (rows["status"] == "ok").all() and rows["test_metric"].max() > 0.8


def test_a_network_without_a_stacked_form_trains_with_the_reference_engine(user_module):
    register_custom({"DropMLP": {"kind": "torch", "build": f"{user_module}:build_dropout_mlp",
                                 "grid": {"uci": {"p": [0.1], "lr": [0.1]}}}}, benchmarks=BENCHMARKS)
    rows, _ = run_grid(blobs_task(60, 4, 3), benchmark="uci", dataset="blobs", method="DropMLP", split=0,
                       configs=[{"p": 0.1, "lr": 0.1}], settings=FAST, threads=1, progress=False)
    assert rows.loc[0, "engine"] == "reference" and rows.loc[0, "status"] == "ok"
    assert pd.isna(rows.loc[0, "depth"])


@pytest.mark.parametrize("entry,message", [
    ({"kind": "torch", "build": "no_such_module_xyz:f", "grid": {"uci": {"lr": [0.1]}}},
     r"MyNet.build: cannot import 'no_such_module_xyz'.*PYTHONPATH"),
    ({"kind": "torch", "build": "{m}:missing", "grid": {"uci": {"lr": [0.1]}}},
     r"MyNet.build: module .* has no 'missing'"),
    ({"kind": "torch", "build": "{m}:NOT_CALLABLE", "grid": {"uci": {"lr": [0.1]}}},
     r"MyNet.build must name a callable"),
    ({"kind": "torch", "build": "{m}:build_mlp", "grid": {"uci": {"width": [8], "lr": [0.1]}}},
     r"MyNet.grid.uci.width is not a hyperparameter the builder accepts; it accepts act, n_hidden, n_layers"),
    ({"kind": "torch", "build": "{m}:build_mlp", "grid": {"uci": {"n_hidden": ["16"], "lr": [0.1]}}},
     r"MyNet.grid.uci.n_hidden holds '16' \(str\), however the builder expects int"),
    ({"kind": "torch", "build": "{m}:build_mlp", "grid": {"uci": {"n_hidden": [16], "lr": ["fast"]}}},
     r"MyNet.grid.uci.lr holds 'fast'"),
    ({"kind": "torch", "build": "{m}:build_mlp", "grid": {"uci": {"n_hidden": [16]}}}, r"MyNet.grid.uci has no lr"),
    ({"kind": "torch", "build": "{m}:build_mlp", "grid": {"cifar": {"lr": [0.1]}}},
     r"MyNet.grid.cifar is not a benchmark"),
    ({"kind": "torch", "build": "{m}:build_mlp", "grid": {"uci": {"n_hidden": 16, "lr": [0.1]}}},
     r"MyNet.grid.uci.n_hidden must be a non-empty list"),
    ({"kind": "torch", "build": "{m}:build_mlp", "depth": "n_blocks", "grid": {"uci": {"lr": [0.1]}}},
     r"MyNet.depth names 'n_blocks', which the uci grid does not have"),
    ({"kind": "torch", "build": "{m}:build_mlp", "grid": {"uci": {"lr": [0.1]}}, "epochs": 3},
     r"MyNet has unknown key\(s\) epochs"),
    ({"kind": "keras", "grid": {}}, r"MyNet.kind must be torch or sklearn"),
    ({"kind": "torch", "build": "{m}:build_anything", "grid": {"uci": {"depth": [2], "lr": [0.1]}}},
     r"MyNet.grid.uci.depth is a column of the result rows"),
    ({"kind": "sklearn", "estimator": "sklearn.linear_model:LogisticRegression", "grid": {"uci": {"C": ["big"]}}},
     r"MyNet.grid.uci.C holds 'big' \(str\), however the estimator expects float"),
    ({"kind": "sklearn", "estimator": "sklearn.linear_model:LogisticRegression", "grid": {"uci": {"alpha": [1.0]}}},
     r"MyNet.grid.uci.alpha is not a hyperparameter the estimator accepts"),
    ({"kind": "sklearn", "estimator": "sklearn.linear_model:LinearRegression", "grid": {"uci": {}}},
     r"MyNet.estimator must have predict_proba or decision_function"),
])
def test_a_bad_custom_method_is_one_clear_error_naming_the_setting(user_module, entry, message):
    entry = {k: v.replace("{m}", user_module) if isinstance(v, str) else v for k, v in entry.items()}
    with pytest.raises(ConfigError, match=r"train\.custom_methods\." + message):
        custom_specs({"MyNet": entry}, benchmarks=BENCHMARKS)


def test_a_custom_method_may_not_shadow_a_built_in_one(user_module):
    with pytest.raises(ConfigError, match=r"train.custom_methods.SNN shadows the built-in method SNN"):
        custom_specs({"SNN": {"kind": "torch", "build": f"{user_module}:build_mlp", "grid": {"uci": {"lr": [0.1]}}}},
                     benchmarks=BENCHMARKS)
    with pytest.raises(ConfigError, match=r"train.custom_methods.my/net is not a usable method name"):
        custom_specs({"my/net": {"kind": "torch", "build": f"{user_module}:build_mlp",
                                 "grid": {"uci": {"lr": [0.1]}}}}, benchmarks=BENCHMARKS)
    # a builder taking **kwargs accepts any hyperparameter: nothing to check but the grid's shape
    specs = custom_specs({"Any": {"kind": "torch", "build": f"{user_module}:build_anything",
                                  "grid": {"uci": {"whatever": [1], "lr": [0.1]}}}}, benchmarks=BENCHMARKS)
    assert specs[0].name == "Any"


@pytest.mark.parametrize("builder,grid,message", [
    ("build_dict", {}, r"must return a torch\.nn\.Module, however it returned a dict with n_in=4, n_out=3"),
    ("build_no_parameters", {}, r"returned a ReLU without parameters"),
    ("build_wrong_width", {"extra": [0, 2]},
     r"returned a network whose output for a batch of shape \(2, 4\) is shape \(2, 5\), however the task needs "
     r"\(2, 3\).*extra=2"),
    ("build_failing", {"n_hidden": [4, 8]}, r"raised ValueError: n_hidden above 4 is not supported with n_in=4, "
                                            r"n_out=3, n_hidden=8"),
    ("build_wrong_input", {}, r"returned a network that fails on a batch of shape \(2, 4\): RuntimeError"),
])
def test_a_builders_network_is_checked_before_training(user_module, builder, grid, message):
    """Issue 24 (8): what a builder returns is checked once per architecture before the job trains,
    as one line naming the setting; a good builder passes and leaves torch's random state alone."""
    import torch

    entry = {"kind": "torch", "build": f"{user_module}:{builder}", "grid": {"uci": {**grid, "lr": [0.1, 0.01]}}}
    (spec,) = custom_specs({"MyNet": entry}, benchmarks=BENCHMARKS)
    configs = expand(spec.grids["uci"])
    with pytest.raises(ConfigError, match=r"^train\.custom_methods\.MyNet\.build " + message) as caught:
        check_networks(spec, configs, n_in=4, n_out=3)
    assert "\n" not in str(caught.value)
    good = custom_specs({"MyNet": {**entry, "build": f"{user_module}:build_mlp", "grid": {"uci": {"lr": [0.1]}}}},
                        benchmarks=BENCHMARKS)[0]
    torch.manual_seed(3)
    before = torch.get_rng_state()
    check_networks(good, [{"lr": 0.1}], n_in=4, n_out=3)
    assert torch.equal(torch.get_rng_state(), before)
