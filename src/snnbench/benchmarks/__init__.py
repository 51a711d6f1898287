"""Benchmarks as registered units: one module per benchmark implementing one small protocol.

A ``Benchmark`` says where its data comes from (``sources``, checked files in
``snnbench/manifests/``), which datasets it has and how one is prepared (``datasets/<name>.py``),
how many splits a prepared dataset has and the task of one split (the arrays under the paper's
protocol), which splits and datasets a run trains (from the config), its published rows, its
statistics (computed once, ``results/<name>/stats.csv``) and its tables (which only format).
Everything that used to branch on the benchmark's name asks its spec instead: the CLI, the
training job, the aggregation, the report and the workflow's rules.

``MODULES`` lists the benchmark modules, in the paper's order; each registers its spec when
imported. A new benchmark is its own module here (and its data module, its sources and
manifest), plus one line in ``MODULES``. Torch-free, like ``snnbench.methods``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from ..errors import ConfigError

MODULES = ("uci", "tox21", "htru2")


@dataclass(frozen=True)
class Benchmark:
    """One benchmark. ``prepare(dataset, raw_dir, **options)`` -> (arrays, card fields), raising
    ``UnavailableError`` / ``DataError`` as ``datasets.prepare_dataset`` records them;
    ``prepare_options(config)``: those options from the run's config (``prepare_defaults``: the
    options it takes, with their defaults); ``task(data, split, *,
    settings, subsample)`` -> ``tasks.Task``; ``run_datasets(config)`` and ``run_splits(config,
    method)``: what a run trains; ``published_rows(datasets)``: score rows with ``source =
    published``; ``statistics(scores, stats=...)`` (None: no test statistics); ``tables(scores,
    out_dir, *, statistics, settings, context)`` -> dict with ``printed`` (what the CLI prints);
    ``main_table``: the table the report leads with and the workflow waits for; ``front_tables``:
    the tables report.html renders (default ``main_table`` alone)."""

    name: str
    title: str
    sources: tuple[str, ...]
    metric: str
    dataset_names: Callable[[], tuple[str, ...]]
    prepare: Callable[..., Any]
    task: Callable[..., Any]
    n_splits: Callable[[Any], int]
    run_datasets: Callable[[Mapping[str, Any]], list[str]]
    run_splits: Callable[[Mapping[str, Any], str], list[int]]
    published_rows: Callable[[list[str]], Any]
    tables: Callable[..., dict]
    main_table: str
    prepare_options: Callable[[Mapping[str, Any]], dict] = lambda config: {}
    prepare_defaults: Mapping[str, Any] = field(default_factory=dict)
    prepare_mem_mb: int = 2000  # memory of a preparation job (cluster placement)
    statistics: Callable[..., Any] | None = None
    extra_score_rows: Callable[[list], list] | None = None
    sort_keys: tuple[str, ...] = ()
    published_metric: Callable[[str, str], float | None] | None = None
    check_dataset: Callable[..., None] | None = None  # (name, setting): an unknown name's error, with suggestions
    report_links: tuple[str, ...] = field(default=("*.md", "figures/*.png"))
    front_tables: tuple[str, ...] = ()  # the tables report.html renders (default: main_table)
    grids: Mapping[str, dict] = field(default_factory=dict)  # method -> its grid here, where neither the grid file nor the method has one
    plan_sizes: Callable[..., tuple[int, int, int, int, int]] | None = None  # (dataset, card or None) -> n_in, n_out, train, validation, test rows, for the plan
    tables_need_torch: bool = False  # the tables compare torch methods (UCI's Table 1): none trained, no tables


_REGISTRY: dict[str, Benchmark] = {}


def register(spec: Benchmark) -> Benchmark:
    if spec.name in _REGISTRY and _REGISTRY[spec.name] is not spec:
        raise ConfigError(f"benchmark {spec.name!r} is registered twice")
    _REGISTRY[spec.name] = spec
    return spec


for _module in MODULES:
    importlib.import_module(f"{__name__}.{_module}")

BENCHMARKS = tuple(_REGISTRY)  # the one list of benchmark names


def get(name: str, *, setting: str = "benchmarks") -> Benchmark:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(f"unknown benchmark {name!r} in {setting}; the benchmarks are {', '.join(_REGISTRY)}") from None
