"""Comparisons of methods across datasets (snnbench.evaluation.comparisons) on synthetic score
tables whose answer is known: multiple comparisons, the Bayesian signed-rank test, the bootstrap,
the granularity of differences, Iman-Davenport."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from helpers import synthetic_accuracies as synthetic
from snnbench.evaluation.comparisons import bayesian, bootstrap, granularity, iman_davenport, multiple_comparisons
from snnbench.settings import RobustnessSettings, StatsSettings

FAST = RobustnessSettings(draws=2000, bayes_samples=2000)


def test_a_method_better_on_every_dataset_wins_every_procedure():
    acc = synthetic()
    stars = multiple_comparisons(acc, "A", stats=StatsSettings()).set_index("method")
    assert (stars["p_value"] < 1e-5).all() and stars["star_bonferroni"].all() and stars["star_holm"].all()
    assert stars.loc["B", "p_bonferroni"] == pytest.approx(min(1.0, 3 * stars.loc["B", "p_value"]))
    bayes, _ = bayesian(acc, "A", settings=RobustnessSettings(rope=0.0, bayes_samples=2000))
    assert (bayes["p_better"] > 0.99).all()
    summary, frame = bootstrap(acc, "A", settings=FAST, missing="shared")
    assert summary["p_first"] == 1.0 and frame.iloc[0]["method"] == "A"
    assert frame.set_index("method").loc["A", "ci_low"] == frame.set_index("method").loc["A", "ci_high"] == 1.0


def test_two_identical_methods_are_equivalent_and_share_first_place():
    acc = synthetic()[["B", "C", "D"]]
    stars = multiple_comparisons(acc, "B", stats=StatsSettings()).set_index("method")
    assert np.isnan(stars.loc["C", "p_value"]) and not stars.loc["C", "star"]  # no non-zero difference
    bayes, _ = bayesian(acc, "B", settings=RobustnessSettings(rope=0.01, bayes_samples=2000))
    assert bayes.set_index("method").loc["C", "p_equivalent"] == 1.0
    summary, _ = bootstrap(acc, "B", settings=FAST, missing="shared")
    assert summary["p_first"] == pytest.approx(0.5)  # tied with C in every resample


def test_a_one_row_difference_is_counted_as_one_row():
    acc = synthetic(test_rows=50)
    per, wins = granularity(acc, "A", pd.Series(50, index=acc.index))
    assert (per["rows_ahead"] == 1).all() and set(per["best_competitor"]) <= {"B", "C"}
    best = wins.set_index("method").loc["best competitor"]
    assert best["wins"] == 30 and best["wins_by_1_row"] == 30 and best["share_of_wins_by_1_or_2_rows"] == 1.0
    assert wins.set_index("method").loc["D", "wins_by_1_or_2_rows"] == 0  # ten rows ahead of D


def test_iman_davenport_matches_demsars_example():
    # Demsar (2006), section 3.2.2: chi2_F = 9.28 for k = 4 classifiers on N = 14 datasets gives F_F = 3.69
    f, p = iman_davenport(9.28, n=14, k=4)
    assert f == pytest.approx(3.69, abs=0.01) and 0 < p < 0.05
