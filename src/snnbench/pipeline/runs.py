"""What a run trains, from its config: the one place both the workflow (``common.smk``) and
``snnbench plan`` read it from (datasets, methods, narrowed grids, splits)."""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from snnbench import benchmarks, methods
from snnbench.benchmarks import BENCHMARKS
from snnbench.errors import ConfigError
from snnbench.methods.custom import register_custom
from snnbench.training.grids import Grid, narrow

SCHEMA = Path(__file__).resolve().parents[3] / "workflow" / "schemas" / "config.schema.yaml"
DEFAULT_CONFIG = Path(__file__).resolve().parents[3] / "config" / "config.yaml"


def _merge(base: dict, extra: dict) -> dict:
    """``extra`` laid over ``base``, mappings merged key by key (as Snakemake lays config files)."""
    out = dict(base)
    for key, value in extra.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def yaml_error_text(path: str | Path, exc: yaml.YAMLError) -> str:
    """A malformed YAML file's error in one line: the file, the line and column, what is wrong."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    where = f"{path}, line {mark.line + 1}, column {mark.column + 1}" if mark else str(path)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return f"{where}: not valid YAML ({problem}); fix that line (YAML indents with spaces, lists as [a, b])"


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
        except yaml.YAMLError as exc:
            raise ConfigError(yaml_error_text(path, exc)) from None
    config = _merge(config, overrides or {})
    if not SCHEMA.is_file():
        raise ConfigError(f"the workflow's schema is not at {SCHEMA}: run snnbench from a checkout of the repository")
    validate(config, schema=str(SCHEMA))
    return config


def shared_setting(benchmark: str) -> str:
    """The setting of a benchmark's narrowing for every method, as a user writes it in YAML."""
    return f'train.narrow.{benchmark}."*"'


def narrowed_grid(train: dict[str, Any], grids: dict, benchmark: str, method: str) -> dict[str, list]:
    """The method's grid after train.narrow ('*' first, with the keys the method has, then the
    method's own entry); ``check_shared_narrowing`` refuses a '*' key no method has."""

    grid = get_grid(grids, benchmark, method)
    rules_for = train["narrow"].get(benchmark, {})
    shared = {k: v for k, v in rules_for.get("*", {}).items() if k in grid}
    grid = narrow(grid, shared, setting=shared_setting(benchmark))
    return narrow(grid, rules_for.get(method, {}), setting=f"train.narrow.{benchmark}.{method}")


def check_shared_narrowing(train: dict[str, Any], grids: dict, benchmark: str, selected: list[str]) -> None:
    """A key of train.narrow.<benchmark>."*" must be a hyperparameter of at least one of the run's
    ``selected`` methods (the families differ: ResNet has no n_layers, RF no lr), else it is a
    typo that would narrow nothing: a ``ConfigError`` naming it, with the closest keys."""

    shared = train["narrow"].get(benchmark, {}).get("*") or {}
    if not selected:
        return
    keys = sorted({k for m in selected for k in get_grid(grids, benchmark, m)})
    for key in shared:
        if key in keys:
            continue
        close = difflib.get_close_matches(str(key), keys, n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise ConfigError(f"{shared_setting(benchmark)}.{key}: no method of this run has this hyperparameter on "
                          f"{benchmark}{hint}; '*' narrows every method that has the key, and the methods "
                          f"({', '.join(selected)}) have {', '.join(keys)}")


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

    register_custom(train["custom_methods"], benchmarks=BENCHMARKS)
    return ([methods.check(m, kind="torch", setting="train.methods").name for m in train["methods"]],
            [methods.check(m, kind="sklearn", setting="train.baselines").name for m in train["baselines"]])


def train_jobs(config: dict[str, Any]) -> list[Job]:
    """Every training job of the run (a job per split, here grouped by dataset and method)."""

    train = config["train"]
    torch_methods, sklearn_methods = train_methods(train)
    grids = load_grids(train["grids"]) if torch_methods or sklearn_methods else {}
    jobs = []
    for b in config["benchmarks"]:
        spec = benchmarks.get(b)
        check_shared_narrowing(train, grids, b, torch_methods + sklearn_methods)
        for d in spec.run_datasets(config):
            for m in torch_methods + sklearn_methods:
                jobs.append(Job(b, d, m, methods.get(m).kind, tuple(spec.run_splits(config, m)),
                                narrowed_grid(train, grids, b, m)))
    return jobs


def grid_json(grid: dict[str, list]) -> str:
    return json.dumps(grid, separators=(",", ":"))


def prepared_cards(config: dict[str, Any]) -> list[Path]:
    """The prepared card (.json) of every dataset the run trains."""

    prepared = Path(config["data_dir"]) / "prepared"
    return [prepared / b / f"{d}.json" for b in config["benchmarks"] for d in benchmarks.get(b).run_datasets(config)]


def method_grid(method: str, benchmark: str) -> Grid | None:
    """The grid ``method`` has on ``benchmark`` without a grid file: the method's own for that
    benchmark, else the one the benchmark declares for the method (Tox21's smaller baseline
    grids), else the method's for any benchmark (``"*"``); None: it has none there."""
    spec, bench = methods.get(method), benchmarks.get(benchmark, setting="benchmark")
    grid = spec.grids.get(benchmark) or bench.grids.get(method) or spec.grids.get("*")
    return None if grid is None else {k: list(v) for k, v in grid.items()}


def default_grids() -> dict[str, dict[str, Grid]]:
    """Every built-in method's grid on every benchmark (the paper's for its FNN families, ours
    for the baselines), as the methods and benchmarks declare them."""
    grids: dict[str, dict[str, Grid]] = {b: {} for b in BENCHMARKS}
    for benchmark in BENCHMARKS:
        for name in methods.names(origin="snnbench"):
            grid = method_grid(name, benchmark)
            if grid is not None:
                grids[benchmark][name] = grid
    return grids


def load_grids(path: str | Path | None = None) -> dict[str, dict[str, Grid]]:
    """The built-in grids (``default_grids()``) with a grid file's over them (``train.grids``:
    benchmark -> method -> grid, laid out like config/grids.yaml, which overrides none by
    default); ``None``: the built-in grids alone."""
    grids = default_grids()
    if path is None:
        return grids
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"grid file {path} does not exist (setting train.grids)") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"grid file {path} is not valid YAML: {exc}") from exc
    for benchmark, overrides in _check_grids(raw, str(path)).items():
        grids.setdefault(benchmark, {}).update(overrides)
    return grids


def _check_grids(raw: Any, where: str) -> dict[str, dict[str, Grid]]:
    if raw is None:  # a file of comments only: no override
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping benchmark -> method -> grid")
    grids: dict[str, dict[str, Grid]] = {}
    for benchmark, method_grids in raw.items():
        if benchmark not in BENCHMARKS:
            raise ConfigError(f"{where}: unknown benchmark {benchmark!r}; expected one of {', '.join(BENCHMARKS)}")
        grids[benchmark] = {}
        for method, grid in (method_grids or {}).items():
            if method == "selection":  # the paper's wording of the protocol, kept as a comment
                continue
            check_method(method, setting=f"{where}: {benchmark}", installed=False)
            if not isinstance(grid, dict) or not grid:
                raise ConfigError(f"{where}: {benchmark}.{method} must map hyperparameters to lists of values")
            for key, values in grid.items():
                if not isinstance(values, list) or not values:
                    raise ConfigError(f"{where}: {benchmark}.{method}.{key} must be a non-empty list, "
                                      f"however: {values!r}")
            grids[benchmark][method] = {k: list(v) for k, v in grid.items()}
    return grids


def check_method(method: str, *, setting: str = "train.methods", installed: bool = True) -> str:
    """``method`` if it is registered (``snnbench.methods``); with ``installed``, its optional
    packages must be installed too."""

    spec = methods.get(method, setting=setting)
    if installed:
        methods.check_requirements(spec, setting=setting)
    return method


def get_grid(grids: dict[str, dict[str, Grid]], benchmark: str, method: str) -> Grid:
    """``method``'s grid for ``benchmark``: the loaded grids' (``load_grids``), else its own
    (``method_grid``: a method registered after the grids were loaded, e.g. a custom one)."""
    grid = grids.get(benchmark, {}).get(method) or method_grid(method, benchmark)
    if grid is None:
        raise ConfigError(f"no grid for {benchmark}.{method}: neither the grid file (setting train.grids), the "
                          f"method ({methods.get(method).origin}) nor the benchmark has one; add one")
    return {k: list(v) for k, v in grid.items()}


def job_grid(benchmark: str, method: str, *, grids_file: str | Path | None = None, grid: Grid | None = None,
             narrowing: dict[str, Any] | None = None, setting: str = "--narrow") -> Grid:
    """A training job's grid: ``grid`` itself, else the method's for the benchmark (``get_grid``
    over the grid file), narrowed by ``narrowing``."""
    grid = grid or get_grid(load_grids(grids_file), benchmark, method)
    return narrow(grid, narrowing or {}, setting=setting)
