"""Kernels and host time per configuration-step of each family, measured on this machine, and the
full UCI grid's projected H100-hours: old engine and new side by side.

What it measures (per engine source tree, per family, at a tiny width where arithmetic is
negligible). For each of the seven families the UCI grid of ``config/grids.yaml`` is narrowed to
ONE architecture: width 8 (n_hidden, Highway's ``highway_width``, ResNet's n_hidden_per_block),
depth ``--depth`` (n_layers; ResNet n_blocks), rectangular, ResNet bottleneck 0.5, keeping every
value of the hyperparameters a batched group is made of (lr, dropout, l2), so a group has as many
members as in the full grid. It is trained through the public CLI,
``snnbench.cli.main(["train", ..., "--device", "cpu", "--threads", "1", "--quiet", "--set",
"engine=batched", "--set", "epochs=E", "--grid", JSON])``, in a subprocess whose PYTHONPATH is
that tree's src (the two trees never share an interpreter), three ways:

- counted, under a TorchDispatchMode (the counter of ``kernels_per_step.py``: every aten op that
  would launch a device kernel, views, detach and empty allocations excluded):
  kernels per configuration-step K = kernels / configuration-steps (evaluation, set-up and
  optimiser work are amortised in, as a GPU pays them). Two divisors are printed:
  ``kernels_per_step.py``'s, sum over configurations of epochs_run * ceil(n_train / batch), and
  the nominal one, configurations * E * ceil(n_train / batch), which the projection uses. They
  differ only when a member diverges: its group goes on with the same kernels per group-step
  (measured: the old engine's kernel total at width 8 and at width 256 agree within 0.2 %),
  but its epochs_run stops, and whether lr = 1 diverges in epoch 1 depends on the width. The
  nominal K is kernels per group-step / members, the figure of a grid where nothing diverges
  (the projection's protocol maximum). A second counted run at 2E epochs splits the kernels
  into set-up and per epoch; the projection uses K at ``--epochs-full`` (100) epochs,
  (set-up + 100 x per epoch) / (configurations x 100 x steps an epoch), set-up amortised as in
  the full grid (at E = 3 the set-up adds about 4 % to K, old engine, SNN);
  host syncs = dispatches of ``_local_scalar_dense``, ``item``, ``nonzero``, ``is_nonzero``, plus
  ``snnbench.recipe.HOST_SYNCS.count`` where that exists (the new engine counts its
  device-to-host transfers there), reported per group-epoch: syncs / (groups * E), and split by
  the 2E run into per group per added epoch (marginal) and per group once (set-up); the sites in
  the tree that made the dispatcher-seen syncs are listed under "notes". On a CPU a
  ``.cpu()``/``.numpy()`` of a CPU tensor dispatches nothing, so without HOST_SYNCS the count is
  a lower bound, and a scalar read of a tensor that lives on the host on a GPU too is counted;
- timed, without the counter (after the counted run, which warms up): the wall time of the
  training call only (``run_grid``, patched in ``snnbench.grid`` or ``snnbench.engine``, whichever
  the tree has; else the whole CLI call), the best of ``--repeats`` (other load on the machine
  inflates it: the load average is printed), / nominal configuration-steps = host seconds per
  configuration-step H.
  At width 8 this is the engine's host overhead (Python, dispatch, tiny CPU kernels).

Members per group are read from ``snnbench.batched.group_configs`` where the tree has it (else
the largest leading dimension of the stacked matrix products). On a CPU the old engine keeps
configurations with and without dropout apart (groups of 3 for SNN, MSRAinit, Highway; on CUDA
one group of 6); ``--gpu-grouping`` makes the old ``group_configs(split_dropout=False)`` merge
them as on CUDA (a tree whose ``group_configs`` has no such argument groups as it does anyway).

The projection. The full UCI grid: the 121 datasets (sizes from ``full_grid_estimate.split_sizes``
with ``--prepared-dir``, Table A11 where not prepared), every family's full grid from
``--grids``, ``--epochs-full`` (100) epochs, batch 128, the validation set evaluated after every
epoch; the test set after every epoch by the old engine and after ``--test-share`` of the epochs
by the new one (protocol F5: only after the epochs early stopping can choose, and the last; the
default share is measured, see ``TEST_SHARE_SOURCE``). For every (dataset, configuration):
configuration-steps S = epochs * ceil(n_train / 128) and matrix FLOPs F (``snnbench.flops``'
layer shapes), f = F / S per configuration-step. The model of one
configuration-step on one GPU running J jobs (processes) of the grid side by side:

    t = max( host / J ,  floor / (J if --mps else 1) + f / (rate * eff) )

    eager engine:  host  = H * host_factor       H: measured host s per configuration-step here
                   floor = K * launch_us          K: measured kernels per configuration-step
    CUDA graphs:   host  = replay_us / M          M: members per group on the GPU (the number of
                   floor = K * graph_kernel_us       full-grid configurations sharing an
                                                     architecture: one group per architecture)
    rate, eff:     fp32_tflops, fp32_eff  (FP32)  or  tf32_tflops, tf32_eff  (TF32)

    GPU-hours = sum over datasets and configurations of S * t / 3600

J jobs overlap their host time (J CPU cores feed one GPU); without MPS their kernels are
time-sliced, so per-kernel floors add up; with ``--mps`` the floors of different jobs overlap too
(divided by J), the arithmetic never (the FLOP rate is shared). K and H are measured at one depth
and used for every configuration of the family; give several ``--depth`` values (e.g.
``--depth 2 8 32``) to fit K and H linear in depth and evaluate them at each configuration's
depth. The headline takes the recommended J: the smallest of ``--jobs`` whose total for the new
engine in CUDA graphs in FP32 is within 5 % of the best of them (``--headline-jobs`` overrides).

Assumptions (flags; all printed beside the result):

- ``--launch-us 4.0``: device time per kernel launched eagerly when kernels are tiny: the launch
  floor of back-to-back small kernels on an H100 (a few microseconds each).
- ``--graph-kernel-us 1.0``: the same kernel replayed inside a CUDA graph (about 1 us apart).
- ``--replay-us 10``: host time of one graph replay (``graph.replay()`` plus the Python around it)
  per group-step.
- ``--host-factor 1.0``: the GPU host's CPU core as fast as this one; the eager host time measured
  here (which includes tiny CPU kernels instead of CUDA launches) taken as the GPU host's.
- ``--fp32-tflops 67``: H100 SXM non-tensor FP32 peak; ``--tf32-tflops 494.7``: dense TF32
  tensor-core peak.
- ``--fp32-eff 0.7``: the fraction of the FP32 peak that the grid's products reach. SIMT SGEMM
  reaches 80-90 % of peak on large squares; the grid's are batch 128 x 256..1024 x 256..1024 per
  member, stacked over 3-6 members (0.1-1.6 GFLOP a product), large enough for most of it but
  not all: 0.7.
- ``--tf32-eff 0.35``: tensor-core GEMMs reach 60-70 % of the TF32 peak only on large products;
  at m = 128 rows a member the tiles are poorly filled and the operands are loaded from HBM for
  little reuse, so about half of that: 0.35.
- ``--test-share``: the share of epochs after which a group of the new engine evaluates the test
  set (protocol F5), measured (``TEST_SHARE_SOURCE``); the old engine evaluates it every epoch.
- ``--jobs 1 2 4 8``: jobs per GPU tried (an H100 node has 8-16 cores per GPU).

Not modelled: host-device synchronisation latency (syncs are reported, not charged); the memory
traffic of the elementwise, dropout-mask and optimiser kernels beyond the per-kernel floor (an
ad-hoc count of the bytes those kernels read and write in the old engine, SNN 8 layers, 6
members: 52 MB a configuration-step at width 256, 300 MB at width 1024, i.e. 16 and 90 us at
3.35 TB/s, against 2.3 and 37 us of TF32 products: hidden under the old engine's per-kernel
floor, not under a floor cut to a few dozen kernels); divergence stopping configurations early,
by default (the count is the protocol's maximum; ``--run-share`` scales the products alone, as a
sensitivity: ``grid_throughput.py`` prints the share of configuration-epochs a slice ran); start-up and data loading per job; K and H measured on
a CPU with the CPU's grouping (see ``--gpu-grouping``).

Run (from the repository root; the old tree e.g. a checkout of an earlier commit):

    python benchmarks/gpu_projection.py --old-src ../old/src
    python benchmarks/gpu_projection.py --new-src src --old-src ../old/src --depth 2 8 32 --json out.json
    python benchmarks/gpu_projection.py --families SNN ResNet --epochs 2      # quicker
    python benchmarks/gpu_projection.py --measured out.json --mps --tf32-eff 0.5   # re-project only

About 2 minutes on 2 idle CPU cores with both trees and the defaults (7 families x 2 trees, one
subprocess each: a counted run at E and at 2E epochs, 5 timed runs); ``--depth 2 8 32`` about 4.

The script prints figures only; it asserts nothing about them.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
FAMILIES = ("SNN", "MSRAinit", "BatchNorm", "WeightNorm", "LayerNorm", "Highway", "ResNet")
GROUPED = ("lr", "dropout", "l2")  # hyperparameters the members of one batched group differ in
NO_KERNEL = ("aten.detach", "aten.alias", "aten.lift_fresh", "aten._unsafe_view", "aten.empty",
             "aten.new_empty", "aten._reshape_alias", "aten.view", "aten.expand", "aten.t.",
             "aten.transpose", "aten.permute", "aten.unsqueeze", "aten.squeeze", "aten.select.",
             "aten.slice.", "aten.as_strided", "aten.unbind", "aten.split", "aten.reshape", "prim.")
RECOMMEND_WITHIN = 0.05
# Share of epochs after which a batched group evaluates the test set (train.test_curve: selectable),
# measured with grid_throughput.py at 100 epochs (docs/performance.md):
TEST_SHARE = 0.346
TEST_SHARE_SOURCE = ("4,986 of 14,400 group-epochs on iris, wine, breast-cancer-wisc and titanic, "
                     "SNN, MSRAinit and BatchNorm at n_hidden 256, 100 epochs")
MEASUREMENT_SETTINGS = ("dataset", "epochs", "depth", "width", "repeats", "gpu_grouping", "batch")


# ----------------------------------------------------------------------------- grids

def tiny_grid(full: dict, family: str, *, width: int, depth: int) -> tuple[dict, list[str]]:
    """The family's UCI grid narrowed to one tiny architecture, every grouped-out value kept;
    and the extra ``--set`` arguments it needs."""
    fixed = {"n_hidden": width, "n_hidden_per_block": width, "n_layers": depth, "n_blocks": depth,
             "layer_form": "rectangular", "block_form": "rectangular", "bottleneck": 0.5}
    grid = {}
    for key, values in full.items():
        if key in GROUPED:
            grid[key] = list(values)
        elif key in fixed:
            grid[key] = [fixed[key]]
        else:
            grid[key] = [values[0]]
    sets = [f"highway_width={width}"] if family == "Highway" else []
    return grid, sets


# ----------------------------------------------------------------------------- workers (subprocesses)

def _worker_measure(spec: dict) -> dict:
    """One family in one tree: a counted run and timed runs per depth. Runs with PYTHONPATH=src."""
    import csv
    import importlib
    import logging
    import traceback

    import torch
    from torch.utils._python_dispatch import TorchDispatchMode

    import snnbench
    where = str(Path(snnbench.__file__).resolve())
    if not where.startswith(str(Path(spec["src"]).resolve()) + os.sep):
        raise RuntimeError(f"snnbench imported from {where}, not from {spec['src']}")
    src_dir = str(Path(spec["src"]).resolve()) + os.sep
    from snnbench import cli
    logging.disable(logging.WARNING)  # --quiet leaves INFO lines; warnings (fallbacks) are read from rows

    try:
        recipe = importlib.import_module("snnbench.recipe")
    except ModuleNotFoundError:
        recipe = None

    def recipe_syncs():
        counter = getattr(recipe, "HOST_SYNCS", None) if recipe else None
        value = getattr(counter, "count", None)
        return int(value) if isinstance(value, (int, float)) else None

    groups_seen: list[list[int]] = []
    grouping = "n/a"
    try:
        batched = importlib.import_module("snnbench.batched")
    except Exception:  # the tree may have no such module, or a broken one: the CLI will say
        batched = None
    if batched is not None and callable(getattr(batched, "group_configs", None)):
        import inspect
        original = batched.group_configs
        try:
            can_merge = "split_dropout" in inspect.signature(original).parameters
        except (TypeError, ValueError):
            can_merge = False
        merge = spec["gpu_grouping"] and can_merge

        def group_configs(configs, *a, **kw):
            if merge:
                kw["split_dropout"] = False
            out = original(configs, *a, **kw)
            groups_seen.append([len(g) for g in out])
            return out

        batched.group_configs = group_configs
        grouping = "batched.group_configs" + (" (split_dropout=False)" if merge else "")
        if spec["gpu_grouping"] and not can_merge:
            grouping += " (--gpu-grouping not applicable: no split_dropout, the tree's own grouping)"
    elif spec["gpu_grouping"]:
        grouping = "n/a (--gpu-grouping not applied: no batched.group_configs)"

    # time the training call: run_grid, wherever the tree defines it (the CLI imports it at call time)
    timed: list[float] = []
    timer = "cli.main (no run_grid found)"
    patched = []
    for module_name in ("snnbench.grid", "snnbench.engine"):
        try:
            module = importlib.import_module(module_name)
        except Exception:
            continue
        run_grid = getattr(module, "run_grid", None)
        if not callable(run_grid) or getattr(run_grid, "_gpu_projection_timer", False):
            continue

        def timed_run_grid(*a, _original=run_grid, **kw):
            start = time.perf_counter()
            try:
                return _original(*a, **kw)
            finally:
                timed.append(time.perf_counter() - start)

        timed_run_grid._gpu_projection_timer = True
        module.run_grid = timed_run_grid
        patched.append(f"{module_name}.run_grid")
    if patched:
        timer = " / ".join(patched)

    class Counter(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.n = self.sync = self.stack = 0
            self.sites: dict[str, int] = {}

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            name = str(func)
            view = False
            try:
                view = func.is_view
            except Exception:
                pass
            if not view and not name.startswith(NO_KERNEL):
                self.n += 1
            if ("_local_scalar_dense" in name or name.startswith(("aten.item", "aten.nonzero"))
                    or "is_nonzero" in name):
                self.sync += 1
                site = "?"
                for frame in reversed(traceback.extract_stack()):
                    if frame.filename.startswith(src_dir):
                        site = f"{os.path.relpath(frame.filename, src_dir)}:{frame.lineno}"
                        break
                key = f"{site} {name}"
                self.sites[key] = self.sites.get(key, 0) + 1
            if name.startswith(("aten.bmm", "aten.baddbmm")):
                a = args[1] if name.startswith("aten.baddbmm") else args[0]
                if getattr(a, "ndim", 0) == 3:
                    self.stack = max(self.stack, int(a.shape[0]))
            return func(*args, **(kwargs or {}))

    tmp = Path(tempfile.mkdtemp(prefix="gpu_projection_"))
    results = []
    for depth in spec["depths"]:
        rec: dict = {"depth": depth}
        results.append(rec)
        try:
            grid, sets = tiny_grid(spec["grid"], spec["family"], width=spec["width"], depth=depth)
            rec["grid"] = grid

            def argv(out, epochs):
                extra = [x for s in sets for x in ("--set", s)]
                return ["train", "--benchmark", "uci", "--dataset", spec["dataset"], "--method", spec["family"],
                        "--prepared-dir", spec["prepared"], "--out", str(out), "--device", "cpu", "--threads", "1",
                        "--quiet", "--set", "engine=batched", "--set", f"epochs={epochs}",
                        "--set", f"batch_size={spec['batch']}", *extra, "--grid", json.dumps(grid)]

            def call(out, epochs):
                try:
                    code = cli.main(argv(out, epochs))
                except SystemExit as exc:
                    code = exc.code
                if code not in (0, None):
                    raise RuntimeError(f"snnbench train exited with {code}")

            def steps_of(out, epochs):
                rows = list(csv.DictReader(open(out)))
                summary = json.load(open(str(out)[:-4] + ".json"))
                n_train = int(summary["sizes"]["train"])
                per = math.ceil(n_train / spec["batch"])
                run = [int(float(r.get("epochs_run") or epochs)) for r in rows]
                # nominal: every configuration for every epoch (a diverged member's slot still runs
                # with its group); run: kernels_per_step.py's divisor, epochs_run as recorded
                return rows, n_train, per, len(rows) * epochs * per, sum(e * per for e in run), run

            def counted(epochs):
                out = tmp / f"d{depth}_count{epochs}.csv"
                groups_seen.clear()
                before = recipe_syncs()
                with Counter() as counter:
                    call(out, epochs)
                after = recipe_syncs()
                recipe_count = None if after is None else (
                    after - before if before is not None and after >= before else after)
                return counter, recipe_count, list(groups_seen[0]) if groups_seen else None, steps_of(out, epochs)

            E, E2 = spec["epochs"], 2 * spec["epochs"]
            counter, recipe_count, groups, (rows, n_train, per, steps, steps_run, run) = counted(E)
            syncs = counter.sync + (recipe_count or 0)
            n_groups = len(groups) if groups else (math.ceil(len(rows) / counter.stack) if counter.stack else None)
            rec.update(
                configs=len(rows), n_train=n_train, steps_per_epoch=per, config_steps=steps,
                config_steps_run=steps_run, epochs_run=run, kernels=counter.n,
                kernels_per_config_step=counter.n / max(steps, 1),
                kernels_per_config_step_run=counter.n / max(steps_run, 1),
                dispatch_syncs=counter.sync, dispatch_sync_sites=counter.sites, recipe_syncs=recipe_count,
                host_syncs=syncs,
                groups=groups, members_per_group=(max(groups) if groups else (counter.stack or None)),
                members_source=("batched.group_configs" if groups else "largest stacked bmm" if counter.stack else "n/a"),
                n_groups=n_groups,
                host_syncs_per_group_epoch=(syncs / (n_groups * E) if n_groups else None),
                statuses={s: sum(r.get("status") == s for r in rows) for s in sorted({r.get("status") for r in rows})},
                engines=sorted({r.get("engine", "?") for r in rows}),
                grouping=grouping, timer=timer,
            )
            # a second counted run at 2E epochs splits kernels and syncs into per-epoch and set-up
            counter2, recipe2, _, _ = counted(E2)
            syncs2 = counter2.sync + (recipe2 or 0)
            per_epoch = (counter2.n - counter.n) / (E2 - E)
            setup = max(counter.n - per_epoch * E, 0.0)
            full = spec["epochs_full"]
            rec.update(
                kernels_2E=counter2.n, kernels_per_epoch=per_epoch, kernels_setup=setup,
                kernels_per_config_step_full=(setup + per_epoch * full) / (len(rows) * full * per),
                host_syncs_2E=syncs2,
                host_syncs_per_group_epoch_marginal=((syncs2 - syncs) / (E2 - E) / n_groups if n_groups else None),
                host_syncs_setup_per_group=(max(syncs - (syncs2 - syncs) / (E2 - E) * E, 0.0) / n_groups
                                            if n_groups else None),
            )
            best = None
            for i in range(spec["repeats"]):
                out = tmp / f"d{depth}_time{i}.csv"
                timed.clear()
                start = time.perf_counter()
                call(out, E)
                wall = time.perf_counter() - start
                seconds = timed[-1] if timed else wall
                if not timed:
                    rec["timer"] = "cli.main (run_grid patched but not called)"
                steps_t = steps_of(out, E)[3]
                per_step = seconds / max(steps_t, 1)
                best = per_step if best is None else min(best, per_step)
                rec.setdefault("timed_seconds", []).append(seconds)
            rec["host_s_per_config_step"] = best
        except Exception as exc:  # reported per family and depth; the others go on
            rec["error"] = f"{type(exc).__name__}: {exc}"
            rec["traceback"] = traceback.format_exc()[-3000:]
    return {"family": spec["family"], "src": spec["src"], "snnbench_file": where,
            "torch": torch.__version__, "has_recipe_host_syncs": recipe_syncs() is not None, "depths": results}


def _worker_grid(spec: dict) -> dict:
    """Full UCI grid: per family, per (dataset, configuration), configuration-steps, FLOPs, depth."""
    sys.path.insert(0, str(BENCH_DIR))
    import full_grid_estimate as fge
    from snnbench.flops import flops_per_row
    from snnbench.grids import expand, load_grids

    grids = load_grids(spec["grids"])["uci"]
    arch = fge.TrainSettings().architecture()
    sizes, approximated = fge.split_sizes(spec["prepared"])
    out = {"datasets": len(sizes), "approximated": approximated, "families": {}}
    for family in spec["families"]:
        configs = expand(grids[family])
        members: dict[tuple, int] = {}
        for c in configs:
            key = tuple(sorted((k, str(v)) for k, v in c.items() if k not in GROUPED))
            members[key] = members.get(key, 0) + 1
        steps, flops, test_flops, depth = [], [], [], []
        epochs = spec["epochs"]
        for name, (d, classes, n_train, n_val, n_test) in sizes.items():
            per = epochs * -(-n_train // spec["batch"])
            for c in configs:
                forward, train = flops_per_row(family, c, n_in=d, n_out=classes, architecture=arch)
                steps.append(per)
                flops.append(epochs * (n_train * train + (n_val + n_test) * forward))  # test set every epoch
                test_flops.append(epochs * n_test * forward)
                depth.append(int(c["n_blocks"] if family == "ResNet" else c["n_layers"]))
        out["families"][family] = {"configs": len(configs), "members_per_group": max(members.values()),
                                   "architectures": len(members), "steps": steps, "flops": flops,
                                   "test_flops": test_flops, "depth": depth}
    return out


def _worker_main(spec_path: str) -> None:
    spec = json.load(open(spec_path))
    try:
        result = _worker_measure(spec) if spec["kind"] == "measure" else _worker_grid(spec)
    except Exception as exc:
        import traceback
        result = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()[-3000:]}
    with open(spec["result"], "w") as f:
        json.dump(result, f)


def run_worker(spec: dict, src: str, timeout: float) -> dict:
    with tempfile.TemporaryDirectory(prefix="gpu_projection_") as tmp:
        spec = {**spec, "src": src, "result": os.path.join(tmp, "result.json")}
        path = os.path.join(tmp, "spec.json")
        json.dump(spec, open(path, "w"))
        env = {**os.environ, "PYTHONPATH": src, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
               "OPENBLAS_NUM_THREADS": "1"}
        try:
            proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--_worker", path], env=env,
                                  capture_output=True, text=True, timeout=timeout, cwd=str(ROOT))
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {timeout:.0f} s"}
        if not os.path.exists(spec["result"]):
            tail = (proc.stdout + proc.stderr).strip().splitlines()[-8:]
            return {"error": f"worker exited with {proc.returncode}: " + " | ".join(tail)}
        return json.load(open(spec["result"]))


# ----------------------------------------------------------------------------- projection

def fit_in_depth(points: list[tuple[int, float]]):
    """value(depth): constant with one measured depth, least-squares line (>= 0) with more."""
    import numpy as np
    if not points:
        return None
    d = np.array([p[0] for p in points], dtype=float)
    v = np.array([p[1] for p in points], dtype=float)
    if len(set(d)) < 2:
        c = float(v.mean())
        return lambda depth: np.full(np.shape(depth), c)
    b, a = np.polyfit(d, v, 1)
    return lambda depth: np.maximum(a + b * np.asarray(depth, dtype=float), 0.0)


def grid_flops(grid: dict, tree: str, a):
    """FLOPs of each (dataset, configuration): the test set evaluated after every epoch (the old
    engine) or after ``--test-share`` of them (the new engine, protocol F5)."""
    import numpy as np
    share = a.test_share if tree == "new" else 1.0
    flops = np.asarray(grid["flops"], dtype=float) - (1.0 - share) * np.asarray(grid["test_flops"], dtype=float)
    return flops * a.run_share


def project(grid: dict, K, H, members: int, *, mode: str, precision: str, jobs: int, a, tree: str = "new") -> float:
    """GPU-hours of one family under the model of the docstring."""
    import numpy as np
    steps = np.asarray(grid["steps"], dtype=float)
    f = grid_flops(grid, tree, a) / steps
    depth = np.asarray(grid["depth"], dtype=float)
    rate = (a.fp32_tflops * a.fp32_eff if precision == "FP32" else a.tf32_tflops * a.tf32_eff) * 1e12
    k = K(depth)
    if mode == "eager":
        host, floor = H(depth) * a.host_factor, k * a.launch_us * 1e-6
    else:
        host, floor = np.full_like(steps, a.replay_us * 1e-6 / members), k * a.graph_kernel_us * 1e-6
    t = np.maximum(host / jobs, floor / (jobs if a.mps else 1) + f / rate)
    return float((steps * t).sum() / 3600)


def arithmetic_hours(grid: dict, precision: str, a) -> float:
    """The new engine's matrix products alone at the assumed rate."""
    rate = (a.fp32_tflops * a.fp32_eff if precision == "FP32" else a.tf32_tflops * a.tf32_eff) * 1e12
    return float(grid_flops(grid, "new", a).sum() / rate / 3600)


# ----------------------------------------------------------------------------- printing helpers

def fmt(x, spec=".1f", none="-"):
    return none if x is None else format(x, spec)


def groups_text(rec: dict) -> str:
    """Members of each group, e.g. 3+3; or members of the largest group (~) when only that is known."""
    if rec.get("groups"):
        return "+".join(map(str, rec["groups"]))
    return f"~{rec['members_per_group']}" if rec.get("members_per_group") else "?"


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    line = lambda r: "  ".join(str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(r, widths)))
    return "\n".join([line(headers), "  ".join("-" * w for w in widths), *map(line, rows)])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--new-src", default=str(ROOT / "src"), help="src folder of the new engine (default: this checkout's)")
    p.add_argument("--old-src", default=None, help="src folder of the old engine (omitted: no old columns)")
    p.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    p.add_argument("--dataset", default="titanic", help="dataset of the measurement (default titanic)")
    p.add_argument("--prepared-dir", default=str(ROOT / "data" / "prepared"))
    p.add_argument("--grids", default=str(ROOT / "config" / "grids.yaml"))
    p.add_argument("--epochs", type=int, default=3, help="epochs of the measurement (default 3)")
    p.add_argument("--depth", type=int, nargs="+", default=[8],
                   help="depth(s) measured (n_layers; ResNet n_blocks); several: K and H fitted linear in depth")
    p.add_argument("--width", type=int, default=8, help="the tiny width measured (default 8)")
    p.add_argument("--repeats", type=int, default=5, help="timed runs per measurement, best kept (default 5)")
    p.add_argument("--gpu-grouping", action="store_true",
                   help="group with and without dropout together, as on CUDA (trees with batched.group_configs)")
    p.add_argument("--timeout", type=float, default=900, help="seconds per family and tree (default 900)")
    g = p.add_argument_group("projection assumptions")
    g.add_argument("--epochs-full", type=int, default=100, help="epochs of the full grid (default 100)")
    g.add_argument("--batch", type=int, default=128, help="batch size, measured and projected (default 128)")
    g.add_argument("--launch-us", type=float, default=4.0, help="eager device time per kernel, us")
    g.add_argument("--graph-kernel-us", type=float, default=1.0, help="per kernel replayed in a CUDA graph, us")
    g.add_argument("--replay-us", type=float, default=10.0, help="host time of one graph replay per group-step, us")
    g.add_argument("--host-factor", type=float, default=1.0, help="GPU host time / this CPU's host time")
    g.add_argument("--fp32-tflops", type=float, default=67.0, help="H100 SXM FP32 (non-tensor) peak")
    g.add_argument("--tf32-tflops", type=float, default=494.7, help="H100 SXM dense TF32 peak")
    g.add_argument("--fp32-eff", type=float, default=0.7, help="fraction of the FP32 peak the products reach")
    g.add_argument("--tf32-eff", type=float, default=0.35, help="fraction of the TF32 peak the products reach")
    g.add_argument("--test-share", type=float, default=TEST_SHARE,
                   help=f"new engine: share of epochs after which a group evaluates the test set (default {TEST_SHARE})")
    g.add_argument("--run-share", type=float, default=1.0,
                   help="share of the grid's FLOPs run, divergence ending configurations early (default 1: none)")
    g.add_argument("--jobs", type=int, nargs="+", default=[1, 2, 4, 8], help="jobs (processes) per GPU tried")
    g.add_argument("--headline-jobs", type=int, default=None, help="J of the headline (default: the recommended)")
    g.add_argument("--mps", action="store_true", help="jobs share the GPU through MPS: their kernel floors overlap")
    p.add_argument("--json", default=None, help="write every measured and projected figure here")
    p.add_argument("--measured", default=None, metavar="JSON",
                   help="project from the measurements of an earlier --json instead of measuring again")
    a = p.parse_args()
    start = time.perf_counter()
    a.prepared_dir = str(Path(a.prepared_dir).resolve())
    a.grids = str(Path(a.grids).resolve())
    trees = {"new": str(Path(a.new_src).resolve())}
    if a.old_src:
        trees["old"] = str(Path(a.old_src).resolve())
    import yaml
    full_grids = yaml.safe_load(open(a.grids))["uci"]

    # -- measure (or take the measurements of an earlier --json)
    load_before = os.getloadavg()[0]
    measured: dict[str, dict[str, dict]] = {t: {} for t in trees}
    if a.measured:
        doc = json.load(open(a.measured))
        for key in MEASUREMENT_SETTINGS:
            setattr(a, key, doc["settings"][key])
        trees, measured = doc["trees"], doc["measured"]
        a.families = [f for f in a.families if all(f in measured[t] for t in trees)]
        load_before, load_after = doc.get("load_average", [float("nan")] * 2)
        print(f"measurements from {a.measured} ({', '.join(f'{t}: {src}' for t, src in trees.items())})")
    for family in ([] if a.measured else a.families):
        for tree, src in trees.items():
            t0 = time.perf_counter()
            spec = {"kind": "measure", "family": family, "grid": full_grids[family], "depths": a.depth,
                    "width": a.width, "dataset": a.dataset, "prepared": a.prepared_dir, "epochs": a.epochs,
                    "batch": a.batch, "repeats": a.repeats, "gpu_grouping": a.gpu_grouping,
                    "epochs_full": a.epochs_full}
            res = run_worker(spec, src, a.timeout)
            measured[tree][family] = res
            errors = [f"depth {r['depth']}: {r['error']}" for r in res.get("depths", []) if "error" in r]
            if "error" in res:
                errors.insert(0, res["error"])
            status = "; ".join(errors) if errors else "ok"
            print(f"measured {tree:3s} {family:10s} in {time.perf_counter() - t0:5.1f} s: {status}", flush=True)

    if not a.measured:
        load_after = os.getloadavg()[0]

    # -- full grid (in a subprocess on the new tree, else the old one)
    grid = {"error": "not computed"}
    for tree, src in trees.items():
        grid = run_worker({"kind": "grid", "families": list(a.families), "grids": a.grids, "prepared": a.prepared_dir,
                           "epochs": a.epochs_full, "batch": a.batch}, src, a.timeout)
        if "error" not in grid:
            grid["tree"] = tree
            break
        print(f"full-grid count with the {tree} tree failed: {grid['error']}")
    if "error" in grid:
        sys.exit("cannot count the full grid in any tree")

    # -- measured table
    order = [t for t in ("old", "new") if t in trees]
    print()
    print(f"MEASURED on this CPU ({a.dataset}, {a.epochs} epochs, width {a.width}, batch {a.batch}, 1 thread, "
          f"engine=batched; load average {load_before:.1f} before, {load_after:.1f} after, "
          f"{os.cpu_count()} cores)")
    F = a.epochs_full
    print(f"  groups: members of each group.  K@{a.epochs} tool: kernels / sum of epochs_run x steps an epoch "
          f"(kernels_per_step.py's divisor).")
    print(f"  K@{a.epochs}: kernels / (configs x {a.epochs} epochs x steps an epoch).  K@{F} (used below): "
          f"kernels per epoch (from a second run at {2 * a.epochs} epochs) and set-up, per configuration-step "
          f"of {F} epochs.")
    print(f"  host us/cfg-step: wall time of the training call / (configs x {a.epochs} x steps an epoch), "
          f"best of {a.repeats}.")
    print(f"  syncs/group-epoch: host syncs at {a.epochs} epochs / (groups x {a.epochs}); marginal: per group per "
          f"added epoch (from the {2 * a.epochs}-epoch run); set-up/group: per group, once")
    headers = ["family", "depth"]
    for label in ("groups", f"K@{a.epochs} tool", f"K@{a.epochs}", f"K@{F}", "host us/cfg-step"):
        headers += [f"{label} {t}" for t in order]
    headers2 = ["family", "depth"]
    for label in ("syncs/group-epoch", "marginal", "set-up/group"):
        headers2 += [f"{label} {t}" for t in order]
    rows, rows2 = [], []
    fits: dict[str, dict[str, tuple]] = {t: {} for t in order}
    for family in a.families:
        per_tree = {t: {r["depth"]: r for r in measured[t][family].get("depths", [])} for t in order}
        for t in order:  # K at --epochs-full epochs: set-up + per epoch, per configuration-step
            for r in per_tree[t].values():
                if "error" not in r and r.get("kernels_per_epoch") is not None:
                    r["kernels_per_config_step_full"] = ((r["kernels_setup"] + r["kernels_per_epoch"] * F)
                                                         / (r["configs"] * F * r["steps_per_epoch"]))
        for depth in a.depth:
            recs = {t: per_tree[t].get(depth, {"error": measured[t][family].get("error", "?")}) for t in order}
            row = [family, str(depth)]
            row += [groups_text(recs[t]) if "error" not in recs[t] else "ERR" for t in order]
            def cells(key, spec, scale=1.0):
                return ["ERR" if "error" in recs[t] else
                        fmt(None if recs[t].get(key) is None else recs[t][key] * scale, spec) for t in order]

            row += cells("kernels_per_config_step_run", ".1f") + cells("kernels_per_config_step", ".1f")
            row += cells("kernels_per_config_step_full", ".1f") + cells("host_s_per_config_step", ".0f", 1e6)
            rows.append(row)
            rows2.append([family, str(depth)] + cells("host_syncs_per_group_epoch", ".2f")
                         + cells("host_syncs_per_group_epoch_marginal", ".2f") + cells("host_syncs_setup_per_group", ".1f"))
        for t in order:
            ok = [r for r in per_tree[t].values() if "error" not in r and r.get("host_s_per_config_step") is not None]
            fits[t][family] = (fit_in_depth([(r["depth"], r["kernels_per_config_step_full"]) for r in ok]),
                               fit_in_depth([(r["depth"], r["host_s_per_config_step"]) for r in ok]))
    print(table(headers, rows))
    print()
    print(table(headers2, rows2))
    notes = []
    for t in order:
        for family in a.families:
            res = measured[t][family]
            for r in res.get("depths", []):
                if "error" in r:
                    notes.append(f"  {t} {family} depth {r['depth']}: ERROR {r['error']}")
                    continue
                extra = []
                if r.get("engines") != ["batched"]:
                    extra.append(f"engines in rows {r.get('engines')} (a batched group fell back)")
                sites = sorted(r.get("dispatch_sync_sites", {}).items(), key=lambda kv: -kv[1])
                if sites:
                    extra.append("host syncs seen by the dispatcher: " + ", ".join(f"{k} x{v}" for k, v in sites[:4])
                                 + (f" (+{len(sites) - 4} sites)" if len(sites) > 4 else "")
                                 + (f"; recipe.HOST_SYNCS {r['recipe_syncs']}" if r.get("recipe_syncs") is not None else ""))
                bad = {k: v for k, v in r.get("statuses", {}).items() if k != "ok"}
                if bad:
                    extra.append(f"statuses {bad}")
                if extra:
                    notes.append(f"  {t} {family} depth {r['depth']}: " + "; ".join(extra))
            if "error" in res:
                notes.append(f"  {t} {family}: ERROR {res['error']}")
    any_rec = next((r for t in order for f in a.families for r in measured[t][f].get("depths", []) if "error" not in r), None)
    for t in order:
        recs = [r for f in a.families for r in measured[t][f].get("depths", []) if "error" not in r]
        if recs:
            srcs = {measured[t][f].get("snnbench_file") for f in a.families} - {None}
            has_recipe = any(measured[t][f].get("has_recipe_host_syncs") for f in a.families)
            print(f"  {t}: {trees[t]} (snnbench from {', '.join(sorted(srcs))}); groups from {recs[0]['grouping']}, "
                  f"members from {recs[0]['members_source']}; host time of {recs[0]['timer']}, best of {a.repeats}; "
                  f"recipe.HOST_SYNCS {'counted' if has_recipe else 'absent'}")
    if any_rec:
        print(f"  {any_rec['n_train']} training rows, {math.ceil(any_rec['n_train'] / a.batch)} steps an epoch")
    if notes:
        print("notes:")
        print("\n".join(notes))

    # -- assumptions
    print()
    print("ASSUMPTIONS (H100 SXM, one GPU)")
    assumptions = [
        ("eager per-kernel device cost (launch floor)", "--launch-us", f"{a.launch_us:g} us"),
        ("per-kernel cost replayed in a CUDA graph", "--graph-kernel-us", f"{a.graph_kernel_us:g} us"),
        ("graph replay host cost per group-step", "--replay-us", f"{a.replay_us:g} us"),
        ("eager host time = measured here x", "--host-factor", f"{a.host_factor:g}"),
        ("FP32 rate x matmul efficiency", "--fp32-tflops, --fp32-eff",
         f"{a.fp32_tflops:g} TFLOP/s x {a.fp32_eff:g} = {a.fp32_tflops * a.fp32_eff:.1f} TFLOP/s"),
        ("TF32 rate (dense) x matmul efficiency", "--tf32-tflops, --tf32-eff",
         f"{a.tf32_tflops:g} TFLOP/s x {a.tf32_eff:g} = {a.tf32_tflops * a.tf32_eff:.1f} TFLOP/s"),
        ("jobs per GPU", "--jobs, --mps", " ".join(map(str, a.jobs)) + "  ("
         + ("MPS: kernel floors overlap across jobs" if a.mps else "no MPS: kernels time-sliced, only host time overlaps")
         + ")"),
        ("test-set evaluations, new engine (old: every epoch)", "--test-share",
         f"after {a.test_share:.0%} of the epochs (protocol F5; measured: {TEST_SHARE_SOURCE})"),
        ("FLOPs run (divergence ends configurations early)", "--run-share",
         "all: the protocol's maximum" if a.run_share == 1 else
         f"{a.run_share:.0%} of the products (kernel floors and host time not reduced)"),
        (f"K (at {a.epochs_full} epochs) and H per config-step", "--depth",
         f"measured at depth {', '.join(map(str, a.depth))}, "
         + ("fitted linear in depth" if len(set(a.depth)) > 1 else "used for every depth of the grid")),
        ("members per group on the GPU (graph replay)", "",
         "one group per architecture: " + ", ".join(f"{f} {grid['families'][f]['members_per_group']}"
                                                     for f in a.families)),
        ("full UCI grid", "--epochs-full, --batch",
         f"{grid['datasets']} datasets, {a.epochs_full} epochs, batch {a.batch}, validation every epoch "
         f"(counted with the {grid['tree']} tree)"
         + (f"; {len(grid['approximated'])} sizes from Table A11 (not prepared here)" if grid["approximated"] else "")),
    ]
    w1, w2 = max(len(x[0]) for x in assumptions), max(len(x[1]) for x in assumptions)
    for label, flag, value in assumptions:
        print(f"  {label:{w1}s}  {flag:{w2}s}  {value}")
    print("MODEL per configuration-step (J jobs): t = max(host / J, floor / " + ("J" if a.mps else "1")
          + " + FLOPs / (rate x eff)); eager: host = H x host_factor, floor = K x launch_us;"
          " graphs: host = replay_us / M, floor = K x graph_kernel_us; GPU-hours = sum over datasets and"
          " configurations of steps x t / 3600")

    # -- projection
    columns = [(t, m) for t in order for m in (("eager", "graphs") if t == "new" else ("eager",))]
    proj: dict = {}
    for J in a.jobs:
        for family in a.families:
            gf = grid["families"][family]
            for t, mode in columns:
                K, H = fits[t].get(family, (None, None))
                for prec in ("FP32", "TF32"):
                    hours = None if K is None or H is None else project(
                        gf, K, H, gf["members_per_group"], mode="eager" if mode == "eager" else "graph",
                        precision=prec, jobs=J, a=a, tree=t)
                    proj[(J, family, t, mode, prec)] = hours

    def total(J, t, mode, prec):
        vals = [proj[(J, f, t, mode, prec)] for f in a.families]
        return None if any(v is None for v in vals) else sum(vals)

    ranked = [(J, total(J, "new", "graphs", "FP32")) for J in a.jobs]
    ranked_ok = [(J, h) for J, h in ranked if h is not None]
    if a.headline_jobs is not None:
        recommended, why = a.headline_jobs, "--headline-jobs"
    elif ranked_ok:
        best = min(h for _, h in ranked_ok)
        recommended = min(J for J, h in ranked_ok if h <= best * (1 + RECOMMEND_WITHIN))
        why = f"smallest J within {RECOMMEND_WITHIN:.0%} of the best new-graphs FP32 total"
    else:
        recommended, why = a.jobs[0], "no new-engine figures: first of --jobs"
    if recommended not in a.jobs:
        a.jobs.append(recommended)
        for family in a.families:
            gf = grid["families"][family]
            for t, mode in columns:
                K, H = fits[t].get(family, (None, None))
                for prec in ("FP32", "TF32"):
                    proj[(recommended, family, t, mode, prec)] = None if K is None or H is None else project(
                        gf, K, H, gf["members_per_group"], mode="eager" if mode == "eager" else "graph",
                        precision=prec, jobs=recommended, a=a, tree=t)

    print()
    print(f"PROJECTED full UCI grid, H100-hours, {recommended} job(s) per GPU ({why})")
    headers = ["family", "configs x datasets", "arith-only FP32", "arith-only TF32"]
    headers += [f"{t} {m} {p}" for t, m in columns for p in ("FP32", "TF32")]
    rows = []
    for family in a.families:
        gf = grid["families"][family]
        row = [family, f"{gf['configs']} x {grid['datasets']}", fmt(arithmetic_hours(gf, "FP32", a), ".2f"),
               fmt(arithmetic_hours(gf, "TF32", a), ".2f")]
        row += [fmt(proj[(recommended, family, t, m, p)], ".2f", "ERR") for t, m in columns for p in ("FP32", "TF32")]
        rows.append(row)
    row = ["total", "", fmt(sum(arithmetic_hours(grid["families"][f], "FP32", a) for f in a.families), ".2f"),
           fmt(sum(arithmetic_hours(grid["families"][f], "TF32", a) for f in a.families), ".2f")]
    row += [fmt(total(recommended, t, m, p), ".2f", "ERR") for t, m in columns for p in ("FP32", "TF32")]
    rows.append(row)
    print(table(headers, rows))
    print()
    print("TOTALS by jobs per GPU, H100-hours" + (" (MPS)" if a.mps else ""))
    headers = ["jobs/GPU"] + [f"{t} {m} {p}" for t, m in columns for p in ("FP32", "TF32")]
    rows = [[str(J) + (" *" if J == recommended else "")]
            + [fmt(total(J, t, m, p), ".2f", "ERR") for t, m in columns for p in ("FP32", "TF32")]
            for J in sorted(set(a.jobs))]
    print(table(headers, rows))
    fp32, tf32 = total(recommended, "new", "graphs", "FP32"), total(recommended, "new", "graphs", "TF32")
    print()
    print(f"full UCI grid, new engine, CUDA graphs, {recommended} jobs/GPU: {fmt(fp32, '.2f', 'n/a')} H100-hours FP32, "
          f"{fmt(tf32, '.2f', 'n/a')} TF32 (targets <= 4 and <= 1)")
    needed = {}
    for prec, target, attr in (("FP32", 4.0, "fp32_eff"), ("TF32", 1.0, "tf32_eff")):
        saved = getattr(a, attr)

        def hours_at(eff):
            setattr(a, attr, eff)
            vals = []
            for family in a.families:
                gf = grid["families"][family]
                K, H = fits["new"].get(family, (None, None))
                if K is None or H is None:
                    return None
                vals.append(project(gf, K, H, gf["members_per_group"], mode="graph", precision=prec,
                                    jobs=recommended, a=a))
            return sum(vals)

        at_peak = hours_at(1.0)
        if at_peak is None or at_peak > target:
            needed[prec] = None
        else:
            lo, hi = 1e-3, 1.0
            for _ in range(40):
                mid = (lo + hi) / 2
                lo, hi = (lo, mid) if hours_at(mid) <= target else (mid, hi)
            needed[prec] = hi
        setattr(a, attr, saved)
        print(f"  {prec} target {target:g} h: " + (f"met when the products reach {needed[prec]:.0%} of the {prec} peak"
                                                     if needed[prec] else f"not met even at 100 % of the {prec} peak "
                                                     f"({fmt(at_peak, '.2f', 'n/a')} h)") + " (all else as assumed)")
    if len(a.families) < len(FAMILIES):
        print(f"  (only {', '.join(a.families)}: not the whole grid)")
    print(f"(in {time.perf_counter() - start:.0f} s)")

    if a.json:
        doc = {"settings": {k: v for k, v in vars(a).items()}, "trees": trees,
               "load_average": [load_before, load_after],
               "measured": measured,
               "full_grid": {"datasets": grid["datasets"], "approximated": grid["approximated"], "tree": grid["tree"],
                             "families": {f: {"configs": g["configs"], "members_per_group": g["members_per_group"],
                                              "architectures": g["architectures"],
                                              "config_steps": int(sum(g["steps"])),
                                              "flops_new": float(grid_flops(g, "new", a).sum()),
                                              "flops_old": float(sum(g["flops"]))}
                                          for f, g in grid["families"].items()}},
               "projection": [{"jobs": J, "family": f, "tree": t, "mode": m, "precision": p, "hours": h}
                              for (J, f, t, m, p), h in proj.items()],
               "recommended_jobs": recommended, "recommended_why": why,
               "headline": {"jobs": recommended, "fp32_hours": fp32, "tf32_hours": tf32, "targets": [4, 1],
                            "efficiency_needed": needed}}
        Path(a.json).write_text(json.dumps(doc, indent=1, default=str))
        print(f"-> {a.json}")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--_worker":
        _worker_main(sys.argv[2])
    else:
        main()
