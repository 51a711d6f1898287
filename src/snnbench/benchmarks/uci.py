"""UCI: the 121 datasets of Fernandez-Delgado et al. with the SNN authors' splits (Sec. 4.1);
Tables 1, A11, A12, A13 and the comparison with the 24 published methods."""

from __future__ import annotations

from typing import Any, Mapping

from . import Benchmark, register


def _dataset_names() -> tuple[str, ...]:
    from ..datasets.uci import dataset_names

    return dataset_names()


def _check_dataset(name: str, setting: str = "dataset") -> None:
    from ..datasets.uci import check_names

    check_names([name], setting=setting)


def _prepare(dataset: str, raw_dir, **options: Any):
    from ..datasets.uci import prepare

    return prepare(dataset, raw_dir)


def _n_splits(data) -> int:
    from ..datasets.uci import N_SPLIT_COLUMNS

    return N_SPLIT_COLUMNS


def _task(data, split: int, *, subsample, **options: Any):
    import numpy as np

    from ..datasets.uci import paper_split
    from ..tasks import Task, parts

    a = data.arrays
    rows = subsample(paper_split(a, split))
    # The originals are standardised already (docs/protocol.md D2).
    return Task(kind="multiclass", n_out=int(data.meta["classes"]), X=parts(a["X"].astype(np.float32), rows),
                y=parts(a["y"].astype(np.int64), rows), info={"split": f"data_py column {split}"})


def _run_datasets(config: Mapping[str, Any]) -> list[str]:
    """uci.datasets: all (the 121) or a list; an unknown name stops the run, naming the setting."""
    from ..datasets.uci import check_names

    chosen = config["uci"]["datasets"]
    return list(_dataset_names()) if chosen == "all" else check_names(chosen, setting="uci.datasets")


def _run_splits(config: Mapping[str, Any], method: str) -> list[int]:
    return list(config["train"]["uci_splits"])


def _published_rows(datasets: list[str]):
    from ..aggregate import published_uci_rows

    return published_uci_rows(datasets)


def _published_metric(dataset: str, method: str) -> float | None:
    from ..reference import published_uci_accuracy

    return published_uci_accuracy(dataset, method)


def _statistics(scores, *, stats):
    from ..uci_stats import uci_statistics

    return uci_statistics(scores, stats=stats)


def _tables(scores, out_dir, *, statistics, settings, context) -> dict:
    import pandas as pd

    from ..errors import SnnbenchError
    from ..figures import write_uci_figures
    from ..tables import build_uci_tables

    if context.get("data_summary") is None:
        raise SnnbenchError("tables for uci need --data-summary (results/data/summary.csv)")
    result = build_uci_tables(scores, context["data_summary"], out_dir, statistics=statistics, settings=settings)
    warnings = write_uci_figures(scores, result, out_dir / "figures")
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        printed = [f"uci tables: {result['datasets']} datasets, splits {', '.join(result['splits'])} -> {out_dir}",
                   result["table1"].to_string(index=False)]
        board = result["leaderboard"]
        if board is not None:
            printed += [f"leaderboard (all datasets) against {board['vs'].iloc[0]}:",
                        board[board["group"] == "all"].drop(columns=["group", "vs"]).to_string(index=False)]
    return {**result, "printed": "\n".join(printed), "warnings": warnings}


def _plan_sizes(dataset: str, card: dict | None) -> tuple[int, int, int, int, int]:
    """Planning sizes: the prepared card's, or Table A11's N and M (M - 1 features, 2 classes);
    split 60 / 15 / 25 % (data_py: one test fold of four, validation a fifth of the rest)."""
    if card is not None and card.get("status") == "ok":
        n, d, classes = int(card["n"]), int(card["d"]), int(card["classes"])
    else:
        from ..reference import table_a11

        a11 = table_a11()
        n, d, classes = int(a11.at[dataset, "N"]), int(a11.at[dataset, "M"]) - 1, 2
    train, validation = round(0.6 * n), round(0.15 * n)
    return d, classes, train, validation, n - train - validation


SPEC = register(Benchmark(
    plan_sizes=_plan_sizes, name="uci", title="UCI", sources=("uci121", "uci121_data_py"), metric="accuracy",
    dataset_names=_dataset_names, check_dataset=_check_dataset, prepare=_prepare, task=_task, n_splits=_n_splits,
    run_datasets=_run_datasets, run_splits=_run_splits, published_rows=_published_rows,
    published_metric=_published_metric, statistics=_statistics, tables=_tables, main_table="table1",
    report_links=("table*.md", "compare_table*.md", "leaderboard.md", "figures/*.png"), tables_need_torch=True,
    front_tables=("table1", "table1_right"),
))
