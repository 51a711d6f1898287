"""Methods as registered units: every built-in method through one interface, a user's methods by
config alone (checked before any job), and the engines' contract for a torch method that is not
one of the paper's."""

from __future__ import annotations

import importlib.util
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
import torch

from snnbench import methods
from snnbench.benchmarks import BENCHMARKS
from snnbench.training.estimators import run_baseline_grid
from snnbench.errors import ConfigError
from snnbench.training.flops import linear_shapes
from snnbench.training.grid import run_grid
from snnbench.training.grids import expand
from snnbench.pipeline.runs import get_grid, load_grids, method_grid
from snnbench.methods.custom import custom_specs, register_custom
from snnbench.methods import build_model, depth_of
from snnbench.settings import TrainSettings
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


def _installed(spec) -> bool:
    return all(importlib.util.find_spec(m) is not None for m in spec.requires)


@pytest.mark.parametrize("name", methods.names())
def test_every_built_in_method_goes_through_the_registry(name):
    """Built-in methods are specs like a user's: a grid per benchmark that the grid file agrees
    with, and (torch) a network of the right shape, its depth and its FLOP shapes, or (sklearn)
    an estimator whose scores rank the classes."""
    from snnbench.contracts.results import IDENTITY_COLUMNS, RESULT_COLUMNS

    spec = methods.get(name)
    assert spec.origin == "snnbench" and set(spec.grids) in ({*BENCHMARKS}, {"*"})  # its own, or one for any
    grids = {b: method_grid(name, b) for b in BENCHMARKS}
    for grid in grids.values():  # a hyperparameter named like a result column would overwrite it
        assert grid and not set(grid) & ({*IDENTITY_COLUMNS, *RESULT_COLUMNS} - {"lr", "l2"}), name
    assert get_grid(load_grids(None), "uci", name) == grids["uci"]
    config = expand(grids["uci"])[0]
    task = blobs_task(60, 4, 3)
    if spec.kind == "torch":
        with torch.device("meta"):
            model = build_model(name, n_in=4, n_out=3, config=config, architecture={"highway_width": 16})
        assert model(torch.empty(5, 4, device="meta")).shape == (5, 3)
        assert depth_of(name, config) == config.get("n_blocks", config.get("n_layers"))
        shapes = linear_shapes(name, config, n_in=4, n_out=3, architecture={"highway_width": 16})
        assert shapes[0][0] == 4 and shapes[-1][1] == 3
        return
    if not _installed(spec):
        pytest.skip(f"{name} needs {', '.join(spec.requires)} (the extra .[beyond])")
    configs = expand(grids["uci"])
    rows, _ = run_baseline_grid(task, benchmark="uci", dataset="blobs", method=name, split=0,
                                configs=configs[::max(1, len(configs) // 6)], threads=1, progress=False)
    assert (rows["status"] == "ok").all(), rows["error"].tolist()
    assert rows["test_metric"].max() > 0.5  # well-separated blobs


def test_a_class_missing_from_the_training_rows_keeps_its_column():
    """XGBoost needs the classes as 0..m-1; a class absent from training still scores 0."""
    task = blobs_task(90, 4, 3, seed=1)
    keep = task.y["train"] != 1
    task.X["train"], task.y["train"] = task.X["train"][keep], task.y["train"][keep]
    for name in ("RF", "XGBoost"):
        if not _installed(methods.get(name)):
            continue
        rows, _ = run_baseline_grid(task, benchmark="uci", dataset="blobs", method=name, split=0,
                                    configs=[expand(method_grid(name, "uci"))[0]], threads=1, progress=False)
        assert rows.loc[0, "status"] == "ok", rows.loc[0, "error"]


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
                            settings=TrainSettings(**{**FAST.__dict__, "engine": "reference"}), threads=1, progress=False)
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
    ({"kind": "torch", "build": "{m}:missing", "grid": {"uci": {"lr": [0.1]}}}, r"MyNet.build: module .* has no 'missing'"),
    ({"kind": "torch", "build": "{m}:NOT_CALLABLE", "grid": {"uci": {"lr": [0.1]}}}, r"MyNet.build must name a callable"),
    ({"kind": "torch", "build": "{m}:build_mlp", "grid": {"uci": {"width": [8], "lr": [0.1]}}},
     r"MyNet.grid.uci.width is not a hyperparameter the builder accepts; it accepts act, n_hidden, n_layers"),
    ({"kind": "torch", "build": "{m}:build_mlp", "grid": {"uci": {"n_hidden": ["16"], "lr": [0.1]}}},
     r"MyNet.grid.uci.n_hidden holds '16' \(str\), however the builder expects int"),
    ({"kind": "torch", "build": "{m}:build_mlp", "grid": {"uci": {"n_hidden": [16], "lr": ["fast"]}}},
     r"MyNet.grid.uci.lr holds 'fast'"),
    ({"kind": "torch", "build": "{m}:build_mlp", "grid": {"uci": {"n_hidden": [16]}}}, r"MyNet.grid.uci has no lr"),
    ({"kind": "torch", "build": "{m}:build_mlp", "grid": {"cifar": {"lr": [0.1]}}}, r"MyNet.grid.cifar is not a benchmark"),
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
        custom_specs({"SNN": {"kind": "torch", "build": f"{user_module}:build_mlp", "grid": {"uci": {"lr": [0.1]}}}}, benchmarks=BENCHMARKS)
    with pytest.raises(ConfigError, match=r"train.custom_methods.my/net is not a usable method name"):
        custom_specs({"my/net": {"kind": "torch", "build": f"{user_module}:build_mlp", "grid": {"uci": {"lr": [0.1]}}}}, benchmarks=BENCHMARKS)
    # a builder taking **kwargs accepts any hyperparameter: nothing to check but the grid's shape
    assert custom_specs({"Any": {"kind": "torch", "build": f"{user_module}:build_anything",
                                 "grid": {"uci": {"whatever": [1], "lr": [0.1]}}}}, benchmarks=BENCHMARKS)[0].name == "Any"


def test_methods_are_checked_for_their_kind_and_their_packages(monkeypatch):
    with pytest.raises(ConfigError, match=r"train.methods: RF is a sklearn method; list it under train.baselines"):
        methods.check("RF", kind="torch", setting="train.methods")
    with pytest.raises(ConfigError, match=r"unknown method 'MyNet' in train.methods.*train.custom_methods"):
        methods.check("MyNet", setting="train.methods")
    spec = methods.get("XGBoost")
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ConfigError, match=r"train.baselines: XGBoost needs xgboost, which is not installed.*\[beyond\]"):
        methods.check_requirements(spec, setting="train.baselines")


def test_an_installed_package_registers_methods_through_the_entry_point_group(tmp_path, monkeypatch):
    """An entry point of the group snnbench.methods names a list of MethodSpecs (or one, or a
    callable returning them); a broken one stops with its name."""
    import importlib.metadata

    (tmp_path / "plugin_methods.py").write_text(textwrap.dedent('''
        from snnbench.methods import MethodSpec

        def _build(*, n_in, n_out, architecture=None, width=8):
            from torch import nn
            return nn.Sequential(nn.Linear(n_in, width), nn.ReLU(), nn.Linear(width, n_out))

        SPECS = [MethodSpec(name="PluginMLP", kind="torch", build=_build, origin="entry point plugin_methods",
                            grids={"uci": {"width": [8], "lr": [0.1]}})]
        BROKEN = 42
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    point = importlib.metadata.EntryPoint(name="plugin", value="plugin_methods:SPECS", group=methods.ENTRY_POINT_GROUP)
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: [point] if group == methods.ENTRY_POINT_GROUP else [])
    try:
        methods.load(again=True)
        assert methods.check("PluginMLP", kind="torch").origin == "entry point plugin_methods"
        rows, _ = run_grid(blobs_task(60, 4, 3), benchmark="uci", dataset="blobs", method="PluginMLP", split=0,
                           configs=[{"width": 8, "lr": 0.1}], settings=FAST, threads=1, progress=False)
        assert rows.loc[0, "status"] == "ok" and rows.loc[0, "engine"] == "batched"
        broken = importlib.metadata.EntryPoint(name="bad", value="plugin_methods:BROKEN", group=methods.ENTRY_POINT_GROUP)
        monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: [broken])
        with pytest.raises(ConfigError, match=r"entry point bad = plugin_methods:BROKEN .* must give a "
                                              r"snnbench.methods.MethodSpec"):
            methods.load(again=True)
    finally:
        methods.unregister("PluginMLP")
        sys.modules.pop("plugin_methods", None)
