"""Selection sensitivity (benchmarks/uci/selection_sensitivity.py): jobs written in the training
results' layout, re-selected from their curves under each variant."""

from __future__ import annotations

import numpy as np
import pandas as pd

from snnbench.benchmarks.uci.selection_sensitivity import selection_sensitivity
from snnbench.contracts.results import write_outputs
from snnbench.settings import StatsSettings
from snnbench.training.selection import early_stopping_epoch, summarize

EPOCHS = 12


def write_job(train_dir, dataset, method, configs, *, window=10, held=None):
    """``configs``: [(depth, val curve, test curve)]; ``held(epoch)`` keeps the test value at that
    1-based epoch (None: all, as ``test_curve: every_epoch``)."""
    rows, curves = [], []
    for cid, (depth, val, test) in enumerate(configs):
        epoch, smoothed = early_stopping_epoch(np.array(val), window=window)
        rows.append({"phase": "grid", "config_id": cid, "depth": depth, "n_layers": depth, "lr": 0.01,
                     "status": "ok", "error": "", "best_epoch": epoch + 1, "epochs_run": EPOCHS,
                     "val_metric": smoothed, "val_metric_raw": val[epoch], "test_metric": test[epoch],
                     "seconds": 1.0})
        for e in range(EPOCHS):
            keep = held is None or held(e + 1) or e == epoch
            curves.append({"phase": "grid", "config_id": cid, "epoch": e + 1, "train_loss": 0.1,
                           "val_metric": val[e], "test_metric": test[e] if keep else np.nan})
    frame, curve_frame = pd.DataFrame(rows), pd.DataFrame(curves)
    summary = summarize(frame, hp_names=["n_layers", "lr"], extra={
        "benchmark": "uci", "dataset": dataset, "method": method, "split": 0,
        "settings": {"smoothing_window": window, "smoothing_align": "trailing",
                     "test_curve": "every_epoch" if held is None else "selectable"}})
    write_outputs(train_dir / dataset / method / "split0.csv", frame, curve_frame, summary)
    return summary


def flat(v):
    return [v] * EPOCHS


def test_each_variant_reselects_from_the_curves(tmp_path):
    # MSRAinit: validation best at epoch 1; a 10-epoch window picks epoch 10 (test 0.7), its
    # test metric is best at the last epoch
    early = [1.0] + [0.5] * (EPOCHS - 2) + [0.9]
    tests = {}
    for i, dataset in enumerate(("iris", "wine", "seeds")):
        # SNN: two configurations tie on validation; the paper's rule takes the deeper one (test 0.9),
        # shallower first the other (test 0.6).
        tests[dataset] = write_job(tmp_path, dataset, "SNN", [(2, flat(0.8), flat(0.6)), (8, flat(0.8), flat(0.9))])
        write_job(tmp_path, dataset, "MSRAinit", [(2, early, [0.7] * (EPOCHS - 1) + [0.95 - i / 100])])
    found, jobs = selection_sensitivity(tmp_path, reference_method="SNN", stats=StatsSettings())
    by = found.set_index("variant")
    as_run = jobs[jobs["variant"] == "as run"].set_index(["dataset", "method"])["test_metric"]
    assert as_run[("iris", "SNN")] == tests["iris"]["selected"]["test_metric"] == 0.9
    assert by.loc["as run", "jobs"] == 6 and by.loc["as run", "jobs_changed"] == 0
    assert by.loc["as run", "avg_rank"] == 1.0
    shallower = by.loc["ties: shallower"]
    assert shallower["jobs_changed"] == 3 and shallower["avg_rank"] == 2.0 and shallower["stars"] == 0
    assert by.loc["ties: grid_order", "avg_rank"] == 2.0
    last = by.loc["last epoch"]  # MSRAinit's last epoch is its best (0.95, 0.94, 0.93): SNN loses first place
    assert last["jobs_changed"] == 3 and last["avg_rank"] == 2.0 and last["datasets_changed"] == "iris, seeds, wine"
    assert by.loc["window 1, trailing", "avg_rank"] == 1.0 and by.loc["window 1, trailing", "jobs_changed"] == 0
    assert by.loc["test-set oracle (upper bound)", "jobs_lacking_test"] == 0
    assert by["jobs_lacking_test"].eq(0).all()


def test_variants_whose_epochs_the_curves_lack_are_named_not_ranked(tmp_path):
    early = [1.0] + [0.5] * (EPOCHS - 2) + [0.9]
    for dataset in ("iris", "wine"):
        write_job(tmp_path, dataset, "SNN", [(2, flat(0.8), flat(0.6))], held=lambda e: False)
        write_job(tmp_path, dataset, "MSRAinit", [(2, early, flat(0.7))], held=lambda e: e == EPOCHS)
    found, _ = selection_sensitivity(tmp_path, reference_method="SNN", stats=StatsSettings())
    by = found.set_index("variant")
    assert by.loc["as run", "jobs_lacking_test"] == 0 and by.loc["as run", "avg_rank"] == 2.0
    assert by.loc["last epoch", "jobs_lacking_test"] == 2  # SNN's last test value was not kept
    assert by.loc["window 5, centered", "jobs_lacking_test"] == 4 and pd.isna(by.loc["window 5, centered", "avg_rank"])
    assert by.loc["test-set oracle (upper bound)", "jobs_lacking_test"] == 4
