"""GPU settings as the workflow applies them (train.gpus, train.jobs_per_gpu): the training
rule's threads, resources and `snnbench train` flags in a dry run on simulated GPUs, the check
that Snakemake's `gpu` resource fits the GPU job slots, and `snnbench train --jobs-per-gpu`
claiming a shared GPU's free slot. (The claims themselves, in real processes:
tests/test_faults.py.)"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys

import numpy as np
import pytest
import yaml
from conftest import REPO, run_snakemake

from snnbench.datasets.prepared import write_prepared
from snnbench.devices import claim_gpu


def dry_run(tmp_path, *args, visible: str | None = "0,1", **train):
    """`snakemake -n -p --cores 8` of one UCI dataset, SNN and RF, with ``train`` over the defaults, on the
    simulated GPUs ``visible`` (CUDA_VISIBLE_DEVICES; None: unset)."""
    body = {"benchmarks": ["uci"], "uci": {"datasets": ["iris"]}, "data_dir": str(tmp_path / "data"),
            "results_dir": str(tmp_path / "results"), "train": {"methods": ["SNN"], "baselines": ["RF"], **train}}
    config = tmp_path / "gpu.yaml"
    config.write_text(yaml.safe_dump(body))
    env = {k: v for k, v in os.environ.items() if k not in ("SLURM_JOB_ID", "CUDA_VISIBLE_DEVICES")}
    if visible is not None:
        env["CUDA_VISIBLE_DEVICES"] = visible
    return run_snakemake("-n", "-p", "--cores", "8", *args, "--configfile", str(config), env=env)


def planned(result, rule: str) -> tuple[int, list[str]]:
    """The threads of the dry run's one `rule` job (Snakemake leaves out `threads: 1`) and its command."""
    block = re.search(rf"^rule {rule}:\n(.*?)^Shell command: (.*?)$", result.stdout, re.M | re.S)
    assert block, result.stdout[-3000:] + result.stderr[-3000:]
    threads = re.search(r"^\s+threads: (\d+)$", block.group(1), re.M)
    return int(threads.group(1)) if threads else 1, shlex.split(block.group(2))


def flag(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def test_a_gpu_training_job_runs_at_one_thread_and_claims_one_of_the_gpu_job_slots(tmp_path):
    result = dry_run(tmp_path, "--resources", "gpu=4", gpus=1, jobs_per_gpu=2, threads=3)
    assert result.returncode == 0, result.stderr[-3000:]
    threads, command = planned(result, "train_fnn")
    assert threads == 1 and flag(command, "--threads") == "1"
    assert (flag(command, "--gpus"), flag(command, "--jobs-per-gpu")) == ("1", "2")
    assert re.search(r"^rule train_fnn:\n(?:\s+.*\n)*?\s+resources: .*\bgpu=1\b", result.stdout, re.M)
    # workflow settings stay out of the training settings
    settings = json.loads(flag(command, "--settings"))
    assert not {"gpus", "jobs_per_gpu", "threads", "mem_mb"} & set(settings), settings
    # RF and SVM stay on the CPU with train.threads
    threads, command = planned(result, "train_baseline")
    assert threads == 3 and flag(command, "--threads") == "3" and "--gpus" not in command


def test_a_cpu_training_job_keeps_train_threads(tmp_path):
    result = dry_run(tmp_path, visible=None, threads=3)
    assert result.returncode == 0, result.stderr[-3000:]
    threads, command = planned(result, "train_fnn")
    assert threads == 3 and flag(command, "--threads") == "3"
    assert (flag(command, "--gpus"), flag(command, "--jobs-per-gpu")) == ("0", "1")


@pytest.mark.parametrize(
    "args,message",
    [
        ([], "train.gpus is 1 and this machine has 2 GPU(s) ['0', '1'] × train.jobs_per_gpu 2 = 4 GPU job slot(s), "
             "but Snakemake was not given the `gpu` resource: run with `--resources gpu=4`"),
        (["--resources", "gpu=5"], "`--resources gpu=5` but this machine has 2 GPU(s) ['0', '1'] × train.jobs_per_gpu 2"
                                   " = 4 GPU job slot(s): run with `--resources gpu=4` (or fewer)"),
    ],
)
def test_a_gpu_resource_beyond_the_slots_stops_the_run_before_training(tmp_path, args, message):
    result = dry_run(tmp_path, *args, gpus=1, jobs_per_gpu=2)
    assert result.returncode != 0 and message in result.stdout + result.stderr, result.stderr[-3000:]


def test_jobs_that_train_nothing_need_no_gpu_resource(tmp_path):
    """Preparing data with a GPU config (no training job planned) is not stopped by the check."""
    result = dry_run(tmp_path, str(tmp_path / "results" / "data" / "summary.csv"), gpus=1, jobs_per_gpu=2)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "train_fnn" not in result.stdout


def test_jobs_per_gpu_below_one_is_rejected_naming_the_setting(tmp_path):
    result = dry_run(tmp_path, "--resources", "gpu=2", gpus=1, jobs_per_gpu=0)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "0 is less than the minimum of 1" in output and "['jobs_per_gpu']" in output


def test_train_cli_with_jobs_per_gpu_takes_the_free_slot_of_a_shared_gpu(tmp_path):
    """Slot 0 of the one simulated GPU held here (another job): `snnbench train --gpus 1
    --jobs-per-gpu 2` takes slot 1 of the same GPU and records it in its summary."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 120)
    X = (rng.normal(size=(120, 4)) + y[:, None]).astype(np.float32)
    validation, test = np.zeros((120, 4), bool), np.zeros((120, 4), bool)
    validation[80:100, 0], test[100:, 0] = True, True
    write_prepared(tmp_path, "uci", "iris", {"X": X, "y": y, "test_folds": test, "validation_folds": validation},
                   {"n": 120, "d": 4, "classes": 3})
    locks = tmp_path / "locks"
    other = claim_gpu(wanted=1, slots=2, lock_dir=locks, environ={"CUDA_VISIBLE_DEVICES": "0"})
    env = {k: v for k, v in os.environ.items() if k != "SLURM_JOB_ID"} | {"CUDA_VISIBLE_DEVICES": "0"}
    out = tmp_path / "out" / "iris.csv"
    try:
        result = subprocess.run(
            [sys.executable, "-m", "snnbench", "train", "--benchmark", "uci", "--dataset", "iris", "--method", "SNN",
             "--prepared-dir", str(tmp_path), "--out", str(out), "--narrow", "n_hidden=[256]", "--narrow",
             "n_layers=[2]", "--narrow", "lr=[0.01]", "--narrow", "dropout=[0]", "--narrow", "layer_form=[conic]",
             "--set", "epochs=2", "--device", "cpu", "--threads", "1", "--gpus", "1", "--jobs-per-gpu", "2",
             "--gpu-lock-dir", str(locks), "--quiet"], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    finally:
        other.release()
    assert result.returncode == 0, result.stderr[-3000:]
    claim = json.loads(out.with_suffix(".json").read_text())["gpu_claim"]
    assert (claim["device"], claim["slot"], claim["slots"], claim["how"]) == ("0", 1, 2, "claimed")
    assert claim["lock"].endswith("gpu0.slot1.lock")
