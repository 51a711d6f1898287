"""HTRU2 Table 3: AUC mean ± std over folds, Wilcoxon against SNN, published rows, figure."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from snnbench.benchmarks.htru2.tables import build_htru2_tables
from snnbench.contracts.results import write_outputs
from snnbench.pipeline.aggregate import aggregate


def fake_folds(tmp_path, n_folds=10):
    """SNN better than MSRAinit on every fold, RF equal to SNN on average; one crashed fold of ResNet."""
    rng = np.random.default_rng(1)
    paths = []
    for fold in range(n_folds):
        base = 0.975 + rng.normal(0, 0.005)
        for method, shift in [("SNN", 0.004), ("MSRAinit", 0.0), ("ResNet", -0.002), ("RF", 0.004)]:
            summary = {"benchmark": "htru2", "dataset": "htru2", "method": method, "split": fold, "metric": "roc_auc",
                       "status": "ok", "reason": None, "n_configs": 2, "counts": {"ok": 2, "diverged": 0, "failed": 0},
                       "selected": {"config_id": 0, "hyperparameters": {"n_layers": 2}, "best_epoch": 40,
                                    "val_metric": base, "test_metric": base + shift}, "total_seconds": 3.0}
            if method == "ResNet" and fold == 3:
                summary.update(status="failed", reason="the training job crashed (exit 137)", selected=None)
            out = tmp_path / "train" / method / f"split{fold}.csv"
            write_outputs(out, pd.DataFrame(), pd.DataFrame(), summary)
            paths.append(out.with_suffix(".json"))
    return paths


def test_table3_from_fold_results(tmp_path):
    scores = aggregate(fake_folds(tmp_path), benchmark="htru2", scores_out=tmp_path / "scores.csv",
                       failures_out=tmp_path / "failures.csv")
    published = scores[scores["source"] == "published"]
    assert set(published["method"]) >= {"SNN", "NaiveBayes", "C4.5", "SVM"}
    result = build_htru2_tables(pd.read_csv(tmp_path / "scores.csv", dtype={"split": str}), tmp_path / "htru2",
                                settings={"optimizer": "sgd"}, n_folds=10)
    table = result["table3"].set_index("method")
    ours = scores[(scores["source"] == "ours") & (scores["method"] == "SNN")]["value"]
    assert table.at["SNN", "auc_mean"] == pytest.approx(ours.mean())
    assert table.at["SNN", "auc_std"] == pytest.approx(ours.std(ddof=1))
    assert table.at["SNN", "published_mean"] == 0.9803 and np.isnan(table.at["SNN", "p_value_vs_SNN"])
    # SNN beats MSRAinit on all 10 folds: exact one-sided p = 1/2^10
    assert table.at["MSRAinit", "p_value_vs_SNN"] == pytest.approx(1 / 1024) and table.at["MSRAinit", "star"] == "yes"
    assert table.at["MSRAinit", "difference"] == pytest.approx(table.at["MSRAinit", "auc_mean"] - 0.9791)
    assert table.at["ResNet", "n_folds"] == 9 and table.at["ResNet", "n_pairs"] == 9
    assert np.isnan(table.at["RF", "p_value_vs_SNN"]) and np.isnan(table.at["RF", "published_mean"])
    assert table.at["C4.5 (Lyon et al. 2016)", "published_mean"] == 0.946
    md = (tmp_path / "htru2" / "table3.md").read_text()
    assert "over 10 outer folds" in md and "our own seeded stratified split" in md and "Failed jobs: 1" in md
    assert (tmp_path / "htru2" / "figures" / "auc_per_fold.png").is_file()
    assert len(pd.read_csv(tmp_path / "failures.csv")) == 1

    # the statistics stage, then the table formatted from its file: the same Table 3
    from snnbench.cli import main
    from snnbench.evaluation.stats import DEFAULTS

    stats_csv = tmp_path / "htru2" / "stats.csv"
    assert main(["stats", "--benchmark", "htru2", "--scores", str(tmp_path / "scores.csv"),
                 "--out", str(stats_csv)]) == 0
    statistics = pd.read_csv(stats_csv)
    assert (statistics["vs"] == "SNN").all() and (statistics["wilcoxon"] == DEFAULTS.wilcoxon).all()
    assert main(["tables", "--benchmark", "htru2", "--scores", str(tmp_path / "scores.csv"), "--statistics",
                 str(stats_csv), "--settings", '{"optimizer": "sgd"}', "--options", '{"n_folds": 10}',
                 "--out-dir", str(tmp_path / "staged")]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "staged" / "table3.csv"),
                                  pd.read_csv(tmp_path / "htru2" / "table3.csv"))
    # another reference: the column names it
    assert main(["stats", "--benchmark", "htru2", "--scores", str(tmp_path / "scores.csv"), "--out", str(stats_csv),
                 "--stats", '{"reference": "MSRAinit"}']) == 0
    assert main(["tables", "--benchmark", "htru2", "--scores", str(tmp_path / "scores.csv"), "--statistics",
                 str(stats_csv), "--out-dir", str(tmp_path / "other")]) == 0
    other = pd.read_csv(tmp_path / "other" / "table3.csv").set_index("method")
    assert "p_value_vs_MSRAinit" in other and np.isnan(other.at["MSRAinit", "p_value_vs_MSRAinit"])
    assert other.at["SNN", "p_value_vs_MSRAinit"] > 0.5


def test_a_failed_dataset_gives_table3_saying_why_through_stats_csv(tmp_path):
    """Every fold failed (HTRU_2.csv failed its checksum; issue 24): stats.csv holds one row saying
    why, and Table 3 is written from it with the reason in its caption (ValueError before)."""
    from snnbench.benchmarks.htru2.stats import htru2_statistics
    from snnbench.evaluation.stats import read_statistics, write_statistics

    reason = "dataset failed: HTRU_2.csv: checksum mismatch for HTRU_2.csv from mirror m: sha256 a, expected b"
    out = tmp_path / "train" / "SNN" / "split0.csv"
    write_outputs(out, pd.DataFrame(), pd.DataFrame(),
                  {"benchmark": "htru2", "dataset": "htru2", "method": "SNN", "split": 0, "metric": "roc_auc",
                   "status": "failed", "reason": reason, "n_configs": 0, "counts": {}, "selected": None})
    scores = aggregate([out.with_suffix(".json")], benchmark="htru2", scores_out=tmp_path / "scores.csv")
    write_statistics(htru2_statistics(scores), tmp_path / "stats.csv")
    statistics = read_statistics(tmp_path / "stats.csv")
    assert statistics["table"].tolist() == ["not_computed"] and reason in statistics["error"][0]
    result = build_htru2_tables(scores, tmp_path / "tables", statistics=statistics)
    assert f"Not computed: no method has a result on any HTRU2 outer fold: htru2 failed ({reason}) for SNN" \
        in result["caption"]
    assert (tmp_path / "tables" / "table3.csv").is_file()
    assert result["table3"]["source"].eq("published (quoted by the paper)").all()  # only the quoted rows
