"""The config's settings are declared once: the workflow schema, the settings classes, config.yaml
and config/README.md agree on every key, default and allowed value of the train and stats sections."""

from __future__ import annotations

from dataclasses import fields

import pytest
import yaml

from helpers import REPO
from snnbench import settings as settings_module
from snnbench.settings import RobustnessSettings, StatsSettings, TrainSettings

SCHEMA = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
CONFIG = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
README = (REPO / "config" / "README.md").read_text()

# Workflow-only keys of the train section (what jobs run, where, with which resources): the
# rules read them, no training job does; and the one setting the workflow derives for a job.
WORKFLOW_ONLY = {"methods", "baselines", "custom_methods", "grids", "narrow", "uci_splits", "htru2_folds",
                 "tox21_repeats", "subsample", "mem_mb", "threads", "gpus", "jobs_per_gpu"}
DERIVED = {"max_train_rows": "train.subsample"}
# Settings whose allowed values the classes hold as tuples: (field, tuple in snnbench.settings).
CHOICES = {TrainSettings: {"engine": "ENGINES", "cuda_graphs": "CUDA_GRAPHS", "optimizer": "OPTIMIZERS",
                           "loss": "LOSSES", "test_curve": "TEST_CURVES"},
           StatsSettings: {"wilcoxon": "WILCOXON_METHODS", "missing": "MISSING_RULES", "compare_with": "COMPARE_WITH"},
           RobustnessSettings: {}}


@pytest.mark.parametrize("section,cls", [("train", TrainSettings), ("stats", StatsSettings),
                                         ("robustness", RobustnessSettings)])
def test_schema_settings_config_and_readme_agree(section, cls):
    schema = SCHEMA["properties"][section]["properties"]
    declared = {f.name: list(f.default) if isinstance(f.default, tuple) else f.default for f in fields(cls)}
    extra = WORKFLOW_ONLY if section == "train" else set()
    assert set(schema) == (set(declared) - set(DERIVED)) | extra
    for name, default in declared.items():
        if name in DERIVED:
            continue
        assert schema[name].get("default") == default, f"{section}.{name}: schema and {cls.__name__} defaults differ"
        allowed = CHOICES[cls].get(name)
        if allowed:
            values = {v for v in schema[name]["enum"] if v is not False}  # YAML's unquoted off
            assert values == set(getattr(settings_module, allowed)), f"{section}.{name}: allowed values differ"
    assert set(CONFIG[section]) == set(schema), f"config/config.yaml's {section} section lists every key"
    undocumented = [k for k in schema if f"`{section}.{k}`" not in README]
    assert not undocumented, f"config/README.md documents no {undocumented}"
    for name, default in CONFIG[section].items():
        if name in declared:
            assert default == declared[name], f"config/config.yaml's {section}.{name} is not the default"


def test_one_list_of_benchmarks():
    from snnbench import benchmarks
    from snnbench.benchmarks import BENCHMARK_SOURCES, BENCHMARKS

    schema = SCHEMA["properties"]["benchmarks"]
    assert "enum" not in schema["items"]  # the registry is the list (snnbench.benchmarks.MODULES)
    assert list(BENCHMARKS) == list(benchmarks.MODULES) and schema["default"] == CONFIG["benchmarks"]
    assert set(CONFIG["benchmarks"]) <= set(BENCHMARKS)
    assert set(BENCHMARK_SOURCES) == set(BENCHMARKS)
