"""The batched engine against the reference engine, member by member, for every family.

Tolerance: the per-epoch training losses, validation and test metrics of a batched member
agree with the reference run of the same configuration and seed to within 1e-5 (absolute, plus
1e-5 relative for the training loss of a diverging run, which grows to 1e4 and beyond),
and the early-stopping epoch and status are identical. Both engines draw the same
initialisation, batch order and dropout masks; what differs is float summation order in the
batched matrix products (measured differences: at most 4e-7 over 15 epochs).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_engine import blobs
from test_tox21_tables import two_tasks

from snnbench import batched
from snnbench.batched import group_configs, train_group
from snnbench.engine import train_config
from snnbench.grid import run_grid, train_configs_batched
from snnbench.recipe import HOST_SYNCS, TaskTensors, config_seed
from snnbench.settings import TrainSettings

TOL = 1e-5
SETTINGS = TrainSettings(epochs=15, highway_width=32, engine="batched")
CPU = torch.device("cpu")

FAMILIES = {
    "SNN": [{"n_hidden": 32, "n_layers": 3, "lr": lr, "dropout": d, "layer_form": "conic"}
            for lr in (0.01, 0.1) for d in (0.0, 0.1)],
    "MSRAinit": [{"n_hidden": 32, "n_layers": 3, "lr": lr, "dropout": d, "layer_form": "rectangular"}
                 for lr in (0.01, 0.1) for d in (0.0, 0.5)],
    "BatchNorm": [{"n_hidden": 32, "n_layers": 3, "lr": lr, "layer_form": "rectangular"} for lr in (0.01, 0.1, 0.3)],
    "WeightNorm": [{"n_hidden": 32, "n_layers": 2, "lr": lr, "dropout": d, "layer_form": "rectangular"}
                   for lr in (0.01, 0.1) for d in (0.0, 0.5)],
    "LayerNorm": [{"n_hidden": 32, "n_layers": 2, "lr": lr, "dropout": d, "layer_form": "rectangular"}
                  for lr in (0.01, 0.1) for d in (0.0, 0.5)],
    "Highway": [{"n_layers": 2, "lr": lr, "dropout": d} for lr in (0.01, 0.1) for d in (0.0, 0.5)],
    "ResNet": [{"n_blocks": 2, "n_hidden_per_block": 32, "block_form": "diavolo", "bottleneck": 0.5, "lr": lr}
               for lr in (0.01, 0.1, 0.3)],
}


def assert_same(reference, batch, label=""):
    assert reference.status == batch.status, (label, reference.error, batch.error)
    for name in ("train_loss", "val", "test"):
        ours, theirs = getattr(batch.curves, name), getattr(reference.curves, name)
        assert len(ours) == len(theirs), (label, name)
        np.testing.assert_allclose(ours, theirs, atol=TOL, rtol=TOL if name == "train_loss" else 0,
                                   err_msg=f"{label} {name}")
    assert reference.best_epoch == batch.best_epoch, label
    if reference.status == "ok":
        assert batch.test_metric == pytest.approx(reference.test_metric, abs=TOL)


@pytest.mark.parametrize("method", list(FAMILIES))
def test_batched_members_match_reference_runs(method):
    torch.set_num_threads(1)
    data = TaskTensors(blobs(), CPU)
    configs = FAMILIES[method]
    seeds = [config_seed(0, "blobs", method, c) for c in configs]
    group = train_group(method, configs, seeds, data, settings=SETTINGS, device=CPU)
    for config, seed, result in zip(configs, seeds, group):
        assert result.engine == "batched"
        assert_same(train_config(method, config, data, settings=SETTINGS, seed=seed, device=CPU), result, str(config))


def test_a_diverging_member_does_not_disturb_the_others():
    torch.set_num_threads(1)
    data = TaskTensors(blobs(), CPU)
    configs = [{"n_hidden": 32, "n_layers": 4, "lr": lr, "dropout": 0.1, "layer_form": "rectangular"}
               for lr in (0.05, 50.0, 0.01)]
    seeds = [11, 12, 13]
    together = train_group("SNN", configs, seeds, data, settings=SETTINGS, device=CPU)
    assert [r.status for r in together] == ["ok", "diverged", "ok"]
    assert "training loss became" in together[1].error
    alone = train_group("SNN", configs[::2], seeds[::2], data, settings=SETTINGS, device=CPU)
    for a, b in zip(alone, together[::2]):
        np.testing.assert_array_equal(a.curves.val, b.curves.val)  # exactly: members never mix
    assert_same(train_config("SNN", configs[1], data, settings=SETTINGS, seed=12, device=CPU), together[1])


def test_multitask_members_with_l2_match_reference_runs():
    torch.set_num_threads(1)
    data = TaskTensors(two_tasks(), CPU)
    configs = [{"n_hidden": 32, "n_layers": 2, "lr": lr, "dropout": 0.05, "layer_form": "rectangular", "l2": l2}
               for lr in (0.01, 0.1) for l2 in (1e-3, 1e-5)]
    seeds = [1, 2, 3, 4]
    group = train_group("SNN", configs, seeds, data, settings=SETTINGS, device=CPU)
    for config, seed, result in zip(configs, seeds, group):
        reference = train_config("SNN", config, data, settings=SETTINGS, seed=seed, device=CPU)
        assert_same(reference, result, str(config))
        np.testing.assert_allclose(result.test_per_task, reference.test_per_task, atol=TOL)


@pytest.mark.parametrize("optimizer,momentum", [("sgd", 0.9), ("adam", 0.0)])
def test_optimisers_match_torch_optim(optimizer, momentum):
    torch.set_num_threads(1)
    settings = TrainSettings(epochs=8, optimizer=optimizer, momentum=momentum, engine="batched")
    data = TaskTensors(blobs(), CPU)
    configs = [{"n_hidden": 16, "n_layers": 2, "lr": lr, "layer_form": "rectangular"} for lr in (0.001, 0.01)]
    group = train_group("BatchNorm", configs, [5, 6], data, settings=settings, device=CPU)
    for config, seed, result in zip(configs, [5, 6], group):
        assert_same(train_config("BatchNorm", config, data, settings=settings, seed=seed, device=CPU), result)


def test_grouping_splitting_and_out_of_memory_retry(monkeypatch, caplog):
    configs = [{"n_hidden": 16, "n_layers": d, "lr": lr, "dropout": 0.0, "layer_form": "rectangular"}
               for d in (2, 3) for lr in (0.01, 0.02, 0.05, 0.1)]
    assert group_configs(configs) == [[0, 1, 2, 3], [4, 5, 6, 7]]
    with_dropout = [{**configs[0], "dropout": p} for p in (0.0, 0.5, 0.1, 0.0)]
    assert group_configs(with_dropout) == [[0, 1, 2, 3]]  # one group per architecture
    data = TaskTensors(blobs(), CPU)
    settings = TrainSettings(epochs=3, engine="batched")
    seeds = list(range(8))
    sizes = []
    real = batched.train_group

    def limited(method, chunk, *args, **kwargs):  # "device memory" for two members at most
        sizes.append(len(chunk))
        if len(chunk) > 2:
            raise torch.OutOfMemoryError("simulated: CUDA out of memory")
        return real(method, chunk, *args, **kwargs)

    monkeypatch.setattr(batched, "train_group", limited)
    results = train_configs_batched("MSRAinit", configs, seeds, data, settings=settings, device=CPU, max_members=4)
    assert sizes == [4, 2, 2, 4, 2, 2]  # per group: halved once, then kept
    assert "retrying with 2" in caplog.text
    for config, seed, result in zip(configs, seeds, results):
        assert_same(train_config("MSRAinit", config, data, settings=settings, seed=seed, device=CPU), result)


def test_a_failing_group_falls_back_to_the_reference_engine(monkeypatch):
    data = TaskTensors(blobs(), CPU)
    settings = TrainSettings(epochs=3, engine="batched")
    configs = [{"n_hidden": 16, "n_layers": 2, "lr": lr, "dropout": 0.0, "layer_form": "rectangular"} for lr in (0.01, 0.1)]

    def broken(*args, **kwargs):
        raise RuntimeError("simulated kernel failure")

    monkeypatch.setattr(batched, "train_group", broken)
    results = train_configs_batched("SNN", configs, [1, 2], data, settings=settings, device=CPU)
    assert [r.engine for r in results] == ["reference", "reference"] and all(r.status == "ok" for r in results)


def test_run_grid_gives_the_same_table_with_either_engine():
    task = blobs()
    configs = FAMILIES["SNN"] + [{"n_hidden": 32, "n_layers": 2, "lr": 0.1, "dropout": 0.0, "layer_form": "rectangular"}]
    tables = {}
    for engine in ("reference", "batched"):
        settings = TrainSettings(epochs=12, engine=engine)
        tables[engine], _ = run_grid(task, benchmark="uci", dataset="blobs", method="SNN", split=0, configs=configs,
                                     settings=settings, threads=1, progress=False)
    ref, bat = tables["reference"], tables["batched"]
    assert list(bat["config_id"]) == list(range(len(configs))) and set(bat["engine"]) == {"batched"}
    assert list(ref["status"]) == list(bat["status"]) and list(ref["best_epoch"]) == list(bat["best_epoch"])
    np.testing.assert_allclose(bat["val_metric"], ref["val_metric"], atol=TOL)
    np.testing.assert_allclose(bat["test_metric"], ref["test_metric"], atol=TOL)
    auto, _ = run_grid(task, benchmark="uci", dataset="blobs", method="SNN", split=0, configs=configs[:1],
                       settings=TrainSettings(epochs=2), threads=1, progress=False)
    assert list(auto["engine"]) == ["reference"]  # auto: batched on CUDA only
