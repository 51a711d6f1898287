"""Our random-forest and RBF-SVM baselines (scikit-learn) and their grids (not the paper's runs:
the paper quotes Fernandez-Delgado et al.'s results; docs/protocol.md B1-B3)."""

from __future__ import annotations

from typing import Any

from . import MethodSpec, register

# UCI and HTRU2: RF with 500 trees over max_features and min_samples_leaf (B1); the SVM on the
# grid of Hsu, Chang & Lin's LIBSVM guide, C = 2^-5, 2^-3, ..., 2^15, gamma = 2^-15, ..., 2^3 (B2).
RF_GRID = {"n_estimators": [500], "max_features": ["sqrt", 0.1, 0.3, 0.6, 1.0], "min_samples_leaf": [1, 5]}
SVM_GRID = {"C": [2.0**e for e in range(-5, 16, 2)], "gamma": [2.0**e for e in range(-15, 4, 2)]}
# Tox21: one estimator per task and configuration on ~9,000 labelled compounds, so smaller grids
# (B3); gamma brackets 1/d for the 290 rdkit features (and the DeepTox set's).
TOX21_RF_GRID = {"n_estimators": [500], "max_features": ["sqrt", 0.1, 0.3], "min_samples_leaf": [1, 5]}
TOX21_SVM_GRID = {"C": [1.0, 8.0, 64.0], "gamma": [2.0**-11, 2.0**-9, 2.0**-7]}


def build_rf(*, seed: int, threads: int | None, n_estimators: int = 500, max_features: Any = "sqrt",
             min_samples_leaf: int = 1):
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(
        n_estimators=int(n_estimators),
        max_features=max_features if isinstance(max_features, str) else float(max_features),
        min_samples_leaf=int(min_samples_leaf), n_jobs=threads, random_state=seed % 2**32)


def build_svm(*, seed: int, threads: int | None, C: float, gamma: float):
    from sklearn.svm import SVC

    # NOTE: SVC's one-vs-one multiclass scheme, as LIBSVM (and FD's LibSVM_weka) uses.
    return SVC(kernel="rbf", C=float(C), gamma=float(gamma), cache_size=1000)


register(MethodSpec(name="RF", kind="sklearn", build=build_rf,
                    grids={"uci": RF_GRID, "htru2": RF_GRID, "tox21": TOX21_RF_GRID},
                    summary="random forest, our baseline (docs/protocol.md B1)"))
register(MethodSpec(name="SVM", kind="sklearn", build=build_svm,
                    grids={"uci": SVM_GRID, "htru2": SVM_GRID, "tox21": TOX21_SVM_GRID},
                    summary="RBF-kernel SVM, our baseline (docs/protocol.md B2)"))
