"""Two device-independent figures of the batched engine that ``gpu_projection.py`` prints.

- **capturable share of kernels**: of the kernels an epoch dispatches (inside
  ``batched.GroupRun.launch`` and ``finish``: the steps, mask draws, evaluations, transfers,
  test evaluations, dropping diverged members), the share dispatched inside a region the CUDA
  path captures (``snnbench.training.capture.inside()``), counted on the CPU with the dispatch counting of
  ``../shared/tools/kernels_per_step.py`` (views, detach and empty allocations are no kernels).
  Measured through the public CLI on titanic, SNN 8 x 1024 (the UCI grid's learning rates,
  dropout rates and layer forms: 12 configurations, 2 groups of 6), 10 epochs, the engine's
  default grouping. On CUDA the regions' first ``capture.Region.WARMUP`` calls run eagerly,
  then they replay: the share counts the regions' kernels whichever way they run.
- **group set-up seconds** against **one draw of its weights seconds**: the wall time of
  ``batched.build_trainer`` for one 6-member SNN 1024 x 8 group on this CPU (weights drawn,
  stacked network, optimiser, masks, regions), and of a plain ``normal_`` of as many parameters
  in the same process and threads; the fastest of ``repeats`` each.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

NO_KERNEL = ("aten.detach", "aten.alias", "aten.lift_fresh", "aten._unsafe_view", "aten.empty",
             "aten.new_empty", "aten._reshape_alias", "aten.view", "aten.expand", "aten.t.",
             "aten.transpose", "aten.permute", "aten.unsqueeze", "aten.squeeze", "aten.select.",
             "aten.slice.", "aten.as_strided", "aten.unbind", "aten.split", "aten.reshape", "prim.")
SLICE_GRID = {"n_hidden": [1024], "n_layers": [8], "lr": [0.01, 0.1, 1], "dropout": [0.05, 0],
              "layer_form": ["rectangular", "conic"]}


def capturable_share(prepared: str | Path, *, dataset: str = "titanic", epochs: int = 10) -> dict:
    """Kernels of the epochs, and those inside captured regions, on the slice above."""
    from torch.utils._python_dispatch import TorchDispatchMode

    from snnbench import cli
    from snnbench.training import batched, capture

    state = {"epoch": 0}

    class Counter(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.total = self.inside = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            name = str(func)
            if state["epoch"] and not getattr(func, "is_view", False) and not name.startswith(NO_KERNEL):
                self.total += 1
                self.inside += capture.inside()
            return func(*args, **(kwargs or {}))

    def in_epoch(method):
        def wrapped(self, *a, **k):
            state["epoch"] += 1
            try:
                return method(self, *a, **k)
            finally:
                state["epoch"] -= 1
        return wrapped

    launch, finish = batched.GroupRun.launch, batched.GroupRun.finish
    batched.GroupRun.launch, batched.GroupRun.finish = in_epoch(launch), in_epoch(finish)
    out = Path(tempfile.mkdtemp(prefix="engine_probe_")) / "split0.csv"
    start = time.perf_counter()
    try:
        with Counter() as counter:
            code = cli.main(["train", "--benchmark", "uci", "--dataset", dataset, "--method", "SNN",
                             "--prepared-dir", str(prepared), "--out", str(out), "--device", "cpu", "--threads", "1",
                             "--quiet", "--set", "engine=batched", "--set", f"epochs={epochs}",
                             "--grid", json.dumps(SLICE_GRID)])
    finally:
        batched.GroupRun.launch, batched.GroupRun.finish = launch, finish
    if code not in (0, None):
        raise RuntimeError(f"snnbench train exited with {code}")
    return {"dataset": dataset, "epochs": epochs, "grid": SLICE_GRID, "epoch_kernels": counter.total,
            "captured_kernels": counter.inside, "share": counter.inside / max(counter.total, 1),
            "seconds": round(time.perf_counter() - start, 1)}


def setup_seconds(*, repeats: int = 5, threads: int = 1) -> dict:
    """One 6-member SNN 1024 x 8 group's set-up against one plain draw of its weights."""
    import torch

    from snnbench.settings import TrainSettings
    from snnbench.training import batched
    from snnbench.training.recipe import TaskTensors
    from snnbench.training.task import blobs_task

    torch.set_num_threads(threads)
    cpu = torch.device("cpu")
    data = TaskTensors(blobs_task(2000, 8, 2, 0), cpu)
    configs = [{"n_hidden": 1024, "n_layers": 8, "lr": lr, "dropout": p, "layer_form": "rectangular"}
               for lr in (0.01, 0.1, 1) for p in (0.05, 0)]
    settings = TrainSettings(engine="batched")
    setups, draws, params = [], [], 0
    for r in range(repeats):
        start = time.perf_counter()
        trainer, _ = batched.build_trainer("SNN", configs, list(range(r, r + 6)), data, settings=settings, device=cpu)
        setups.append(time.perf_counter() - start)
        params = sum(p.numel() for p in trainer.params)
        del trainer
        start = time.perf_counter()
        weights = torch.empty(params).normal_()
        draws.append(time.perf_counter() - start)
        del weights
    return {"members": 6, "parameters": params, "threads": threads, "setup_s": min(setups), "draw_s": min(draws),
            "setup_runs": [round(x, 3) for x in setups], "draw_runs": [round(x, 3) for x in draws],
            "ratio": min(setups) / min(draws)}


def print_figures(prepared: str | Path, *, dataset: str = "titanic") -> dict:
    """Measure both and print the lines ``gpu_projection.py`` is read by."""
    share = capturable_share(prepared, dataset=dataset)
    print(f"capturable share of kernels: {share['share']:.3f}  ({share['captured_kernels']} of "
          f"{share['epoch_kernels']} kernels of the epochs inside captured regions; {dataset}, SNN 8 x 1024, "
          f"{share['epochs']} epochs, {share['seconds']} s)")
    setup = setup_seconds()
    print(f"group set-up seconds: {setup['setup_s']:.3f}  (one 6-member SNN 1024 x 8 group, {setup['parameters']:,} "
          f"parameters, {setup['threads']} thread; runs {setup['setup_runs']})")
    print(f"one draw of its weights seconds: {setup['draw_s']:.3f}  (runs {setup['draw_runs']}; set-up / draw "
          f"{setup['ratio']:.2f})")
    return {"capturable_share": share, "group_setup": setup}


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prepared-dir", default="data/prepared")
    parser.add_argument("--dataset", default="titanic")
    parser.add_argument("--json-line", action="store_true", help="end with the figures as one JSON line")
    args = parser.parse_args()
    figures = print_figures(args.prepared_dir, dataset=args.dataset)
    if args.json_line:
        print(json.dumps(figures))
