"""snnbench plan (snnbench.pipeline.plan): the run's size from the same job list the workflow
builds, and its projection. (snnbench status: tests/pipeline/test_status.py.)"""

from __future__ import annotations

import re

import pytest

from helpers import CALIBRATION, REPO, run_snakemake
from snnbench.pipeline.plan import calibrate, plan_text
from snnbench.pipeline.runs import DEFAULT_CONFIG, load_config


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
    # UCI (MiniBooNE not planned: the shipped manifest has no copy of its features), Tox21 (the SVM
    # once), HTRU2 jobs
    assert int(total[1]) == 120 * 9 + (8 * 5 + 1) + 10 * 9
    assert any(line.startswith("  not planned: uci/miniboone, unavailable (9 job(s))") for line in lines)
    assert (rows["jobs"].sum() == 121 * 9 + 8 * 5 + 1 + 10 * 9) and set(rows.loc[rows["availability"] == "unavailable",
                                                                             "dataset"]) == {"miniboone"}
    assert "WARNING" in lines[-1] and "config/quick.yaml" in lines[-1] and "profiles/slurm" in lines[-1]


def gpu_figures(lines):
    """(low, high) hours of the one-GPU column's total."""
    total = next(line for line in lines if line.startswith("  total"))
    low, high = re.search(r"([\d.]+)–([\d.]+) (h|min)\s*$", total).group(1, 2)
    scale = 1 / 60 if total.rstrip().endswith("min") else 1
    return float(low) * scale, float(high) * scale


def gpu_run_config(tmp_path):
    """SNN's full UCI grid on three datasets: a GPU figure of minutes."""
    return load_config([DEFAULT_CONFIG], overrides={
        "benchmarks": ["uci"], "uci": {"datasets": ["iris", "wine", "titanic"]},
        "data_dir": str(tmp_path / "data"), "results_dir": str(tmp_path / "results"),
        "train": {"methods": ["SNN"], "baselines": ["SVM"]}})


def test_the_one_gpu_column_is_the_cost_models_range_with_its_assumptions(tmp_path):
    from snnbench.pipeline.plan import gpu_job_seconds
    from snnbench.training import costmodel

    config = gpu_run_config(tmp_path)
    lines, rows = plan_text(config, calibration=CALIBRATION, cores=2)
    low, high = gpu_figures(lines)
    assert 0 < low < high
    # the column is the model's figure for the run's jobs: one source
    seconds = gpu_job_seconds(rows[rows["kind"] == "torch"], config)
    assert seconds["gpu_low_s"].sum() / 3600 == pytest.approx(low, rel=0.05, abs=1 / 60)
    assert seconds["gpu_high_s"].sum() / 3600 == pytest.approx(high, rel=0.05, abs=1 / 60)
    gpu = "\n".join(line for line in lines if line.startswith(("  one GPU", "    ")))
    assert "ESTIMATE until a GPU measures it" in gpu and "gpu_acceptance.py" in gpu
    assert "4 stream(s) a job (train.streams)" in gpu and "1 job(s) per GPU, FP32" in gpu
    for assumption in costmodel.assumption_lines():  # every constant, low / high, printed
        assert assumption in " ".join(gpu.split())


def test_the_gpu_column_follows_the_runs_streams_jobs_and_precision(tmp_path):
    config = gpu_run_config(tmp_path)
    base = gpu_figures(plan_text(config, calibration=CALIBRATION, cores=2)[0])
    config["train"]["streams"] = 1
    one_stream = gpu_figures(plan_text(config, calibration=CALIBRATION, cores=2)[0])
    assert one_stream[0] > base[0] and one_stream[1] > base[1]
    config["train"].update(streams=4, tf32=True)
    lines = plan_text(config, calibration=CALIBRATION, cores=2)[0]
    tf32 = gpu_figures(lines)
    assert tf32[0] < base[0] and tf32[1] < base[1] and any("TF32" in line for line in lines)
    config["train"].update(tf32=False, jobs_per_gpu=4)
    lines = plan_text(config, calibration=CALIBRATION, cores=2)[0]
    head = next(line for line in lines if line.startswith("  one GPU"))
    assert "4 job(s) per GPU time-sliced (no MPS)" in head and "; with MPS " in head
    # the CPU column does not depend on the GPU's settings
    def cpu(ls):
        return next(line for line in ls if line.startswith("  total")).split()[5:7]

    assert cpu(lines) == cpu(plan_text(gpu_run_config(tmp_path), calibration=CALIBRATION, cores=2)[0])


def test_calibration_measures_a_step_overhead_and_a_flop_rate(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    measured = calibrate(1)
    assert 0 < measured["host_s_per_step"] < 1 and 1e7 < measured["flops_per_s"] < 1e13
    assert 0.05 < measured["job_start_s"] < 60
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
        assert "FLOPs and GPU time not counted for Boom" in lines[-1]
        with pytest.raises(SystemExit, match="built"):
            plan_text(config, calibration=CALIBRATION, cores=2)
    finally:
        from snnbench import methods

        methods.unregister("Boom")


def test_datasets_whose_data_is_unavailable_or_failed_are_listed_not_planned(tmp_path):
    """Issue 24 (7): a dataset whose prepared card says failed, or whose verified download lacks
    one of its files (not prepared yet), is named with its reason and counted nowhere."""
    import json

    from snnbench.contracts.prepared import write_status

    config = load_config([DEFAULT_CONFIG], overrides={
        "benchmarks": ["uci"], "uci": {"datasets": ["iris", "wine", "titanic"]},
        "data_dir": str(tmp_path / "data"), "results_dir": str(tmp_path / "results"),
        "train": {"methods": ["SNN"], "baselines": ["SVM"]}})
    lines, rows = plan_text(config, calibration=CALIBRATION, cores=2)
    whole = next(line for line in lines if line.startswith("  total")).split()
    assert int(whole[1]) == 6 and "3 dataset(s) not prepared yet, planned as available" in "\n".join(lines)
    write_status(tmp_path / "data" / "prepared", "uci", "wine", "failed", "sha256 mismatch: wine/wine_R.dat")
    verified = tmp_path / "data" / "raw" / "uci121" / "_verified.json"
    verified.parent.mkdir(parents=True)
    verified.write_text(json.dumps({"members": {
        "titanic/titanic_R.dat": {"status": "missing", "reason": "titanic/titanic_R.dat is not in the mirror"},
        "iris/iris_R.dat": {"status": "ok"}}}))
    lines, rows = plan_text(config, calibration=CALIBRATION, cores=2)
    total = next(line for line in lines if line.startswith("  total")).split()
    uci = next(line for line in lines if line.startswith("  uci")).split()
    assert int(total[1]) == int(uci[1]) == 2 and int(total[2]) < int(whole[2])  # iris's two jobs only
    assert float(total[3]) < float(whole[3])
    assert "  not planned: uci/wine, failed (2 job(s)): sha256 mismatch: wine/wine_R.dat" in lines
    assert ("  not planned: uci/titanic, unavailable (2 job(s)): its verified download lacks "
            "uci121/titanic/titanic_R.dat") in lines
    assert rows["jobs"].sum() == 6  # the rows (`snnbench plan --out`) keep every job, with its dataset's state
    assert dict(zip(rows["dataset"], rows["availability"])) == {"iris": "expected", "wine": "failed",
                                                                "titanic": "unavailable"}


def test_flops_are_printed_with_a_prefix_never_as_a_raw_integer():
    """Issue 24: the console's FLOPs read '617 GFLOP', '52.3 MFLOP', not 617400000000 or 52340000."""
    from snnbench.pipeline.plan import si_prefixed

    shown = [si_prefixed(x) + "FLOP" for x in (3.2e15, 34.7e12, 617.4e9, 52_340_000, 1234, 12)]
    assert shown == ["3.2 PFLOP", "34.7 TFLOP", "617 GFLOP", "52.3 MFLOP", "1.23 kFLOP", "12 FLOP"]
    assert all(len(s) <= 10 for s in shown)
