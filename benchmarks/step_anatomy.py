"""Where the time of one architecture group goes, in each engine: the roofline behind
`grid_throughput.py`'s ratio.

For one UCI dataset and one architecture (the configurations of the paper's grid that share it:
every learning rate and dropout rate, 6 for SNN and MSRAinit), it prints

- the device's measured dense float32 matrix-product rate at the group's shapes (batch 128 x
  width x width, one member and the whole group stacked), the ceiling for this arithmetic;
- for the reference engine (the configurations one by one) and the batched engine (one group):
  wall time, matrix-product FLOPs (``snnbench.training.flops``), and from ``torch.profiler`` the self
  time of the matrix-product kernels against everything else (elementwise kernels, dropout
  masks, optimiser, Python): what batching can and cannot remove;
- with ``--compile``: ``torch.compile`` of the batched training step (loss, gradients) for that
  group: the first call's time (compilation) against the eager and the compiled time per step.

    python benchmarks/step_anatomy.py --dataset titanic --method SNN --n-layers 8 --width 256 --epochs 5 \\
        --threads 2 --compile
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.profiler import ProfilerActivity, profile

from snnbench.benchmarks import make_task
from snnbench.contracts.prepared import PreparedDataset, card_path
from snnbench.settings import TrainSettings
from snnbench.training.batched import build_trainer, train_group
from snnbench.training.engine import train_config
from snnbench.training.flops import run_flops
from snnbench.training.recipe import TaskTensors, resolve_device

MATMUL_KERNELS = {"aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "aten::matmul", "aten::linear"}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def matmul_rate(shape: tuple[int, ...], device: torch.device, seconds: float = 1.0) -> float:
    """Measured float32 FLOP/s of ``a @ b`` with a: (*lead, m, k), b: (*lead, k, n)."""
    *lead, m, k, n = shape
    a = torch.randn(*lead, m, k, device=device)
    b = torch.randn(*lead, k, n, device=device)
    for _ in range(3):
        a @ b
    sync(device)
    reps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(10):
            a @ b
        reps += 10
        sync(device)
    flop = 2 * m * k * n * (torch.Size(lead).numel() if lead else 1) * reps
    return flop / (time.perf_counter() - start)


def profiled(fn, device: torch.device) -> tuple[float, float, float]:
    """Wall seconds, and profiler self seconds of matrix-product kernels and of all kernels."""
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        start = time.perf_counter()
        fn()
        sync(device)
        wall = time.perf_counter() - start
    attr = "self_device_time_total" if device.type == "cuda" else "self_cpu_time_total"
    events = prof.key_averages()
    matmul = sum(getattr(e, attr) for e in events if e.key in MATMUL_KERNELS) / 1e6
    total = sum(getattr(e, attr) for e in events if e.key.startswith("aten::")) / 1e6
    return wall, matmul, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="titanic")
    parser.add_argument("--method", default="SNN", choices=["SNN", "MSRAinit"])
    parser.add_argument("--n-layers", type=int, default=8)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--layer-form", default="rectangular")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--prepared-dir", default="data/prepared")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile of the batched step")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    task = make_task("uci", PreparedDataset.load(card_path(args.prepared_dir, "uci", args.dataset)), 0)
    data = TaskTensors(task, device)
    settings = TrainSettings(epochs=args.epochs, device=args.device, test_curve="every_epoch")  # FLOPs as counted
    rates = [0.05, 0.0] if args.method == "SNN" else [0.5, 0.0]
    configs = [{"n_hidden": args.width, "n_layers": args.n_layers, "lr": lr, "dropout": p,
                "layer_form": args.layer_form}
               for lr in (0.01, 0.1, 1.0) for p in rates]
    seeds = list(range(len(configs)))
    k, batch = len(configs), settings.batch_size
    print(f"device {device} ({torch.get_num_threads()} threads); torch {torch.__version__}; {args.dataset} "
          f"({len(task.X['train'])} training rows); {args.method} {args.n_layers} x {args.width} {args.layer_form}; "
          f"{k} configurations (lr x dropout); {args.epochs} epochs")
    one = matmul_rate((batch, args.width, args.width), device)
    stacked = matmul_rate((k, batch, args.width, args.width), device)
    print(f"measured float32 matmul: {one / 1e9:.1f} GFLOP/s at {batch}x{args.width}x{args.width}, "
          f"{stacked / 1e9:.1f} GFLOP/s stacked {k} deep")

    def reference():
        for config, seed in zip(configs, seeds):
            train_config(args.method, config, data, settings=settings, seed=seed, device=device)

    def batched():
        train_group(args.method, configs, seeds, data, settings=settings, device=device)

    flop = sum(run_flops(args.method, c, n_in=task.n_in, n_out=task.n_out, n_train=len(task.X["train"]),
                         n_val=len(task.X["validation"]), n_test=len(task.X["test"]), epochs=args.epochs,
                         architecture=settings.architecture()) for c in configs)
    walls = {}
    for name, fn in (("reference", reference), ("batched", batched)):
        fn()  # warm-up (allocator, first-call costs)
        wall, matmul, total = profiled(fn, device)
        walls[name] = wall
        print(f"{name:9s}: {wall:7.3f} s wall (under the profiler), {flop / wall / 1e9:7.1f} GFLOP/s; "
              f"matrix-product kernels {matmul:.3f} s ({flop / max(matmul, 1e-9) / 1e9:.1f} GFLOP/s in them), "
              f"other kernels {total - matmul:.3f} s, outside kernels {max(wall - total, 0):.3f} s")
    print(f"batched / reference: {walls['reference'] / walls['batched']:.2f}x; "
          f"all {flop / 1e9:.1f} GFLOP at the measured stacked rate would take {flop / stacked:.3f} s")
    if args.compile:
        compile_probe(args.method, data, settings, configs, seeds, device, batch)


def compile_probe(method, data, settings, configs, seeds, device, batch, steps: int = 50) -> None:
    trainer, _ = build_trainer(method, configs, seeds, data, settings=settings, device=device)

    def step(idx):  # the batched engine's training step: masks, forward, gradients, update
        trainer.train_step(idx)

    n = len(data.X["train"])
    idx = torch.stack([torch.randperm(n)[:batch] for _ in configs]).to(device)
    timings = {}
    for name, fn in (("eager", step), ("compiled", torch.compile(step))):
        sync(device)
        start = time.perf_counter()
        fn(idx)
        sync(device)
        first = time.perf_counter() - start
        start = time.perf_counter()
        for _ in range(steps):
            fn(idx)
        sync(device)
        timings[name] = (first, (time.perf_counter() - start) / steps)
        print(f"torch.compile probe, {name:8s}: first call {first:7.2f} s, "
              f"then {1e3 * timings[name][1]:7.2f} ms per step "
              f"(forward, gradients and update, {len(configs)} members, batch {batch})")
    saved = timings["eager"][1] - timings["compiled"][1]
    if saved > 0:
        print(f"compilation pays after {timings['compiled'][0] / saved:.0f} steps of this group")
    else:
        print("the compiled step is not faster")


if __name__ == "__main__":
    main()
