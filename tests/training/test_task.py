"""Training tasks: the seeded subsample of the training rows."""

from __future__ import annotations

import numpy as np
import pytest

from snnbench.errors import ConfigError
from snnbench.settings import TrainSettings
from snnbench.training.task import subsample_rows


def test_training_subsample_keeps_validation_and_test_whole():
    rows = (np.arange(100), np.arange(100, 120), np.arange(120, 150))
    one = subsample_rows(rows, 30, seed=0)
    assert len(one[0]) == 30 and set(one[0]) <= set(rows[0]) and np.all(np.diff(one[0]) > 0)
    assert one[1] is rows[1] and one[2] is rows[2]
    assert np.array_equal(subsample_rows(rows, 30, seed=0)[0], one[0])
    assert not np.array_equal(subsample_rows(rows, 30, seed=1)[0], one[0])
    assert subsample_rows(rows, None, seed=0) is rows and subsample_rows(rows, 500, seed=0) is rows
    with pytest.raises(ConfigError, match="max_train_rows"):
        TrainSettings(max_train_rows=1)
