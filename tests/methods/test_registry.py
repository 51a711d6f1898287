"""Methods as registered units (snnbench.methods): every built-in method through one interface,
methods checked for their kind and their packages, and a package's methods through the entry
point group. (A user's methods by config: tests/methods/test_custom.py.)"""

from __future__ import annotations

import importlib.util
import sys
import textwrap

import pytest
import torch

from helpers import installed
from snnbench import methods
from snnbench.benchmarks import BENCHMARKS
from snnbench.errors import ConfigError
from snnbench.methods import build_model, depth_of
from snnbench.pipeline.runs import get_grid, load_grids, method_grid
from snnbench.settings import TrainSettings
from snnbench.training.estimators import run_baseline_grid
from snnbench.training.flops import linear_shapes
from snnbench.training.grid import run_grid
from snnbench.training.grids import expand
from snnbench.training.task import blobs_task

FAST = TrainSettings(epochs=12, batch_size=32, device="cpu", engine="batched", highway_width=16)


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
    if not installed(spec):
        pytest.skip(f"{name} needs {', '.join(spec.requires)} (the extra .[beyond])")
    configs = expand(grids["uci"])
    rows, _ = run_baseline_grid(task, benchmark="uci", dataset="blobs", method=name, split=0,
                                configs=configs[::max(1, len(configs) // 6)], threads=1, progress=False)
    assert (rows["status"] == "ok").all(), rows["error"].tolist()
    assert rows["test_metric"].max() > 0.5  # well-separated blobs


def test_methods_are_checked_for_their_kind_and_their_packages(monkeypatch):
    with pytest.raises(ConfigError, match=r"train.methods: RF is a sklearn method; list it under train.baselines"):
        methods.check("RF", kind="torch", setting="train.methods")
    with pytest.raises(ConfigError, match=r"unknown method 'MyNet' in train.methods.*train.custom_methods"):
        methods.check("MyNet", setting="train.methods")
    spec = methods.get("XGBoost")
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ConfigError,
                       match=r"train.baselines: XGBoost needs xgboost, which is not installed.*\[beyond\]"):
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
    monkeypatch.setattr(importlib.metadata, "entry_points",
                        lambda group: [point] if group == methods.ENTRY_POINT_GROUP else [])
    try:
        methods.load(again=True)
        assert methods.check("PluginMLP", kind="torch").origin == "entry point plugin_methods"
        rows, _ = run_grid(blobs_task(60, 4, 3), benchmark="uci", dataset="blobs", method="PluginMLP", split=0,
                           configs=[{"width": 8, "lr": 0.1}], settings=FAST, threads=1, progress=False)
        assert rows.loc[0, "status"] == "ok" and rows.loc[0, "engine"] == "batched"
        broken = importlib.metadata.EntryPoint(name="bad", value="plugin_methods:BROKEN",
                                               group=methods.ENTRY_POINT_GROUP)
        monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: [broken])
        with pytest.raises(ConfigError, match=r"entry point bad = plugin_methods:BROKEN .* must give a "
                                              r"snnbench.methods.MethodSpec"):
            methods.load(again=True)
    finally:
        methods.unregister("PluginMLP")
        sys.modules.pop("plugin_methods", None)
