"""Faults injected into real pipeline runs (issue 7): a SIGKILL mid-training and a resume, a
training job that meets a corrupt prepared file, a diverging configuration, and several
training jobs sharing simulated GPUs; the README's recovery of a damaged prepared file and a
full or read-only results folder (issue 24). Each asserts that nothing is lost: the run completes, the
failure is recorded where the user looks, and no file under a final name is partial. (Download
faults: tests/data/test_download.py; a simulated out-of-memory error: tests/training/test_engine.py;
GPU claims in real processes: tests/training/test_devices.py.)"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from helpers import REPO, finished_jobs, partial_outputs, run_snakemake

QUICK = yaml.safe_load((REPO / "config" / "quick.yaml").read_text())
EPOCHS_SIDE_BY_SIDE = 4000


def uci_config(tmp_path: Path, mirror: Path, **train) -> Path:
    """config/quick.yaml restricted to its UCI part (the same settings, so the same UCI tables)."""
    body = {**QUICK, "benchmarks": ["uci"], "data_dir": str(tmp_path / "data"),
            "results_dir": str(tmp_path / "results"), "mirror": str(mirror)}
    body["train"] = {**QUICK["train"], **train}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(body, sort_keys=False))
    return path


def prepare_and_cut_in_half(tmp_path, config, damaged: str):
    """Prepare iris, wine and balloons through the workflow, then cut ``damaged``'s arrays file in
    half (a file damaged after its preparation); returns that file."""
    prepared = tmp_path / "data" / "prepared" / "uci"
    first = run_snakemake("--cores", "2", *(str(prepared / f"{d}.json") for d in ("iris", "wine", "balloons")),
                          "--configfile", str(config))
    assert first.returncode == 0, first.stderr[-3000:]
    arrays = prepared / f"{damaged}.npz"
    arrays.write_bytes(arrays.read_bytes()[: arrays.stat().st_size // 2])
    return arrays

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
    prepare_and_cut_in_half(tmp_path, config, "wine")

    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "0,1", "SNNBENCH_GPU_LOCK_DIR": str(tmp_path / "locks")}
    env.pop("SLURM_JOB_ID", None)
    # RF on both cores: a training job's neighbour on the other core is then always another training job
    result = run_snakemake("--cores", "2", "--resources", "gpu=2", "--set-threads", "train_baseline=2", "--keep-going",
                           "--configfile", str(config), env=env)
    # the damaged prepared file fails its dataset: everything else is written, the exit code says so
    assert result.returncode == 1, result.stderr[-3000:]
    assert "FAILED: uci/wine" in result.stdout + result.stderr
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
    assert len(claims) == 6 and {c["how"] for c in claims} == {"claimed"}
    assert {c["device"] for c in claims} == {"0", "1"}
    assert {(c["slot"], c["slots"]) for c in claims} == {(0, 1)}  # train.jobs_per_gpu 1: a GPU per job
    overlapping = [(a, b) for a in claims for b in claims if a is not b and a["from"] < b["to"] and b["from"] < a["to"]]
    start = min(c["from"] for c in claims)
    print("GPU claims (device: seconds from the first claim):",
          sorted((c["device"], round(c["from"] - start, 1), round(c["to"] - start, 1)) for c in claims))
    assert overlapping and all(a["device"] != b["device"] for a, b in overlapping)


def three_datasets(tmp_path: Path, mirror: Path) -> Path:
    """uci_config with iris, wine and balloons, SNN and MSRAinit on the quick grids, 5 epochs."""
    config = uci_config(tmp_path, mirror, methods=["SNN", "MSRAinit"], baselines=[], epochs=5)
    body = yaml.safe_load(config.read_text())
    body["uci"]["datasets"] = ["iris", "wine", "balloons"]
    config.write_text(yaml.safe_dump(body, sort_keys=False))
    return config


@pytest.mark.mirror
@pytest.mark.slow
def test_a_damaged_prepared_file_fails_its_dataset_and_the_readme_recipe_rebuilds_and_retrains_it(tmp_path, mirror):
    """Issue 24 (6): a prepared arrays file damaged after its preparation fails its dataset: the
    run writes everything else, names the dataset, the file and the recipe, and exits 1 (it used
    to say "3 of 3 datasets prepared", rc 0). The recipe it prints, the README's (the same command
    plus --forcerun <card>), rebuilds the file and retrains what depended on it, and only that;
    deleted prepared files are named too, and rebuilt the same way."""
    config = three_datasets(tmp_path, mirror)
    prepared = tmp_path / "data" / "prepared" / "uci"
    arrays = prepare_and_cut_in_half(tmp_path, config, "balloons")

    run = run_snakemake("--cores", "2", "--configfile", str(config))
    console = run.stdout + run.stderr
    assert run.returncode == 1, console[-3000:]
    assert "snnbench: 2 of 3 datasets prepared" in console and "FAILED: uci/balloons" in console, console[-3000:]
    assert f"{arrays} does not match its card" in console
    assert "replace it there" not in console  # the mirror's recipe does not apply to a prepared file
    results = tmp_path / "results"
    assert (results / "REPORT.md").is_file() and (results / "report.html").is_file()
    failures = list(csv.DictReader(open(results / "uci" / "failures.csv")))
    assert {(f["dataset"], f["method"], f["status"]) for f in failures} == {
        ("balloons", "SNN", "failed"), ("balloons", "MSRAinit", "failed")}, failures
    assert all("balloons.npz does not match its card" in f["reason"] for f in failures), failures

    readme = (REPO / "README.md").read_text()
    assert "**A damaged prepared file**" in readme and "--forcerun" in readme
    forcerun = re.search(r"--forcerun (\S+)", console).group(1)
    assert forcerun == str(prepared / "balloons.json")
    train = results / "train" / "uci"
    untouched = {p: p.stat().st_mtime_ns for p in train.glob("[!b]*/*/*.json")}
    assert len(untouched) == 4  # iris and wine, SNN and MSRAinit
    rerun = run_snakemake("--cores", "2", "--configfile", str(config), "--forcerun", forcerun)
    console = rerun.stdout + rerun.stderr
    assert rerun.returncode == 0, console[-3000:]
    assert "snnbench: 3 of 3 datasets prepared" in console and "FAILED" not in console, console[-3000:]
    assert finished_jobs(console).count("train_fnn") == 2  # balloons' two jobs, nothing else
    assert {p: p.stat().st_mtime_ns for p in untouched} == untouched
    for method in ("SNN", "MSRAinit"):
        assert json.loads((train / "balloons" / method / "split0.json").read_text())["status"] == "ok"
    assert not (results / "uci" / "failures.csv").read_text().count("balloons")
    assert partial_outputs(results) == []

    # deleted instead: Snakemake has "Nothing to be done" (the results are up to date), and says why
    for path in prepared.glob("balloons.*"):
        path.unlink()
    run = run_snakemake("--cores", "2", "--configfile", str(config))
    console = run.stdout + run.stderr
    assert "Nothing to be done" in console, console[-3000:]
    assert (f"snnbench: {prepared / 'balloons.json'} is missing, but results trained on it exist; rebuild it: the "
            f"same snakemake command plus --forcerun {forcerun}") in console, console[-3000:]
    rerun = run_snakemake("--cores", "2", "--configfile", str(config), "--forcerun", forcerun)
    assert rerun.returncode == 0 and finished_jobs(rerun.stdout + rerun.stderr).count("train_fnn") == 2
    assert (prepared / "balloons.npz").is_file()
    assert "is missing" not in run_snakemake("-n", "--configfile", str(config)).stderr


# A results folder on a real filesystem that is full or read-only, without root: a tmpfs mounted
# in a user and mount namespace of its own (unshare), for Snakemake and its jobs only.
IN_A_SMALL_FILESYSTEM = """
set -u
mount -t tmpfs -o "$OPTIONS" none "$RESULTS"
if [ "$FILL" = 1 ]; then dd if=/dev/zero of="$RESULTS/filler" bs=4k 2>/dev/null || true; fi
python -m snakemake "$@"
rc=$?
find "$RESULTS" -type f > "$LISTING"
exit $rc
"""


def run_in_a_small_filesystem(results: Path, *args, options: str, fill: bool) -> tuple[subprocess.CompletedProcess,
                                                                                       list[str]]:
    """Snakemake with ``results`` on a 1 MB tmpfs (mount ``options``; ``fill``: filled to the last
    byte first); the run and the files the tmpfs held at its end."""
    listing = results.parent / "listing.txt"
    env = {**os.environ, "OPTIONS": options, "RESULTS": str(results), "FILL": str(int(fill)), "LISTING": str(listing)}
    run = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "bash", "-c", IN_A_SMALL_FILESYSTEM,
                          "bash", *args], cwd=REPO, capture_output=True, text=True, env=env, timeout=600)
    return run, listing.read_text().split() if listing.is_file() else []


@pytest.mark.mirror
@pytest.mark.slow
def test_a_full_or_read_only_results_folder_is_named_with_its_errno_on_the_console(tmp_path, mirror):
    """Issue 24 (5): with the results on a full filesystem the failing job's log was empty and
    "No space left on device" appeared nowhere. The console now names the file and the errno
    (the job's message reaches it even when its log cannot be written), and nothing is left
    half-written; a read-only results folder is named the same way."""
    probe = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
                            f"mount -t tmpfs -o size=64k none {tmp_path}"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs in a user namespace here (unshare: {probe.stderr.strip()})")
    config = uci_config(tmp_path, mirror, methods=["SNN"], baselines=[], epochs=5)
    body = yaml.safe_load(config.read_text())
    body["uci"]["datasets"] = ["iris"]
    config.write_text(yaml.safe_dump(body, sort_keys=False))
    card = tmp_path / "data" / "prepared" / "uci" / "iris.json"
    prepared = run_snakemake("--cores", "1", str(card), "--configfile", str(config))
    assert prepared.returncode == 0, prepared.stderr[-3000:]
    results = tmp_path / "results"
    results.mkdir(exist_ok=True)  # the preparation's logs: hidden under the tmpfs
    table = results / "train" / "uci" / "iris" / "SNN" / "split0.csv"

    run, files = run_in_a_small_filesystem(results, "--cores", "1", str(table), "--configfile", str(config),
                                           options="size=1m", fill=True)
    console = run.stdout + run.stderr
    assert run.returncode == 1, console[-3000:]
    assert f"snnbench: error: {table}: [Errno 28] No space left on device; free space there" in console, console
    log = results / "logs" / "train" / "uci" / "iris" / "SNN" / "split0.log"
    # nothing but the filler and the (empty) log: no output, no hidden temporary file
    assert sorted(files) == sorted([str(results / "filler"), str(log)]), files

    run, files = run_in_a_small_filesystem(results, "--cores", "1", str(table), "--configfile", str(config),
                                           options="ro,size=1m", fill=False)
    console = run.stdout + run.stderr
    assert run.returncode == 1, console[-3000:]
    assert f"[Errno 30] Read-only file system: '{results}/" in console, console[-3000:]
    assert files == []
