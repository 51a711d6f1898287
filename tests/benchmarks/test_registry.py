"""Benchmarks as registered units: every registered benchmark declares what the pipeline needs,
consistently with the sources, the config and the methods' grids."""

from __future__ import annotations

import pytest
import yaml

from helpers import REPO
from snnbench import benchmarks, methods
from snnbench.benchmarks import SOURCES
from snnbench.pipeline.runs import get_grid, load_grids
from snnbench.training.task import METRICS

CONFIG = yaml.safe_load((REPO / "config" / "config.yaml").read_text())


@pytest.mark.parametrize("name", benchmarks.BENCHMARKS)
def test_every_benchmark_declares_what_the_pipeline_needs(name):
    spec = benchmarks.get(name)
    assert spec.sources and all(SOURCES[s.name] is s for s in spec.sources)
    assert all(s.package == spec.__module__ for s in spec.sources)  # its manifests sit in its folder
    assert all(s.manifest for s in spec.sources)
    assert spec.metric in METRICS.values()
    names = spec.dataset_names()
    assert names and set(spec.run_datasets(CONFIG)) <= set(names)
    assert spec.run_splits(CONFIG, "SNN") and spec.run_splits(CONFIG, "RF")
    assert set(spec.prepare_options(CONFIG)) <= set(spec.prepare_defaults)
    grids = load_grids(REPO / CONFIG["train"]["grids"])
    for method in (*CONFIG["train"]["methods"], *CONFIG["train"]["baselines"]):
        assert get_grid(grids, name, method), (name, method)
    published = spec.published_rows(list(spec.run_datasets(CONFIG))[:3])
    assert published.empty or set(published["source"]) == {"published"}


def test_an_unknown_benchmark_names_the_setting_and_the_known_ones():
    with pytest.raises(Exception,
                       match=r"unknown benchmark 'mnist' in benchmarks; the benchmarks are uci, tox21, htru2"):
        benchmarks.get("mnist")
    assert methods.names("torch")  # the registries load side by side
