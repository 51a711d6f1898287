"""Aggregation, the UCI tables and figures, the statistics stage, and the report. (The baselines:
tests/training/test_estimators.py; a crashed job's record: tests/pipeline/test_job.py.)"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from helpers import REPO
from snnbench.benchmarks.uci.paper_check import paper_check
from snnbench.benchmarks.uci.tables import build_uci_tables
from snnbench.contracts.results import write_outputs
from snnbench.pipeline.aggregate import aggregate
from snnbench.reference import table_a11


def fake_run(tmp_path, datasets, *, seed=0, noise=0.02, splits=(0,)):
    """Summaries of our 7 FNNs + RF + SVM: published Table A11 accuracies plus noise (a made-up run)."""
    rng = np.random.default_rng(seed)
    a11 = table_a11()
    paths = []
    methods = ["SNN", "MSRAinit", "BatchNorm", "WeightNorm", "LayerNorm", "Highway", "ResNet", "RF", "SVM"]
    for dataset, split, method in [(d, k, m) for d in datasets for k in splits for m in methods]:
        out = tmp_path / "train" / dataset / method / f"split{split}.csv"
        base = a11.at[dataset, method] if method in a11 else a11.at[dataset, "SNN"]
        value = float(np.clip(base + rng.normal(0, noise), 0, 1)) if pd.notna(base) else 0.5
        depth_key = "n_blocks" if method == "ResNet" else "n_layers"
        summary = {"benchmark": "uci", "dataset": dataset, "method": method, "split": split, "metric": "accuracy",
                   "status": "ok", "reason": None, "n_configs": 4,
                   "counts": {"ok": 3, "diverged": 1 if method == "SNN" else 0, "failed": 0},
                   "selected": {"config_id": 1, "hyperparameters": {depth_key: 4}, "best_epoch": 30,
                                "val_metric": value, "test_metric": value}, "total_seconds": 1.0}
        if dataset == datasets[-1] and method == "ResNet" and split == 0:
            summary.update(status="failed", reason="the training job crashed (exit 137)", selected=None, counts={})
        write_outputs(out, pd.DataFrame(), pd.DataFrame(), summary)
        paths.append(out.with_suffix(".json"))
    return paths


def test_aggregate_tables_figures_and_report(tmp_path):
    datasets = list(table_a11().index[:40])
    summaries = fake_run(tmp_path, datasets)
    scores = aggregate(summaries, benchmark="uci", scores_out=tmp_path / "uci" / "scores.csv",
                       failures_out=tmp_path / "uci" / "failures.csv")
    ours = scores[scores["source"] == "ours"]
    assert len(ours) == 40 * 9 and (ours["status"] == "ok").sum() == 40 * 9 - 1
    published = scores[scores["source"] == "published"]
    assert len(published) == 40 * 24 and set(published["origin"]) == {"Table A11", "Fernandez-Delgado et al. 2014"}
    failures = pd.read_csv(tmp_path / "uci" / "failures.csv")
    assert len(failures) == 41  # 40 SNN jobs with a diverged configuration + the crashed ResNet job
    assert "exit 137" in failures.loc[failures["status"] == "failed", "reason"].iloc[0]

    summary = pd.DataFrame({"benchmark": "uci", "dataset": [*datasets, "miniboone"],
                            "status": ["ok"] * 40 + ["unavailable"]})
    result = build_uci_tables(pd.read_csv(tmp_path / "uci" / "scores.csv", dtype={"split": str}), summary,
                              tmp_path / "uci", settings={"optimizer": "sgd", "batch_size": 128, "device": "cpu"})
    t1 = pd.read_csv(tmp_path / "uci" / "table1.csv")
    assert len(t1) == 7 and t1["avg_rank_minus_expected"].sum() == pytest.approx(0, abs=1e-9)
    assert set(t1.columns) >= {"method", "p_value", "p_holm", "n_datasets", "published", "published_p", "difference"}
    best = t1.iloc[0]
    assert np.isnan(best["p_value"]) and t1["p_value"].iloc[1:].between(0, 1).all()
    caption = (tmp_path / "uci" / "table1.md").read_text().splitlines()[0]
    assert "40 of 121 UCI datasets; miniboone unavailable" in caption and "failures.csv" in caption
    from snnbench.benchmarks.uci.split_table import split_soundness

    unsound = int((split_soundness().reindex(datasets) == False).sum())  # noqa: E712
    assert unsound > 0 and f"; {unsound} of them with a split that leaves a class out" in caption
    assert "settings the paper leaves open: optimizer=sgd, batch_size=128 (every entry" in caption
    a12 = pd.read_csv(tmp_path / "uci" / "tableA12.csv")
    assert len(a12) == 24 and (a12["source"] == "published (FD 2014)").sum() == 17
    a11 = pd.read_csv(tmp_path / "uci" / "tableA11.csv")
    assert len(a11) == 40 and {"SNN", "SNN_published", "SNN_diff", "RF", "SVM"} <= set(a11.columns)
    assert "\\begin{table}" in (tmp_path / "uci" / "table1.tex").read_text()
    assert result["datasets"] == 40

    from snnbench.cli import main

    summary.to_csv(tmp_path / "summary.csv", index=False)
    assert main(["tables", "--scores", str(tmp_path / "uci" / "scores.csv"), "--data-summary",
                 str(tmp_path / "summary.csv"), "--out-dir", str(tmp_path / "uci")]) == 0
    figures = {p.name for p in (tmp_path / "uci" / "figures").iterdir()}
    assert {"cd_all.png", "cd_all.svg", "snn_vs_methods.png", "selected_depth.png"} <= figures
    depth = pd.read_csv(tmp_path / "uci" / "selected_depth.csv")
    assert depth.set_index("method").at["SNN", "ours"] == 4 and depth.set_index("method").at["SNN", "published"] == 10.8

    assert main(["report", "--results-dir", str(tmp_path), "--out", str(tmp_path / "REPORT.md")]) == 0
    report = (tmp_path / "REPORT.md").read_text()
    assert "[uci/table1.md](uci/table1.md)" in report and "41 jobs" in report


def test_uci_tables_on_the_published_accuracies_give_the_paper_checks_p_values(tmp_path):
    """Our Tables 1, A12 and A13, fed the paper's Table A11 accuracies as if we had trained them,
    compute the paper check's statistics exactly: one null distribution, one missing-result rule."""
    from snnbench import reference

    a11 = reference.published_24_accuracies()[list(reference.FNN_METHODS)]
    scores = pd.DataFrame([{"source": "ours", "status": "ok", "benchmark": "uci", "dataset": dataset, "method": method,
                            "split": "0", "value": value}
                           for dataset, row in a11.iterrows() for method, value in row.items() if pd.notna(value)])
    summary = pd.DataFrame({"benchmark": "uci", "dataset": a11.index, "status": "ok"})
    build_uci_tables(scores, summary, tmp_path / "uci")
    check = paper_check(tmp_path / "paper_check")
    compared = 0
    for ours_stem, check_stem, part in [("table1", "table1", "Table1-left"), ("table1_right", "table1", "Table1-right"),
                                        ("tableA12", "tableA12", None), ("tableA13", "tableA13", None)]:
        ours = pd.read_csv(tmp_path / "uci" / f"{ours_stem}.csv").set_index("method")
        theirs = check[check_stem]
        theirs = (theirs[theirs["table"] == part] if part else theirs).set_index("method")
        assert sorted(ours.index) == sorted(theirs.index), ours_stem
        np.testing.assert_allclose(ours.loc[theirs.index, "p_value"].to_numpy(), theirs["p_value"].to_numpy(),
                                   rtol=1e-12, equal_nan=True, err_msg=ours_stem)
        assert (ours.loc[theirs.index, "vs"] == theirs["vs"]).all()
        compared += int(theirs["p_value"].notna().sum())
    assert compared == 6 + 3 * 23
    caption = (tmp_path / "uci" / "table1.md").read_text().splitlines()[0]
    assert "exact null distribution up to 50 non-zero differences" in caption


def test_a_method_ranked_against_the_24_published_methods_without_retraining_them(tmp_path):
    """compare_with: published: our trained methods (here our SNN equal to the paper's, and a
    custom method 0.01 better on every dataset where that stays <= 1) among Table A11's 7 FNNs and
    Fernandez-Delgado's 17, in Table 1 / A12 / A13 layouts and a leaderboard against SNN."""
    from snnbench import reference
    from snnbench.benchmarks.uci.stats import uci_statistics

    # ours are correct / test rows, as the published FNNs rebuilt from Table A11 (reference.exact_counts)
    snn = reference.published_24_accuracies()["SNN"].dropna()
    better = (snn + 0.01).clip(upper=1.0)
    rows = [{"source": "ours", "status": "ok", "benchmark": "uci", "dataset": d, "method": m, "kind": k, "split": "0",
             "value": v}
            for m, k, values in (("SNN", "torch", snn), ("MyNet", "torch", better), ("LogReg", "sklearn", snn - 0.05))
            for d, v in values.items()]
    scores = pd.DataFrame(rows)
    statistics = uci_statistics(scores)
    board = statistics[(statistics["table"] == "leaderboard") & (statistics["group"] == "all")].set_index("method")
    assert len(board) == 3 + 24 and (board["vs"] == "SNN (Table A11)").all()
    assert board.at["SNN", "source"] == "ours" and board.at["SNN (Table A11)", "source"] == "published (Table A11)"
    assert board.at["LibSVM_weka", "source"] == "published (FD 2014)"
    n = len(snn)
    assert (board.at["SNN", "wins"], board.at["SNN", "ties"], board.at["SNN", "losses"]) == (0, n, 0)
    assert np.isnan(board.at["SNN", "p_value"])  # no non-zero difference
    ties = int((snn == 1.0).sum())
    assert (board.at["MyNet", "wins"], board.at["MyNet", "ties"], board.at["MyNet", "losses"]) == (n - ties, ties, 0)
    assert board.at["MyNet", "place"] == 1 and board.at["MyNet", "p_better_holm"] < 1e-10
    assert board.at["MyNet", "verdict"] == "better" and board.index[0] == "MyNet"
    assert board.at["LogReg", "losses"] == n and board.at["LogReg", "p_holm"] < 1e-10
    # each of ours against each published method, Holm over the 24: MyNet better than all, and its
    # row against one published method the same whatever else is in the pool (issue 25)
    duels = statistics[(statistics["table"] == "head_to_head") & (statistics["group"] == "all")]
    assert len(duels) == 3 * 24 and set(duels["method"]) == {"SNN", "MyNet", "LogReg"}
    mynet = duels[duels["method"] == "MyNet"].set_index("vs")
    assert (mynet["verdict"] == "better").all() and (mynet.at["SNN (Table A11)", "p_better_holm"] < 1e-10)
    logreg = duels[duels["method"] == "LogReg"].set_index("vs")
    assert logreg.at["SNN (Table A11)", "verdict"] == "worse" and logreg.at["SNN (Table A11)", "losses"] == len(snn)
    from snnbench.evaluation.stats import head_to_head

    both = pd.DataFrame({"MyNet": better, "SNN (Table A11)": snn, "other": snn - 0.2})
    alone = head_to_head(both[["MyNet", "SNN (Table A11)"]], "MyNet", ["SNN (Table A11)"]).iloc[0]
    pooled = head_to_head(both, "MyNet", ["SNN (Table A11)", "other"]).iloc[0]
    assert (alone["wins"], alone["ties"], alone["p_better"]) == (pooled["wins"], pooled["ties"], pooled["p_better"])
    table1 = statistics[statistics["table"] == "compare_table1"]
    assert set(table1["method"]) == {"SNN", "MyNet", "LogReg", *(f"{m} (Table A11)" for m in reference.FNN_METHODS)}
    summary = pd.DataFrame({"benchmark": "uci", "dataset": snn.index, "status": "ok"})
    build_uci_tables(scores, summary, tmp_path / "uci", statistics=statistics)
    text = (tmp_path / "uci" / "leaderboard.md").read_text()
    assert "their own protocol (4-fold cross-validation" in text and "| MyNet " in text
    assert "largest average-rank difference from the paper's: TableA12 (" in text and "depend on the pool" in text
    assert (tmp_path / "uci" / "compare_tableA12.csv").is_file()
    assert "| MyNet " in (tmp_path / "uci" / "head_to_head.md").read_text()
    summary_rows = pd.read_csv(tmp_path / "uci" / "head_to_head_summary.csv").set_index(["group", "method"])
    assert summary_rows.loc[("all", "MyNet"), ["better than", "no difference", "worse than"]].tolist() == [24, 0, 0]
    assert "SNN (Table A11)" in summary_rows.at[("all", "LogReg"), "worse than (methods)"]
    # compare_with: none leaves the paper's tables only
    from snnbench.settings import StatsSettings

    assert not (uci_statistics(scores, stats=StatsSettings(compare_with="none"))["table"] == "leaderboard").any()


@pytest.mark.parametrize("compare_with", ["published", "none"])
def test_one_torch_method_gives_tables_that_say_what_could_not_be_ranked(tmp_path, compare_with):
    """A run of one torch method (your own, against the published ones): Table 1 has nothing to
    rank and says so; the leaderboard and the baselines table still rank it."""
    from snnbench import reference
    from snnbench.benchmarks.uci.stats import uci_statistics
    from snnbench.settings import StatsSettings

    snn = reference.table_a11()["SNN"].dropna().iloc[:20]
    scores = pd.DataFrame([{"source": "ours", "status": "ok", "benchmark": "uci", "dataset": d, "method": m, "kind": k,
                            "split": "0", "value": v - shift}
                           for m, k, shift in (("MyNet", "torch", 0.0), ("LogReg", "sklearn", 0.02))
                           for d, v in snn.items()])
    statistics = uci_statistics(scores, stats=StatsSettings(compare_with=compare_with))
    summary = pd.DataFrame({"benchmark": "uci", "dataset": snn.index, "status": "ok"})
    result = build_uci_tables(scores, summary, tmp_path, statistics=statistics)
    assert result["table1"].empty
    assert "not computed: fewer than two methods have a result" in (tmp_path / "table1.md").read_text()
    assert set(pd.read_csv(tmp_path / "table_baselines.csv")["method"]) == {"MyNet", "LogReg"}
    assert (result["leaderboard"] is not None) == (compare_with == "published")


def test_statistics_stage_then_tables_with_a_named_reference_checked_before_any_job(tmp_path):
    """snnbench stats writes every statistic once (stats.csv, with how it was computed); snnbench
    tables only formats it: the same tables as computing them in place."""
    from snnbench.benchmarks.uci.stats import uci_statistics
    from snnbench.cli import main
    from snnbench.evaluation.stats import read_statistics

    datasets = list(table_a11().index[:30])
    summaries = fake_run(tmp_path, datasets)
    aggregate(summaries, benchmark="uci", scores_out=tmp_path / "scores.csv", failures_out=tmp_path / "failures.csv")
    pd.DataFrame({"benchmark": "uci", "dataset": datasets, "status": "ok"}).to_csv(tmp_path / "summary.csv",
                                                                                    index=False)
    stats_csv = tmp_path / "uci" / "stats.csv"
    assert main(["stats", "--scores", str(tmp_path / "scores.csv"), "--out", str(stats_csv),
                 "--stats", '{"reference": "MSRAinit", "alpha": 0.01}']) == 0
    statistics = read_statistics(stats_csv)
    assert set(statistics["table"]) == {"table1", "table1_right", "tableA12", "tableA13", "table_baselines", "friedman",
                                        "nemenyi", "compare_table1", "compare_tableA12", "compare_tableA13",
                                        "leaderboard", "head_to_head"}
    # the critical-difference diagrams' inputs: per group, every ordered pair's Nemenyi p-value
    nemenyi = statistics[(statistics["table"] == "nemenyi") & (statistics["group"] == "all")]
    k = nemenyi["method"].nunique()
    assert len(nemenyi) == k * (k - 1) and nemenyi["p_value"].between(0, 1).all()
    friedman_all = statistics[(statistics["table"] == "friedman") & (statistics["group"] == "all")]
    assert nemenyi["cd_nemenyi"].iloc[0] == pytest.approx(friedman_all["cd_nemenyi"].iloc[0])
    assert (statistics[["reference", "alpha", "wilcoxon"]].drop_duplicates().values.tolist()
            == [["MSRAinit", 0.01, "auto"]])
    assert main(["tables", "--scores", str(tmp_path / "scores.csv"), "--data-summary", str(tmp_path / "summary.csv"),
                 "--statistics", str(stats_csv), "--out-dir", str(tmp_path / "uci")]) == 0
    t1 = pd.read_csv(tmp_path / "uci" / "table1.csv").set_index("method")
    assert (t1["vs"] == "MSRAinit").all() and np.isnan(t1.at["MSRAinit", "p_value"])
    assert t1["star"].tolist() == (t1["p_value"] < 0.01).tolist()
    assert "tests against MSRAinit" in (tmp_path / "uci" / "table1.md").read_text()
    # Holm over the 24 at alpha 0.01: no verdict below 12 datasets (24 x 2^-11 > 0.01), and the caption says where
    duel_caption = json.loads((tmp_path / "uci" / "captions.json").read_text())["head_to_head_summary"]
    n_large = int((table_a11()["N"].reindex(datasets) >= 1000).sum())
    assert 0 < n_large < 12 and "needs at least 12 paired datasets" in duel_caption
    assert f"too few here in large ({n_large})." in duel_caption and "all (" not in duel_caption
    # formatting the written file gives what formatting the computed rows gives
    computed = uci_statistics(pd.read_csv(tmp_path / "scores.csv", dtype={"split": str}))
    build_uci_tables(pd.read_csv(tmp_path / "scores.csv", dtype={"split": str}),
                     pd.read_csv(tmp_path / "summary.csv"), tmp_path / "again", statistics=computed)
    default_csv = tmp_path / "default.csv"
    assert main(["stats", "--scores", str(tmp_path / "scores.csv"), "--out", str(default_csv)]) == 0
    build_uci_tables(pd.read_csv(tmp_path / "scores.csv", dtype={"split": str}),
                     pd.read_csv(tmp_path / "summary.csv"), tmp_path / "read", statistics=read_statistics(default_csv))
    for stem in ("table1", "table1_right", "tableA12", "table_baselines", "friedman", "leaderboard"):
        pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "again" / f"{stem}.csv"),
                                      pd.read_csv(tmp_path / "read" / f"{stem}.csv"))

    import yaml

    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"benchmarks": ["uci"], "uci": {"datasets": ["iris"]},
                                      "train": {"methods": ["SNN", "MSRAinit"]}, "stats": {"reference": "RF"}}))
    result = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--configfile", str(config)], cwd=REPO,
                            capture_output=True, text=True)
    assert result.returncode != 0
    assert "stats.reference must be best or one of train.methods (SNN, MSRAinit)" in result.stdout + result.stderr


def test_all_four_split_columns_give_mean_std_and_per_split_statistics(tmp_path):
    datasets = list(table_a11().index[:12])
    summaries = fake_run(tmp_path, datasets, splits=(0, 1, 2, 3))
    scores = aggregate(summaries, benchmark="uci", scores_out=tmp_path / "scores.csv")
    summary = pd.DataFrame({"benchmark": "uci", "dataset": datasets, "status": "ok"})
    result = build_uci_tables(pd.read_csv(tmp_path / "scores.csv", dtype={"split": str}), summary, tmp_path / "uci")
    assert result["splits"] == ["0", "1", "2", "3"]
    a11 = pd.read_csv(tmp_path / "uci" / "tableA11.csv")
    ours = scores[(scores["source"] == "ours") & (scores["method"] == "SNN") & (scores["dataset"] == datasets[0])]
    assert a11.loc[0, "SNN"] == pytest.approx(ours["value"].mean())
    assert a11.loc[0, "SNN_std"] == pytest.approx(ours["value"].std())
    per_split = pd.read_csv(tmp_path / "uci" / "table1_per_split.csv")
    assert sorted(per_split["split"].unique()) == [0, 1, 2, 3] and len(per_split) == 28
    assert "mean over data_py split columns 0, 1, 2, 3" in (tmp_path / "uci" / "table1.md").read_text()
    friedman = pd.read_csv(tmp_path / "uci" / "friedman.csv")
    assert list(friedman["group"]) == ["all", "small", "large"] and friedman.loc[0, "k"] == 7


def test_captions_name_a_narrowed_grid_a_changed_stated_setting_and_too_few_datasets(tmp_path):
    """Issue 15: a narrowed grid, a subsample and epochs other than the paper's 100 are named as
    changes in every caption, and a comparison on fewer datasets than the test needs shows no
    p-value (the statistics file keeps it) and says why."""
    from snnbench import reference

    a11 = reference.table_a11()
    datasets = list(a11.index[:3])
    scores = pd.DataFrame([{"source": "ours", "status": "ok", "benchmark": "uci", "dataset": d, "method": m,
                            "kind": "torch", "split": "0", "value": a11.at[d, m], "n_configs": n}
                           for m, n in (("SNN", 2), ("MSRAinit", 216), ("ResNet", 1)) for d in datasets])
    summary = pd.DataFrame({"benchmark": "uci", "dataset": datasets, "status": "ok"})
    settings = {"epochs": 20, "smoothing_window": 10, "optimizer": "sgd", "max_train_rows": 500}
    result = build_uci_tables(scores, summary, tmp_path, settings=settings)
    caption = result["captions"]["table1"]
    assert "grids narrowed (train.narrow; configurations run of the paper's): ResNet 1 of 180, SNN 2 of 216" in caption
    assert "changed from the paper's stated protocol: epochs=20 (the paper: 100)" in caption
    assert "smoothing_window" not in caption.split("changed from")[1].split(";")[0]  # 10 is the paper's
    assert "seeded subset of at most 500 training rows" in caption
    assert "settings the paper leaves open: optimizer=sgd" in caption and "epochs=20," not in caption.split("open:")[1]
    assert "Too few datasets for the test where fewer than 5 are paired" in caption
    t1 = pd.read_csv(tmp_path / "table1.csv")
    assert t1["p_value"].isna().all() and not t1["star"].any()
    kept = result["statistics"]
    assert kept.loc[kept["table"] == "table1", "p_value"].notna().any()  # the statistics keep the numbers


def test_report_html_shows_table1_against_snn_in_the_papers_layout_and_values_for_people(tmp_path):
    """Issue 24 (problems 9, 10): report.html's Table 1 sets our p-values of SNN against each method
    beside the published ones (also against SNN), each column naming its reference, the best-ranked
    comparison in its own labelled column; cells show yes/no, stars and '—', never JSON, Python
    booleans or nan; the deviations are a list in a collapsible block; the paper check states its
    measured agreement."""
    import re

    from snnbench.pipeline.html_report import write_html_report

    datasets = list(table_a11().index[:12])
    summaries = fake_run(tmp_path, datasets)
    aggregate(summaries, benchmark="uci", scores_out=tmp_path / "uci" / "scores.csv",
              failures_out=tmp_path / "uci" / "failures.csv")
    summary = pd.DataFrame({"benchmark": "uci", "dataset": [*datasets, "miniboone"],
                            "status": ["ok"] * 12 + ["unavailable"]})
    (tmp_path / "data").mkdir()
    summary.to_csv(tmp_path / "data" / "summary.csv", index=False)
    build_uci_tables(pd.read_csv(tmp_path / "uci" / "scores.csv", dtype={"split": str}), summary, tmp_path / "uci",
                     settings={"optimizer": "sgd", "refit": False})
    others = ["MSRAinit", "BatchNorm", "WeightNorm", "LayerNorm", "Highway", "ResNet"]
    pd.DataFrame({"source": "ours", "reference": "SNN", "section": "multiple_comparisons", "group": "all",
                  "method": others, "p_value": [0.0123, 0.5, 0.6, 0.7, 0.8, 0.9],
                  "star": [True, False, False, False, False, False]}).to_csv(tmp_path / "uci" / "robustness.csv",
                                                                             index=False)
    paper_check(tmp_path / "paper_check")
    page = write_html_report(tmp_path, tmp_path / "report.html").read_text()

    t1 = pd.read_csv(tmp_path / "uci" / "table1.csv")
    best = t1["vs"].iloc[0]
    table1 = page[page.index("<h3>Table 1 (left)</h3>"):]
    table1 = table1[:table1.index("</table>")]
    headers = re.findall(r"<th>(.*?)</th>", table1)
    assert headers[:4] == ["method", "avg rank − expected (ours)", "avg rank − expected (published)", "difference"]
    assert headers[4:7] == ["p, SNN vs method (ours)", "p, SNN vs method (published)",
                            f"p, best-ranked ({best}) vs method (ours)"]
    msra = re.search(r"<tr><td>MSRAinit</td>(.*?)</tr>", table1).group(1)
    assert "<td>0.012 *</td><td>0.027 *</td>" in msra  # ours against SNN (starred), the paper's against SNN
    assert re.search(r"<tr><td>SNN</td>.*?<td>—</td><td>—</td>", table1)  # SNN is the reference: no p-value

    cells = " ".join(re.findall(r"<t[hd]>(.*?)</t[hd]>", page))
    assert not re.search(r'\{&quot;|\{"|\bFalse\b|\bTrue\b|\bnan\b', cells)
    assert "12 ok, 1 unavailable" in page and "{&quot;" not in page
    deviations = page[page.index("<details>"):page.index("</details>")]
    assert "<li>settings the paper leaves open: optimizer=sgd, refit=false" in deviations
    assert "reproduces" not in page and "Table1-left: ranks within 0.021 of the published" in page


@pytest.mark.parametrize("kind, status", [("torch", "failed"), ("sklearn", "ok")])
def test_tables_are_written_when_no_fnn_has_a_result(tmp_path, kind, status):
    """Every UCI dataset failed, or only baselines were trained (issue 24): the statistics and
    the tables are written, Table 1's caption saying why it is empty (DataError before)."""
    from snnbench.benchmarks.uci.stats import uci_statistics
    from snnbench.contracts.scores import SCORE_COLUMNS

    method = "SNN" if kind == "torch" else "RF"
    scores = pd.DataFrame([{"benchmark": "uci", "dataset": d, "method": method, "kind": kind, "split": "0",
                            "source": "ours", "status": status, "value": 0.9 if status == "ok" else np.nan,
                            "reason": None if status == "ok" else "dataset failed: checksum mismatch for x"}
                           for d in ("iris", "wine")]).reindex(columns=SCORE_COLUMNS)
    summary = pd.DataFrame({"benchmark": "uci", "dataset": ["iris", "wine"], "status": status})
    result = build_uci_tables(scores, summary, tmp_path, statistics=uci_statistics(scores))
    caption = result["captions"]["table1"]
    assert "not computed: fewer than two methods have a result" in caption
    if status == "failed":
        assert "without a result: iris failed (dataset failed: checksum mismatch for x) for SNN" in caption
    assert (tmp_path / "table1.csv").is_file() and (tmp_path / "captions.json").is_file()
