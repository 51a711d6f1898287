"""Kernels and host time per configuration-step of each family, measured on this machine, and the
full UCI grid's projected H100-hours under the GPU cost model (snnbench.training.costmodel).

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
  ``snnbench.training.recipe.HOST_SYNCS.count`` where that exists (the new engine counts its
  device-to-host transfers there), reported per group-epoch: syncs / (groups * E), and split by
  the 2E run into per group per added epoch (marginal) and per group once (set-up); the sites in
  the tree that made the dispatcher-seen syncs are listed under "notes". On a CPU a
  ``.cpu()``/``.numpy()`` of a CPU tensor dispatches nothing, so without HOST_SYNCS the count is
  a lower bound, and a scalar read of a tensor that lives on the host on a GPU too is counted;
- timed, without the counter (after the counted run, which warms up): the wall time of the
  training call only (``run_grid``, patched in ``snnbench.training.grid`` or ``snnbench.training.engine``, whichever
  the tree has; else the whole CLI call), the best of ``--repeats`` (other load on the machine
  inflates it: the load average is printed), / nominal configuration-steps = host seconds per
  configuration-step H.
  At width 8 this is the engine's host overhead (Python, dispatch, tiny CPU kernels).

Members per group are read from ``snnbench.training.batched.group_configs`` where the tree has it (else
the largest leading dimension of the stacked matrix products). On a CPU the old engine keeps
configurations with and without dropout apart (groups of 3 for SNN, MSRAinit, Highway; on CUDA
one group of 6); ``--gpu-grouping`` makes the old ``group_configs(split_dropout=False)`` merge
them as on CUDA (a tree whose ``group_configs`` has no such argument groups as it does anyway).

The projection: ``snnbench.training.costmodel``, the one GPU cost model (``snnbench plan`` uses it too;
its docstring states the model, ``costmodel.LOW`` / ``HIGH`` every constant with its reason; all
printed beside the result). An estimate until a GPU measures it (``gpu_acceptance.py``). The
full UCI grid: the 121 datasets (sizes from ``full_grid_estimate.split_sizes`` with
``--prepared-dir``, Table A11 where not prepared), every family's full grid from ``--grids``,
``--epochs-full`` (100) epochs, batch ``--batch`` (128), the validation set after every epoch and
the test set after ``--test-share`` of the epochs (protocol F5; default measured, see
``TEST_SHARE_SOURCE``), as one job per (dataset, family). What this script passes into the model
from its measurement: the kernels per group-step, K at ``--epochs-full`` epochs x configurations /
groups, as ``costmodel.KernelCount`` (linear in the network's linear layers: through the measured
depths with several ``--depth``, else a fixed 20 plus the rest per layer); ``--kernels docs``
takes the model's defaults instead (``costmodel.MEASURED_KERNELS``, from docs/performance.md).
H, the host time measured here, is printed but not used: the graphs' host time is the model's
replay cost. Printed: the members and output tiles of the grid's products and the share of the
peak they reach; the full grid's H100-hours, low-high, at ``--jobs`` (1 4 8) jobs per GPU,
time-sliced and with MPS, x ``--streams`` (1 2 4 8), FP32 and TF32; the arithmetic floor (the
matrix FLOPs at the full peak); the old projection's figures (``OLD_PROJECTION``, quoted from
docs/performance.md: the formula it came from is gone); where the time goes; the assumptions.

Run (from the repository root; the old tree e.g. a checkout of an earlier commit):

    python benchmarks/gpu_projection.py --old-src ../old/src
    python benchmarks/gpu_projection.py --new-src src --old-src ../old/src --depth 2 8 32 --json out.json
    python benchmarks/gpu_projection.py --families SNN ResNet --epochs 2      # quicker
    python benchmarks/gpu_projection.py --measured out.json --streams 4 --jobs 1 4   # re-project only

About 2 minutes on 2 idle CPU cores with both trees and the defaults (7 families x 2 trees, one
subprocess each: a counted run at E and at 2E epochs, 5 timed runs); ``--depth 2 8 32`` about 4;
the projection a few minutes more (80 evaluations of the grid's 847 jobs).

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
# The share of epochs after which a batched group evaluates the test set (train.test_curve:
# selectable) is snnbench.pipeline.plan.TEST_SHARE, measured with grid_throughput.py at 100 epochs:
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

    def tree_module(name):  # this layout's module, or an older tree's flat one (--old-src)
        for candidate in (f"snnbench.training.{name}", f"snnbench.{name}"):
            try:
                return importlib.import_module(candidate)
            except ModuleNotFoundError:
                continue
        return None

    recipe = tree_module("recipe")

    def recipe_syncs():
        counter = getattr(recipe, "HOST_SYNCS", None) if recipe else None
        value = getattr(counter, "count", None)
        return int(value) if isinstance(value, (int, float)) else None

    groups_seen: list[list[int]] = []
    grouping = "n/a"
    try:
        batched = tree_module("batched")
    except Exception:  # the tree may have a broken one: the CLI will say
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
    for module_name in ("snnbench.training.grid", "snnbench.training.engine", "snnbench.grid", "snnbench.engine"):
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
                members_source=("batched.group_configs" if groups
                                else "largest stacked bmm" if counter.stack else "n/a"),
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
    from snnbench.pipeline.runs import load_grids
    from snnbench.training.flops import flops_per_row
    from snnbench.training.grids import expand

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


# ----------------------------------------------------------------------------- projection (snnbench.training.costmodel)

# What this script printed before the cost model, for comparison only (docs/performance.md, issue 13
# second round: products at 70 % / 35 % of the FP32 / TF32 peaks, 1 us a kernel in a graph):
OLD_PROJECTION = {("FP32", 1, False): 5.98, ("FP32", 8, True): 4.00, ("TF32", 1, False): 3.26}
OLD_PROJECTION_SOURCE = "old projection, docs/performance.md"


def grid_flops(grid: dict, tree: str, a):
    """FLOPs of each (dataset, configuration): the test set evaluated after every epoch (the old
    engine) or after ``--test-share`` of them (the new engine, protocol F5)."""
    import numpy as np
    share = a.test_share if tree == "new" else 1.0
    return np.asarray(grid["flops"], dtype=float) - (1.0 - share) * np.asarray(grid["test_flops"], dtype=float)


def measured_kernels(measured_tree: dict, families, cm) -> dict:
    """Kernels per group-step of each family from this measurement (K at --epochs-full epochs x
    configurations / groups, at each measured depth), linear in the linear layers."""
    out = {}
    for family in families:
        points = [(cm.linear_layers(family, r["depth"]),
                   r["kernels_per_config_step_full"] * r["configs"] / r["n_groups"])
                  for r in measured_tree.get(family, {}).get("depths", [])
                  if "error" not in r and r.get("kernels_per_config_step_full") is not None and r.get("n_groups")]
        if points:
            out[family] = cm.KernelCount.from_measured(points)
    return out


def full_grid_jobs(families, a, cm) -> list:
    """The full UCI grid as the cost model's jobs: every family's grid on every dataset (split 0)."""
    sys.path.insert(0, str(BENCH_DIR))
    import full_grid_estimate as fge
    from snnbench.pipeline.runs import load_grids
    from snnbench.training.grids import expand

    grids = load_grids(a.grids)["uci"]
    settings = fge.TrainSettings()
    sizes, _ = fge.split_sizes(a.prepared_dir)
    return [cm.Job(family, tuple(expand(grids[family])), d, classes, n_train, n_val, n_test, epochs=a.epochs_full,
                   batch_size=a.batch, eval_batch_size=settings.eval_batch_size, test_share=a.test_share,
                   architecture=settings.architecture())
            for d, classes, n_train, n_val, n_test in sizes.values() for family in families]


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

    def line(r: list[str]) -> str:
        return "  ".join(str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(r, widths)))

    return "\n".join([line(headers), "  ".join("-" * w for w in widths), *map(line, rows)])


def engine_figures(a, trees: dict, earlier: dict | None) -> dict | None:
    """The new tree's capturable share of kernels and group set-up against one draw
    (``engine_probe.py``, in a subprocess on that tree), printed; with ``--measured``, those of
    the earlier run."""
    print()
    print("ENGINE FIGURES (benchmarks/engine_probe.py; device-independent, measured on this CPU)")
    if earlier is not None:
        figures = earlier.get("engine_figures")
        if not figures:
            print("  not in the --measured JSON")
            return None
        share, setup = figures["capturable_share"], figures["group_setup"]
        print(f"capturable share of kernels: {share['share']:.3f}  (from {a.measured})")
        print(f"group set-up seconds: {setup['setup_s']:.3f}  (from {a.measured})")
        print(f"one draw of its weights seconds: {setup['draw_s']:.3f}  (set-up / draw {setup['ratio']:.2f})")
        return figures
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [trees["new"], os.environ.get("PYTHONPATH")]))}
    try:
        done = subprocess.run([sys.executable, str(BENCH_DIR / "engine_probe.py"), "--prepared-dir", a.prepared_dir,
                               "--dataset", a.dataset, "--json-line"], env=env, capture_output=True, text=True,
                              timeout=a.timeout)
    except subprocess.TimeoutExpired:
        print(f"  engine_probe.py did not finish in {a.timeout:.0f} s")
        return None
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        print(f"  engine_probe.py failed (exit {done.returncode}): {done.stderr.strip()[-500:]}")
        return None
    for line in lines[:-1]:
        if line.startswith(("capturable share", "group set-up", "one draw")):
            print(line)
    return json.loads(lines[-1])


def main() -> None:
    if str(ROOT / "src") not in sys.path:  # the cost model and the full grid's sizes: this checkout's
        sys.path.insert(0, str(ROOT / "src"))
    from snnbench.pipeline.plan import TEST_SHARE

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--new-src", default=str(ROOT / "src"),
                   help="src folder of the new engine (default: this checkout's)")
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
    g.add_argument("--test-share", type=float, default=TEST_SHARE,
                   help=f"share of epochs after which a group evaluates the test set (default {TEST_SHARE})")
    g.add_argument("--jobs", type=int, nargs="+", default=[1, 4, 8],
                   help="jobs (processes) per GPU projected, time-sliced and with MPS (default 1 4 8)")
    g.add_argument("--streams", type=int, nargs="+", default=[1, 2, 4, 8],
                   help="groups in flight per job (train.streams) projected (default 1 2 4 8)")
    g.add_argument("--kernels", choices=("measured", "docs"), default="measured",
                   help="kernels per group-step: this measurement's (default) or the model's defaults "
                        "(costmodel.MEASURED_KERNELS, docs/performance.md)")
    p.add_argument("--json", default=None, help="write every measured and projected figure here")
    p.add_argument("--no-engine-figures", action="store_true",
                   help="skip engine_probe.py's capturable share and group set-up (about 2 minutes)")
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
                         + cells("host_syncs_per_group_epoch_marginal", ".2f")
                         + cells("host_syncs_setup_per_group", ".1f"))
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
                                 + (f"; recipe.HOST_SYNCS {r['recipe_syncs']}" if r.get("recipe_syncs") is not None
                                    else ""))
                bad = {k: v for k, v in r.get("statuses", {}).items() if k != "ok"}
                if bad:
                    extra.append(f"statuses {bad}")
                if extra:
                    notes.append(f"  {t} {family} depth {r['depth']}: " + "; ".join(extra))
            if "error" in res:
                notes.append(f"  {t} {family}: ERROR {res['error']}")
    any_rec = next((r for t in order for f in a.families for r in measured[t][f].get("depths", [])
                    if "error" not in r), None)
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

    project(a, measured, grid, trees, start, load_before, load_after, earlier=doc if a.measured else None)


def project(a, measured: dict, grid: dict, trees: dict, start: float, load_before: float, load_after: float,
            earlier: dict | None = None) -> None:
    """The full UCI grid's H100-hours under snnbench.training.costmodel (low and high), beside the old
    projection and the arithmetic floor; --json writes everything (``earlier``: the --measured JSON,
    whose engine figures are printed instead of measuring them again)."""
    from snnbench.training import costmodel as cm

    print()
    print("GPU COST MODEL (snnbench.training.costmodel, the model of `snnbench plan`): "
          "AN ESTIMATE until a GPU measures it (benchmarks/gpu_acceptance.py)")
    kernels, source = {}, {}
    if a.kernels == "measured" and "new" in measured:
        kernels = measured_kernels(measured["new"], a.families, cm)
    for family in a.families:
        if family in kernels:
            source[family] = f"measured here at depth {', '.join(map(str, a.depth))}"
        else:
            kernels[family] = cm.default_kernels(family)
            source[family] = cm.MEASURED_KERNELS_SOURCE
    print("  kernels per group-step = fixed + per linear layer x linear layers:")
    for family in a.families:
        k = kernels[family]
        print(f"    {family:10s} {k.fixed:5.1f} + {k.per_linear:5.2f} x layers  ({source[family]})")

    print()
    print("MEMBERS AND OUTPUT TILES PER PRODUCT (132 SMs; forward (k, 128, w, w) and weight gradient (k, w, w, 128); "
          "low / high: tile and split-K chosen, tiles, share of the peak reached; x4: four such products at once)")
    headers = ["k", "product", "prec", "tile low", "tiles low", "peak low", "x4 low", "tile high", "tiles high",
               "peak high", "x4 high"]
    rows = []
    for k in (3, 6):
        for w in (256, 512, 1024):
            for name, (m, n, kk) in (("fwd", (128, w, w)), ("wgrad", (w, w, 128))):
                for tf32 in (False, True):
                    row = [str(k), f"{name} {m}x{n}x{kk}", "TF32" if tf32 else "FP32"]
                    for asm in cm.BOTH:
                        o = cm.occupancy(k, m, n, kk, tf32=tf32, a=asm)
                        o4 = cm.occupancy(k, m, n, kk, tf32=tf32, concurrent=4, a=asm)
                        row += [o["tile"] + (f"/{o['split_k']}" if o["split_k"] > 1 else ""), str(o["tiles"]),
                                f"{o['fraction_of_peak']:.0%}" + {"memory": "m", "floor": "f"}.get(o["bound"], ""),
                                f"{o4['fraction_of_peak']:.0%}"]
                    rows.append(row)
    print(table(headers, rows))
    print("  (m: bound by the operands' HBM traffic, f: by the kernel floor, not by the arithmetic)")

    jobs = full_grid_jobs(a.families, a, cm)
    settings = [(J, False) for J in a.jobs] + [(J, True) for J in a.jobs if J > 1]
    settings.sort()
    hours: dict = {}
    for J, mps in settings:
        for S in a.streams:
            for tf32 in (False, True):
                for asm in cm.BOTH:
                    run = cm.GpuRun(streams=S, jobs_per_gpu=J, mps=mps, tf32=tf32)
                    hours[(J, mps, S, tf32, asm.name)] = cm.grid_seconds(jobs, run, asm, kernels=kernels) / 3600

    def cell(J, mps, S, tf32):
        return f"{hours[(J, mps, S, tf32, 'low')]:.1f}–{hours[(J, mps, S, tf32, 'high')]:.1f}"

    print()
    print(f"PROJECTED full UCI grid, H100-hours, low–high ({grid['datasets']} datasets, {a.epochs_full} epochs, "
          f"batch {a.batch}, test set after {a.test_share:.1%} of the epochs)")
    headers = ["jobs/GPU"] + [f"{S} stream{'s' * (S > 1)} {p}" for p in ("FP32", "TF32") for S in a.streams]
    rows = [[f"{J}" + ("" if J == 1 else " MPS" if mps else " time-sliced")]
            + [cell(J, mps, S, tf32) for tf32 in (False, True) for S in a.streams] for J, mps in settings]
    print(table(headers, rows))
    floor = {p: sum(float(grid_flops(grid["families"][f], "new", a).sum()) for f in a.families)
             / (cm.LOW.tf32_peak if p == "TF32" else cm.LOW.fp32_peak) / 3600 for p in ("FP32", "TF32")}
    print(f"  arithmetic floor (the matrix FLOPs at the full peak): {floor['FP32']:.2f} h FP32, "
          f"{floor['TF32']:.2f} h TF32")
    print(f"  {OLD_PROJECTION_SOURCE}: " + ", ".join(
        f"{h:.2f} h {p} at {J} job(s) per GPU{' under MPS' if mps else ''}"
        for (p, J, mps), h in OLD_PROJECTION.items()))
    headline = next((J, S) for J, S in ((1, 4), (1, a.streams[-1]), (a.jobs[0], a.streams[0]))
                    if J in a.jobs and S in a.streams)
    J, S = headline
    print(f"  full UCI grid, {J} job(s) per GPU, {S} stream(s): {cell(J, False, S, False)} H100-hours FP32, "
          f"{cell(J, False, S, True)} TF32 (an estimate)")

    # where the time goes at the headline setting, FP32
    run = cm.GpuRun(streams=S, jobs_per_gpu=J)
    print()
    print(f"WHERE IT GOES ({J} job(s) per GPU, {S} stream(s), FP32; sums over the jobs, hours, low / high; a group "
          f"costs max(host / J, device), so the parts add up to more than the total)")
    parts: dict = {}
    per_family: dict = {}
    for asm in cm.BOTH:
        for job in jobs:
            r = cm.job_seconds(job, run, asm, kernels=kernels.get(job.method))
            per_family[(job.method, asm.name)] = per_family.get((job.method, asm.name), 0.0) + r["total"] / 3600
            for side in ("device", "host"):
                for key, value in r[side].items():
                    parts[(f"{side} {key}", asm.name)] = parts.get((f"{side} {key}", asm.name), 0.0) + value / 3600
            parts[("job start / J", asm.name)] = parts.get(("job start / J", asm.name), 0.0) + r["start"] / 3600
    names = list(dict.fromkeys(name for name, _ in parts))
    print(table(["part", "low", "high"], [[n, f"{parts[(n, 'low')]:.2f}", f"{parts[(n, 'high')]:.2f}"] for n in names]))
    print(table(["family", "low", "high"], [[f, f"{per_family[(f, 'low')]:.2f}", f"{per_family[(f, 'high')]:.2f}"]
                                           for f in a.families]))

    print()
    print("ASSUMPTIONS (snnbench.training.costmodel.LOW / HIGH)")
    rows = cm.assumption_rows()
    w = [max(len(r[i]) for r in rows) for i in range(4)]
    for label, unit, low, high, why in rows:
        print(f"  {label:{w[0]}s}  {low:>{w[2]}s} / {high:<{w[3]}s} {unit:{w[1]}s}  {why}")
    print(f"  test set after {a.test_share:.1%} of the epochs (protocol F5; measured: {TEST_SHARE_SOURCE})")
    print("  not modelled: the tail of a job (fewer groups in flight than streams), divergence (every configuration "
          "at the protocol's maximum), L2 reuse between products, memory limits")
    if len(a.families) < len(FAMILIES):
        print(f"  (only {', '.join(a.families)}: not the whole grid)")
    engine = None if a.no_engine_figures else engine_figures(a, trees, earlier)
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
               "kernels_per_group_step": {f: {"fixed": k.fixed, "per_linear": k.per_linear, "source": source[f]}
                                          for f, k in kernels.items()},
               "projection": [{"jobs": J, "mps": mps, "streams": S, "precision": "TF32" if tf32 else "FP32",
                               "assumptions": name, "hours": h} for (J, mps, S, tf32, name), h in hours.items()],
               "arithmetic_floor_hours": floor,
               "old_projection_hours": [{"precision": p, "jobs": J, "mps": mps, "hours": h}
                                        for (p, J, mps), h in OLD_PROJECTION.items()],
               "assumptions": [dict(zip(("constant", "unit", "low", "high", "why"), r)) for r in cm.assumption_rows()],
               "engine_figures": engine}
        Path(a.json).write_text(json.dumps(doc, indent=1, default=str))
        print(f"-> {a.json}")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--_worker":
        _worker_main(sys.argv[2])
    else:
        main()
