"""Originals to canonical prepared datasets, one module per benchmark.

:func:`prepare_dataset` is the one entry point: it runs a benchmark module's ``prepare`` and
always writes the dataset's card, recording ``unavailable`` (a file the source lacks) or
``failed`` (bad data, with the error naming the file and line) instead of raising, so one bad
dataset never stops the others.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from ..errors import ConfigError, SnnbenchError, UnavailableError
from .prepared import card_path, write_prepared, write_status

log = logging.getLogger(__name__)

BENCHMARKS = ("uci", "tox21", "htru2")  # the one list of benchmark names


def dataset_names(benchmark: str) -> tuple[str, ...]:
    if benchmark == "uci":
        from . import uci

        return uci.dataset_names()
    if benchmark in ("tox21", "htru2"):
        return (benchmark,)
    raise ConfigError(f"unknown benchmark {benchmark!r}; known: {', '.join(BENCHMARKS)}")


def _run_prepare(benchmark: str, dataset: str, raw_dir: Path, options: dict):
    if benchmark == "uci":
        from . import uci

        return uci.prepare(dataset, raw_dir)
    if benchmark == "htru2":
        from . import htru2

        return htru2.prepare(raw_dir, **options)
    if benchmark == "tox21":
        from . import tox21

        return tox21.prepare(raw_dir, **options)
    raise ConfigError(f"unknown benchmark {benchmark!r}; known: {', '.join(BENCHMARKS)}")


def prepare_dataset(
    benchmark: str, dataset: str, *, raw_dir: str | os.PathLike, prepared_dir: str | os.PathLike, **options
) -> tuple[str, Path]:
    """Prepare one dataset and write its card (and arrays when ok). Returns (status, card path).

    A ConfigError (a bad setting) is raised, not recorded: it is the user's to fix before any run.
    """
    if dataset not in dataset_names(benchmark):
        if benchmark == "uci":
            from .uci import check_names

            check_names([dataset], setting="dataset")
        raise ConfigError(f"benchmark {benchmark!r} has one dataset, {benchmark!r}; got {dataset!r}")
    try:
        arrays, meta = _run_prepare(benchmark, dataset, Path(raw_dir), options)
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
