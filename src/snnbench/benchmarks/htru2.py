"""HTRU2: pulsar candidates, nested 10-fold cross-validation (Sec. 4.3); Table 3."""

from __future__ import annotations

from typing import Any, Mapping

from . import Benchmark, register


def _prepare(dataset: str, raw_dir, **options: Any):
    from ..datasets.htru2 import prepare

    return prepare(raw_dir, **options)


def _prepare_options(config: Mapping[str, Any]) -> dict:
    return {"n_folds": config["htru2"]["n_folds"], "seed": config["htru2"]["fold_seed"]}


def _n_splits(data) -> int:
    return int(data.meta["folds"]["n_folds"])


def _task(data, split: int, *, subsample, htru2_output: str = "logit", **options: Any):
    import numpy as np

    from ..datasets.htru2 import nested_split
    from ..errors import ConfigError
    from ..tasks import Task, parts, zscore

    a = data.arrays
    rows = subsample(nested_split(a["fold"], split))
    X = zscore(a["X"], rows[0])
    info = {"split": f"test fold {split}, validation fold {(split - 1) % _n_splits(data)}"}
    if htru2_output == "softmax":
        return Task(kind="multiclass", n_out=2, X=parts(X, rows), y=parts(a["y"].astype(np.int64), rows),
                    metric="roc_auc", info=info)
    if htru2_output != "logit":
        raise ConfigError(f"train.htru2_output must be logit or softmax, however: {htru2_output!r}")
    return Task(kind="binary", n_out=1, X=parts(X, rows), y=parts(a["y"].astype(np.float32)[:, None], rows), info=info)


def _run_splits(config: Mapping[str, Any], method: str) -> list[int]:
    """train.htru2_folds: the outer test folds (all, or a list within htru2.n_folds)."""
    from ..errors import ConfigError

    folds, n_folds = config["train"]["htru2_folds"], config["htru2"]["n_folds"]
    if folds == "all":
        return list(range(n_folds))
    bad = [f for f in folds if f >= n_folds]
    if bad:
        raise ConfigError(f"train.htru2_folds {bad} out of range: htru2.n_folds is {n_folds} (folds 0..{n_folds - 1})")
    return list(folds)


def _published_rows(datasets: list[str]):
    from ..aggregate import published_htru2_rows

    return published_htru2_rows()


def _statistics(scores, *, stats):
    from ..htru2_stats import htru2_statistics

    return htru2_statistics(scores, stats=stats)


def _tables(scores, out_dir, *, statistics, settings, context) -> dict:
    import pandas as pd

    from ..htru2_tables import build_htru2_tables

    result = build_htru2_tables(scores, out_dir, statistics=statistics, settings=settings,
                                n_folds=context.get("n_folds"))
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        printed = (f"htru2 table 3: folds {', '.join(map(str, result['folds']))} -> {out_dir}\n"
                   + result["table3"].to_string(index=False))
    return {**result, "printed": printed}


def _plan_sizes(dataset: str, card: dict | None) -> tuple[int, int, int, int, int]:
    """Planning sizes: 17,898 candidates, 8 features, one logit; 8 folds train, 1 validates, 1 tests."""
    n = int(card["n"]) if card is not None and card.get("status") == "ok" else 17898
    train, validation = round(0.8 * n), round(0.1 * n)
    return 8, 1, train, validation, n - train - validation


SPEC = register(Benchmark(
    plan_sizes=_plan_sizes, name="htru2", title="HTRU2", sources=("htru2",), metric="roc_auc", dataset_names=lambda: ("htru2",),
    prepare=_prepare, prepare_options=_prepare_options,
    prepare_defaults={"n_folds": 10, "seed": 0}, task=_task, n_splits=_n_splits,
    run_datasets=lambda config: ["htru2"], run_splits=_run_splits, published_rows=_published_rows,
    statistics=_statistics, tables=_tables, main_table="table3", report_links=("figures/*.png",),
))
