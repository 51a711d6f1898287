"""What happened to each method (snnbench.pipeline.aggregate.method_status), as REPORT.md and
report.html list it: a method that failed on every dataset is named with its reason."""

from __future__ import annotations

import pandas as pd

from snnbench.contracts.results import write_outputs
from snnbench.pipeline.aggregate import aggregate, method_status
from snnbench.pipeline.html_report import write_html_report
from snnbench.pipeline.report import write_report

CRASH = "the training job crashed (exit 2): train.custom_methods.MyMLP.build must return a torch.nn.Module"


def job(tmp_path, dataset, method, *, status="ok", reason=None, value=0.9, kind="torch"):
    out = tmp_path / "train" / "uci" / dataset / method / "split0.csv"
    summary = {"benchmark": "uci", "dataset": dataset, "method": method, "kind": kind, "split": 0,
               "metric": "accuracy", "status": status, "reason": reason, "n_configs": 1 if status == "ok" else 0,
               "counts": {"ok": 1, "diverged": 0, "failed": 0} if status == "ok" else {},
               "selected": {"config_id": 0, "hyperparameters": {"lr": 0.1}, "best_epoch": 3, "val_metric": value,
                            "test_metric": value} if status == "ok" else None}
    write_outputs(out, pd.DataFrame(), pd.DataFrame(), summary)
    return out.with_suffix(".json")


def test_every_method_is_listed_with_what_happened_to_it(tmp_path):
    summaries = [job(tmp_path, d, "SNN") for d in ("iris", "wine")]
    summaries.append(job(tmp_path, "miniboone", "SNN", status="unavailable", reason="dataset unavailable: no file"))
    summaries += [job(tmp_path, "iris", "RF", kind="sklearn"),
                  job(tmp_path, "wine", "RF", status="failed", reason="dataset failed:\n checksum", kind="sklearn")]
    summaries += [job(tmp_path, d, "MyMLP", status="failed", reason=CRASH, kind=None) for d in ("iris", "wine")]
    results = tmp_path / "results"
    scores = aggregate(summaries, benchmark="uci", scores_out=results / "uci" / "scores.csv",
                       failures_out=results / "uci" / "failures.csv")
    status = method_status(scores).set_index("method")
    assert list(status.index) == ["MyMLP", "RF", "SNN"]
    assert status.loc["SNN", "what"] == "results on 2 of 3 datasets; miniboone unavailable"
    assert status.loc["SNN", "status"] == "ok" and status.loc["SNN", "n_with_result"] == 2
    assert status.loc["RF", "what"] == "results on 1 of 2 datasets; failed on wine: dataset failed: checksum"
    assert status.loc["RF", "status"] == "partly failed"
    assert status.loc["MyMLP", "what"] == f"failed on 2 of 2 datasets: {CRASH}"
    assert status.loc["MyMLP", "status"] == "failed" and status.loc["MyMLP", "failed"] == "iris, wine"

    md = write_report(results, results / "REPORT.md").read_text()
    assert f"- UCI, **MyMLP** (FAILED): failed on 2 of 2 datasets: {CRASH}" in md
    assert "- UCI, **SNN**: results on 2 of 3 datasets; miniboone unavailable" in md
    page = write_html_report(results, results / "report.html").read_text()
    assert '<h2 id="methods">Methods</h2>' in page
    assert f'<b>MyMLP</b>: <span class="failed">failed on 2 of 2 datasets: {CRASH}</span>' in page
