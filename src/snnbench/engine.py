"""The reference training engine: one configuration at a time, exactly the paper's protocol.

Per configuration: ``epochs`` epochs of minibatch training; after each epoch the validation and
test metric; the early-stopping epoch read off the validation curve smoothed by a moving
average; the test metric at that epoch. Over the grid: selection on validation with the paper's
tie-break (``selection.select``). The batched engine (``batched.py``, the default on CUDA) is
checked against this one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from . import __version__
from .errors import ConfigError
from .metrics import evaluate, mean_of_tasks, task_roc_aucs
from .models import build_model, depth_of, seed_dropout
from .progress import GridProgress
from .selection import early_stopping_epoch, hyperparameters, select
from .settings import TrainSettings
from .tasks import Task, per_task_columns

log = logging.getLogger("snnbench.train")

STATUSES = ("ok", "diverged", "failed")


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


def config_seed(base: int, *parts: Any) -> int:
    """A seed from the run's seed and what identifies a configuration, independent of grid order,
    so narrowing a grid leaves the remaining configurations' results unchanged."""
    text = json.dumps([base, *parts], sort_keys=True, default=str)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") & (2**63 - 1)


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

    @property
    def test_per_task(self) -> list[float] | None:
        """Multitask: each task's test AUC at the early-stopping epoch."""
        if self.test_task_curves is None or self.best_epoch is None:
            return None
        return self.test_task_curves[self.best_epoch]


def test_metrics(task: Task, logits: np.ndarray) -> tuple[float, list[float] | None]:
    """One epoch's test metric and, multitask, each task's test AUC (else None)."""
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


def _loss_fn(task: Task, loss: str):
    if loss == "cross_entropy":
        if task.kind == "multiclass":
            return nn.functional.cross_entropy

        def bce(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            # the mean over the present labels, written without boolean indexing (torch.vmap)
            present = ~torch.isnan(y)
            each = nn.functional.binary_cross_entropy_with_logits(logits, torch.where(present, y, 0.0), reduction="none")
            return torch.where(present, each, 0.0).sum() / present.sum().clamp(min=1)

        return bce
    if task.kind == "multiclass":
        def brier(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            onehot = nn.functional.one_hot(y, logits.shape[1]).to(logits.dtype)
            return ((torch.softmax(logits, dim=1) - onehot) ** 2).sum(dim=1).mean()

        return brier

    def squared(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        present = ~torch.isnan(y)
        each = (torch.sigmoid(logits) - torch.where(present, y, 0.0)) ** 2
        return torch.where(present, each, 0.0).sum() / present.sum().clamp(min=1)

    return squared


def _optimizer(model: nn.Module, *, lr: float, l2: float, settings: TrainSettings) -> torch.optim.Optimizer:
    decay = l2 + settings.weight_decay
    # L2 on the weight matrices only (for WeightNorm: its direction and scale), not on biases
    # or normalisation gains: the gradient of (decay / 2) * ||W||^2.
    weights = [p for p in model.parameters() if p.ndim >= 2]
    others = [p for p in model.parameters() if p.ndim < 2]
    groups = [{"params": weights, "weight_decay": decay}, {"params": others, "weight_decay": 0.0}]
    if settings.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=settings.momentum)
    return torch.optim.Adam(groups, lr=lr)


@torch.no_grad()
def _logits(model: nn.Module, X: torch.Tensor, batch: int) -> np.ndarray:
    model.eval()
    out = [model(X[i:i + batch]) for i in range(0, len(X), batch)]
    return torch.cat(out).float().cpu().numpy()


class TaskTensors:
    """A task's arrays resident on the device (the datasets are small enough)."""

    def __init__(self, task: Task, device: torch.device) -> None:
        self.task = task
        self.X = {k: torch.as_tensor(v, device=device) for k, v in task.X.items()}
        self.y = {k: torch.as_tensor(v, device=device) for k, v in task.y.items()}

    def combined(self, parts: tuple[str, ...]) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.cat([self.X[p] for p in parts]), torch.cat([self.y[p] for p in parts])


def train_config(method: str, config: dict[str, Any], data: TaskTensors, *, settings: TrainSettings, seed: int,
                 device: torch.device, epochs: int | None = None, train_parts: tuple[str, ...] = ("train",)) -> ConfigResult:
    """Train one configuration; never raises for a diverging or failing run (see ``status``)."""
    task = data.task
    epochs = settings.epochs if epochs is None else epochs
    curves = Curves([], [], [])
    start = time.perf_counter()
    try:
        torch.manual_seed(seed)
        model = build_model(method, n_in=task.n_in, n_out=task.n_out, config=config,
                            architecture=settings.architecture())
        model = seed_dropout(model, seed).to(device)
        optimizer = _optimizer(model, lr=float(config["lr"]), l2=float(config.get("l2", 0.0)), settings=settings)
        loss_fn = _loss_fn(task, settings.loss)
        X, y = data.combined(train_parts)
        n = len(X)
        order = torch.Generator().manual_seed(seed ^ 0x5EED5EED)
        y_val = task.y["validation"]
        per_task: list[list[float] | None] = []
        for epoch in range(epochs):
            model.train()
            total = torch.zeros((), device=device)
            perm = torch.randperm(n, generator=order).to(device)
            for i in range(0, n, settings.batch_size):
                idx = perm[i:i + settings.batch_size]
                # NOTE: BatchNorm cannot train on a batch of one row; a last batch of one is skipped.
                if len(idx) < 2 and method == "BatchNorm":
                    continue
                loss = loss_fn(model(X[idx]), y[idx])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                total += loss.detach() * len(idx)
            mean_loss = float(total) / n
            curves.train_loss.append(mean_loss)
            if not math.isfinite(mean_loss):
                return ConfigResult("diverged", f"training loss became {mean_loss} in epoch {epoch + 1}", curves,
                                    seconds=time.perf_counter() - start)
            curves.val.append(evaluate(task.metric, y_val, _logits(model, data.X["validation"], settings.eval_batch_size)))
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


def count_parameters(method: str, config: dict[str, Any], *, n_in: int, n_out: int, settings: TrainSettings) -> int:
    """Parameter count without allocating (built on the meta device)."""
    with torch.device("meta"):
        model = build_model(method, n_in=n_in, n_out=n_out, config=config, architecture=settings.architecture())
    return sum(p.numel() for p in model.parameters())


def run_grid(task: Task, *, benchmark: str, dataset: str, method: str, split: int, configs: list[dict[str, Any]],
             settings: TrainSettings, threads: int | None = None, progress: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train every configuration; returns (one row per configuration, long-format curves).

    With ``settings.refit``, the selected configuration is trained again on training +
    validation rows for its early-stopping epoch count, and added as a row with phase ``refit``.
    """
    if threads:
        torch.set_num_threads(threads)
    device = resolve_device(settings.device)
    set_tf32(settings.tf32)
    data = TaskTensors(task, device)
    hp_names = list(configs[0]) if configs else []
    costs = []
    for config in configs:
        try:
            costs.append(count_parameters(method, config, n_in=task.n_in, n_out=task.n_out, settings=settings))
        except ValueError:
            costs.append(1)
    bar = GridProgress(label=f"{benchmark}/{dataset}/{method}/split{split}", costs=costs) if progress else None
    base = {"benchmark": benchmark, "dataset": dataset, "method": method, "split": split, "metric": task.metric}
    task_columns = task.task_columns()
    rows, curve_frames = [], []

    def record(config_id: int, config: dict[str, Any], seed: int, result: ConfigResult, n_params: int, phase: str) -> dict:
        row = {**base, "phase": phase, "config_id": config_id, **config, "depth": depth_of(method, config),
               "seed": seed, "n_params": n_params, "status": result.status, "error": result.error,
               "best_epoch": None if result.best_epoch is None else result.best_epoch + 1,
               "epochs_run": len(result.curves.train_loss), "val_metric": result.val_metric,
               "val_metric_raw": result.val_metric_raw, "test_metric": result.test_metric,
               "final_train_loss": result.curves.train_loss[-1] if result.curves.train_loss else float("nan"),
               "seconds": round(result.seconds, 4), "engine": result.engine,
               "device": str(device), "threads": torch.get_num_threads(),
               "torch_version": torch.__version__, "snnbench_version": __version__,
               **dict(zip(task_columns, result.test_per_task or [float("nan")] * len(task_columns)))}
        rows.append(row)
        n = len(result.curves.train_loss)
        curve_frames.append(pd.DataFrame({
            "phase": phase, "config_id": config_id, "epoch": np.arange(1, n + 1),
            "train_loss": result.curves.train_loss,
            "val_metric": (result.curves.val + [float("nan")] * n)[:n],
            "test_metric": (result.curves.test + [float("nan")] * n)[:n],
        }))
        return row

    seeds = [config_seed(settings.seed, benchmark, dataset, split, method, config) for config in configs]

    def done(config_id: int, result: ConfigResult) -> None:
        config = configs[config_id]
        record(config_id, config, seeds[config_id], result, costs[config_id], "grid")
        if bar:
            shown = " ".join(f"{k}={v}" for k, v in config.items())
            outcome = (f"val {result.val_metric:.4f} test {result.test_metric:.4f} @ epoch {result.best_epoch + 1}"
                       if result.status == "ok" else f"{result.status}: {result.error}")
            bar.update(config_id, f"{shown} -> {outcome} ({result.seconds:.1f}s)")

    # NOTE: auto trains batched on CUDA only: on 2 CPU cores the batched engine measured 0.9-1.2x
    # the reference's throughput (docs/performance.md), the elementwise work growing with the group.
    if settings.engine == "batched" or (settings.engine == "auto" and device.type == "cuda"):
        from .batched import train_configs_batched

        train_configs_batched(method, configs, seeds, data, settings=settings, device=device, on_result=done)
    else:
        for config_id, config in enumerate(configs):
            done(config_id, train_config(method, config, data, settings=settings, seed=seeds[config_id],
                                         device=device))
    if bar:
        bar.close()
    # the batched engine finishes configurations group by group: back to grid order
    order = sorted(range(len(rows)), key=lambda i: rows[i]["config_id"])
    rows[:] = [rows[i] for i in order]
    curve_frames[:] = [curve_frames[i] for i in order]
    frame = pd.DataFrame(rows)
    if settings.refit and not frame.empty:
        chosen = select(frame)
        if chosen is not None:
            config = {k: configs[int(chosen["config_id"])][k] for k in hp_names}
            seed = int(chosen["seed"])
            # NOTE: refit is off by default: the paper does not say it refits (docs/protocol.md F8).
            result = train_config(method, config, data, settings=settings, seed=seed, device=device,
                                  epochs=int(chosen["best_epoch"]), train_parts=("train", "validation"))
            if result.status == "ok":  # the test metric after the last (= early-stopping) epoch
                result.test_metric = result.curves.test[-1]
                result.best_epoch = len(result.curves.test) - 1
            record(int(chosen["config_id"]), config, seed, result, int(chosen["n_params"]), "refit")
            frame = pd.DataFrame(rows)
    curves = pd.concat(curve_frames, ignore_index=True) if curve_frames else pd.DataFrame(
        columns=["phase", "config_id", "epoch", "train_loss", "val_metric", "test_metric"])
    return frame, curves


def summarize(frame: pd.DataFrame, *, hp_names: list[str], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON summary of one grid run, derived from its rows."""
    grid_rows = frame[frame["phase"] == "grid"] if not frame.empty else frame
    counts = {s: int((grid_rows["status"] == s).sum()) if not grid_rows.empty else 0 for s in STATUSES}
    summary: dict[str, Any] = {**(extra or {}), "n_configs": int(sum(counts.values())), "counts": counts}
    chosen = select(frame) if not frame.empty else None
    if chosen is None:
        summary.update(status="failed", reason="no configuration finished with a finite validation metric",
                       selected=None)
        return summary
    summary.update(status="ok", reason=None, selected={
        "config_id": int(chosen["config_id"]),
        "hyperparameters": hyperparameters(chosen, hp_names),
        "best_epoch": None if pd.isna(chosen["best_epoch"]) else int(chosen["best_epoch"]),
        "val_metric": float(chosen["val_metric"]),
        "val_metric_raw": float(chosen["val_metric_raw"]),
        "test_metric": float(chosen["test_metric"]),
        "seconds": float(chosen["seconds"]),
    })
    tasks = per_task_columns(frame.columns)
    if tasks:
        summary["selected"]["test_per_task"] = {name: float(chosen[c]) for c, name in tasks.items()}
    summary["total_seconds"] = float(frame["seconds"].sum())
    refit = frame[frame["phase"] == "refit"]
    if not refit.empty:
        r = refit.iloc[0]
        summary["refit"] = {"status": r["status"], "error": r["error"], "epochs": int(r["epochs_run"]),
                            "test_metric": float(r["test_metric"])}
    return summary
