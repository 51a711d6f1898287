"""snnbench status (snnbench.pipeline.status): how far a run is, by work."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import CALIBRATION
from snnbench.pipeline.runs import DEFAULT_CONFIG, load_config


def small_run(tmp_path):
    config = load_config([DEFAULT_CONFIG], overrides={
        "benchmarks": ["uci"], "uci": {"datasets": ["iris", "wine", "titanic"]},
        "data_dir": str(tmp_path / "data"), "results_dir": str(tmp_path / "results"),
        "train": {"methods": ["SNN"], "baselines": ["SVM"], "narrow": {"uci": {
            "*": {"n_hidden": [256], "n_layers": [2, 8], "lr": [0.01], "layer_form": ["rectangular"], "dropout": [0]},
            "SVM": {"C": [0.5, 8], "gamma": [0.125]}}}}})
    return config


def finish(config, dataset, method, *, status="ok", seconds=1.0, at=None):
    import json
    import os

    path = Path(config["results_dir"]) / "train" / "uci" / dataset / method / "split0.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"status": status, "total_seconds": seconds}))
    if at is not None:
        os.utime(path, (at, at))


def start(config, dataset, method, line):
    path = Path(config["results_dir"]) / "logs" / "train" / "uci" / dataset / method / "split0.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"2026-11-30 10:00:00,000 INFO snnbench: uci/{dataset}/{method} split 0: 2 configurations\n"
                    f"{line}\n")


def test_status_weighs_done_and_started_jobs_by_their_work(tmp_path):
    from snnbench.pipeline.status import progress, status_text

    config = small_run(tmp_path)
    p = progress(config, calibration=CALIBRATION)
    assert len(p.jobs) == 6 and set(p.jobs["state"]) == {"pending"} and p.work_done == 0
    jobs = p.jobs.set_index(["dataset", "method"])
    # a torch job weighs its calibrated seconds: steps, FLOPs and its start; titanic (2,201 rows) outweighs iris
    assert jobs.at[("titanic", "SNN"), "projected_s"] > 5 * jobs.at[("iris", "SNN"), "projected_s"] > 0
    finish(config, "titanic", "SNN")
    start(config, "iris", "SNN", "uci/iris/SNN/split0 [1/2] n_hidden=256 n_layers=2 -> val 0.9 | elapsed 0m01s")
    finish(config, "wine", "SVM", status="failed")
    p = progress(config, calibration=CALIBRATION)
    states = p.jobs.set_index(["dataset", "method"])["state"]
    assert states[("titanic", "SNN")] == "ok" and states[("iris", "SNN")] == "started"
    assert states[("wine", "SVM")] == "failed" and states[("wine", "SNN")] == "pending"
    weight = p.weight.set_axis(p.jobs.set_index(["dataset", "method"]).index)
    expected = weight[("titanic", "SNN")] + weight[("wine", "SVM")] + 0.5 * weight[("iris", "SNN")]
    assert p.work_done == pytest.approx(expected) and 0 < p.work_done < p.work_total
    lines, _ = status_text(config, calibration=CALIBRATION, cores=2)
    flops = p.jobs.set_index(["dataset", "method"])["flops"]
    assert "2 of 6 jobs" in lines[-1] and "1 failed job(s)" in lines[-1] and "wine/SVM/split0.log" in lines[-1]
    assert f"{p.work_done / p.work_total:.0%} done by work" in lines[-1]
    from snnbench.pipeline.plan import si_prefixed
    assert f"{si_prefixed(flops[('titanic', 'SNN')] + 0.5 * flops[('iris', 'SNN')])}FLOP of" in lines[-1]


def test_status_eta_from_the_rate_of_finished_jobs_else_the_calibration(tmp_path):
    from snnbench.pipeline.status import progress

    config = small_run(tmp_path)
    p = progress(config, calibration=CALIBRATION)
    left, how = p.eta_s(cores=2, threads=1)
    assert left == pytest.approx(p.work_total / 2) and "projected" in how  # nothing finished: 2 jobs at a time
    t0 = 1_800_000_000.0
    for i, (dataset, method) in enumerate([("iris", "SNN"), ("iris", "SVM"), ("wine", "SNN")]):
        finish(config, dataset, method, at=t0 + 10 * i)
    p = progress(config, calibration=CALIBRATION)
    w = p.weight.set_axis(p.jobs.set_index(["dataset", "method"]).index)
    left, how = p.eta_s(cores=2, threads=1, now=t0 + 40)
    # measured from the first finished job: 40 s for the work of the two after it
    rate = (w[("iris", "SVM")] + w[("wine", "SNN")]) / 40
    assert left == pytest.approx((p.work_total - p.work_done) / rate) and "last 3 finished" in how
    # a stretch ended long ago (a run resumed later) is not measured: back to the projection
    left, how = p.eta_s(cores=2, threads=1, now=t0 + 10_000)
    assert "projected" in how


def test_the_cli_status_names_failed_data_and_exits_non_zero(tmp_path, capsys, monkeypatch):
    import json

    from snnbench.cli import main
    from snnbench.contracts.prepared import write_status

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    (tmp_path / "snnbench").mkdir()
    from snnbench.pipeline.plan import calibration_key

    key = calibration_key(1)
    (tmp_path / "snnbench" / "calibration.json").write_text(json.dumps({key: CALIBRATION}))
    config = small_run(tmp_path)
    prepared = Path(config["data_dir"]) / "prepared"
    write_status(prepared, "uci", "iris", "unavailable", "not in the mirror")
    write_status(prepared, "uci", "wine", "failed", "sha256 mismatch: wine_R.dat")
    finish(config, "iris", "SNN")
    args = ["status", "--configfile", str(DEFAULT_CONFIG), "--config", "benchmarks=[uci]",
            "uci={datasets: [iris, wine, titanic]}", f"data_dir={config['data_dir']}",
            f"results_dir={config['results_dir']}", "--set", "methods=[SNN]", "--set", "baselines=[SVM]"]
    assert main(args) == 1
    out = capsys.readouterr().out
    assert "0 of 3 datasets prepared, 1 not yet" in out and "FAILED: uci/wine" in out and "sha256 mismatch" in out
    assert "unavailable (a file the source lacks): uci/iris" in out
    # iris (unavailable) and wine (failed) train nothing: titanic's two jobs are the run's work, iris's
    # finished summary is not counted as done
    assert "0 of 2 jobs" in out and "not run (4 job(s), data unavailable or failed): uci/iris, uci/wine" in out
    assert "  not run: uci/wine (2 job(s)), failed: sha256 mismatch: wine_R.dat" in out


@pytest.mark.mirror
@pytest.mark.slow
def test_the_hint_a_failed_run_prints_reports_that_run(tmp_path, mirror):
    """Issue 24 (3): the `snnbench status` command printed at the end of a failed run lays the
    run's own files in its order (config/config.yaml first, the user's over it) with its --config
    values: run as printed, it reports this run's one job, not the paper's protocol's."""
    import shlex
    import subprocess
    import sys

    import yaml

    from helpers import REPO, run_snakemake

    user = tmp_path / "mine.yaml"
    user.write_text(yaml.safe_dump({
        "benchmarks": ["uci"], "uci": {"datasets": ["iris"]},
        "train": {"methods": ["SNN"], "baselines": [], "epochs": 2, "narrow": {"uci": {"SNN": {
            "n_hidden": [256], "n_layers": [2], "lr": [0.01], "layer_form": ["rectangular"], "dropout": [0]}}}}}))
    results = tmp_path / "results"
    results.mkdir()
    # a folder where the log of the collecting job goes: that job fails, after the training
    (results / "logs" / "aggregate" / "uci.log").mkdir(parents=True)
    (results / "logs" / "aggregate" / "uci.log" / "in-the-way").write_text("")
    run = run_snakemake("--cores", "1", "--configfile", str(user), "--config", f"results_dir={results}",
                        f"data_dir={tmp_path / 'data'}", f"mirror={mirror}", timeout=900)
    console = run.stdout + run.stderr
    trained = results / "train" / "uci" / "iris" / "SNN" / "split0.json"
    assert run.returncode != 0 and trained.is_file(), console[-3000:]
    hint = next(line for line in console.splitlines() if line.startswith("the state at any time: "))
    command = hint.removeprefix("the state at any time: ").split("; ")[0]
    words = shlex.split(command)
    assert words[:4] == ["snnbench", "status", "--configfile", "config/config.yaml"] and words[4] == str(user), hint
    assert f"results_dir={results}" in words and f"mirror={mirror}" in words, hint
    status = subprocess.run([sys.executable, "-m", *words], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert "training 100% done by work (1 of 1 jobs" in status.stdout, status.stdout + status.stderr
    assert "(1 of 1 jobs" in next(line for line in console.splitlines() if line.startswith("snnbench: training"))


def test_jobs_whose_data_is_unavailable_or_failed_are_neither_left_nor_done(tmp_path):
    """Issue 24 (7): a job of a dataset whose card says unavailable or failed, or whose summary says
    unavailable, weighs nothing: the done share and the ETA count only the work that runs."""
    from snnbench.contracts.prepared import write_status
    from snnbench.pipeline.status import progress, status_text

    config = small_run(tmp_path)
    before = progress(config, calibration=CALIBRATION)
    weight = before.weight.set_axis(before.jobs.set_index(["dataset", "method"]).index)
    write_status(Path(config["data_dir"]) / "prepared", "uci", "titanic", "unavailable", "not in the mirror")
    finish(config, "titanic", "SNN", status="unavailable")  # what its job writes: quick, no training
    finish(config, "wine", "SVM", status="unavailable")  # a summary saying so, before the card is read
    finish(config, "iris", "SNN")
    p = progress(config, calibration=CALIBRATION)
    states = p.jobs.set_index(["dataset", "method"])["state"]
    assert list(states[states == "not run"].index) == [("wine", "SVM"), ("titanic", "SNN"), ("titanic", "SVM")]
    now = p.weight.set_axis(states.index)
    assert (now[states == "not run"] == 0).all() and (now[states != "not run"] > 0).all()
    # titanic's torch job (its 2,201 rows) no longer weighs in: nor in the scikit-learn jobs' fallback rate
    assert p.work_total == pytest.approx(now[states != "not run"].sum()) and p.work_total < before.work_total / 3
    assert now[("wine", "SNN")] == pytest.approx(weight[("wine", "SNN")])
    assert p.work_done == pytest.approx(now[("iris", "SNN")])
    lines, _ = status_text(config, calibration=CALIBRATION, cores=2)
    assert "(1 of 3 jobs" in lines[-1] and "not run (3 job(s), data unavailable or failed): uci/titanic, uci/wine" \
        in lines[-1]
    assert "  not run: uci/titanic (2 job(s)), unavailable: not in the mirror" in lines
    # the ETA is the training's: the datasets that pending jobs wait for are named beside it
    assert "; not timed: preparing uci/iris, uci/wine first)" in lines[-1]
    row = next(line for line in lines if line.startswith("  uci")).split()
    assert row[1:5] == ["1/3", "0", "0", "3"]  # jobs done, started, failed, not run


def test_the_status_command_lays_the_files_in_the_runs_order_and_reads_back(tmp_path):
    """The hint's command (issue 24, 3): the files in the order given (one given twice counts where
    it was laid last), the --config values as `snnbench status` parses them back."""
    import shlex

    from snnbench.cli import _run_config, build_parser
    from snnbench.pipeline.status import status_command

    repo = DEFAULT_CONFIG.parents[1]
    mine = tmp_path / "my config.yaml"
    mine.write_text("benchmarks: [uci]\nuci: {datasets: [iris]}\n")
    command = status_command(["config/config.yaml", str(repo / "config" / "config.yaml"), str(mine)],
                             {"results_dir": str(tmp_path / "r"), "uci": {"datasets": ["wine", "iris"]},
                              "data_dir": "data"}, cwd=repo)
    words = shlex.split(command)
    assert words[:5] == ["snnbench", "status", "--configfile", "config/config.yaml", str(mine)], command
    config = _run_config(build_parser().parse_args(words[1:]))
    assert config["results_dir"] == str(tmp_path / "r") and config["data_dir"] == "data"
    assert config["uci"]["datasets"] == ["wine", "iris"] and config["benchmarks"] == ["uci"]
    later = shlex.split(status_command([str(mine), "config/config.yaml"], {}, cwd=repo))
    assert later[3:] == [str(mine), "config/config.yaml"]  # the paper's protocol laid over the user's: kept so
