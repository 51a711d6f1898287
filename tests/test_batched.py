"""The batched engine against the reference engine, member by member, for every family.

Tolerance: the per-epoch training losses, validation and test metrics of a batched member
agree with the reference run of the same configuration and seed to within 1e-5 (absolute, plus
1e-5 relative for the training loss of a diverging run, which grows to 1e4 and beyond),
and the early-stopping epoch and status are identical. Both engines draw the same
initialisation, batch order and dropout masks; what differs is float summation order in the
batched matrix products (measured differences: at most 4e-7 over 15 epochs).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from test_engine import blobs
from test_tox21_tables import two_tasks
from torch.utils._python_dispatch import TorchDispatchMode

from snnbench import batched, stacked
from snnbench.batched import group_configs, train_group
from snnbench.engine import train_config
from snnbench.grid import run_grid, train_configs_batched
from snnbench.metrics import evaluate
from snnbench.models import layer_widths
from snnbench import recipe
from snnbench.grids import config_seed
from snnbench.recipe import HOST_SYNCS, DeviceMetrics, TaskTensors
from snnbench.settings import TrainSettings
from snnbench.tasks import Task

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


# window 1: every member is tested after epoch 1, before the diverging one diverges, and the
# test metrics read with the next epoch's transfer belong to a member that is gone by then
@pytest.mark.parametrize("window", [10, 1])
def test_a_diverging_member_does_not_disturb_the_others(window):
    torch.set_num_threads(1)
    settings = replace(SETTINGS, smoothing_window=window)
    data = TaskTensors(blobs(), CPU)
    configs = [{"n_hidden": 32, "n_layers": 4, "lr": lr, "dropout": 0.1, "layer_form": "rectangular"}
               for lr in (0.05, 50.0, 0.01)]
    seeds = [11, 12, 13]
    together = train_group("SNN", configs, seeds, data, settings=settings, device=CPU)
    assert [r.status for r in together] == ["ok", "diverged", "ok"]
    assert "training loss became" in together[1].error
    if window == 1:
        assert np.isfinite(together[1].curves.test[0]) and len(together[1].curves.test) >= 1
    alone = train_group("SNN", configs[::2], seeds[::2], data, settings=settings, device=CPU)
    for a, b in zip(alone, together[::2]):
        np.testing.assert_array_equal(a.curves.val, b.curves.val)  # exactly: members never mix
        np.testing.assert_array_equal(a.curves.test, b.curves.test)
    assert_same(train_config("SNN", configs[1], data, settings=settings, seed=12, device=CPU), together[1])
    for config, seed, result in zip(configs[::2], seeds[::2], together[::2]):
        assert_same(train_config("SNN", config, data, settings=settings, seed=seed, device=CPU), result, str(config))


@pytest.mark.parametrize("window", [10, 3])
def test_multitask_members_with_l2_match_reference_runs(window):
    torch.set_num_threads(1)
    settings = replace(SETTINGS, smoothing_window=window)
    data = TaskTensors(two_tasks(), CPU)
    configs = [{"n_hidden": 32, "n_layers": 2, "lr": lr, "dropout": 0.05, "layer_form": "rectangular", "l2": l2}
               for lr in (0.01, 0.1) for l2 in (1e-3, 1e-5)]
    seeds = [1, 2, 3, 4]
    group = train_group("SNN", configs, seeds, data, settings=settings, device=CPU)
    for config, seed, result in zip(configs, seeds, group):
        reference = train_config("SNN", config, data, settings=settings, seed=seed, device=CPU)
        assert_same(reference, result, str(config))
        np.testing.assert_allclose(result.test_per_task, reference.test_per_task, atol=TOL)
        assert [t is None for t in result.test_task_curves] == list(np.isnan(result.curves.test))


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


def test_masks_and_batch_orders_drawn_ahead_match_reference_runs(monkeypatch):
    """Masks for a chunk of steps in one pass: chunks of 2 steps over epochs of 3 steps (a chunk
    straddles no epoch, the counter carries on) give the reference's masks; batch orders drawn
    3 epochs at a time give the reference's batches."""
    torch.set_num_threads(1)
    monkeypatch.setattr(batched.EpochOrders, "BUDGET", 3 * 4 * 144)
    widths = layer_widths(n_hidden=32, n_layers=3, n_out=3, layer_form="conic")
    monkeypatch.setattr(stacked.Masks, "BUDGET", 2 * 4 * 60 * sum(widths))  # 2 steps of 4 members
    settings = TrainSettings(epochs=4, batch_size=60, engine="batched")
    data = TaskTensors(blobs(), CPU)
    configs = [{"n_hidden": 32, "n_layers": 3, "lr": lr, "dropout": d, "layer_form": "conic"}
               for lr in (0.01, 0.1) for d in (0.0, 0.2)]
    seeds = [3, 4, 5, 6]
    chunks = []
    draw = stacked.Masks.draw
    monkeypatch.setattr(stacked.Masks, "draw", lambda self, first, steps: chunks.append((first, steps)) or draw(self, first, steps))
    group = train_group("SNN", configs, seeds, data, settings=settings, device=CPU)
    assert chunks[:3] == [(0, 2), (2, 1), (3, 2)]  # 144 rows: 3 steps an epoch
    for config, seed, result in zip(configs, seeds, group):
        assert_same(train_config("SNN", config, data, settings=settings, seed=seed, device=CPU), result, str(config))


def test_device_metrics_match_the_host_metrics():
    """Accuracy, ROC-AUC with tied scores, and the multitask mean AUC with missing labels and a
    one-class task, computed on the device for every member, equal metrics.py's."""
    rng = np.random.default_rng(1)
    multiclass = blobs()
    logits = rng.normal(size=(4, len(multiclass.y["test"]), 3)).round(1).astype(np.float32)  # ties
    value, per_task = DeviceMetrics(multiclass, "test", CPU)(torch.as_tensor(logits))
    assert per_task is None
    np.testing.assert_allclose(value.numpy(), [evaluate("accuracy", multiclass.y["test"], lg) for lg in logits])
    binary = Task(kind="binary", n_out=1, X=multiclass.X,
                  y={k: (v == 1).astype(np.float32)[:, None] for k, v in multiclass.y.items()})
    for width in (1, 2):
        logits = rng.normal(size=(3, len(binary.y["test"]), width)).round(1).astype(np.float32)
        logits[2, 0, 0] = np.inf  # a non-finite score: NaN, as on the host
        value, _ = DeviceMetrics(binary, "test", CPU)(torch.as_tensor(logits))
        np.testing.assert_allclose(value.numpy(), [evaluate("roc_auc", binary.y["test"], lg) for lg in logits], atol=1e-12)
        assert torch.isnan(value[2])
    multitask = two_tasks()
    logits = rng.normal(size=(3, len(multitask.y["test"]), 3)).round(1).astype(np.float32)
    value, per_task = DeviceMetrics(multitask, "test", CPU)(torch.as_tensor(logits))
    for k, lg in enumerate(logits):
        host_value, host_tasks = recipe.test_metrics(multitask, lg)
        np.testing.assert_allclose(per_task[k].numpy(), host_tasks, atol=1e-12)
        assert value[k].item() == pytest.approx(host_value, abs=1e-12)
    one_class = Task(kind="multitask", n_out=3, X=multitask.X, y={**multitask.y, "test": np.ones_like(multitask.y["test"])})
    value, per_task = DeviceMetrics(one_class, "test", CPU)(torch.as_tensor(logits))
    assert torch.isnan(value).all() and torch.isnan(per_task).all()


class _Dispatched(TorchDispatchMode):
    """Counts the aten ops that would launch a device kernel, and those that make the host wait."""

    SYNCS = ("aten._local_scalar_dense", "aten.item", "aten.nonzero", "aten.is_nonzero")

    def __init__(self):
        super().__init__()
        self.kernels, self.syncs = 0, []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = str(func)
        if name.startswith(self.SYNCS):
            self.syncs.append(name)
        if not getattr(func, "is_view", False) and not name.startswith(VIEW_LIKE):
            self.kernels += 1
        return func(*args, **(kwargs or {}))


VIEW_LIKE = ("aten.detach", "aten.alias", "aten.lift_fresh", "aten._unsafe_view", "aten.empty", "aten.new_empty",
             "aten._reshape_alias", "aten.view", "aten.expand", "aten.t.", "aten.transpose", "aten.permute",
             "aten.unsqueeze", "aten.squeeze", "aten.select.", "aten.slice.", "aten.as_strided", "aten.unbind",
             "aten.split", "aten.reshape", "prim.")


def test_training_steps_launch_few_kernels_and_never_wait_for_the_device(monkeypatch):
    """Inside an epoch (training steps and the evaluation) no op makes the host wait; the host
    reads the device once per epoch; an 8-layer SNN group of 6 launches at most 20 kernels per
    configuration-step (the engine's figure on titanic is 28.5 with its divergences and
    evaluation: benchmarks/gpu_projection.py)."""
    torch.set_num_threads(1)
    counter = _Dispatched()
    step, logits = batched.Trainer.step, batched.Trainer.logits

    def counted_step(self, *args):
        with counter:
            return step(self, *args)

    def counted_logits(self, *args):
        with counter:
            return logits(self, *args)

    monkeypatch.setattr(batched.Trainer, "step", counted_step)
    data = TaskTensors(blobs(n=600), CPU)
    configs = [{"n_hidden": 16, "n_layers": 8, "lr": lr, "dropout": d, "layer_form": "rectangular"}
               for lr in (0.001, 0.002, 0.005) for d in (0.0, 0.05)]
    settings = TrainSettings(epochs=3, engine="batched")
    before = HOST_SYNCS.count
    results = train_group("SNN", configs, list(range(6)), data, settings=settings, device=CPU)
    assert all(r.status == "ok" for r in results)
    assert HOST_SYNCS.count - before == 3  # one transfer per epoch
    steps = 3 * -(-360 // 128)
    assert counter.syncs == [] and counter.kernels / (6 * steps) <= 20, counter.kernels / (6 * steps)
    monkeypatch.setattr(batched.Trainer, "logits", counted_logits)
    train_group("SNN", configs, list(range(6)), data, settings=settings, device=CPU)
    assert counter.syncs == []


def test_a_step_is_a_function_of_its_inputs_only():
    """What a CUDA graph replays: the step reads its batch and masks from the tensors it is given
    (copied into the graph's inputs before each replay), so running it on copies of them, as a
    replay does, trains exactly as the eager loop does."""
    torch.set_num_threads(1)
    data = TaskTensors(blobs(), CPU)
    configs = [{"n_hidden": 16, "n_layers": 3, "lr": lr, "dropout": d, "layer_form": "rectangular"}
               for d in (0.1, 0.0) for lr in (0.01, 0.1)]  # members with dropout first, as train_group orders them
    settings = TrainSettings(epochs=1, batch_size=32)
    trainers = [batched.build_trainer("SNN", configs, list(range(4)), data, settings=settings, device=CPU)[0]
                for _ in range(2)]
    drawn = trainers[0].masks.draw(0, 3)
    static_idx = torch.zeros(4, 32, dtype=torch.int64)
    static_masks = tuple(torch.empty_like(m[0]) for m in drawn)
    generator = torch.Generator().manual_seed(0)
    for s in range(3):
        idx = torch.stack([torch.randperm(len(trainers[0].X), generator=generator)[:32] for _ in configs])
        masks = tuple(m[s] for m in drawn)
        trainers[0].step(idx, masks)
        static_idx.copy_(idx)
        for static, m in zip(static_masks, masks):
            static.copy_(m)
        trainers[1].step(static_idx, static_masks)
    for a, b in zip(trainers[0].params, trainers[1].params):
        assert torch.equal(a, b)
