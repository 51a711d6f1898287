"""The robustness report (snnbench.benchmarks.uci.robustness): the whole report on synthetic scores,
the published-number figures the issue states, and the `snnbench robustness` verb. (The
comparisons it runs: tests/evaluation/test_comparisons.py.)"""

from __future__ import annotations

import pandas as pd
import pytest

from helpers import synthetic_accuracies as synthetic
from snnbench.benchmarks.uci.robustness import ScoreTable, published_table, robustness, verdict, write_robustness
from snnbench.settings import RobustnessSettings

FAST = RobustnessSettings(draws=2000, bayes_samples=2000)
FAST_A = RobustnessSettings(reference="A", draws=2000, bayes_samples=2000)


def table_of(acc: pd.DataFrame, *, test_rows: int = 50, n: int = 500) -> ScoreTable:
    return ScoreTable("ours", acc, None, pd.Series(n, index=acc.index), pd.Series(test_rows, index=acc.index))


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


def test_sound_splits_only_drops_the_datasets_whose_split_leaves_a_class_out(tmp_path):
    from dataclasses import replace

    from snnbench.benchmarks.uci.data import dataset_names
    from snnbench.benchmarks.uci.split_table import split_soundness

    names = ["abalone", "ecoli", "iris", "low-res-spect", "miniboone", "nursery", "wine", "zoo", "adult", "car",
             "led-display", "yeast"]
    assert set(names) <= set(dataset_names())
    acc = synthetic(len(names)).set_axis(names)
    table = table_of(acc)
    r = robustness(table, settings=FAST_A)
    sound = r.conventions[r.conventions["convention"] == "sound splits only"].iloc[0]
    col0 = split_soundness().reindex(names)
    assert set(col0.index[col0 == False]) == {"ecoli", "low-res-spect", "nursery", "zoo"}  # noqa: E712
    assert sound["n_datasets"] == 7 and sound["variant"] == "4 unsound and 1 unknown dropped"
    md = write_robustness(r, tmp_path)["md"].read_text()
    assert "4 of the 12 datasets used have a split (data_py column 0)" in md
    assert "soundness unknown for miniboone" in md
    every = split_soundness((0, 1, 2, 3)).reindex(names)
    assert every["yeast"] == False and col0["yeast"] == True  # noqa: E712 (unsound in a later column only)
    r4 = robustness(replace(table, split_columns=(0, 1, 2, 3)), settings=FAST_A)
    row = r4.conventions[r4.conventions["convention"] == "sound splits only"].iloc[0]
    assert row["n_datasets"] == 6 and row["variant"] == "5 unsound and 1 unknown dropped"


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
    # issue 25: on the 101 datasets whose column-0 split keeps every class in every part (19
    # unsound, miniboone unknown) SNN stays first of the 7 FNNs but loses MSRAinit's star
    sound = r.conventions[r.conventions["convention"] == "sound splits only"].set_index("family")
    assert sound.loc["7 FNNs", ["n_datasets", "place", "stars", "of"]].tolist() == [101, 1, 5, 6]
    assert sound.loc["7 FNNs", "lost"] == "MSRAinit"
    assert sound.loc["24 methods", ["n_datasets", "place", "stars", "of"]].tolist() == [101, 3, 20, 23]
    assert sound.loc["24 methods", "avg_rank"] == pytest.approx(8.431, abs=5e-4)


def test_the_cli_writes_the_published_report(tmp_path, capsys):
    from snnbench.cli import main

    assert main(["robustness", "--published", "--out-dir", str(tmp_path),
                 "--robustness-settings", '{"draws": 500, "bayes_samples": 500}']) == 0
    out = capsys.readouterr().out
    assert out.startswith("On the published scores (121 UCI datasets; SNN has a result on 120)")
    assert (tmp_path / "robustness.md").is_file()
    assert (tmp_path / "robustness_figures" / "robustness_posterior.png").is_file()
    assert main(["robustness", "--out-dir", str(tmp_path)]) == 2  # neither --published nor --scores
    # the spelling before the verb was split says what to use
    assert main(["stats", "--robustness", "--published", "--out-dir", str(tmp_path)]) == 2
    assert "is now `snnbench robustness`" in capsys.readouterr().err




@pytest.mark.parametrize("columns, why", [
    (["A"], "needs at least two FNN methods with results; only A has results in our scores"),
    (["A", "B"], "needs at least two FNN methods with results; only A has results in our scores (B: no result)"),
    (["B", "C"], "robustness.reference=A has no result in our scores; FNNs with results: B, C"),
])
def test_a_report_that_cannot_be_computed_says_why_instead_of_raising(tmp_path, columns, why):
    """One FNN, or a second without any result (a custom method that failed everywhere; issue 24)."""
    acc = synthetic()[columns].copy()
    if columns == ["A", "B"]:
        acc["B"] = float("nan")
    report = robustness(table_of(acc), settings=FAST_A)
    assert report.not_computed == why and verdict(report) == f"Not computed on our scores: {why}."
    paths = write_robustness(report, tmp_path)
    assert why in paths["md"].read_text() and (tmp_path / "robustness_figures").is_dir()
    assert pd.read_csv(paths["csv"])[["section", "error"]].values.tolist() == [["not_computed", why]]


def test_one_dataset_is_not_enough_and_says_so():
    report = robustness(table_of(synthetic().iloc[:1]), settings=FAST_A)
    assert report.not_computed.startswith("needs at least two datasets where A has a result; our scores have 1")
