"""The prepared-dataset contract (snnbench.contracts.prepared): arrays that no longer match their
card are refused, and a failed write leaves no file under its final name."""

from __future__ import annotations

import json

import numpy as np
import pytest

from snnbench.contracts.prepared import PreparedDataset, write_prepared, write_status
from snnbench.errors import DataError


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
