"""Originals to canonical prepared datasets: the one entry point, for every benchmark.

:func:`prepare_dataset` is the one entry point: it runs the benchmark's ``prepare`` (its
spec, passed in, calls its own ``benchmarks/<name>/data.py``) and
always writes the dataset's card, recording ``unavailable`` (a file the source lacks) or
``failed`` (bad data, with the error naming the file and line) instead of raising, so one bad
dataset never stops the others.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from snnbench.contracts.prepared import write_prepared, write_status
from snnbench.errors import ConfigError, SnnbenchError, UnavailableError

log = logging.getLogger(__name__)


def prepare_dataset(
    spec: Any, dataset: str, *, raw_dir: str | os.PathLike, prepared_dir: str | os.PathLike, **options
) -> tuple[str, Path]:
    """Prepare one dataset of the benchmark ``spec`` (a ``snnbench.benchmarks.Benchmark``, which the
    caller resolved) and write its card (and arrays when ok). Returns (status, card path).

    A ConfigError (a bad setting) is raised, not recorded: it is the user's to fix before any run.
    """
    benchmark = spec.name
    if dataset not in spec.dataset_names():
        if spec.check_dataset is not None:
            spec.check_dataset(dataset)
        raise ConfigError(f"benchmark {benchmark!r} has the datasets {', '.join(spec.dataset_names())}; "
                          f"got {dataset!r}")
    try:
        arrays, meta = spec.prepare(dataset, Path(raw_dir), **options)
    except ConfigError:
        raise
    except UnavailableError as exc:
        log.warning("%s/%s unavailable: %s", benchmark, dataset, exc)
        return "unavailable", write_status(prepared_dir, benchmark, dataset, "unavailable", str(exc))
    except SnnbenchError as exc:
        log.error("%s/%s failed: %s", benchmark, dataset, exc)
        return "failed", write_status(prepared_dir, benchmark, dataset, "failed", str(exc))
    except Exception as exc:  # an unforeseen defect: still recorded, with its type, never dropped
        log.exception("%s/%s failed with an unexpected error", benchmark, dataset)
        return "failed", write_status(prepared_dir, benchmark, dataset, "failed", f"{type(exc).__name__}: {exc}")
    card = write_prepared(prepared_dir, benchmark, dataset, arrays, meta)
    log.info("%s/%s ok: n=%s d=%s -> %s", benchmark, dataset, meta.get("n"), meta.get("d"), card)
    return "ok", card



def prepare_datasets(spec: Any, datasets: list[str] | None, *, raw_dir: str | os.PathLike,
                     prepared_dir: str | os.PathLike, options: dict | None = None, threads: int | None = None,
                     setting: str = "--dataset") -> dict[str, tuple[str, Path]]:
    """Prepare ``datasets`` of ``spec`` (None: all of them) with the benchmark's preparation
    ``options`` over its defaults (``threads``: its ``n_jobs``, where it takes one, as the scheduler
    gave them); dataset -> (status, card path). An unknown dataset or option is a ``ConfigError``
    naming ``setting`` or the option."""
    if datasets is None:
        datasets = list(spec.dataset_names())
    for name in datasets:
        if name not in spec.dataset_names() and spec.check_dataset is not None:
            spec.check_dataset(name, setting=setting)
    options = dict(options or {})
    unknown = sorted(set(options) - set(spec.prepare_defaults))
    if unknown:
        raise ConfigError(f"--options: {spec.name} takes no {', '.join(unknown)}; it takes "
                          f"{', '.join(spec.prepare_defaults) or 'none'}")
    options = {**spec.prepare_defaults, **options}
    if threads is not None and "n_jobs" in spec.prepare_defaults:
        options["n_jobs"] = threads
    return {name: prepare_dataset(spec, name, raw_dir=raw_dir, prepared_dir=prepared_dir, **options)
            for name in datasets}
