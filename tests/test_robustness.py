"""The robustness report (snnbench.benchmarks.uci.robustness): synthetic score tables whose answer is known, and
the published-number figures the issue states."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from snnbench.benchmarks.uci.robustness import ScoreTable, published_table, robustness, verdict, write_robustness
from snnbench.evaluation.comparisons import bayesian, bootstrap, granularity, iman_davenport, multiple_comparisons
from snnbench.settings import RobustnessSettings, StatsSettings

FAST = RobustnessSettings(draws=2000, bayes_samples=2000)
FAST_A = RobustnessSettings(reference="A", draws=2000, bayes_samples=2000)


def synthetic(n: int = 30, *, test_rows: int = 50, seed: int = 0) -> pd.DataFrame:
    """Accuracies that are fractions of ``test_rows``: A one row ahead of B everywhere, B == C
    (identical methods), D well behind."""
    rng = np.random.default_rng(seed)
    correct = rng.integers(20, 45, size=n)
    index = [f"d{i:02d}" for i in range(n)]
    return pd.DataFrame({"A": (correct + 1) / test_rows, "B": correct / test_rows, "C": correct / test_rows,
                         "D": (correct - 10) / test_rows}, index=index)


def table_of(acc: pd.DataFrame, *, test_rows: int = 50, n: int = 500) -> ScoreTable:
    return ScoreTable("ours", acc, None, pd.Series(n, index=acc.index), pd.Series(test_rows, index=acc.index))


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


def test_the_whole_report_on_synthetic_scores_is_reproducible(tmp_path):
    acc = synthetic()
    first = robustness(table_of(acc), settings=FAST_A)
    text = verdict(first)
    assert "A has average rank" in text and "Holm keeps 3 and Bonferroni 3" in text
    assert "ranks first in 100%" in text and "30 (100%) are by one or two test rows" in text
    paths = write_robustness(first, tmp_path / "a")
    again = write_robustness(robustness(table_of(acc), settings=FAST_A), tmp_path / "b")
    assert paths["csv"].read_bytes() == again["csv"].read_bytes()  # seeded: the same numbers
    assert paths["md"].read_text().startswith("# Robustness of the UCI conclusion (our scores)")
    assert paths["posterior"].is_file() and paths["bootstrap"].is_file() and paths["cd_7_all"].is_file()
    rows = pd.read_csv(paths["csv"])
    assert {"multiple_comparisons", "omnibus", "bayesian", "bootstrap", "leave_one_out", "conventions",
            "granularity"} <= set(rows["section"])


def test_iman_davenport_matches_demsars_example():
    # Demsar (2006), section 3.2.2: chi2_F = 9.28 for k = 4 classifiers on N = 14 datasets gives F_F = 3.69
    f, p = iman_davenport(9.28, n=14, k=4)
    assert f == pytest.approx(3.69, abs=0.01) and 0 < p < 0.05


def test_the_published_figures_come_out_as_stated():
    """Issue 16's figures from the published numbers: Bonferroni removes the stars of MSRAinit
    (p 0.027 -> 0.16) and LayerNorm (0.015 -> 0.09), Holm keeps all six; Nemenyi's CD for 7
    methods on the ~121 datasets is about 0.82 ranks, more than SNN's lead over MSRAinit, LayerNorm
    and Highway (about 0.52, 0.56 and 0.78)."""
    r = robustness(published_table(), settings=FAST)
    m = r.multiple["all"].set_index("method")
    assert m.loc["MSRAinit", "p_value"] == pytest.approx(0.027, abs=0.001)
    assert m.loc["MSRAinit", "p_bonferroni"] == pytest.approx(0.16, abs=0.01)
    assert m.loc["LayerNorm", "p_value"] == pytest.approx(0.015, abs=0.001)
    assert m.loc["LayerNorm", "p_bonferroni"] == pytest.approx(0.09, abs=0.005)
    assert m["star"].all() and m["star_holm"].all()
    assert set(m.index[~m["star_bonferroni"]]) == {"MSRAinit", "LayerNorm"}
    result, frame = r.omnibus[("7 FNNs", "all")]
    assert result["cd_nemenyi"] == pytest.approx(0.82, abs=0.005) and result["k"] == 7
    lead = frame.set_index("method")["rank_difference"]
    for method, stated in (("MSRAinit", 0.52), ("LayerNorm", 0.56), ("Highway", 0.78)):
        assert lead[method] == pytest.approx(stated, abs=0.05) and lead[method] < result["cd_nemenyi"]
    assert frame.set_index("method").loc[["ResNet", "BatchNorm", "WeightNorm"], "exceeds_cd"].all()


def test_bad_robustness_settings_name_the_setting():
    from snnbench.errors import ConfigError

    with pytest.raises(ConfigError, match="robustness.rope must be a number in"):
        RobustnessSettings.from_dict({"rope": 2})
    with pytest.raises(ConfigError, match="unknown setting.*robustness.ropes"):
        RobustnessSettings.from_dict({"ropes": 0.1})


def test_the_cli_writes_the_published_report(tmp_path, capsys):
    from snnbench.cli import main

    assert main(["robustness", "--published", "--out-dir", str(tmp_path),
                 "--robustness-settings", '{"draws": 500, "bayes_samples": 500}']) == 0
    out = capsys.readouterr().out
    assert out.startswith("On the published scores (121 UCI datasets; SNN has a result on 120)")
    assert (tmp_path / "robustness.md").is_file() and (tmp_path / "robustness_figures" / "robustness_posterior.png").is_file()
    assert main(["robustness", "--out-dir", str(tmp_path)]) == 2  # neither --published nor --scores
    # the spelling before the verb was split says what to use
    assert main(["stats", "--robustness", "--published", "--out-dir", str(tmp_path)]) == 2
    assert "is now `snnbench robustness`" in capsys.readouterr().err


@pytest.mark.mirror
def test_the_shipped_test_rows_are_the_authors_split_column_0(mirror_raw):
    """reference/uci_test_rows.csv: the rows of each dataset's test set in the SNN authors' split
    column 0, counted again from their folds files in the mirror, all 121."""
    from snnbench import reference

    shipped = reference.uci_test_rows()
    counted = {}
    for folds in sorted((mirror_raw / "uci121_data_py").glob("*/folds_py.dat")):
        counted[folds.parent.name] = sum(int(line.split(",")[0]) for line in folds.read_text().split() if line)
    assert len(counted) == 121 and counted == shipped.to_dict()
