"""The paper's published numbers and grids, shipped as package data (see README.md here)."""

from __future__ import annotations

import io
from functools import lru_cache
from importlib import resources

import pandas as pd


def read_text(name: str) -> str:
    return resources.files(__name__).joinpath(name).read_text()


@lru_cache(maxsize=None)
def table_a11() -> pd.DataFrame:
    """Table A11: test accuracy of the seven FNNs on each UCI dataset (NaN where the paper has none)."""
    return pd.read_csv(io.StringIO(read_text("snn_tableA11_uci_fnn_accuracies.csv")), na_values=["NA"]).set_index("dataset")


def published_uci_accuracy(dataset: str, method: str) -> float | None:
    """Table A11's accuracy of ``method`` on ``dataset``, or None where the paper has none."""
    table = table_a11()
    if dataset not in table.index or method not in table.columns:
        return None
    value = table.at[dataset, method]
    return None if pd.isna(value) else float(value)
