"""The reference training engine: one configuration at a time, exactly the paper's protocol.

Per configuration (the rules in ``recipe.py``): ``epochs`` epochs of minibatch training with
torch.optim on a plain ``nn.Module``; after each epoch the validation metric and, where early
stopping can choose the epoch, the test metric (on the host, ``metrics.py``); the early-stopping
epoch read off the validation curve smoothed by a moving average; the test metric at that epoch.
It is the oracle the batched engine (``batched.py``) is checked against, member by member.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import torch
from torch import nn

from snnbench.settings import TrainSettings
from snnbench.training.metrics import evaluate
from snnbench.training.recipe import (
    HOST_SYNCS,
    BatchOrder,
    ConfigResult,
    Curves,
    SelectableEpochs,
    TaskTensors,
    accumulate,
    batches,
    build_member,
    decayed,
    divergence,
    finished,
    loss_function,
    test_metrics,
    trains_on,
)


def _optimizer(model: nn.Module, *, lr: float, l2: float, settings: TrainSettings) -> torch.optim.Optimizer:
    decay = l2 + settings.weight_decay
    # the gradient of (decay / 2) * ||W||^2 on the weight matrices (recipe.decayed)
    weights = [p for p in model.parameters() if decayed(p.shape)]
    others = [p for p in model.parameters() if not decayed(p.shape)]
    groups = [{"params": weights, "weight_decay": decay}, {"params": others, "weight_decay": 0.0}]
    if settings.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=settings.momentum)
    return torch.optim.Adam(groups, lr=lr)


@torch.no_grad()
def _logits(model: nn.Module, X: torch.Tensor, batch: int) -> np.ndarray:
    model.eval()
    out = [model(X[i:i + batch]) for i in range(0, len(X), batch)]
    return HOST_SYNCS.to_host(torch.cat(out).float())


def train_config(method: str, config: dict[str, Any], data: TaskTensors, *, settings: TrainSettings, seed: int,
                 device: torch.device, epochs: int | None = None,
                 train_parts: tuple[str, ...] = ("train",)) -> ConfigResult:
    """Train one configuration; never raises for a diverging or failing run (see ``status``)."""
    task = data.task
    epochs = settings.epochs if epochs is None else epochs
    curves = Curves([], [], [])
    start = time.perf_counter()
    try:
        model = build_member(method, config, seed, task, settings).to(device)
        optimizer = _optimizer(model, lr=float(config["lr"]), l2=float(config.get("l2", 0.0)), settings=settings)
        loss_fn = loss_function(task, settings.loss)
        X, y = data.combined(train_parts)
        n = len(X)
        order = BatchOrder(seed, n)
        y_val = task.y["validation"]
        tested = SelectableEpochs(settings, epochs)
        per_task: list[list[float] | None] = []
        steps = [(i, j) for i, j in batches(n, settings.batch_size) if trains_on(method, j - i)]
        for epoch in range(epochs):
            model.train()
            total = torch.zeros((), device=device)
            perm = order.next_epoch().to(device)
            for i, j in steps:
                idx = perm[i:j]
                loss = loss_fn(model(X[idx]).unsqueeze(0), y[idx].unsqueeze(0))[0]
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                accumulate(total, loss, len(idx))
            mean_loss = float(HOST_SYNCS.to_host(total)) / n
            curves.train_loss.append(mean_loss)
            why = divergence(mean_loss, epoch)
            if why:
                return ConfigResult("diverged", why, curves, seconds=time.perf_counter() - start)
            curves.val.append(evaluate(task.metric, y_val,
                                       _logits(model, data.X["validation"], settings.eval_batch_size)))
            test, aucs = math.nan, None
            if tested(0, curves.val):
                test, aucs = test_metrics(task, _logits(model, data.X["test"], settings.eval_batch_size))
            curves.test.append(test)
            per_task.append(aucs)
        return finished(task, curves, per_task, settings, seconds=time.perf_counter() - start)
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as exc:  # recorded, and the grid goes on
        if device.type == "cuda":
            torch.cuda.empty_cache()
        return ConfigResult("failed", f"{type(exc).__name__}: {exc}", curves, seconds=time.perf_counter() - start)
