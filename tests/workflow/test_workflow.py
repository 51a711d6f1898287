"""The Snakemake workflow and the CLI as a user runs them: lint, config errors, end-to-end runs."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile

import pytest
import yaml

from helpers import REPO, finished_jobs, render_page, sideways_overflow
from helpers import run_snakemake as snakemake


def snnbench(*args):
    return subprocess.run([sys.executable, "-m", "snnbench", *args], cwd=REPO, capture_output=True, text=True)


def write_config(tmp_path, **body):
    body.setdefault("data_dir", str(tmp_path / "data"))
    body.setdefault("results_dir", str(tmp_path / "results"))
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(body))
    return path


def test_lint_is_clean():
    result = snakemake("--lint")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Congratulations, your workflow is in a good condition" in result.stdout + result.stderr


@pytest.mark.parametrize("configfiles",
                         ["config/config.yaml", "config/quick.yaml", "config/quick.yaml config/beyond.yaml"])
def test_shipped_configs_validate_and_plan(configfiles, tmp_path):
    result = snakemake("-n", "--configfile", *configfiles.split(), "--config", f"data_dir={tmp_path}/d",
                       f"results_dir={tmp_path}/r")
    assert result.returncode == 0, result.stderr
    assert "data_summary" in result.stdout and "train_fnn" in result.stdout
    if "beyond" in configfiles:
        assert "train/uci/iris/XGBoost/split0.json" in result.stdout and "LightGBM" in result.stdout


def test_the_slurm_profile_plans_the_quick_config(tmp_path):
    """A dry run through profiles/slurm (no cluster needed): its job groups form a valid DAG (a rule
    a group needs that needs the group again is refused by Snakemake only when the DAG is built)."""
    result = snakemake("-n", "--workflow-profile", "profiles/slurm", "--configfile", "config/quick.yaml",
                       "--config", f"data_dir={tmp_path}/d", f"results_dir={tmp_path}/r")
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert "robustness" in result.stdout and "write_report" in result.stdout


@pytest.mark.parametrize(
    "body,message",
    [
        ({"uci": {"datasets": ["iris", "irsi"]}},
         "unknown UCI dataset(s) in setting `uci.datasets`: 'irsi' (did you mean iris"),
        ({"tox21": {"features": "morgan"}}, "'morgan' is not one of ['auto', 'deeptox', 'rdkit']"),
        ({"benchmarks": ["uci", "mnist"]},
         "unknown benchmark 'mnist' in benchmarks; the benchmarks are uci, tox21, htru2"),
        ({"htru2": {"n_fold": 10}}, "Additional properties are not allowed ('n_fold' was unexpected)"),
        ({"train": {"methods": ["SNNN"]}}, "unknown method 'SNNN' in train.methods; the methods are SNN, MSRAinit"),
        ({"train": {"narrow": {"uci": {"ResNt": {"n_blocks": [2]}}}}}, "unknown method 'ResNt' in train.narrow.uci"),
        ({"train": {"narrow": {"ucl": {"*": {"lr": [0.01]}}}}}, "unknown benchmark 'ucl' in train.narrow"),
        # issue 24 (4): a typo under "*" trained the full grid; ResNet's own keys under "*" are fine
        ({"train": {"narrow": {"uci": {"*": {"n_layer": [2], "n_blocks": [2]}}}}},
         'train.narrow.uci."*".n_layer: no method of this run has this hyperparameter on uci (did you mean n_layers?'),
        ({"train": {"subsample": {"tox": 2000}}}, "unknown benchmark 'tox' in train.subsample"),
        ({"train": {"methods": ["RF"]}}, "train.methods: RF is a sklearn method; list it under train.baselines"),
        ({"train": {"methods": ["MyNet"], "custom_methods": {"MyNet": {"kind": "torch", "build": "nope_module:f",
                                                                         "grid": {"uci": {"lr": [0.1]}}}}}},
         "train.custom_methods.MyNet.build: cannot import 'nope_module'"),
        ({"train": {"baselines": ["LogReg"], "custom_methods": {"LogReg": {
            "kind": "sklearn", "estimator": "sklearn.linear_model:LogisticRegression",
            "grid": {"uci": {"Cs": [1.0]}}}}}},
         "train.custom_methods.LogReg.grid.uci.Cs is not a hyperparameter the estimator accepts"),
    ],
)
def test_bad_config_stops_before_any_job_and_names_the_setting(tmp_path, body, message):
    result = snakemake("-n", "--configfile", str(write_config(tmp_path, **body)))
    assert result.returncode != 0
    console = result.stdout + result.stderr
    assert message in console
    assert 'File "' not in console and "Traceback" not in console, console  # the message, not snnbench's insides


def test_workflow_config_narrowing_errors_name_the_setting(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"benchmarks": ["uci"], "uci": {"datasets": ["iris"]},
                                      "train": {"methods": ["SNN"], "narrow": {"uci": {"SNN": {"lr": [0.3]}}}}}))
    result = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--configfile", str(config)], cwd=REPO,
                            capture_output=True, text=True)
    assert result.returncode != 0
    assert "train.narrow.uci.SNN.lr: [0.3] not in the grid [0.01, 0.1, 1]" in result.stdout + result.stderr


def test_a_malformed_yaml_config_is_named_with_its_line_by_the_cli(tmp_path):
    bad = tmp_path / "mine.yaml"
    bad.write_text("train:\n  methods: [SNN\n  epochs: 3\n")
    result = snnbench("status", "--configfile", str(bad))
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert f"{bad}, line 3, column 9: not valid YAML" in result.stderr, result.stderr


def test_cli_rejects_unknown_dataset_and_lists_names():
    result = snnbench("data", "prepare", "uci", "--dataset", "abalon")
    assert result.returncode == 2
    assert "unknown UCI dataset(s) in setting `--dataset`: 'abalon' (did you mean abalone" in result.stderr
    listing = snnbench("data", "list", "uci")
    assert listing.returncode == 0 and len(listing.stdout.splitlines()) == 121


@pytest.mark.mirror
@pytest.mark.slow
def test_the_console_says_one_short_line_per_job(tmp_path, mirror):
    """A real run through the workflow profile: each job a line when it starts and one when it
    finishes, progress every tenth, no shell command or settings JSON, no line over 300 characters."""
    config = write_config(tmp_path, benchmarks=["uci"], uci={"datasets": ["iris"]}, mirror=str(mirror),
                          train={"methods": ["SNN", "MSRAinit"], "baselines": ["RF"], "epochs": 2, "threads": 1,
                                 "narrow": {"uci": {"*": {"n_hidden": [256], "n_layers": [2], "lr": [0.01],
                                                          "layer_form": ["rectangular"], "dropout": [0]},
                                                    "RF": {"n_estimators": [500], "max_features": ["sqrt"],
                                                           "min_samples_leaf": [1]}}}})
    result = snakemake("--cores", "2", "--configfile", str(config))
    lines = (result.stdout + result.stderr).splitlines()
    jobs = int(re.search(r"^total\s+(\d+)", result.stdout + result.stderr, re.M).group(1))
    started = [line for line in lines if re.match(r"\[\d\d:\d\d:\d\d\] rule \w+: ", line)]
    assert len(started) <= jobs and len(finished_jobs("\n".join(lines))) <= jobs, lines
    assert len([line for line in started if " rule train_" in line]) == 3, lines
    assert "train_fnn: benchmark=uci, dataset=iris, method=SNN, split=0" in "\n".join(started)
    assert not [line for line in lines if "--settings" in line or "Select jobs to execute" in line]
    # the onerror hint repeats the run's paths (issue 24, item 3, another part): bounded there
    assert max(len(line) for line in lines if not line.startswith("the state at any time:")) <= 300
    assert len(lines) <= 3 * jobs + 60, "\n".join(lines)  # the plan, the job stats and the summary besides


@pytest.mark.mirror
@pytest.mark.slow
def test_quick_pipeline_from_the_mirror(quick_local_run):
    tmp_path, config, result = quick_local_run.root, quick_local_run.config, quick_local_run.result
    assert result.returncode == 0, result.stderr[-3000:]
    rows = list(csv.DictReader(open(tmp_path / "results" / "data" / "summary.csv")))
    by_name = {r["dataset"]: r for r in rows}
    assert [r["benchmark"] for r in rows] == ["uci"] * 6 + ["tox21", "htru2"]
    assert by_name["iris"]["status"] == "ok" and (by_name["iris"]["n"], by_name["iris"]["d"]) == ("150", "4")
    assert by_name["miniboone"]["status"] == "unavailable"
    assert by_name["htru2"]["n"] == "17898"
    assert by_name["iris"]["split_sound"] == "True" and by_name["htru2"]["split_sound"] == ""
    assert (tmp_path / "results" / "logs" / "download" / "uci121.log").is_file()
    train = tmp_path / "results" / "train"
    summaries = {p.relative_to(train).as_posix(): json.loads(p.read_text()) for p in train.glob("*/*/*/*.json")}
    # (6 UCI datasets + 2 HTRU2 folds) x (7 FNNs + RF + SVM), Tox21 1 repeat x (7 FNNs + RF) + SVM once
    assert len(summaries) == 6 * 9 + 2 * 9 + 8 + 1
    iris = summaries["uci/iris/SNN/split0.json"]
    assert iris["status"] == "ok" and iris["n_configs"] == 2 and iris["settings"]["epochs"] == 20
    assert iris["grid"] == {"n_hidden": [256], "n_layers": [2, 8], "lr": [0.01], "dropout": [0],
                            "layer_form": ["rectangular"]}
    assert summaries["uci/miniboone/MSRAinit/split0.json"]["status"] == "unavailable"
    assert summaries["uci/iris/SVM/split0.json"]["n_configs"] == 6
    htru2 = summaries["htru2/htru2/SNN/split0.json"]
    assert htru2["metric"] == "roc_auc" and htru2["selected"]["test_metric"] > 0.9
    assert htru2["sizes"] == {"train": 4000, "validation": 1789, "test": 1790}  # train.subsample
    tox21 = summaries["tox21/tox21/SNN/split0.json"]
    assert tox21["metric"] == "mean_roc_auc" and tox21["sizes"] == {"train": 2000, "validation": 296, "test": 647}
    assert len(tox21["selected"]["test_per_task"]) == 12 and tox21["selected"]["test_metric"] > 0.6
    assert (tmp_path / "results" / "logs" / "train" / "uci" / "iris" / "SNN" / "split0.log").is_file()
    # the UCI tables, figures and report
    uci = tmp_path / "results" / "uci"
    t1 = list(csv.DictReader(open(uci / "table1.csv")))
    assert [r["method"] for r in t1] and len(t1) == 7
    assert abs(sum(float(r["avg_rank_minus_expected"]) for r in t1)) < 1e-9
    assert all(int(r["n_datasets"]) == 5 for r in t1[1:])
    caption = (uci / "table1.md").read_text().splitlines()[0]
    assert "5 of 121 UCI datasets; miniboone unavailable" in caption
    assert len(list(csv.DictReader(open(uci / "tableA12.csv")))) == 24
    assert len(list(csv.DictReader(open(uci / "tableA11.csv")))) == 5
    assert {"cd_all.png", "cd_small.png", "snn_vs_methods.svg", "selected_depth.png"} <= {
        p.name for p in (uci / "figures").iterdir()}
    failures = list(csv.DictReader(open(tmp_path / "results" / "uci" / "failures.csv")))
    assert {r["dataset"] for r in failures if r["status"] == "unavailable"} == {"miniboone"}
    check = list(csv.DictReader(open(tmp_path / "results" / "paper_check" / "table1.csv")))
    assert check[0]["method"] == "SNN"
    report = (tmp_path / "results" / "REPORT.md").read_text()
    assert "[uci/table1.md](uci/table1.md)" in report and "## HTRU2" in report
    # the robustness reports, on the published numbers and on the tour's scores
    assert "## Robustness of the UCI conclusion: the paper's published numbers" in report
    assert "On the published scores (121 UCI datasets" in report and "On our scores (5 UCI datasets" in report
    robust = list(csv.DictReader(open(tmp_path / "results" / "uci" / "robustness.csv")))
    assert {r["section"] for r in robust} >= {"multiple_comparisons", "omnibus", "bayesian", "bootstrap", "granularity",
                                              "selection_sensitivity", "selection_sensitivity_jobs"}
    ours_md = (tmp_path / "results" / "uci" / "robustness.md").read_text()
    assert "## Selection sensitivity (our runs' saved curves)" in ours_md
    assert "`train.test_curve: every_epoch`" in ours_md
    assert "sound splits only" in (tmp_path / "results" / "paper_check" / "robustness.md").read_text()
    assert (tmp_path / "results" / "paper_check" / "robustness_figures" / "robustness_posterior.png").is_file()
    table3 = {r["method"]: r for r in csv.DictReader(open(tmp_path / "results" / "htru2" / "table3.csv"))}
    assert table3["SNN"]["n_folds"] == "2" and float(table3["SNN"]["auc_mean"]) > 0.9
    assert table3["SNN"]["published_mean"] == "0.9803" and table3["RF"]["source"] == "ours"
    assert "NaiveBayes (Lyon et al. 2016)" in table3
    tox21_dir = tmp_path / "results" / "tox21"
    table2 = {r["method"]: r for r in csv.DictReader(open(tox21_dir / "table2.csv"))}
    assert list(table2)[:7] == ["SNN", "BatchNorm", "WeightNorm", "LayerNorm", "Highway", "MSRAinit", "ResNet"]
    assert table2["SNN"]["2_n"] == "1" and table2["SNN"]["2_published"] == "83.7" and float(table2["SNN"]["3"]) > 60
    assert table2["SVM"]["n_repeats"] == "1" and "DeepTox (Tox21 challenge winner)" in table2
    caption = (tox21_dir / "table2.md").read_text().splitlines()[0]
    assert "Features: rdkit" in caption and "indicative only" in caption and "subset of 2000" in caption
    assert len(list(csv.DictReader(open(tox21_dir / "table2_tasks.csv")))) == 9
    assert (tox21_dir / "figures" / "auc_vs_depth.png").is_file() and "## Tox21" in report
    again = snakemake("--cores", "2", "-n", *config)
    assert "Nothing to be done" in again.stdout + again.stderr


def rendered(dom: str) -> str:
    """The DOM without its scripts (the Snakemake report carries its content as JSON in scripts too)."""
    import re

    return re.sub(r"<script\b.*?</script>", "", dom, flags=re.S)


def non_white_share(png) -> float:
    import numpy as np
    from PIL import Image

    return float((np.asarray(Image.open(png).convert("L")) < 200).mean())


@pytest.mark.mirror
@pytest.mark.slow
def test_the_report_opens_on_the_rendered_tables_in_a_real_browser(quick_local_run, browser, tmp_path):
    """results/report.html, and the report of `snakemake --report`, which opens on the same page:
    rendered by headless Chromium, screenshot taken, every front table's first row on the page;
    at 1280 px nothing but a table's own box scrolls sideways, and no table cell shows JSON, a
    Python boolean or nan (issue 24)."""
    import re

    from snnbench.pipeline.html_report import front_table_html

    results = quick_local_run.results
    made = snakemake("--report", str(tmp_path / "snakemake_report.html"), *quick_local_run.config)
    assert made.returncode == 0, made.stderr[-3000:]
    # issue 24 (11): a category named "Statistics" collided with the report's own "Statistics" section
    assert "WARNING" not in made.stdout + made.stderr, (made.stdout + made.stderr)[-3000:]
    fronts = {"uci": ["table1", "table1_right"], "tox21": ["table2"], "htru2": ["table3"]}
    captions = {b: json.loads((results / b / "captions.json").read_text()) for b in fronts}
    for page in (results / "report.html", tmp_path / "snakemake_report.html"):
        shot = tmp_path / f"{page.stem}.png"
        dom = rendered(render_page(browser, page, shot))
        assert 'class="snnbench-report"' in dom and "What was run" in dom
        assert "Robustness of the UCI conclusion: the paper's published numbers" in dom
        for benchmark, tables in fronts.items():
            for table in tables:
                assert captions[benchmark][table].split(":")[0] in dom  # the caption's title, e.g. Table 1 (left)
                shown = front_table_html(results, benchmark, table)
                row = shown[shown.index("<tbody>") + 7:shown.index("</tr>") + 5]
                assert row in dom, (page.name, table, row)
        cells = " ".join(re.findall(r"<t[hd]>(.*?)</t[hd]>", dom[dom.index('class="snnbench-report"'):], flags=re.S))
        assert cells and not re.search(r'\{&quot;|\{"|\bFalse\b|\bTrue\b|\bnan\b', cells), page.name
        assert "{&quot;" not in dom and "not ok: {" not in dom
        assert sideways_overflow(browser, page, tmp_path) == "none", page.name
        assert "grids narrowed" in dom or "narrowed" in dom  # the captions name the narrowing
        assert dom.count('src="data:image/png;base64,') >= 6  # UCI's four figures, Tox21's and HTRU2's
        assert non_white_share(shot) > 0.02, f"{shot} is nearly blank"


@pytest.mark.mirror
@pytest.mark.slow
def test_a_corrupt_file_fails_its_dataset_only(tmp_path, mirror):
    """A folder mirror (unpacked originals) with one damaged file: that dataset is recorded as failed."""
    folder = tmp_path / "mirror"
    for archive in ("uci121.tar.gz", "uci121_data_py.tar.gz"):
        with tarfile.open(mirror / archive) as tf:
            tf.extractall(folder, filter="data",
                          members=[m for m in tf.getmembers() if m.name.split("/")[1:2] in (["iris"], ["wine"])])
    damaged = folder / "uci121" / "wine" / "wine_R.dat"
    damaged.write_bytes(damaged.read_bytes().replace(b"\t0.", b"\t1.", 1))
    shutil.copytree(mirror / "htru2", folder / "htru2")
    config = write_config(tmp_path, mirror=str(folder), benchmarks=["uci"], uci={"datasets": ["iris", "wine"]},
                          train={"methods": [], "baselines": []})
    result = snakemake("--cores", "2", "--configfile", str(config))
    # the run completes the rest, then names the failed data and exits non-zero (issue 15)
    assert result.returncode == 1, result.stderr[-3000:]
    said = result.stdout + result.stderr
    assert "snnbench: 1 of 2 datasets prepared" in said and "FAILED: uci/wine" in said
    assert said.count("checksum mismatch for wine/wine_R.dat") == 1
    rows = {r["dataset"]: r for r in csv.DictReader(open(tmp_path / "results" / "data" / "summary.csv"))}
    assert rows["iris"]["status"] == "ok"
    assert rows["wine"]["status"] == "failed"
    assert "checksum mismatch for wine/wine_R.dat" in rows["wine"]["reason"]
    # the file fixed in the mirror: the next run downloads, verifies and prepares again (issue 15)
    with tarfile.open(mirror / "uci121.tar.gz") as tf:
        member = next(m for m in tf.getmembers() if m.name.endswith("wine/wine_R.dat"))
        damaged.write_bytes(tf.extractfile(member).read())
    again = snakemake("--cores", "2", "--configfile", str(config))
    assert again.returncode == 0, again.stderr[-3000:]
    assert "download_source" in again.stdout + again.stderr and "2 of 2 datasets prepared" in again.stdout
    rows = {r["dataset"]: r for r in csv.DictReader(open(tmp_path / "results" / "data" / "summary.csv"))}
    assert rows["wine"]["status"] == "ok" and rows["iris"]["status"] == "ok"


# A tiny UCI grid (one configuration, a few epochs): what the end-of-run tests need is a result, not accuracy.
TINY_TRAIN = {"baselines": [], "epochs": 3, "threads": 1, "htru2_folds": [0],
              "narrow": {b: {"*": {"n_hidden": [256], "n_layers": [2], "lr": [0.01], "layer_form": ["rectangular"],
                                   "dropout": [0]}} for b in ("uci", "htru2")}}


@pytest.mark.mirror
@pytest.mark.slow
def test_a_run_with_one_fnn_ends_with_the_report_saying_what_was_not_computed(tmp_path, mirror):
    """train.methods: [SNN] (issue 24, problem 1): the robustness report of our scores needs two
    FNNs; it says so, and the run still writes REPORT.md and report.html (it raised KeyError before)."""
    config = write_config(tmp_path, mirror=str(mirror), benchmarks=["uci"], uci={"datasets": ["iris"]},
                          train={**TINY_TRAIN, "methods": ["SNN"]})
    result = snakemake("--cores", "2", "--configfile", str(config))
    said = result.stdout + result.stderr
    print("final console lines (rc %d):\n%s" % (result.returncode, "\n".join(result.stdout.splitlines()[-4:])))
    assert result.returncode == 0, said[-3000:]
    results = tmp_path / "results"
    why = "needs at least two FNN methods with results; only SNN has results in our scores"
    assert why in (results / "uci" / "robustness.md").read_text()
    rows = list(csv.DictReader(open(results / "uci" / "robustness.csv")))
    assert [(r["section"], r["error"]) for r in rows] == [("not_computed", why)]
    assert why in (results / "REPORT.md").read_text()
    assert why in (results / "report.html").read_text()
    captions = json.loads((results / "uci" / "captions.json").read_text())
    assert "not computed: fewer than two methods have a result" in captions["table1"]
    assert f"report: {results / 'REPORT.md'}" in said


@pytest.mark.mirror
@pytest.mark.slow
def test_a_benchmark_whose_data_failed_still_gets_its_report_and_the_console_names_the_checksum(tmp_path, mirror):
    """HTRU2 from a mirror whose HTRU_2.csv is corrupt (issue 24, problem 2): its statistics and
    Table 3 say why they are empty (tables raised ValueError before), the report is written, the
    console names the checksum mismatch and the run exits 1."""
    folder = tmp_path / "mirror"
    folder.mkdir()
    for archive in ("uci121.tar.gz", "uci121_data_py.tar.gz"):
        (folder / archive).symlink_to(mirror / archive)
    shutil.copytree(mirror / "htru2", folder / "htru2")
    damaged = folder / "htru2" / "HTRU_2.csv"
    damaged.chmod(0o644)
    damaged.write_bytes(damaged.read_bytes().replace(b"0", b"1", 1))
    config = write_config(tmp_path, mirror=str(folder), benchmarks=["uci", "htru2"], uci={"datasets": ["iris"]},
                          train={**TINY_TRAIN, "methods": ["SNN", "MSRAinit"]})
    result = snakemake("--cores", "2", "--configfile", str(config))
    said = result.stdout + result.stderr
    print("final console lines (rc %d):\n%s" % (result.returncode, "\n".join(result.stdout.splitlines()[-8:])))
    assert result.returncode == 1, said[-3000:]
    assert "FAILED: htru2/htru2" in said and "checksum mismatch for HTRU_2.csv" in said
    results = tmp_path / "results"
    stats = list(csv.DictReader(open(results / "htru2" / "stats.csv")))
    assert stats[0]["table"] == "not_computed" and "checksum mismatch for HTRU_2.csv" in stats[0]["error"]
    caption = json.loads((results / "htru2" / "captions.json").read_text())["table3"]
    assert "Not computed: no method has a result on any HTRU2 outer fold" in caption
    assert "checksum mismatch for HTRU_2.csv" in caption
    assert (results / "report.html").is_file() and "checksum mismatch" in (results / "REPORT.md").read_text()
    assert (results / "uci" / "table1.csv").is_file()  # the other benchmark's tables are complete
    assert f"report: {results / 'REPORT.md'}" in said
    # a run that ends through onerror (here the report job fails: a folder where REPORT.md goes)
    # names the failed dataset and its reason too
    (results / "REPORT.md").unlink()
    (results / "REPORT.md" / "in_the_way").mkdir(parents=True)
    failed = snakemake("--cores", "2", "--configfile", str(config))
    assert failed.returncode == 1 and "Error in rule write_report" in failed.stdout + failed.stderr
    assert "FAILED: htru2/htru2" in failed.stdout and "checksum mismatch for HTRU_2.csv" in failed.stdout


USER_PACKAGE = '''
"""A user's methods, outside snnbench: a torch builder and a scikit-learn estimator."""
import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from torch import nn


def build_mlp(*, n_in: int, n_out: int, hidden: int = 32, layers: int = 1):
    parts, width = [], n_in
    for _ in range(layers):
        parts += [nn.Linear(width, hidden), nn.ReLU()]
        width = hidden
    return nn.Sequential(*parts, nn.Linear(width, n_out))


class SoftCentroid(ClassifierMixin, BaseEstimator):
    """Class probabilities from the distances to the class means."""

    def __init__(self, temperature: float = 1.0):
        self.temperature = temperature

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        self.centres_ = np.stack([X[y == c].mean(axis=0) for c in self.classes_])
        return self

    def predict_proba(self, X):
        d = ((X[:, None, :] - self.centres_[None]) ** 2).sum(-1) / self.temperature
        e = np.exp(-(d - d.min(axis=1, keepdims=True)))
        return e / e.sum(axis=1, keepdims=True)
'''


@pytest.mark.mirror
@pytest.mark.slow
def test_a_users_methods_by_config_through_the_pipeline(quick_local_run, mirror, tmp_path):
    """Issue 14: a method package in a folder of its own (a torch builder, a scikit-learn
    estimator), added by config alone, trained by the Snakemake pipeline on three UCI datasets
    (prepared by the quick run), and found in the result tables and in the leaderboard against
    the 24 published methods."""
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "my_methods.py").write_text(USER_PACKAGE)
    datasets = ["iris", "wine", "breast-cancer-wisc"]
    config = write_config(
        tmp_path, data_dir=str(quick_local_run.root / "data"), mirror=str(mirror),
        benchmarks=["uci"], uci={"datasets": datasets},
        train={"methods": ["SNN", "MyMLP"], "baselines": ["Centroid"], "epochs": 15, "threads": 1,
               "narrow": {"uci": {"SNN": {"n_hidden": [256], "n_layers": [2], "lr": [0.1], "dropout": [0],
                                          "layer_form": ["rectangular"]}}},
               "custom_methods": {
                   "MyMLP": {"kind": "torch", "build": "my_methods:build_mlp", "depth": "layers",
                             "grid": {"uci": {"hidden": [32], "layers": [1, 2], "lr": [0.01, 0.1]}}},
                   "Centroid": {"kind": "sklearn", "estimator": "my_methods:SoftCentroid",
                                "grid": {"uci": {"temperature": [0.5, 2.0]}}}}})
    env = {**os.environ, "PYTHONPATH": str(package)}
    result = snakemake("--cores", "2", "--configfile", str(config), env=env, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    results = tmp_path / "results"
    summary = json.loads((results / "train" / "uci" / "iris" / "MyMLP" / "split0.json").read_text())
    assert summary["kind"] == "torch" and summary["origin"] == "config (train.custom_methods)"
    assert summary["n_configs"] == 4 and summary["selected"]["depth"] in (1, 2)
    a11 = list(csv.DictReader(open(results / "uci" / "tableA11.csv")))
    assert [r["dataset"] for r in a11] == sorted(datasets)
    assert all(float(r["MyMLP"]) > 0.5 and float(r["Centroid"]) > 0.5 for r in a11)
    assert {"SNN", "MyMLP"} == {r["method"] for r in csv.DictReader(open(results / "uci" / "table1.csv"))}
    board = [r for r in csv.DictReader(open(results / "uci" / "leaderboard.csv")) if r["group"] == "all"]
    sources = {r["method"]: r["source"] for r in board}
    assert len(board) == 3 + 24 and sources["MyMLP"] == sources["Centroid"] == "ours"
    assert sources["SNN (Table A11)"] == "published (Table A11)" and sources["LibSVM_weka"] == "published (FD 2014)"
    mine = next(r for r in board if r["method"] == "MyMLP")
    assert int(mine["wins"]) + int(mine["ties"]) + int(mine["losses"]) == 3
    assert "4-fold" in (results / "uci" / "leaderboard.md").read_text()
    assert "Against the published methods" in (results / "REPORT.md").read_text()
    assert "snnbench: 3 of 3 datasets prepared" in result.stdout
    assert "snnbench plan" in result.stdout and "config-steps" in result.stdout  # the size, said at the start
    log = (results / "logs" / "train" / "uci" / "iris" / "MyMLP" / "split0.log").read_text()
    assert "uci/iris/MyMLP/split0 [4/4]" in log  # a line per configuration in each training job's log
    umask = os.umask(0)
    os.umask(umask)
    # readable as a plain open() would leave them
    for path in (results / "uci" / "leaderboard.csv", results / "REPORT.md",
                 results / "train" / "uci" / "iris" / "MyMLP" / "split0.json"):
        assert path.stat().st_mode & 0o777 == 0o666 & ~umask, path


@pytest.mark.mirror
@pytest.mark.slow
def test_a_builder_returning_a_dict_fails_its_jobs_in_one_line_and_the_report_names_it(mirror, tmp_path):
    """Issue 24 (8): a custom builder returning a dict crashed each job with a traceback (AttributeError:
    'dict' object has no attribute 'parameters') and failures.csv carried its ^^^^ rows. Through
    Snakemake: each of its jobs stops before training, naming the setting; the reason in
    failures.csv is that one line; the run goes on and its report lists the method as failed."""
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "dict_methods.py").write_text(
        "from torch import nn\n\n\ndef build(*, n_in: int, n_out: int, hidden: int = 8):\n"
        "    return {'net': nn.Linear(n_in, n_out)}\n")
    config = write_config(
        tmp_path, mirror=str(mirror), benchmarks=["uci"], uci={"datasets": ["iris", "balloons"]},
        train={"methods": ["SNN", "MSRAinit", "MyMLP"], "baselines": [], "epochs": 3, "threads": 1,
               "narrow": {"uci": {"*": {"n_hidden": [256], "n_layers": [2], "lr": [0.01],
                                        "layer_form": ["rectangular"], "dropout": [0]}}},
               "custom_methods": {"MyMLP": {"kind": "torch", "build": "dict_methods:build",
                                            "grid": {"uci": {"hidden": [8], "lr": [0.01]}}}}})
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "pkg"), os.environ.get("PYTHONPATH", "")])}
    result = snakemake("--cores", "2", "--configfile", str(config), env=env, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    results = tmp_path / "results"
    failures = list(csv.DictReader(open(results / "uci" / "failures.csv")))
    assert {(f["dataset"], f["method"]) for f in failures} == {("iris", "MyMLP"), ("balloons", "MyMLP")}
    line = ("train.custom_methods.MyMLP.build must return a torch.nn.Module, however it returned a dict with "
            "n_in=4, n_out=3, hidden=8")
    iris = next(f["reason"] for f in failures if f["dataset"] == "iris")
    assert iris.startswith(f"the training job crashed (exit 2): {line}; log "), iris
    assert all("\n" not in f["reason"] and "^^" not in f["reason"] and "Traceback" not in f["reason"]
               for f in failures)
    assert "[1/1]" not in (results / "logs" / "train" / "uci" / "iris" / "MyMLP" / "split0.log").read_text()
    report = (results / "REPORT.md").read_text()
    assert "- UCI, **MyMLP** (FAILED): failed on 2 of 2 datasets: the training job crashed (exit 2): " \
           "train.custom_methods.MyMLP.build must return a torch.nn.Module" in report
    assert "- UCI, **SNN**: results on 2 of 2 datasets" in report
    page = (results / "report.html").read_text()
    assert '<b>MyMLP</b>: <span class="failed">failed on 2 of 2 datasets' in page


KILLED_PACKAGE = '''
import os
import signal
from pathlib import Path

from torch import nn


def build(*, n_in: int, n_out: int, kills: int = 1):
    """A network whose first ``kills`` builds (counted in $KILL_DIR) die of SIGKILL, as a job the
    kernel's out-of-memory killer takes."""
    count = Path(os.environ["KILL_DIR"]) / f"kills{kills}"
    done = int(count.read_text()) if count.exists() else 0
    if done < kills:
        count.write_text(str(done + 1))
        os.kill(os.getpid(), signal.SIGKILL)
    return nn.Sequential(nn.Linear(n_in, 16), nn.ReLU(), nn.Linear(16, n_out))
'''


@pytest.mark.mirror
@pytest.mark.slow
def test_a_training_job_killed_by_a_signal_is_retried_with_more_memory(mirror, tmp_path):
    """Issue 15: a job killed by a signal fails so that Snakemake retries it, with twice the
    memory; one killed on every attempt is recorded as failed after the retry, and the run goes on.
    Issue 24: the log of each attempt is kept (Snakemake deletes a job's log before a retry)."""
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "killed_methods.py").write_text(KILLED_PACKAGE)
    (tmp_path / "kills").mkdir()
    entry = {"kind": "torch", "build": "killed_methods:build"}
    config = write_config(
        tmp_path, mirror=str(mirror), benchmarks=["uci"],
        uci={"datasets": ["iris"]},
        train={"methods": ["KilledOnce", "KilledAlways"], "baselines": [], "epochs": 5, "threads": 1,
               "mem_mb": {"uci": 1000},
               "custom_methods": {"KilledOnce": {**entry, "grid": {"uci": {"kills": [1], "lr": [0.1]}}},
                                  "KilledAlways": {**entry, "grid": {"uci": {"kills": [99], "lr": [0.1]}}}}})
    env = {**os.environ, "PYTHONPATH": str(package), "KILL_DIR": str(tmp_path / "kills")}
    card = tmp_path / "data" / "prepared" / "uci" / "iris.json"
    prepared = snakemake("--cores", "1", str(card), "--configfile", str(config), env=env)
    assert prepared.returncode == 0, prepared.stderr[-3000:]
    result = snakemake("--cores", "2", "--configfile", str(config), env=env, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    train = tmp_path / "results" / "train" / "uci" / "iris"
    once = json.loads((train / "KilledOnce" / "split0.json").read_text())
    always = json.loads((train / "KilledAlways" / "split0.json").read_text())
    assert once["status"] == "ok" and (tmp_path / "kills" / "kills1").read_text() == "1"
    assert always["status"] == "failed" and "exit 137" in always["reason"]
    assert (tmp_path / "kills" / "kills99").read_text() == "2"  # the first attempt and the retry
    log = result.stdout + result.stderr
    assert "mem_mb=2000" in log  # the retry asked for twice train.mem_mb
    failures = list(csv.DictReader(open(tmp_path / "results" / "uci" / "failures.csv")))
    assert [f["method"] for f in failures] == ["KilledAlways"]
    logs = tmp_path / "results" / "logs" / "train" / "uci" / "iris"
    for method, last in (("KilledOnce", "1 configs (1 ok"), ("KilledAlways", "recorded as failed")):
        first = logs / method / "split0.attempt1.log"
        assert sorted(p.name for p in (logs / method).iterdir()) == ["split0.attempt1.log", "split0.log"]
        kept = first.read_text()
        assert "1 configurations" in kept and "killed by signal 9: failing the job so that Snakemake retries it; " \
                                              f"this log is kept as {first}" in kept, kept
        final = (logs / method / "split0.log").read_text()
        assert final.splitlines()[0] == f"attempt 2; the log of the attempt before: {first}" and last in final, final
