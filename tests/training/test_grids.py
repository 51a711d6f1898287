"""Grids of hyperparameters: narrowing a grid to a subset."""

from __future__ import annotations

import pytest

from snnbench.errors import ConfigError
from snnbench.reference import paper_grids
from snnbench.training.grids import grid_size, narrow


def test_narrowing_keeps_a_subset_and_names_the_setting():
    grid = paper_grids()["uci"]["SNN"]
    small = narrow(grid, {"n_layers": [8, 2], "lr": 0.1}, setting="train.narrow.uci.SNN")
    assert small["n_layers"] == [2, 8] and small["lr"] == [0.1] and grid_size(small) == 3 * 2 * 1 * 2 * 2
    with pytest.raises(ConfigError, match=r"train.narrow.uci.SNN.n_layers: \[5\] not in the grid"):
        narrow(grid, {"n_layers": [5]}, setting="train.narrow.uci.SNN")
    with pytest.raises(ConfigError, match="train.narrow.uci.SNN.depth: no such hyperparameter"):
        narrow(grid, {"depth": [2]}, setting="train.narrow.uci.SNN")
