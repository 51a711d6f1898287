"""A job's grid: every configuration trained by one of the two engines, then the result rows.

``run_grid`` picks the engine (``train.engine``; ``auto``: batched on CUDA, see ``uses_batched``),
groups the configurations that share an architecture for the batched engine (``batched.py``),
sizes each group to the device's memory, halves a group that runs out of memory, and trains the
members of a group that fails any other way with the reference engine (``engine.py``), which
records what fails; each row's ``engine`` column says which engine trained it.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np
import pandas as pd
import torch

from snnbench import __version__, methods
from snnbench.contracts.results import curves_frame, result_frame
from snnbench.methods import build_model, depth_of
from snnbench.settings import TrainSettings
from snnbench.training import batched
from snnbench.training.engine import train_config
from snnbench.training.grids import config_seed
from snnbench.training.progress import GridProgress
from snnbench.training.recipe import ConfigResult, TaskTensors, resolve_device, set_tf32
from snnbench.training.selection import select
from snnbench.training.stacked import unstackable
from snnbench.training.task import Task

log = logging.getLogger("snnbench.train")


def uses_batched(settings: TrainSettings, device: torch.device) -> bool:
    # NOTE: auto trains batched on CUDA only (docs/performance.md measures both engines on a CPU).
    return settings.engine == "batched" or (settings.engine == "auto" and device.type == "cuda")


def batching_problem(method: str, config: dict[str, Any], *, n_in: int, n_out: int,
                     settings: TrainSettings) -> str | None:
    """Why the batched engine cannot train ``method`` (None: it can): the method opts out
    (``MethodSpec.batched``), or its network has modules without a stacked form (``stacked.STACKERS``)."""

    if not methods.get(method, setting="method").batched:
        return f"{method} asks for the reference engine (batched: false)"
    try:
        with torch.device("meta"):
            model = build_model(method, n_in=n_in, n_out=n_out, config=config, architecture=settings.architecture())
    except Exception:  # the engines record what fails to build, configuration by configuration
        return None
    missing = unstackable(model)
    return f"no stacked form for {', '.join(missing)} (stacked.STACKERS)" if missing else None


def _member_bytes(model: torch.nn.Module, *, batch: int, eval_rows: int, optimizer_slots: int, l2: bool,
                  adam: bool) -> int:
    """Rough device memory one member needs on the batched engine, float32: its parameters; their
    gradients twice (in the graphs' memory pool, and the copy the eager warm-up steps leave in
    the allocator's cache); the optimiser's state; with L2 the per-member decay tensor and the
    decayed gradient (pool and cache); Adam's two temporaries (pool and cache); the activations
    and dropout masks of a training batch and of an evaluation chunk, twice (pool and cache)."""
    n_params = sum(p.numel() for p in model.parameters())
    widths = [p.shape[0] for p in model.parameters() if p.ndim == 2]
    per_param = 1 + 2 + optimizer_slots + (3 if l2 else 0) + (4 if adam else 0)
    activations = 2 * (12 * batch * sum(widths) + eval_rows * max(widths, default=1) * 2)
    return 4 * (n_params * per_param + activations)


def max_group_size(model: torch.nn.Module, *, device: torch.device, batch: int, eval_rows: int,
                   optimizer_slots: int, cap: int, streams: int = 1, l2: bool = False, adam: bool = False) -> int:
    """How many members fit in one of ``streams`` groups in flight: 80 % of the free device memory
    (CUDA) or half the available RAM (CPU), shared by the groups."""
    need = _member_bytes(model, batch=batch, eval_rows=eval_rows, optimizer_slots=optimizer_slots, l2=l2, adam=adam)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        usable = 0.8 * free
    else:
        try:
            free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            free = 4 * 2**30
        usable = 0.5 * free
    return max(1, min(cap, int(usable / max(1, streams) // max(need, 1))))


def even_chunks(indices: list[int], size: int) -> list[list[int]]:
    """``indices`` in the fewest chunks of at most ``size``, as even as they can be (18 with room
    for 15: 9 and 9, not 15 and 3)."""
    count = -(-len(indices) // max(1, size))
    base, extra = divmod(len(indices), count)
    out, at = [], 0
    for c in range(count):
        take = base + (c < extra)
        out.append(indices[at:at + take])
        at += take
    return out


def _optimizer_slots(settings: TrainSettings) -> int:
    return 2 if settings.optimizer == "adam" else (1 if settings.momentum > 0 else 0)


def train_configs_batched(method: str, configs: list[dict[str, Any]], seeds: list[int], data: TaskTensors, *,
                          settings: TrainSettings, device: torch.device, max_members: int | None = None,
                          on_result=None) -> list[ConfigResult]:
    """Every configuration's ``ConfigResult``, training each architecture group batched,
    ``train.streams`` groups at once (``batched.train_groups``). A group too large for memory is
    split evenly; an out-of-memory error halves the groups in flight, then the failing group,
    and retries (a lone member out of memory goes to the reference engine); any other error of a
    group falls back to the reference engine for its members (which records what fails)."""
    results: list = [None] * len(configs)
    chunks: list[list[int]] = []
    streams = max(1, settings.streams)
    for indices in batched.group_configs(configs):
        with torch.device("meta"):
            probe = build_model(method, n_in=data.task.n_in, n_out=data.task.n_out, config=configs[indices[0]],
                                architecture=settings.architecture())
        l2 = any(float(configs[i].get("l2", 0.0)) + settings.weight_decay > 0 for i in indices)
        size = max_members or max_group_size(probe, device=device, batch=settings.batch_size,
                                             eval_rows=min(settings.eval_batch_size,
                                                           max(len(x) for x in data.X.values())),
                                             optimizer_slots=_optimizer_slots(settings), cap=settings.max_group_size,
                                             streams=streams, l2=l2, adam=settings.optimizer == "adam")
        chunks += even_chunks(indices, size)

    def record(chunk: list[int], out: list[ConfigResult]) -> None:
        for i, result in zip(chunk, out):
            results[i] = result
            if on_result:
                on_result(i, result)

    def one_by_one(chunk: list[int]) -> None:
        record(chunk, [train_config(method, configs[i], data, settings=settings, seed=seeds[i], device=device)
                       for i in chunk])

    while chunks:
        finished: set[int] = set()

        def on_group(g: int, out: list[ConfigResult], chunks=chunks) -> None:
            finished.add(g)
            record(chunks[g], out)

        try:
            batched.train_groups(method, [([configs[i] for i in c], [seeds[i] for i in c]) for c in chunks], data,
                                 settings=settings, device=device, streams=streams, on_group=on_group)
            break
        except batched.GroupFailure as failure:
            bad, error = chunks[failure.index], failure.error
            left = [c for g, c in enumerate(chunks) if g not in finished and c is not bad]
            if device.type == "cuda":
                torch.cuda.empty_cache()
            if isinstance(error, torch.OutOfMemoryError) and streams > 1:
                streams = max(1, streams // 2)
                log.warning("out of memory with %d groups in flight; retrying with %d", streams * 2, streams)
                left.insert(0, bad)
            elif isinstance(error, torch.OutOfMemoryError) and len(bad) > 1:
                halves = even_chunks(bad, -(-len(bad) // 2))
                log.warning("out of memory with %d members; retrying with %d", len(bad), len(halves[0]))
                left = halves + left
            else:
                log.warning("batched group failed (%s: %s); training its %d members one by one",
                            type(error).__name__, error, len(bad))
                one_by_one(bad)
            chunks = left
    return results


def count_parameters(method: str, config: dict[str, Any], *, n_in: int, n_out: int, settings: TrainSettings) -> int:
    """Parameter count without allocating (built on the meta device)."""
    with torch.device("meta"):
        model = build_model(method, n_in=n_in, n_out=n_out, config=config, architecture=settings.architecture())
    return sum(p.numel() for p in model.parameters())


def run_grid(task: Task, *, benchmark: str, dataset: str, method: str, split: int, configs: list[dict[str, Any]],
             settings: TrainSettings, threads: int | None = None,
             progress: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train every configuration; returns (one row per configuration, long-format curves).

    With ``settings.refit``, the selected configuration is trained again on training +
    validation rows for its early-stopping epoch count, and added as a row with phase ``refit``.
    """
    if threads:
        torch.set_num_threads(threads)
    device = resolve_device(settings.device)
    set_tf32(settings.tf32)
    data = TaskTensors(task, device)
    gpu_model = torch.cuda.get_device_name(device) if device.type == "cuda" else ""
    cpu_capability = torch.backends.cpu.get_cpu_capability()  # AVX2 and AVX-512 kernels round differently
    hp_names = list(configs[0]) if configs else []
    costs = [1] * len(configs)
    for indices in batched.group_configs(configs):  # one architecture, one count
        try:
            count = count_parameters(method, configs[indices[0]], n_in=task.n_in, n_out=task.n_out, settings=settings)
        except ValueError:
            continue
        for i in indices:
            costs[i] = count
    bar = GridProgress(label=f"{benchmark}/{dataset}/{method}/split{split}", costs=costs) if progress else None
    base = {"benchmark": benchmark, "dataset": dataset, "method": method, "split": split, "metric": task.metric}
    task_columns = task.task_columns()
    rows, curve_frames = [], []

    def record(config_id: int, config: dict[str, Any], seed: int, result: ConfigResult, n_params: int,
               phase: str) -> dict:
        row = {**base, "phase": phase, "config_id": config_id, **config, "depth": depth_of(method, config),
               "seed": seed, "n_params": n_params, "status": result.status, "error": result.error,
               "best_epoch": None if result.best_epoch is None else result.best_epoch + 1,
               "epochs_run": len(result.curves.train_loss), "val_metric": result.val_metric,
               "val_metric_raw": result.val_metric_raw, "test_metric": result.test_metric,
               "final_train_loss": result.curves.train_loss[-1] if result.curves.train_loss else float("nan"),
               "seconds": round(result.seconds, 4), "engine": result.engine, "engine_note": result.engine_note,
               "device": str(device), "gpu_model": gpu_model, "cpu_capability": cpu_capability,
               "threads": torch.get_num_threads(),
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

    batched_engine = uses_batched(settings, device) and bool(configs)
    if batched_engine:
        problem = batching_problem(method, configs[0], n_in=task.n_in, n_out=task.n_out, settings=settings)
        if problem:
            log.info("%s: the reference engine trains it: %s", method, problem)
            batched_engine = False
    if batched_engine:
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
    frame = result_frame(rows, hyperparameters=hp_names, task_columns=task_columns)
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
            frame = result_frame(rows, hyperparameters=hp_names, task_columns=task_columns)
    return frame, curves_frame(curve_frames)


