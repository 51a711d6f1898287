"""The exact matrix-product FLOP count of the paper's full UCI grid, and its projected wall time.

All seven families on their full UCI grids (Tables A4-A10, 972 configurations), on all 121
datasets, 100 epochs each (the protocol's maximum: diverging configurations stop earlier), with
validation and test evaluated after every epoch, data_py split 0. Dataset sizes come from the
prepared datasets (--prepared-dir); one that is not prepared or not available (MiniBooNE in the
reference mirror) takes Table A11's N and M with the median split proportions of the others,
and is listed. FLOPs are counted by ``snnbench.training.flops`` (exact for the matrix products, which
are all but a few per cent of the work).

The projected wall time is the FLOP count divided by a throughput: pass the achieved TFLOP/s of
``benchmarks/grid_throughput.py`` (--tflops, several allowed); the projection at the H100's
dense TF32 peak (494.7 TFLOP/s) is printed as the lower bound.

    python benchmarks/full_grid_estimate.py --prepared-dir data/prepared --tflops 0.05 20
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict

import numpy as np

from snnbench.benchmarks import make_task
from snnbench.benchmarks.uci.data import dataset_names
from snnbench.contracts.prepared import PreparedDataset, card_path, read_card
from snnbench.methods.paper import FAMILIES as METHODS
from snnbench.pipeline.runs import load_grids
from snnbench.reference import table_a11
from snnbench.settings import TrainSettings
from snnbench.training.flops import run_flops
from snnbench.training.grids import expand

H100_TF32_PEAK = 494.7


def split_sizes(prepared_dir: str) -> tuple[dict[str, tuple[int, int, int, int, int]], list[str]]:
    """dataset -> (d, classes, n_train, n_validation, n_test); approximated where not prepared."""
    sizes, approximated = {}, []
    for name in dataset_names():
        try:
            card = read_card(card_path(prepared_dir, "uci", name))
            if card["status"] != "ok":
                raise FileNotFoundError(card["status"])
            task = make_task("uci", PreparedDataset.load(card_path(prepared_dir, "uci", name)), 0)
            s = task.sizes()
            sizes[name] = (task.n_in, task.n_out, s["train"], s["validation"], s["test"])
        except Exception:
            approximated.append(name)
    a11 = table_a11()
    if sizes:
        shares = np.median([[t / (t + v + e), v / (t + v + e)] for _, _, t, v, e in sizes.values()], axis=0)
    else:
        shares = np.array([0.6, 0.15])
    for name in approximated:
        n, m = int(a11.at[name, "N"]), int(a11.at[name, "M"])
        train, val = int(round(shares[0] * n)), int(round(shares[1] * n))
        sizes[name] = (m - 1, 2, train, val, n - train - val)
    return sizes, approximated


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prepared-dir", default="data/prepared")
    parser.add_argument("--grids", default="config/grids.yaml")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--tflops", type=float, nargs="*", default=[], help="achieved TFLOP/s to project with")
    args = parser.parse_args()
    start = time.perf_counter()
    grids = load_grids(args.grids)["uci"]
    arch = TrainSettings().architecture()
    sizes, approximated = split_sizes(args.prepared_dir)
    per_method = defaultdict(int)
    configs = steps = test = 0
    for name, (d, classes, n_train, n_val, n_test) in sizes.items():
        for method in METHODS:
            for config in expand(grids[method]):
                per_method[method] += run_flops(method, config, n_in=d, n_out=classes, n_train=n_train,
                                                n_val=n_val, n_test=n_test, epochs=args.epochs, architecture=arch)
                test += run_flops(method, config, n_in=d, n_out=classes, n_train=0, n_val=0, n_test=n_test,
                                  epochs=args.epochs, architecture=arch)
                configs += 1
                steps += args.epochs * -(-n_train // 128)
    total = sum(per_method.values())
    print(f"full UCI grid: {len(sizes)} datasets x {sum(len(expand(grids[m])) for m in METHODS)} configurations "
          f"= {configs} runs, {args.epochs} epochs, {steps:.3e} optimizer steps at batch 128")
    if approximated:
        print(f"sizes approximated from Table A11 (not prepared or unavailable): {', '.join(approximated)}")
    for method in METHODS:
        print(f"  {method:10s} {per_method[method]:.3e} FLOP ({100 * per_method[method] / total:.1f} %)")
    print(f"total: {total:.3e} FLOP (matrix products, forward + backward + evaluation)")
    print(f"  of which the test set evaluated after every epoch: {test:.3e} FLOP ({100 * test / total:.1f} %; "
          f"train.test_curve: selectable evaluates it after fewer epochs, protocol F5)")
    for tflops in [*args.tflops, H100_TF32_PEAK]:
        hours = total / (tflops * 1e12) / 3600
        label = "H100 dense TF32 peak (lower bound)" if tflops == H100_TF32_PEAK else "measured"
        print(f"  at {tflops:g} TFLOP/s ({label}): {hours:.2f} h")
    print(f"(computed in {time.perf_counter() - start:.1f} s)")


if __name__ == "__main__":
    main()
