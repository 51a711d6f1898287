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
    from snnbench.pipeline.plan import human_duration
    assert f"{human_duration(flops[('titanic', 'SNN')] + 0.5 * flops[('iris', 'SNN')])}FLOP of" in lines[-1]


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
    assert "1 of 6 jobs" in out  # the full grids (no narrowing here): still one job per dataset, method and split
