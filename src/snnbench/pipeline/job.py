"""One training job as a function: a method's grid on one dataset and split, selected on
validation, written as the job's results (``snnbench train`` parses its arguments and calls this)."""

from __future__ import annotations

import logging
import re
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import pandas as pd

from snnbench import benchmarks, methods
from snnbench.contracts.prepared import PreparedDataset, card_path, checked_card
from snnbench.contracts.results import output_paths, write_outputs
from snnbench.errors import ConfigError
from snnbench.methods.custom import check_networks
from snnbench.settings import TrainSettings
from snnbench.training.devices import claim_gpu, device_problem, job_device, mps_status, resolve_gpus
from snnbench.training.grids import expand, grid_size
from snnbench.training.selection import summarize

log = logging.getLogger("snnbench")


def run_training_job(*, benchmark: str, dataset: str, method: str, split: int, grid: dict[str, list],
                     settings: TrainSettings, prepared_dir: str | Path, out: str | Path, threads: int | None = None,
                     progress: bool = True, gpus: int | str = "auto", jobs_per_gpu: int = 1,
                     gpu_lock_dir: str | None = None,
                     setting_names: tuple[str, str] = ("train.device", "train.gpus")) -> dict[str, Any]:
    """Train every configuration of ``grid`` (``method``: a registered method, ``snnbench.methods``) on the
    prepared ``dataset``'s ``split``, select on validation, and write the rows, curves and summary
    under ``out`` (``results.output_paths``). Returns the summary; its ``selected`` is None when
    the dataset is unavailable (``status`` says why) or no configuration finished. A failing
    configuration is a row of the results, never an exception.

    A torch method's job claims ``gpus`` (``auto``, 0 or 1; ``snnbench.training.devices``) before CUDA
    starts and trains on ``settings.device``, ``auto`` being the claimed GPU, else the CPU; a
    device that contradicts ``gpus`` raises ``ConfigError`` naming ``setting_names``."""
    spec = methods.check(method, setting="method")
    configs = expand(grid)
    output_paths(out)  # checks the name before any work
    if spec.kind != "sklearn":
        gpu_choice = resolve_gpus(gpus, device=settings.device, name=setting_names[1])
        problem = device_problem(settings.device, gpu_choice, names=setting_names)
        if problem:
            raise ConfigError(problem)
    extra: dict[str, Any] = {"benchmark": benchmark, "dataset": dataset, "method": method, "kind": spec.kind,
                             "origin": spec.origin, "split": split, "grid": grid, "grid_size": grid_size(grid),
                             "settings": asdict(settings)}
    bench = benchmarks.get(benchmark, setting="benchmark")
    published = bench.published_metric
    if published is not None:
        extra["published_test_metric"] = published(dataset, method)
    card = card_path(prepared_dir, benchmark, dataset)
    meta = checked_card(card)  # a damaged arrays file: the dataset failed, recorded like a failed preparation
    if meta["status"] != "ok":
        summary = {**extra, "status": meta["status"], "reason": f"dataset {meta['status']}: {meta['reason']}",
                   "n_configs": 0, "selected": None}
        write_outputs(out, pd.DataFrame(), pd.DataFrame(), summary)
        return summary
    task = bench.make_task(PreparedDataset.load(card), split, settings=settings,
                           max_train_rows=settings.max_train_rows, subsample_seed=settings.seed)
    extra.update(metric=task.metric, task=task.kind, sizes=task.sizes(), split_info=task.info)
    log.info("%s/%s/%s split %d: %d configurations, %s %s", benchmark, dataset, method, split, len(configs),
             task.metric, task.sizes())
    if spec.kind == "torch" and spec.origin != "snnbench":  # a user's builder: checked before any training
        try:
            check_networks(spec, configs, n_in=task.n_in, n_out=task.n_out, architecture=settings.architecture())
        except ConfigError as exc:
            if exc.__cause__ is not None:
                log.error("the builder's traceback", exc_info=exc.__cause__)
            raise
    if spec.kind == "sklearn":
        from snnbench.training.estimators import run_baseline_grid  # sklearn, loaded only here

        frame, curves = run_baseline_grid(task, benchmark=benchmark, dataset=dataset, method=method, split=split,
                                          configs=configs, seed=settings.seed, threads=threads, progress=progress)
    else:
        from snnbench.training.grid import run_grid  # torch, loaded only here

        # before anything starts CUDA: the claim sets CUDA_VISIBLE_DEVICES for this process and
        # holds its GPU job slot's lock until the process ends
        claim = claim_gpu(wanted=gpu_choice.gpus, slots=jobs_per_gpu, lock_dir=gpu_lock_dir)
        import torch

        device, warning = job_device(settings.device, claim, cuda_available=torch.cuda.is_available())
        if warning:
            log.warning("%s", warning)
        # device: the GPU id claimed (as CUDA_VISIBLE_DEVICES named it); trains_on: train.device resolved
        extra["gpu_claim"] = {**claim.as_dict(), "gpus": gpu_choice.setting, "gpus_resolved": gpu_choice.gpus,
                              "device_setting": settings.device, "trains_on": device, "mps": mps_status(),
                              "from": time.time()}
        if warning:
            extra["gpu_claim"]["warning"] = warning
        frame, curves = run_grid(task, benchmark=benchmark, dataset=dataset, method=method, split=split,
                                 configs=configs, settings=replace(settings, device=device), threads=threads,
                                 progress=progress)
        extra["gpu_claim"]["to"] = time.time()

    summary = summarize(frame, hp_names=list(grid), extra=extra)
    write_outputs(out, frame, curves, summary)
    return summary


def job_settings(values: dict[str, Any], *, device: str | None = None) -> TrainSettings:
    """The job's TrainSettings from the train section's values (``device`` over them)."""
    if device:
        values = {**values, "device": device}
    return TrainSettings.from_dict(values, setting="train")


def job_out(benchmark: str, dataset: str, method: str, split: int) -> str:
    """The default results table of a training job."""
    return f"results/train/{benchmark}/{dataset}/{method}/split{split}.csv"


ERROR_PREFIX = "snnbench: error: "  # how snnbench.cli.main prints an error it raised on purpose
FRAME = re.compile(r'\s+File "(?P<path>.+)", line (?P<line>\d+), in (?P<func>.+)')
MAX_REASON = 300


def failure_line(log_text: str) -> str:
    """The one line of a crashed job's log that says why: snnbench's own error, else the last
    traceback's exception with its innermost frame, else the log's last line that is not a
    traceback's marker row (``^^^^``); '' for an empty log. The log keeps the whole traceback."""
    lines = [line.rstrip() for line in log_text.splitlines()]
    for line in reversed(lines):
        if line.startswith(ERROR_PREFIX):
            return line[len(ERROR_PREFIX):]
    starts = [i for i, line in enumerate(lines) if line.startswith("Traceback (most recent call last)")]
    if starts:
        frame = None
        for line in lines[starts[-1] + 1:]:
            match = FRAME.match(line)
            if match:
                frame = match
            elif line and not line[0].isspace():
                where = f" (at {Path(frame['path']).name}:{frame['line']}, in {frame['func']})" if frame else ""
                return line + where
    for line in reversed(lines):
        if line.strip(" ^~"):
            return line.strip()
    return ""


def record_failure(*, benchmark: str, dataset: str, method: str, split: int, out: str | Path,
                   log_path: str | Path | None, reason: str) -> dict[str, Any]:
    """Write the outputs of a training job that crashed (the line of its log that says why, in
    the reason: one line, ``failure_line``), so the run records it and goes on; returns the summary."""
    why = ""
    if log_path and Path(log_path).is_file():
        why = failure_line(Path(log_path).read_text(errors="replace"))
    if len(why) > MAX_REASON:
        why = why[:MAX_REASON - 1] + "…"
    try:
        kind = methods.get(method).kind
    except ConfigError:  # a custom method the workflow registered; this process does not know it
        kind = None
    summary = {"benchmark": benchmark, "dataset": dataset, "method": method, "kind": kind, "split": split,
               "status": "failed",
               "reason": f"the training job crashed ({reason})" + (f": {why}" if why else "") + f"; log {log_path}",
               "n_configs": 0, "selected": None}
    write_outputs(out, pd.DataFrame(), pd.DataFrame(), summary)
    return summary
