"""Tox21: the 12 toxicity assays of the Tox21 challenge with the DeepTox split (Sec. 4.2); Table 2."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd

from snnbench import methods
from snnbench.benchmarks import Benchmark, register
from snnbench.benchmarks.tox21.data import prepare
from snnbench.benchmarks.tox21.published import depth_rows, published_tox21_rows
from snnbench.benchmarks.tox21.sources import SOURCES
from snnbench.benchmarks.tox21.tables import build_tox21_tables
from snnbench.errors import DataError
from snnbench.methods.boosting import CATBOOST_GRID, LIGHTGBM_GRID, XGBOOST_GRID
from snnbench.training.task import Task, parts, zscore

# One estimator per task and configuration on ~9,000 labelled compounds, so smaller baseline
# grids than the methods' own (B3); the SVM's gamma brackets 1/d for the 290 rdkit features (and
# the DeepTox set's); the boosted trees (B4) narrowed the same way.
GRIDS = {
    "RF": {"n_estimators": [500], "max_features": ["sqrt", 0.1, 0.3], "min_samples_leaf": [1, 5]},
    "SVM": {"C": [1, 8, 64], "gamma": [2.0**-11, 2.0**-9, 2.0**-7]},  # integers: see methods/baselines.py
    "XGBoost": {**XGBOOST_GRID, "learning_rate": [0.1], "max_depth": [6, 9]},
    "LightGBM": {**LIGHTGBM_GRID, "learning_rate": [0.1], "min_child_samples": [20]},
    "CatBoost": {**CATBOOST_GRID, "learning_rate": [0.1], "tree_depth": [6, 8]},
}


class Tox21(Benchmark):
    name = "tox21"
    title = "Tox21"
    sources = SOURCES
    metric = "mean_roc_auc"
    main_table = "table2"
    report_links = ("table2*.md", "figures/*.png")
    prepare_mem_mb = 8000
    prepare_defaults = {"features": "auto", "sparse_min_frequency": 0.05, "ecfp_radius": 2, "n_jobs": 1}
    sort_keys = ("scope", "depth")
    grids = GRIDS

    def dataset_names(self) -> tuple[str, ...]:
        return ("tox21",)

    def prepare(self, dataset: str, raw_dir, **options: Any):
        return prepare(raw_dir, **options)

    def prepare_options(self, config: Mapping[str, Any]) -> dict:
        section = config["tox21"]
        return {"features": section["features"], "sparse_min_frequency": section["sparse_min_frequency"],
                "ecfp_radius": section["ecfp_radius"], "n_jobs": section["jobs"]}

    def n_splits(self, data) -> int:
        return 10**6  # repeats of the one official split: any number

    def task(self, data, split: int, *, subsample, settings: Any = None) -> Task:
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

    def run_datasets(self, config: Mapping[str, Any]) -> list[str]:
        return ["tox21"]

    def run_splits(self, config: Mapping[str, Any], method: str) -> list[int]:
        """The repeats; a deterministic method (the SVM) runs repeat 0 only: its other repeats
        would be identical (docs/protocol.md T10)."""
        return [0] if methods.get(method).deterministic else list(range(config["train"]["tox21_repeats"]))

    def published_rows(self, datasets: list[str]):
        return published_tox21_rows()

    def extra_score_rows(self, summaries: list) -> list:
        return [row for path in summaries for row in depth_rows(path)]

    def front_frame(self, folder, table):
        """Table 2 as the paper prints it: per depth, ours / published / difference in one cell."""
        from pathlib import Path

        from snnbench.benchmarks.tox21.tables import table2_shown

        frame = pd.read_csv(Path(folder) / f"{table}.csv")
        depths = [int(c) for c in frame.columns if c.isdigit()]
        if table != "table2" or not depths:
            return frame
        shown = table2_shown(frame, depths)
        return shown.rename(columns={str(d): f"depth {d}: ours / published / difference" for d in depths})

    def tables(self, scores, out_dir, *, statistics, settings, context) -> dict:
        result = build_tox21_tables(scores, out_dir, settings=settings)
        with pd.option_context("display.width", 250, "display.max_columns", 30):
            printed = (f"tox21 table 2: depths {', '.join(map(str, result['depths']))} -> {out_dir}\n"
                       + result["table2_shown"].to_string(index=False))
        return {**result, "printed": printed}

    def plan_sizes(self, dataset: str, card: dict | None) -> tuple[int, int, int, int, int]:
        """Planning sizes: the DeepTox split (11,764 / 296 / 647 of 12,707 compounds), 12 tasks, the
        prepared card's features (else the 290 rdkit features)."""
        d = int(card["d"]) if card is not None and card.get("status") == "ok" else 290
        return d, 12, 11764, 296, 647


SPEC = register(Tox21())
