"""``snnbench status``: how far a run is, weighted by its work, and when it should end.

Every training job of the config (``runs.train_jobs``, one per split) is in one of five states,
read from the results folder: not run (its dataset is unavailable or its data failed, as its
prepared card, its verified download or the shipped manifest says, ``plan.availability``; or its
summary says unavailable), finished (its summary .json: ok or failed), started (its log exists,
no summary: running, or interrupted; the last ``[k/n]`` progress line of the log says how many
configurations are done), or pending. A job that is not run weighs nothing: it is neither work
left nor work done, and the status names its dataset and why. The ETA is the training's: a
dataset still to prepare is named beside it ("not timed").

Progress is weighted by work, not by job count:

* a torch job weighs its projected seconds on this machine (``plan``'s calibrated model: host
  time per configuration-step plus its FLOPs at the calibrated rate); the FLOPs done and left
  are printed too;
* a scikit-learn job weighs its fits (configurations) at the seconds per fit that the finished
  jobs of the same benchmark and method took (or, before any finished, at the mean projected
  seconds per configuration of the benchmark's torch jobs);
* every job adds its process's start (calibrated).

The ETA divides the work left by the rate at which work was done: in wall-clock time over the
latest stretch of finished jobs (no gap over ``GAP_S``: a resumed run measures its own stretch),
which includes process start-up and the real parallelism; with fewer than ``MIN_FINISHED``
finished jobs, the calibrated projection at ``cores // threads`` jobs at a time instead.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from snnbench.pipeline.plan import NOT_RUN, job_seconds, plan_rows, si_prefixed
from snnbench.training.progress import clock

GAP_S = 1800.0
MIN_FINISHED = 3
PROGRESS = re.compile(r"\[(\d+)/(\d+)\]")


def _last_progress(log: Path) -> tuple[int, int] | None:
    """The last ``[k/n]`` of a training log (per-configuration progress lines), read from its end."""
    try:
        with open(log, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 65536))
            tail = f.read().decode(errors="replace")
    except OSError:
        return None
    found = PROGRESS.findall(tail)
    return (int(found[-1][0]), int(found[-1][1])) if found else None


def job_states(config: dict[str, Any], *, calibration: dict[str, float],
               rows: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per training job (benchmark, dataset, method, split): state, configurations (all and
    done), FLOPs, projected seconds, the measured seconds of a finished job, its summary's mtime."""

    rows = plan_rows(config, build=False) if rows is None else rows
    if "config_steps" in rows:  # a job group's projected seconds (scikit-learn groups: NaN)
        rows = rows.assign(projected_s=job_seconds(rows, calibration))
    results = Path(config["results_dir"])
    out = []
    if "availability" not in rows:
        rows = rows.assign(availability="expected", why="")
    for r in rows.itertuples(index=False):
        n_splits = int(r.jobs)
        per_split_configs = int(r.configurations) // max(1, n_splits)
        for split in r.splits:
            stem = Path(r.benchmark) / r.dataset / r.method / f"split{split}"
            summary = results / "train" / f"{stem}.json"
            log = results / "logs" / "train" / f"{stem}.log"
            row = {"benchmark": r.benchmark, "dataset": r.dataset, "method": r.method, "kind": r.kind, "split": split,
                   "configurations": per_split_configs, "done_configurations": 0, "seconds": math.nan,
                   "finished_at": math.nan, "state": "pending", "why": "", "prepared": r.availability == "ok"}
            if r.kind == "torch":
                row.update(flops=0.0 if pd.isna(r.flops) else float(r.flops) / n_splits,
                           projected_s=float(r.projected_s) / n_splits)
            else:
                row.update(flops=0.0, projected_s=math.nan)
            if r.availability in NOT_RUN:
                row.update(state="not run", why=f"{r.availability}: {r.why}".rstrip(": "))
                out.append(row)
                continue
            try:
                record = json.loads(summary.read_text())
                if record.get("status") == "unavailable":
                    row.update(state="not run", why=f"unavailable: {record.get('reason') or ''}".rstrip(": "))
                    out.append(row)
                    continue
                row.update(state=record.get("status", "failed"), done_configurations=per_split_configs,
                           seconds=float(record.get("total_seconds") or 0.0), finished_at=summary.stat().st_mtime)
            except (OSError, ValueError):
                if log.is_file():
                    row["state"] = "started"
                    progress = _last_progress(log)
                    if progress and progress[1] == per_split_configs:
                        row["done_configurations"] = progress[0]
            out.append(row)
    return pd.DataFrame(out)


def _weights(jobs: pd.DataFrame, job_start_s: float) -> pd.Series:
    """Each job's work in projected seconds on this machine (see the module's docstring)."""
    weights = jobs["projected_s"].copy()
    torch_jobs = jobs[(jobs["kind"] == "torch") & (jobs["state"] != "not run")]
    per_config = ((torch_jobs["projected_s"] - job_start_s).groupby(torch_jobs["benchmark"]).sum()
                  / torch_jobs.groupby("benchmark")["configurations"].sum().clip(lower=1))
    fallback = float(per_config.mean()) if len(per_config) else 1.0
    finished = jobs[(jobs["kind"] != "torch") & jobs["seconds"].notna() & (jobs["state"] == "ok")]
    per_fit = (finished.groupby(["benchmark", "method"])["seconds"].sum()
               / finished.groupby(["benchmark", "method"])["configurations"].sum().clip(lower=1))
    for i, job in jobs[jobs["kind"] != "torch"].iterrows():
        rate = per_fit.get((job["benchmark"], job["method"]), per_config.get(job["benchmark"], fallback))
        weights[i] = job["configurations"] * (rate if rate == rate else fallback) + job_start_s
    return weights.fillna(0.0).where(jobs["state"] != "not run", 0.0)


def _done_share(jobs: pd.DataFrame) -> pd.Series:
    finished = ~jobs["state"].isin(["pending", "started", "not run"])
    partial = jobs["done_configurations"] / jobs["configurations"].clip(lower=1)
    return partial.where(~finished, 1.0).where(~jobs["state"].isin(["pending", "not run"]), 0.0)


@dataclass
class Progress:
    jobs: pd.DataFrame
    weight: pd.Series
    done: pd.Series  # share of each job done

    @property
    def work_total(self) -> float:
        return float(self.weight.sum())

    @property
    def work_done(self) -> float:
        return float((self.weight * self.done).sum())

    def eta_s(self, *, cores: int, threads: int, now: float | None = None) -> tuple[float | None, str]:
        """Seconds left and how they were estimated."""
        left = self.work_total - self.work_done
        if left <= 0:
            return 0.0, "nothing left"
        finished = self.jobs.loc[self.jobs["finished_at"].notna()].sort_values("finished_at")
        stamps = finished["finished_at"].tolist()
        start = 0
        for i in range(1, len(stamps)):
            if stamps[i] - stamps[i - 1] > GAP_S:
                start = i
        stretch = finished.iloc[start:]
        now = time.time() if now is None else now
        if len(stretch) >= MIN_FINISHED and now - stamps[-1] <= GAP_S:
            # the stretch's first job finished at stamps[start]: measure from then to now
            elapsed = now - stretch["finished_at"].iloc[0]
            work = float(self.weight.loc[stretch.index[1:]].sum())
            work += float((self.weight * self.done).loc[self.jobs["state"] == "started"].sum())
            if elapsed > 0 and work > 0:
                return left * elapsed / work, f"at the rate of the last {len(stretch)} finished jobs"
        slots = max(1, cores // max(1, threads))
        return left / slots, f"projected: the calibration, {slots} job(s) at a time"


def progress(config: dict[str, Any], *, calibration: dict[str, float], rows: pd.DataFrame | None = None) -> Progress:
    jobs = job_states(config, calibration=calibration, rows=rows)
    if jobs.empty:
        return Progress(jobs, pd.Series(dtype=float), pd.Series(dtype=float))
    return Progress(jobs, _weights(jobs, calibration["job_start_s"]), _done_share(jobs))


def status_text(config: dict[str, Any], *, calibration: dict[str, float], cores: int | None = None,
                now: float | None = None) -> tuple[list[str], Progress]:
    """The table `snnbench status` prints, and the one line (its last) that ends a run."""

    p = progress(config, calibration=calibration)
    results = config["results_dir"]
    if p.jobs.empty:
        return [f"snnbench status ({results}): nothing to train"], p
    jobs = p.jobs.assign(weight=p.weight, done=p.done)
    lines = [f"snnbench status ({results}), work weighted by projected seconds (calibrated: steps, FLOPs, job starts):",
             f"  {'benchmark':<9} {'jobs done':>12} {'started':>7} {'failed':>6} {'not run':>7} {'FLOPs done':>22} "
             f"{'work done':>9}"]
    for benchmark, everything in jobs.groupby("benchmark", sort=False):
        part = everything[everything["state"] != "not run"]
        finished = ~part["state"].isin(["pending", "started"])
        flops_done = float((part["flops"] * part["done"]).sum())
        flops_text = si_prefixed(flops_done).strip() + " of " + si_prefixed(float(part["flops"].sum())) + "FLOP"
        share = float((part["weight"] * part["done"]).sum() / max(part["weight"].sum(), 1e-12))
        lines.append(f"  {benchmark:<9} {f'{int(finished.sum())}/{len(part)}':>12} "
                     f"{int((part['state'] == 'started').sum()):>7} "
                     f"{int((part['state'] == 'failed').sum()):>6} {len(everything) - len(part):>7} "
                     f"{flops_text:>22} {share:>9.0%}")
    threads = int(config["train"]["threads"])
    eta, how = p.eta_s(cores=cores or os.cpu_count() or 1, threads=threads, now=now)
    share = p.work_done / max(p.work_total, 1e-12)
    skipped = jobs[jobs["state"] == "not run"]
    jobs = jobs[jobs["state"] != "not run"]
    n_finished = int((~jobs["state"].isin(["pending", "started"])).sum())
    failed = jobs[jobs["state"] == "failed"]
    lines += [f"  not run: {b}/{d} ({len(part)} job(s)), {part['why'].iloc[0].splitlines()[0][:160]}"
              for (b, d), part in skipped.groupby(["benchmark", "dataset"], sort=False)]
    not_run = sorted(set(skipped["benchmark"] + "/" + skipped["dataset"]))
    waiting = jobs[(jobs["state"] == "pending") & ~jobs["prepared"].astype(bool)]
    to_prepare = sorted(set(waiting["benchmark"] + "/" + waiting["dataset"]))
    line = (f"snnbench: training {share:.0%} done by work ({n_finished} of {len(jobs)} jobs, "
            f"{si_prefixed(float((jobs['flops'] * jobs['done']).sum()))}FLOP of "
            f"{si_prefixed(float(jobs['flops'].sum()))}FLOP)"
            + ("" if eta == 0 else f", about {clock(eta)} left ({how}")
            + ("" if eta == 0 or not to_prepare else
               f"; not timed: preparing {', '.join(to_prepare[:3])}{' and more' if len(to_prepare) > 3 else ''} first")
            + ("" if eta == 0 else ")")
            + (f"; {len(failed)} failed job(s), e.g. {results}/logs/train/{failed.iloc[0]['benchmark']}/"
               f"{failed.iloc[0]['dataset']}/{failed.iloc[0]['method']}/split{failed.iloc[0]['split']}.log"
               if len(failed) else "")
            + (f"; not run ({len(skipped)} job(s), data unavailable or failed): {', '.join(not_run[:4])}"
               + (f" and {len(not_run) - 4} more" if len(not_run) > 4 else "") if len(skipped) else ""))
    return lines + [line], p


def _cli_value(value: Any) -> str:
    """A --config value as `snnbench status --config` reads it back (YAML): plain where it can be."""
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return text if isinstance(value, str) and re.fullmatch(r"[\w./@+-]+", value) else json.dumps(value)


def status_command(configfiles: list[str | Path], overrides: dict[str, Any], *, cwd: str | Path | None = None) -> str:
    """The `snnbench status` command that describes a run: its config files in the order the run laid
    them over each other (later wins, as `snnbench status --configfile` merges them) and its
    ``--config`` overrides; paths inside ``cwd`` relative to it."""
    import shlex

    cwd = Path.cwd() if cwd is None else Path(cwd)
    files: list[str] = []
    for f in configfiles:
        path = Path(os.path.normpath(cwd / f))  # an absolute f stays as it is
        shown = str(path.relative_to(cwd)) if path.is_relative_to(cwd) else str(path)
        # a file given twice counts where it was laid last (the same merge)
        files = [g for g in files if g != shown] + [shown]
    command = ["snnbench", "status"]
    if files:
        command += ["--configfile", *files]
    if overrides:
        command += ["--config", *(f"{k}={_cli_value(v)}" for k, v in overrides.items())]
    return shlex.join(command)
