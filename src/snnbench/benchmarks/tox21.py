"""Tox21: the 12 toxicity assays of the Tox21 challenge with the DeepTox split (Sec. 4.2); Table 2."""

from __future__ import annotations

from typing import Any, Mapping

from . import Benchmark, register


def _prepare(dataset: str, raw_dir, **options: Any):
    from ..datasets.tox21 import prepare

    return prepare(raw_dir, **options)


def _prepare_options(config: Mapping[str, Any]) -> dict:
    section = config["tox21"]
    return {"features": section["features"], "sparse_min_frequency": section["sparse_min_frequency"],
            "ecfp_radius": section["ecfp_radius"], "n_jobs": section["jobs"]}


def _task(data, split: int, *, subsample, **options: Any):
    import numpy as np

    from ..errors import DataError
    from ..tasks import Task, parts, zscore

    a = data.arrays
    split_col = a["split"]
    rows = tuple(np.flatnonzero(split_col == k) for k in (0, 1, 2))
    if any(len(r) == 0 for r in rows):
        raise DataError("Tox21 arrays lack a training, validation or test row; prepare the dataset again")
    rows = subsample(rows)
    X = zscore(a["X"], rows[0])
    Y = a["Y"].astype(np.float32)
    Y[a["Y"] < 0] = np.nan
    return Task(kind="multitask", n_out=int(Y.shape[1]), X=parts(X, rows), y=parts(Y, rows),
                info={"split": f"official split, repeat {split}", "feature_set": data.meta.get("feature_set"),
                      "tasks": [str(t) for t in a["tasks"]] if "tasks" in a else None})


def _run_splits(config: Mapping[str, Any], method: str) -> list[int]:
    """The repeats; the SVM, deterministic, runs repeat 0 only: its other repeats would be
    identical (docs/protocol.md T10)."""
    return [0] if method == "SVM" else list(range(config["train"]["tox21_repeats"]))


def _published_rows(datasets: list[str]):
    from ..aggregate import published_tox21_rows

    return published_tox21_rows()


def _depth_rows(summaries: list) -> list:
    from ..aggregate import depth_rows

    return [row for path in summaries for row in depth_rows(path)]


def _tables(scores, out_dir, *, statistics, settings, context) -> dict:
    import pandas as pd

    from ..tox21_tables import build_tox21_tables

    result = build_tox21_tables(scores, out_dir, settings=settings)
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        printed = (f"tox21 table 2: depths {', '.join(map(str, result['depths']))} -> {out_dir}\n"
                   + result["table2_shown"].to_string(index=False))
    return {**result, "printed": printed}


def _plan_sizes(dataset: str, card: dict | None) -> tuple[int, int, int, int, int]:
    """Planning sizes: the DeepTox split (11,764 / 296 / 647 of 12,707 compounds), 12 tasks, the
    prepared card's features (else the 290 rdkit features)."""
    d = int(card["d"]) if card is not None and card.get("status") == "ok" else 290
    return d, 12, 11764, 296, 647


SPEC = register(Benchmark(
    plan_sizes=_plan_sizes, name="tox21", title="Tox21", sources=("tox21",), metric="mean_roc_auc", dataset_names=lambda: ("tox21",),
    prepare=_prepare, prepare_options=_prepare_options, prepare_mem_mb=8000,
    prepare_defaults={"features": "auto", "sparse_min_frequency": 0.05, "ecfp_radius": 2, "n_jobs": 1},
    task=_task, n_splits=lambda data: 10**6,
    run_datasets=lambda config: ["tox21"], run_splits=_run_splits, published_rows=_published_rows,
    extra_score_rows=_depth_rows, sort_keys=("scope", "depth"), tables=_tables, main_table="table2",
    report_links=("table2*.md", "figures/*.png"),
))
