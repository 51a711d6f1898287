"""Wall time and results of the reference engine (one configuration at a time) on one UCI dataset.

Runs the full paper grids of SNN and MSRAinit (216 configurations each) and one configuration
of every other family, with `snnbench train`, and prints per method: configurations, status
counts, wall time, seconds per configuration, the selected configuration, and its test
accuracy next to Table A11's.

    SNNBENCH_MIRROR=../shared/data python benchmarks/train_reference.py --dataset iris --threads 2

Needs the dataset prepared under --prepared-dir (`snnbench data prepare uci --dataset iris`).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import pandas as pd
import torch

from snnbench.cli import main as snnbench

# One configuration for each family trained on a single config (the paper's values, mid-grid).
ONE_CONFIG = {
    "BatchNorm": ["n_hidden=[512]", "n_layers=[4]", "lr=[0.1]", "layer_form=[rectangular]"],
    "WeightNorm": ["n_hidden=[512]", "n_layers=[4]", "lr=[0.1]", "layer_form=[rectangular]"],
    "LayerNorm": ["n_hidden=[512]", "n_layers=[4]", "lr=[0.1]", "layer_form=[rectangular]"],
    "Highway": ["n_layers=[4]", "lr=[0.1]", "dropout=[0]"],
    "ResNet": ["n_blocks=[4]", "n_hidden_per_block=[512]", "block_form=[diavolo]", "bottleneck=[0.5]", "lr=[0.1]"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="iris")
    parser.add_argument("--prepared-dir", default="data/prepared")
    parser.add_argument("--out-dir", default="results/benchmarks/train_reference")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--full", nargs="*", default=["SNN", "MSRAinit"], help="methods run on their full grid")
    parser.add_argument("--single", nargs="*", default=list(ONE_CONFIG), help="methods run on one configuration")
    parser.add_argument("--set", action="append", default=["engine=reference"],
                        help="training setting KEY=VALUE for every run (engine=reference unless another engine is set)")
    args = parser.parse_args()

    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, {args.threads} threads, "
          f"dataset {args.dataset}")
    lines = []
    for method in [*args.full, *args.single]:
        out = Path(args.out_dir) / args.dataset / f"{method}.csv"
        argv = ["train", "--benchmark", "uci", "--dataset", args.dataset, "--method", method, "--split", "0",
                "--prepared-dir", args.prepared_dir, "--out", str(out), "--threads", str(args.threads), "--quiet",
                "--keep-going"]
        if method not in args.full:
            for narrowing in ONE_CONFIG[method]:
                argv += ["--narrow", narrowing]
        for setting in args.set:
            argv += ["--set", setting]
        start = time.perf_counter()
        code = snnbench(argv)
        wall = time.perf_counter() - start
        if not out.with_suffix(".json").is_file():
            print(f"{method}: snnbench train exited {code}")
            continue
        rows = pd.read_csv(out)
        summary = json.loads(out.with_suffix(".json").read_text())
        sel = summary["selected"] or {}
        secs = rows["seconds"]
        lines.append({
            "method": method, "configs": len(rows), "ok": summary["counts"]["ok"],
            "diverged": summary["counts"]["diverged"], "failed": summary["counts"]["failed"],
            "wall_s": round(wall, 1), "s_per_config_mean": round(secs.mean(), 3),
            "s_per_config_median": round(secs.median(), 3), "s_per_config_max": round(secs.max(), 3),
            "selected": sel.get("hyperparameters"), "best_epoch": sel.get("best_epoch"),
            "val_acc": sel.get("val_metric"), "test_acc": sel.get("test_metric"),
            "published_A11": summary.get("published_test_metric"),
        })
        print(json.dumps(lines[-1]))
    table = pd.DataFrame(lines)
    with pd.option_context("display.width", 250, "display.max_colwidth", 120):
        print(table.drop(columns=["selected"]).to_string(index=False))
        for line in lines:
            print(f"{line['method']}: selected {line['selected']}")


if __name__ == "__main__":
    main()
