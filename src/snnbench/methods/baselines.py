"""Our random-forest and RBF-SVM baselines (scikit-learn) and their grids (not the paper's runs:
the paper quotes Fernandez-Delgado et al.'s results; docs/protocol.md B1-B3)."""

from __future__ import annotations

from typing import Any

from snnbench.methods import MethodSpec, register

# RF with 500 trees over max_features and min_samples_leaf (B1); the SVM on the grid of Hsu,
# Chang & Lin's LIBSVM guide, C = 2^-5, 2^-3, ..., 2^15, gamma = 2^-15, ..., 2^3 (B2). A benchmark
# may declare smaller ones (Tox21's, B3: benchmarks/tox21/__init__.py).
RF_GRID = {"n_estimators": [500], "max_features": ["sqrt", 0.1, 0.3, 0.6, 1.0], "min_samples_leaf": [1, 5]}
# NOTE: whole powers of two as integers: a configuration's seed hashes its hyperparameters as
# JSON (protocol F11), where 8 and 8.0 differ; these are the values the grid file held before.
SVM_GRID = {"C": [2**e if e >= 0 else 2.0**e for e in range(-5, 16, 2)],
            "gamma": [2**e if e >= 0 else 2.0**e for e in range(-15, 4, 2)]}


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
                    grids={"*": RF_GRID},
                    summary="random forest, our baseline (docs/protocol.md B1)"))
register(MethodSpec(name="SVM", kind="sklearn", build=build_svm,
                    grids={"*": SVM_GRID},
                    deterministic=True, summary="RBF-kernel SVM, our baseline (docs/protocol.md B2)"))
