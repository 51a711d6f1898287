"""The batched engine: the configurations of a job that share an architecture train as one
stacked network, and several such groups train at once.

Members of a group (configurations that differ only in learning rate, L2 and dropout rate, and
in their seeds) are stacked into explicit stacked layers (``stacked.py``): every layer is one
batched matrix product for the whole group. Their weights are drawn once, straight into the
stacked layout, from each member's own generator: the reference engine's initialisation
(protocol M7). Per member, as the recipe says: its batch order (drawn epochs ahead), learning
rate, L2 and dropout rate, its dropout masks (``stacked.Masks``, the reference's masks bit for
bit), BatchNorm statistics, optimiser state, early-stopping epoch and divergence (a member whose
epoch loss is not finite is recorded and removed; the others go on).

An epoch is a fixed sequence of regions (``capture.Region``) on static tensors: every full-batch
training step (gather the batch from the epoch's orders by a device-side step counter, the
dropout masks from a device-side call counter, forward, ``autograd.grad``, the optimiser update
as ``_foreach`` kernels, the loss added to a device accumulator), the last, partial batch's step,
every ``Masks.chunk`` steps a draw of the next steps' masks, and the validation evaluation; the
test evaluation after the epochs at which some member's test metric can be chosen
(``recipe.SelectableEpochs``) and after the last. On CUDA each region is captured once as a CUDA
graph and replayed (``train.cuda_graphs: auto``); outside the regions an epoch has only the copy
of its batch orders and one device-to-host transfer of its losses and metrics, the one time the
host waits for the group's device work.

``train_groups`` keeps ``train.streams`` groups in flight, each on its own CUDA stream with its
own graphs and memory pool (``capture.GraphSpace``), stepped round-robin by this one host thread:
it launches every group's epoch, then in turn reads each group's transfer (while the others'
epochs run on the device) and launches that group's next epoch. On a CPU the same schedule runs,
in the same order.
"""

from __future__ import annotations

import logging
import math
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import torch
from torch import nn

from snnbench.methods import build_model
from snnbench.methods.models import seed_dropout, undrawn
from snnbench.settings import TrainSettings
from snnbench.training.capture import GraphSpace, Region
from snnbench.training.recipe import (
    HOST_SYNCS,
    BatchOrder,
    ConfigResult,
    Curves,
    DeviceMetrics,
    SelectableEpochs,
    TaskTensors,
    accumulate,
    batches,
    decayed,
    divergence,
    finished,
    loss_function,
    trains_on,
)
from snnbench.training.stacked import Masks, StackedDropout, draw_initial, stack

log = logging.getLogger("snnbench.train")

GROUPED_OUT = ("lr", "l2", "dropout")  # hyperparameters that members of one group may differ in


def group_key(config: dict[str, Any]) -> tuple:
    """Configurations with the same key have the same architecture (shapes and module types)."""
    return tuple(sorted((k, v) for k, v in config.items() if k not in GROUPED_OUT))


def group_configs(configs: list[dict[str, Any]]) -> list[list[int]]:
    """Indices of ``configs`` grouped by architecture, groups in order of first appearance."""
    groups: dict[tuple, list[int]] = {}
    for i, config in enumerate(configs):
        groups.setdefault(group_key(config), []).append(i)
    return list(groups.values())


def _per_member(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """(k,) values as a view that broadcasts against ``like`` (k, ...)."""
    return values.view(-1, *([1] * (like.ndim - 1)))


class StackedOptimizer:
    """One optimiser step for every member, written as torch.optim.SGD / Adam compute it, as a
    few ``_foreach`` kernels over all stacked parameters. SGD receives each member's gradient
    already multiplied by its learning rate (``Trainer.upstream``), so its update is one
    subtraction and needs no per-member learning-rate tensors; L2 is per member, held as tensors
    of each decayed parameter's shape (lr x l2 for SGD; so a CUDA ``_foreach`` kernel takes them in
    one launch), only where some member has L2. Adam's step count is a device tensor."""

    def __init__(self, params: list[torch.Tensor], lr: list[float], decay: list[float], settings: TrainSettings,
                 device: torch.device) -> None:
        self.settings = settings
        self.params = params
        self.sgd = settings.optimizer == "sgd"
        any_decay = max(decay) > 0
        lr, decay = torch.tensor(lr, device=device), torch.tensor(decay, device=device)
        self.lr64 = lr.double()  # Adam's step size lr / (1 - b1^t), in double as torch.optim computes it
        self.decayed = [i for i, p in enumerate(params) if decayed(p.shape[1:])] if any_decay else []
        per_member = lr * decay if self.sgd else decay  # SGD's gradients arrive multiplied by lr
        self.decay = [_per_member(per_member, params[i]).expand_as(params[i]).contiguous() for i in self.decayed]
        self.state: dict[str, list[torch.Tensor]] = {}
        self.steps = torch.zeros((), dtype=torch.float64, device=device)

    def keep(self, rows: torch.Tensor, params: list[torch.Tensor]) -> None:
        """Keep the members at ``rows`` (after ``params`` were cut the same way)."""
        self.params = params
        self.lr64 = self.lr64[rows]
        self.decay = [t[rows] for t in self.decay]
        self.state = {k: [t[rows] for t in v] for k, v in self.state.items()}

    @torch.no_grad()
    def step(self, grads: tuple[torch.Tensor, ...]) -> None:
        settings, params = self.settings, self.params
        grads = list(grads)
        if self.decayed:  # the gradient of (l2 / 2) * ||W||^2
            with_decay = torch._foreach_addcmul([grads[i] for i in self.decayed], [params[i] for i in self.decayed],
                                                self.decay)
            for i, g in zip(self.decayed, with_decay):
                grads[i] = g
        if settings.optimizer == "sgd":
            if settings.momentum > 0:
                if "momentum" not in self.state:
                    self.state["momentum"] = torch._foreach_mul(grads, 1.0)
                else:
                    torch._foreach_mul_(self.state["momentum"], settings.momentum)
                    torch._foreach_add_(self.state["momentum"], grads)
                grads = self.state["momentum"]
            torch._foreach_sub_(params, grads)
            return
        b1, b2, eps = 0.9, 0.999, 1e-8  # torch.optim.Adam's defaults
        if "exp_avg" not in self.state:
            self.state["exp_avg"] = [torch.zeros_like(p) for p in params]
            self.state["exp_avg_sq"] = [torch.zeros_like(p) for p in params]
        m, v = self.state["exp_avg"], self.state["exp_avg_sq"]
        self.steps.add_(1)
        torch._foreach_lerp_(m, grads, 1 - b1)
        torch._foreach_mul_(v, b2)
        torch._foreach_addcmul_(v, grads, grads, value=1 - b2)
        step_size = (self.lr64 / (1 - torch.pow(b1, self.steps))).float()
        correction2 = (1 - torch.pow(b2, self.steps)).sqrt().float()
        denom = torch._foreach_sqrt(v)
        torch._foreach_div_(denom, correction2)
        torch._foreach_add_(denom, eps)
        ratio = torch._foreach_div(m, denom)
        sizes = [_per_member(step_size, p).expand_as(p) for p in params]
        torch._foreach_addcmul_(params, ratio, sizes, value=-1.0)


class Trainer:
    """A stacked group's training state and the work of its epochs as regions (``capture``)."""

    def __init__(self, method: str, net: nn.Module, configs: list[dict[str, Any]], data: TaskTensors, *,
                 settings: TrainSettings, device: torch.device, space: GraphSpace) -> None:
        self.settings, self.device, self.space, self.data = settings, device, space, data
        self.net = net
        self.net.train()
        self.sgd = settings.optimizer == "sgd"
        lr = [float(c["lr"]) for c in configs]
        decay = [float(c.get("l2", 0.0)) + settings.weight_decay for c in configs]
        self.params = list(self.net.parameters())
        self.optimizer = StackedOptimizer(self.params, lr, decay, settings, device)
        self.loss_fn = loss_function(data.task, settings.loss)
        self.metrics = {part: DeviceMetrics(data.task, part, device) for part in ("validation", "test")}
        self.X, self.y = data.X["train"], data.y["train"]
        n, b = len(self.X), settings.batch_size
        self.n = n
        # NOTE: SGD takes each member's learning rate as the upstream gradient of its loss, so the
        # backward pass yields lr x gradient and the update is p - that (docs/protocol.md F14).
        self.upstream = torch.tensor(lr, device=device) if self.sgd else torch.ones(len(configs), device=device)
        self.total = torch.zeros(len(configs), device=device)
        self.calls = torch.zeros((), dtype=torch.int64, device=device)  # training steps taken (masks' counter)
        self.step_at = torch.zeros((), dtype=torch.int64, device=device)  # full steps taken this epoch
        self.columns = torch.arange(min(b, n), device=device)
        spans = batches(n, b)
        self.full_steps = sum(1 for i, j in spans if j - i == b)
        last = spans[-1]
        self.partial = last if last[1] - last[0] < b and trains_on(method, last[1] - last[0]) else None
        self.steps = self.full_steps + (self.partial is not None)
        self.masks = self._masks([m for m in self.net.modules() if isinstance(m, StackedDropout)])
        self._buffers(len(configs))

    def _buffers(self, k: int) -> None:
        """The static tensors the regions read and write, and the regions, for ``k`` members."""
        device, space = self.device, self.space
        self.k = k
        self.perm = torch.zeros(k, self.n, dtype=torch.int64, device=device)  # this epoch's batch orders
        tasks = self.data.task.n_out if self.data.task.kind == "multitask" else 0
        self.test_width = k * (1 + tasks)
        # total and validation metric (k each), then two test slots (k + k x tasks each): one for
        # the test evaluated after the previous epoch, one for the last epoch's own
        self.record = torch.zeros(2 * k + 2 * self.test_width, dtype=torch.float64, device=device)
        self.test_out = torch.zeros(self.test_width, dtype=torch.float64, device=device)
        self.host = (torch.empty(self.record.shape, dtype=torch.float64, pin_memory=True)
                     if device.type == "cuda" else None)
        self.sent: torch.cuda.Event | None = None
        self.regions = {"full": Region(space, "full-batch step", self._full_step),
                        "validation": Region(space, "validation", self._validate),
                        "test": Region(space, "test evaluation", self._test)}
        if self.partial is not None:
            self.regions["partial"] = Region(space, "last batch's step", self._partial_step)
        if self.masks.active and self.masks.chunk > 1:
            self.regions["masks"] = Region(space, "dropout masks", lambda: self.masks.draw(self.calls))

    def _masks(self, layers: list[StackedDropout]) -> Masks:
        """The dropout layers' masks, sized for this data: no more rows than a batch can have,
        no more steps at a time than an epoch has."""
        masks = Masks(layers, batch=min(self.settings.batch_size, self.n), device=self.device)
        if masks.active:
            masks.bind(self._dropout_widths(), steps=self.steps)
        return masks

    def _dropout_widths(self) -> list[int]:
        """Each dropout layer's width, from a forward pass in evaluation mode (no statistics move)."""
        widths: list[int] = []
        hooks = [m.register_forward_hook(lambda mod, inp, out: widths.append(out.shape[-1]))
                 for m in self.net.modules() if isinstance(m, StackedDropout)]
        try:
            self.logits(self.X[:1])
        finally:
            for hook in hooks:
                hook.remove()
        return widths

    # ------------------------------------------------------------------ the regions' bodies

    def train_step(self, idx: torch.Tensor) -> None:
        """One training step of every member on its batch ``idx`` (k, rows)."""
        if self.masks.active:
            if self.masks.chunk == 1:
                self.masks.draw(self.calls)
            else:
                self.masks.select(self.calls)
        losses = self.loss_fn(self.net(self.X[idx]), self.y[idx])
        grads = torch.autograd.grad(losses, self.params, grad_outputs=self.upstream)
        self.optimizer.step(grads)
        accumulate(self.total, losses, idx.shape[1])
        self.calls.add_(1)

    def _full_step(self) -> None:
        columns = torch.add(self.columns, self.step_at, alpha=self.settings.batch_size)
        self.train_step(self.perm.index_select(1, columns))
        self.step_at.add_(1)

    def _partial_step(self) -> None:
        i, j = self.partial
        self.train_step(self.perm[:, i:j])

    def _validate(self) -> None:
        """The epoch's validation metric and loss sum into the record; the epoch's counters reset."""
        k = self.k
        val, _ = self.metrics["validation"](self.logits(self.data.X["validation"]))
        self.record[:k].copy_(self.total)
        self.record[k:2 * k].copy_(val)
        self.total.zero_()
        self.step_at.zero_()

    def _test(self) -> None:
        test, aucs = self.metrics["test"](self.logits(self.data.X["test"]))
        self.test_out[:self.k].copy_(test)
        if aucs is not None:
            self.test_out[self.k:].copy_(aucs.flatten())

    # ------------------------------------------------------------------ the host's side

    def epoch(self, perm: torch.Tensor) -> None:
        """Launch one epoch: its steps and the validation (on the device, no wait)."""
        self.perm.copy_(perm)
        regions = self.regions
        for s in range(self.steps):
            if s % self.masks.chunk == 0 and "masks" in regions:
                regions["masks"]()
            regions["full" if s < self.full_steps else "partial"]()
        regions["validation"]()

    def test(self, slot: int) -> None:
        """Evaluate the test set now (the current weights) into the record's ``slot``."""
        self.regions["test"]()
        at = 2 * self.k + slot * self.test_width
        self.record[at:at + self.test_width].copy_(self.test_out)

    def send(self) -> None:
        """Start the record's transfer to the host."""
        if self.host is not None:
            self.host.copy_(self.record, non_blocking=True)
            self.sent = torch.cuda.Event()
            self.sent.record(self.space.stream)

    def receive(self) -> np.ndarray:
        """The record on the host: the one wait for the device per epoch."""
        HOST_SYNCS.count += 1
        if self.host is None:
            return self.record.numpy().copy()
        self.sent.synchronize()
        return self.host.numpy().copy()

    def keep(self, kept: np.ndarray) -> None:
        """Keep only the members at positions ``kept`` (drop diverged members); the regions are
        built anew (their graphs captured again)."""
        rows = torch.as_tensor(kept, device=self.device)
        for module in self.net.modules():
            for name, p in list(module._parameters.items()):
                module._parameters[name] = torch.nn.Parameter(p.detach()[rows])
            for name, b in list(module._buffers.items()):
                module._buffers[name] = b[rows]
            if isinstance(module, StackedDropout):
                module.rates = [module.rates[i] for i in kept]
                module.seeds = [module.seeds[i] for i in kept]
        self.params = list(self.net.parameters())
        self.optimizer.keep(rows, self.params)
        self.total, self.upstream = self.total[rows], self.upstream[rows]
        self.masks = self._masks(self.masks.layers)
        self._buffers(len(kept))

    @torch.no_grad()
    def logits(self, X: torch.Tensor) -> torch.Tensor:
        """Every member's logits (k, n, C) on ``X``, in evaluation mode."""
        self.net.eval()
        rows = max(1, self.settings.eval_batch_size)
        out = torch.cat([self.net(X[j:j + rows]) for j in range(0, len(X), rows)], dim=1)
        self.net.train()
        return out


def dropout_first(configs: list[dict[str, Any]]) -> list[int]:
    """Positions of ``configs``, those with dropout first (``stacked.Masks`` draws masks for those only)."""
    return sorted(range(len(configs)), key=lambda i: float(configs[i].get("dropout", 0.0)) == 0)


def build_stacked(method: str, configs: list[dict[str, Any]], seeds: list[int], data: TaskTensors,
                  settings: TrainSettings) -> nn.Module:
    """The group's stacked network on the CPU, every member initialised as the reference engine
    initialises its configuration: declared layers drawn straight into the stacked layout
    (``stacked.draw_initial``; the members' own modules never hold weights), a user's layers as
    its builder drew them under torch's generator seeded with the member's seed (protocol B5)."""
    members = []
    for config, seed in zip(configs, seeds):
        # the CPU's generator only (torch.manual_seed would reseed CUDA's too, from this thread
        # while another captures a graph: train_groups builds the next group in a thread)
        torch.default_generator.manual_seed(seed)
        with undrawn():
            model = build_model(method, n_in=data.task.n_in, n_out=data.task.n_out, config=config,
                                architecture=settings.architecture())
        members.append(seed_dropout(model, seed))
    return draw_initial(stack(members), seeds)


def stacked_network(method: str, configs: list[dict[str, Any]], seeds: list[int], data: TaskTensors,
                    settings: TrainSettings) -> tuple[nn.Module, list[int]]:
    """The group's stacked network on the CPU, its members in the order ``dropout_first`` gives
    (returned too: member position -> index into ``configs``). CPU work only: ``train_groups``
    runs it for the next group in a thread of its own while the groups in flight train."""
    order = dropout_first(configs)
    return build_stacked(method, [configs[i] for i in order], [seeds[i] for i in order], data, settings), order


def build_trainer(method: str, configs: list[dict[str, Any]], seeds: list[int], data: TaskTensors, *,
                  settings: TrainSettings, device: torch.device, space: GraphSpace | None = None,
                  built: tuple[nn.Module, list[int]] | None = None) -> tuple[Trainer, list[int]]:
    """A group's Trainer (from ``built``, ``stacked_network``'s result, when given) and its
    member order, its tensors on ``space``'s stream."""
    space = space or GraphSpace(device, graphs=False, note="no graphs asked for")
    net, order = built or stacked_network(method, configs, seeds, data, settings)
    with space.context():
        trainer = Trainer(method, net.to(device), [configs[i] for i in order], data, settings=settings,
                          device=device, space=space)
    return trainer, order


class EpochOrders:
    """Every member's batch orders (``recipe.BatchOrder``, the reference engine's), drawn up front
    for as many epochs as ``BUDGET`` indices allow and moved to the device in one copy; the
    generators are drawn in the same order as epoch by epoch, so the orders are the same."""

    BUDGET = 2**22

    def __init__(self, orders: list[BatchOrder], n: int, epochs: int, device: torch.device) -> None:
        self.orders, self.n, self.left, self.device = orders, n, epochs, device
        self.block: torch.Tensor | None = None
        self.at = 0

    def next_epoch(self) -> torch.Tensor:
        """The epoch's permutations (members, n) on the device."""
        if self.block is None or self.at == self.block.shape[1]:
            count = min(self.left, max(1, self.BUDGET // (len(self.orders) * self.n)))
            drawn = torch.stack([torch.stack([o.next_epoch() for _ in range(count)]) for o in self.orders])
            self.block, self.at = drawn.to(self.device, non_blocking=True), 0
        self.at += 1
        self.left -= 1
        return self.block[:, self.at - 1]

    def keep(self, kept: np.ndarray) -> None:
        self.orders = [self.orders[i] for i in kept]
        if self.block is not None:
            self.block = self.block[torch.as_tensor(kept, device=self.device)]


def graph_space(settings: TrainSettings, device: torch.device) -> GraphSpace:
    """A group's stream and graph mode, with the reason where graphs are off."""
    if device.type != "cuda":
        return GraphSpace(device, graphs=False, note=f"{device.type}: no CUDA graphs")
    if settings.cuda_graphs != "auto":
        return GraphSpace(device, graphs=False, note=f"train.cuda_graphs: {settings.cuda_graphs}")
    return GraphSpace(device, graphs=True)


class GroupRun:
    """One group's training as epochs the host launches (``launch``) and reads back (``finish``),
    so that several groups can be in flight (``train_groups``)."""

    def __init__(self, method: str, configs: list[dict[str, Any]], seeds: list[int], data: TaskTensors, *,
                 settings: TrainSettings, device: torch.device, epochs: int,
                 built: tuple[nn.Module, list[int]] | None = None) -> None:
        self.start = time.perf_counter()
        self.configs, self.task, self.settings, self.epochs = configs, data.task, settings, epochs
        self.space = graph_space(settings, device)
        if self.space.stream is not None:  # the job's data were written on the default stream
            self.space.stream.wait_stream(torch.cuda.current_stream(device))
        self.trainer, order = build_trainer(method, configs, seeds, data, settings=settings, device=device,
                                            space=self.space, built=built)
        n = self.trainer.n
        with self.space.context():
            self.orders = EpochOrders([BatchOrder(seeds[i], n) for i in order], n, epochs, device)
        self.alive = list(order)  # member position -> config index
        self.curves = {c: Curves([], [], []) for c in order}
        self.task_curves: dict[int, list] = {c: [] for c in order}
        self.status: dict[int, tuple[str, str | None]] = {c: ("ok", None) for c in order}
        self.tested = SelectableEpochs(settings, epochs, len(order))
        self.pending: tuple[int, list[tuple[int, int]]] | None = None  # a test evaluated after an epoch, unread
        self.epoch = 0
        self.done = epochs == 0

    def launch(self) -> None:
        """Put the epoch on the device: its steps, validation, (last epoch) the test, the transfer."""
        with self.space.context():
            self.trainer.epoch(self.orders.next_epoch())
            if self.epoch == self.epochs - 1:  # every member is tested after the last epoch: in this transfer
                self.trainer.test(slot=1)
            self.trainer.send()

    def _read_tests(self, values: np.ndarray, slot: int, epoch: int, wanted: list[tuple[int, int]]) -> None:
        k, width = self.trainer.k, self.trainer.test_width
        block = values[2 * k + slot * width:2 * k + (slot + 1) * width]
        metric, per_task = block[:k], block[k:].reshape(k, -1)
        for row, c in wanted:
            self.curves[c].test[epoch] = float(metric[row])
            self.task_curves[c][epoch] = per_task[row].tolist() if per_task.shape[1] else None

    def finish(self) -> None:
        """Read the launched epoch's transfer (the wait), record it, launch the test it asks for,
        drop diverged members; ``done`` after the last epoch."""
        epoch, trainer = self.epoch, self.trainer
        record = trainer.receive()
        k = len(self.alive)
        # as the reference: a float32 sum of batch losses, its mean over rows in float64
        mean_loss, val = record[:k] / trainer.n, record[k:2 * k]
        finite = np.ones(k, dtype=bool)
        wanted = []
        for pos, c in enumerate(self.alive):
            self.curves[c].train_loss.append(float(mean_loss[pos]))
            why = divergence(float(mean_loss[pos]), epoch)
            if why:
                self.status[c], finite[pos] = ("diverged", why), False
                continue
            self.curves[c].val.append(float(val[pos]))
            self.curves[c].test.append(math.nan)
            self.task_curves[c].append(None)
            if self.tested(pos, self.curves[c].val):
                wanted.append((pos, c))
        if self.pending is not None:
            self._read_tests(record, 0, *self.pending)
            self.pending = None
        last = epoch == self.epochs - 1
        if last:
            self._read_tests(record, 1, epoch, wanted)
        elif wanted:
            with self.space.context():
                trainer.test(slot=0)
            self.pending = (epoch, wanted)
        self.epoch += 1
        if not finite.all():
            rows = np.flatnonzero(finite)
            if self.pending is not None:  # read it before the members it holds are cut
                with self.space.context():
                    trainer.send()
                self._read_tests(trainer.receive(), 0, *self.pending)
                self.pending = None
            self.alive = [self.alive[pos] for pos in rows]
            self.orders.keep(rows)
            self.tested.keep(rows)
            if self.alive:
                with self.space.context():
                    trainer.keep(rows)
        self.done = last or not self.alive

    def results(self) -> list[ConfigResult]:
        seconds = (time.perf_counter() - self.start) / len(self.configs)
        engine, note = self.space.engine()
        out = []
        for c in range(len(self.configs)):
            if self.status[c][0] == "ok":
                result = finished(self.task, self.curves[c], self.task_curves[c], self.settings, seconds=seconds,
                                  engine=engine)
            else:
                result = ConfigResult(*self.status[c], self.curves[c], seconds=seconds, engine=engine)
            result.engine_note = note
            out.append(result)
        return out


class GroupFailure(Exception):
    """A group of ``train_groups`` failed as a whole: ``index`` says which, ``error`` how."""

    def __init__(self, index: int, error: BaseException) -> None:
        super().__init__(f"group {index}: {type(error).__name__}: {error}")
        self.index, self.error = index, error


def train_groups(method: str, groups: list[tuple[list[dict[str, Any]], list[int]]], data: TaskTensors, *,
                 settings: TrainSettings, device: torch.device, epochs: int | None = None,
                 streams: int | None = None, on_group=None, prefetch: bool | None = None) -> list[list[ConfigResult]]:
    """Train each group (its configurations, one architecture, and their seeds) as one stacked
    network, ``streams`` (``train.streams``) groups in flight at once, round-robin epoch by
    epoch; the results per group, as ``train_group`` gives them. ``on_group(i, results)`` is
    called as group i finishes. The next group's network is drawn on the CPU in a thread of its
    own while the groups in flight train (``prefetch``; default: on CUDA), so the device never
    waits for a group's set-up. Raises on an error of a group as a whole (out of memory
    included; the groups in flight with it are lost too); per-member divergence is a result."""
    epochs = settings.epochs if epochs is None else epochs
    streams = max(1, settings.streams if streams is None else streams)
    prefetch = device.type == "cuda" if prefetch is None else prefetch
    results: list = [None] * len(groups)
    waiting = list(range(len(groups)))
    active: list[tuple[int, GroupRun]] = []
    builder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="snnbench-build") if prefetch else None
    ahead: dict[int, Future] = {}

    def build_ahead() -> None:
        if builder is not None and waiting and waiting[0] not in ahead:
            i = waiting[0]
            ahead[i] = builder.submit(stacked_network, method, *groups[i], data, settings)

    def start_next() -> None:
        i = waiting.pop(0)
        try:
            built = ahead.pop(i).result() if i in ahead else None
            build_ahead()
            run = GroupRun(method, *groups[i], data, settings=settings, device=device, epochs=epochs, built=built)
            if not run.done:
                run.launch()
        except Exception as exc:
            raise GroupFailure(i, exc) from exc
        active.append((i, run))

    try:
        while waiting and len(active) < streams:
            start_next()
        _round_robin(active, waiting, results, start_next, on_group)
    finally:
        if builder is not None:
            builder.shutdown(wait=True, cancel_futures=True)
    return results


def _round_robin(active: list, waiting: list, results: list, start_next, on_group) -> None:
    """Read each group's epoch back in turn and launch its next, until every group is done."""
    while active:
        for entry in list(active):
            i, run = entry
            try:
                if not run.done:
                    run.finish()
                if not run.done:
                    run.launch()
            except Exception as exc:
                raise GroupFailure(i, exc) from exc
            if run.done:
                active.remove(entry)
                results[i] = run.results()
                if on_group:
                    on_group(i, results[i])
                if waiting:
                    start_next()


def train_group(method: str, configs: list[dict[str, Any]], seeds: list[int], data: TaskTensors, *,
                settings: TrainSettings, device: torch.device, epochs: int | None = None) -> list[ConfigResult]:
    """Train ``configs`` (one architecture) as one stacked network; one ``ConfigResult`` per
    config, as ``engine.train_config`` would give for each. Raises on an error of the group as a
    whole (out of memory included); per-member divergence is a result."""
    try:
        return train_groups(method, [(configs, seeds)], data, settings=settings, device=device, epochs=epochs,
                            streams=1)[0]
    except GroupFailure as failure:
        raise failure.error
