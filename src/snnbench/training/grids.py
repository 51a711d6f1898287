"""Hyperparameter grids: load (config/grids.yaml, or the paper's as shipped), narrow, expand.

A grid maps each hyperparameter to its list of values; a configuration is one value per
hyperparameter, and configurations come in ``itertools.product`` order over the grid's keys.
"""

from __future__ import annotations

import difflib
import hashlib
import itertools
import json
from typing import Any

from snnbench.errors import ConfigError

Grid = dict[str, list[Any]]


def narrow(grid: Grid, subset: dict[str, Any] | None, *, setting: str) -> Grid:
    """Keep only the listed values of some hyperparameters; each must be in the grid."""
    out = dict(grid)
    for key, values in (subset or {}).items():
        if key not in grid:
            close = difflib.get_close_matches(str(key), list(grid), n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise ConfigError(f"{setting}.{key}: no such hyperparameter{hint}; the grid has {', '.join(grid)}")
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
