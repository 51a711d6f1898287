"""HTRU2: 17,898 pulsar candidates x 8 features, 10 stratified folds from a seeded split.

Arrays: ``X`` float32 (n, 8) raw values (z-scores are fitted on training rows at training
time), ``y`` int64 (n,) 0/1, ``fold`` int8 (n,) in 0..n_folds-1.
The paper's nested CV (appendix A4.4): for outer test fold M the validation fold is M-1
(the last fold when M is the first); :func:`nested_split` gives those rows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from snnbench.benchmarks.htru2.sources import HTRU2
from snnbench.data.download import VerifiedSource
from snnbench.data.textio import as_labels, read_matrix
from snnbench.errors import ConfigError

SOURCE = HTRU2.name
MEMBER = "HTRU_2.csv"
FEATURES = (
    "profile_mean", "profile_std", "profile_excess_kurtosis", "profile_skewness",
    "dmsnr_mean", "dmsnr_std", "dmsnr_excess_kurtosis", "dmsnr_skewness",
)


def make_folds(y: np.ndarray, *, n_folds: int, seed: int) -> np.ndarray:
    """Fold id per row from scikit-learn's seeded, shuffled StratifiedKFold."""
    from sklearn.model_selection import StratifiedKFold

    if n_folds < 3:
        raise ConfigError("setting `htru2.n_folds` must be at least 3 (test, validation, training folds), "
                          f"however: {n_folds=}")
    fold = np.empty(len(y), dtype=np.int8)
    splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    for k, (_, test) in enumerate(splitter.split(np.zeros(len(y)), y)):
        fold[test] = k
    return fold


def prepare(raw_dir: str | Path, *, n_folds: int = 10, seed: int = 0) -> tuple[dict[str, np.ndarray], dict]:
    source = VerifiedSource(raw_dir, SOURCE)
    path = source.path(MEMBER)
    # NOTE: the file has bare CR line ends and no header; textio reads any line end.
    table = read_matrix(path, sep=",", ncols=len(FEATURES) + 1)
    X, y = table[:, :-1], as_labels(table[:, -1], path=path, n_classes=2)
    fold = make_folds(y, n_folds=n_folds, seed=seed)
    meta = {
        "n": len(y),
        "d": X.shape[1],
        "classes": 2,
        "positives": int(y.sum()),
        "size_group": None,
        "task": "binary",
        "feature_set": "htru2-8-statistics",
        "feature_names": list(FEATURES),
        "scaling": "zscore-fit-on-training-rows (applied at training time)",
        "folds": {"n_folds": n_folds, "seed": seed, "method": "sklearn StratifiedKFold(shuffle=True)",
                  "sizes": np.bincount(fold, minlength=n_folds).tolist(),
                  "positives": np.bincount(fold, weights=y, minlength=n_folds).astype(int).tolist()},
        "provenance": [source.provenance(MEMBER)],
        "notes": [],
    }
    return {"X": X.astype(np.float32), "y": y, "fold": fold}, meta


def nested_split(fold: np.ndarray, test_fold: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows (training, validation, test) for outer test fold ``test_fold`` (validation = the fold before)."""
    n_folds = int(fold.max()) + 1
    if not 0 <= test_fold < n_folds:
        raise ValueError(f"test fold must be in 0..{n_folds - 1}, however: {test_fold=}")
    val_fold = (test_fold - 1) % n_folds
    return (np.flatnonzero((fold != test_fold) & (fold != val_fold)), np.flatnonzero(fold == val_fold),
            np.flatnonzero(fold == test_fold))
