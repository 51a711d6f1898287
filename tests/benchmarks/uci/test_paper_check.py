"""The paper check (snnbench.benchmarks.uci.paper_check): the paper's own Table 1, A12 and A13
statistics computed again from its published accuracies."""

from __future__ import annotations

import pandas as pd
import pytest

from snnbench import reference
from snnbench.benchmarks.uci.paper_check import paper_check
from snnbench.evaluation import stats


@pytest.fixture(scope="module")
def paper(tmp_path_factory):
    out = tmp_path_factory.mktemp("paper_check")
    return out, paper_check(out)


def test_paper_check_writes_its_tables(paper):
    out, results = paper
    assert sorted(p.name for p in out.iterdir()) == ["table1.csv", "tableA12.csv", "tableA13.csv"]
    for stem, frame in results.items():
        assert len(pd.read_csv(out / f"{stem}.csv")) == len(frame)
    assert results["table1"]["table"].value_counts().to_dict() == {"Table1-right": 24, "Table1-left": 7}


def test_table1_left_reproduced(paper):
    _, results = paper
    left = results["table1"].query("table == 'Table1-left'")
    published = reference.published_ranks().query("table == 'Table1-left'")
    assert left["method"].tolist() == published["method"].tolist()  # same order
    # "shared" missing ranks: 0.02099 at most (MSRAinit; ResNet -0.02093), the published values
    # being printed to 3 decimals; see stats.rank_table
    assert left["rank_diff"].abs().max() < 0.0215
    assert left["p_rel_diff"].dropna().abs().max() < 0.10
    assert len(left["p_rel_diff"].dropna()) == 6
    assert left["star"].iloc[1:].tolist() == left["published_star"].iloc[1:].tolist()


def test_table1_left_ranks_with_ordered_missing_within_002():
    acc = reference.table_a11().loc[:, list(reference.FNN_METHODS)]
    ours = stats.average_ranks(acc, missing="ordered") - 4
    published = reference.published_ranks().query("table == 'Table1-left'").set_index("method")["value"]
    assert list(ours.index) == list(published.index)
    assert (ours - published).abs().max() < 0.02


@pytest.mark.parametrize("stem", ["tableA12", "tableA13"])
def test_tables_a12_a13_ranks_reproduced(paper, stem):
    _, results = paper
    frame = results[stem]
    assert frame["published_value"].notna().all() and len(frame) == 24
    assert frame["rank_diff"].abs().max() < 0.15
