"""Configurations per second of the reference and the batched engine, on the same slice, in one process.

The slice (defaults): the paper's UCI grids of SNN and MSRAinit (Tables A4, A5) narrowed to
n_hidden = 256 and 512 (every depth, learning rate, dropout rate and layer form kept, so the
batched groups are as large as in the full grid: 6 members for SNN, 6 for MSRAinit), on six
UCI datasets from small to large: iris (150 rows), wine (178), breast-cancer-wisc (699),
titanic (2,201), abalone (4,177), mushroom (8,124); 100 epochs, data_py split 0. On a CPU
narrow it further (--epochs, --narrow, --datasets) and say so.

For each engine it prints the wall time, configurations per second, the matrix-product FLOPs
actually executed (``snnbench.training.flops``: exact counts from the layer shapes, epochs actually run,
the test set counted after the epochs that have a test metric, per configuration: a batched group
evaluates it for all its members when one needs it, so it executes a little more), the share of
group-epochs after which the test set was evaluated (protocol F5) and of configuration-epochs
run (divergence ends a configuration early),
the achieved TFLOP/s and that as a fraction of the device's dense TF32 peak (--peak-tflops,
known for H100 / H200 / A100), and the ratio batched / reference. Results of the two engines
are compared configuration by configuration (status, early-stopping epoch, test metric).

    SNNBENCH_MIRROR=../shared/data python benchmarks/grid_throughput.py --epochs 10 --threads 2

Needs the datasets prepared under --prepared-dir (`snnbench data prepare uci --dataset iris ...`).
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
import torch

from snnbench.benchmarks import make_task
from snnbench.contracts.prepared import PreparedDataset, card_path
from snnbench.pipeline.runs import load_grids
from snnbench.settings import TrainSettings
from snnbench.training.batched import group_configs
from snnbench.training.flops import run_flops
from snnbench.training.grid import run_grid
from snnbench.training.grids import expand, narrow
from snnbench.training.recipe import resolve_device

DATASETS = ["iris", "wine", "breast-cancer-wisc", "titanic", "abalone", "mushroom"]
# Dense TF32 tensor-core peaks (TFLOP/s), NVIDIA data sheets.
PEAKS = {"H100 SXM": 494.7, "H100 NVL": 417.5, "H100 PCIe": 378.0, "H100": 494.7, "H200": 494.7, "A100": 156.0}


def device_peak(device: torch.device) -> tuple[str, float | None]:
    if device.type != "cuda":
        return f"CPU {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads", None
    name = torch.cuda.get_device_name(device)
    for key, peak in PEAKS.items():
        if key.replace(" ", "").lower() in name.replace(" ", "").lower():
            return name, peak
    return name, None


def parse_narrowing(items: list[str]) -> dict:
    out = {}
    for item in items:
        key, _, value = item.partition("=")
        out[key] = json.loads(value)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="*", default=DATASETS)
    parser.add_argument("--methods", nargs="*", default=["SNN", "MSRAinit"])
    parser.add_argument("--narrow", nargs="*", default=["n_hidden=[256,512]"], help="KEY=JSON values kept")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--prepared-dir", default="data/prepared")
    parser.add_argument("--grids", default="config/grids.yaml")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--tf32", action="store_true", help="allow TF32 matmuls (the peak is TF32's)")
    parser.add_argument("--peak-tflops", type=float, default=None, help="the device's peak, if not known")
    parser.add_argument("--engines", nargs="*", default=["reference", "batched"])
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    name, peak = device_peak(device)
    peak = args.peak_tflops or peak
    grids = load_grids(args.grids)
    subset = parse_narrowing(args.narrow)
    print(f"device: {name}; torch {torch.__version__}; tf32 {args.tf32}; epochs {args.epochs}; "
          f"methods {args.methods}; narrow {subset}; datasets {args.datasets}")
    jobs = []
    for dataset in args.datasets:
        data = PreparedDataset.load(card_path(args.prepared_dir, "uci", dataset))
        task = make_task("uci", data, 0)
        for method in args.methods:
            grid = grids["uci"][method]
            grid = narrow(grid, {k: v for k, v in subset.items() if k in grid}, setting="--narrow")
            jobs.append((dataset, task, method, expand(grid)))
    totals = {}
    tables = {}
    for engine in args.engines:
        settings = TrainSettings(epochs=args.epochs, engine=engine, device=args.device, tf32=args.tf32)
        seconds = flops = configs = 0
        test_share, epochs_run = [0, 0], [0, 0]
        for dataset, task, method, grid_configs in jobs:
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            rows, curves = run_grid(task, benchmark="uci", dataset=dataset, method=method, split=0,
                                    configs=grid_configs, settings=settings, threads=args.threads, progress=False)
            wall = time.perf_counter() - start
            tested = curves.groupby("config_id")["test_metric"].count()  # epochs with a test metric
            job_flops = sum(run_flops(method, c, n_in=task.n_in, n_out=task.n_out, n_train=len(task.X["train"]),
                                      n_val=len(task.X["validation"]), n_test=len(task.X["test"]), epochs=int(e),
                                      test_evals=int(tested.get(i, 0)), architecture=settings.architecture())
                            for i, (c, e) in enumerate(zip(grid_configs, rows["epochs_run"])))
            epochs_run[0] += int(rows["epochs_run"].sum())
            epochs_run[1] += len(grid_configs) * args.epochs
            for group in group_configs(grid_configs):  # a group evaluates the test set when any member needs it
                epochs_tested = curves[curves["config_id"].isin(group)].dropna(subset=["test_metric"])["epoch"]
                test_share[0] += epochs_tested.nunique()
                test_share[1] += int(rows["epochs_run"].iloc[group].max())
            seconds += wall
            flops += job_flops
            configs += len(grid_configs)
            tables[(engine, dataset, method)] = rows
            print(f"  {engine:9s} {dataset:20s} {method:9s} {len(grid_configs):4d} configs {wall:8.1f} s "
                  f"{len(grid_configs) / wall:7.2f} configs/s {job_flops / wall / 1e12:8.4f} TFLOP/s")
        totals[engine] = {"seconds": seconds, "configs": configs, "flops": flops}
        print(f"{engine}: test set evaluated after {test_share[0]} of {test_share[1]} group-epochs "
              f"({test_share[0] / max(test_share[1], 1):.1%}; groups: configurations sharing an architecture; "
              f"train.test_curve {settings.test_curve}, FLOPs counted per configuration)")
        print(f"{engine}: configuration-epochs run {epochs_run[0]} of {epochs_run[1]} "
              f"({epochs_run[0] / max(epochs_run[1], 1):.1%}; the rest not run after divergence)")
        tflops = flops / seconds / 1e12
        print(f"{engine}: {configs} configs in {seconds:.1f} s = {configs / seconds:.3f} configs/s; "
              f"{flops / 1e12:.2f} TFLOP executed, {tflops:.4f} TFLOP/s"
              + (f" = {100 * tflops / peak:.2f} % of the {peak} TFLOP/s dense TF32 peak" if peak else ""))
    if {"reference", "batched"} <= set(totals):
        ratio = totals["reference"]["seconds"] / totals["batched"]["seconds"]
        print(f"batched / reference throughput: {ratio:.2f}x")
        same_status, same_epoch, close, differing = 0, 0, 0, []
        for dataset, _, method, grid_configs in jobs:
            a, b = tables[("reference", dataset, method)], tables[("batched", dataset, method)]
            same_status += int((a["status"] == b["status"]).sum())
            same_epoch += int((a["best_epoch"].fillna(-1) == b["best_epoch"].fillna(-1)).sum())
            both_ok = (a["status"] == "ok") & (b["status"] == "ok")
            diff = (a["test_metric"] - b["test_metric"]).abs()
            close += int((both_ok & (diff <= 1e-5)).sum()
                         + ((a["status"] != "ok") & (a["status"] == b["status"])).sum())
            for i in np.flatnonzero((a["status"] != b["status"]) | (both_ok & (diff > 1e-5))):
                differing.append(f"{dataset}/{method} {grid_configs[i]}: reference {a['status'][i]} "
                                 f"test {a['test_metric'][i]:.4f} epoch {a['best_epoch'][i]}, batched {b['status'][i]} "
                                 f"test {b['test_metric'][i]:.4f} epoch {b['best_epoch'][i]}")
        n = totals["batched"]["configs"]
        print(f"agreement: status {same_status}/{n}, early-stopping epoch {same_epoch}/{n}, "
              f"same status and test metric within 1e-5: {close}/{n}")
        for line in differing:
            print(f"  differs: {line}")


if __name__ == "__main__":
    main()
