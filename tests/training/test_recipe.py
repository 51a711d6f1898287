"""The training recipe shared by the engines: which epochs compute the test metric."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from snnbench.settings import TrainSettings
from snnbench.training.recipe import SelectableEpochs
from snnbench.training.selection import early_stopping_epoch, smooth


def test_test_epochs_always_include_the_epoch_early_stopping_chooses():
    rng = np.random.default_rng(0)
    settings = TrainSettings(smoothing_window=5)
    skipped = 0
    for trial in range(300):
        epochs = int(rng.integers(1, 40))
        curve = rng.integers(0, 6, epochs) / 5.0  # coarse values: many tied windows
        curve[rng.random(epochs) < 0.1] = np.nan  # undefined metrics (one-class AUC)
        tested = SelectableEpochs(settings, epochs)
        flags = [tested(0, list(curve[:e + 1])) for e in range(epochs)]
        assert flags[-1], "the last epoch is always tested (the refit reports it)"
        if np.all(np.isnan(smooth(curve, 5))):
            continue
        chosen, _ = early_stopping_epoch(curve, window=5)
        assert flags[chosen], (trial, curve.tolist(), chosen)
        skipped += flags.count(False)
    assert skipped > 1000  # of about 6,000 epochs: the saving is real
    assert not any(SelectableEpochs(settings, 40)(0, [0.5] * (e + 1)) for e in range(3))  # no window yet
    centered, every_epoch = replace(settings, smoothing_align="centered"), replace(settings, test_curve="every_epoch")
    assert all(SelectableEpochs(centered, 40)(0, [0.5] * (e + 1)) for e in range(3))
    assert all(SelectableEpochs(every_epoch, 40)(0, [0.5] * (e + 1)) for e in range(3))
