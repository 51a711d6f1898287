"""What a run trains, from its config: the one place both the workflow (``common.smk``) and
``snnbench plan`` read it from (datasets, methods, narrowed grids, splits)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError

SCHEMA = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"
DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "config" / "config.yaml"


def _merge(base: dict, extra: dict) -> dict:
    """``extra`` laid over ``base``, mappings merged key by key (as Snakemake lays config files)."""
    out = dict(base)
    for key, value in extra.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def load_config(files: list[str | Path], overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The config of ``snakemake --configfile FILES... --config KEY=VALUE...``: the files laid over
    each other (the first is usually config/config.yaml), then ``overrides``, checked against the
    workflow's schema with its defaults."""
    from snakemake.utils import validate

    config: dict[str, Any] = {}
    for path in files:
        try:
            config = _merge(config, yaml.safe_load(Path(path).read_text()) or {})
        except FileNotFoundError:
            raise ConfigError(f"config file {path} does not exist") from None
    config = _merge(config, overrides or {})
    if not SCHEMA.is_file():
        raise ConfigError(f"the workflow's schema is not at {SCHEMA}: run snnbench from a checkout of the repository")
    validate(config, schema=str(SCHEMA))
    return config


def narrowed_grid(train: dict[str, Any], grids: dict, benchmark: str, method: str) -> dict[str, list]:
    """The method's grid after train.narrow ('*' first, then the method's own entry)."""
    from .grids import get_grid, narrow

    grid = get_grid(grids, benchmark, method)
    rules_for = train["narrow"].get(benchmark, {})
    shared = {k: v for k, v in rules_for.get("*", {}).items() if k in grid}
    grid = narrow(grid, shared, setting=f"train.narrow.{benchmark}.*")
    return narrow(grid, rules_for.get(method, {}), setting=f"train.narrow.{benchmark}.{method}")


@dataclass(frozen=True)
class Job:
    benchmark: str
    dataset: str
    method: str
    kind: str
    splits: tuple[int, ...]
    grid: dict[str, list]


def train_methods(train: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The train section's torch methods (train.methods) and scikit-learn ones (train.baselines),
    after registering train.custom_methods; a wrong name or kind is an error naming the setting."""
    from . import methods
    from .methods.custom import register_custom

    register_custom(train["custom_methods"])
    return ([methods.check(m, kind="torch", setting="train.methods").name for m in train["methods"]],
            [methods.check(m, kind="sklearn", setting="train.baselines").name for m in train["baselines"]])


def train_jobs(config: dict[str, Any]) -> list[Job]:
    """Every training job of the run (a job per split, here grouped by dataset and method)."""
    from . import benchmarks, methods
    from .grids import load_grids

    train = config["train"]
    torch_methods, sklearn_methods = train_methods(train)
    grids = load_grids(train["grids"]) if torch_methods or sklearn_methods else {}
    jobs = []
    for b in config["benchmarks"]:
        spec = benchmarks.get(b)
        for d in spec.run_datasets(config):
            for m in torch_methods + sklearn_methods:
                jobs.append(Job(b, d, m, methods.get(m).kind, tuple(spec.run_splits(config, m)),
                                narrowed_grid(train, grids, b, m)))
    return jobs


def grid_json(grid: dict[str, list]) -> str:
    return json.dumps(grid, separators=(",", ":"))


def prepared_cards(config: dict[str, Any]) -> list[Path]:
    """The prepared card (.json) of every dataset the run trains."""
    from . import benchmarks

    prepared = Path(config["data_dir"]) / "prepared"
    return [prepared / b / f"{d}.json" for b in config["benchmarks"] for d in benchmarks.get(b).run_datasets(config)]
