"""The first command to run on a machine with a GPU: does the batched engine hold on CUDA, and
what does a step cost there? Under 9 minutes on an H100 / H200; the JSON is written after every
section, so a run cut short keeps what it measured.

    python benchmarks/gpu_acceptance.py --out gpu_acceptance.json          # PYTHONPATH=src if not installed

Sections (each prints its figures and a verdict; ``--only`` / ``--skip`` pick sections):

- ``claim``: the GPU claim (``snnbench.devices.claim_gpu``) is taken before CUDA starts and sets
  CUDA_VISIBLE_DEVICES; the device, driver and torch versions.
- ``masks``: the dropout masks on CUDA equal the CPU's bit for bit (protocol F13).
- ``equivalence``: every family, a group (lr x dropout) trained batched on CUDA against each
  member trained by the reference engine on the CPU: status, early-stopping epoch, test metric,
  largest curve difference; no silent fallback (every row's engine is batched or batched+graphs).
- ``reruns``: the same group trained twice on CUDA gives bitwise identical curves.
- ``profile``: an SNN 8 x 256 group of 6 under the CUDA profiler, CUDA graphs off and on:
  kernels per group-step and per configuration-step, GPU busy time against wall time per step.
- ``graphs``: whether graph capture works, and the wall time of an eager step and a replayed one.
- ``oom``: a real out-of-memory error (most of the GPU's memory taken first) halves a group, which
  then trains; the sizes tried and the results.
- ``jobs``: 1, 2, 4, 8 training processes on the one GPU at once (the same work each):
  configurations per second in all, and whether MPS is running.
- ``tf32``: selected configurations with TF32 off (the default) and on: test metric,
  early-stopping epoch and status differences, and the time ratio.

The data are synthetic (Gaussian blobs, made here, seeded), so nothing needs downloading.
``--device cpu`` runs what applies on a CPU (to check the script itself).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

RESULTS: dict = {}
OUT: Path | None = None
START = time.perf_counter()


def save() -> None:
    if OUT is not None:
        tmp = OUT.with_suffix(".tmp")
        tmp.write_text(json.dumps(RESULTS, indent=2, default=str))
        tmp.replace(OUT)


def blobs(n: int, d: int, classes: int, seed: int):
    """Gaussian blobs that overlap a little (so the metrics are not all 1)."""
    from snnbench.tasks import blobs_task

    return blobs_task(n, d, classes, seed, spread=2.5, noise=1.5)


FAMILIES = {
    "SNN": lambda w, L: [{"n_hidden": w, "n_layers": L, "lr": lr, "dropout": p, "layer_form": "rectangular"}
                         for lr in (0.01, 0.1) for p in (0.05, 0.0)],
    "MSRAinit": lambda w, L: [{"n_hidden": w, "n_layers": L, "lr": lr, "dropout": p, "layer_form": "conic"}
                              for lr in (0.01, 0.1) for p in (0.5, 0.0)],
    "BatchNorm": lambda w, L: [{"n_hidden": w, "n_layers": L, "lr": lr, "layer_form": "rectangular"} for lr in (0.01, 0.1)],
    "WeightNorm": lambda w, L: [{"n_hidden": w, "n_layers": L, "lr": lr, "layer_form": "rectangular"} for lr in (0.01, 0.1)],
    "LayerNorm": lambda w, L: [{"n_hidden": w, "n_layers": L, "lr": lr, "layer_form": "conic"} for lr in (0.01, 0.1)],
    "Highway": lambda w, L: [{"n_layers": L, "lr": lr, "dropout": p} for lr in (0.01, 0.1) for p in (0.5, 0.0)],
    "ResNet": lambda w, L: [{"n_blocks": L, "n_hidden_per_block": w, "block_form": "diavolo", "bottleneck": 0.5, "lr": lr}
                            for lr in (0.01, 0.1)],
}


def section(name: str):
    def wrap(fn):
        fn.section = name
        return fn
    return wrap


@section("claim")
def check_claim(args, ctx) -> dict:
    import torch

    from snnbench.devices import claim_gpu

    started_before = torch.cuda.is_initialized()
    claim = claim_gpu(wanted=1, lock_dir=tempfile.mkdtemp(prefix="gpu-locks-"))
    ctx["claim"] = claim  # held until the process ends
    out = {"cuda_started_before_claim": started_before, "claim": claim.as_dict(),
           "CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES"), "torch": torch.__version__,
           "cuda_available": torch.cuda.is_available(), "python": platform.python_version()}
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        out.update(device=props.name, memory_gib=round(props.total_memory / 2**30, 1), cuda=torch.version.cuda,
                   sms=props.multi_processor_count)
    out["ok"] = not started_before and (claim.device is not None or not torch.cuda.is_available())
    return out


@section("masks")
def check_masks(args, ctx) -> dict:
    import torch

    from snnbench.models import _as_int32, dropout_keep, element_codes, keep_threshold, mask_keys

    device = ctx["device"]
    generator = torch.Generator().manual_seed(0)
    seeds = torch.randint(0, 2**62, (7, 1), generator=generator)
    calls = torch.randint(0, 2**40, (7, 1), generator=generator)
    codes = element_codes(128 * 1000)
    threshold = keep_threshold(torch.tensor([0.05, 0.1, 0.5, 0.2, 0.3, 0.05, 0.9]).view(7, 1))
    keys = _as_int32(mask_keys(seeds, calls))
    cpu = dropout_keep(codes, keys, threshold)
    dev = dropout_keep(codes.to(device), keys.to(device), threshold.to(device)).cpu()
    return {"elements": cpu.numel(), "kept_share": float(cpu.float().mean()), "ok": bool(torch.equal(cpu, dev))}


def _compare(reference, batched) -> dict:
    a, b = reference, batched
    def curve_diff(x, y) -> float:  # the test curve is NaN where it was not evaluated: the same epochs in both
        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        if not np.array_equal(np.isnan(x), np.isnan(y)):
            return float("inf")
        return float(np.nanmax(np.abs(x - y))) if np.isfinite(x).any() else 0.0

    diffs = [curve_diff(getattr(a.curves, c), getattr(b.curves, c))
             for c in ("train_loss", "val", "test") if len(getattr(a.curves, c)) == len(getattr(b.curves, c)) and getattr(a.curves, c)]
    return {"status": [a.status, b.status], "best_epoch": [a.best_epoch, b.best_epoch],
            "test": [a.test_metric, b.test_metric], "max_curve_diff": max(diffs, default=None), "engine": b.engine,
            "same": a.status == b.status and a.best_epoch == b.best_epoch
            and (a.status != "ok" or abs(a.test_metric - b.test_metric) <= 1e-5)}


@section("equivalence")
def check_equivalence(args, ctx) -> dict:
    import torch

    from snnbench.batched import train_group
    from snnbench.engine import train_config
    from snnbench.grids import config_seed
    from snnbench.recipe import TaskTensors
    from snnbench.settings import TrainSettings

    task = ctx["task"]
    settings = TrainSettings(epochs=args.epochs, highway_width=args.width, engine="batched")
    on_device, on_cpu = TaskTensors(task, ctx["device"]), TaskTensors(task, torch.device("cpu"))
    out, ok = {}, True
    for method, make in FAMILIES.items():
        configs = make(args.width, 3)
        seeds = [config_seed(0, "acceptance", method, c) for c in configs]
        start = time.perf_counter()
        group = train_group(method, configs, seeds, on_device, settings=settings, device=ctx["device"])
        seconds = time.perf_counter() - start
        rows = [_compare(train_config(method, c, on_cpu, settings=settings, seed=s, device=torch.device("cpu")), r)
                for c, s, r in zip(configs, seeds, group)]
        fallback = [r["engine"] for r in rows if not r["engine"].startswith("batched")]
        out[method] = {"members": rows, "batched_seconds": round(seconds, 3), "fallback": fallback,
                       "all_same": all(r["same"] for r in rows)}
        ok &= out[method]["all_same"] and not fallback
        print(f"  {method:10s} same {sum(r['same'] for r in rows)}/{len(rows)}, engines {sorted({r['engine'] for r in rows})}, "
              f"largest curve difference {max((r['max_curve_diff'] or 0) for r in rows):.2e}, {seconds:.2f} s")
    out["ok"] = ok
    return out


@section("reruns")
def check_reruns(args, ctx) -> dict:
    from snnbench.batched import train_group
    from snnbench.recipe import TaskTensors
    from snnbench.settings import TrainSettings

    data = TaskTensors(ctx["task"], ctx["device"])
    settings = TrainSettings(epochs=args.epochs, highway_width=args.width)
    out, ok = {}, True
    for method in ("SNN", "BatchNorm", "Highway"):
        configs = FAMILIES[method](args.width, 3)
        runs = [train_group(method, configs, list(range(len(configs))), data, settings=settings, device=ctx["device"])
                for _ in range(2)]
        same = all(a.curves == b.curves for a, b in zip(*runs))
        out[method] = same
        ok &= same
    out["ok"] = ok
    return out


def _group(method, configs, ctx, settings):
    """A stacked group's Trainer and StepRunner, and its batches, outside train_group."""
    import torch

    from snnbench.batched import StepRunner, build_trainer
    from snnbench.recipe import TaskTensors

    data = TaskTensors(ctx["task"], ctx["device"])
    trainer, _ = build_trainer(method, configs, list(range(len(configs))), data, settings=settings, device=ctx["device"])
    runner = StepRunner(trainer, graphs=ctx["device"].type == "cuda" and settings.cuda_graphs == "auto")
    n = len(trainer.X)
    idx = torch.stack([torch.randperm(n)[:settings.batch_size] for _ in configs]).to(ctx["device"])
    return trainer, runner, idx


def _timed_steps(trainer, runner, idx, steps: int) -> float:
    import torch

    from snnbench.batched import StepRunner

    masks = None
    if trainer.masks.active:
        drawn = trainer.masks.draw(0, 1)
        masks = tuple(None if m is None else m[0] for m in drawn)
    for _ in range(StepRunner.WARMUP + 2):  # eager warm-up, then (graphs) the capture and a replay
        runner(idx, masks)
    torch.cuda.synchronize() if idx.is_cuda else None
    start = time.perf_counter()
    for _ in range(steps):
        runner(idx, masks)
    torch.cuda.synchronize() if idx.is_cuda else None
    return (time.perf_counter() - start) / steps


@section("profile")
def check_profile(args, ctx) -> dict:
    from torch.profiler import ProfilerActivity, profile

    from snnbench.batched import StepRunner
    from snnbench.settings import TrainSettings

    configs = [{"n_hidden": 256, "n_layers": 8, "lr": lr, "dropout": p, "layer_form": "rectangular"}
               for lr in (0.01, 0.1, 1.0) for p in (0.05, 0.0)]
    out = {}
    for graphs in ("off", "auto"):
        settings = TrainSettings(cuda_graphs=graphs)
        trainer, runner, idx = _group("SNN", configs, ctx, settings)
        _timed_steps(trainer, runner, idx, 5)
        steps = 50
        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if idx.is_cuda else [])
        with profile(activities=activities) as prof:
            wall = _timed_steps(trainer, runner, idx, steps)
        events = [e for e in prof.events() if str(getattr(e, "device_type", "")).endswith("CUDA")]
        counted = steps + StepRunner.WARMUP + 2  # _timed_steps' warm-up ran under the profiler too
        kernels = len(events) / counted
        busy = sum(getattr(e, "device_time_total", 0) or getattr(e, "device_time", 0) for e in events) / 1e6 / counted \
            if events else None
        out[f"graphs_{graphs}"] = {"wall_ms_per_step": round(1e3 * wall, 3), "cuda_kernels_per_group_step": round(kernels, 1),
                                   "cuda_kernels_per_config_step": round(kernels / len(configs), 1),
                                   "gpu_busy_ms_per_step": None if busy is None else round(1e3 * busy, 3),
                                   "replays": runner.replays}
        print(f"  graphs {graphs}: {out[f'graphs_{graphs}']}")
    out["ok"] = True
    return out


@section("graphs")
def check_graphs(args, ctx) -> dict:
    from snnbench.flops import run_flops
    from snnbench.settings import TrainSettings

    if ctx["device"].type != "cuda":
        return {"skipped": "needs CUDA"}
    out = {}
    for name, width, layers in (("SNN 8x256", 256, 8), ("SNN 4x1024", 1024, 4), ("SNN 32x256", 256, 32)):
        configs = FAMILIES["SNN"](width, layers)
        times = {}
        for graphs in ("off", "auto"):
            trainer, runner, idx = _group("SNN", configs, ctx, TrainSettings(cuda_graphs=graphs))
            times[graphs] = _timed_steps(trainer, runner, idx, 100)
            if graphs == "auto":
                out[name + " captured"] = runner.replays > 0
        task = ctx["task"]
        flop = sum(run_flops("SNN", c, n_in=task.n_in, n_out=task.n_out, n_train=128, n_val=0, n_test=0, epochs=1,
                             architecture=TrainSettings().architecture()) for c in configs)  # one step of the group
        out[name] = {"eager_ms": round(1e3 * times["off"], 3), "replay_ms": round(1e3 * times["auto"], 3),
                     "speedup": round(times["off"] / times["auto"], 2),
                     "tflops_eager": round(flop / times["off"] / 1e12, 2), "tflops_replay": round(flop / times["auto"] / 1e12, 2)}
        print(f"  {name}: {out[name]}")
    out["ok"] = all(v for k, v in out.items() if k.endswith("captured"))
    return out


@section("oom")
def check_oom(args, ctx) -> dict:
    import torch

    from snnbench.grid import train_configs_batched
    from snnbench.recipe import TaskTensors
    from snnbench.settings import TrainSettings

    if ctx["device"].type != "cuda":
        return {"skipped": "needs CUDA"}
    sizes = []
    handler = logging.Handler()
    handler.emit = lambda record: sizes.append(record.getMessage())
    logging.getLogger("snnbench.train").addHandler(handler)
    free, _ = torch.cuda.mem_get_info()
    filler = torch.empty(int(free - 1.5 * 2**30), dtype=torch.uint8, device=ctx["device"])  # leave 1.5 GiB
    try:
        configs = [{"n_hidden": 2048, "n_layers": 4, "lr": lr, "dropout": 0.0, "layer_form": "rectangular"}
                   for lr in np.geomspace(1e-3, 1e-1, 16)]
        settings = TrainSettings(epochs=2)
        results = train_configs_batched("MSRAinit", configs, list(range(16)), TaskTensors(ctx["task"], ctx["device"]),
                                        settings=settings, device=ctx["device"], max_members=16)
    finally:
        del filler
        torch.cuda.empty_cache()
        logging.getLogger("snnbench.train").removeHandler(handler)
    out = {"log": sizes, "statuses": sorted({r.status for r in results}), "engines": sorted({r.engine for r in results})}
    out["ok"] = any("retrying with" in s for s in sizes) and out["statuses"] == ["ok"]
    return out


WORKER = r"""
import sys, time, json, torch
sys.path.insert(0, {bench!r}); sys.path.insert(0, {src!r})
from gpu_acceptance import blobs, FAMILIES
from snnbench.grid import run_grid
from snnbench.settings import TrainSettings
task = blobs(4000, 20, 4, 1)
configs = [c for L in (4, 8) for c in FAMILIES["SNN"](512, L)]
run_grid(task, benchmark="uci", dataset="blobs", method="SNN", split=0, configs=configs[:2],
         settings=TrainSettings(epochs=1, engine="batched"), threads=1, progress=False)
start = time.time()
rows, _ = run_grid(task, benchmark="uci", dataset="blobs", method="SNN", split=0, configs=configs,
                   settings=TrainSettings(epochs={epochs}, engine="batched"), threads=1, progress=False)
print(json.dumps({{"start": start, "end": time.time(), "configs": len(configs), "engines": sorted(set(rows["engine"]))}}))
"""


@section("jobs")
def check_jobs(args, ctx) -> dict:
    if ctx["device"].type != "cuda":
        return {"skipped": "needs CUDA"}
    here = Path(__file__).resolve().parent
    import snnbench

    code = WORKER.format(bench=str(here), src=str(Path(snnbench.__file__).resolve().parents[1]), epochs=args.job_epochs)
    mps = shutil.which("nvidia-cuda-mps-control") is not None and Path("/tmp/nvidia-mps").exists()
    out = {"mps_running": mps}
    for jobs in args.jobs:
        start = time.perf_counter()
        procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  env={**os.environ, "OMP_NUM_THREADS": "1"}) for _ in range(jobs)]
        done = [p.communicate(timeout=300) for p in procs]
        wall = time.perf_counter() - start
        reports = [json.loads(o.strip().splitlines()[-1]) for o, _ in done if o.strip()]
        configs = sum(r["configs"] for r in reports)
        # training time only (each process's CUDA start-up excluded): first start to last end
        span = max((r["end"] for r in reports), default=0) - min((r["start"] for r in reports), default=0)
        out[str(jobs)] = {"wall_s": round(wall, 2), "training_span_s": round(span, 2),
                          "configs_per_s": round(configs / max(span, 1e-9), 3),
                          "per_job_s": [round(r["end"] - r["start"], 2) for r in reports],
                          "engines": sorted({e for r in reports for e in r["engines"]}),
                          "finished": len(reports), "errors": [e[-300:] for o, e in done if not o.strip()]}
        print(f"  {jobs} jobs: {out[str(jobs)]}")
        save()
    out["ok"] = all(v["finished"] == int(k) for k, v in out.items() if k.isdigit())
    return out


@section("tf32")
def check_tf32(args, ctx) -> dict:
    from snnbench.grid import run_grid
    from snnbench.settings import TrainSettings

    task = ctx["task"]
    out = {}
    for method, width, layers in (("SNN", 512, 8), ("MSRAinit", 512, 8), ("SNN", 1024, 16)):
        configs = FAMILIES[method](width, layers)
        tables, seconds = {}, {}
        for tf32 in (False, True):
            start = time.perf_counter()
            tables[tf32], _ = run_grid(task, benchmark="uci", dataset="blobs", method=method, split=0, configs=configs,
                                       settings=TrainSettings(epochs=args.epochs, tf32=tf32, engine="batched",
                                                              device=str(ctx["device"])), progress=False)
            seconds[tf32] = time.perf_counter() - start
        a, b = tables[False], tables[True]
        key = f"{method} {layers}x{width}"
        out[key] = {"status_same": int((a["status"] == b["status"]).sum()), "configs": len(configs),
                    "best_epoch_same": int((a["best_epoch"].fillna(-1) == b["best_epoch"].fillna(-1)).sum()),
                    "max_test_diff": float((a["test_metric"] - b["test_metric"]).abs().max()),
                    "fp32_s": round(seconds[False], 2), "tf32_s": round(seconds[True], 2),
                    "speedup": round(seconds[False] / seconds[True], 2)}
        print(f"  {key}: {out[key]}")
    from snnbench.recipe import set_tf32

    set_tf32(False)
    out["ok"] = True
    return out


SECTIONS = [check_claim, check_masks, check_equivalence, check_reruns, check_profile, check_graphs, check_oom,
            check_jobs, check_tf32]


def main() -> None:
    global OUT
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=os.path.join(os.environ.get("OUT", "."), "gpu_acceptance.json"))
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--only", nargs="*", default=None)
    parser.add_argument("--skip", nargs="*", default=[])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--rows", type=int, default=3000)
    parser.add_argument("--jobs", type=int, nargs="*", default=[1, 2, 4, 8])
    parser.add_argument("--job-epochs", type=int, default=30)
    parser.add_argument("--budget-s", type=float, default=510, help="sections not started past this many seconds are skipped")
    args = parser.parse_args()
    OUT = Path(args.out)
    logging.basicConfig(level=logging.WARNING)
    ctx: dict = {}
    RESULTS["started"] = time.strftime("%Y-%m-%d %H:%M:%S")
    for fn in SECTIONS:
        name = fn.section
        if (args.only and name not in args.only) or name in args.skip:
            continue
        if time.perf_counter() - START > args.budget_s:
            RESULTS[name] = {"skipped": f"time budget of {args.budget_s:.0f} s spent"}
            print(f"[{name}] skipped: time budget spent")
            save()
            continue
        if name != "claim" and "device" not in ctx:  # after the claim: CUDA may start now
            import torch

            ctx["device"] = torch.device(args.device if args.device != "cuda" or torch.cuda.is_available() else "cpu")
            ctx["task"] = blobs(args.rows, 20, 4, 0)
        print(f"[{name}]", flush=True)
        start = time.perf_counter()
        try:
            RESULTS[name] = fn(args, ctx)
        except Exception as exc:  # a section's failure is a result; the others still run
            RESULTS[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        RESULTS[name]["seconds"] = round(time.perf_counter() - start, 2)
        print(f"[{name}] {'ok' if RESULTS[name].get('ok') else RESULTS[name].get('skipped') or 'NOT OK'} "
              f"({RESULTS[name]['seconds']} s){'' if 'error' not in RESULTS[name] else ': ' + RESULTS[name]['error']}", flush=True)
        save()
    RESULTS["total_seconds"] = round(time.perf_counter() - START, 1)
    save()
    print(f"total {RESULTS['total_seconds']} s; written {OUT}")


if __name__ == "__main__":
    main()
