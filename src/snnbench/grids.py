"""Hyperparameter grids: load (config/grids.yaml, or the paper's as shipped), narrow, expand.

A grid maps each hyperparameter to its list of values; a configuration is one value per
hyperparameter, and configurations come in ``itertools.product`` order over the grid's keys.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from .datasets import BENCHMARKS
from .errors import ConfigError

Grid = dict[str, list[Any]]


def paper_grids() -> dict[str, dict[str, Grid]]:
    """The grids of appendix Tables A4-A10, A14-A20, A21-A27, as shipped in snnbench/reference."""
    text = resources.files("snnbench.reference").joinpath("snn_hparam_grids.yaml").read_text()
    raw = yaml.safe_load(text)
    return {b: {m: {k: list(v) for k, v in g.items()} for m, g in methods.items() if m != "selection"}
            for b, methods in raw.items()}


def default_grids() -> dict[str, dict[str, Grid]]:
    """Every built-in method's grids (the paper's for its FNN families, ours for the baselines):
    what config/grids.yaml holds."""
    from . import methods

    grids: dict[str, dict[str, Grid]] = {b: {} for b in BENCHMARKS}
    for name in methods.names(origin="snnbench"):
        for benchmark, grid in methods.get(name).grids.items():
            grids[benchmark][name] = {k: list(v) for k, v in grid.items()}
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
            check_method(method, setting=f"{where}: {benchmark}", installed=False)
            if not isinstance(grid, dict) or not grid:
                raise ConfigError(f"{where}: {benchmark}.{method} must map hyperparameters to lists of values")
            for key, values in grid.items():
                if not isinstance(values, list) or not values:
                    raise ConfigError(f"{where}: {benchmark}.{method}.{key} must be a non-empty list, however: {values!r}")
            grids[benchmark][method] = {k: list(v) for k, v in grid.items()}
    return grids


def check_method(method: str, *, setting: str = "train.methods", installed: bool = True) -> str:
    """``method`` if it is registered (``snnbench.methods``); with ``installed``, its optional
    packages must be installed too."""
    from . import methods

    spec = methods.get(method, setting=setting)
    if installed:
        methods.check_requirements(spec, setting=setting)
    return method


def get_grid(grids: dict[str, dict[str, Grid]], benchmark: str, method: str) -> Grid:
    """``method``'s grid for ``benchmark``: the grid file's, else the method's own, else the one
    the benchmark declares for it."""
    from . import benchmarks, methods

    spec = methods.get(method)
    grid = grids.get(benchmark, {}).get(method, spec.grids.get(benchmark))
    if grid is None:
        grid = benchmarks.get(benchmark, setting="benchmark").grids.get(method)
    if grid is None:
        raise ConfigError(f"no grid for {benchmark}.{method}: neither the grid file (setting train.grids), the "
                          f"method ({spec.origin}) nor the benchmark has one; add one")
    return {k: list(v) for k, v in grid.items()}


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


def config_seed(base: int, *parts: Any) -> int:
    """A seed from the run's seed and what identifies a configuration, independent of grid order,
    so narrowing a grid leaves the remaining configurations' results unchanged."""
    text = json.dumps([base, *parts], sort_keys=True, default=str)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") & (2**63 - 1)
