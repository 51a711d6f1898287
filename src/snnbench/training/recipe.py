"""The training recipe both engines follow, each rule written once.

A configuration: its model initialised from its seed (``build_member``); its batch order drawn
per epoch from a CPU generator seeded from the same seed (``BatchOrder``); minibatches of
``batch_size`` rows, BatchNorm skipping a last batch of one row (``trains_on``); the loss
(``loss_function``, summed over the epoch by ``accumulate``) per member of a stack (the
reference engine is a stack of one); L2 on the weight matrices only (``decayed``); divergence
when an epoch's mean training loss is not finite (``divergence``); after every epoch the
validation metric, and the test metric at the epochs early stopping can choose
(``SelectableEpochs``); then early stopping on the smoothed validation curve (``finished``).
``engine.py`` (one configuration at a time, torch.optim, metrics on the host) and ``batched.py``
(stacked members, metrics on the device: ``DeviceMetrics``) import this module and not each other.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from snnbench import methods
from snnbench.errors import ConfigError
from snnbench.methods import build_model
from snnbench.methods.models import draw_initial, seed_dropout, undrawn
from snnbench.settings import TrainSettings
from snnbench.training.metrics import evaluate, mean_of_tasks, task_roc_aucs
from snnbench.training.selection import early_stopping_epoch, window_mean
from snnbench.training.task import Task


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"train.device={name!r} but this machine has no usable CUDA device; use auto or cpu")
    return device


def set_tf32(enabled: bool) -> None:
    """TF32 off (default): float32 matmuls at full precision on Ampere+ GPUs, as on the CPU."""
    torch.backends.cuda.matmul.allow_tf32 = enabled
    torch.backends.cudnn.allow_tf32 = enabled
    torch.set_float32_matmul_precision("high" if enabled else "highest")


class SyncCounter:
    """Device-to-host transfers made by the engines (each one waits for the device): the figure
    ``benchmarks/gpu_projection.py`` reports per epoch."""

    def __init__(self) -> None:
        self.count = 0

    def to_host(self, tensor: torch.Tensor) -> np.ndarray:
        self.count += 1
        return tensor.detach().cpu().numpy()


HOST_SYNCS = SyncCounter()


@dataclass
class Curves:
    train_loss: list[float]
    val: list[float]
    test: list[float]


@dataclass
class ConfigResult:
    status: str
    error: str | None
    curves: Curves
    best_epoch: int | None = None  # 0-based
    val_metric: float = float("nan")  # smoothed, at the best window
    val_metric_raw: float = float("nan")
    test_metric: float = float("nan")
    seconds: float = 0.0
    test_task_curves: list[list[float]] | None = None  # multitask: per epoch, each task's test AUC
    engine: str = "reference"
    engine_note: str = ""  # why this engine (or mode) trained it, where that is not the default's choice

    @property
    def test_per_task(self) -> list[float] | None:
        """Multitask: each task's test AUC at the early-stopping epoch."""
        if self.test_task_curves is None or self.best_epoch is None:
            return None
        return self.test_task_curves[self.best_epoch]


def build_member(method: str, config: dict[str, Any], seed: int, task: Task, settings: TrainSettings) -> nn.Module:
    """The configuration's initialised model (CPU): its declared linear layers drawn from the
    configuration's generator (``models.draw_initial``, protocol M7; a user's builder that
    declares none draws from torch's generator seeded with ``seed``, B5), the dropout layers' mask
    seeds derived from it (protocol F11, F13)."""
    torch.manual_seed(seed)
    with undrawn():
        model = build_model(method, n_in=task.n_in, n_out=task.n_out, config=config,
                            architecture=settings.architecture())
    return seed_dropout(draw_initial(model, seed), seed)


class BatchOrder:
    """A configuration's batch order: one permutation of the training rows per epoch, drawn on
    the CPU from a generator seeded from the configuration's seed, so every engine and device
    trains on the same batches."""

    def __init__(self, seed: int, n: int) -> None:
        self.n = n
        self.generator = torch.Generator().manual_seed(seed ^ 0x5EED5EED)

    def next_epoch(self) -> torch.Tensor:
        return torch.randperm(self.n, generator=self.generator)


def batches(n: int, batch_size: int) -> list[tuple[int, int]]:
    """(start, stop) of each minibatch of an epoch of ``n`` rows."""
    return [(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]


def trains_on(method: str, rows: int) -> bool:
    """Whether a batch of ``rows`` rows trains: not below the method's ``min_batch_rows`` (BatchNorm
    cannot train on a batch of one row, so a last batch of one is skipped)."""

    return rows >= methods.get(method, setting="method").min_batch_rows


def decayed(member_shape: torch.Size | tuple[int, ...]) -> bool:
    """L2 applies to the weight matrices only (for WeightNorm: its direction and scale), not to
    biases or normalisation gains: a parameter of a member with two or more dimensions."""
    return len(member_shape) >= 2


def accumulate(total: torch.Tensor, losses: torch.Tensor, rows: int) -> None:
    """Add a batch's mean losses, weighted by its rows, to the epoch's (float32, on the device)
    sum; the epoch's mean training loss is that sum over the rows, in float64 on the host."""
    total.add_(losses.detach(), alpha=rows)


def divergence(mean_loss: float, epoch: int) -> str | None:
    """Why a configuration stops as diverged after ``epoch`` (0-based), or None."""
    return None if math.isfinite(mean_loss) else f"training loss became {mean_loss} in epoch {epoch + 1}"


def loss_function(task: Task, loss: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The training loss of each member of a stack: logits (k, B, C) and labels (k, B) (class
    ids) or (k, B, C) (0/1, NaN where missing) -> (k,), the mean over the batch's rows (over the
    present labels for binary and multitask tasks)."""
    if loss == "cross_entropy":
        if task.kind == "multiclass":
            def cross_entropy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
                each = nn.functional.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none")
                return each.view(y.shape).mean(dim=1)

            return cross_entropy

        def bce(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            present = ~torch.isnan(y)
            each = nn.functional.binary_cross_entropy_with_logits(logits, torch.where(present, y, 0.0),
                                                                  reduction="none")
            return torch.where(present, each, 0.0).sum(dim=(1, 2)) / present.sum(dim=(1, 2)).clamp(min=1)

        return bce
    if task.kind == "multiclass":
        def brier(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            onehot = nn.functional.one_hot(y, logits.shape[-1]).to(logits.dtype)
            return ((torch.softmax(logits, dim=-1) - onehot) ** 2).sum(dim=-1).mean(dim=1)

        return brier

    def squared(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        present = ~torch.isnan(y)
        each = (torch.sigmoid(logits) - torch.where(present, y, 0.0)) ** 2
        return torch.where(present, each, 0.0).sum(dim=(1, 2)) / present.sum(dim=(1, 2)).clamp(min=1)

    return squared


def test_metrics(task: Task, logits: np.ndarray) -> tuple[float, list[float] | None]:
    """One epoch's test metric and, multitask, each task's test AUC (else None), on the host."""
    if task.kind == "multitask":
        aucs = task_roc_aucs(task.y["test"], logits)
        return mean_of_tasks(aucs), aucs.tolist()
    return evaluate(task.metric, task.y["test"], logits), None


def finished(task: Task, curves: Curves, per_task: list, settings: TrainSettings, *, seconds: float,
             engine: str = "reference") -> ConfigResult:
    """The result of a configuration that trained every epoch: early stopping on its curves."""
    best, smoothed = early_stopping_epoch(np.asarray(curves.val), window=settings.smoothing_window,
                                          align=settings.smoothing_align)
    return ConfigResult("ok", None, curves, best_epoch=best, val_metric=smoothed, val_metric_raw=curves.val[best],
                        test_metric=curves.test[best], seconds=seconds, engine=engine,
                        test_task_curves=per_task if task.kind == "multitask" else None)


class SelectableEpochs:
    """Whether each member's test metric is computed after an epoch (protocol F5).

    With ``test_curve: selectable`` and trailing alignment (the defaults), the chosen epoch is the
    last epoch of the first window whose mean validation metric is the maximum; so only an epoch
    whose window's mean beats every earlier window's can be chosen, and that is known right after
    its validation metric, with the weights still those of that epoch. The test metric is computed
    at those epochs and at the last one (the refit reports it); at the others it is NaN. The window
    means are ``selection.window_mean``, the very numbers ``early_stopping_epoch`` compares, so the
    epoch it chooses always has its test metric. Centred alignment chooses an earlier epoch than
    the one at which it is known, and ``test_curve: every_epoch`` asks for all of them: then every
    epoch is evaluated."""

    def __init__(self, settings: TrainSettings, epochs: int, members: int = 1) -> None:
        self.window = min(settings.smoothing_window, epochs)
        self.last = epochs - 1
        self.every = settings.test_curve == "every_epoch" or settings.smoothing_align != "trailing"
        self.best = [math.nan] * members

    def __call__(self, member: int, val_curve: list[float]) -> bool:
        """After appending the epoch's validation metric to ``val_curve``: evaluate the test set?"""
        epoch = len(val_curve) - 1
        needed = self.every or epoch == self.last
        if epoch >= self.window - 1:
            mean = window_mean(val_curve, epoch, self.window)
            if not math.isnan(mean) and not mean <= self.best[member]:  # a first maximum so far
                self.best[member] = mean
                needed = True
        return needed

    def keep(self, rows: np.ndarray) -> None:
        self.best = [self.best[i] for i in rows]


class TaskTensors:
    """A task's arrays resident on the device (the datasets are small enough)."""

    def __init__(self, task: Task, device: torch.device) -> None:
        self.task = task
        self.X = {k: torch.as_tensor(v, device=device) for k, v in task.X.items()}
        self.y = {k: torch.as_tensor(v, device=device) for k, v in task.y.items()}

    def combined(self, parts: tuple[str, ...]) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.cat([self.X[p] for p in parts]), torch.cat([self.y[p] for p in parts])


# --------------------------------------------------------------------------- device metrics


def roc_auc_rows(scores: torch.Tensor, positive: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
    """ROC-AUC of each row of ``scores`` (R, n) on its ``present`` entries, as ``metrics.roc_auc``
    computes it (Mann-Whitney U with average ranks for ties; NaN for one class or a non-finite
    score), in float64 on the scores' device."""
    scores = scores.double()
    bad = (~torch.isfinite(scores) & present).any(dim=-1)
    # absent entries sort last, so the present ones keep their ranks among themselves
    values, order = torch.sort(torch.where(present, scores, torch.inf), dim=-1, stable=True)
    n = values.shape[-1]
    pos = torch.arange(n, device=scores.device).expand_as(values)
    change = values[:, 1:] != values[:, :-1]
    edge = torch.ones_like(values[:, :1], dtype=torch.bool)
    starts = torch.where(torch.cat([edge, change], dim=-1), pos, 0).cummax(dim=-1).values
    ends = torch.where(torch.cat([change, edge], dim=-1), pos, n).flip(-1).cummin(dim=-1).values.flip(-1)
    ranks = (starts + ends).double() / 2 + 1
    hit = torch.gather(positive & present, -1, order)
    n_pos = (positive & present).sum(dim=-1).double()
    n_neg = (~positive & present).sum(dim=-1).double()
    auc = ((ranks * hit).sum(dim=-1) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    return torch.where(bad | (n_pos == 0) | (n_neg == 0), torch.nan, auc)


class DeviceMetrics:
    """A task's validation or test metric for every member of a stack, computed on the device
    from logits (k, n, C): accuracy, ROC-AUC, or the mean of the tasks' ROC-AUCs (with each task's
    AUC, multitask). The host code in ``metrics.py`` is the oracle the tests compare with."""

    def __init__(self, task: Task, part: str, device: torch.device) -> None:
        self.metric = task.metric
        y = torch.as_tensor(task.y[part], device=device)
        if self.metric == "accuracy":
            self.y = y
        else:
            y = y.reshape(len(y), -1).T  # (tasks, n)
            self.present = ~torch.isnan(y)
            self.positive = torch.nan_to_num(y) > 0.5

    def __call__(self, logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(k,) metric, and (k, tasks) per-task AUCs for the multitask metric (else None)."""
        if self.metric == "accuracy":
            return (logits.argmax(dim=-1) == self.y).double().mean(dim=-1), None
        k = logits.shape[0]
        if self.metric == "roc_auc":
            score = logits[..., 0] if logits.shape[-1] == 1 else logits[..., 1] - logits[..., 0]
            auc = roc_auc_rows(score, self.positive.expand(k, -1), self.present.expand(k, -1))
            return auc, None
        tasks = self.present.shape[0]
        scores = logits.transpose(1, 2).reshape(k * tasks, -1)
        aucs = roc_auc_rows(scores, self.positive.repeat(k, 1), self.present.repeat(k, 1)).view(k, tasks)
        return torch.nanmean(aucs, dim=1), aucs
