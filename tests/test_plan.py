"""snnbench plan: the run's size from the same job list the workflow builds, and its projection."""

from __future__ import annotations

import re

import pytest
from conftest import REPO, run_snakemake

from snnbench.plan import calibrate, plan_text
from snnbench.runs import DEFAULT_CONFIG, load_config

CALIBRATION = {"host_s_per_step": 2e-3, "flops_per_s": 20e9}


def test_the_plan_counts_the_jobs_the_workflow_plans(tmp_path):
    files = [DEFAULT_CONFIG, REPO / "config" / "quick.yaml"]
    config = load_config(files)
    config.update(data_dir=str(tmp_path / "d"), results_dir=str(tmp_path / "r"))
    lines, rows = plan_text(config, calibration=CALIBRATION, cores=2)
    dry = run_snakemake("-n", "--configfile", *map(str, files), "--config", f"data_dir={tmp_path}/d",
                        f"results_dir={tmp_path}/r")
    assert dry.returncode == 0, dry.stderr[-2000:]
    planned = {rule: int(n) for rule, n in re.findall(r"^(train_fnn|train_baseline)\s+(\d+)$", dry.stdout, re.M)}
    assert rows["jobs"].sum() == planned["train_fnn"] + planned["train_baseline"]
    torch = rows[rows["kind"] == "torch"]
    assert set(rows["benchmark"]) == {"uci", "tox21", "htru2"} and (torch["flops"] > 0).all()
    snn = rows[(rows["benchmark"] == "uci") & (rows["dataset"] == "iris") & (rows["method"] == "SNN")].iloc[0]
    assert snn["configurations"] == 2 and snn["config_steps"] == 2 * 20 * 1  # 2 configs, 20 epochs, 90 rows < 128
    assert lines[-1].startswith("  this machine:") and any(line.startswith("  total") for line in lines)


def test_the_papers_protocol_on_a_cpu_warns_with_the_ways_out():
    config = load_config([DEFAULT_CONFIG])
    lines, rows = plan_text(config, calibration=CALIBRATION, cores=2)
    total = next(line for line in lines if line.startswith("  total")).split()
    assert int(total[1]) == 121 * 9 + (8 * 5 + 1) + 10 * 9  # UCI, Tox21 (the SVM once), HTRU2 jobs
    assert "WARNING" in lines[-1] and "config/quick.yaml" in lines[-1] and "profiles/slurm" in lines[-1]


def test_calibration_measures_a_step_overhead_and_a_flop_rate(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    measured = calibrate(1)
    assert 0 < measured["host_s_per_step"] < 1 and 1e7 < measured["flops_per_s"] < 1e13
    assert calibrate(1) == measured  # cached
    assert (tmp_path / "snnbench" / "calibration.json").is_file()
    again = calibrate(1, refresh=True)  # measured again, and what is cached now
    assert calibrate(1) == again


def test_the_cli_prints_the_plan(tmp_path, monkeypatch, capsys):
    from snnbench.cli import main

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert main(["plan", "--configfile", str(DEFAULT_CONFIG), str(REPO / "config" / "quick.yaml"),
                 "--out", str(tmp_path / "plan.csv")]) == 0
    printed = capsys.readouterr().out
    assert "snnbench plan" in printed and "one GPU" in printed and (tmp_path / "plan.csv").is_file()


def test_the_workflows_plan_runs_no_user_code(tmp_path, monkeypatch):
    """At a run's start the plan counts a user's torch method without building it (its builder
    could do anything in Snakemake's own process); `snnbench plan` builds it for its FLOPs."""
    (tmp_path / "boom.py").write_text("def build(*, n_in, n_out, width: int = 4):\n    raise SystemExit('built')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    config = load_config([DEFAULT_CONFIG])
    config.update(benchmarks=["uci"], uci={"datasets": ["iris"]})
    config["train"].update(methods=["SNN", "Boom"], baselines=[], custom_methods={
        "Boom": {"kind": "torch", "build": "boom:build", "grid": {"uci": {"width": [4], "lr": [0.1]}}}})
    try:
        lines, rows = plan_text(config, calibration=CALIBRATION, cores=2, build=False)
        assert rows.set_index("method").at["Boom", "configurations"] == 1
        assert "FLOPs not counted for Boom" in lines[-1]
        with pytest.raises(SystemExit, match="built"):
            plan_text(config, calibration=CALIBRATION, cores=2)
    finally:
        from snnbench import methods

        methods._REGISTRY.pop("Boom", None)
