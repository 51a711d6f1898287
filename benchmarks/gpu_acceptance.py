"""The first command to run on a machine with a GPU: does the batched engine hold on CUDA, what
does a step cost there, and which of the open decisions (jobs per GPU, packing members across
datasets, TF32) do the numbers settle? Under 9 minutes on an H100 / H200 by design; the JSON is
written (atomically) after every section and after every measured point inside the long ones, so
a run cut short keeps what it measured.

    python benchmarks/gpu_acceptance.py --out gpu_acceptance.json      # finds the repository's src/ itself
    python benchmarks/gpu_acceptance.py --device cpu --out cpu.json    # checks the script on a CPU

With ``--device cuda`` (the default) and no usable CUDA device the script refuses: it writes the
reason into the JSON, prints it and exits 2. ``--device cpu`` runs the sections that apply on a
CPU (they check the script and decide nothing about CUDA) and records, for the others, that they
need CUDA. Every section ends with ``ok`` true or false, or says why it was skipped or is not
available in this tree; ``verdicts`` lists them all, and the exit status is 1 when a section that
ran did not pass. Sections (``--only`` / ``--skip`` pick them; each has a time estimate for an
H100, and ``--budget-s`` skips a section that would not fit, recording so):

- ``claim``: the GPU claim (``snnbench.training.devices.claim_gpu``) is taken before CUDA starts; device,
  driver and torch versions. Decides: the claim does not start CUDA.
- ``masks``: the dropout masks drawn on CUDA equal the CPU's bit for bit (protocol F13).
- ``equivalence``: every family, a group (lr x dropout) trained batched on CUDA against each member
  trained by the reference engine on the CPU: counts of equal status, equal early-stopping epoch,
  test metric within the tolerance, and each epoch's largest curve difference over the first
  ``--early-epochs`` epochs. Passes when every member's first-epoch curves (training loss,
  validation metric) agree within ``--tol`` and no row fell back (engine not ``batched*``). An
  identical early-stopping epoch is counted, not demanded: cuBLAS and the CPU's BLAS sum in other
  orders, and the curves may part later.
- ``interleave``: ``train_groups`` with several groups in flight (``streams`` 2) against
  ``train_group`` one group at a time, on the same device: bitwise equal results expected.
- ``divergence``: a group with one member at lr 1e3: that member ``diverged``, the others' curves
  as in the group without it, and on CUDA the graph captured again after the member is removed
  (``capture.STATS``: captures >= 2, replays after the divergence epoch).
- ``reruns``: the same group trained twice gives bitwise identical results.
- ``graphs``: eager against replayed steps (``train.cuda_graphs`` off / auto), per-step wall time
  from two trainings that differ only in their epoch count.
- ``tflops``: achieved TFLOP/s against members per group (k = 3 ... 96) at width 1024.
- ``streams``: achieved TFLOP/s of 8 groups of 6 at width 1024 against ``train.streams`` 1, 2, 4, 8.
  With ``tflops`` it decides whether packing members across datasets is worth building.
- ``jobs``: 1, 2, 4, 8 training processes on the one GPU, each warmed up (imports, CUDA context, a
  first training) before all start together (a ``go`` line on their stdin), each training whole
  groups until ``--job-seconds`` have passed: configurations per second in all and per job, and
  whether MPS runs; a worker that does not answer in time is killed and reported. Decides
  ``train.jobs_per_gpu``. With ``--jobs-mps`` (off by default: about 2 minutes more) the scan
  runs again under an MPS daemon of the script's own, started and stopped as the README does.
- ``uci``: one real UCI slice through ``snnbench train`` on CUDA, its wall time beside the cost
  model's projection; skipped (with the command that prepares it) when the data is not prepared.
- ``oom``: a real out-of-memory error (most of the GPU's memory taken first) halves a group, which
  then trains.
- ``tf32``: configurations with TF32 off (the default) and on: agreement and the time ratio.
- ``profile``: the CUDA profiler over a group's training, graphs off and on: kernels and GPU busy
  time per group-step against wall time per step (is a step bound by the host or the GPU?). It
  runs last, so that a capture failing under the profiler cannot spoil the sections before it.

Apart from ``uci`` the data are synthetic (Gaussian blobs, made here, seeded). Timed figures come
from two trainings through the public API (``train_group`` / ``train_groups``) that differ only in
their epoch count: what does not grow with the epochs (building the members, capturing the
graphs) cancels, and a step's figure includes its share of each epoch's evaluation (256 + 256 rows).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import os
import platform
import queue
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"
if (SRC / "snnbench").is_dir():  # the checkout's own package, before any installed copy
    sys.path.insert(0, str(SRC))

RESULTS: dict = {}
OUT: Path | None = None
START = time.perf_counter()


def save() -> None:
    """Write the results so far: a temporary file beside the output, then renamed over it."""
    if OUT is None:
        return
    OUT.parent.mkdir(parents=True, exist_ok=True)
    tmp = OUT.with_name(OUT.name + ".tmp")
    with open(tmp, "w") as f:
        f.write(json.dumps(_finite(RESULTS), indent=2, default=_jsonable, allow_nan=False))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, OUT)


def _finite(value):
    """Strict JSON: an infinite or NaN float written as a string ("inf", "nan")."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _jsonable(value):
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, (np.generic,)):
        return value.item()
    if hasattr(value, "__dict__"):
        return {k: v for k, v in vars(value).items() if not k.startswith("_")}
    return str(value)


def elapsed() -> float:
    return time.perf_counter() - START


class NotAvailable(Exception):
    """A part of the engine API this section needs is not in this tree (yet)."""


def sub_env() -> dict:
    """The environment of a child process: this checkout's src first on PYTHONPATH."""
    path = os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path}


# ----------------------------------------------------------------------------------------------
# data, configurations, settings


def blobs(n: int, d: int, classes: int, seed: int):
    """Gaussian blobs that overlap a little (so the metrics are not all 1)."""
    from snnbench.training.task import blobs_task

    return blobs_task(n, d, classes, seed, spread=2.5, noise=1.5)


def timing_task(train_rows: int, d: int = 32, classes: int = 4, eval_rows: int = 256):
    """Blobs with ``train_rows`` training rows and small validation and test sets, so that a timed
    epoch is nearly all training steps."""
    from snnbench.training.task import Task

    task = blobs(train_rows + 2 * eval_rows, d, classes, 3)
    X = np.concatenate([task.X[p] for p in ("train", "validation", "test")])
    y = np.concatenate([task.y[p] for p in ("train", "validation", "test")])
    cut = {"train": slice(0, train_rows), "validation": slice(train_rows, train_rows + eval_rows),
           "test": slice(train_rows + eval_rows, train_rows + 2 * eval_rows)}
    return Task(kind="multiclass", n_out=classes, X={p: X[s] for p, s in cut.items()},
                y={p: y[s] for p, s in cut.items()})


FAMILIES = {
    "SNN": lambda w, L: [{"n_hidden": w, "n_layers": L, "lr": lr, "dropout": p, "layer_form": "rectangular"}
                         for lr in (0.01, 0.1) for p in (0.05, 0.0)],
    "MSRAinit": lambda w, L: [{"n_hidden": w, "n_layers": L, "lr": lr, "dropout": p, "layer_form": "conic"}
                              for lr in (0.01, 0.1) for p in (0.5, 0.0)],
    "BatchNorm": lambda w, L: [{"n_hidden": w, "n_layers": L, "lr": lr, "layer_form": "rectangular"}
                               for lr in (0.01, 0.1)],
    "WeightNorm": lambda w, L: [{"n_hidden": w, "n_layers": L, "lr": lr, "layer_form": "rectangular"}
                                for lr in (0.01, 0.1)],
    "LayerNorm": lambda w, L: [{"n_hidden": w, "n_layers": L, "lr": lr, "layer_form": "conic"} for lr in (0.01, 0.1)],
    "Highway": lambda w, L: [{"n_layers": L, "lr": lr, "dropout": p} for lr in (0.01, 0.1) for p in (0.5, 0.0)],
    "ResNet": lambda w, L: [{"n_blocks": L, "n_hidden_per_block": w, "block_form": "diavolo", "bottleneck": 0.5,
                             "lr": lr}
                            for lr in (0.01, 0.1)],
}


def snn_group(width: int, layers: int, k: int, *, dropout: float = 0.0) -> list[dict]:
    """k SNN configurations of one architecture, differing only in their (stable) learning rates."""
    return [{"n_hidden": width, "n_layers": layers, "lr": float(lr), "dropout": dropout, "layer_form": "rectangular"}
            for lr in np.geomspace(1e-3, 1e-2, k)]


def settings(**values):
    """TrainSettings with ``values``; a setting this tree's TrainSettings lacks is NotAvailable."""
    from snnbench.settings import TrainSettings

    known = {f.name for f in dataclasses.fields(TrainSettings)}
    missing = sorted(set(values) - known)
    if missing:
        raise NotAvailable(f"TrainSettings has no {', '.join(missing)} in this tree")
    return TrainSettings(**values)


def capture_stats():
    """``snnbench.training.capture.STATS`` or None where this tree has no capture module."""
    try:
        from snnbench.training import capture
    except ImportError:
        return None
    return getattr(capture, "STATS", None)


def stats_snapshot(stats) -> dict | str:
    if stats is None:
        return "snnbench.training.capture.STATS: not available in this tree"
    return {name: (list(getattr(stats, name)) if name == "failures" else getattr(stats, name, None))
            for name in ("captures", "replays", "eager", "failures")}


def train_groups_fn():
    from snnbench.training import batched

    fn = getattr(batched, "train_groups", None)
    if fn is None:
        raise NotAvailable("snnbench.training.batched.train_groups: not available in this tree")
    return fn


def engine_of(result) -> dict:
    return {"engine": result.engine, "engine_note": getattr(result, "engine_note", "not available in this tree")}


def same_result(a, b) -> bool:
    """Bitwise equal results: status, early-stopping epoch, metrics and every curve (NaN = NaN)."""
    def eq(x, y) -> bool:
        return np.array_equal(np.asarray(x, dtype=float), np.asarray(y, dtype=float), equal_nan=True)

    return (a.status == b.status and a.best_epoch == b.best_epoch and eq(a.test_metric, b.test_metric)
            and eq(a.val_metric, b.val_metric)
            and all(eq(getattr(a.curves, c), getattr(b.curves, c)) for c in ("train_loss", "val", "test")))


def curve_differences(a, b, curves=("train_loss", "val", "test")) -> np.ndarray:
    """Per epoch, the largest difference between two results' ``curves`` (training loss relative
    to max(1, |loss|), as a diverging loss grows to 1e4 and beyond; validation and test metrics
    absolute; NaN in both: no difference; in one only: inf); as long as the shorter run."""
    per_curve = []
    n = min(len(a.curves.train_loss), len(b.curves.train_loss))
    for name in curves:
        x = np.full(n, np.nan)
        y = np.full(n, np.nan)
        xa, yb = (np.asarray(getattr(a.curves, name), dtype=float)[:n],
                  np.asarray(getattr(b.curves, name), dtype=float)[:n])
        x[:len(xa)], y[:len(yb)] = xa, yb
        d = np.abs(x - y)
        if name == "train_loss":
            d = d / np.maximum(1.0, np.abs(x))
        d[np.isnan(x) & np.isnan(y)] = 0.0
        d[np.isnan(x) ^ np.isnan(y)] = np.inf
        per_curve.append(d)
    return np.max(per_curve, axis=0) if n else np.zeros(0)


def _per_epoch_seconds(run, *, target_s: float, max_epochs: int = 64) -> dict:
    """Seconds per training epoch of ``run(epochs)`` (a whole training: build, capture, epochs),
    from two runs that differ only in their epoch count, so that what does not grow with the
    epochs cancels; the longer run made long enough that the difference is about ``target_s``."""
    t1 = run(1)
    extra = max(2, min(max_epochs, math.ceil(target_s / max(t1, 1e-3))))
    t2 = run(1 + extra)
    per_epoch = (t2 - t1) / extra
    if per_epoch * extra < 0.5 * target_s and extra < max_epochs:  # the first run was mostly build: once more, longer
        extra = max(extra + 1, min(max_epochs, math.ceil(target_s / max(per_epoch, 1e-4))))
        t2 = run(1 + extra)
        per_epoch = (t2 - t1) / extra
    # a difference lost in the noise of the fixed part measures nothing: flagged, and kept positive
    valid = t2 - t1 > 0.2 * target_s
    return {"seconds_1_epoch": round(t1, 4), "epochs_more": extra, "seconds_more": round(t2, 4),
            "per_epoch_s": max(per_epoch, 1e-9), "valid": valid}


def _synced(device):
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()


def group_flops_per_epoch(method: str, configs: list[dict], task, architecture: dict) -> float:
    """Matrix FLOPs of one epoch of every configuration: training steps, validation and test
    evaluated once (``test_curve: every_epoch``)."""
    from snnbench.training.flops import run_flops

    n = task.sizes()
    return sum(run_flops(method, c, n_in=task.n_in, n_out=task.n_out, n_train=n["train"], n_val=n["validation"],
                         n_test=n["test"], epochs=1, test_evals=1, architecture=architecture) for c in configs)


# ----------------------------------------------------------------------------------------------
# sections

SECTIONS: list = []


def section(name: str, estimate_s: float, *, needs_cuda: bool = False):
    """``estimate_s``: its seconds on an H100 at the default sizes (what --budget-s reckons with)."""
    def wrap(fn):
        fn.section, fn.estimate_s, fn.needs_cuda = name, estimate_s, needs_cuda
        SECTIONS.append(fn)
        return fn
    return wrap


@section("claim", 3)
def check_claim(args, ctx, out) -> None:
    import torch

    claim = ctx.get("claim")
    out.update(cuda_started_before_claim=ctx["cuda_started_before_claim"],
               claim=None if claim is None else claim.as_dict(),
               CUDA_VISIBLE_DEVICES=os.environ.get("CUDA_VISIBLE_DEVICES"), torch=torch.__version__,
               torch_cuda=torch.version.cuda, cuda_available=torch.cuda.is_available(),
               python=platform.python_version(), host=platform.node())
    if ctx["device"].type == "cuda":
        props = torch.cuda.get_device_properties(ctx["device"])
        out.update(device=props.name, memory_gib=round(props.total_memory / 2**30, 1), sms=props.multi_processor_count,
                   capability=f"{props.major}.{props.minor}", driver=_driver_version())
        out["ok"] = not ctx["cuda_started_before_claim"] and claim is not None and claim.device is not None
    else:
        out["ok"] = not ctx["cuda_started_before_claim"]


def _driver_version() -> str | None:
    if shutil.which("nvidia-smi") is None:
        return None
    try:
        return subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                              capture_output=True, text=True, timeout=30).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


@section("masks", 3)
def check_masks(args, ctx, out) -> None:
    import torch

    from snnbench.methods.models import as_int32, dropout_keep, element_codes, keep_threshold, mask_keys

    device = ctx["device"]
    generator = torch.Generator().manual_seed(0)
    seeds = torch.randint(0, 2**62, (7, 1), generator=generator)
    calls = torch.randint(0, 2**40, (7, 1), generator=generator)
    codes = element_codes(128 * 1000)
    threshold = keep_threshold(torch.tensor([0.05, 0.1, 0.5, 0.2, 0.3, 0.05, 0.9]).view(7, 1))
    keys = as_int32(mask_keys(seeds, calls))
    cpu = dropout_keep(codes, keys, threshold)
    dev = dropout_keep(codes.to(device), keys.to(device), threshold.to(device)).cpu()
    out.update(compared=f"{device} against cpu", elements=cpu.numel(), kept_share=round(float(cpu.float().mean()), 6),
               differing=int((cpu != dev).sum()), ok=bool(torch.equal(cpu, dev)))


@section("equivalence", 45)
def check_equivalence(args, ctx, out) -> None:
    import torch

    from snnbench.training.batched import train_group
    from snnbench.training.engine import train_config
    from snnbench.training.grids import config_seed
    from snnbench.training.recipe import TaskTensors

    task = ctx["task"]
    config = settings(epochs=args.epochs, highway_width=args.width, engine="batched")
    on_device, on_cpu = TaskTensors(task, ctx["device"]), TaskTensors(task, torch.device("cpu"))
    early = args.early_epochs
    out.update(tolerance=args.tol, tolerance_is=("first-epoch training loss (relative to max(1, |loss|)) and "
                                                  "validation metric (absolute); the test metric at the "
                                                  "early-stopping epoch"),
               early_epochs=early, compared=f"batched on {ctx['device']} against the reference engine on the CPU",
               sizes=task.sizes(), families={})
    for method, make in FAMILIES.items():
        if elapsed() > ctx["deadline"]:
            out["families"][method] = {"skipped": "time budget spent"}
            continue
        configs = make(args.width, 3)
        seeds = [config_seed(0, "acceptance", method, c) for c in configs]
        start = time.perf_counter()
        group = train_group(method, configs, seeds, on_device, settings=config, device=ctx["device"])
        seconds = time.perf_counter() - start
        members = []
        for c, s, bat in zip(configs, seeds, group):
            ref = train_config(method, c, on_cpu, settings=config, seed=s, device=torch.device("cpu"))
            d = curve_differences(ref, bat)
            members.append({
                "config": c, "status": [ref.status, bat.status],
                "best_epoch": [ref.best_epoch, bat.best_epoch], "test": [ref.test_metric, bat.test_metric],
                "epochs_run": [len(ref.curves.train_loss), len(bat.curves.train_loss)],
                "first_epoch_diff": float(d[0]) if len(d) else None,
                "first_epoch_loss_diff": float(curve_differences(ref, bat, ("train_loss",))[0]) if len(d) else None,
                "early_epoch_diffs": [float(x) for x in d[:early]],
                "max_diff_all_epochs": float(d.max()) if len(d) else None, **engine_of(bat)})
        n = len(members)
        counts = {
            "members": n,
            "status_equal": sum(m["status"][0] == m["status"][1] for m in members),
            "best_epoch_equal": sum(m["best_epoch"][0] == m["best_epoch"][1] for m in members),
            "test_within_tol": sum(m["status"] == ["ok", "ok"] and abs(m["test"][0] - m["test"][1]) <= args.tol
                                   for m in members),
            "first_epoch_within_tol": sum(m["first_epoch_diff"] is not None and m["first_epoch_diff"] <= args.tol
                                          for m in members),
            # the validation metric (accuracy) moves in steps of 1 / rows: one flipped prediction is above
            # any tolerance; the loss alone is listed so that such a flip can be told apart
            "first_epoch_loss_within_tol": sum(m["first_epoch_loss_diff"] is not None
                                               and m["first_epoch_loss_diff"] <= args.tol for m in members),
            "early_epochs_within_tol": sum(len(m["early_epoch_diffs"]) >= min(early, args.epochs)
                                           and max(m["early_epoch_diffs"]) <= args.tol for m in members),
            "batched": sum(m["engine"].startswith("batched") for m in members),
            "graphs": sum(m["engine"] == "batched+graphs" for m in members),
        }
        fallback = [m["engine"] + (": " + str(m["engine_note"]) if m["engine_note"] else "")
                    for m in members if not m["engine"].startswith("batched")]
        largest_early = max((max(m["early_epoch_diffs"], default=0.0) for m in members), default=0.0)
        ok = counts["first_epoch_within_tol"] == n and not fallback
        out["families"][method] = {"counts": counts,
                                   "largest_first_epoch_diff": max(m["first_epoch_diff"] or 0 for m in members),
                                   "largest_early_diff": largest_early, "fallback": fallback,
                                   "batched_seconds": round(seconds, 3), "members_detail": members, "ok": ok}
        print(f"  {method:10s} status {counts['status_equal']}/{n}, best epoch {counts['best_epoch_equal']}/{n}, "
              f"test within {args.tol:g} {counts['test_within_tol']}/{n}, first epoch within {args.tol:g} "
              f"{counts['first_epoch_within_tol']}/{n} "
              f"(largest {out['families'][method]['largest_first_epoch_diff']:.2e}), "
              f"first {early} epochs {counts['early_epochs_within_tol']}/{n} (largest {largest_early:.2e}), "
              f"engines {sorted({m['engine'] for m in members})}, {seconds:.2f} s",
              flush=True)
        save()
    ran = [f for f in out["families"].values() if "ok" in f]
    out["ok"] = len(ran) == len(FAMILIES) and all(f["ok"] for f in ran)
    out["decides"] = (f"the batched engine on {ctx['device']} {'agrees' if out['ok'] else 'does NOT agree'} with the "
                      f"reference on the CPU: first-epoch curves within {args.tol:g} and no fallback, "
                      f"{sum(bool(f['ok']) for f in ran)} of {len(FAMILIES)} families")


@section("interleave", 20)
def check_interleave(args, ctx, out) -> None:
    from snnbench.training.batched import train_group
    from snnbench.training.recipe import TaskTensors

    train_groups = train_groups_fn()
    data = TaskTensors(ctx["task"], ctx["device"])
    groups = []
    for i, layers in enumerate((2, 3, 4)):
        configs = [{"n_hidden": args.width, "n_layers": layers, "lr": lr, "dropout": p, "layer_form": "rectangular"}
                   for lr in (0.01, 0.1) for p in (0.05, 0.0)][:4 - (i % 2)]  # groups of 4, 3, 4 members
        groups.append((configs, [1000 * layers + j for j in range(len(configs))]))
    config = settings(epochs=args.epochs, engine="batched", streams=2)
    alone = [train_group("SNN", c, s, data, settings=config, device=ctx["device"]) for c, s in groups]
    together = train_groups("SNN", groups, data, settings=config, device=ctx["device"])
    equal = [[same_result(a, b) for a, b in zip(x, y)] for x, y in zip(alone, together)]
    diffs = [max((float(curve_differences(a, b).max(initial=0.0)) for a, b in zip(x, y)), default=0.0)
             for x, y in zip(alone, together)]
    out.update(groups=[len(c) for c, _ in groups], streams=2, bitwise_equal=equal, max_curve_diff_per_group=diffs,
               engines=sorted({r.engine for g in together for r in g}), ok=all(all(e) for e in equal)
               and len(together) == len(groups))


@section("divergence", 15)
def check_divergence(args, ctx, out) -> None:
    from snnbench.training.batched import train_group
    from snnbench.training.recipe import TaskTensors, batches

    data = TaskTensors(ctx["task"], ctx["device"])
    stable = [{"n_hidden": args.width, "n_layers": 3, "lr": lr, "dropout": 0.05, "layer_form": "rectangular"}
              for lr in (0.01, 0.03, 0.1)]
    diverging = {**stable[0], "lr": 1e3}
    seeds = [11, 12, 13]
    config = settings(epochs=args.epochs, engine="batched")
    stats = capture_stats()
    if stats is not None:
        stats.reset()
    with_it = train_group("SNN", stable + [diverging], seeds + [14], data, settings=config, device=ctx["device"])
    counted = stats_snapshot(stats)
    if stats is not None:
        stats.reset()
    without = train_group("SNN", stable, seeds, data, settings=config, device=ctx["device"])
    counted_without = stats_snapshot(stats)
    bad = with_it[-1]
    diffs = [curve_differences(a, b) for a, b in zip(without, with_it)]
    out.update(diverged_member={"status": bad.status, "error": bad.error, "epochs_run": len(bad.curves.train_loss),
                                **engine_of(bad)},
               others_bitwise_equal=[same_result(a, b) for a, b in zip(without, with_it)],
               others_max_diff=[float(d.max()) if len(d) else None for d in diffs], tolerance=args.tol,
               others_engines=[engine_of(r) for r in with_it[:-1]], capture_stats=counted,
               capture_stats_without_it=counted_without)
    ok = bad.status == "diverged" and all(d is not None and d <= args.tol for d in out["others_max_diff"]) \
        and all(r.status == w.status for r, w in zip(without, with_it))
    if ctx["device"].type == "cuda":
        if isinstance(counted, dict):
            n = len(data.X["train"])
            full = sum(1 for i, j in batches(n, config.batch_size) if j - i == config.batch_size)
            # region calls an epoch makes at most: every step (full and last), a mask draw per step at
            # most, validation and test; so at most this many replays before the member was removed
            per_epoch = 2 * (full + 1) + 2
            before = per_epoch * len(bad.curves.train_loss)
            out.update(full_steps_per_epoch=full, replays_possible_before_divergence=before,
                       captured_again=counted["captures"] > counted_without["captures"],
                       replays_after_divergence=counted["replays"] > before)
            ok = ok and out["captured_again"] and out["replays_after_divergence"] and not counted["failures"] \
                and counted["captures"] >= 2 and all(r.engine == "batched+graphs" for r in with_it[:-1])
            out["graph_check"] = ("captures with the diverging member > captures without it (the group captured "
                                  "again after its removal), and more replays than could have run before it")
        else:
            out["graph_check"] = "not checked: " + counted
            ok = False
    else:
        out["graph_check"] = "needs CUDA"
    out["ok"] = bool(ok)


@section("reruns", 10)
def check_reruns(args, ctx, out) -> None:
    from snnbench.training.batched import train_group
    from snnbench.training.recipe import TaskTensors

    data = TaskTensors(ctx["task"], ctx["device"])
    config = settings(epochs=args.epochs, highway_width=args.width, engine="batched")
    for method in ("SNN", "BatchNorm", "Highway"):
        configs = FAMILIES[method](args.width, 3)
        runs = [train_group(method, configs, list(range(len(configs))), data, settings=config, device=ctx["device"])
                for _ in range(2)]
        out[method] = {"bitwise_equal": sum(same_result(a, b) for a, b in zip(*runs)), "members": len(configs),
                       "engines": sorted({r.engine for r in runs[1]})}
    out["ok"] = all(out[m]["bitwise_equal"] == out[m]["members"] for m in ("SNN", "BatchNorm", "Highway"))


def _timed_group(method, configs, data, config, device, seeds=None):
    from snnbench.training.batched import train_group

    seeds = seeds or list(range(len(configs)))

    def run(epochs: int) -> float:
        _synced(device)
        start = time.perf_counter()
        results = train_group(method, configs, seeds, data, settings=config, device=device, epochs=epochs)
        _synced(device)
        run.engines = sorted({r.engine for r in results})
        run.statuses = sorted({r.status for r in results})
        return time.perf_counter() - start
    return run


@section("graphs", 25, needs_cuda=True)
def check_graphs(args, ctx, out) -> None:
    from snnbench.training.recipe import TaskTensors

    task = timing_task(128 * args.timing_steps)
    data = TaskTensors(task, ctx["device"])
    stats = capture_stats()
    steps = args.timing_steps
    for width, layers in ((256, 8), (1024, 4), (256, 32)):
        configs = snn_group(width, layers, 6, dropout=0.05)
        row = {}
        for graphs in ("off", "auto"):
            config = settings(epochs=1, cuda_graphs=graphs, engine="batched", test_curve="every_epoch")
            if stats is not None:
                stats.reset()
            run = _timed_group("SNN", configs, data, config, ctx["device"])
            m = _per_epoch_seconds(run, target_s=args.timing_target_s)
            row[graphs] = {"ms_per_step": round(1e3 * m["per_epoch_s"] / steps, 4), "engines": run.engines,
                           "capture_stats": stats_snapshot(stats), **m}
        flops = group_flops_per_epoch("SNN", configs, task, config.architecture())
        eager, replay = row["off"]["per_epoch_s"], row["auto"]["per_epoch_s"]
        row.update(speedup=round(eager / replay, 2), tflops_eager=round(flops / eager / 1e12, 3),
                   tflops_replay=round(flops / replay / 1e12, 3),
                   graphs_used=row["auto"]["engines"] == ["batched+graphs"])
        out[f"SNN {layers}x{width}, 6 members"] = row
        print(f"  SNN {layers}x{width} x6: eager {row['off']['ms_per_step']} ms/step, "
              f"replay {row['auto']['ms_per_step']} ms/step, speedup {row['speedup']}, "
              f"engines {row['auto']['engines']}", flush=True)
        save()
    rows = [v for v in out.values() if isinstance(v, dict) and "speedup" in v]
    out["ok"] = all(r["graphs_used"] and r["speedup"] >= 1.0 and r["off"]["valid"] and r["auto"]["valid"] for r in rows)
    out["decides"] = ("CUDA graphs " + ("help: " if out["ok"] else "do NOT help or were not used: ")
                      + ", ".join(f"{k.split(',')[0]} x{v['speedup']}" for k, v in out.items()
                                  if isinstance(v, dict) and "speedup" in v) + " (replayed against eager step time)")


@section("tflops", 50, needs_cuda=True)
def check_tflops(args, ctx, out) -> None:
    from snnbench.training.recipe import TaskTensors

    task = timing_task(128 * args.timing_steps)
    data = TaskTensors(task, ctx["device"])
    config = settings(epochs=1, engine="batched", test_curve="every_epoch")
    width, layers = 1024, args.tflops_layers
    out.update(width=width, layers=layers, steps_per_epoch=args.timing_steps, points={})
    _timed_group("SNN", snn_group(width, layers, 3), data, config, ctx["device"])(1)  # warm-up: libraries, workspaces
    for k in args.members:
        if elapsed() > ctx["deadline"]:
            out["points"][str(k)] = {"skipped": "time budget spent"}
            continue
        configs = snn_group(width, layers, k)
        run = _timed_group("SNN", configs, data, config, ctx["device"])
        m = _per_epoch_seconds(run, target_s=args.timing_target_s)
        flops = group_flops_per_epoch("SNN", configs, task, config.architecture())
        point = {"tflops": round(flops / m["per_epoch_s"] / 1e12, 3),
                 "ms_per_group_step": round(1e3 * m["per_epoch_s"] / args.timing_steps, 4),
                 "flop_per_epoch": flops, "engines": run.engines, "statuses": run.statuses, **m}
        out["points"][str(k)] = point
        print(f"  k={k:3d}: {point['tflops']:.3g} TFLOP/s, {point['ms_per_group_step']:.3f} ms per group-step, "
              f"engines {run.engines}", flush=True)
        save()
    points = out["points"]
    if "tflops" in points.get("48", {}) and "tflops" in points.get("6", {}):
        out["ratio_k48_over_k6"] = round(points["48"]["tflops"] / points["6"]["tflops"], 2)
        print(f"  TFLOP/s(k=48) / TFLOP/s(k=6) = {out['ratio_k48_over_k6']}")
    out["ok"] = all("tflops" in p and p["valid"] and p["engines"] == ["batched+graphs"] for p in points.values())
    _packing_verdict()
    out["decides"] = RESULTS["packing_decision"]


@section("streams", 35, needs_cuda=True)
def check_streams(args, ctx, out) -> None:
    from snnbench.training.recipe import TaskTensors

    train_groups = train_groups_fn()
    settings(streams=1)
    task = timing_task(128 * args.timing_steps)
    data = TaskTensors(task, ctx["device"])
    width, layers, n_groups, k = 1024, args.tflops_layers, 8, 6
    groups = [(snn_group(width, layers, k), [100 * g + j for j in range(k)]) for g in range(n_groups)]
    flops = n_groups * group_flops_per_epoch("SNN", groups[0][0], task, settings(epochs=1).architecture())
    import inspect

    # the next group's draw in a thread hides more of the builds in a longer run than in a shorter
    # one, which the difference would count as faster epochs: off while timing
    extra = {"prefetch": False} if "prefetch" in inspect.signature(train_groups).parameters else {}
    out.update(groups=n_groups, members_per_group=k, width=width, layers=layers, points={},
               prefetch="off while timing" if extra else "not in this tree")
    for streams in args.streams:
        if elapsed() > ctx["deadline"]:
            out["points"][str(streams)] = {"skipped": "time budget spent"}
            continue
        config = settings(epochs=1, engine="batched", test_curve="every_epoch", streams=streams)

        def run(epochs: int) -> float:
            _synced(ctx["device"])
            start = time.perf_counter()
            results = train_groups("SNN", groups, data, settings=config, device=ctx["device"], epochs=epochs, **extra)
            _synced(ctx["device"])
            run.engines = sorted({r.engine for g in results for r in g})
            return time.perf_counter() - start
        m = _per_epoch_seconds(run, target_s=args.timing_target_s)
        point = {"tflops": round(flops / m["per_epoch_s"] / 1e12, 3), "engines": run.engines, **m}
        out["points"][str(streams)] = point
        print(f"  streams {streams}: {point['tflops']:.3g} TFLOP/s (8 groups of 6), engines {run.engines}", flush=True)
        save()
    out["ok"] = all("tflops" in p and p["valid"] and p["engines"] == ["batched+graphs"] for p in out["points"].values())
    _packing_verdict()
    out["decides"] = RESULTS["packing_decision"]


PACKING_RATIO = 1.5  # members per group 6 -> 48 must raise TFLOP/s at least this much ...
PACKING_OVER_STREAMS = 1.25  # ... and beat the best of the streams by this much, for packing to be worth building


def _packing_verdict() -> None:
    """Packing members across datasets (groups of ~48 instead of one dataset's ~6) is worth
    building when k=48 reaches clearly more TFLOP/s than k=6 and than streams already give."""
    sections = RESULTS["sections"]
    if not sections.get("tflops", {}).get("ok"):
        RESULTS["packing_decision"] = "undecided: the tflops section did not pass (or did not run)"
        return
    tflops = sections["tflops"]["points"]
    streams = sections.get("streams", {}).get("points", {}) if sections.get("streams", {}).get("ok") else {}
    k6, k48 = tflops.get("6", {}).get("tflops"), tflops.get("48", {}).get("tflops")
    best_streams = max((p["tflops"] for p in streams.values() if "tflops" in p), default=None)
    if k6 is None or k48 is None:
        RESULTS["packing_decision"] = "undecided: the k=6 and k=48 points were not both measured"
        return
    ratio = k48 / k6
    text = (f"TFLOP/s(k=48)/TFLOP/s(k=6) = {ratio:.2f} (threshold {PACKING_RATIO})"
            + ("" if best_streams is None else f"; k=48 {k48:.3g} against the best of the streams {best_streams:.3g} "
               f"TFLOP/s (threshold x{PACKING_OVER_STREAMS})"))
    worth = ratio >= PACKING_RATIO and (best_streams is None or k48 >= PACKING_OVER_STREAMS * best_streams)
    RESULTS["packing_decision"] = ("packing members across datasets IS worth building: " if worth else
                                   "packing members across datasets is NOT worth building: ") + text \
        + ("" if best_streams is not None else " (streams not measured, or their section did not pass)")


# the work of one training process in the `jobs` section, a slice of one dataset's SNN grid as a
# job trains it (run_grid, train.streams groups in flight): 4 architectures at width 512, each a
# group of 6 (lr x dropout)
JOB_SPEC = {"rows": 4000, "width": 512, "layers": [2, 3, 4, 8]}


def _job_configs(spec: dict) -> list[dict]:
    return [{"n_hidden": spec["width"], "n_layers": layers, "lr": lr, "dropout": p, "layer_form": "rectangular"}
            for layers in spec["layers"] for lr in (0.01, 0.1, 1.0) for p in (0.05, 0.0)]


def _job_unit(spec: dict, task, device: str, epochs: int):
    from snnbench.training.grid import run_grid

    rows, _ = run_grid(task, benchmark="uci", dataset="blobs", method="SNN", split=0, configs=_job_configs(spec),
                       settings=settings(epochs=epochs, engine="batched", device=device), threads=1, progress=False)
    return rows


def job_worker(spec: dict) -> int:
    """A training process of the `jobs` section: warm up (imports, CUDA context, a first small
    training), print ``ready``, then for every ``go SECONDS`` line on stdin train whole units of
    ``unit_epochs`` epochs until SECONDS have passed, and print one JSON line; ``quit`` ends it."""
    logging.basicConfig(level=logging.WARNING)
    task = blobs(spec["rows"], 20, 4, 1)
    _job_unit(spec, task, spec["device"], 1)
    print("ready", flush=True)
    for line in sys.stdin:
        words = line.split()
        if not words or words[0] == "quit":
            break
        seconds = float(words[1])
        go = time.time()
        units, unit_s, engines = 0, [], set()
        while True:
            t = time.time()
            rows = _job_unit(spec, task, spec["device"], spec["unit_epochs"])
            unit_s.append(round(time.time() - t, 3))
            units += 1
            engines |= set(rows["engine"])
            if time.time() - go >= seconds:
                break
        print(json.dumps({"pid": os.getpid(), "go": go, "end": time.time(), "units": units,
                          "configs": units * len(_job_configs(spec)), "unit_s": unit_s, "engines": sorted(engines)}),
              flush=True)
    return 0


def mps_state() -> dict:
    return mps_state_for({})


def mps_state_for(env: dict) -> dict:
    """Whether an MPS daemon runs for this environment (over ``env``), as the README starts it: its
    pipe directory (``CUDA_MPS_PIPE_DIRECTORY``, default /tmp/nvidia-mps) holds a ``control`` FIFO."""
    environ = {**os.environ, **env}
    try:
        from snnbench.training.devices import mps_status
    except ImportError:
        mps_status = None
    if mps_status is not None:
        found = mps_status(environ)
        value = found if isinstance(found, dict) else json.loads(json.dumps(found, default=_jsonable))
        return {"how": "snnbench.training.devices.mps_status", "status": value}
    pipe = Path(environ.get("CUDA_MPS_PIPE_DIRECTORY") or "/tmp/nvidia-mps")
    control = pipe / "control"
    try:
        fifo = stat.S_ISFIFO(control.stat().st_mode)
    except OSError:
        fifo = False
    return {"how": "local check (snnbench.training.devices.mps_status not in this tree)", "pipe_directory": str(pipe),
            "control_fifo": fifo, "running": fifo,
            "mps_control_on_path": shutil.which("nvidia-cuda-mps-control") is not None}


class Worker:
    def __init__(self, spec: dict, log_dir: Path, i: int, env: dict) -> None:
        self.log = log_dir / f"worker{i}.log"
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--job-worker", json.dumps(spec)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=open(self.log, "w"),
                                     text=True, env={**sub_env(), "OMP_NUM_THREADS": "1", **env}, cwd=str(REPO))
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.state = "starting"

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line.strip())
        self.lines.put(None)

    def line(self, deadline: float, wanted) -> str | None:
        """The next line for which ``wanted(line)`` holds, before ``deadline`` (time.time()), or None
        (the worker ended, or nothing in time); other lines (a library printing) are passed over."""
        while True:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.time()))
            except queue.Empty:
                return None
            if line is None or wanted(line):
                return line

    def send(self, text: str) -> bool:
        try:
            self.proc.stdin.write(text + "\n")
            self.proc.stdin.flush()
            return True
        except (BrokenPipeError, OSError):
            return False

    def tail(self) -> str:
        try:
            return " | ".join(self.log.read_text(errors="replace").strip().splitlines()[-4:])[-600:]
        except OSError:
            return ""

    def kill(self, why: str) -> None:
        self.state = why
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)


@section("jobs", 140)
def check_jobs(args, ctx, out) -> None:
    device = str(ctx["device"])
    spec = {**JOB_SPEC, "device": device}
    out["mps"] = mps_state()
    print(f"  MPS: {out['mps']}", flush=True)
    # calibration here (same process kind, same workload): a unit is one group trained as a job
    # trains it, the protocol's 100 epochs, fewer where that would take over a third of a job's time
    task = blobs(spec["rows"], 20, 4, 1)
    _job_unit(spec, task, device, 1)

    def unit(epochs: int) -> float:
        start = time.perf_counter()
        _job_unit(spec, task, device, epochs)
        return time.perf_counter() - start
    timed = _per_epoch_seconds(unit, target_s=2.0, max_epochs=32)
    per_epoch = max(timed["per_epoch_s"], 1e-4)
    fixed = max(0.0, timed["seconds_1_epoch"] - per_epoch)
    unit_epochs = int(min(100, max(1, (args.job_seconds / 3 - fixed) // per_epoch)))
    spec["unit_epochs"] = unit_epochs
    unit_alone = fixed + per_epoch * unit_epochs
    out.update(workload=f"SNN width {spec['width']}, {spec['layers']} layers, each a group of 6 (lr x dropout), "
                        f"{spec['rows']} blob rows, through run_grid (train.streams {settings().streams}); units of "
                        f"{unit_epochs} epochs", calibration=timed, fixed_s_per_unit=round(fixed, 4),
               unit_epochs=unit_epochs, unit_alone_s=round(unit_alone, 3), job_seconds=args.job_seconds, points={})
    save()
    out["workers"] = _scan_jobs(args, ctx, spec, unit_alone, {}, out["points"])
    out.update(_recommendation(out["points"], with_mps=_mps_running(out["mps"])))
    out["ok"] = bool(out.get("recommended_jobs_per_gpu")) and all(
        not p.get("hung_or_failed") and "configs_per_s" in p for p in out["points"].values() if "skipped" not in p)
    if args.jobs_mps:
        out["with_mps"] = _jobs_with_mps(args, ctx, spec, unit_alone, out["mps"])
        if "ok" in out["with_mps"]:
            out["ok"] = out["ok"] and out["with_mps"]["ok"]


def _scan_jobs(args, ctx, spec: dict, unit_alone: float, env: dict, points: dict) -> dict:
    """Start max(--jobs) workers, wait until they are ready, then for each J let J of them train
    at once; each J's figures into ``points`` (and the JSON) as they come. Returns how many
    workers got ready."""
    log_dir = Path(tempfile.mkdtemp(prefix="acceptance-jobs-"))
    most = max(args.jobs)
    workers = [Worker(spec, log_dir, i, env) for i in range(most)]
    try:
        ready_by = time.time() + args.ready_timeout_s
        for w in workers:
            line = w.line(ready_by, lambda text: text == "ready")
            if line == "ready":
                w.state = "ready"
            else:
                w.kill(f"not ready within {args.ready_timeout_s:.0f} s" if line is None and w.proc.poll() is None
                       else f"ended before ready (exit {w.proc.poll()}): {w.tail()}")
        started = {"started": most, "ready": sum(w.state == "ready" for w in workers),
                   "not_ready": [w.state for w in workers if w.state != "ready"]}
        print(f"  workers: {started}", flush=True)
        for jobs in args.jobs:
            chosen = [w for w in workers if w.state == "ready"][:jobs]
            # a unit may take J times as long beside J - 1 others; the budget caps the wait
            hang = min(args.job_seconds + 3 * jobs * unit_alone + 30,
                       max(args.job_seconds + 10, args.budget_s - elapsed()))
            if len(chosen) < jobs:
                points[str(jobs)] = {"skipped": f"only {len(chosen)} worker(s) ready"}
                continue
            if elapsed() + args.job_seconds + jobs * unit_alone > ctx["section_deadline"]:
                points[str(jobs)] = {"skipped": "time budget spent"}
                continue
            sent = [w.send(f"go {args.job_seconds}") for w in chosen]  # the barrier: all start now
            deadline = time.time() + hang
            reports, hung = [], []
            for w, ok in zip(chosen, sent):
                line = w.line(deadline, lambda text: text.startswith("{")) if ok else None
                try:
                    reports.append(json.loads(line))
                except (TypeError, ValueError):
                    alive = w.proc.poll() is None
                    w.kill(f"killed: no result within {hang:.0f} s" if alive else f"ended (exit {w.proc.poll()})")
                    hung.append({"pid": w.proc.pid, "what": w.state, "log": w.tail()})
            point = {"finished": len(reports), "hung_or_failed": hung, "kill_after_s": round(hang, 1)}
            if reports:
                span = max(r["end"] for r in reports) - min(r["go"] for r in reports)
                configs = sum(r["configs"] for r in reports)
                point.update(configs=configs, span_s=round(span, 2), configs_per_s=round(configs / span, 3),
                             per_job_configs_per_s=[round(r["configs"] / (r["end"] - r["go"]), 3) for r in reports],
                             per_job_s=[round(r["end"] - r["go"], 2) for r in reports],
                             start_spread_s=round(max(r["go"] for r in reports) - min(r["go"] for r in reports), 3),
                             engines=sorted({e for r in reports for e in r["engines"]}))
            points[str(jobs)] = point
            print(f"  {jobs} job(s): {point.get('configs_per_s')} configurations/s in all, per job "
                  f"{point.get('per_job_configs_per_s')}, {len(hung)} hung or failed", flush=True)
            save()
    finally:
        for w in workers:
            if w.proc.poll() is None:
                w.send("quit")
        for w in workers:
            try:
                w.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                w.kill("killed: did not quit")
    return started


def _recommendation(points: dict, *, with_mps: bool) -> dict:
    """The smallest J after which configurations per second grow by less than JOBS_GAIN."""
    measured = sorted((int(j), p["configs_per_s"]) for j, p in points.items() if "configs_per_s" in p)
    if not measured:
        return {}
    best = measured[-1][0]
    for (j, rate), (_, following) in zip(measured, measured[1:]):
        if following < JOBS_GAIN * rate:
            best = j
            break
    return {"recommended_jobs_per_gpu": best,
            "decides": (f"train.jobs_per_gpu: {best}, the smallest J after which configurations/s grow by less than "
                        f"x{JOBS_GAIN} ({'with' if with_mps else 'without'} MPS; "
                        + ", ".join(f"J={j}: {rate}/s" for j, rate in measured) + ")")}


def _jobs_with_mps(args, ctx, spec: dict, unit_alone: float, state: dict) -> dict:
    """The same scan with an MPS daemon of this script's own (README's commands, private pipe and
    log folders), stopped afterwards. Only with --jobs-mps; where MPS already runs, the scan above
    was with MPS."""
    if _mps_running(state):
        return {"skipped": "MPS was already running: the scan above ran with it"}
    control = shutil.which("nvidia-cuda-mps-control")
    if control is None or ctx["device"].type != "cuda":
        return {"skipped": "nvidia-cuda-mps-control not on PATH" if control is None else "needs CUDA"}
    if elapsed() + 30 + len(args.jobs) * (args.job_seconds + 10) > ctx["section_deadline"]:
        return {"skipped": "time budget spent"}
    base = Path(tempfile.mkdtemp(prefix="acceptance-mps-"))
    env = {"CUDA_MPS_PIPE_DIRECTORY": str(base / "pipe"), "CUDA_MPS_LOG_DIRECTORY": str(base / "log")}
    for folder in env.values():
        Path(folder).mkdir()
    # the daemon sees every GPU (README: MPS renumbers the devices it was started with)
    daemon_env = {k: v for k, v in {**os.environ, **env}.items() if k != "CUDA_VISIBLE_DEVICES"}
    started = subprocess.run([control, "-d"], env=daemon_env, capture_output=True, text=True, timeout=30)
    out: dict = {"pipe_directory": env["CUDA_MPS_PIPE_DIRECTORY"], "start_returncode": started.returncode,
                 "start_output": (started.stdout + started.stderr)[-400:], "points": {}}
    if started.returncode != 0:
        out.update(ok=False, error="nvidia-cuda-mps-control -d failed")
        return out
    try:
        out["mps"] = mps_state_for(env)
        print(f"  with MPS ({out['mps']}):", flush=True)
        out["workers"] = _scan_jobs(args, ctx, spec, unit_alone, env, out["points"])
    finally:
        stopped = subprocess.run([control], input="quit\n", env=daemon_env, capture_output=True, text=True, timeout=60)
        out["stop_returncode"] = stopped.returncode
    out.update(_recommendation(out["points"], with_mps=True))
    out["ok"] = bool(out.get("recommended_jobs_per_gpu")) and all(
        not p.get("hung_or_failed") and "configs_per_s" in p for p in out["points"].values() if "skipped" not in p)
    return out


JOBS_GAIN = 1.1


def _mps_running(state: dict) -> bool:
    status = state.get("status", state)
    return bool(status.get("running")) if isinstance(status, dict) else bool(status)


@section("uci", 60)
def check_uci(args, ctx, out) -> None:
    import pandas as pd

    dataset, prepared = args.uci_dataset, Path(args.prepared_dir)
    card = prepared / "uci" / f"{dataset}.json"
    prepare = (f"python -m snnbench data download uci121 uci121_data_py --raw-dir data/raw && python -m snnbench data "
               f"prepare uci --dataset {dataset} --raw-dir data/raw --prepared-dir {prepared}")
    if not card.is_file():
        out.update(skipped=f"no prepared card {card}", prepare_with=prepare)
        return
    status = json.loads(card.read_text()).get("status")
    if status != "ok":
        out.update(skipped=f"{card} says {status}", prepare_with=prepare)
        return
    target = OUT.parent / f"{OUT.stem}_uci" / f"{dataset}.csv"  # beside the JSON, to be read afterwards
    cmd = [sys.executable, "-m", "snnbench", "train", "--benchmark", "uci", "--dataset", dataset, "--method", "SNN",
           "--prepared-dir", str(prepared), "--out", str(target), "--set", f"epochs={args.uci_epochs}",
           "--device", str(ctx["device"]), "--gpu-lock-dir", tempfile.mkdtemp(prefix="acceptance-locks-"), "--quiet"]
    for narrow in args.uci_narrow:
        cmd += ["--narrow", narrow]
    out["command"] = " ".join(cmd)
    limit = max(30.0, ctx["section_deadline"] - elapsed()) if math.isfinite(ctx["section_deadline"]) else None
    start = time.perf_counter()
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, env=sub_env(), cwd=str(REPO), timeout=limit)
    except subprocess.TimeoutExpired:
        out.update(ok=False, error=f"snnbench train did not finish within {limit:.0f} s (killed, section budget)")
        return
    wall = time.perf_counter() - start
    out.update(returncode=done.returncode, wall_s=round(wall, 2), stdout_tail=done.stdout[-800:],
               stderr_tail=done.stderr[-1500:] if done.returncode else "")
    if done.returncode != 0 or not target.is_file():
        out["ok"] = False
        return
    rows = pd.read_csv(target)
    summary = json.loads(target.with_suffix(".json").read_text())
    out.update(configs=len(rows), statuses=rows["status"].value_counts().to_dict(),
               engines=rows["engine"].value_counts().to_dict(), sizes=summary.get("sizes"),
               train_seconds_in_rows=round(float(rows["seconds"].sum()), 2))
    for column in ("engine_note", "cpu_capability", "gpu_model"):
        out[column] = (rows[column].dropna().astype(str).value_counts().to_dict() if column in rows
                       else "column not in this tree's rows")
    out["projection"] = _slice_projection(rows, args, prepared)
    if isinstance(out["projection"], dict) and "low_s" in out["projection"] and ctx["device"].type == "cuda":
        p = out["projection"]
        out["measured_within_projection"] = p["low_s"] <= wall <= p["high_s"]
    if ctx["device"].type == "cuda":  # on a CPU `engine: auto` trains with the reference engine
        out["fallback"] = [e for e in out["engines"] if not str(e).startswith("batched")]
    out["ok"] = not out.get("fallback")
    print(f"  {dataset}: {len(rows)} configurations in {wall:.1f} s (process included), engines {out['engines']}, "
          f"projection {out['projection']}", flush=True)


def _slice_projection(rows, args, prepared: Path):
    """The cost model's projection of this slice, low to high (``costmodel.LOW`` / ``HIGH``),
    where this tree has one: the same configurations, sizes and epochs, one job alone on the GPU."""
    try:
        from snnbench.training import costmodel
    except ImportError:
        return "cost model not available in this tree"
    needed = ("Job", "GpuRun", "job_seconds", "LOW", "HIGH")
    if not all(hasattr(costmodel, name) for name in needed):
        return f"cost model present but without {', '.join(n for n in needed if not hasattr(costmodel, n))}"
    import inspect

    from snnbench.benchmarks import make_task
    from snnbench.contracts.prepared import PreparedDataset, card_path

    try:
        task = make_task("uci", PreparedDataset.load(card_path(prepared, "uci", args.uci_dataset)), 0)
        hp = [c for c in ("n_hidden", "n_layers", "lr", "dropout", "layer_form") if c in rows]
        configs = tuple({k: (v.item() if hasattr(v, "item") else v) for k, v in c.items()}
                        for c in rows[hp].to_dict("records"))
        defaults = settings()
        try:
            from snnbench.pipeline.plan import TEST_SHARE
        except ImportError:
            TEST_SHARE = 1.0
        n = task.sizes()
        job = costmodel.Job(method="SNN", configs=configs, n_in=task.n_in, n_out=task.n_out, n_train=n["train"],
                            n_val=n["validation"], n_test=n["test"], epochs=args.uci_epochs, test_share=TEST_SHARE,
                            architecture=defaults.architecture())
        run = costmodel.GpuRun(streams=getattr(defaults, "streams", 1), jobs_per_gpu=1, mps=False, tf32=False)
        low, high = (costmodel.job_seconds(job, run, a)["total"] for a in (costmodel.LOW, costmodel.HIGH))
    except Exception as exc:  # the model is another engineer's: say what was tried
        return (f"cost model present, but costmodel.job_seconds{inspect.signature(costmodel.job_seconds)} could not "
                f"be called here ({type(exc).__name__}: {exc})")
    return {"low_s": round(float(low), 3), "high_s": round(float(high), 3), "test_share": TEST_SHARE,
            "streams": run.streams, "what": "costmodel.job_seconds(...)['total'] under LOW and HIGH, one job per GPU"}


@section("oom", 25, needs_cuda=True)
def check_oom(args, ctx, out) -> None:
    import torch

    from snnbench.training.grid import train_configs_batched
    from snnbench.training.recipe import TaskTensors

    messages = []
    handler = logging.Handler()
    handler.emit = lambda record: messages.append(record.getMessage())
    logging.getLogger("snnbench.train").addHandler(handler)
    free, _ = torch.cuda.mem_get_info()
    # 0.75 GiB left: 16 members of 12.6 M parameters need 1.6 GB for weights and gradients alone,
    # 8 about 0.8 GB and their activations; 4 fit
    left = int(0.75 * 2**30)
    filler = torch.empty(int(free - left), dtype=torch.uint8, device=ctx["device"])
    try:
        configs = [{"n_hidden": 2048, "n_layers": 4, "lr": float(lr), "dropout": 0.0, "layer_form": "rectangular"}
                   for lr in np.geomspace(1e-3, 1e-1, 16)]
        # one group, so streams 1: the halving under test is the group's, not that of the groups in flight
        results = train_configs_batched("MSRAinit", configs, list(range(16)), TaskTensors(ctx["task"], ctx["device"]),
                                        settings=settings(epochs=2, streams=1), device=ctx["device"], max_members=16)
    finally:
        del filler
        torch.cuda.empty_cache()
        logging.getLogger("snnbench.train").removeHandler(handler)
    out.update(left_free_gib=round(left / 2**30, 2), log=messages, statuses=sorted({r.status for r in results}),
               engines=sorted({r.engine for r in results}),
               member_halvings=sum("members; retrying with" in m for m in messages))
    out["ok"] = out["member_halvings"] > 0 and out["statuses"] == ["ok"] \
        and all(e.startswith("batched") for e in out["engines"])


@section("tf32", 30, needs_cuda=True)
def check_tf32(args, ctx, out) -> None:
    from snnbench.training.grid import run_grid
    from snnbench.training.recipe import set_tf32

    task = ctx["task"]
    try:
        for method, width, layers in (("SNN", 512, 8), ("SNN", 1024, 16)):
            configs = FAMILIES[method](width, layers)
            tables, seconds = {}, {}
            # a first training of the architecture pays for first-time allocations and library set-up:
            # not timed, so that neither precision carries it
            run_grid(task, benchmark="uci", dataset="blobs", method=method, split=0, configs=configs,
                     settings=settings(epochs=1, engine="batched", device=str(ctx["device"])), progress=False)
            for tf32 in (False, True):
                start = time.perf_counter()
                tables[tf32], _ = run_grid(task, benchmark="uci", dataset="blobs", method=method, split=0,
                                           configs=configs,
                                           settings=settings(epochs=args.epochs, tf32=tf32, engine="batched",
                                                             device=str(ctx["device"])), progress=False)
                seconds[tf32] = time.perf_counter() - start
            a, b = tables[False], tables[True]
            key = f"{method} {layers}x{width}"
            out[key] = {"configs": len(configs), "status_same": int((a["status"] == b["status"]).sum()),
                        "best_epoch_same": int((a["best_epoch"].fillna(-1) == b["best_epoch"].fillna(-1)).sum()),
                        "max_test_diff": float((a["test_metric"] - b["test_metric"]).abs().max()),
                        "fp32_s": round(seconds[False], 2), "tf32_s": round(seconds[True], 2),
                        "speedup": round(seconds[False] / seconds[True], 2)}
            print(f"  {key}: {out[key]}", flush=True)
            save()
    finally:
        set_tf32(False)
    rows = [v for v in out.values() if isinstance(v, dict) and "speedup" in v]
    faster = min(r["speedup"] for r in rows)
    same = all(r["status_same"] == r["configs"] for r in rows)
    moved = max(r["max_test_diff"] for r in rows)
    worth = faster >= TF32_SPEEDUP and same and moved <= TF32_TEST_DIFF
    out["ok"] = True  # it measures; what it decides is below
    out["decides"] = (f"TF32 {'is' if worth else 'is NOT'} worth offering as a speed setting: "
                      f"whole trainings x{faster} faster at least (threshold x{TF32_SPEEDUP}), "
                      f"statuses {'unchanged' if same else 'CHANGED'}, test metrics moved by {moved:.3g} at most "
                      f"(threshold {TF32_TEST_DIFF}); the default stays FP32 (as the CPU)")


TF32_SPEEDUP = 1.2
TF32_TEST_DIFF = 0.01


def _busy_us(events) -> float:
    """The GPU's busy time: the union of the kernels' intervals (streams may overlap)."""
    spans = sorted((e.time_range.start, e.time_range.end) for e in events)
    busy, end = 0.0, -math.inf
    for s, e in spans:
        if e > end:
            busy += e - max(s, end)
            end = e
    return busy


@section("profile", 20, needs_cuda=True)
def check_profile(args, ctx, out) -> None:
    from torch.profiler import ProfilerActivity, profile

    from snnbench.training.recipe import TaskTensors

    steps = args.timing_steps
    task = timing_task(128 * steps)
    data = TaskTensors(task, ctx["device"])
    configs = snn_group(256, 8, 6, dropout=0.05)
    for graphs in ("off", "auto"):
        config = settings(epochs=1, cuda_graphs=graphs, engine="batched", test_curve="every_epoch")
        run = _timed_group("SNN", configs, data, config, ctx["device"])
        wall = _per_epoch_seconds(run, target_s=args.timing_target_s)  # unprofiled: the profiler slows the host
        counted = {}
        for epochs in (1, 3):  # the device's activity only (no CPU events: less overhead on the host)
            with profile(activities=[ProfilerActivity.CUDA]) as prof:
                run(epochs)
            kernels = [e for e in prof.events() if str(getattr(e, "device_type", "")).endswith("CUDA")]
            counted[epochs] = (len(kernels), _busy_us(kernels))
        (k1, b1), (k3, b3) = counted[1], counted[3]
        group_steps = 2 * steps  # the two epochs more, differenced
        row = {"wall_ms_per_step": round(1e3 * wall["per_epoch_s"] / steps, 4),
               "cuda_kernels_per_group_step": round((k3 - k1) / group_steps, 1),
               "cuda_kernels_per_config_step": round((k3 - k1) / group_steps / len(configs), 2),
               "gpu_busy_ms_per_step": round((b3 - b1) / 1e3 / group_steps, 4), "engines": run.engines,
               "device_events_seen": [k1, k3], "wall": wall}
        row["gpu_busy_share"] = round(row["gpu_busy_ms_per_step"] / max(row["wall_ms_per_step"], 1e-9), 3)
        out[f"graphs_{graphs}"] = row
        print(f"  graphs {graphs}: {row['wall_ms_per_step']} ms/step, "
              f"{row['cuda_kernels_per_group_step']} device events "
              f"per group-step, GPU busy {row['gpu_busy_ms_per_step']} ms/step ({row['gpu_busy_share']:.0%}), "
              f"engines {run.engines}", flush=True)
        save()
    out["per_step_is"] = (f"a group of 6 (SNN 8x256, dropout 0.05), {steps} steps per epoch; wall: two unprofiled "
                          "trainings differenced; device events (kernels, copies) and busy time (their union): two "
                          "profiled trainings of 1 and 3 epochs differenced; each epoch's evaluation of 256 + 256 rows "
                          "shared out over its steps")
    out["ok"] = all(out[f"graphs_{g}"]["device_events_seen"][1] > 0 for g in ("off", "auto"))
    share = out["graphs_auto"]["gpu_busy_share"]
    out["host_bound"] = share < 0.5
    out["decides"] = (f"GPU busy {share:.0%} of a replayed step's wall time (threshold 50 %): "
                      + ("host-bound, more groups in flight (streams, jobs) can fill the GPU" if share < 0.5
                         else "the GPU is mostly busy already"))


# ----------------------------------------------------------------------------------------------


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=os.path.join(os.environ.get("OUT", "."), "gpu_acceptance.json"))
    parser.add_argument("--device", default="cuda", help="cuda (default; refuses without CUDA), cuda:N or cpu")
    parser.add_argument("--only", nargs="*", default=None, help="run only these sections")
    parser.add_argument("--skip", nargs="*", default=[], help="skip these sections")
    parser.add_argument("--budget-s", type=float, default=510,
                        help="a section whose estimate would end past this many seconds is skipped (default 510)")
    parser.add_argument("--epochs", type=int, default=15, help="epochs of the equivalence, divergence and rerun groups")
    parser.add_argument("--width", type=int, default=64, help="width of the equivalence, divergence and rerun groups")
    parser.add_argument("--rows", type=int, default=3000, help="rows of their data (60 %% train)")
    parser.add_argument("--tol", type=float, default=1e-6,
                        help="curve and test-metric tolerance (default 1e-6: the envelope across engines on a CPU, "
                             "tests/training/test_batched.py; every difference is in the JSON, so a looser reading "
                             "needs no rerun)")
    parser.add_argument("--early-epochs", type=int, default=3, help="epochs over which curve differences are listed")
    parser.add_argument("--timing-steps", type=int, default=32, help="training steps per epoch of the timed groups")
    parser.add_argument("--timing-target-s", type=float, default=1.0,
                        help="seconds of training the two timed runs of a point differ by (about)")
    parser.add_argument("--members", type=int, nargs="*", default=[3, 6, 12, 24, 48, 96])
    parser.add_argument("--tflops-layers", type=int, default=4, help="hidden layers of the width-1024 timing groups")
    parser.add_argument("--streams", type=int, nargs="*", default=[1, 2, 4, 8])
    parser.add_argument("--jobs", type=int, nargs="*", default=[1, 2, 4, 8])
    parser.add_argument("--job-seconds", type=float, default=20.0, help="seconds each job trains (at least)")
    parser.add_argument("--ready-timeout-s", type=float, default=180.0)
    parser.add_argument("--jobs-mps", action="store_true",
                        help="jobs: scan again with an MPS daemon of its own (about 2 minutes more; off by default)")
    parser.add_argument("--prepared-dir", default="data/prepared")
    parser.add_argument("--uci-dataset", default="abalone")
    parser.add_argument("--uci-epochs", type=int, default=100)
    parser.add_argument("--uci-narrow", nargs="*", default=["n_hidden=[512]", "n_layers=[2,8]"],
                        help="--narrow arguments of the slice (default: width 512, 2 and 8 layers: 24 configurations)")
    parser.add_argument("--job-worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    names = [fn.section for fn in SECTIONS]
    unknown = sorted((set(args.only or []) | set(args.skip)) - set(names))
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; known: {', '.join(names)}")
    return args


def refuse(reason: str) -> int:
    RESULTS.update(refused=reason, ok=False)
    save()
    print(f"gpu_acceptance: refused: {reason}", file=sys.stderr)
    return 2


def verdict(result: dict) -> str:
    if "refused" in result:
        return "refused"
    if "skipped" in result:
        return "skipped: " + result["skipped"]
    if "not_available" in result:
        return "not available in this tree: " + result["not_available"]
    if "error" in result:
        return "error: " + result["error"]
    return "pass" if result.get("ok") else "FAIL"


def main(argv=None) -> int:
    global OUT
    args = parse_args(argv)
    if args.job_worker:
        return job_worker(json.loads(args.job_worker))
    OUT = Path(args.out)
    logging.basicConfig(level=logging.WARNING)
    import snnbench

    RESULTS.update(started=time.strftime("%Y-%m-%d %H:%M:%S"), argv=sys.argv[1:], device_asked=args.device,
                   budget_s=args.budget_s, snnbench_from=str(Path(snnbench.__file__).resolve().parent),
                   sections={}, verdicts={})
    wants_cuda = args.device.startswith("cuda")
    import torch

    ctx: dict = {"cuda_started_before_claim": torch.cuda.is_initialized()}
    if wants_cuda:
        from snnbench.training.devices import claim_gpu

        # before CUDA starts: the claim sets CUDA_VISIBLE_DEVICES, which CUDA reads once
        ctx["claim"] = claim_gpu(wanted=1, lock_dir=tempfile.mkdtemp(prefix="gpu-locks-"))
        if not torch.cuda.is_available():
            return refuse(f"--device {args.device} asked for CUDA, but torch.cuda.is_available() is False "
                          f"(torch {torch.__version__}, built for CUDA {torch.version.cuda}; CUDA_VISIBLE_DEVICES="
                          f"{os.environ.get('CUDA_VISIBLE_DEVICES')!r}; claim: {ctx['claim'].how}). "
                          "Run it on a machine with a GPU, or with --device cpu to check the script itself "
                          "(that decides nothing about CUDA)")
    if wants_cuda:
        from snnbench.training.recipe import set_tf32

        # the claim leaves its GPU alone visible, as device 0; a device named without a claim stays as named
        claimed = ctx["claim"].device is not None and ctx["claim"].how == "claimed"
        ctx["device"] = torch.device("cuda", 0 if claimed or args.device == "cuda" else torch.device(args.device).index)
        torch.cuda.set_device(ctx["device"])
        set_tf32(False)  # full FP32, as on the CPU (train.tf32's default); the tf32 section turns it on for itself
    else:
        ctx["device"] = torch.device(args.device)
    ctx["task"] = blobs(args.rows, 20, 4, 0)
    RESULTS["device"] = str(ctx["device"])
    if not wants_cuda:
        RESULTS["note"] = "a CPU run checks the script; it decides nothing about CUDA"
        RESULTS["needs_cuda"] = [fn.section for fn in SECTIONS if fn.needs_cuda]
    save()
    planned = [fn for fn in SECTIONS if (not args.only or fn.section in args.only) and fn.section not in args.skip]
    for fn in planned:
        name = fn.section
        out: dict = {"estimate_s": fn.estimate_s}
        if not wants_cuda:
            out["cpu_check_only"] = True
        RESULTS["sections"][name] = out
        if fn.needs_cuda and not wants_cuda:
            out["skipped"] = "needs CUDA (--device cpu)"
        elif elapsed() + fn.estimate_s > args.budget_s:
            out["skipped"] = (f"would not fit: {elapsed():.0f} s spent + an estimate of {fn.estimate_s:.0f} s > "
                              f"--budget-s {args.budget_s:.0f}")
        if "skipped" in out:
            RESULTS["verdicts"][name] = verdict(out)
            print(f"[{name}] skipped: {out['skipped']}", flush=True)
            save()
            continue
        print(f"[{name}]", flush=True)
        if wants_cuda:
            torch.cuda.empty_cache()  # what earlier sections cached is free for this one (and for its child processes)
        start = time.perf_counter()
        # a section may run past its estimate up to half of what is left beyond it, so that one
        # slow section cannot take the time of all those after it
        ctx["section_deadline"] = ctx["deadline"] = elapsed() + fn.estimate_s + 0.5 * max(
            0.0, args.budget_s - elapsed() - fn.estimate_s)
        try:
            fn(args, ctx, out)
        except NotAvailable as exc:
            out["not_available"] = str(exc)
        except Exception as exc:  # a section's failure is a result; the others still run
            import traceback

            out.update(ok=False, error=f"{type(exc).__name__}: {exc}",
                       traceback=traceback.format_exc(limit=6)[-2000:])
        out["seconds"] = round(time.perf_counter() - start, 2)
        RESULTS["verdicts"][name] = verdict(out)
        if "decides" in out and "ok" in out:  # a decision stands only on a section that passed
            RESULTS.setdefault("decisions", {})[name] = (
                out["decides"] if out["ok"] or out["decides"].startswith("undecided")
                else f"undecided: the section did not pass (it would say: {out['decides']})")
        print(f"[{name}] {RESULTS['verdicts'][name]} ({out['seconds']} s)", flush=True)
        save()
    RESULTS["total_seconds"] = round(elapsed(), 1)
    ran = {k: v for k, v in RESULTS["verdicts"].items() if v in ("pass", "FAIL") or v.startswith("error")}
    RESULTS["ok"] = bool(ran) and all(v == "pass" for v in ran.values())
    RESULTS["ok_means"] = "at least one section ran, and every section that ran passed"
    save()
    print("verdicts: " + "; ".join(f"{k} {v}" for k, v in RESULTS["verdicts"].items()))
    for name, text in RESULTS.get("decisions", {}).items():
        print(f"{name}: {text}")
    if "packing_decision" in RESULTS:
        print(f"packing: {RESULTS['packing_decision']}")
    print(f"total {RESULTS['total_seconds']} s; written {OUT}")
    return 0 if RESULTS["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
