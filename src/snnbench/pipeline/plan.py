"""``snnbench plan``: the size of a run before it starts, and its projected time.

Per benchmark and in total: training jobs, configurations, configuration-steps (epochs x
minibatches, every configuration at the protocol's maximum: none diverges, every epoch trained)
and the matrix FLOPs of the torch methods (``flops.run_flops``, the test set evaluated at the
measured share of the epochs, protocol F5). Dataset sizes come from the prepared cards where the
data is prepared, else from each benchmark's planning sizes (``Benchmark.plan_sizes``; marked).

Projected wall time, torch methods:

* **this machine** (the reference engine on the CPU): a configuration-step costs a fixed host
  overhead plus its FLOPs at a rate, and a job its process's start, all measured by a few seconds
  of training here (``calibrate``; cached per machine, torch version and thread count), with as
  many jobs at once as the cores allow at ``train.threads`` each;
* **one GPU** (the batched engine, the run's ``train.streams``, ``train.jobs_per_gpu`` and
  ``train.tf32``): a low and a high figure of ``snnbench.training.costmodel`` (the model that
  ``benchmarks/gpu_projection.py`` prints too), its assumptions printed beside them. An estimate
  until a GPU measures it (``benchmarks/gpu_acceptance.py``).

The scikit-learn methods are counted (configurations, fits) but not timed.
"""

from __future__ import annotations

import json
import math
import os
import platform
import time
from pathlib import Path
from typing import Any

import pandas as pd

from snnbench import benchmarks, methods
from snnbench.pipeline.runs import train_jobs
from snnbench.settings import TrainSettings
from snnbench.training import costmodel
from snnbench.training.flops import run_flops
from snnbench.training.grids import expand
from snnbench.training.task import blobs_task

TEST_SHARE = 0.346  # share of epochs after which the test set is evaluated (protocol F5, measured)
CPU_WARNING_HOURS = 2.0
CALIBRATION_VERSION = 3  # part of the cache key: a changed measurement is measured again


def _card(prepared_dir: str | Path, benchmark: str, dataset: str) -> dict | None:
    path = Path(prepared_dir) / benchmark / f"{dataset}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


NOT_RUN = ("unavailable", "failed")  # a dataset in one of these states trains nothing: neither planned nor done


def _missing_member(benchmark: str, dataset: str, raw_dir: Path) -> str | None:
    """A file of ``dataset`` (a member under ``<dataset>/`` of one of its benchmark's sources) known
    to be missing before preparation: its source's verified download says so or, not downloaded
    yet, the shipped manifest has neither a size nor a checksum for it (the mirror has no copy,
    see the mirror's SOURCES.md)."""
    for source in benchmarks.get(benchmark).sources:
        try:
            report = json.loads((raw_dir / source.name / "_verified.json").read_text())
        except (OSError, ValueError):
            report = None
        if report is not None:
            missing = sorted(m for m, info in report.get("members", {}).items()
                             if m.startswith(f"{dataset}/") and info.get("status") == "missing")
        else:
            try:
                manifest = source.manifest
            except Exception:  # noqa: BLE001 - a source without a shipped manifest: nothing known
                continue
            missing = sorted(m for m, e in manifest.items()
                             if m.startswith(f"{dataset}/") and e.size is None and e.sha256 is None)
        if missing:
            origin = "its verified download lacks" if report is not None else "the shipped manifest has no copy of"
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            return f"{origin} {source.name}/{missing[0]}{more}"
    return None


def availability(config: dict[str, Any], benchmark: str, dataset: str) -> tuple[str, str]:
    """(state, why) of a dataset of the run: its prepared card's status (ok, unavailable, failed)
    where it is prepared; else unavailable where a file it needs is known to be missing (see
    ``_missing_member``); else "expected" (not prepared yet, nothing known against it)."""
    card = _card(Path(config["data_dir"]) / "prepared", benchmark, dataset)
    if card is not None and card.get("status") in ("ok", *NOT_RUN):
        return card["status"], str(card.get("reason") or "")
    missing = _missing_member(benchmark, dataset, Path(config["data_dir"]) / "raw")
    if missing:
        return "unavailable", missing
    return "expected", ""


def plan_rows(config: dict[str, Any], *, build: bool = True) -> pd.DataFrame:
    """One row per training job (benchmark, dataset, method, split)'s group: its splits, configurations,
    configuration-steps and FLOPs of its splits, members per batched group, and its dataset's
    ``availability`` (a dataset in ``NOT_RUN`` is listed, never counted). A torch method that
    declares no layer shapes (a user's) is built on the meta device for its FLOPs; with ``build``
    False its FLOPs are left uncounted (NaN) instead: the workflow's own process runs no user code."""
    from snnbench.training.batched import group_configs  # torch, loaded only here


    train = config["train"]
    settings = TrainSettings.from_dict({k: train[k] for k in TrainSettings.__dataclass_fields__ if k in train})
    prepared = Path(config["data_dir"]) / "prepared"
    rows = []
    known: dict[tuple[str, str], tuple[str, str]] = {}
    for job in train_jobs(config):
        spec = benchmarks.get(job.benchmark)
        card = _card(prepared, job.benchmark, job.dataset)
        if (job.benchmark, job.dataset) not in known:
            known[job.benchmark, job.dataset] = availability(config, job.benchmark, job.dataset)
        state, why = known[job.benchmark, job.dataset]
        n_in, n_out, n_train, n_val, n_test = spec.plan_sizes(job.dataset, card)
        cap = train["subsample"].get(job.benchmark)
        n_train = min(n_train, cap) if cap else n_train
        configs = expand(job.grid)
        row = {"benchmark": job.benchmark, "dataset": job.dataset, "method": job.method, "kind": job.kind,
               "splits": list(job.splits), "jobs": len(job.splits), "configurations": len(configs) * len(job.splits),
               "sizes": "prepared" if card is not None and card.get("status") == "ok" else "planned",
               "n_in": n_in, "n_out": n_out, "n_train": n_train, "n_val": n_val, "n_test": n_test,
               "grid": json.dumps(job.grid, sort_keys=True, default=str), "availability": state, "why": why}
        if job.kind == "torch":
            steps = settings.epochs * math.ceil(n_train / settings.batch_size)
            counted = build or methods.get(job.method).shapes is not None
            flops = math.nan if not counted else sum(
                run_flops(job.method, c, n_in=n_in, n_out=n_out, n_train=n_train, n_val=n_val, n_test=n_test,
                          epochs=settings.epochs, test_evals=TEST_SHARE * settings.epochs,
                          architecture=settings.architecture()) for c in configs)
            row.update(config_steps=steps * len(configs) * len(job.splits), flops=flops * len(job.splits),
                       members=len(configs) / max(1, len(group_configs(configs))), shapes_counted=counted)
        rows.append(row)
    return pd.DataFrame(rows)


def _cache_path() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "snnbench" / "calibration.json"


def calibration_key(threads: int) -> str:
    """A calibration's cache key: what it measured (its version), where, with which torch and threads."""
    import torch

    return (f"v{CALIBRATION_VERSION}|{platform.node()}|{platform.machine()}|torch {torch.__version__}|"
            f"{threads} thread(s)")


def calibrate(threads: int, *, cache: bool = True, refresh: bool = False) -> dict[str, float]:
    """This machine's reference engine: host seconds per configuration-step at a tiny width and
    FLOP/s at a paper-sized one (a few seconds of training on synthetic data), cached (``refresh``:
    measured again and cached)."""
    import torch

    from snnbench.training.engine import train_config  # torch, loaded only here
    from snnbench.training.recipe import TaskTensors  # torch, loaded only here

    key = calibration_key(threads)
    path = _cache_path()
    try:
        known = json.loads(path.read_text()) if cache else {}
    except (OSError, ValueError):
        known = {}
    if key in known and not refresh:
        return known[key]

    torch.set_num_threads(threads)
    task = blobs_task(2560, 32, 4)
    data = TaskTensors(task, torch.device("cpu"))
    settings = TrainSettings(epochs=4, batch_size=128, device="cpu", test_curve="every_epoch")
    n = {part: len(x) for part, x in task.X.items()}
    steps = settings.epochs * math.ceil(n["train"] / settings.batch_size)

    def seconds(width: int, layers: int, repeats: int) -> tuple[float, float]:
        config = {"n_hidden": width, "n_layers": layers, "lr": 0.01, "dropout": 0.0, "layer_form": "rectangular"}
        best = math.inf
        for _ in range(repeats):  # the fastest of a few: other load only slows a run down
            start = time.perf_counter()
            train_config("SNN", config, data, settings=settings, seed=0, device=torch.device("cpu"))
            best = min(best, time.perf_counter() - start)
        return best, run_flops("SNN", config, n_in=32, n_out=4, n_train=n["train"], n_val=n["validation"],
                               n_test=n["test"], epochs=settings.epochs)

    seconds(8, 2, 1)  # warm-up: imports, first allocations
    t_small, _ = seconds(8, 2, 3)
    t_big, flops_big = seconds(512, 4, 2)
    overhead = t_small / steps
    arithmetic = max(t_big - t_small, 0.25 * t_big)  # the big run's time beyond the small one's overhead
    result = {"host_s_per_step": overhead, "flops_per_s": flops_big / arithmetic, "job_start_s": job_start_seconds()}
    if cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({**known, key: result}, indent=1))
    return result


def job_start_seconds(repeats: int = 2) -> float:
    """Seconds a training job's process takes to start: Python and the imports of a torch job (the
    fastest of a few)."""
    import subprocess
    import sys

    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import snnbench.pipeline.job, snnbench.training.grid"], check=True,
                       env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [
                           str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH")]))})
        best = min(best, time.perf_counter() - start)
    return best


def job_seconds(rows: pd.DataFrame, calibration: dict[str, float]) -> pd.Series:
    """Projected seconds of each torch row (a job group: its splits' jobs) on this machine: host time
    per configuration-step, FLOPs at the calibrated rate, and each job's process start."""
    return (rows["config_steps"] * calibration["host_s_per_step"]
            + rows["flops"].fillna(0.0) / calibration["flops_per_s"]
            + rows["jobs"] * calibration["job_start_s"])


def gpu_run(config: dict[str, Any]) -> "costmodel.GpuRun":
    """The run's GPU settings the cost model reads (``train.streams``: 4 where the config has none)."""

    return costmodel.GpuRun.from_train(config["train"])


def gpu_job_seconds(rows: pd.DataFrame, config: dict[str, Any], *, run=None) -> pd.DataFrame:
    """Per torch row (a job group): the cost model's low and high GPU seconds of its jobs (NaN where
    its layer shapes are not counted, see ``plan_rows``)."""

    train = config["train"]
    settings = TrainSettings.from_dict({k: train[k] for k in TrainSettings.__dataclass_fields__ if k in train})
    run = run or gpu_run(config)
    out = []
    for r in rows.itertuples():
        if r.kind != "torch" or not r.shapes_counted:
            out.append((r.Index, math.nan, math.nan))
            continue
        job = costmodel.Job(r.method, tuple(expand(json.loads(r.grid))), r.n_in, r.n_out, r.n_train, r.n_val, r.n_test,
                            epochs=settings.epochs, batch_size=settings.batch_size,
                            eval_batch_size=settings.eval_batch_size, test_share=TEST_SHARE,
                            architecture=settings.architecture())
        low, high = (costmodel.job_seconds(job, run, a)["total"] * r.jobs for a in costmodel.BOTH)
        out.append((r.Index, low, high))
    return pd.DataFrame(out, columns=["index", "gpu_low_s", "gpu_high_s"]).set_index("index")


def projected_hours(rows: pd.DataFrame, config: dict[str, Any], *, calibration: dict[str, float], cores: int,
                    threads: int, run=None) -> pd.DataFrame:
    """Per benchmark: this machine's projected hours of the torch methods, and one GPU's, low and high."""
    torch_rows = rows[rows["kind"] == "torch"]
    gpu = gpu_job_seconds(torch_rows, config, run=run)
    out = []
    for benchmark, part in torch_rows.groupby("benchmark", sort=False):
        cpu = job_seconds(part, calibration).sum()
        g = gpu.loc[part.index]
        out.append({"benchmark": benchmark, "cpu_hours": cpu / max(1, cores // max(1, threads)) / 3600,
                    "gpu_low_hours": g["gpu_low_s"].sum() / 3600, "gpu_high_hours": g["gpu_high_s"].sum() / 3600})
    return pd.DataFrame(out, columns=["benchmark", "cpu_hours", "gpu_low_hours", "gpu_high_hours"])


def si_prefixed(x: float) -> str:
    """A count with an SI prefix, three significant digits, to be followed by its unit ('617 G' + 'FLOP'):
    never a raw integer of ten digits (issue 24)."""
    for unit, size in (("E", 1e18), ("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if x >= size:
            return f"{x / size:.3g} {unit}"
    return f"{x:.0f} "


def _hours(h: float) -> str:
    return f"{h * 60:.0f} min" if h < 1 else f"{h:.1f} h"


def _range(low: float, high: float) -> str:
    """A low-high range of hours, in one unit."""
    if high < 1:
        def minutes(h: float) -> str:
            return f"{h * 60:.2g}" if h * 60 < 10 else f"{h * 60:.0f}"

        return f"{minutes(low)}–{minutes(high)} min"
    return f"{low:.1f}–{high:.1f} h"


def gpu_lines(rows: pd.DataFrame, config: dict[str, Any], run, low_h: float, high_h: float) -> list[str]:
    """The one-GPU column's settings and the cost model's assumptions, low / high, wrapped."""
    import textwrap


    J = run.jobs_per_gpu
    head = (f"  one GPU: {_range(low_h, high_h)}, the cost model (snnbench.training.costmodel; "
            f"AN ESTIMATE until a GPU measures it: benchmarks/gpu_acceptance.py) at {run.streams} stream(s) a job "
            "(train.streams)"
            + f", {J} job(s) per GPU" + (" time-sliced (no MPS)" if J > 1 else "")
            + f", {'TF32' if run.tf32 else 'FP32'}")
    if J > 1:
        from dataclasses import replace

        mps = gpu_job_seconds(rows[rows["kind"] == "torch"], config, run=replace(run, mps=True)).sum() / 3600
        head += f"; with MPS {_range(mps['gpu_low_s'], mps['gpu_high_s'])}"
    body = ("assumptions low / high: " + "; ".join(costmodel.assumption_lines())
            + f"; kernels per group-step {costmodel.FIXED_KERNELS:g} + per linear layer from "
              f"{costmodel.MEASURED_KERNELS_SOURCE}")
    return [head] + textwrap.wrap(body, width=116, initial_indent="    ", subsequent_indent="    ",
                                  break_on_hyphens=False)


def plan_text(config: dict[str, Any], *, calibration: dict[str, float] | None = None,
              cores: int | None = None, build: bool = True) -> tuple[list[str], pd.DataFrame]:
    """The plan as printed, and its rows. Without ``calibration`` it is measured (or read from the
    cache); ``build``: see ``plan_rows``."""
    every = plan_rows(config, build=build)
    threads = int(config["train"]["threads"])
    cores = cores or os.cpu_count() or 1
    lines = ["snnbench plan (every configuration at the protocol's maximum: all epochs, none diverging):"]
    rows = every[~every["availability"].isin(NOT_RUN)] if len(every) else every
    if rows.empty:
        return lines + ["  nothing to train"] + not_run_lines(every), every
    calibration = calibration or calibrate(threads)
    run = gpu_run(config)
    hours = projected_hours(rows, config, calibration=calibration, cores=cores, threads=threads,
                            run=run).set_index("benchmark")
    header = (f"  {'benchmark':<9} {'jobs':>6} {'configs':>9} {'config-steps':>13} {'FLOPs':>9} {'this machine':>13} "
              f"{'one GPU':>13}")
    lines.append(header)
    totals = {"jobs": 0, "configurations": 0, "config_steps": 0.0, "flops": 0.0, "cpu": 0.0, "gpu_low": 0.0,
              "gpu_high": 0.0}
    for benchmark, part in rows.groupby("benchmark", sort=False):
        torch_part = part[part["kind"] == "torch"]
        steps = float(torch_part["config_steps"].sum()) if len(torch_part) else 0.0
        flops = float(torch_part["flops"].fillna(0.0).sum()) if len(torch_part) else 0.0
        cpu = float(hours["cpu_hours"].get(benchmark, 0.0))
        low = float(hours["gpu_low_hours"].get(benchmark, 0.0))
        high = float(hours["gpu_high_hours"].get(benchmark, 0.0))
        lines.append(f"  {benchmark:<9} {int(part['jobs'].sum()):>6} {int(part['configurations'].sum()):>9} "
                     f"{steps:>13.3g} {si_prefixed(flops) + 'FLOP':>9} {_hours(cpu):>13} {_range(low, high):>13}")
        for key, value in (("jobs", part["jobs"].sum()), ("configurations", part["configurations"].sum()),
                           ("config_steps", steps), ("flops", flops), ("cpu", cpu), ("gpu_low", low),
                           ("gpu_high", high)):
            totals[key] += value
    lines.append(f"  {'total':<9} {int(totals['jobs']):>6} {int(totals['configurations']):>9} "
                 f"{totals['config_steps']:>13.3g} {si_prefixed(totals['flops']) + 'FLOP':>9} "
                 f"{_hours(totals['cpu']):>13} "
                 f"{_range(totals['gpu_low'], totals['gpu_high']):>13}")
    lines += not_run_lines(every)
    expected = rows.loc[rows["availability"] == "expected", ["benchmark", "dataset"]].drop_duplicates()
    if len(expected):
        lines.append(f"  {len(expected)} dataset(s) not prepared yet, planned as available (known after their "
                     "download; `snnbench status` then counts only the work that runs)")
    planned = rows[rows["sizes"] == "planned"]
    uncounted = (sorted(set(rows.loc[(rows["kind"] == "torch") & rows["flops"].isna(), "method"]))
                 if "flops" in rows else [])
    lines += gpu_lines(rows, config, run, totals["gpu_low"], totals["gpu_high"])
    lines.append(f"  this machine: the reference engine on {cores} core(s), {threads} thread(s) a job, calibrated "
                 f"{calibration['host_s_per_step'] * 1e3:.2f} ms a configuration-step + "
                 f"{calibration['flops_per_s'] / 1e9:.1f} GFLOP/s + {calibration['job_start_s']:.1f} s a job's start; "
                 "one GPU: the cost model above; scikit-learn methods counted, not timed"
                 + (f"; sizes planned, not read, for {len(planned)} job group(s) whose data is not prepared yet"
                    if len(planned) else "")
                 + (f"; FLOPs and GPU time not counted for {', '.join(uncounted)} (no declared layer shapes; "
                    "`snnbench plan` builds them)" if uncounted else ""))
    if totals["cpu"] > CPU_WARNING_HOURS:
        lines.append(f"  WARNING: about {_hours(totals['cpu'])} on this machine. Ways out: the quick tour "
                     "(--configfile config/quick.yaml), a narrower grid (train.narrow), a GPU (train.gpus: 1), "
                     "or a SLURM cluster (--workflow-profile profiles/slurm); see README.")
    return lines, every


def not_run_lines(rows: pd.DataFrame) -> list[str]:
    """The datasets a run trains nothing on (unavailable or failed data), each with its reason."""
    if rows.empty:
        return []
    out = []
    skipped = rows[rows["availability"].isin(NOT_RUN)]
    for (benchmark, dataset), part in skipped.groupby(["benchmark", "dataset"], sort=False):
        why = str(part["why"].iloc[0]).splitlines()[0] if str(part["why"].iloc[0]) else ""
        out.append(f"  not planned: {benchmark}/{dataset}, {part['availability'].iloc[0]} ({int(part['jobs'].sum())} "
                   f"job(s)){': ' + why[:160] if why else ''}")
    return out
