"""Early stopping on the smoothed validation curve and the selection of a configuration (tie-breaks)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from snnbench.training.selection import early_stopping_epoch, select, smooth


def test_moving_average_early_stopping_on_hand_made_curves():
    assert np.allclose(smooth(np.arange(5.0), 2), [0.5, 1.5, 2.5, 3.5])
    # a one-epoch spike loses to a plateau once the curve is smoothed
    curve = np.full(100, 0.5)
    curve[5] = 1.0
    curve[40:60] = 0.8
    assert int(np.argmax(curve)) == 5
    epoch, value = early_stopping_epoch(curve, window=10, align="trailing")
    assert (epoch, value) == (49, pytest.approx(0.8))  # first full window 40..49, its last epoch
    epoch, _ = early_stopping_epoch(curve, window=10, align="centered")
    assert epoch == 44  # the middle of that window
    # ties: the first maximum; shorter curve than the window: one window over everything
    assert early_stopping_epoch(np.array([1.0, 1.0, 1.0, 1.0]), window=2) == (1, 1.0)
    assert early_stopping_epoch(np.array([0.2, 0.4, 0.6]), window=10) == (2, pytest.approx(0.4))
    with pytest.raises(ValueError, match="undefined"):
        early_stopping_epoch(np.full(20, np.nan), window=10)


def grid_rows(*rows):
    frame = pd.DataFrame(rows)
    frame["config_id"] = range(len(frame))
    frame["phase"] = "grid"
    return frame


def test_selection_tie_break_more_layers_then_lower_lr_then_higher_dropout():
    base = {"status": "ok", "val_metric": 0.9}
    rows = grid_rows(
        {**base, "depth": 2, "lr": 0.01, "dropout": 0.5},
        {**base, "depth": 8, "lr": 0.1, "dropout": 0.0},
        {**base, "depth": 8, "lr": 0.01, "dropout": 0.0},
        {**base, "depth": 8, "lr": 0.01, "dropout": 0.05},
        {**base, "depth": 8, "lr": 0.01, "dropout": 0.05},  # identical: the earlier in grid order
        {**base, "depth": 32, "lr": 0.01, "dropout": 0.5, "status": "diverged", "val_metric": float("nan")},
        {**base, "depth": 16, "lr": 1.0, "dropout": 0.0, "val_metric": 0.9 - 1e-12},  # equal to 9 decimals
    )
    assert select(rows)["config_id"] == 6  # more layers wins the tie
    rows.loc[6, "val_metric"] = 0.89
    assert select(rows)["config_id"] == 3  # then lower lr, then higher dropout, then grid order
    rows.loc[1, "val_metric"] = 0.95
    assert select(rows)["config_id"] == 1  # a higher validation metric beats every tie-breaker
    no_dropout = grid_rows({**base, "depth": 2, "lr": 0.1}, {**base, "depth": 2, "lr": 0.01})
    assert select(no_dropout)["config_id"] == 1
    assert select(grid_rows({**base, "depth": 2, "lr": 0.01, "status": "failed"})) is None


def test_other_tie_rules_grid_order_shallower_first_and_seeded_random():
    base = {"status": "ok", "val_metric": 0.9}
    rows = grid_rows({**base, "depth": 8, "lr": 0.1, "dropout": 0.0}, {**base, "depth": 2, "lr": 0.01, "dropout": 0.0},
                     {**base, "depth": 2, "lr": 0.1, "dropout": 0.0}, {**base, "depth": 32, "lr": 0.01, "dropout": 0.0},
                     {**base, "depth": 32, "lr": 0.01, "val_metric": 0.8})
    assert select(rows)["config_id"] == 3  # the paper's: more layers
    assert select(rows, tie_rule="grid_order")["config_id"] == 0
    assert select(rows, tie_rule="shallower")["config_id"] == 1  # fewer layers, then the lower lr
    drawn = {int(select(rows, tie_rule="random", seed=s)["config_id"]) for s in range(40)}
    assert drawn == {0, 1, 2, 3}  # every tied configuration can be drawn, the worse one never
    assert select(rows, tie_rule="random", seed=7)["config_id"] == select(rows, tie_rule="random", seed=7)["config_id"]
    assert "_random" not in select(rows, tie_rule="random").index
    with pytest.raises(ValueError, match="tie_rule must be one of"):
        select(rows, tie_rule="coin")
