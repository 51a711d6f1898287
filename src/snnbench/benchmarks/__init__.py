"""Benchmarks as registered units: each is a folder ``benchmarks/<name>/`` with one ``Benchmark``.

A benchmark's folder holds everything that names it: its spec (``__init__.py``, a subclass of
:class:`Benchmark`), its sources and manifests (``sources.py``, ``<source>.tsv``), how a dataset
is prepared (``data.py``), its published rows (``published.py``), its statistics and tables
(``stats.py``, ``tables.py``, ``figures.py``). Everything else asks the spec: the pipeline
resolves it once from the config (:func:`get`) and hands it down; nothing below the pipeline
looks a benchmark up by name.

``MODULES`` lists the benchmark folders, in the paper's order, the one list of benchmark names;
each registers its spec when imported. A new benchmark is its folder plus one line in
``MODULES`` (docs/architecture.md). Torch-free, so that the workflow can import it while it parses.
"""

from __future__ import annotations

import importlib
from typing import Any, ClassVar, Mapping

from snnbench.contracts.prepared import PreparedDataset
from snnbench.data.sources import Source
from snnbench.errors import ConfigError
from snnbench.training.task import Task, subsample_rows

MODULES = ("uci", "tox21", "htru2")


class Benchmark:
    """One benchmark: subclass it in ``benchmarks/<name>/__init__.py`` and ``register`` an instance.

    Set the class attributes; override the methods that have no default. The optional hooks
    (``statistics``, ``extra_score_rows``, ``published_metric``, ``check_dataset``, ``plan_sizes``,
    ``front_frame``)
    are None where the benchmark has none; define them as methods where it has.
    """

    name: ClassVar[str]  # the config's and the results' name: results/<name>/
    title: ClassVar[str]  # the name in prose and the report
    sources: ClassVar[tuple[Source, ...]]  # where its data comes from (its sources.py)
    metric: ClassVar[str]  # the test metric its tables rank
    main_table: ClassVar[str]  # the table the report leads with and the workflow waits for
    front_tables: ClassVar[tuple[str, ...]] = ()  # the tables report.html renders (default: main_table)
    report_links: ClassVar[tuple[str, ...]] = ("*.md", "figures/*.png")  # files the report links
    prepare_defaults: ClassVar[Mapping[str, Any]] = {}  # the options ``prepare`` takes, with defaults
    prepare_mem_mb: ClassVar[int] = 2000  # memory of a preparation job (cluster placement)
    sort_keys: ClassVar[tuple[str, ...]] = ()  # extra columns the score table is sorted by
    grids: ClassVar[Mapping[str, dict]] = {}  # method -> its grid on this benchmark (runs.get_grid)
    tables_need_torch: ClassVar[bool] = False  # the tables compare torch methods: none trained, no tables

    statistics = None  # (scores, *, stats) -> statistics frame (results/<name>/stats.csv)
    extra_score_rows = None  # (summaries) -> more score rows than the selected ones (Tox21's depths)
    published_metric = None  # (dataset, method) -> the published test metric, or None
    check_dataset = None  # (name, setting) -> None: an unknown dataset's error, with suggestions
    plan_sizes = None  # (dataset, card or None) -> (n_in, n_out, train, validation, test rows), for the plan
    front_frame = None  # (results folder, table) -> what report.html shows of a front table (default: its .csv)

    def dataset_names(self) -> tuple[str, ...]:
        """Every dataset of the benchmark, in its order."""
        raise NotImplementedError

    def prepare(self, dataset: str, raw_dir, **options: Any) -> tuple[dict, dict]:
        """(arrays, card fields) of one dataset from the verified sources in ``raw_dir``; raises
        ``UnavailableError`` or ``DataError``, which ``data.prepare.prepare_dataset`` records."""
        raise NotImplementedError

    def prepare_options(self, config: Mapping[str, Any]) -> dict:
        """The options of ``prepare`` from the run's config (its keys are ``prepare_defaults``')."""
        return {}

    def table_options(self, config: Mapping[str, Any]) -> dict:
        """What ``tables`` reads of the run's config beyond the scores (its ``context``)."""
        return {}

    def n_splits(self, data: PreparedDataset) -> int:
        """How many splits a prepared dataset has."""
        raise NotImplementedError

    def task(self, data: PreparedDataset, split: int, *, subsample, settings: Any) -> Task:
        """The arrays of ``split`` under the paper's protocol; ``subsample(rows)`` narrows the
        (train, validation, test) rows; ``settings``: the job's ``TrainSettings`` (or None)."""
        raise NotImplementedError

    def run_datasets(self, config: Mapping[str, Any]) -> list[str]:
        """The datasets a run trains (an unknown name stops the run, naming the setting)."""
        raise NotImplementedError

    def run_splits(self, config: Mapping[str, Any], method: str) -> list[int]:
        """The splits a run trains ``method`` on."""
        raise NotImplementedError

    def published_rows(self, datasets: list[str]):
        """Score rows with ``source = published`` for ``datasets``."""
        raise NotImplementedError

    def tables(self, scores, out_dir, *, statistics, settings, context) -> dict:
        """Write the benchmark's tables (they only format ``statistics``); a dict with ``printed``,
        what the CLI prints."""
        raise NotImplementedError

    def make_task(self, data: PreparedDataset, split: int, *, settings: Any = None,
                  max_train_rows: int | None = None, subsample_seed: int = 0) -> Task:
        """``task`` of a checked split; with ``max_train_rows``, trained on a seeded subset of the
        training rows (the same subset for every split of a run)."""
        n = self.n_splits(data)
        if not isinstance(split, int) or not 0 <= split < n:
            raise ConfigError(f"split must be in 0..{n - 1} for {self.name}, however: {split=}")
        task = self.task(data, split, settings=settings,
                         subsample=lambda rows: subsample_rows(rows, max_train_rows, subsample_seed))
        if max_train_rows is not None:
            task.info["max_train_rows"] = max_train_rows
        return task

    def __repr__(self) -> str:
        return f"<benchmark {self.name}>"


_REGISTRY: dict[str, Benchmark] = {}


def register(spec: Benchmark) -> Benchmark:
    if spec.name in _REGISTRY and _REGISTRY[spec.name] is not spec:
        raise ConfigError(f"benchmark {spec.name!r} is registered twice")
    _REGISTRY[spec.name] = spec
    return spec


def unregister(name: str) -> None:
    """Remove a registered benchmark (tests that register one of their own)."""
    _REGISTRY.pop(name, None)


for _module in MODULES:
    importlib.import_module(f"{__name__}.{_module}")

BENCHMARKS = tuple(_REGISTRY)  # the one list of benchmark names


def get(name: str, *, setting: str = "benchmarks") -> Benchmark:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(f"unknown benchmark {name!r} in {setting}; the benchmarks are "
                          f"{', '.join(_REGISTRY)}") from None


def make_task(benchmark: str, data: PreparedDataset, split: int, **options: Any) -> Task:
    """``get(benchmark).make_task(...)``: for scripts that hold a benchmark's name."""
    return get(benchmark, setting="benchmark").make_task(data, split, **options)


def dataset_names(benchmark: str) -> tuple[str, ...]:
    return get(benchmark, setting="benchmark").dataset_names()


SOURCES: dict[str, Source] = {s.name: s for name in BENCHMARKS for s in _REGISTRY[name].sources}
BENCHMARK_SOURCES = {name: tuple(s.name for s in _REGISTRY[name].sources) for name in BENCHMARKS}


def get_source(name: str) -> Source:
    try:
        return SOURCES[name]
    except KeyError:
        raise ConfigError(f"unknown source {name!r}; known sources: {', '.join(SOURCES)}") from None
