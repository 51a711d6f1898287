"""The batched grid engine: the configurations of a job that share an architecture train together.

Members of a group (configurations that differ only in learning rate, L2, dropout rate and
seed; on a CPU those with and without dropout apart) are built exactly as the reference engine
builds them (same seed, same initialisation), their parameters and buffers are stacked on a
leading member axis
(``torch.func.stack_module_state``) and one ``torch.vmap``-ed ``functional_call`` trains them
all: every layer becomes one batched matrix product for the whole group. Per member: its own
batch order (the reference engine's generator), learning rate, L2 and dropout rate as tensors,
dropout masks (counter-based, ``models.Dropout``), BatchNorm statistics (stacked buffers),
optimiser state, early-stopping epoch and divergence: a member whose epoch loss is not finite
is recorded as diverged and removed from the group, the others go on.

The data stay on the device; batches are gathered with per-member index tensors, and the host
synchronises once per epoch (losses and evaluation logits). Groups larger than the memory
allows are split (the size is derived from free memory), and an out-of-memory error halves the
group and retries. ``tests/test_batched.py`` checks it member by member against the reference
engine (``engine.train_config``).
"""

from __future__ import annotations

import copy
import logging
import math
import os
import time
from typing import Any

import numpy as np
import torch
from torch.func import functional_call, stack_module_state

from .metrics import evaluate
from .models import Dropout, build_model, seed_dropout

log = logging.getLogger("snnbench.train")

GROUPED_OUT = ("lr", "l2", "dropout")  # hyperparameters that members of one group may differ in


def group_key(config: dict[str, Any], *, split_dropout: bool = True) -> tuple:
    """Configurations with the same key have the same architecture (shapes and module types).
    With ``split_dropout``, those with and without dropout are kept apart, so a group without
    dropout draws no masks."""
    key = tuple(sorted((k, v) for k, v in config.items() if k not in GROUPED_OUT))
    return (*key, ("dropout>0", float(config.get("dropout", 0.0)) > 0)) if split_dropout else key


def group_configs(configs: list[dict[str, Any]], *, split_dropout: bool = True) -> list[list[int]]:
    """Indices of ``configs`` grouped by architecture, groups in order of first appearance."""
    groups: dict[tuple, list[int]] = {}
    for i, config in enumerate(configs):
        groups.setdefault(group_key(config, split_dropout=split_dropout), []).append(i)
    return list(groups.values())


def _member_bytes(model: torch.nn.Module, *, batch: int, eval_rows: int, optimizer_slots: int) -> int:
    """Rough device memory one member needs: parameters, gradients and optimiser state, plus
    the activations of a training batch and an evaluation chunk (float32)."""
    n_params = sum(p.numel() for p in model.parameters())
    widths = [p.shape[0] for p in model.parameters() if p.ndim == 2]
    activations = 6 * batch * sum(widths) + eval_rows * max(widths, default=1) * 2
    return 4 * (n_params * (2 + optimizer_slots) + activations)


def max_group_size(model: torch.nn.Module, *, device: torch.device, batch: int, eval_rows: int,
                   optimizer_slots: int, cap: int) -> int:
    """How many members fit: half the free device memory (CUDA) or of the available RAM (CPU)."""
    need = _member_bytes(model, batch=batch, eval_rows=eval_rows, optimizer_slots=optimizer_slots)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
    else:
        try:
            free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            free = 4 * 2**30
    return max(1, min(cap, int(0.5 * free // max(need, 1))))


class _Group:
    """The stacked state of the members still training."""

    def __init__(self, models: list[torch.nn.Module], configs: list[dict[str, Any]], *, settings, device) -> None:
        self.template = copy.deepcopy(models[0]).to("meta")
        rates = [float(c.get("dropout", 0.0)) for c in configs]
        for module in self.template.modules():
            if isinstance(module, Dropout):
                module.active = any(r > 0 for r in rates)
        params, buffers = stack_module_state(models)
        self.params = {k: v.detach().to(device).requires_grad_(True) for k, v in params.items()}
        self.buffers = {k: v.to(device) for k, v in buffers.items()}
        self.lr = torch.tensor([float(c["lr"]) for c in configs], device=device)
        self.decay = torch.tensor([float(c.get("l2", 0.0)) + settings.weight_decay for c in configs], device=device)
        self.any_decay = bool((self.decay > 0).any())
        # L2 on weight matrices only, as the reference engine (member ndim >= 2).
        self.decayed = {k: v.ndim >= 3 for k, v in self.params.items()}
        self.state: dict[str, dict[str, torch.Tensor]] = {}
        self.step_count = 0

    def keep(self, rows: torch.Tensor) -> None:
        """Keep only the members at ``rows`` (drop diverged members)."""
        self.params = {k: v.detach()[rows].requires_grad_(True) for k, v in self.params.items()}
        self.buffers = {k: v[rows] for k, v in self.buffers.items()}
        self.lr, self.decay = self.lr[rows], self.decay[rows]
        self.state = {k: {s: t[rows] for s, t in slots.items()} for k, slots in self.state.items()}


def _view(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return values.view(-1, *([1] * (like.ndim - 1)))


@torch.no_grad()
def _update(group: _Group, grads: dict[str, torch.Tensor], settings) -> None:
    """One optimiser step per member, written as torch.optim.SGD / Adam compute it."""
    group.step_count += 1
    t = group.step_count
    for name, p in group.params.items():
        g = grads[name]
        if group.any_decay and group.decayed[name]:
            g = g + _view(group.decay, p) * p
        lr = _view(group.lr, p)
        if settings.optimizer == "sgd" and settings.momentum == 0:
            p.addcmul_(lr, g, value=-1.0)
            continue
        state = group.state.setdefault(name, {})
        if settings.optimizer == "sgd":
            buf = state.get("momentum")
            buf = g.clone() if buf is None else buf.mul_(settings.momentum).add_(g)
            state["momentum"] = buf
            p.addcmul_(lr, buf, value=-1.0)
        else:  # adam, torch's defaults: betas (0.9, 0.999), eps 1e-8
            b1, b2, eps = 0.9, 0.999, 1e-8
            m = state.setdefault("exp_avg", torch.zeros_like(p))
            v = state.setdefault("exp_avg_sq", torch.zeros_like(p))
            m.lerp_(g, 1 - b1)
            v.mul_(b2).addcmul_(g, g, value=1 - b2)
            step_size = lr / (1 - b1**t)
            denom = v.sqrt() / math.sqrt(1 - b2**t) + eps
            p.sub_(step_size * m / denom)


def _shape_probe(method: str, config: dict[str, Any], task, settings) -> torch.nn.Module:
    """The configuration's model on the meta device: its shapes, without allocating weights."""
    with torch.device("meta"):
        return build_model(method, n_in=task.n_in, n_out=task.n_out, config=config,
                           architecture=settings.architecture())


def _optimizer_slots(settings) -> int:
    return 2 if settings.optimizer == "adam" else (1 if settings.momentum > 0 else 0)


def train_group(method: str, configs: list[dict[str, Any]], seeds: list[int], data, *, settings,
                device: torch.device, epochs: int | None = None) -> list:
    """Train ``configs`` (one architecture) as one batched model; one ``ConfigResult`` per config,
    as ``engine.train_config`` would give for each. Raises on an error of the group as a whole
    (out of memory included); per-member divergence is a result."""
    from .engine import ConfigResult, Curves, _loss_fn, finished, test_metrics

    task = data.task
    epochs = settings.epochs if epochs is None else epochs
    start = time.perf_counter()
    models = []
    for config, seed in zip(configs, seeds):
        torch.manual_seed(seed)
        model = build_model(method, n_in=task.n_in, n_out=task.n_out, config=config,
                            architecture=settings.architecture())
        models.append(seed_dropout(model, seed))
    group = _Group(models, configs, settings=settings, device=device)
    del models
    loss_fn = _loss_fn(task, settings.loss)
    template = group.template

    def forward(params, buffers, x):
        return functional_call(template, (params, buffers), (x,))

    def member_loss(params, buffers, x, y):
        return loss_fn(forward(params, buffers, x), y)

    train_losses = torch.vmap(member_loss, in_dims=(0, 0, 0, 0))
    predict = torch.vmap(forward, in_dims=(0, 0, None))
    X, y = data.X["train"], data.y["train"]
    n = len(X)
    generators = [torch.Generator().manual_seed(seed ^ 0x5EED5EED) for seed in seeds]
    alive = list(range(len(configs)))  # member position -> config index
    curves = [Curves([], [], []) for _ in configs]
    task_curves: list[list] = [[] for _ in configs]
    status: list[tuple[str, str | None]] = [("ok", None)] * len(configs)
    eval_rows = max(1, settings.eval_batch_size)
    for epoch in range(epochs):
        template.train()
        perms = torch.stack([torch.randperm(n, generator=generators[c]) for c in alive]).to(device)
        total = torch.zeros(len(alive), device=device)
        for i in range(0, n, settings.batch_size):
            idx = perms[:, i:i + settings.batch_size]
            # NOTE: as the reference engine, BatchNorm skips a last batch of one row.
            if idx.shape[1] < 2 and method == "BatchNorm":
                continue
            losses = train_losses(group.params, group.buffers, X[idx], y[idx])
            grads = torch.autograd.grad(losses.sum(), list(group.params.values()))
            _update(group, dict(zip(group.params, grads)), settings)
            total += losses.detach() * idx.shape[1]
        mean_loss = total.cpu().double().numpy() / n  # as the reference: float32 sum, float64 mean
        finite = np.isfinite(mean_loss)
        for pos, c in enumerate(alive):
            curves[c].train_loss.append(float(mean_loss[pos]))
            if not finite[pos]:
                status[c] = ("diverged", f"training loss became {float(mean_loss[pos])} in epoch {epoch + 1}")
        if not finite.all():
            rows = torch.as_tensor(np.flatnonzero(finite), device=device)
            group.keep(rows)
            alive = [c for pos, c in enumerate(alive) if finite[pos]]
        if not alive:
            break
        template.eval()
        with torch.no_grad():
            for part in ("validation", "test"):
                Xp = data.X[part]
                chunks = [predict(group.params, group.buffers, Xp[j:j + eval_rows]) for j in range(0, len(Xp), eval_rows)]
                logits = torch.cat(chunks, dim=1).float().cpu().numpy()
                for pos, c in enumerate(alive):
                    if part == "validation":
                        curves[c].val.append(evaluate(task.metric, task.y[part], logits[pos]))
                    else:
                        test, aucs = test_metrics(task, logits[pos])
                        curves[c].test.append(test)
                        task_curves[c].append(aucs)
    seconds = (time.perf_counter() - start) / len(configs)
    return [finished(task, curves[c], task_curves[c], settings, seconds=seconds, engine="batched")
            if status[c][0] == "ok" else
            ConfigResult(*status[c], curves[c], seconds=seconds, engine="batched")
            for c in range(len(configs))]


def train_configs_batched(method: str, configs: list[dict[str, Any]], seeds: list[int], data, *, settings,
                          device: torch.device, max_members: int | None = None, on_result=None) -> list:
    """Every configuration's ``ConfigResult``, training each architecture group batched; a group
    too large for memory is split, an out-of-memory error halves it and retries, and any other
    error of a group falls back to the reference engine for its members (which records it)."""
    from .engine import train_config

    results: list = [None] * len(configs)
    # NOTE: on a CPU the mask arithmetic costs more than a larger group gains, so groups with and
    # without dropout are kept apart there; on CUDA, launch-bound, one group per architecture.
    for indices in group_configs(configs, split_dropout=device.type != "cuda"):
        size = max_members or max_group_size(_shape_probe(method, configs[indices[0]], data.task, settings),
                                             device=device, batch=settings.batch_size,
                                             eval_rows=min(settings.eval_batch_size, max(len(x) for x in data.X.values())),
                                             optimizer_slots=_optimizer_slots(settings), cap=settings.max_group_size)
        pending = list(indices)
        while pending:
            chunk = pending[:size]
            try:
                out = train_group(method, [configs[i] for i in chunk], [seeds[i] for i in chunk], data,
                                  settings=settings, device=device)
            except torch.OutOfMemoryError:
                if device.type == "cuda":
                    torch.cuda.empty_cache()
                if size == 1:
                    out = [train_config(method, configs[i], data, settings=settings, seed=seeds[i], device=device)
                           for i in chunk]
                else:
                    size = max(1, size // 2)
                    log.warning("out of memory with %d members; retrying with %d", len(chunk), size)
                    continue
            except (KeyboardInterrupt, SystemExit):
                raise
            except Exception as exc:  # the reference engine records what fails, member by member
                log.warning("batched group failed (%s: %s); training its %d members one by one",
                            type(exc).__name__, exc, len(chunk))
                out = [train_config(method, configs[i], data, settings=settings, seed=seeds[i], device=device)
                       for i in chunk]
            for i, result in zip(chunk, out):
                results[i] = result
                if on_result:
                    on_result(i, result)
            pending = pending[len(chunk):]
    return results
