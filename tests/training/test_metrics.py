"""The metrics: ROC AUC (with ties and missing labels) and the multitask mean."""

from __future__ import annotations

import numpy as np
import pytest

from snnbench.training.metrics import mean_roc_auc, roc_auc, task_roc_aucs


def test_multitask_metric_leaves_out_a_task_with_one_test_class():
    Y = np.array([[0, 1], [1, 1], [0, np.nan], [1, 1]], dtype=float)
    logits = np.array([[0.1, 0.3], [0.9, 0.2], [0.2, 0.0], [0.8, 0.1]])
    assert np.isnan(task_roc_aucs(Y, logits)[1]) and task_roc_aucs(Y, logits)[0] == 1.0
    assert mean_roc_auc(Y, logits) == 1.0


def test_roc_auc_matches_scikit_learn_with_ties_and_masks_missing_labels():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 500)
    score = np.round(rng.normal(size=500) + y, 1)  # many ties
    assert roc_auc(y, score) == pytest.approx(roc_auc_score(y, score), abs=1e-12)
    assert np.isnan(roc_auc(np.ones(5), np.arange(5.0)))
    from scipy.stats import rankdata

    from snnbench.training.metrics import average_ranks

    assert np.array_equal(average_ranks(score), rankdata(score))
    Y = np.stack([y, 1 - y], axis=1).astype(float)
    Y[:100, 1] = np.nan
    logits = np.stack([score, -score], axis=1)
    expected = (roc_auc_score(y, score) + roc_auc_score(1 - y[100:], -score[100:])) / 2
    assert mean_roc_auc(Y, logits) == pytest.approx(expected, abs=1e-12)
