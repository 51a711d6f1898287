"""Rank statistics (snnbench.evaluation.stats); fast, no data mirror. (The reference loaders:
tests/test_reference.py; the paper check: tests/benchmarks/uci/test_paper_check.py.)"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from snnbench import reference
from snnbench.evaluation import stats

NAN = math.nan


def table(rows: dict[str, list[float]], columns: str = "ABC") -> pd.DataFrame:
    return pd.DataFrame.from_dict(rows, orient="index", columns=list(columns))


# --- ranks -------------------------------------------------------------------------------------


def test_ranks_best_is_one_and_ties_share_the_average():
    acc = table({"d1": [0.9, 0.8, 0.7], "d2": [0.5, 0.5, 0.9], "d3": [0.6, 0.6, 0.6]})
    ranks = stats.rank_table(acc)
    assert ranks.loc["d1"].tolist() == [1.0, 2.0, 3.0]
    assert ranks.loc["d2"].tolist() == [2.5, 2.5, 1.0]
    assert ranks.loc["d3"].tolist() == [2.0, 2.0, 2.0]
    assert stats.average_ranks(acc).to_dict() == pytest.approx({"C": 2.0, "A": 11 / 6, "B": 13 / 6})
    assert list(stats.average_ranks(acc).index) == ["A", "C", "B"]  # best first


def test_missing_results_take_the_worst_positions():
    acc = table({"d1": [NAN, 0.8, NAN, 0.9], "d2": [0.1, NAN, 0.3, 0.3]}, columns="ABCD")
    shared = stats.rank_table(acc)  # the missing ones tie for the bottom positions
    assert shared.loc["d1"].tolist() == [3.5, 2.0, 3.5, 1.0]
    assert shared.loc["d2"].tolist() == [3.0, 4.0, 1.5, 1.5]
    ordered = stats.rank_table(acc, missing="ordered")  # bottom positions in column order
    assert ordered.loc["d1"].tolist() == [3.0, 2.0, 4.0, 1.0]
    assert ordered.loc["d2"].tolist() == shared.loc["d2"].tolist()
    for ranks in (shared, ordered):  # every row still sums to k(k+1)/2
        assert ranks.sum(axis=1).tolist() == [10.0, 10.0]


def test_a_dataset_without_any_result_is_dropped():
    acc = table({"d1": [0.9, 0.8, 0.7], "d2": [NAN, NAN, NAN]})
    assert stats.rank_table(acc).index.tolist() == ["d1"]


def test_bad_input_names_the_value():
    acc = table({"d1": [0.9, 0.8, 0.7]})
    with pytest.raises(ValueError, match="missing='worst'"):
        stats.rank_table(acc, missing="worst")
    with pytest.raises(ValueError, match="list\\(acc.columns\\)=\\['A'\\]"):
        stats.rank_table(acc[["A"]])
    with pytest.raises(ValueError, match="method='fast'"):
        stats.wilcoxon_vs_best(acc, method="fast")
    with pytest.raises(ValueError, match="inf"):
        stats.rank_table(table({"d1": [np.inf, 0.8, 0.7]}))


# --- Wilcoxon against the best -----------------------------------------------------------------


@pytest.fixture
def three_methods() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    base = rng.uniform(0.6, 0.9, size=30)
    acc = pd.DataFrame(
        {
            "weak": base - rng.uniform(0.0, 0.05, 30),
            "best": base + rng.uniform(0.0, 0.05, 30),
            "mid": base + rng.normal(0.0, 0.02, 30),
        },
        index=[f"d{i}" for i in range(30)],
    )
    acc.iloc[3, 2] = NAN  # mid misses one dataset
    acc.iloc[5, 1] = acc.iloc[5, 0]  # one zero difference best vs weak
    return acc


def test_wilcoxon_is_one_sided_best_greater_and_matches_scipy(three_methods):
    result = stats.wilcoxon_vs_best(three_methods).set_index("method")
    assert result.index.tolist() == ["best", "mid", "weak"]
    assert math.isnan(result.at["best", "p_value"])
    pairs = three_methods[["best", "mid"]].dropna()
    # the default null distribution (config stats.wilcoxon: auto) is exact without ties or zeros
    expected = sps.wilcoxon(pairs["best"], pairs["mid"], zero_method="wilcox", alternative="greater", method="exact")
    assert result.at["mid", "p_value"] == pytest.approx(expected.pvalue, rel=1e-12)
    assert result.at["mid", "n_datasets"] == 29
    assert result.at["weak", "n_datasets"] == 30
    # ... and the normal approximation with a zero difference (best = weak on d5)
    weak = sps.wilcoxon(three_methods["best"], three_methods["weak"], zero_method="wilcox", alternative="greater",
                        method="asymptotic")
    assert result.at["weak", "p_value"] == pytest.approx(weak.pvalue, rel=1e-12)
    exact_if_small = stats.wilcoxon_vs_best(three_methods, method="exact-if-small").set_index("method")
    assert exact_if_small.at["weak", "p_value"] < result.at["weak", "p_value"] / 100
    # one-sided in the right direction: the opposite alternative is the one near 1
    reverse, _ = stats.paired_wilcoxon_greater(three_methods["weak"], three_methods["best"])
    assert result.at["weak", "p_value"] < 1e-4 < 0.99 < reverse
    assert result["avg_rank_minus_expected"].tolist() == pytest.approx((result["avg_rank"] - 2.0).tolist())
    assert result["star"].tolist() == (result["p_value"] < 0.05).tolist()


def test_wilcoxon_against_a_named_reference(three_methods):
    result = stats.wilcoxon_vs_best(three_methods, reference="mid").set_index("method")
    assert result.index.tolist() == ["best", "mid", "weak"]  # still in rank order
    assert (result["vs"] == "mid").all() and math.isnan(result.at["mid", "p_value"])
    p, _ = stats.paired_wilcoxon_greater(three_methods["mid"], three_methods["best"])
    assert result.at["best", "p_value"] == p > 0.5  # mid is not better than best
    with pytest.raises(ValueError, match="'SNN' has no column"):
        stats.wilcoxon_vs_best(three_methods, reference="SNN")


def test_wilcoxon_without_any_nonzero_difference_is_nan():
    acc = table({"d1": [0.9, 0.9, 0.1], "d2": [0.8, 0.8, 0.2]})
    p, n = stats.paired_wilcoxon_greater(acc["A"], acc["B"])
    assert math.isnan(p) and n == 2


def test_holm_on_a_known_example():
    p = pd.Series([0.01, 0.04, 0.03, 0.005, NAN], index=list("abcde"))
    # sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04 -> running max
    assert stats.holm(p).iloc[:4].tolist() == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert math.isnan(stats.holm(p)["e"])
    assert stats.holm(pd.Series([0.5, 0.6])).tolist() == [1.0, 1.0]
    with pytest.raises(ValueError, match="1.5"):
        stats.holm(pd.Series([1.5]))


# --- Friedman, critical difference, groups -----------------------------------------------------


def test_friedman_uses_complete_rows(three_methods):
    result = stats.friedman(three_methods)
    complete = three_methods.dropna()
    expected = sps.friedmanchisquare(*(complete[c] for c in complete.columns))
    assert result == {
        "statistic": pytest.approx(expected.statistic),
        "p_value": pytest.approx(expected.pvalue),
        "n_datasets": 29,
        "k": 3,
        "n_dropped": 1,
    }


def test_critical_difference_inputs(three_methods):
    cd = stats.critical_difference(three_methods)
    assert cd["n_datasets"] == 29 and cd["k"] == 3
    assert list(cd["ranks"].index) == ["best", "mid", "weak"]
    matrix = cd["p_values"]
    assert list(matrix.index) == list(matrix.columns) == list(three_methods.columns)
    assert np.allclose(matrix.to_numpy(), matrix.to_numpy().T)
    assert matrix.at["best", "weak"] < 0.05
    # Demsar 2006, Table 5a: q_0.05 = 2.569 for k = 4
    assert stats.nemenyi_cd(k=4, n_datasets=10) == pytest.approx(2.569 * math.sqrt(4 * 5 / 60), rel=1e-3)


def test_size_groups_split_at_1000():
    groups = stats.size_groups(reference.table_a11()["N"])
    assert (len(groups["all"]), len(groups["small"]), len(groups["large"])) == (121, 75, 46)
    toy = stats.size_groups(pd.Series({"a": 999, "b": 1000}))
    assert list(toy["small"]) == ["a"] and list(toy["large"]) == ["b"]
    with pytest.raises(ValueError, match="-3"):
        stats.size_groups(pd.Series({"a": -3}))


def test_r_default_matches_a_hand_computed_normal_approximation():
    # d = (1, 2, 2, -3, 0): zero dropped, n = 4, |d| ranks 1, 2.5, 2.5, 4, V = 6, mean 5,
    # variance 4*5*9/24 - (2^3 - 2)/48 = 7.375, z = (6 - 5 - 0.5) / sqrt(7.375)
    p = stats.r_wilcoxon_greater(np.array([1.0, 2.0, 2.0, -3.0, 0.0]))
    assert p == pytest.approx(sps.norm.sf(0.5 / np.sqrt(7.375)), rel=1e-12)
    # no ties or zeros and n < 50: the exact distribution, P(V >= 9 | n = 4) = 2 / 16 (V in {9, 10})
    assert stats.r_wilcoxon_greater(np.array([1.0, 2.0, 3.0, -0.5])) == pytest.approx(2 / 16)


def test_auto_with_ties_or_zeros_on_few_pairs_is_scipys_sign_flip_distribution():
    # scipy's auto runs permutation_test over the 2^n sign flips there (n <= 13 pairs, zeros
    # counted); stats enumerates them itself: the same p-values
    rng = np.random.default_rng(3)
    checked = 0
    for _ in range(60):
        n = int(rng.integers(2, 11))
        d = rng.integers(-3, 4, n) / 7.0
        nonzero = d[d != 0]
        if not len(nonzero) or ((d != 0).all() and len(np.unique(np.abs(nonzero))) == len(nonzero)):
            continue
        x = pd.Series(0.5 + d)
        ours, _ = stats.paired_wilcoxon_greater(x, pd.Series(0.5, index=x.index), method="auto")
        theirs = sps.wilcoxon(stats.paired_differences(x, pd.Series(0.5, index=x.index)), zero_method="wilcox",
                              alternative="greater", method="auto").pvalue
        assert ours == pytest.approx(theirs, abs=1e-12), d
        checked += 1
    assert checked >= 40
    # 14 pairs with ties: the normal approximation, as scipy
    d = np.array([1, 1, 2, 2, 3, -1, 4, 4, 5, -2, 6, 6, 7, 0]) / 10.0
    ours, _ = stats.paired_wilcoxon_greater(pd.Series(d), pd.Series(0 * d), method="auto")
    assert ours == pytest.approx(sps.wilcoxon(d, alternative="greater", method="asymptotic").pvalue, abs=1e-12)
    assert ours != pytest.approx(stats.sign_flip_greater(d))


def test_equal_accuracies_from_different_sources_tie_exactly():
    # 90.0 % from Fernandez-Delgado's file and 9 of 10 correct test rows are the same accuracy
    fd = reference.exact_tenths_of_percent(pd.DataFrame({"FD": [90.0, 70.0, 30.0]}, index=["a", "b", "c"]))
    counts = reference.exact_counts(pd.DataFrame({"FNN": [0.9, 0.7, 0.3]}, index=["a", "b", "c"]),
                                    pd.Series({"a": 10, "b": 10, "c": 10}))
    acc = pd.concat([fd, counts], axis=1)
    assert (acc["FD"] - acc["FNN"] == 0).all()
    assert stats.rank_table(acc).to_numpy().tolist() == [[1.5, 1.5]] * 3
    # a float-built pair that differs by 1 ulp (0.1 * 7 != 0.7) still gives zero differences
    drifted = pd.DataFrame({"FD": [0.9, 0.1 * 7, 0.3], "FNN": [9 / 10, 7 / 10, 3 / 10]}, index=["a", "b", "c"])
    assert drifted.at["b", "FD"] != drifted.at["b", "FNN"]
    assert np.isnan(stats.paired_wilcoxon_greater(drifted["FD"], drifted["FNN"])[0])
    assert stats.wins_ties_losses(drifted["FD"], drifted["FNN"]) == (0, 3, 0)  # the same differences
    board = stats.leaderboard(acc.assign(low=acc["FNN"] - 0.1), reference="FNN").set_index("method")
    assert (board.at["FD", "wins"], board.at["FD", "ties"], board.at["low", "losses"]) == (0, 3, 3)


def test_leaderboard_orders_by_the_paired_verdict_before_the_ranks():
    # "strong" beats REF on every dataset, "weak" loses on every one, "equal" ties everywhere
    rng = np.random.default_rng(1)
    ref = pd.Series(rng.uniform(0.6, 0.8, 20), index=[f"d{i}" for i in range(20)])
    acc = pd.DataFrame({"REF": ref, "strong": ref + 0.05, "weak": ref - 0.05, "equal": ref})
    board = stats.leaderboard(acc, reference="REF").set_index("method")
    assert board.loc["strong", "verdict"] == "better" and board.loc["weak", "verdict"] == "worse"
    assert board.loc["equal", "verdict"] == "no difference" and board.loc["REF", "verdict"] == "reference"
    assert board.index.tolist()[0] == "strong" and board.index.tolist()[-1] == "weak"
    published = stats.average_ranks(acc)
    assert stats.pool_difference(acc, published) == 0
    assert stats.pool_difference(acc[["REF", "strong", "weak"]], published) == pytest.approx(
        float((stats.average_ranks(acc[["REF", "strong", "weak"]]) - published.drop("equal")).abs().max()))
