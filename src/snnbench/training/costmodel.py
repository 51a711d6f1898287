"""The GPU cost model of the batched engine: one source for ``snnbench plan`` and
``benchmarks/gpu_projection.py``.

AN ESTIMATE UNTIL A GPU MEASURES IT (``benchmarks/gpu_acceptance.py``). Every constant is in
``Assumptions``; ``LOW`` is the optimistic and ``HIGH`` the pessimistic reading of each, with the
reason beside it. The model, for the engine of issue 22 (a job trains each architecture group of
k members as one stacked network; ``streams`` groups in flight, each on its own CUDA stream with
its own graphs, stepped round-robin by one host thread; ``jobs_per_gpu`` processes per GPU):

* a matrix product (k, M, N, K) (k members, an M x N output, K the reduction) runs as output tiles
  on the SMs. Of a few tilings (``tilings``, each with the fraction of an SM's peak one tile
  sustains) and split-K factors, the one a single product runs fastest with is taken, as cuBLAS's
  heuristic picks without knowing what else runs. waves = ceil(tiles in flight / SMs), fill =
  tiles in flight / (waves x SMs); the products of concurrent streams (and of MPS jobs) add their
  tiles to the same waves. A tile's efficiency falls over a short reduction (K / (K + a fixed
  cost)). Its time is max(kernel floor / c, FLOPs / (peak x tile efficiency x fill), operand
  bytes / HBM rate), c the effective concurrency;
* a group-step: forward product per linear layer, weight-gradient product per layer, input-
  gradient product per layer but the first; the other kernels (kernels per group-step, measured,
  less the products and the update) at the kernel floor, bound below by the activations' bytes;
  the SGD update's bytes at the HBM rate;
* host: one graph replay per captured call (full-batch step, last partial batch, validation,
  test), the eager kernels left ((1 - capturable share) of all), one sync per group-epoch;
  per group the warm-up eager steps and the graph captures; a group's weights drawn on the CPU
  while the previous group trains (only what exceeds that training is charged) and copied to the
  device; per job its start;
* a group costs max(host / J, device): the round-robin host thread and the streams overlap;
  J jobs' host threads run side by side on J cores; without MPS the GPU time-slices the jobs (their
  device work adds up, c = streams in flight), with MPS their kernels share the SMs
  (c = streams x J).

Not modelled: the tail of a job (fewer groups in flight than streams at its end), divergence
(every configuration at the protocol's maximum), L2 reuse between products, memory limits.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field, fields
from typing import Any, Iterable, Mapping

from snnbench.settings import TrainSettings
from snnbench.training.flops import linear_shapes

# Kernels per configuration-step at width 8, depth 8, measured by benchmarks/gpu_projection.py
# (K@100 of the engine of issue 22, docs/performance.md), and members per group of the UCI grid.
MEASURED_KERNELS = {  # family: (kernels per configuration-step, members per group, depth)
    "SNN": (15.3, 6, 8), "MSRAinit": (15.1, 6, 8), "BatchNorm": (31.2, 3, 8), "WeightNorm": (68.7, 3, 8),
    "LayerNorm": (47.1, 3, 8), "Highway": (35.4, 6, 8), "ResNet": (46.7, 3, 8)}
MEASURED_KERNELS_SOURCE = "gpu_projection.py K@100 at width 8, depth 8, the engine of issue 22 (docs/performance.md)"
FIXED_KERNELS = 20.0  # per group-step independent of depth (loss, softmax, update, bookkeeping): a reading, not a fit


@dataclass(frozen=True)
class Tiling:
    rows: int  # output tile, rows
    cols: int  # output tile, columns
    efficiency: float  # fraction of one SM's peak a tile of this size sustains when the SMs are full


def _c(default: Any, label: str, unit: str = "", scale: float = 1.0, why: str = "") -> Any:
    return field(default=default, metadata={"label": label, "unit": unit, "scale": scale, "why": why})


@dataclass(frozen=True)
class Assumptions:
    """Every constant of the model (H100 SXM). ``LOW`` and ``HIGH`` give the optimistic and the
    pessimistic value of each; ``why`` says where each comes from."""

    name: str
    sms: int = _c(132, "SMs", why="H100 SXM")
    fp32_peak: float = _c(67e12, "FP32 peak", "TFLOP/s", 1e12, "H100 SXM, non-tensor")
    tf32_peak: float = _c(494.7e12, "TF32 peak", "TFLOP/s", 1e12, "H100 SXM, dense tensor cores")
    hbm_rate: float = _c(3.0e12, "HBM rate reached", "TB/s", 1e12,
                         "of 3.35 peak: 90 % for large streaming kernels; 60 % for kernels of a few MB")
    fp32_tilings: tuple[Tiling, ...] = _c((), "FP32 tile efficiency", why=(
        "SIMT SGEMM reaches 80-90 % of peak on large squares with 128x128 tiles; smaller tiles reuse operands less"))
    tf32_tilings: tuple[Tiling, ...] = _c((), "TF32 tile efficiency", why=(
        "tensor-core GEMMs reach 60-70 % of the dense peak on large products, less with small tiles"))
    k_overhead: float = _c(32.0, "a tile's fixed cost in K-steps", why=(
        "pipeline fill and writing the output tile, amortised over the reduction: efficiency x K / (K + this); "
        "the weight gradients reduce over only 128 rows"))
    split_k: tuple[int, ...] = _c((1,), "split-K factors", why=(
        "the library may split K to fill the SMs (low); strided-batched heuristics rarely do (high)"))
    split_k_efficiency: float = _c(1.0, "split-K efficiency per halving of K", why=(
        "the partial sums' extra writes and their reduction"))
    stream_overlap: float = _c(1.0, "overlap of concurrent streams and MPS jobs", why=(
        "share of the gain in SM fill (and of the floors' overlap) that concurrent kernels realise"))
    kernel_floor_s: float = _c(2e-6, "kernel floor in a graph", "us", 1e-6, (
        "a tiny kernel replayed in a graph: the launch gap (about 1 us) plus its own ramp, wave and drain"))
    eager_launch_s: float = _c(5e-6, "eager launch, host", "us", 1e-6, "PyTorch dispatch plus cudaLaunchKernel per op")
    replay_s: float = _c(10e-6, "graph replay, host", "us", 1e-6,
                         "graph.replay() and the Python around it (issue 22: 10-20 us)")
    sync_s: float = _c(15e-6, "sync per group-epoch", "us", 1e-6, (
        "stream synchronise and a few bytes copied back; longer behind other streams' queued work"))
    capturable_share: float = _c(0.98, "capturable share of kernels", why=(
        "measured on a CPU (benchmarks/engine_probe.py): 0.981 on titanic, SNN 8 x 1024, 10 epochs (low); "
        "the issue's target, 0.95 (high)"))
    activation_passes: float = _c(10.0, "activation passes per layer, training step", why=(
        "activation-sized reads and writes: activation, dropout and their gradients, bias reduction; more with norms"))
    eval_passes: float = _c(2.0, "activation passes per layer, evaluation", why="forward only")
    optimizer_bytes: float = _c(12.0, "update bytes per parameter", "B", why=(
        "one SGD _foreach pass reads the gradient (lr already in it) and the parameter, writes the parameter "
        "(low); with L2 the per-member decay tensor and the decayed gradient too (high)"))
    draw_rate: float = _c(2e8, "CPU draw of weights", "M params/s", 1e6, (
        "normal_ of 44 M parameters on one thread here: 0.175-0.27 s, 1.6e8-2.5e8 parameters/s"))
    h2d_rate: float = _c(20e9, "host-to-device copy", "GB/s", 1e9, "pinned (25) or pageable (10) memory")
    warmup_steps: int = _c(2, "eager warm-up calls per region", why="capture.Region.WARMUP")
    graphs_per_group: int = _c(5, "graphs captured per group", why=(
        "full-batch step, last batch's step, mask draws, validation, test (capture.Region); again after a divergence"))
    capture_s: float = _c(5e-3, "capture + instantiate per graph", "ms", 1e-3, (
        "~100-200 kernels recorded at eager speed, then instantiated"))
    job_start_s: float = _c(5.0, "job start", "s", why=(
        "Python and torch 1.8-2.5 s here (docs/performance.md, issue 15), CUDA context 0.5-2 s, data"))

    def __hash__(self) -> int:  # cheap: the model's caches hash it on every call; equal ones share a name
        return hash(self.name)

    def tilings(self, tf32: bool) -> tuple[Tiling, ...]:
        return self.tf32_tilings if tf32 else self.fp32_tilings

    def peak(self, tf32: bool) -> float:
        return self.tf32_peak if tf32 else self.fp32_peak


LOW = Assumptions(
    name="low", hbm_rate=3.0e12,
    fp32_tilings=(Tiling(128, 128, 0.80), Tiling(128, 64, 0.72), Tiling(64, 64, 0.60)),
    tf32_tilings=(Tiling(128, 128, 0.70), Tiling(128, 64, 0.60), Tiling(64, 64, 0.45)),
    k_overhead=16.0, split_k=(1, 2, 4), split_k_efficiency=0.85, stream_overlap=0.9, kernel_floor_s=1.5e-6,
    eager_launch_s=5e-6, replay_s=10e-6, sync_s=15e-6, capturable_share=0.98, activation_passes=10.0, eval_passes=2.0,
    optimizer_bytes=12.0, draw_rate=2.5e8, h2d_rate=25e9, warmup_steps=2, graphs_per_group=5, capture_s=2e-3,
    job_start_s=3.0)

HIGH = Assumptions(
    name="high", hbm_rate=2.0e12,
    fp32_tilings=(Tiling(128, 128, 0.70), Tiling(128, 64, 0.60), Tiling(64, 64, 0.45)),
    tf32_tilings=(Tiling(128, 128, 0.55), Tiling(128, 64, 0.45), Tiling(64, 64, 0.30)),
    k_overhead=64.0, split_k=(1,), split_k_efficiency=1.0, stream_overlap=0.5, kernel_floor_s=3e-6,
    eager_launch_s=10e-6, replay_s=20e-6, sync_s=50e-6, capturable_share=0.95, activation_passes=20.0, eval_passes=4.0,
    optimizer_bytes=20.0, draw_rate=1.5e8, h2d_rate=10e9, warmup_steps=2, graphs_per_group=5, capture_s=10e-3,
    job_start_s=8.0)

BOTH = (LOW, HIGH)


@dataclass(frozen=True)
class KernelCount:
    """Kernels per group-step (all of an epoch's kernels, evaluation amortised in), linear in the
    number of linear layers."""

    fixed: float
    per_linear: float

    def at(self, n_linear: int) -> float:
        return self.fixed + self.per_linear * n_linear

    @classmethod
    def from_measured(cls, points: Iterable[tuple[int, float]], *, fixed: float = FIXED_KERNELS) -> "KernelCount":
        """From (linear layers, kernels per group-step): a least-squares line through two or more
        depths, else ``fixed`` plus the rest shared by the layers."""
        points = list(points)
        xs = [float(x) for x, _ in points]
        if len(set(xs)) >= 2:
            mx, my = sum(xs) / len(xs), sum(y for _, y in points) / len(points)
            slope = sum((x - mx) * (y - my) for x, (_, y) in zip(xs, points)) / sum((x - mx) ** 2 for x in xs)
            return cls(max(my - slope * mx, 0.0), max(slope, 0.0))
        n, k = points[0]
        return cls(fixed, max(k - fixed, 0.0) / n)


def linear_layers(method: str, depth: int) -> int:
    """Linear layers of a paper family's network at ``depth`` (n_layers; ResNet n_blocks)."""

    config = {"n_hidden": 8, "n_hidden_per_block": 8, "n_layers": depth, "n_blocks": depth, "layer_form": "rectangular",
              "block_form": "rectangular", "bottleneck": 0.5, "lr": 0.01, "dropout": 0.0}
    return len(linear_shapes(method, config, n_in=3, n_out=2, architecture={"highway_width": 8}))


@functools.cache
def default_kernels(method: str) -> KernelCount:
    """The measured kernels of ``MEASURED_KERNELS``; a method not measured (a user's) takes SNN's."""
    family = method if method in MEASURED_KERNELS else "SNN"
    per_step, members, depth = MEASURED_KERNELS[family]
    return KernelCount.from_measured([(linear_layers(family, depth), per_step * members)])


@dataclass(frozen=True)
class GpuRun:
    """How a run uses a GPU: the settings the model reads."""

    streams: int = TrainSettings.streams  # train.streams: groups in flight per job
    jobs_per_gpu: int = 1  # train.jobs_per_gpu
    mps: bool = False  # the jobs of one GPU share it through MPS (else time-sliced)
    tf32: bool = TrainSettings.tf32  # train.tf32

    @classmethod
    def from_train(cls, train: Mapping[str, Any], **overrides: Any) -> "GpuRun":
        """From a config's ``train`` section; a setting it lacks takes the default."""
        values = {"streams": int(train.get("streams", cls.streams)),
                  "jobs_per_gpu": int(train.get("jobs_per_gpu", cls.jobs_per_gpu)),
                  "tf32": bool(train.get("tf32", cls.tf32))}
        return cls(**{**values, **overrides})


@dataclass(frozen=True)
class Job:
    """One training job: a method's configurations on one dataset's split."""

    method: str
    configs: tuple[Mapping[str, Any], ...]
    n_in: int
    n_out: int
    n_train: int
    n_val: int
    n_test: int
    epochs: int = 100
    batch_size: int = 128
    eval_batch_size: int = 8192
    test_share: float = 1.0  # share of epochs after which the test set is evaluated (protocol F5: fewer)
    architecture: Mapping[str, Any] = field(default_factory=dict)

    @functools.cached_property
    def groups(self) -> list[tuple[tuple[tuple[int, int], ...], int]]:
        """(linear shapes, members) of each group, in the engine's order (``batched.group_configs``)."""
        from snnbench.training.batched import group_configs  # torch, loaded only here


        configs = list(self.configs)
        return [(tuple(linear_shapes(self.method, configs[g[0]], n_in=self.n_in, n_out=self.n_out,
                                     architecture=dict(self.architecture))), len(g)) for g in group_configs(configs)]


# ------------------------------------------------------------------------------ products

def _concurrency(c: float, a: Assumptions) -> float:
    return 1.0 + (max(c, 1.0) - 1.0) * a.stream_overlap


def _fill(tiles: int, concurrent: int, sms: int) -> float:
    in_flight = tiles * concurrent
    return in_flight / (math.ceil(in_flight / sms) * sms)


def _efficiency(tiling: Tiling, split: int, kk: int, a: Assumptions) -> float:
    """A tile's share of an SM's peak: its size's, less the split-K cost, less its fixed cost over a
    short reduction (each split reduces over K / split)."""
    per_split = kk / split
    return tiling.efficiency * a.split_k_efficiency ** math.log2(split) * per_split / (per_split + a.k_overhead)


@functools.lru_cache(maxsize=None)
def _choose(k: int, m: int, n: int, kk: int, tf32: bool, a: Assumptions) -> tuple[Tiling, int]:
    best, best_t = None, math.inf
    for tiling in a.tilings(tf32):
        for split in a.split_k:
            if split > 1 and kk < 128 * split:
                continue
            tiles = k * math.ceil(m / tiling.rows) * math.ceil(n / tiling.cols) * split
            waves = math.ceil(tiles / a.sms)
            eff = _efficiency(tiling, split, kk, a)
            t = 1.0 / (eff * tiles / (waves * a.sms))  # FLOPs / peak factored out
            if t < best_t - 1e-12:
                best, best_t = (tiling, split), t
    return best


def occupancy(k: int, m: int, n: int, kk: int, *, tf32: bool = False, concurrent: float = 1.0,
              a: Assumptions = LOW) -> dict[str, Any]:
    """One product (k, M, N, K) among ``concurrent`` like it: the tiling chosen, its output tiles,
    waves (alone), fill of the SMs, seconds (per product) and the fraction of the peak it reaches."""
    tiling, split = _choose(k, m, n, kk, tf32, a)
    c = _concurrency(concurrent, a)
    tiles = k * math.ceil(m / tiling.rows) * math.ceil(n / tiling.cols) * split
    alone = _fill(tiles, 1, a.sms)
    # concurrent products add their tiles to the same waves; the scheduler can always do as well as
    # with fewer of them, and only ``stream_overlap`` of the gain is taken
    together = max(_fill(tiles, n_c, a.sms) for n_c in range(1, max(1, math.floor(concurrent)) + 1))
    fill = alone + a.stream_overlap * (together - alone)
    waves = math.ceil(tiles / a.sms)
    eff = _efficiency(tiling, split, kk, a)
    flops = 2.0 * k * m * n * kk
    compute = flops / (a.peak(tf32) * eff * fill)
    memory = 4.0 * k * (m * kk + kk * n + m * n) / a.hbm_rate
    seconds = max(a.kernel_floor_s / c, compute, memory)
    return {"shape": (k, m, n, kk), "tile": f"{tiling.rows}x{tiling.cols}", "split_k": split, "tiles": tiles,
            "waves": waves, "fill": fill, "seconds": seconds,
            "bound": "floor" if seconds == a.kernel_floor_s / c else "compute" if seconds == compute else "memory",
            "fraction_of_peak": flops / (seconds * a.peak(tf32))}


@functools.lru_cache(maxsize=None)
def product_seconds(k: int, m: int, n: int, kk: int, tf32: bool, concurrent: float, a: Assumptions) -> float:
    return occupancy(k, m, n, kk, tf32=tf32, concurrent=concurrent, a=a)["seconds"]


# ------------------------------------------------------------------------------ a group

@functools.lru_cache(maxsize=None)
def _network(shapes: tuple[tuple[int, int], ...]) -> tuple[tuple[tuple[int, int, bool, int], ...], int, int]:
    """(in, out, first, how many) of a network's distinct linear layers (the first needs no input
    gradient); its parameters; the sum of its layers' output widths."""
    counts: dict[tuple[int, int, bool], int] = {}
    for i, (fin, fout) in enumerate(shapes):
        counts[(fin, fout, i == 0)] = counts.get((fin, fout, i == 0), 0) + 1
    return (tuple((fin, fout, first, n) for (fin, fout, first), n in counts.items()),
            sum(fin * fout + fout for fin, fout in shapes), sum(fout for _, fout in shapes))


@functools.lru_cache(maxsize=None)
def _layer_step(fin: int, fout: int, first: bool, k: int, rows: int, tf32: bool, concurrent: float,
                a: Assumptions) -> float:
    seconds = (product_seconds(k, rows, fout, fin, tf32, concurrent, a)  # forward
               + product_seconds(k, fin, fout, rows, tf32, concurrent, a))  # weight gradient
    return seconds if first else seconds + product_seconds(k, rows, fin, fout, tf32, concurrent, a)  # input gradient


def step_device_seconds(shapes: tuple[tuple[int, int], ...], k: int, rows: int, kernels: float, tf32: bool,
                        concurrent: float, a: Assumptions) -> dict[str, float]:
    """Device seconds of one training group-step, by component (products, other kernels, update)."""
    c = _concurrency(concurrent, a)
    layers, per_member, width = _network(shapes)
    products = sum(n * _layer_step(fin, fout, first, k, rows, tf32, concurrent, a) for fin, fout, first, n in layers)
    n_products = 3 * len(shapes) - 1
    params = k * per_member
    activations = 4.0 * k * rows * width * a.activation_passes
    other_kernels = max(kernels - n_products - 1, 0.0)
    other = max(other_kernels * a.kernel_floor_s / c, activations / a.hbm_rate)
    update = max(a.kernel_floor_s / c, params * a.optimizer_bytes / a.hbm_rate)
    return {"products": products, "other": other, "update": update}


def eval_device_seconds(shapes: tuple[tuple[int, int], ...], k: int, rows: int, chunk: int, tf32: bool,
                        concurrent: float, a: Assumptions) -> float:
    """Device seconds of one forward pass over ``rows`` evaluation rows in chunks (its kernels'
    floors are in the measured kernels per group-step)."""
    total, left = 0.0, rows
    layers, _, width = _network(shapes)
    while left > 0:
        r = min(chunk, left)
        total += sum(n * product_seconds(k, r, fout, fin, tf32, concurrent, a) for fin, fout, _, n in layers)
        total += 4.0 * k * r * width * a.eval_passes / a.hbm_rate
        left -= r
    return total


def group_seconds(shapes: tuple[tuple[int, int], ...], k: int, job: Job, *, kernels: float, run: GpuRun,
                  concurrent: float, a: Assumptions) -> dict[str, float]:
    """A group of k members: host and device seconds, by component, before any overlap."""
    full, last = divmod(job.n_train, job.batch_size)
    steps = full + (last > 0)
    dev = {"products": 0.0, "other": 0.0, "update": 0.0}
    for rows, count in ((job.batch_size, full), (last, 1 if last else 0)):
        if count:
            for key, value in step_device_seconds(shapes, k, rows, kernels, run.tf32, concurrent, a).items():
                dev[key] += count * value
    c = _concurrency(concurrent, a)
    evals = (eval_device_seconds(shapes, k, job.n_val, job.eval_batch_size, run.tf32, concurrent, a)
             + job.test_share
             * eval_device_seconds(shapes, k, job.n_test, job.eval_batch_size, run.tf32, concurrent, a))
    epochs = job.epochs
    params = k * _network(shapes)[1]
    device = {key: epochs * value for key, value in dev.items()}
    device["evaluation"] = epochs * evals
    device["sync"] = epochs * a.sync_s / c  # the device idles while the host waits, other streams aside
    device["setup"] = a.warmup_steps * sum(dev.values()) / max(steps, 1) + 4.0 * params / a.h2d_rate
    host = {"replays": epochs * (steps + 1 + job.test_share) * a.replay_s,
            "eager": epochs * steps * (1.0 - a.capturable_share) * kernels * a.eager_launch_s,
            "sync": epochs * a.sync_s,
            "setup": a.warmup_steps * kernels * a.eager_launch_s + a.graphs_per_group * a.capture_s}
    return {"device": device, "host": host, "draw": params / a.draw_rate}


def job_seconds(job: Job, run: GpuRun = GpuRun(), a: Assumptions = LOW, *,
                kernels: KernelCount | None = None) -> dict[str, Any]:
    """The job's share of one GPU's seconds (``total``: J jobs share the GPU, so a job's share is
    its groups' max(host / J, device) plus its start / J), and the sums behind it, by component."""
    kernels = kernels or default_kernels(job.method)
    groups = job.groups
    J = max(1, run.jobs_per_gpu)
    concurrent = min(max(1, run.streams), len(groups)) * (J if run.mps else 1)
    device: dict[str, float] = {}
    host: dict[str, float] = {"draw_wait": 0.0}
    total, previous_wall = a.job_start_s / J, 0.0
    for shapes, k in groups:
        g = group_seconds(shapes, k, job, kernels=kernels.at(len(shapes)), run=run, concurrent=concurrent, a=a)
        wait = max(0.0, g["draw"] - previous_wall)  # drawn while the previous group trained
        h = sum(g["host"].values()) + wait
        d = sum(g["device"].values())
        for key, value in g["device"].items():
            device[key] = device.get(key, 0.0) + value
        for key, value in g["host"].items():
            host[key] = host.get(key, 0.0) + value
        host["draw_wait"] += wait
        share = max(h / J, d)
        total += share
        # its wall time: the shares of the groups and jobs running beside it add up to it
        previous_wall = share * J * min(max(1, run.streams), len(groups))
    return {"total": total, "device": device, "host": host, "start": a.job_start_s / J, "groups": len(groups),
            "concurrent": concurrent}


def grid_seconds(jobs: Iterable[Job], run: GpuRun = GpuRun(), a: Assumptions = LOW, *,
                 kernels: Mapping[str, KernelCount] | None = None) -> float:
    """GPU seconds of a set of jobs on one GPU."""
    kernels = kernels or {}
    return sum(job_seconds(j, run, a, kernels=kernels.get(j.method))["total"] for j in jobs)


def arithmetic_seconds(flops: float, *, tf32: bool, a: Assumptions = LOW) -> float:
    """The floor: the matrix FLOPs at the full peak."""
    return flops / a.peak(tf32)


def _value(a: Assumptions, name: str) -> str:
    f = next(f for f in fields(Assumptions) if f.name == name)
    value, meta = getattr(a, name), f.metadata
    if name.endswith("tilings"):
        return " ".join(f"{t.rows}x{t.cols} {t.efficiency:.0%}" for t in value)
    if name == "split_k":
        return "/".join(map(str, value))
    if isinstance(value, float) and not meta["unit"] and value <= 1:
        return f"{value:.2f}".rstrip("0").rstrip(".") if value != 1 else "1"
    return f"{value / meta['scale']:g}"


def assumption_rows() -> list[tuple[str, str, str, str, str]]:
    """(label, unit, low, high, why) of every constant."""
    return [(f.metadata["label"], f.metadata["unit"], _value(LOW, f.name), _value(HIGH, f.name), f.metadata["why"])
            for f in fields(Assumptions) if f.name != "name"]


def assumption_lines() -> list[str]:
    """The constants, low / high (one value where both agree), for a printout."""
    out = []
    for label, unit, low, high, _ in assumption_rows():
        out.append(f"{label}: {low}{' ' + unit if unit else ''}" if low == high else
                   f"{label}: {low} / {high}{' ' + unit if unit else ''}")
    return out
