"""The run's grids (snnbench.pipeline.runs): the shipped grid file is the paper's, and a grid file
overrides one method on one benchmark."""

from __future__ import annotations

import json

import pytest

from helpers import REPO
from snnbench.errors import ConfigError
from snnbench.methods.paper import FAMILIES
from snnbench.pipeline.runs import check_shared_narrowing, default_grids, load_grids, narrowed_grid
from snnbench.reference import paper_grids
from snnbench.training.grids import expand, grid_size


def test_config_grids_are_the_papers():
    ours = load_grids(REPO / "config" / "grids.yaml")
    # the file overrides nothing: every method runs on the grid it (or its benchmark) declares
    assert ours == default_grids() == load_grids(None)
    assert all({*FAMILIES, "RF", "SVM"} <= set(ours[b]) for b in ours)
    paper = paper_grids()
    assert {b: {m: g for m, g in ours[b].items() if m in FAMILIES} for b in ours} == paper
    sizes = {m: grid_size(g) for m, g in ours["uci"].items()}
    assert sizes == {"SNN": 216, "MSRAinit": 216, "BatchNorm": 108, "WeightNorm": 108, "LayerNorm": 108,
                     "Highway": 36, "ResNet": 180, "RF": 10, "SVM": 110, "XGBoost": 9, "LightGBM": 12, "CatBoost": 9}
    # Tox21 declares smaller baseline grids (B3) over the methods' own
    assert {m: grid_size(ours["tox21"][m]) for m in ("RF", "SVM", "XGBoost")} == {"RF": 6, "SVM": 9, "XGBoost": 2}
    assert ours["htru2"]["RF"] == ours["uci"]["RF"]
    # whole values are integers, as the grid file held them: the seeds hash the JSON (F11)
    assert json.dumps(ours["uci"]["SVM"]["C"][3:5]) == "[2, 8]"
    assert json.dumps(ours["tox21"]["SVM"]["C"]) == "[1, 8, 64]"
    assert len(expand(ours["uci"]["SNN"])) == 216 and expand(ours["uci"]["SNN"])[0] == {
        "n_hidden": 1024, "n_layers": 2, "lr": 0.01, "dropout": 0.05, "layer_form": "rectangular"}


def test_a_grid_file_overrides_one_method_on_one_benchmark(tmp_path):
    path = tmp_path / "grids.yaml"
    path.write_text("uci:\n  SNN: {n_hidden: [64], n_layers: [2], lr: [0.1], dropout: [0], layer_form: [conic]}\n")
    grids = load_grids(path)
    assert grids["uci"]["SNN"] == {"n_hidden": [64], "n_layers": [2], "lr": [0.1], "dropout": [0],
                                   "layer_form": ["conic"]}
    default = default_grids()
    assert grids["tox21"]["SNN"] == default["tox21"]["SNN"] and grids["uci"]["RF"] == default["uci"]["RF"]
    path.write_text("# comments only\n")
    assert load_grids(path) == default
    path.write_text("uic: {}\n")
    with pytest.raises(ConfigError, match="unknown benchmark 'uic'"):
        load_grids(path)


def test_a_shared_narrowing_key_must_be_a_hyperparameter_of_some_method_of_the_run():
    """Issue 24 (4): train.narrow.<benchmark>."*" narrows every method that has the key; a key that
    none of the run's methods has is a typo (it narrowed nothing), named with the closest keys."""
    grids = default_grids()
    train = {"narrow": {"uci": {"*": {"n_layers": [2], "n_blocks": [2], "C": [8]}}}}
    check_shared_narrowing(train, grids, "uci", ["SNN", "ResNet", "SVM"])  # each key is some method's
    assert narrowed_grid(train, grids, "uci", "SNN")["n_layers"] == [2]
    assert narrowed_grid(train, grids, "uci", "ResNet")["n_blocks"] == [2]
    with pytest.raises(ConfigError, match=r'train\.narrow\.uci\."\*"\.n_blocks: no method of this run'):
        check_shared_narrowing(train, grids, "uci", ["SNN", "SVM"])  # ResNet's key, ResNet not run
    typo = {"narrow": {"uci": {"*": {"n_layer": [2]}}}}
    with pytest.raises(ConfigError, match=r"\(did you mean n_layers\?\).*\(SNN, RF\) have"):
        check_shared_narrowing(typo, grids, "uci", ["SNN", "RF"])
    check_shared_narrowing(typo, grids, "uci", [])  # nothing trains on the benchmark: nothing to narrow
    with pytest.raises(ConfigError, match=r"train\.narrow\.uci\.SNN\.n_layer: no such hyperparameter "
                                          r"\(did you mean n_layers\?\)"):
        narrowed_grid({"narrow": {"uci": {"SNN": {"n_layer": [2]}}}}, grids, "uci", "SNN")
