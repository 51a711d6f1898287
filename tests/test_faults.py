"""Faults injected into real pipeline runs (issue 7): a SIGKILL mid-training and a resume, a
training job that raises on a corrupt prepared file, a diverging configuration, a simulated
out-of-memory error, and several training jobs sharing simulated GPUs. Each asserts that
nothing is lost: the run completes, the failure is recorded where the user looks, and no file
under a final name is partial. (Download faults: tests/test_download.py.)"""

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
import torch
import yaml
from conftest import REPO, finished_jobs, partial_outputs, run_snakemake

from snnbench.training.devices import claim_gpu, gpu_resource_problem
from snnbench.training.engine import train_config
from snnbench.training.recipe import TaskTensors
from snnbench.settings import TrainSettings
from snnbench.errors import ConfigError, SnnbenchError
from snnbench.training.task import Task

QUICK = yaml.safe_load((REPO / "config" / "quick.yaml").read_text())
EPOCHS_SIDE_BY_SIDE = 4000


def uci_config(tmp_path: Path, mirror: Path, **train) -> Path:
    """config/quick.yaml restricted to its UCI part (the same settings, so the same UCI tables)."""
    body = {**QUICK, "benchmarks": ["uci"], "data_dir": str(tmp_path / "data"), "results_dir": str(tmp_path / "results"),
            "mirror": str(mirror)}
    body["train"] = {**QUICK["train"], **train}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(body, sort_keys=False))
    return path


@pytest.mark.mirror
@pytest.mark.slow
def test_sigkill_mid_training_then_rerun_incomplete_redoes_only_unfinished_jobs(quick_local_run):
    """The quick pipeline (the session's local run) killed with SIGKILL mid-training, resumed."""
    killed = quick_local_run.interrupted
    assert killed["killed"], "the run ended before it could be killed mid-training"
    before = killed["finished"]
    assert 10 <= before.count("train_fnn") + before.count("train_baseline") and len(before) < killed["total"]
    assert killed["partial"] == [], "a file under a final name was left half-written"
    resumed = quick_local_run.result
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    redone = finished_jobs(resumed.stdout + resumed.stderr)
    # exactly the jobs that had not finished: nothing finished is redone, nothing is lost
    assert len(redone) == killed["total"] - len(before), (len(redone), killed["total"], len(before))
    running = killed["log"].count("rule train_") - before.count("train_fnn") - before.count("train_baseline")
    touched = [p for p, mtime in killed["trained"].items() if p.stat().st_mtime_ns != mtime]
    print(f"kill and resume: {killed['total']} jobs planned, {len(before)} finished before the SIGKILL "
          f"({before.count('train_fnn') + before.count('train_baseline')} trainings), {running} trainings killed "
          f"mid-way, {len(redone)} run by the resumed run, {len(touched)} finished summaries rewritten")
    assert len(touched) <= running  # only summaries of jobs killed mid-way may be rewritten
    assert partial_outputs(quick_local_run.results) == []


@pytest.mark.mirror
@pytest.mark.slow
def test_faulty_jobs_are_recorded_and_gpu_jobs_share_simulated_gpus(tmp_path, mirror):
    """One run, three things injected: a corrupt prepared file (wine.npz cut in half: its
    training jobs raise), a diverging configuration (SNN at lr 1e6), and two simulated GPUs
    (CUDA_VISIBLE_DEVICES=0,1, train.gpus 1, --resources gpu=2). With --keep-going the other jobs
    and the tables complete; the failures are in failures.csv and the caption; concurrent
    training jobs held distinct GPUs."""
    grids = yaml.safe_load((REPO / "config" / "grids.yaml").read_text())
    small = {"n_hidden": [256], "n_layers": [2], "lr": [0.01], "layer_form": ["rectangular"]}
    grids["uci"].update(SNN={**small, "lr": [0.01, 1.0e6], "dropout": [0]}, MSRAinit={**small, "dropout": [0]},
                        LayerNorm=small, RF={"n_estimators": [500], "max_features": ["sqrt"], "min_samples_leaf": [1]})
    (tmp_path / "grids.yaml").write_text(yaml.safe_dump(grids))
    # long trainings: the quick tour's 20 epochs take a fraction of a second on iris, less than a
    # job's start-up (about 4 s), so side-by-side jobs could hold their claims at disjoint times;
    # 4000 epochs (5-10 s measured) outlast a start-up, so each claim overlaps one on the other core
    config = uci_config(tmp_path, mirror, methods=["SNN", "MSRAinit", "LayerNorm"], baselines=["RF"], narrow={},
                        grids=str(tmp_path / "grids.yaml"), gpus=1, epochs=EPOCHS_SIDE_BY_SIDE)
    body = yaml.safe_load(config.read_text())
    body["uci"]["datasets"] = ["iris", "wine", "balloons"]
    config.write_text(yaml.safe_dump(body, sort_keys=False))
    prepared = tmp_path / "data" / "prepared" / "uci"
    first = run_snakemake("--cores", "2", *(str(prepared / f"{d}.json") for d in ("iris", "wine", "balloons")),
                          "--configfile", str(config))
    assert first.returncode == 0, first.stderr[-3000:]
    arrays = prepared / "wine.npz"
    arrays.write_bytes(arrays.read_bytes()[: arrays.stat().st_size // 2])

    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "0,1", "SNNBENCH_GPU_LOCK_DIR": str(tmp_path / "locks")}
    env.pop("SLURM_JOB_ID", None)
    # RF on both cores: a training job's neighbour on the other core is then always another training job
    result = run_snakemake("--cores", "2", "--resources", "gpu=2", "--set-threads", "train_baseline=2", "--keep-going",
                           "--configfile", str(config), env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    results = tmp_path / "results"
    failures = list(csv.DictReader(open(results / "uci" / "failures.csv")))
    wine = [f for f in failures if f["dataset"] == "wine"]
    assert {f["method"] for f in wine} == {"SNN", "MSRAinit", "LayerNorm", "RF"}, failures
    assert {f["status"] for f in wine} == {"failed"} and all("wine.npz" in f["reason"] for f in wine), wine
    caption = (results / "uci" / "table1.md").read_text().splitlines()[0]
    assert "wine" in caption and "failed" in caption, caption
    t1 = list(csv.DictReader(open(results / "uci" / "table1.csv")))
    assert t1 and {int(r["n_datasets"]) for r in t1} == {2}  # iris and balloons
    iris = json.loads((results / "train" / "uci" / "iris" / "SNN" / "split0.json").read_text())
    assert iris["counts"]["diverged"] == 1 and iris["selected"]["hyperparameters"]["lr"] == 0.01
    rows = list(csv.DictReader(open(results / "train" / "uci" / "iris" / "SNN" / "split0.csv")))
    assert [r["status"] for r in rows] == ["ok", "diverged"] and "training loss became" in rows[1]["error"]
    assert partial_outputs(results) == []
    claims = [json.loads(p.read_text()).get("gpu_claim") for p in (results / "train" / "uci").glob("*/[!R]*/*.json")]
    claims = [c for c in claims if c]  # wine's jobs failed before claiming
    assert len(claims) == 6 and {c["how"] for c in claims} == {"claimed"} and {c["device"] for c in claims} == {"0", "1"}
    assert {(c["slot"], c["slots"]) for c in claims} == {(0, 1)}  # train.jobs_per_gpu 1: a GPU per job
    overlapping = [(a, b) for a in claims for b in claims if a is not b and a["from"] < b["to"] and b["from"] < a["to"]]
    start = min(c["from"] for c in claims)
    print("GPU claims (device: seconds from the first claim):",
          sorted((c["device"], round(c["from"] - start, 1), round(c["to"] - start, 1)) for c in claims))
    assert overlapping and all(a["device"] != b["device"] for a, b in overlapping)


def test_a_simulated_out_of_memory_error_is_recorded_and_the_grid_goes_on(monkeypatch):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    task = Task(kind="multiclass", n_out=2,
                X={"train": X[:40], "validation": X[40:50], "test": X[50:]},
                y={"train": y[:40], "validation": y[40:50], "test": y[50:]})
    data = TaskTensors(task, torch.device("cpu"))
    settings = TrainSettings(epochs=2)
    config = {"n_hidden": 16, "n_layers": 2, "lr": 0.1, "dropout": 0.0, "layer_form": "rectangular"}
    real_step = torch.optim.SGD.step

    def out_of_memory(self, *args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (simulated)")

    monkeypatch.setattr(torch.optim.SGD, "step", out_of_memory)
    failed = train_config("SNN", config, data, settings=settings, seed=0, device=torch.device("cpu"))
    assert failed.status == "failed" and failed.error.startswith("OutOfMemoryError: CUDA out of memory")
    monkeypatch.setattr(torch.optim.SGD, "step", real_step)
    assert train_config("SNN", config, data, settings=settings, seed=0, device=torch.device("cpu")).status == "ok"


# --------------------------------------------------------------------------- several GPUs

CLAIMER = """
import json, os, sys, time
from snnbench.training.devices import claim_gpu
claim = claim_gpu(wanted=1, slots=int(sys.argv[3]), lock_dir=sys.argv[1], wait_s=30)
start = time.time()
print(json.dumps({"device": claim.device, "slot": claim.slot, "visible": os.environ["CUDA_VISIBLE_DEVICES"]}), flush=True)
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


@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_written_files_honour_the_umask(tmp_path, umask, mode):
    """Results, tables and prepared files are renamed from private temporary files; they must end
    with the permissions a plain open() gives (colleagues on a shared cluster read them)."""
    from snnbench.atomic import atomic_write_bytes
    from snnbench.evaluation.stats import write_statistics

    import pandas as pd

    old = os.umask(umask)
    try:
        atomic_write_bytes(tmp_path / "a.json", lambda f: f.write(b"{}"))
        write_statistics(pd.DataFrame({"x": [1]}), tmp_path / "stats.csv")
    finally:
        os.umask(old)
    for name in ("a.json", "stats.csv"):
        assert (tmp_path / name).stat().st_mode & 0o777 == mode, name
