"""UCI: the 121 datasets of Fernandez-Delgado et al. with the SNN authors' splits (Sec. 4.1);
Tables 1, A11, A12, A13 and the comparison with the 24 published methods."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd

from snnbench.benchmarks import Benchmark, register
from snnbench.benchmarks.uci import data
from snnbench.benchmarks.uci.figures import write_uci_figures
from snnbench.benchmarks.uci.published import published_uci_rows
from snnbench.benchmarks.uci.sources import SOURCES
from snnbench.benchmarks.uci.stats import uci_statistics
from snnbench.benchmarks.uci.tables import build_uci_tables
from snnbench.errors import SnnbenchError
from snnbench.reference import published_uci_accuracy, table_a11
from snnbench.training.task import Task, parts


class Uci(Benchmark):
    name = "uci"
    title = "UCI"
    sources = SOURCES
    metric = "accuracy"
    main_table = "table1"
    front_tables = ("table1", "table1_right", "head_to_head_summary")
    report_links = ("table*.md", "compare_table*.md", "head_to_head*.md", "leaderboard.md", "figures/*.png")
    tables_need_torch = True

    def dataset_names(self) -> tuple[str, ...]:
        return data.dataset_names()

    def check_dataset(self, name: str, setting: str = "dataset") -> None:
        data.check_names([name], setting=setting)

    def prepare(self, dataset: str, raw_dir, **options: Any):
        return data.prepare(dataset, raw_dir)

    def n_splits(self, prepared) -> int:
        return data.N_SPLIT_COLUMNS

    def task(self, prepared, split: int, *, subsample, settings: Any = None) -> Task:
        a = prepared.arrays
        rows = subsample(data.paper_split(a, split))
        # The originals are standardised already (docs/protocol.md D2).
        return Task(kind="multiclass", n_out=int(prepared.meta["classes"]), X=parts(a["X"].astype(np.float32), rows),
                    y=parts(a["y"].astype(np.int64), rows), info={"split": f"data_py column {split}"})

    def run_datasets(self, config: Mapping[str, Any]) -> list[str]:
        """uci.datasets: all (the 121) or a list; an unknown name stops the run, naming the setting."""
        chosen = config["uci"]["datasets"]
        return list(self.dataset_names()) if chosen == "all" else data.check_names(chosen, setting="uci.datasets")

    def run_splits(self, config: Mapping[str, Any], method: str) -> list[int]:
        return list(config["train"]["uci_splits"])

    def published_rows(self, datasets: list[str]):
        return published_uci_rows(datasets)

    def published_metric(self, dataset: str, method: str) -> float | None:
        return published_uci_accuracy(dataset, method)

    def statistics(self, scores, *, stats):
        return uci_statistics(scores, stats=stats)

    def front_frame(self, folder, table):
        from snnbench.benchmarks.uci.front import front_frame

        return front_frame(folder, table)

    def tables(self, scores, out_dir, *, statistics, settings, context) -> dict:
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

    def plan_sizes(self, dataset: str, card: dict | None) -> tuple[int, int, int, int, int]:
        """Planning sizes: the prepared card's, or Table A11's N and M (M - 1 features, 2 classes);
        split 60 / 15 / 25 % (data_py: one test fold of four, validation a fifth of the rest)."""
        if card is not None and card.get("status") == "ok":
            n, d, classes = int(card["n"]), int(card["d"]), int(card["classes"])
        else:
            a11 = table_a11()
            n, d, classes = int(a11.at[dataset, "N"]), int(a11.at[dataset, "M"]) - 1, 2
        train, validation = round(0.6 * n), round(0.15 * n)
        return d, classes, train, validation, n - train - validation


SPEC = register(Uci())
