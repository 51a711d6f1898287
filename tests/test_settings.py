"""The settings classes (snnbench.settings): unknown and bad values name the setting."""

from __future__ import annotations

import pytest

from snnbench.errors import ConfigError
from snnbench.settings import RobustnessSettings, StatsSettings, TrainSettings


def test_settings_reject_unknown_and_bad_values():
    with pytest.raises(ConfigError, match="unknown setting"):
        TrainSettings.from_dict({"epoch": 10})
    with pytest.raises(ConfigError, match="train.optimizer must be one of sgd, adam, however: optimizer='rmsprop'"):
        TrainSettings.from_dict({"optimizer": "rmsprop"})
    with pytest.raises(ConfigError, match="epochs must be a positive integer"):
        TrainSettings(epochs=0)


def test_stats_settings_name_the_setting():
    with pytest.raises(ConfigError,
                       match="stats.wilcoxon must be one of auto, r-default, exact-if-small, exact, asymptotic"):
        StatsSettings.from_dict({"wilcoxon": "permutation"})
    with pytest.raises(ConfigError, match=r"stats.alpha must be a number in \(0, 1\)"):
        StatsSettings.from_dict({"alpha": 5})
    with pytest.raises(ConfigError, match="unknown setting.*stats.null"):
        StatsSettings.from_dict({"null": "exact"})
    assert StatsSettings().against("SNN") == "SNN" and StatsSettings(reference="MSRAinit").against(None) == "MSRAinit"


def test_bad_robustness_settings_name_the_setting():
    with pytest.raises(ConfigError, match="robustness.rope must be a number in"):
        RobustnessSettings.from_dict({"rope": 2})
    with pytest.raises(ConfigError, match="unknown setting.*robustness.ropes"):
        RobustnessSettings.from_dict({"ropes": 0.1})
