"""Devices of a training job (snnbench.training.devices): MPS detection on a real FIFO, the device
that train.device auto resolves to, train.gpus auto from CUDA_VISIBLE_DEVICES or nvidia-smi,
`snnbench train` refusing contradictory settings and claiming a shared GPU's free slot, and GPU
claims in real processes (distinct GPUs, job slots, a killed job's claim freed, SLURM). (The
settings as the workflow applies them: tests/workflow/test_gpu_settings.py.)"""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from helpers import REPO
from snnbench.contracts.prepared import write_prepared
from snnbench.errors import ConfigError, SnnbenchError
from snnbench.training.devices import Claim, claim_gpu, gpu_resource_problem, job_device, mps_status, resolve_gpus


def test_mps_is_running_where_its_pipe_directory_holds_the_control_fifo(tmp_path):
    pipe = tmp_path / "pipe"
    pipe.mkdir()
    status = mps_status({"CUDA_MPS_PIPE_DIRECTORY": str(pipe)}, proc=tmp_path)
    assert status["running"] is False and status["pipe_dir"] == str(pipe)
    assert status["how"] == f"{pipe / 'control'} does not exist; no nvidia-cuda-mps-control process in {tmp_path}"
    (pipe / "control").write_text("")  # a plain file is no daemon's pipe
    assert mps_status({"CUDA_MPS_PIPE_DIRECTORY": str(pipe)}, proc=tmp_path)["how"].startswith(
        f"{pipe / 'control'} is not a FIFO")
    (pipe / "control").unlink()
    os.mkfifo(pipe / "control")
    proc = tmp_path / "proc"
    (proc / "4242").mkdir(parents=True)
    (proc / "4242" / "comm").write_text("nvidia-cuda-mps\n")  # the kernel keeps 15 characters of the name
    status = mps_status({"CUDA_MPS_PIPE_DIRECTORY": str(pipe)}, proc=proc)
    assert status == {"running": True, "pipe_dir": str(pipe),
                      "how": f"control FIFO {pipe / 'control'}; nvidia-cuda-mps-control process 4242"}
    assert mps_status({}, proc=proc)["pipe_dir"] == "/tmp/nvidia-mps"  # the daemon's default


def test_device_auto_is_the_claimed_gpu_else_the_cpu():
    claimed = Claim("1", "claimed")
    assert job_device("auto", claimed, cuda_available=True) == ("cuda", "")
    device, warning = job_device("auto", claimed, cuda_available=False)
    assert device == "cpu" and "this job has GPU 1 (claimed), but torch sees no usable CUDA device" in warning
    nothing = Claim(None, "none: the job asked for no GPU (train.gpus: 0)")
    assert job_device("auto", nothing, cuda_available=True) == ("cpu", "")
    slurm = Claim("3", "scheduler: SLURM assigned this job its GPU")
    assert job_device("auto", slurm, cuda_available=True)[0] == "cuda"
    assert job_device("cuda", claimed, cuda_available=True) == ("cuda", "")
    assert resolve_gpus("auto", environ={"CUDA_VISIBLE_DEVICES": ""}).gpus == 0
    assert resolve_gpus("auto", environ={"CUDA_VISIBLE_DEVICES": "2,3"}).devices == ("2", "3")
    with pytest.raises(Exception, match="train.gpus is 2: it must be auto, 0 or 1"):
        resolve_gpus(2)


def test_gpus_auto_reads_nvidia_smi_where_cuda_visible_devices_is_unset(tmp_path, monkeypatch):
    """A fake nvidia-smi on PATH stands for a machine's driver listing two GPUs."""
    fake = tmp_path / "bin" / "nvidia-smi"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\nprintf '0\\n1\\n'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    choice = resolve_gpus("auto", environ={})
    assert (choice.gpus, choice.devices, choice.said()) == (1, ("0", "1"),
                                                            "train.gpus is auto (1: GPU(s) ['0', '1'] visible)")
    assert resolve_gpus("auto", device="cpu", environ={}).gpus == 0  # the CPU asked for: no claim
    assert resolve_gpus("auto", environ={"CUDA_VISIBLE_DEVICES": "-1"}).gpus == 0  # CUDA_VISIBLE_DEVICES wins


def test_train_cli_refuses_contradictory_device_and_gpus_naming_both():
    env = {k: v for k, v in os.environ.items() if k != "SLURM_JOB_ID"} | {"CUDA_VISIBLE_DEVICES": "0,1"}
    result = subprocess.run([sys.executable, "-m", "snnbench", "train", "--benchmark", "uci", "--dataset", "iris",
                             "--method", "SNN", "--device", "cuda:1", "--gpus", "1"], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert ("snnbench: error: --device is cuda:1 but --gpus is 1: a training job sees only the GPU it claimed"
            in result.stderr), result.stderr[-3000:]
    assert "set --device auto or --device cuda (the claimed GPU)" in result.stderr


def test_train_cli_with_jobs_per_gpu_takes_the_free_slot_of_a_shared_gpu(tmp_path):
    """Slot 0 of the one simulated GPU held here (another job): `snnbench train --jobs-per-gpu 2`
    (--gpus auto, the default: a GPU is visible) takes slot 1 of the same GPU and records it, the
    device it trained on and the MPS status in its summary."""
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
             "--set", "epochs=2", "--threads", "1", "--jobs-per-gpu", "2", "--gpu-lock-dir", str(locks), "--quiet"],
            cwd=REPO, env=env | {"CUDA_MPS_PIPE_DIRECTORY": str(tmp_path / "no-mps")}, capture_output=True, text=True,
            timeout=300)
    finally:
        other.release()
    assert result.returncode == 0, result.stderr[-3000:]
    claim = json.loads(out.with_suffix(".json").read_text())["gpu_claim"]
    assert (claim["device"], claim["slot"], claim["slots"], claim["how"]) == ("0", 1, 2, "claimed")
    assert claim["lock"].endswith("gpu0.slot1.lock")
    assert (claim["gpus"], claim["gpus_resolved"], claim["device_setting"]) == ("auto", 1, "auto")
    import torch

    # train.device auto: the claimed GPU; where torch has no CUDA (a simulated GPU), the CPU, said
    trains_on = "cuda" if torch.cuda.is_available() else "cpu"
    assert claim["trains_on"] == trains_on
    assert ("warning" in claim) == (trains_on == "cpu")
    rows = list(csv.DictReader(open(out)))
    assert rows and {r["device"] for r in rows} == {trains_on}
    assert claim["mps"] == {"running": False, "pipe_dir": str(tmp_path / "no-mps"),
                            "how": claim["mps"]["how"]} and "control does not exist" in claim["mps"]["how"]


# --------------------------------------------------------------------------- GPU claims in real processes

CLAIMER = """
import json, os, sys, time
from snnbench.training.devices import claim_gpu
claim = claim_gpu(wanted=1, slots=int(sys.argv[3]), lock_dir=sys.argv[1], wait_s=30)
start = time.time()
print(json.dumps({"device": claim.device, "slot": claim.slot, "visible": os.environ["CUDA_VISIBLE_DEVICES"]}),
      flush=True)
time.sleep(float(sys.argv[2]))
print(json.dumps({"device": claim.device, "slot": claim.slot, "visible": os.environ["CUDA_VISIBLE_DEVICES"],
                  "from": start, "to": time.time()}))
"""


def claimer(lock_dir: Path, hold_s: float, env: dict, slots: int = 1) -> subprocess.Popen:
    """A process that claims a GPU slot, prints it, holds it ``hold_s`` seconds, and prints it again."""
    return subprocess.Popen([sys.executable, "-c", CLAIMER, str(lock_dir), str(hold_s), str(slots)], env=env,
                            stdout=subprocess.PIPE, text=True)


def simulated_gpus(ids: str) -> dict:
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ids}
    env.pop("SLURM_JOB_ID", None)
    return env


def test_concurrent_jobs_claim_distinct_gpus_and_a_killed_job_frees_its_gpu(tmp_path):
    env = simulated_gpus("0,1,2")
    runs = [claimer(tmp_path, 1.5, env) for _ in range(3)]
    claims = [json.loads(r.communicate()[0].splitlines()[-1]) for r in runs]
    assert sorted(c["device"] for c in claims) == ["0", "1", "2"] and {c["slot"] for c in claims} == {0}
    assert all(c["visible"] == c["device"] for c in claims)  # each process sees only its own GPU
    assert max(c["from"] for c in claims) < min(c["to"] for c in claims)  # they did run at the same time
    # a fourth job waits for a free GPU; a job killed with SIGKILL leaves no stale claim
    holders = [claimer(tmp_path, 30, env) for _ in range(3)]
    held = [json.loads(h.stdout.readline()) for h in holders]  # each has claimed its GPU
    fourth = claimer(tmp_path, 0, env)
    time.sleep(2)
    assert fourth.poll() is None, "the fourth job must wait while three GPUs are claimed"
    holders[1].kill()
    out = json.loads(fourth.communicate(timeout=30)[0].splitlines()[-1])
    for holder in holders:
        holder.kill()
        holder.wait()
    assert out["device"] == held[1]["device"]


def test_jobs_per_gpu_processes_share_each_gpu_and_a_killed_job_frees_its_slot(tmp_path):
    """train.jobs_per_gpu 2 on two simulated GPUs: four processes hold the four (GPU, slot) pairs
    at once, two per GPU; a fifth waits until one of them is killed, then takes its slot."""
    env = simulated_gpus("0,1")
    holders, claims = [], []
    for _ in range(4):  # one after the other: the order of the fill is part of the contract
        holders.append(claimer(tmp_path, 30, env, slots=2))
        claims.append(json.loads(holders[-1].stdout.readline()))
    try:
        assert [(c["device"], c["slot"]) for c in claims] == [("0", 0), ("1", 0), ("0", 1), ("1", 1)]
        assert all(c["visible"] == c["device"] for c in claims)  # each sees only the GPU it shares
        assert sorted(p.name for p in (tmp_path / socket.gethostname()).iterdir()) == [
            "gpu0.slot0.lock", "gpu0.slot1.lock", "gpu1.slot0.lock", "gpu1.slot1.lock"]
        fifth = claimer(tmp_path, 0, env, slots=2)
        time.sleep(2)
        assert fifth.poll() is None, "the fifth job must wait while the four slots of two GPUs are claimed"
        holders[3].kill()
        out = json.loads(fifth.communicate(timeout=30)[0].splitlines()[0])
        assert (out["device"], out["slot"]) == ("1", 1)
    finally:
        for holder in holders:
            holder.kill()
            holder.wait()


def test_jobs_per_gpu_claims_fill_every_gpu_before_sharing_one(tmp_path):
    """Claims with separate lock handles (as separate jobs have): slot 0 of every GPU before any
    slot 1, the least busy GPU first, a released slot free again, all taken: a clear error."""
    def claim(**kwargs):
        environ = {"CUDA_VISIBLE_DEVICES": "0,1"}
        got = claim_gpu(wanted=1, slots=2, lock_dir=tmp_path, environ=environ, **kwargs)
        assert environ["CUDA_VISIBLE_DEVICES"] == got.device
        return got

    a, b, c, d = (claim() for _ in range(4))
    assert [(x.device, x.slot) for x in (a, b, c, d)] == [("0", 0), ("1", 0), ("0", 1), ("1", 1)]
    assert c.lock_path == str(tmp_path / socket.gethostname() / "gpu0.slot1.lock")
    assert {k: c.as_dict()[k] for k in ("device", "slot", "slots", "how")} == {"device": "0", "slot": 1, "slots": 2,
                                                                                "how": "claimed"}
    with pytest.raises(SnnbenchError, match=r"all 4 GPU job slot\(s\) are claimed by other training jobs \(2 GPU\(s\) "
                                            r"\['0', '1'\] × train.jobs_per_gpu 2; .*`--resources gpu=4`"):
        claim(wait_s=0.5)
    b.release()
    again = claim()
    assert (again.device, again.slot) == ("1", 0)  # the released slot
    for held in (a, again, d):
        held.release()
    # GPU 0 still runs c (its slot 1), GPU 1 nothing: the next job goes to GPU 1, not to GPU 0's free slot 0
    e = claim()
    f = claim()  # then GPUs 0 and 1 run one job each: the lower id
    assert [(x.device, x.slot) for x in (e, f)] == [("1", 0), ("0", 0)]
    for held in (c, e, f):
        held.release()
    with pytest.raises(ConfigError, match="train.jobs_per_gpu is 0: it must be an integer of at least 1"):
        claim_gpu(wanted=1, slots=0, lock_dir=tmp_path, environ={"CUDA_VISIBLE_DEVICES": "0"})


def test_the_gpu_resource_must_fit_the_gpu_job_slots():
    """What the workflow checks before the first training job: `--resources gpu=N` at most GPUs ×
    train.jobs_per_gpu; none needed where no GPU is visible or SLURM places the jobs."""
    two = {"CUDA_VISIBLE_DEVICES": "0,1"}
    assert gpu_resource_problem(4, jobs_per_gpu=2, environ=two) is None
    assert gpu_resource_problem(3, jobs_per_gpu=2, environ=two) is None  # fewer jobs than slots: fine
    assert "run with `--resources gpu=4` (or fewer)" in gpu_resource_problem(5, jobs_per_gpu=2, environ=two)
    missing = gpu_resource_problem(None, jobs_per_gpu=2, environ=two)
    assert "2 GPU(s) ['0', '1'] × train.jobs_per_gpu 2 = 4 GPU job slot(s)" in missing
    assert "not given the `gpu` resource: run with `--resources gpu=4`" in missing
    assert gpu_resource_problem(None, jobs_per_gpu=2, environ={"CUDA_VISIBLE_DEVICES": ""}) is None
    assert gpu_resource_problem(None, jobs_per_gpu=2, environ={**two, "SLURM_JOB_ID": "7"}) is None


def test_gpu_claims_under_slurm_and_without_gpus(tmp_path):
    slurm = {"SLURM_JOB_ID": "7", "CUDA_VISIBLE_DEVICES": "3"}
    assert claim_gpu(wanted=1, lock_dir=tmp_path, environ=slurm).how.startswith("scheduler")
    assert slurm["CUDA_VISIBLE_DEVICES"] == "3"
    assert claim_gpu(wanted=0, lock_dir=tmp_path, environ={}).device is None
    assert claim_gpu(wanted=1, lock_dir=tmp_path, environ={"CUDA_VISIBLE_DEVICES": ""}).device is None
    with pytest.raises(SnnbenchError, match="train.gpus is 2: a training job uses one GPU .*train.jobs_per_gpu"):
        claim_gpu(wanted=2, lock_dir=tmp_path, environ={})
    busy = {"CUDA_VISIBLE_DEVICES": "0"}
    held = claim_gpu(wanted=1, lock_dir=tmp_path, environ=busy)
    assert (held.device, held.slot, held.slots) == ("0", 0, 1) and held.lock_path.endswith("gpu0.slot0.lock")
    with pytest.raises(SnnbenchError, match=r"all 1 GPU job slot\(s\) are claimed by other training jobs .*"
                                            r"run at most 1 GPU jobs at once \(`--resources gpu=1`"):
        claim_gpu(wanted=1, lock_dir=tmp_path, environ={"CUDA_VISIBLE_DEVICES": "0"}, wait_s=0.5)
    held.release()
    assert claim_gpu(wanted=1, lock_dir=tmp_path, environ={"CUDA_VISIBLE_DEVICES": "0"}, wait_s=0).device == "0"
