"""The prepared-dataset contract (snnbench.contracts.prepared): arrays that no longer match their
card are refused, and a failed write leaves no file under its final name."""

from __future__ import annotations

import json

import numpy as np
import pytest

from snnbench.contracts.prepared import PreparedDataset, checked_card, write_prepared, write_status
from snnbench.errors import DataError


def test_arrays_that_no_longer_match_their_card_are_refused(tmp_path):
    card = write_prepared(tmp_path, "uci", "toy", {"X": np.ones((3, 2), np.float32)}, {"n": 3})
    assert PreparedDataset.load(card)["X"].shape == (3, 2)
    np.savez(card.with_suffix(".npz"), X=np.zeros((3, 2), np.float32))
    with pytest.raises(DataError, match="toy.npz does not match its card"):
        PreparedDataset.load(card)
    body = json.loads(card.read_text())
    card.write_text(json.dumps(dict(body, contract_version=99)))
    with pytest.raises(DataError, match="contract version 99"):
        PreparedDataset.load(card)



def test_a_card_whose_arrays_are_damaged_or_missing_reads_back_failed_with_the_recipe(tmp_path):
    """Issue 24 (6): what the end of a run reads: an ok card whose arrays were cut short or
    deleted is a failed dataset, its reason naming the file and the README's --forcerun recipe."""
    card = write_prepared(tmp_path, "uci", "toy", {"X": np.ones((30, 2), np.float32)}, {"n": 30})
    assert checked_card(card)["status"] == "ok" and "damaged" not in checked_card(card)
    npz = card.with_suffix(".npz")
    npz.write_bytes(npz.read_bytes()[: npz.stat().st_size // 2])
    damaged = checked_card(card)
    assert damaged["status"] == "failed" and damaged["damaged"] is True
    assert damaged["reason"].startswith(f"{npz} does not match its card (sha256 ")
    assert f"--forcerun {card} (README, 'A damaged prepared file')" in damaged["reason"]
    npz.unlink()
    assert checked_card(card)["reason"].startswith(f"{npz} is missing (its card says ok)")
    failed = write_status(tmp_path, "uci", "other", "failed", "line 3: bad")
    assert checked_card(failed)["reason"] == "line 3: bad" and "damaged" not in checked_card(failed)

def test_a_failed_write_leaves_no_file_under_its_final_name(tmp_path):
    class Boom:
        def __array__(self, *a, **k):
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_prepared(tmp_path, "uci", "toy", {"X": Boom()}, {"n": 1})
    assert list((tmp_path / "uci").iterdir()) == []
    card = write_status(tmp_path, "uci", "toy", "unavailable", "no file")
    assert json.loads(card.read_text())["status"] == "unavailable"
