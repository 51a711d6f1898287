"""The cluster path for real: the quick config through `snakemake --executor slurm` on a
single-node SLURM started on localhost (tests/cluster/slurm.sh), compared with a local run of
the same config: the same score tables, byte for byte but for the wall-time column.

The profile is profiles/slurm/config.yaml itself with only what a 2-core, GPU-free test node
needs changed (see ``slurm_test_profile``). Skipped with a message where SLURM cannot be installed
here (not root, no apt); mandatory where $SNNBENCH_REQUIRE_SLURM=1 (CI).

NOTE: in CI the quick config is narrowed (slurm_subset.yaml: its UCI part on iris, titanic and
miniboone, and HTRU2 folds 0-1, for SNN, MSRAinit and RF: 18 SLURM jobs). Every SLURM job
parses the workflow again and starts Python, about 8 CPU-seconds each, and the full quick
config's 100 jobs would take CI past its 15 minutes on 2 cores. SNNBENCH_SLURM_FULL=1 runs the
whole quick config (and compares all its tables).
"""

from __future__ import annotations

import collections
import csv
import os
import re
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from helpers import REPO, PipelineRun, quick_config, run_snakemake

SCRIPT = Path(__file__).with_name("slurm.sh")
pytestmark = [pytest.mark.mirror, pytest.mark.slow, pytest.mark.cluster]

# The score tables a run writes; compared byte for byte between two runs after dropping the
# `seconds` column (wall time, a property of the machine and its load, not of the result).
TABLES = {"uci": ["uci/scores.csv", "uci/table1.csv", "uci/tableA11.csv", "uci/tableA12.csv", "uci/tableA13.csv",
                  "uci/table1.md", "uci/failures.csv"],
          "tox21": ["tox21/scores.csv", "tox21/table2.csv", "tox21/table2_tasks.csv", "tox21/table2.md"],
          "htru2": ["htru2/scores.csv", "htru2/table3.csv", "htru2/table3.md"]}
SLURM_SUBSET = str(Path(__file__).with_name("slurm_subset.yaml"))
FULL = os.environ.get("SNNBENCH_SLURM_FULL") == "1"


def comparable(path: Path) -> str:
    """The file's text; for a csv with a `seconds` column, without that column."""
    text = path.read_text()
    if path.suffix != ".csv" or "seconds" not in text.splitlines()[0].split(","):
        return text
    rows = list(csv.reader(text.splitlines()))
    drop = rows[0].index("seconds")
    return "\n".join(",".join(r[:drop] + r[drop + 1:]) for r in rows)


def differing_tables(a: Path, b: Path, benchmarks: list[str]) -> list[str]:
    names = [name for benchmark in benchmarks for name in TABLES[benchmark]]
    return [name for name in names if comparable(a / name) != comparable(b / name)]


@pytest.fixture(scope="session")
def slurm(tmp_path_factory):
    """SLURM_CONF of a running single-node cluster; its daemons are stopped afterwards."""
    folder = tmp_path_factory.mktemp("slurm")
    started = subprocess.run(["bash", str(SCRIPT), "start", str(folder)], capture_output=True, text=True, timeout=900)
    if started.returncode == 3:
        message = f"no single-node SLURM on this machine: {started.stderr.strip().splitlines()[-1]}"
        if os.environ.get("SNNBENCH_REQUIRE_SLURM") == "1":
            pytest.fail(message + " (SNNBENCH_REQUIRE_SLURM=1 makes this test mandatory)")
        pytest.skip(message)
    try:
        assert started.returncode == 0, f"tests/cluster/slurm.sh start failed:\n{started.stderr[-3000:]}"
        yield started.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run(["bash", str(SCRIPT), "stop", str(folder)], capture_output=True, text=True, timeout=120)


def slurm_test_profile(folder: Path) -> Path:
    """profiles/slurm with the `gpu` resource mapped off (the test node has no GPU) and the
    threads and memory of a 2-core node; every other entry as shipped."""
    profile = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())
    train = profile["set-resources"]["train_fnn"]
    assert train.pop("gpu") == 1 and train.pop("cpus_per_gpu") == 4
    train["cpus_per_task"] = 1
    profile["set-resources"]["train_baseline"].update(cpus_per_task=1, mem_mb=4000)
    profile["set-resources"]["prepare_tox21"].update(cpus_per_task=1, mem_mb=4000)
    profile["set-threads"] = {rule: 1 for rule in profile["set-threads"]}  # as config/quick.yaml: threads 1
    profile["slurm-init-seconds-before-status-checks"] = 2  # poll often: the test's jobs take seconds
    profile["slurm-keep-successful-logs"] = True
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
    return folder


def subset_config(root: Path, mirror: Path) -> list[str]:
    return quick_config(root, mirror, *([] if FULL else [SLURM_SUBSET]))


@pytest.fixture(scope="session")
def slurm_run(slurm, mirror, tmp_path_factory) -> PipelineRun:
    root = tmp_path_factory.mktemp("quick_slurm")
    profile = slurm_test_profile(root / "profile")
    config = subset_config(root, mirror)
    env = {**os.environ, "SLURM_CONF": slurm}
    start = time.perf_counter()
    result = run_snakemake("--workflow-profile", str(profile), *config, env=env, timeout=3600)
    return PipelineRun(root, config, result, time.perf_counter() - start)


@pytest.fixture(scope="session")
def local_twin(mirror, tmp_path_factory, request) -> PipelineRun:
    """The same config run locally (the session's quick run where the full config is used)."""
    if FULL:
        return request.getfixturevalue("quick_local_run")
    root = tmp_path_factory.mktemp("quick_subset_local")
    config = subset_config(root, mirror)
    start = time.perf_counter()
    result = run_snakemake("--cores", "2", *config)
    return PipelineRun(root, config, result, time.perf_counter() - start)


def test_the_quick_config_runs_through_sbatch_and_gives_the_local_tables(slurm, slurm_run, local_twin):
    log = slurm_run.result.stdout + slurm_run.result.stderr
    assert slurm_run.result.returncode == 0, log[-5000:]
    submitted = set(re.findall(r"has been submitted with SLURM jobid (\d+)", log))
    assert len(submitted) >= 10, f"expected the jobs to go through sbatch; the log says:\n{log[-3000:]}"
    env = {**os.environ, "SLURM_CONF": slurm}
    sacct = subprocess.run(["sacct", "-X", "-a", "-n", "-P", "--starttime", "now-6hours",
                            "--format=JobIDRaw,Comment%100,State,ExitCode,Elapsed"],
                           capture_output=True, text=True, env=env, check=True).stdout
    jobs = {row[0]: row for row in (line.split("|") for line in sacct.splitlines()) if row[0] in submitted}
    assert set(jobs) == submitted, f"sacct does not know jobs {sorted(submitted - set(jobs))}"
    states = collections.Counter(row[2] for row in jobs.values())
    assert states == {"COMPLETED": len(submitted)}, states
    rules = collections.Counter(re.sub(r"^rule_|_wildcards_.*$", "", row[1]) or "?" for row in jobs.values())
    summary = (f"sacct: {len(jobs)} jobs, states {dict(states)}; by rule {dict(sorted(rules.items()))}; "
               f"SLURM run {slurm_run.seconds:.0f} s, local run {local_twin.seconds:.0f} s")
    print(summary)
    if os.environ.get("SNNBENCH_CLUSTER_REPORT"):
        Path(os.environ["SNNBENCH_CLUSTER_REPORT"]).write_text(summary + "\n" + sacct)
    assert rules["train_fnn"] >= 1 and rules["train_baseline"] >= 1
    assert not any(name.startswith(("download", "data_summary")) for name in rules), "local rules must stay local"
    # the same tables as the local run: SLURM changes where jobs run, not what they compute (and
    # two runs of one config on CPU give the same score tables: issue 7's determinism check)
    assert local_twin.result.returncode == 0, local_twin.result.stderr[-3000:]
    benchmarks = ["uci", "tox21", "htru2"] if FULL else ["uci", "htru2"]
    assert differing_tables(local_twin.results, slurm_run.results, benchmarks) == []
