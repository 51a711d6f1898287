"""HTRU2 prepare (snnbench.benchmarks.htru2.data): CR line ends, stratified seeded folds, the
nested split, a bad label named by its line, and the mirror. (The text readers:
tests/data/test_textio.py; the prepared-dataset contract: tests/contracts/test_prepared.py.)"""

from __future__ import annotations

import json

import numpy as np
import pytest

from helpers import write_verified_source
from snnbench import benchmarks
from snnbench.benchmarks.htru2.data import make_folds, nested_split, prepare
from snnbench.data.prepare import prepare_dataset
from snnbench.errors import ConfigError


def htru2_bytes(n=200, positives=20, seed=0) -> bytes:
    rng = np.random.default_rng(seed)
    rows = [",".join(f"{v:.6g}" for v in rng.normal(size=8)) + f",{int(i < positives)}" for i in range(n)]
    return "\r".join(rows).encode()  # CR line ends and no final line end, as distributed


def test_htru2_with_cr_line_ends_and_stratified_seeded_folds(tmp_path):
    write_verified_source(tmp_path, "htru2", {"HTRU_2.csv": htru2_bytes()})
    arrays, meta = prepare(tmp_path, n_folds=10, seed=3)
    assert arrays["X"].shape == (200, 8) and meta["positives"] == 20
    assert meta["folds"]["positives"] == [2] * 10 and meta["folds"]["sizes"] == [20] * 10
    again, _ = prepare(tmp_path, n_folds=10, seed=3)
    other, _ = prepare(tmp_path, n_folds=10, seed=4)
    np.testing.assert_array_equal(arrays["fold"], again["fold"])
    assert (arrays["fold"] != other["fold"]).any()


def test_htru2_nested_split_uses_the_previous_fold_for_validation():
    fold = np.repeat(np.arange(10), 3)
    train, val, test = nested_split(fold, 0)
    assert set(fold[test]) == {0} and set(fold[val]) == {9} and set(fold[train]) == set(range(1, 9))
    assert set(fold[nested_split(fold, 4)[1]]) == {3}
    with pytest.raises(ValueError, match="test_fold=10"):
        nested_split(fold, 10)
    with pytest.raises(ConfigError, match="htru2.n_folds"):
        make_folds(np.zeros(10), n_folds=2, seed=0)


def test_htru2_bad_label_is_reported_with_its_line(tmp_path):
    data = htru2_bytes().replace(b",0\r", b",3\r", 1)
    write_verified_source(tmp_path / "raw", "htru2", {"HTRU_2.csv": data})
    status, card = prepare_dataset(benchmarks.get("htru2"), "htru2", raw_dir=tmp_path / "raw",
                                   prepared_dir=tmp_path / "prep")
    reason = json.loads(card.read_text())["reason"]
    assert status == "failed" and "HTRU_2.csv, line 21: label 3 is out of range 0..1" in reason


@pytest.mark.mirror
def test_htru2_from_the_mirror(mirror_raw):
    arrays, meta = prepare(mirror_raw, n_folds=10, seed=0)
    assert (meta["n"], meta["d"], meta["positives"]) == (17898, 8, 1639)
    assert sorted(meta["folds"]["sizes"]) == [1789] * 2 + [1790] * 8
    assert np.isfinite(arrays["X"]).all()
