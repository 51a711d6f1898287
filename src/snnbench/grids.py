"""Hyperparameter grids: load (config/grids.yaml, or the paper's as shipped), narrow, expand.

A grid maps each hyperparameter to its list of values; a configuration is one value per
hyperparameter, and configurations come in ``itertools.product`` order over the grid's keys.
"""

from __future__ import annotations

import itertools
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from .datasets import BENCHMARKS
from .errors import ConfigError

METHODS = ("SNN", "MSRAinit", "BatchNorm", "WeightNorm", "LayerNorm", "Highway", "ResNet")  # the FNN families (models.py)
BASELINES = ("RF", "SVM")  # scikit-learn baselines (baselines.py)
ALL_METHODS = (*METHODS, *BASELINES)
Grid = dict[str, list[Any]]


def paper_grids() -> dict[str, dict[str, Grid]]:
    """The grids of appendix Tables A4-A10, A14-A20, A21-A27, as shipped in snnbench/reference."""
    text = resources.files("snnbench.reference").joinpath("snn_hparam_grids.yaml").read_text()
    return _check_grids(yaml.safe_load(text), "snnbench/reference/snn_hparam_grids.yaml")


# Our baselines' grids (not the paper's; docs/protocol.md B1, B2), the same as in config/grids.yaml.
BASELINE_GRIDS: dict[str, Grid] = {
    "RF": {"n_estimators": [500], "max_features": ["sqrt", 0.1, 0.3, 0.6, 1.0], "min_samples_leaf": [1, 5]},
    "SVM": {"C": [2.0**e for e in range(-5, 16, 2)], "gamma": [2.0**e for e in range(-15, 4, 2)]},
}
# Tox21: one estimator per task and configuration on ~9,000 labelled compounds, so smaller grids
# (docs/protocol.md B3); gamma brackets 1/d for the 290 rdkit features (and the DeepTox set's).
TOX21_BASELINE_GRIDS: dict[str, Grid] = {
    "RF": {"n_estimators": [500], "max_features": ["sqrt", 0.1, 0.3], "min_samples_leaf": [1, 5]},
    "SVM": {"C": [1.0, 8.0, 64.0], "gamma": [2.0**-11, 2.0**-9, 2.0**-7]},
}


def default_grids() -> dict[str, dict[str, Grid]]:
    """The paper's FNN grids plus our baseline grids: what config/grids.yaml holds."""
    grids = paper_grids()
    for benchmark, baseline_grids in (("uci", BASELINE_GRIDS), ("htru2", BASELINE_GRIDS),
                                      ("tox21", TOX21_BASELINE_GRIDS)):
        grids[benchmark].update({m: {k: list(v) for k, v in g.items()} for m, g in baseline_grids.items()})
    return grids


def load_grids(path: str | Path | None = None) -> dict[str, dict[str, Grid]]:
    """Grids from a YAML file laid out like config/grids.yaml; ``None``: ``default_grids()``."""
    if path is None:
        return default_grids()
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"grid file {path} does not exist (setting train.grids)") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"grid file {path} is not valid YAML: {exc}") from exc
    return _check_grids(raw, str(path))


def _check_grids(raw: Any, where: str) -> dict[str, dict[str, Grid]]:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping benchmark -> method -> grid")
    grids: dict[str, dict[str, Grid]] = {}
    for benchmark, methods in raw.items():
        if benchmark not in BENCHMARKS:
            raise ConfigError(f"{where}: unknown benchmark {benchmark!r}; expected one of {', '.join(BENCHMARKS)}")
        grids[benchmark] = {}
        for method, grid in methods.items():
            if method == "selection":  # the paper's wording of the protocol, kept as a comment
                continue
            check_method(method, setting=f"{where}: {benchmark}")
            if not isinstance(grid, dict) or not grid:
                raise ConfigError(f"{where}: {benchmark}.{method} must map hyperparameters to lists of values")
            for key, values in grid.items():
                if not isinstance(values, list) or not values:
                    raise ConfigError(f"{where}: {benchmark}.{method}.{key} must be a non-empty list, however: {values!r}")
            grids[benchmark][method] = {k: list(v) for k, v in grid.items()}
    return grids


def check_method(method: str, *, setting: str = "train.methods") -> str:
    if method not in ALL_METHODS:
        raise ConfigError(f"unknown method {method!r} in {setting}; the methods are {', '.join(ALL_METHODS)}")
    return method


def get_grid(grids: dict[str, dict[str, Grid]], benchmark: str, method: str) -> Grid:
    check_method(method)
    try:
        return dict(grids[benchmark][method])
    except KeyError:
        raise ConfigError(f"no grid for {benchmark}.{method} in the grid file (setting train.grids)") from None


def narrow(grid: Grid, subset: dict[str, Any] | None, *, setting: str) -> Grid:
    """Keep only the listed values of some hyperparameters; each must be in the grid."""
    out = dict(grid)
    for key, values in (subset or {}).items():
        if key not in grid:
            raise ConfigError(f"{setting}.{key}: no such hyperparameter; the grid has {', '.join(grid)}")
        values = values if isinstance(values, list) else [values]
        unknown = [v for v in values if v not in grid[key]]
        if unknown or not values:
            raise ConfigError(
                f"{setting}.{key}: {unknown or values!r} not in the grid {grid[key]!r}; narrowing keeps a subset "
                "(edit the grid file to try other values)"
            )
        out[key] = [v for v in grid[key] if v in values]  # grid order, not the order given
    return out


def expand(grid: Grid) -> list[dict[str, Any]]:
    """Every configuration of the grid, in product order over its keys."""
    keys = list(grid)
    return [dict(zip(keys, values)) for values in itertools.product(*(grid[k] for k in keys))]


def grid_size(grid: Grid) -> int:
    size = 1
    for values in grid.values():
        size *= len(values)
    return size
