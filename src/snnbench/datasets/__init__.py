"""Originals to canonical prepared datasets, one module per benchmark.

:func:`prepare_dataset` is the one entry point: it runs the benchmark's ``prepare`` (its
registered spec, ``snnbench.benchmarks``, calls the data module here) and
always writes the dataset's card, recording ``unavailable`` (a file the source lacks) or
``failed`` (bad data, with the error naming the file and line) instead of raising, so one bad
dataset never stops the others.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from ..benchmarks import BENCHMARKS  # the one list of benchmark names (snnbench.benchmarks)
from ..errors import ConfigError, SnnbenchError, UnavailableError
from .prepared import card_path, write_prepared, write_status

log = logging.getLogger(__name__)


def dataset_names(benchmark: str) -> tuple[str, ...]:
    from .. import benchmarks

    return benchmarks.get(benchmark, setting="benchmark").dataset_names()


def prepare_dataset(
    benchmark: str, dataset: str, *, raw_dir: str | os.PathLike, prepared_dir: str | os.PathLike, **options
) -> tuple[str, Path]:
    """Prepare one dataset and write its card (and arrays when ok). Returns (status, card path).

    A ConfigError (a bad setting) is raised, not recorded: it is the user's to fix before any run.
    """
    from .. import benchmarks

    spec = benchmarks.get(benchmark, setting="benchmark")
    if dataset not in spec.dataset_names():
        if spec.check_dataset is not None:
            spec.check_dataset(dataset)
        raise ConfigError(f"benchmark {benchmark!r} has the datasets {', '.join(spec.dataset_names())}; got {dataset!r}")
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


__all__ = ["BENCHMARKS", "card_path", "dataset_names", "prepare_dataset"]
