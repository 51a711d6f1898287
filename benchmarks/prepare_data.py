"""Time the data layer on this machine: download (from a mirror) and prepare of each benchmark.

    SNNBENCH_MIRROR=../shared/data python benchmarks/prepare_data.py [--jobs 2]

Prints seconds per step, per-dataset figures for UCI, and the summary's row counts.
"""

from __future__ import annotations

import argparse
import collections
import logging
import os
import tempfile
import time
from pathlib import Path

from snnbench.benchmarks import BENCHMARK_SOURCES, SOURCES, dataset_names
from snnbench.data.download import download_source, resolve_mirror
from snnbench.data.prepare import prepare_dataset
from snnbench.pipeline.data_summary import caption, summarize


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="Tox21 featurisation processes")
    parser.add_argument("--workdir", default=None, help="where to write (default: a temporary folder)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    mirror = resolve_mirror(None)
    if mirror is None:
        raise SystemExit("set SNNBENCH_MIRROR to the data mirror first")
    work = Path(args.workdir or tempfile.mkdtemp(prefix="snnbench-bench-"))
    raw, prepared = work / "raw", work / "prepared"
    print(f"mirror {mirror}, work dir {work}, {os.cpu_count()} cores")

    for benchmark, sources in BENCHMARK_SOURCES.items():
        start = time.perf_counter()
        for name in sources:
            download_source(SOURCES[name], raw, mirror=mirror)
        print(f"download+verify {benchmark:6s} {time.perf_counter() - start:7.2f} s")

    options = {"uci": {}, "htru2": {"n_folds": 10, "seed": 0},
               "tox21": {"features": "auto", "sparse_min_frequency": 0.05, "ecfp_radius": 2, "n_jobs": args.jobs}}
    cards = []
    for benchmark in ("uci", "htru2", "tox21"):
        start = time.perf_counter()
        statuses = collections.Counter()
        slowest = (0.0, "")
        for name in dataset_names(benchmark):
            t0 = time.perf_counter()
            status, card = prepare_dataset(benchmark, name, raw_dir=raw, prepared_dir=prepared, **options[benchmark])
            slowest = max(slowest, (time.perf_counter() - t0, name))
            statuses[status] += 1
            cards.append(card)
        total = time.perf_counter() - start
        print(f"prepare {benchmark:6s} {total:7.2f} s  {dict(statuses)}  slowest: {slowest[1]} {slowest[0]:.2f} s")

    frame = summarize(cards)
    for benchmark in frame["benchmark"].unique():
        print(f"summary {benchmark:6s} {caption(frame, benchmark)}")
    print(f"summary rows {len(frame)}")


if __name__ == "__main__":
    main()
