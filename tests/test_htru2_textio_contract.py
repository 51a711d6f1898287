"""HTRU2 prepare, the text readers, and the prepared-dataset contract."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import write_verified_source

from snnbench import benchmarks
from snnbench.data.prepare import prepare_dataset
from snnbench.benchmarks.htru2.data import make_folds, nested_split, prepare
from snnbench.contracts.prepared import PreparedDataset, write_prepared, write_status
from snnbench.errors import ConfigError, DataError
from snnbench.data.textio import as_labels, read_int_lines, read_matrix


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
    status, card = prepare_dataset(benchmarks.get("htru2"), "htru2", raw_dir=tmp_path / "raw", prepared_dir=tmp_path / "prep")
    reason = json.loads(card.read_text())["reason"]
    assert status == "failed" and "HTRU_2.csv, line 21: label 3 is out of range 0..1" in reason


@pytest.mark.mirror
def test_htru2_from_the_mirror(mirror_raw):
    arrays, meta = prepare(mirror_raw, n_folds=10, seed=0)
    assert (meta["n"], meta["d"], meta["positives"]) == (17898, 8, 1639)
    assert sorted(meta["folds"]["sizes"]) == [1789] * 2 + [1790] * 8
    assert np.isfinite(arrays["X"]).all()


# --------------------------------------------------------------------------- text readers

@pytest.mark.parametrize(
    "text,message",
    [
        ("1,2,3\n4,5\n", "line 2: 2 fields, expected 3"),
        ("1,2,3\n4,x,6\n", "line 2: field 2 is 'x', not a number"),
        ("1,2,3\n4,,6\n", "line 2: field 2 is '', not a number"),
        ("1,2,3\n4,nan,6\n", "line 2: field 2 is 'nan', not a finite number"),
        ("1,2,3\n\n4,5,6\n", "line 2: empty line"),
    ],
)
def test_read_matrix_names_the_bad_line(tmp_path, text, message):
    path = tmp_path / "t.csv"
    path.write_text(text)
    with pytest.raises(DataError) as info:
        read_matrix(path, sep=",", ncols=3)
    assert str(info.value) == f"{path}, {message}"


def test_read_matrix_counts_header_lines_and_reads_any_line_end(tmp_path):
    path = tmp_path / "t.dat"
    path.write_bytes(b"\tf1\tf2\r\n1\t0.5\t2\r\n2\t0.25\tq\r\n")
    with pytest.raises(DataError, match="line 3: field 3 is 'q'"):
        read_matrix(path, sep="\t", skip=1)
    path.write_bytes(b"1,2\r3,4\r5,6")
    np.testing.assert_array_equal(read_matrix(path, sep=","), [[1, 2], [3, 4], [5, 6]])


def test_labels_and_index_lines(tmp_path):
    with pytest.raises(DataError, match="line 3: label 1.5 is not an integer"):
        as_labels(np.array([0, 1, 1.5]), path="l.dat", n_classes=2)
    path = tmp_path / "c.dat"
    path.write_text("0 1 2\n3 x\n")
    with pytest.raises(DataError, match="c.dat, line 2: 'x' is not an integer index"):
        read_int_lines(path)


# --------------------------------------------------------------------------- contract

def test_arrays_that_no_longer_match_their_card_are_refused(tmp_path):
    card = write_prepared(tmp_path, "uci", "toy", {"X": np.ones((3, 2), np.float32)}, {"n": 3})
    assert PreparedDataset.load(card)["X"].shape == (3, 2)
    np.savez(card.with_suffix(".npz"), X=np.zeros((3, 2), np.float32))
    with pytest.raises(DataError, match="arrays file does not match its card"):
        PreparedDataset.load(card)
    body = json.loads(card.read_text())
    card.write_text(json.dumps(dict(body, contract_version=99)))
    with pytest.raises(DataError, match="contract version 99"):
        PreparedDataset.load(card)


def test_a_failed_write_leaves_no_file_under_its_final_name(tmp_path):
    class Boom:
        def __array__(self, *a, **k):
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_prepared(tmp_path, "uci", "toy", {"X": Boom()}, {"n": 1})
    assert list((tmp_path / "uci").iterdir()) == []
    card = write_status(tmp_path, "uci", "toy", "unavailable", "no file")
    assert json.loads(card.read_text())["status"] == "unavailable"
