"""The batched engine: the configurations of a job that share an architecture train as one
stacked network.

Members of a group (configurations that differ only in learning rate, L2 and dropout rate, and
in their seeds) are built exactly as the reference engine builds them (``recipe.build_member``)
and stacked into explicit stacked layers (``stacked.py``): every layer is one batched matrix
product for the whole group. Per member, as the recipe says: its batch order (drawn epochs
ahead), learning rate, L2 and dropout rate, its dropout masks (``stacked.Masks``, the
reference's masks bit for bit), BatchNorm statistics, optimiser state, early-stopping epoch and
divergence (a member whose epoch loss is not finite is recorded and removed; the others go on).

A training step (``Trainer.step``) is a fixed sequence of kernels on static shapes: gather the
batch, apply every layer's masks (drawn several steps ahead), forward, ``autograd.grad``, the
optimiser update as ``_foreach`` kernels over all stacked parameters (per-member learning rate
and L2 as tensors; SGD, momentum, Adam with its step count a tensor), and the loss added to a
device accumulator. The host waits for the device once per epoch: one transfer brings the epoch's losses and device-side
validation metrics, and the test metrics of the previous epoch's evaluation if there was one
(``PendingTests``); the test set is evaluated only after the epochs at which some member's test
metric can be chosen (``recipe.SelectableEpochs``), and after the last epoch (whose test metrics
come in its own transfer). On CUDA (``train.cuda_graphs: auto``) the full-batch step is captured
once as a CUDA graph and replayed; the last, partial batch of an epoch runs the same step eagerly.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

import numpy as np
import torch

from .recipe import (HOST_SYNCS, BatchOrder, ConfigResult, Curves, DeviceMetrics, SelectableEpochs, TaskTensors,
                     accumulate, batches, build_member, decayed, divergence, finished, loss_function, trains_on)
from .settings import TrainSettings
from .stacked import Masks, StackedDropout, stack

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
    few ``_foreach`` kernels over all stacked parameters. Learning rate and L2 are per member,
    held as tensors of each parameter's shape (so a CUDA ``_foreach`` kernel takes them in one
    launch); Adam's step count is a device tensor."""

    def __init__(self, params: list[torch.Tensor], lr: list[float], decay: list[float], settings: TrainSettings,
                 device: torch.device) -> None:
        self.settings = settings
        self.params = params
        any_decay = max(decay) > 0
        lr, decay = torch.tensor(lr, device=device), torch.tensor(decay, device=device)

        def full(values: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
            return _per_member(values, p).expand_as(p).contiguous()

        self.lr = [full(lr, p) for p in params]
        self.lr64 = lr.double()  # Adam's step size lr / (1 - b1^t), in double as torch.optim computes it
        self.decayed = [i for i, p in enumerate(params) if decayed(p.shape[1:])] if any_decay else []
        self.decay = [full(decay, params[i]) for i in self.decayed]
        self.state: dict[str, list[torch.Tensor]] = {}
        self.steps = torch.zeros((), dtype=torch.float64, device=device)

    def keep(self, rows: torch.Tensor, params: list[torch.Tensor]) -> None:
        """Keep the members at ``rows`` (after ``params`` were cut the same way)."""
        self.params = params
        self.lr = [t[rows] for t in self.lr]
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
            torch._foreach_addcmul_(params, grads, self.lr, value=-1.0)
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
    """A stacked group's training state and its step."""

    def __init__(self, models: list[torch.nn.Module], configs: list[dict[str, Any]], data: TaskTensors,
                 *, settings: TrainSettings, device: torch.device) -> None:
        self.settings, self.device = settings, device
        self.net = stack(models).to(device)
        self.net.train()
        self.params = list(self.net.parameters())
        self.optimizer = StackedOptimizer(self.params, [float(c["lr"]) for c in configs],
                                          [float(c.get("l2", 0.0)) + settings.weight_decay for c in configs], settings, device)
        self.loss_fn = loss_function(data.task, settings.loss)
        self.X, self.y = data.X["train"], data.y["train"]
        self.masks = self._masks([m for m in self.net.modules() if isinstance(m, StackedDropout)])
        self.total = torch.zeros(len(configs), device=device)
        self.ones = torch.ones(len(configs), device=device)
        self.calls = 0  # training steps taken: the dropout layers' call counter

    def _masks(self, layers: list[StackedDropout]) -> Masks:
        """The dropout layers' masks, sized for this data: no more rows than a batch can have,
        no more steps at a time than an epoch has."""
        n = len(self.X)
        masks = Masks(layers, batch=min(self.settings.batch_size, n), device=self.device)
        if masks.active:
            masks.bind(self._dropout_widths(), steps=len(batches(n, self.settings.batch_size)))
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

    def step(self, idx: torch.Tensor, masks: tuple | None) -> None:
        """One training step of every member on its batch ``idx`` (k, rows), with the dropout
        layers' ``masks`` (scale, shift: k x elements, ``stacked.Masks``) or None."""
        if masks is not None:
            self.masks.apply(*masks)
        losses = self.loss_fn(self.net(self.X[idx]), self.y[idx])
        grads = torch.autograd.grad(losses, self.params, grad_outputs=self.ones)
        self.optimizer.step(grads)
        accumulate(self.total, losses, idx.shape[1])

    def keep(self, kept: np.ndarray) -> None:
        """Keep only the members at positions ``kept`` (drop diverged members)."""
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
        self.total, self.ones = self.total[rows], self.ones[rows]
        self.masks = self._masks(self.masks.layers)

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


def build_trainer(method: str, configs: list[dict[str, Any]], seeds: list[int], data: TaskTensors, *,
                  settings: TrainSettings, device: torch.device) -> tuple[Trainer, list[int]]:
    """A group's Trainer, its members built as the reference engine builds them, in the order
    ``dropout_first`` gives (returned too: member position -> index into ``configs``)."""
    order = dropout_first(configs)
    models = [build_member(method, configs[i], seeds[i], data.task, settings) for i in order]
    return Trainer(models, [configs[i] for i in order], data, settings=settings, device=device), order


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


class StepRunner:
    """Runs ``Trainer.step`` eagerly, or on CUDA captures the full-batch step as a CUDA graph and
    replays it with the batch's indices and masks copied into the graph's input tensors. The
    first ``WARMUP`` full-batch steps run eagerly on a side stream (as torch's whole-network
    capture recipe does; they initialise the optimiser state and the libraries' workspaces),
    then the step is captured. Another batch size (an epoch's last batch) runs the same step
    eagerly."""

    WARMUP = 3

    def __init__(self, trainer: Trainer, *, graphs: bool) -> None:
        self.trainer, self.graphs = trainer, graphs
        self.graph: torch.cuda.CUDAGraph | None = None
        self.eager_steps = 0
        self.replays = 0

    def reset(self) -> None:
        """The group changed (a member removed): capture anew."""
        self.graph = None
        self.eager_steps = 0

    def __call__(self, idx: torch.Tensor, masks: tuple | None) -> None:
        full = idx.shape[1] == self.trainer.settings.batch_size
        if not (self.graphs and full):
            self.trainer.step(idx, masks)
            return
        if self.eager_steps < self.WARMUP:
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                self.trainer.step(idx, masks)
            torch.cuda.current_stream().wait_stream(side)
            self.eager_steps += 1
            return
        if self.graph is None:
            self._capture(idx, masks)
            if self.graph is None:
                self.trainer.step(idx, masks)
                return
        self.idx.copy_(idx)
        for static, values in zip(self.masks or (), masks or ()):
            if static is not None:
                static.copy_(values)
        self.graph.replay()
        self.replays += 1

    def _capture(self, idx: torch.Tensor, masks: tuple | None) -> None:
        """Record the step on static inputs (recording runs nothing: the caller replays it)."""
        self.idx = idx.clone()
        self.masks = None if masks is None else tuple(None if m is None else m.clone() for m in masks)
        graph = torch.cuda.CUDAGraph()
        torch.cuda.synchronize()
        try:
            with torch.cuda.graph(graph):
                self.trainer.step(self.idx, self.masks)
        except Exception as exc:  # recorded in the log; training goes on eagerly
            log.warning("CUDA graph capture failed (%s: %s); this group trains without graphs", type(exc).__name__, exc)
            self.graphs = False
            return
        self.graph = graph


class PendingTests:
    """Test metrics computed on the device after an epoch and read by the host with the next
    transfer, so that deciding which epochs to test costs no extra wait."""

    def __init__(self) -> None:
        self.items: list[tuple[int, list[tuple[int, int]], torch.Tensor, torch.Tensor | None]] = []

    def add(self, epoch: int, wanted: list[tuple[int, int]] | None, test: torch.Tensor,
            aucs: torch.Tensor | None) -> None:
        """``wanted``: (row of ``test``, config index) of the members whose metric is kept; None:
        those that ``read`` is given as ``now`` (an evaluation made before the decision)."""
        self.items.append((epoch, wanted, test, aucs))

    def tensors(self) -> list[torch.Tensor]:
        return [t for _, _, test, aucs in self.items for t in (test, *(() if aucs is None else (aucs.flatten(),)))]

    def read(self, values: np.ndarray, curves: dict[int, Curves], task_curves: dict[int, list], *,
             now: list[tuple[int, int]] = ()) -> None:
        """Fill the curves from ``values``, the host copy of ``torch.cat(self.tensors())``."""
        at = 0
        for epoch, wanted, test, aucs in self.items:
            wanted = now if wanted is None else wanted
            k = len(test)
            metric = values[at:at + k]
            at += k
            if aucs is not None:
                per_task = values[at:at + aucs.numel()].reshape(k, -1)
                at += aucs.numel()
            for row, c in wanted:
                curves[c].test[epoch] = float(metric[row])
                task_curves[c][epoch] = None if aucs is None else per_task[row].tolist()
        self.items = []


def train_group(method: str, configs: list[dict[str, Any]], seeds: list[int], data: TaskTensors, *,
                settings: TrainSettings, device: torch.device, epochs: int | None = None) -> list[ConfigResult]:
    """Train ``configs`` (one architecture) as one stacked network; one ``ConfigResult`` per
    config, as ``engine.train_config`` would give for each. Raises on an error of the group as a
    whole (out of memory included); per-member divergence is a result."""
    task = data.task
    epochs = settings.epochs if epochs is None else epochs
    start = time.perf_counter()
    trainer, order = build_trainer(method, configs, seeds, data, settings=settings, device=device)
    graphs = device.type == "cuda" and settings.cuda_graphs == "auto"
    runner = StepRunner(trainer, graphs=graphs)
    metrics = {part: DeviceMetrics(task, part, device) for part in ("validation", "test")}
    n = len(trainer.X)
    orders = EpochOrders([BatchOrder(seeds[i], n) for i in order], n, epochs, device)
    alive = list(order)  # member position -> config index
    curves = {c: Curves([], [], []) for c in order}
    task_curves: dict[int, list] = {c: [] for c in order}
    status: dict[int, tuple[str, str | None]] = {c: ("ok", None) for c in order}
    steps = [(i, j) for i, j in batches(n, settings.batch_size) if trains_on(method, j - i)]
    tested, pending = SelectableEpochs(settings, epochs, len(order)), PendingTests()
    for epoch in range(epochs):
        perms = orders.next_epoch()
        trainer.total.zero_()
        for s, (i, j) in enumerate(steps):
            masks = None
            if trainer.masks.active:
                at = s % trainer.masks.chunk
                if at == 0:
                    drawn = trainer.masks.draw(trainer.calls, min(trainer.masks.chunk, len(steps) - s))
                masks = tuple(None if m is None else m[at] for m in drawn)
            runner(perms[:, i:j], masks)
            trainer.calls += 1
        val, _ = metrics["validation"](trainer.logits(data.X["validation"]))
        if epoch == epochs - 1:  # every member is tested after the last epoch: in this transfer
            pending.add(epoch, None, *metrics["test"](trainer.logits(data.X["test"])))
        record = HOST_SYNCS.to_host(torch.cat([trainer.total.double(), val, *pending.tensors()]))
        k = len(alive)
        # as the reference: a float32 sum of batch losses, its mean over rows in float64
        mean_loss, val = record[:k] / n, record[k:2 * k]
        finite = np.ones(k, dtype=bool)
        wanted = []
        for pos, c in enumerate(alive):
            curves[c].train_loss.append(float(mean_loss[pos]))
            why = divergence(float(mean_loss[pos]), epoch)
            if why:
                status[c], finite[pos] = ("diverged", why), False
                continue
            curves[c].val.append(float(val[pos]))
            curves[c].test.append(math.nan)
            task_curves[c].append(None)
            if tested(pos, curves[c].val):
                wanted.append((pos, c))
        pending.read(record[2 * k:], curves, task_curves, now=wanted)
        if wanted and epoch < epochs - 1:
            pending.add(epoch, wanted, *metrics["test"](trainer.logits(data.X["test"])))
        if not finite.all():
            rows = np.flatnonzero(finite)
            alive = [alive[pos] for pos in rows]
            orders.keep(rows)
            tested.keep(rows)
            if not alive:
                break
            trainer.keep(rows)
            runner.reset()
    seconds = (time.perf_counter() - start) / len(configs)
    engine = "batched+graphs" if runner.replays else "batched"
    return [finished(task, curves[c], task_curves[c], settings, seconds=seconds, engine=engine)
            if status[c][0] == "ok" else ConfigResult(*status[c], curves[c], seconds=seconds, engine=engine)
            for c in range(len(configs))]
