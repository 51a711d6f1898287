"""Gradient-boosted trees as extra baselines, beyond the paper (what a reader asks for first
today): XGBoost, LightGBM and CatBoost through their scikit-learn interfaces, on our grids
(docs/protocol.md B4). They need the optional extra ``pip install -e ".[beyond]"``;
``config/beyond.yaml`` runs them beside the paper's families."""

from __future__ import annotations

from typing import Any

from snnbench.methods import MethodSpec, register

# A fixed number of rounds (no early stopping on the validation rows: those select the
# configuration, as for every other method), the learning rate and the tree size crossed.
XGBOOST_GRID = {"n_estimators": [300], "learning_rate": [0.03, 0.1, 0.3], "max_depth": [3, 6, 9],
                "subsample": [0.8], "colsample_bytree": [0.8]}
LIGHTGBM_GRID = {"n_estimators": [300], "learning_rate": [0.03, 0.1, 0.3], "num_leaves": [7, 31],
                 "min_child_samples": [5, 20], "subsample": [0.8], "colsample_bytree": [0.8]}
# CatBoost's tree depth is called tree_depth here: "depth" is the result rows' network depth.
CATBOOST_GRID = {"iterations": [300], "learning_rate": [0.03, 0.1, 0.3], "tree_depth": [4, 6, 8]}


def build_xgboost(*, seed: int, threads: int | None, **hp: Any):
    from xgboost import XGBClassifier

    return XGBClassifier(tree_method="hist", n_jobs=threads, random_state=seed % 2**31, verbosity=0, **hp)


def build_lightgbm(*, seed: int, threads: int | None, **hp: Any):
    from lightgbm import LGBMClassifier

    # subsample takes effect only with a bagging frequency; every round re-draws it
    return LGBMClassifier(subsample_freq=1, n_jobs=threads, random_state=seed % 2**31, verbose=-1, **hp)


def build_catboost(*, seed: int, threads: int | None, tree_depth: int = 6, **hp: Any):
    from catboost import CatBoostClassifier

    return CatBoostClassifier(thread_count=threads or -1, random_seed=seed % 2**31, verbose=False,
                              allow_writing_files=False, depth=tree_depth, **hp)


for _name, _build, _grid, _module in (
        ("XGBoost", build_xgboost, XGBOOST_GRID, "xgboost"),
        ("LightGBM", build_lightgbm, LIGHTGBM_GRID, "lightgbm"),
        ("CatBoost", build_catboost, CATBOOST_GRID, "catboost")):
    register(MethodSpec(name=_name, kind="sklearn", build=_build, grids={"*": _grid},
                        requires=(_module,), summary=f"{_name}, gradient-boosted trees (beyond the paper; B4)"))
