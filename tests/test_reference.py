"""The reference data (snnbench.reference): Fernandez-Delgado's accuracies on the 121 datasets,
the 24 published methods and their families, and the shipped test rows of split column 0."""

from __future__ import annotations

import numpy as np
import pytest

from snnbench import reference
from snnbench.benchmarks.uci.data import dataset_names


def test_fd_names_map_onto_all_121_datasets():
    fd = reference.fd_accuracies()
    assert set(fd.index) == set(dataset_names())
    assert len(fd) == 121 and fd.shape[1] == 179
    assert not set(reference.FD_SUMMARY_COLUMNS) & set(fd.columns)
    values = fd.to_numpy()
    assert np.nanmin(values) >= 0.0 and np.nanmax(values) <= 1.0
    assert fd.at["abalone", "elm_kernel_matlab"] == pytest.approx(0.661)  # 66.1 in the file
    assert fd.isna().to_numpy().sum() == 449  # the "--" runs


def test_the_24_methods_and_their_families():
    acc = reference.published_24_accuracies()
    assert acc.shape == (121, 24)
    assert list(acc.columns[:7]) == list(reference.FNN_METHODS)
    ranks = reference.published_ranks()
    groups = ranks.loc[ranks["table"] == "TableA13"].set_index("method")["method_group"]
    assert {m: groups[m] for m in reference.FD_REPRESENTATIVES} == reference.FD_REPRESENTATIVES


def test_every_table_a11_accuracy_is_correct_over_test_rows_rounded_half_up():
    """All 843 of Table A11's FNN accuracies are k / test rows printed with 4 decimals, rounded half
    up: three are exact halves, and one of them (energy-y2 SNN, 174 / 192 = 0.90625, printed 0.9063)
    rounds down under round-half-even, so a check with Python's or numpy's rounding counts 842."""
    printed = reference.table_a11().loc[:, list(reference.FNN_METHODS)]
    n = reference.uci_test_rows().reindex(printed.index).astype(float)
    counts = printed.mul(n, axis=0).round()
    exact = counts.div(n, axis=0)
    present = printed.notna()
    half_up = (np.floor(exact * 1e4 + 0.5) / 1e4 - printed).abs() < 1e-9
    half_even = (exact.round(4) - printed).abs() < 1e-9
    assert (int(present.sum().sum()), int((half_up & present).sum().sum())) == (843, 843)
    assert int((half_even & present).sum().sum()) == 842 and not half_even.at["energy-y2", "SNN"]
    assert counts.at["energy-y2", "SNN"] == 174 and n["energy-y2"] == 192
    rebuilt = reference.published_24_accuracies()
    assert rebuilt.at["energy-y2", "SNN"] == 174 / 192 and rebuilt.at["pima", "BatchNorm"] == 138 / 192


@pytest.mark.mirror
def test_the_shipped_test_rows_are_the_authors_split_column_0(mirror_raw):
    """reference/uci_test_rows.csv: the rows of each dataset's test set in the SNN authors' split
    column 0, counted again from their folds files in the mirror, all 121."""
    shipped = reference.uci_test_rows()
    counted = {}
    for folds in sorted((mirror_raw / "uci121_data_py").glob("*/folds_py.dat")):
        counted[folds.parent.name] = sum(int(line.split(",")[0]) for line in folds.read_text().split() if line)
    assert len(counted) == 121 and counted == shipped.to_dict()
