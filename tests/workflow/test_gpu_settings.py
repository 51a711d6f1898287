"""GPU settings as the workflow applies them (train.gpus, train.jobs_per_gpu, train.device): the
training rule's threads, resources and `snnbench train` flags in a dry run on simulated GPUs, the
check that Snakemake's `gpu` resource fits the GPU job slots, contradictory device settings
stopping the run before any job, and the line the run starts with (GPU job slots and MPS). (The
devices a job resolves and claims: tests/training/test_devices.py.)"""

from __future__ import annotations

import json
import os
import re
import shlex

import pytest
import yaml

from helpers import run_snakemake


def dry_run(tmp_path, *args, visible: str | None = "0,1", mps_pipe=None, **train):
    """`snakemake -n -p --cores 8` of one UCI dataset, SNN and RF, with ``train`` over the defaults, on the
    simulated GPUs ``visible`` (CUDA_VISIBLE_DEVICES; None: unset), with CUDA_MPS_PIPE_DIRECTORY
    ``mps_pipe`` (default: an empty folder, no MPS)."""
    body = {"benchmarks": ["uci"], "uci": {"datasets": ["iris"]}, "data_dir": str(tmp_path / "data"),
            "results_dir": str(tmp_path / "results"), "train": {"methods": ["SNN"], "baselines": ["RF"], **train}}
    config = tmp_path / "gpu.yaml"
    config.write_text(yaml.safe_dump(body))
    env = {k: v for k, v in os.environ.items() if k not in ("SLURM_JOB_ID", "CUDA_VISIBLE_DEVICES")}
    if visible is not None:
        env["CUDA_VISIBLE_DEVICES"] = visible
    if mps_pipe is None:
        mps_pipe = tmp_path / "no-mps"
        mps_pipe.mkdir(exist_ok=True)
    env["CUDA_MPS_PIPE_DIRECTORY"] = str(mps_pipe)
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
    """train.gpus auto (the default) where no GPU is visible: 0, the jobs claim nothing."""
    result = dry_run(tmp_path, visible=None, threads=3)
    assert result.returncode == 0, result.stderr[-3000:]
    threads, command = planned(result, "train_fnn")
    assert threads == 3 and flag(command, "--threads") == "3"
    assert (flag(command, "--gpus"), flag(command, "--jobs-per-gpu")) == ("0", "1")
    assert "snnbench: " not in result.stdout  # no GPU: nothing to say about GPUs


def test_gpus_auto_where_gpus_are_visible_claims_them_and_needs_the_gpu_resource(tmp_path):
    result = dry_run(tmp_path, jobs_per_gpu=2)
    assert result.returncode != 0
    assert ("train.gpus is auto (1: GPU(s) ['0', '1'] visible) and this machine has 2 GPU(s) ['0', '1'] × "
            "train.jobs_per_gpu 2 = 4 GPU job slot(s), but Snakemake was not given the `gpu` resource: run with "
            "`--resources gpu=4` (GPUs × train.jobs_per_gpu), or set `train.gpus: 0` to train on the CPU instead"
            in result.stdout + result.stderr), result.stderr[-3000:]
    result = dry_run(tmp_path, "--resources", "gpu=4", jobs_per_gpu=2, threads=3)
    assert result.returncode == 0, result.stderr[-3000:]
    threads, command = planned(result, "train_fnn")
    assert threads == 1 and (flag(command, "--gpus"), flag(command, "--jobs-per-gpu")) == ("1", "2")


def test_gpus_0_where_gpus_are_visible_trains_on_the_cpu_and_says_so(tmp_path):
    result = dry_run(tmp_path, gpus=0, threads=3)
    assert result.returncode == 0, result.stderr[-3000:]
    threads, command = planned(result, "train_fnn")
    assert threads == 3 and flag(command, "--gpus") == "0"
    lines = [line for line in result.stdout.splitlines() if line.startswith("snnbench: ")]
    assert lines == ["snnbench: GPU(s) ['0', '1'] visible but train.gpus is 0, so the training jobs run on the CPU; "
                     "set train.gpus: 1 or auto to use the GPUs"], result.stdout[-3000:]


def test_device_cpu_with_gpus_auto_claims_nothing(tmp_path):
    result = dry_run(tmp_path, device="cpu", threads=3)
    assert result.returncode == 0, result.stderr[-3000:]
    threads, command = planned(result, "train_fnn")
    assert threads == 3 and flag(command, "--gpus") == "0"
    assert ("snnbench: GPU(s) ['0', '1'] visible but train.gpus is auto (0: train.device is cpu), so the training "
            "jobs run on the CPU; set train.device: auto to use the GPUs") in result.stdout


@pytest.mark.parametrize(
    "train,visible,message",
    [
        ({"device": "cuda:1", "gpus": 1}, "0,1",
         "train.device is cuda:1 but train.gpus is 1: a training job sees only the GPU it claimed (or SLURM assigned), "
         "as cuda:0, because the claim sets CUDA_VISIBLE_DEVICES to that one device, so cuda:1 does not exist in the "
         "job and it would fail with 'invalid device ordinal'; set train.device: auto or train.device: cuda (the "
         "claimed GPU); to train on some GPUs only, set CUDA_VISIBLE_DEVICES for the whole run"),
        ({"device": "cuda:1"}, "0,1", "train.device is cuda:1 but train.gpus is auto (1: GPU(s) ['0', '1'] visible): "
                                      "a training job sees only the GPU it claimed"),
        ({"device": "cpu", "gpus": 1}, "0,1",
         "train.device is cpu but train.gpus is 1: every training job would hold a GPU job slot and train on the CPU; "
         "set train.gpus: 0 (or auto) to train on the CPU, or train.device: auto to train on the claimed GPU"),
        ({"device": "cuda", "gpus": 0}, "0,1",
         "train.device is cuda but train.gpus is 0: the training jobs would claim no GPU and all train on cuda of this "
         "machine, however many run at once; set train.gpus: 1 (or auto) so that each job claims a GPU job slot"),
        ({"device": "cuda"}, None,
         "train.device is cuda but train.gpus is auto (0: no GPU visible (CUDA_VISIBLE_DEVICES unset and no "
         "nvidia-smi)): set train.device: auto or train.device: cpu to train on the CPU, or run where a GPU is "
         "visible"),
    ],
)
def test_contradictory_device_settings_stop_the_run_before_any_job(tmp_path, train, visible, message):
    """Even with the `gpu` resource given and only data jobs asked for: the config itself is wrong."""
    result = dry_run(tmp_path, str(tmp_path / "results" / "data" / "summary.csv"), "--resources", "gpu=2",
                     visible=visible, **train)
    output = result.stdout + result.stderr
    assert result.returncode != 0 and message in output, output[-3000:]
    assert "download_source" not in output  # stopped while parsing: no job planned


@pytest.mark.parametrize("gpus,passed", [("auto", "auto"), (0, "1")])
def test_under_the_slurm_profile_the_scheduler_gives_the_gpu(tmp_path, gpus, passed):
    """The SLURM profile's `gpu: 1` decides, not this machine's GPUs: no `--resources gpu` needed,
    nothing printed about local slots; a job gets --gpus auto (it resolves it where SLURM runs it)
    or, for an explicit train.gpus, the profile's gpu (as before)."""
    result = dry_run(tmp_path, "--workflow-profile", "profiles/slurm", gpus=gpus)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    _, command = planned(result, "train_fnn")
    assert flag(command, "--gpus") == passed
    assert not [line for line in result.stdout.splitlines() if line.startswith("snnbench: ")]


def test_the_run_starts_with_the_gpu_job_slots_and_whether_mps_runs(tmp_path):
    pipe = tmp_path / "mps-pipe"
    pipe.mkdir()
    result = dry_run(tmp_path, "--resources", "gpu=4", gpus=1, jobs_per_gpu=2)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [line for line in result.stdout.splitlines() if line.startswith("snnbench: ")]
    assert lines == [
        f"snnbench: 2 GPU(s) ['0', '1'] × train.jobs_per_gpu 2 = 4 GPU job slot(s); MPS not running (no control FIFO "
        f"in {tmp_path / 'no-mps'}): the 2 jobs on each GPU are time-sliced (one process's kernels at a time); to run "
        "their kernels at once, start MPS before the run, in the shell that runs snakemake and with "
        "CUDA_VISIBLE_DEVICES unset: `export CUDA_MPS_PIPE_DIRECTORY=/tmp/mps-pipe "
        "CUDA_MPS_LOG_DIRECTORY=/tmp/mps-log; nvidia-cuda-mps-control -d`, and stop it after: "
        "`echo quit | nvidia-cuda-mps-control` (README: several training jobs per GPU)"], result.stdout[-3000:]
    os.mkfifo(pipe / "control")
    result = dry_run(tmp_path, "--resources", "gpu=4", mps_pipe=pipe, gpus=1, jobs_per_gpu=2)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [line for line in result.stdout.splitlines() if line.startswith("snnbench: ")]
    assert lines == [f"snnbench: 2 GPU(s) ['0', '1'] × train.jobs_per_gpu 2 = 4 GPU job slot(s); MPS running "
                     f"(pipe directory {pipe})"], result.stdout[-3000:]


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
