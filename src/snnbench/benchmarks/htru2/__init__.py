"""HTRU2: pulsar candidates, nested 10-fold cross-validation (Sec. 4.3); Table 3."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd

from snnbench.benchmarks import Benchmark, register
from snnbench.benchmarks.htru2.data import nested_split, prepare
from snnbench.benchmarks.htru2.published import published_htru2_rows
from snnbench.benchmarks.htru2.sources import SOURCES
from snnbench.benchmarks.htru2.stats import htru2_statistics
from snnbench.benchmarks.htru2.tables import build_htru2_tables
from snnbench.errors import ConfigError
from snnbench.training.task import Task, parts, zscore


class Htru2(Benchmark):
    name = "htru2"
    title = "HTRU2"
    sources = SOURCES
    metric = "roc_auc"
    main_table = "table3"
    report_links = ("figures/*.png",)
    prepare_defaults = {"n_folds": 10, "seed": 0}

    def dataset_names(self) -> tuple[str, ...]:
        return ("htru2",)

    def prepare(self, dataset: str, raw_dir, **options: Any):
        return prepare(raw_dir, **options)

    def prepare_options(self, config: Mapping[str, Any]) -> dict:
        return {"n_folds": config["htru2"]["n_folds"], "seed": config["htru2"]["fold_seed"]}

    def table_options(self, config: Mapping[str, Any]) -> dict:
        return {"n_folds": config["htru2"]["n_folds"]}  # the caption's "k of n outer folds"

    def n_splits(self, data) -> int:
        return int(data.meta["folds"]["n_folds"])

    def task(self, data, split: int, *, subsample, settings: Any = None) -> Task:
        """train.htru2_output: one logit (the paper's) or a two-way softmax."""
        output = settings.htru2_output if settings is not None else "logit"
        a = data.arrays
        rows = subsample(nested_split(a["fold"], split))
        X = zscore(a["X"], rows[0])
        info = {"split": f"test fold {split}, validation fold {(split - 1) % self.n_splits(data)}"}
        if output == "softmax":
            return Task(kind="multiclass", n_out=2, X=parts(X, rows), y=parts(a["y"].astype(np.int64), rows),
                        metric="roc_auc", info=info)
        if output != "logit":
            raise ConfigError(f"train.htru2_output must be logit or softmax, however: {output!r}")
        return Task(kind="binary", n_out=1, X=parts(X, rows), y=parts(a["y"].astype(np.float32)[:, None], rows),
                    info=info)

    def run_datasets(self, config: Mapping[str, Any]) -> list[str]:
        return ["htru2"]

    def run_splits(self, config: Mapping[str, Any], method: str) -> list[int]:
        """train.htru2_folds: the outer test folds (all, or a list within htru2.n_folds)."""
        folds, n_folds = config["train"]["htru2_folds"], config["htru2"]["n_folds"]
        if folds == "all":
            return list(range(n_folds))
        bad = [f for f in folds if f >= n_folds]
        if bad:
            raise ConfigError(f"train.htru2_folds {bad} out of range: htru2.n_folds is {n_folds} "
                              f"(folds 0..{n_folds - 1})")
        return list(folds)

    def published_rows(self, datasets: list[str]):
        return published_htru2_rows()

    def statistics(self, scores, *, stats):
        return htru2_statistics(scores, stats=stats)

    def tables(self, scores, out_dir, *, statistics, settings, context) -> dict:
        result = build_htru2_tables(scores, out_dir, statistics=statistics, settings=settings,
                                    n_folds=context.get("n_folds"))
        with pd.option_context("display.width", 200, "display.max_columns", 20):
            printed = (f"htru2 table 3: folds {', '.join(map(str, result['folds']))} -> {out_dir}\n"
                       + result["table3"].to_string(index=False))
        return {**result, "printed": printed}

    def plan_sizes(self, dataset: str, card: dict | None) -> tuple[int, int, int, int, int]:
        """Planning sizes: 17,898 candidates, 8 features, one logit; 8 folds train, 1 validates, 1 tests."""
        n = int(card["n"]) if card is not None and card.get("status") == "ok" else 17898
        train, validation = round(0.8 * n), round(0.1 * n)
        return 8, 1, train, validation, n - train - validation


SPEC = register(Htru2())
